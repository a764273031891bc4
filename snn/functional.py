"""The functional API: one exact, event-driven layer of current-based LIF neurons (see SPEC.md).

Spike trains are padded tensors ``[batch, neurons, max_spikes]``: each row sorted ascending, ``+inf`` where
there is no spike. Gradients are the exact EventProp adjoint (csrc/lif_math.h).
"""

from __future__ import annotations

import math
import warnings

import torch

__all__ = [
    "lif_layer",
    "lif_layer_with_counts",
    "lif_network",
    "lif_network_with_loss",
    "lif_network_loss_gradients",
    "spike_overflow_count",
    "reset_spike_overflow_count",
    "SpikeOverflowWarning",
]


class SpikeOverflowWarning(RuntimeWarning):
    """A neuron fired more than ``max_spikes`` times: only its first ``max_spikes`` spikes are returned."""


class _OverflowCounter:
    """Spikes that did not fit into ``max_spikes``, summed over calls. CUDA counts stay on the device until
    read, so counting never forces a host synchronisation inside a training step."""

    def __init__(self) -> None:
        self._host = 0
        self._device: dict[torch.device, torch.Tensor] = {}

    def add(self, excess: torch.Tensor) -> None:
        """Counts ``excess`` (dropped spikes: a number, or one per layer)."""
        if excess.device.type == "cpu":
            n = sum(excess.tolist()) if excess.dim() else int(excess)  # one call for a few per-layer counts
            if n:
                self._host += n
                warnings.warn(
                    f"{n} spike(s) beyond max_spikes were dropped (each neuron keeps its first max_spikes); "
                    "raise max_spikes to keep them",
                    SpikeOverflowWarning,
                    stacklevel=4,
                )
        else:
            self._device[excess.device] = self._device.get(excess.device, 0) + excess.sum()

    def total(self) -> int:
        device_total = sum(int(t) for t in self._device.values())
        if device_total:
            warnings.warn(f"{device_total} spike(s) beyond max_spikes were dropped on the GPU", SpikeOverflowWarning, stacklevel=3)
        self._host += device_total
        self._device.clear()
        return self._host

    def reset(self) -> None:
        self._host = 0
        self._device.clear()


_overflows = _OverflowCounter()


def spike_overflow_count() -> int:
    """Total number of spikes dropped because a neuron exceeded ``max_spikes``, since the last reset."""
    return _overflows.total()


def reset_spike_overflow_count() -> None:
    _overflows.reset()


def _check_arguments(input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end) -> None:
    if not isinstance(input_times, torch.Tensor) or not isinstance(weight, torch.Tensor):
        raise ValueError(f"input_times and weight must be tensors, got {type(input_times).__name__} and {type(weight).__name__}")
    if input_times.dim() != 3:
        raise ValueError(f"input_times must be [batch, n_in, k_in], got shape {tuple(input_times.shape)}")
    if weight.dim() != 2 or weight.shape[1] != input_times.shape[1]:
        raise ValueError(
            f"weight must be [n_out, n_in] with n_in = input_times.shape[1] = {input_times.shape[1]}, "
            f"got shape {tuple(weight.shape)}"
        )
    if input_times.dtype not in (torch.float32, torch.float64) or weight.dtype != input_times.dtype:
        raise ValueError(
            f"input_times and weight must share a float32 or float64 dtype, got {input_times.dtype} and {weight.dtype}"
        )
    if input_times.device != weight.device:
        raise ValueError(f"input_times and weight must be on one device, got {input_times.device} and {weight.device}")
    if isinstance(max_spikes, bool) or not isinstance(max_spikes, int) or max_spikes < 1:
        raise ValueError(f"max_spikes must be an int >= 1, got {max_spikes=}")
    for name, value in (("tau_m", tau_m), ("tau_s", tau_s), ("threshold", threshold), ("t_end", t_end)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {name}={value!r}")
    if not (isinstance(resistance, (int, float)) and math.isfinite(resistance)):
        raise ValueError(f"resistance must be a finite number, got {resistance=}")
    if math.isclose(tau_m, tau_s, rel_tol=1e-9):
        raise ValueError(
            f"tau_m == tau_s is not supported (the closed form divides by tau_s - tau_m), got {tau_m=}, {tau_s=}; "
            "perturb one of them slightly"
        )


def _check_values_on_device(input_times: torch.Tensor) -> None:
    # The CPU kernel checks values while it reads them; on CUDA check here, once, before the launch.
    if input_times.device.type == "cpu" or input_times.numel() == 0:
        return
    if torch.isnan(input_times).any():
        raise ValueError("input_times contains NaN; use +inf for 'no spike'")
    if (input_times[..., 1:] < input_times[..., :-1]).any():
        raise ValueError("each input_times row must be sorted ascending; sort with torch.sort(dim=-1)")


def lif_layer_with_counts(
    input_times: torch.Tensor,
    weight: torch.Tensor,
    *,
    max_spikes: int,
    tau_m: float = 20.0,
    tau_s: float = 5.0,
    threshold: float = 1.0,
    resistance: float = 1.0,
    t_end: float = 30.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Like :func:`lif_layer`, also returning each neuron's true spike count ``[batch, n_out]`` (int64),
    which exceeds ``max_spikes`` where spikes were dropped."""
    from snn import _ops

    _check_arguments(input_times, weight, max_spikes, tau_m, tau_s, threshold, resistance, t_end)
    _check_values_on_device(input_times)
    times, _currents, counts = _ops.lif_forward(
        input_times, weight, max_spikes, float(tau_m), float(tau_s), float(threshold), float(resistance), float(t_end)
    )
    _count_overflows(counts, max_spikes)
    return times, counts


def _count_overflows(counts: torch.Tensor, max_spikes: int) -> None:
    # On the CPU one max() decides whether there is anything to count (the common case is no).
    if counts.device.type != "cpu" or (counts.numel() and int(counts.max()) > max_spikes):
        _overflows.add((counts - max_spikes).clamp_(min=0).sum())


def lif_network(
    input_times: torch.Tensor,
    weights: list[torch.Tensor],
    *,
    max_spikes: list[int],
    tau_m: float = 20.0,
    tau_s: float = 5.0,
    threshold: float = 1.0,
    resistance: float = 1.0,
    t_end: float = 30.0,
) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """A feed-forward stack of :func:`lif_layer` (layer l's spikes feed layer l + 1) in one operator call.

    Returns ``(times, counts)``: per layer the spike times ``[batch, n_l, max_spikes[l]]`` and the true spike
    counts ``[batch, n_l]``. Equal to chaining :func:`lif_layer_with_counts`, with one kernel launch and one
    autograd node per step instead of one per layer (the layers share the neuron parameters).
    """
    from snn import _ops

    params = _check_network_arguments(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end)
    times, counts = _ops.network(input_times, weights, max_spikes, params)
    for layer_counts, k in zip(counts, max_spikes):
        _count_overflows(layer_counts, k)
    return times, counts


def lif_network_with_loss(
    input_times: torch.Tensor,
    weights: list[torch.Tensor],
    labels: torch.Tensor,
    loss_arguments: tuple,
    *,
    max_spikes: list[int],
    tau_m: float = 20.0,
    tau_s: float = 5.0,
    threshold: float = 1.0,
    resistance: float = 1.0,
    t_end: float = 30.0,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """:func:`lif_network` and the paper's loss in one operator call (CPU): returns ``(loss, times,
    counts)``; only ``loss`` is differentiable. ``loss_arguments`` is ``LossFunction.kernel_arguments(...)``.
    The loss's gradient w.r.t. every spike time is computed with the forward pass, so ``loss.backward()`` is a
    single adjoint call. Equal to ``loss_fn(lif_network(...)[0], labels)`` (tested)."""
    from snn import _ops

    params = _check_network_loss_arguments(input_times, weights, labels, max_spikes, tau_m, tau_s, threshold, resistance, t_end)
    loss, excess, times, counts = _ops.network_with_loss(input_times, labels, weights, max_spikes, params, loss_arguments)
    _overflows.add(excess)
    return loss, times, counts


def lif_network_loss_gradients(
    input_times, weights, labels, loss_arguments, *, max_spikes, tau_m=20.0, tau_s=5.0, threshold=1.0,
    resistance=1.0, t_end=30.0,
) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """As :func:`lif_network_with_loss`, without autograd: returns ``(loss, counts, weight_grads)``, the
    gradients of the loss w.r.t. ``weights`` computed by the same two kernel calls (``loss.backward()`` on
    the fused path), for training loops that need nothing else from the tape."""
    from snn import _ops

    params = _check_network_loss_arguments(input_times, weights, labels, max_spikes, tau_m, tau_s, threshold, resistance, t_end)
    loss, excess, counts, grads = _ops.network_loss_gradients(input_times, labels, weights, max_spikes, params, loss_arguments)
    _overflows.add(excess)
    return loss, counts, grads


def _check_network_loss_arguments(input_times, weights, labels, max_spikes, *neuron) -> tuple:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be a 1-D integer tensor, got {labels!r:.80}")
    return _check_network_arguments(input_times, weights, max_spikes, *neuron)


def _check_network_arguments(input_times, weights, max_spikes, tau_m, tau_s, threshold, resistance, t_end) -> tuple:
    """Checks a network call as :func:`lif_layer` checks each layer; returns the neuron parameters as floats."""
    if len(weights) != len(max_spikes) or not weights:
        raise ValueError(f"need one max_spikes per weight, got {len(weights)} weights and max_spikes={list(max_spikes)}")
    _check_arguments(input_times, weights[0], max_spikes[0], tau_m, tau_s, threshold, resistance, t_end)
    for l in range(1, len(weights)):
        below, weight = weights[l - 1], weights[l]
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2 or weight.shape[1] != below.shape[0]:
            raise ValueError(
                f"weights[{l}] must be [n_out, n_in] with n_in = weights[{l - 1}].shape[0] = {below.shape[0]}, "
                f"got {tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__}"
            )
        if weight.dtype != below.dtype or weight.device != below.device:
            raise ValueError(f"all weights must share one dtype and device, got {below.dtype}/{below.device} and "
                             f"{weight.dtype}/{weight.device} for weights[{l - 1}] and weights[{l}]")
        if isinstance(max_spikes[l], bool) or not isinstance(max_spikes[l], int) or max_spikes[l] < 1:
            raise ValueError(f"max_spikes must be ints >= 1, got max_spikes[{l}]={max_spikes[l]!r}")
    _check_values_on_device(input_times)
    return (float(tau_m), float(tau_s), float(threshold), float(resistance), float(t_end))


def lif_layer(
    input_times: torch.Tensor,
    weight: torch.Tensor,
    *,
    max_spikes: int,
    tau_m: float = 20.0,
    tau_s: float = 5.0,
    threshold: float = 1.0,
    resistance: float = 1.0,
    t_end: float = 30.0,
) -> torch.Tensor:
    """Exact spike times of a feed-forward layer of current-based LIF neurons.

    ``input_times`` ``[batch, n_in, k_in]`` (ms, rows sorted, ``+inf`` = no spike; spikes at or after
    ``t_end`` are ignored), ``weight`` ``[n_out, n_in]``. Returns ``[batch, n_out, max_spikes]``: each
    neuron's first ``max_spikes`` spikes before ``t_end``, sorted, ``+inf`` padded. A neuron that would fire
    more often is counted (:func:`spike_overflow_count`) and warned about (:class:`SpikeOverflowWarning`).
    Differentiable w.r.t. ``input_times`` and ``weight`` by the EventProp adjoint.
    """
    times, _counts = lif_layer_with_counts(
        input_times, weight, max_spikes=max_spikes, tau_m=tau_m, tau_s=tau_s,
        threshold=threshold, resistance=resistance, t_end=t_end,
    )
    return times
