"""PNG plots of a run: validation curves per epoch, spikes per neuron per layer, and a spike raster of one
test sample through every layer.

Figures are built with ``matplotlib.figure.Figure`` and never through pyplot, so plotting touches no global
backend state and works in headless workers (rendering uses Agg).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

__all__ = ["plot_training_curves", "plot_spikes_per_layer", "plot_raster"]


def _phase_switch(ax, epochs: Sequence[dict[str, Any]]) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for before, after in zip(epochs, epochs[1:]):
        if before["phase"] != after["phase"]:
            ax.axvline(after["epoch"] + 1, color="grey", linestyle=":", linewidth=1)


def plot_training_curves(epochs: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Validation accuracy, CE and N_S (and the training loss) per epoch; dotted line = phase switch."""
    x = [e["epoch"] + 1 for e in epochs]
    val = [e["validation"] for e in epochs]
    fig = Figure(figsize=(11, 3.2), layout="constrained")
    panels = [("validation accuracy (%)", [100 * v["accuracy"] for v in val]),
              ("cross-entropy (validation) and training loss", [v["ce"] for v in val]),
              ("N_S (spikes / neuron / sample)", [v["n_s"] for v in val])]
    for i, (title, y) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.plot(x, y, marker="." if len(x) < 30 else None, label="validation")
        if i == 1:
            ax.plot(x, [e["train_loss"] for e in epochs], color="tab:orange", alpha=0.7, label="training loss")
            ax.legend(fontsize="small")
        _phase_switch(ax, epochs)
        ax.set_title(title, fontsize="medium")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_spikes_per_layer(epochs: Sequence[dict[str, Any]], path: str | Path) -> Path:
    x = [e["epoch"] + 1 for e in epochs]
    per_layer = np.array([e["validation"]["n_s_per_layer"] for e in epochs])
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    n_layers = per_layer.shape[1]
    for layer in range(n_layers):
        name = "output" if layer == n_layers - 1 else f"hidden {layer + 1}"
        ax.plot(x, per_layer[:, layer], label=name)
    _phase_switch(ax, epochs)
    ax.set_xlabel("epoch")
    ax.set_ylabel("spikes / neuron / sample (validation)")
    ax.set_yscale("symlog", linthresh=0.1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.savefig(path, dpi=110)
    return Path(path)


def plot_raster(layer_times: Sequence[np.ndarray], path: str | Path, *, t_end: float, title: str = "") -> Path:
    """``layer_times``: the input's spike times then each layer's, each ``[neurons, k]`` (``inf`` = none)."""
    fig = Figure(figsize=(7, 1.2 + 1.3 * len(layer_times)), layout="constrained")
    axes = fig.subplots(len(layer_times), 1, sharex=True, squeeze=False)[:, 0]
    for i, (ax, times) in enumerate(zip(axes, layer_times)):
        times = np.asarray(times, dtype=float)
        neuron, _ = np.nonzero(np.isfinite(times))
        ax.scatter(times[np.isfinite(times)], neuron, s=6, marker="|", color="k" if i else "tab:blue")
        name = "input" if i == 0 else ("output" if i == len(layer_times) - 1 else f"hidden {i}")
        ax.set_ylabel(f"{name}\n({times.shape[0]})", fontsize="small")
        ax.set_ylim(-0.5, times.shape[0] - 0.5)
        ax.invert_yaxis()
        ax.text(1.0, 1.0, f"{int(np.isfinite(times).sum())} spikes", transform=ax.transAxes,
                ha="right", va="bottom", fontsize="x-small")
    axes[-1].set_xlim(0, t_end)
    axes[-1].set_xlabel("time (ms)")
    if title:
        axes[0].set_title(title, fontsize="medium")
    fig.savefig(path, dpi=110)
    return Path(path)
