"""Evaluation metrics (SPEC.md "Metrics"): accuracy, CE, spikes per neuron N_S, silent neurons, overflows.

:class:`MetricAccumulator` is fed one batch at a time and keeps only running sums and one "ever fired"
mask per layer, so evaluating a whole data set never holds all of its spike tensors. The sums stay on the
tensors' device until :meth:`MetricAccumulator.compute`, so a GPU evaluation syncs once, not per batch.
"""

from __future__ import annotations

from typing import Sequence

import torch

from snn.losses import _check_labels, _check_positive, _check_times, cross_entropy

__all__ = ["predictions", "MetricAccumulator"]


def predictions(output_times: torch.Tensor) -> torch.Tensor:
    """``[batch]`` int64: the output neuron that fires first (ties: the lowest index), ``-1`` where no
    output neuron fires, so that such a sample never matches its label."""
    _check_times(output_times, "output_times")
    first = output_times[..., 0]
    earliest = first.min(dim=1, keepdim=True).values
    index = torch.arange(first.shape[1], device=first.device).expand_as(first)
    # Explicit tie-break (argmin's choice among equal values is not a documented guarantee on every device).
    winner = torch.where(first == earliest, index, first.shape[1]).min(dim=1).values
    return torch.where(torch.isfinite(earliest.squeeze(1)), winner, -1)


class MetricAccumulator:
    """Accumulates the metrics of one evaluated set over batches.

    ``n_layers`` counts the network's spiking layers (hidden + output, as in ``FeedForwardSNN.forward``).
    ``tau_0`` is the CE temperature (ms) and ``t_end`` the first-spike time given to silent outputs in CE.
    """

    def __init__(self, n_layers: int, *, tau_0: float = 0.5, t_end: float = 30.0) -> None:
        if isinstance(n_layers, bool) or not isinstance(n_layers, int) or n_layers < 1:
            raise ValueError(f"n_layers must be an int >= 1 (hidden + output layers), got {n_layers=}")
        _check_positive(tau_0=tau_0, t_end=t_end)
        self.n_layers, self.tau_0, self.t_end = n_layers, float(tau_0), float(t_end)
        self.reset()

    def reset(self) -> None:
        self.n_samples = 0
        self._correct = self._ce_sum = self._silent_target = self._overflows = None
        self._spikes: list[torch.Tensor] | None = None
        self._ever_fired: list[torch.Tensor] | None = None

    @torch.no_grad()
    def update(
        self,
        layer_times: Sequence[torch.Tensor],
        layer_counts: Sequence[torch.Tensor] | None,
        labels: torch.Tensor,
        t_end: float | None = None,
    ) -> None:
        """Adds one batch. ``layer_counts``: the TRUE spike counts ``[batch, neurons]`` per layer (as
        ``FeedForwardSNN.last_spike_counts``); ``None`` counts the spikes in ``layer_times``, which cannot
        see overflows. ``t_end`` overrides the constructor's value for this batch."""
        t_end = self.t_end if t_end is None else t_end
        if isinstance(layer_times, torch.Tensor) or len(layer_times) != self.n_layers:
            raise ValueError(f"layer_times must be a list of {self.n_layers} spike-time tensors, got {_describe(layer_times)}")
        for i, times in enumerate(layer_times):
            _check_times(times, f"layer_times[{i}]")
        if layer_counts is None:
            layer_counts = [torch.isfinite(times).sum(dim=-1) for times in layer_times]
        elif isinstance(layer_counts, torch.Tensor) or len(layer_counts) != self.n_layers:
            raise ValueError(f"layer_counts must be a list of {self.n_layers} count tensors or None, got {_describe(layer_counts)}")
        for i, (times, counts) in enumerate(zip(layer_times, layer_counts)):
            if tuple(counts.shape) != tuple(times.shape[:2]):
                raise ValueError(f"layer_counts[{i}] must have shape {tuple(times.shape[:2])}, got {tuple(counts.shape)}")
        out = layer_times[-1]
        _check_labels(labels, out)
        sizes = [times.shape[1] for times in layer_times]
        if self._ever_fired is not None and sizes != [m.numel() for m in self._ever_fired]:
            raise ValueError(f"layer sizes changed between batches: {[m.numel() for m in self._ever_fired]} then {sizes}")

        batch = out.shape[0]
        if batch == 0:  # nothing to add, and CE of an empty batch would be NaN
            return
        labels = labels.to(out.device)
        t_first = out[..., 0]
        target_fired = torch.isfinite(t_first.gather(1, labels.long().unsqueeze(1)).squeeze(1))
        stats = {
            "_correct": (predictions(out) == labels).sum(),
            "_ce_sum": cross_entropy(out, labels, self.tau_0, t_end=t_end).double() * batch,
            "_silent_target": (~target_fired).sum(),
            "_overflows": sum((c.long() - t.shape[-1]).clamp(min=0).sum() for t, c in zip(layer_times, layer_counts)),
        }
        spikes = [c.long().sum() for c in layer_counts]
        fired = [(c > 0).any(dim=0) for c in layer_counts]
        if self._spikes is None:
            for name, value in stats.items():
                setattr(self, name, value)
            self._spikes, self._ever_fired = spikes, fired
        else:
            for name, value in stats.items():
                setattr(self, name, getattr(self, name) + value)
            self._spikes = [a + b for a, b in zip(self._spikes, spikes)]
            self._ever_fired = [a | b for a, b in zip(self._ever_fired, fired)]
        self.n_samples += batch

    def compute(self) -> dict:
        """The metrics as plain Python numbers and lists (JSON-serialisable)."""
        if self.n_samples == 0:
            raise ValueError("no samples accumulated: call update() with at least one non-empty batch first")
        n = self.n_samples
        spikes = [int(s) for s in self._spikes]
        sizes = [m.numel() for m in self._ever_fired]
        per_layer = [s / (n * size) for s, size in zip(spikes, sizes)]
        return {
            "n_samples": n,
            "accuracy": int(self._correct) / n,
            "ce": float(self._ce_sum) / n,
            "n_s": sum(spikes) / (n * sum(sizes)),
            "n_s_per_layer": per_layer,
            "n_s_output": per_layer[-1],
            "silent_fraction_per_layer": [float((~m).sum()) / m.numel() for m in self._ever_fired],
            "silent_target_fraction": int(self._silent_target) / n,
            "spike_overflows": int(self._overflows),
        }


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"{type(value).__name__} of length {len(value)}" if hasattr(value, "__len__") else type(value).__name__
