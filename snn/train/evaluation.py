"""Building the model of a config, evaluating it on a data split, and drawing a finished run.

Evaluation uses batches of EVAL_BATCH samples: every sample is simulated independently, so only the
summation order of the metrics depends on the batch size.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch

from snn.data import load_dataset
from snn.functional import SpikeOverflowWarning
from snn.metrics import MetricAccumulator, predictions
from snn.nn import FeedForwardSNN
from snn.train.config import TrainConfig

__all__ = ["build_model", "evaluate", "load_split", "plot_run", "EVAL_BATCH"]

EVAL_BATCH = 1000


def build_model(config: TrainConfig) -> FeedForwardSNN:
    """The network of ``config``, initialised from torch's global RNG (seed it first), on the CPU."""
    n = config.network
    return FeedForwardSNN(n.sizes, n.init_ranges, n.max_spikes, tau_m=n.tau_m, tau_s=n.tau_s,
                          threshold=n.threshold, resistance=n.resistance, t_end=n.t_end, dtype=getattr(torch, n.dtype))


@torch.no_grad()
def evaluate(model: FeedForwardSNN, dataset, config: TrainConfig) -> dict[str, Any]:
    """The MetricAccumulator dict of ``model`` on ``dataset``."""
    model.eval()
    weight = model.layers[0].weight
    metrics = MetricAccumulator(len(model.layers), tau_0=config.loss.tau_0, t_end=config.network.t_end)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpikeOverflowWarning)
        for inputs, labels in dataset.batches(EVAL_BATCH, shuffle=False):
            times = model(inputs.to(device=weight.device, dtype=weight.dtype))
            metrics.update(times, model.last_spike_counts, labels.to(weight.device))
    return metrics.compute()


def load_split(config: TrainConfig, split: str):
    """The ``split`` of the config's data set (``train_subset`` applies to the training split)."""
    d = config.data
    subset = d.train_subset if split == "train" and d.train_subset > 0 else None
    return load_dataset(d.dataset, split, root=d.root or None, validation_size=d.validation_size, subset=subset)


def plot_run(out_dir: Path, model: FeedForwardSNN, history: list, dataset, split: str, config: TrainConfig) -> None:
    """Plots are a convenience: a failure to draw warns and never loses a finished run."""
    try:
        from snn.train import plots  # matplotlib is imported only once there is something to draw

        epochs = [r.to_dict() for r in history]  # EpochReports
        plots.plot_training_curves(epochs, out_dir / "training_curves.png")
        plots.plot_spikes_per_layer(epochs, out_dir / "spikes_per_layer.png")
        weight = model.layers[0].weight
        inputs, labels = next(iter(dataset.batches(1, shuffle=False)))  # not .inputs: that encodes the whole set
        label = int(labels[0])
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", SpikeOverflowWarning)
            layers = model(inputs.to(device=weight.device, dtype=weight.dtype))
        rasters = [inputs[0].numpy()] + [t[0].cpu().numpy() for t in layers]
        predicted = int(predictions(layers[-1])[0])
        plots.plot_raster(rasters, out_dir / "raster.png", t_end=config.network.t_end,
                          title=f"first {split} sample: label {label}, "
                                f"predicted {predicted if predicted >= 0 else 'none (no output spike)'}")
    except Exception as error:  # noqa: BLE001
        warnings.warn(f"could not write the plots in {str(out_dir)!r}: {error!r}", RuntimeWarning, stacklevel=2)
