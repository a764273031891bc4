"""The training losses of the paper (eqs. 9-14, SPEC.md "Losses"), on padded spike-time tensors.

Every spike-time tensor is ``[batch, neurons, max_spikes]`` in ms, rows sorted ascending, ``+inf`` padded, as
:func:`snn.functional.lif_layer` returns it. ``layer_times`` is the list a network returns: hidden layers
first, output layer last (the input layer is not in it, so SP covers exactly the hidden and output neurons).

An output neuron that never fires counts with first-spike time ``t_end`` in CE, CS and AS and passes no
gradient (SPEC.md). The functions below never let ``+inf`` reach an ``exp`` or a division, even in a
branch that ``torch.where`` discards: a discarded ``inf`` or ``nan`` still poisons the backward pass
(``0 * inf = nan``), so inputs are sanitised *before* each op.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from snn._loss_names import LOSS_NAMES, SP_NORMALIZATIONS  # defined without torch, for the config to check

__all__ = [
    "LOSS_NAMES",
    "SP_NORMALIZATIONS",
    "first_spike_times",
    "cross_entropy",
    "target_spike_term",
    "all_spike_term",
    "spike_penalty",
    "loss_lw",
    "loss_l",
    "loss_la",
    "make_loss",
    "LossFunction",
]

# Smallest inter-spike interval SP divides by (ms). The exact LIF model cannot fire twice at one instant
# (after a reset V starts from 0 and needs time to reach threshold), but a float32 spike near 30 ms is only
# resolved to ~2e-6 ms, so two spikes may round to the same value. Clamping the difference *before* the
# division keeps 1/dt finite (at most 1e6 per pair) and the clamp passes no gradient where it binds.
_MIN_INTERVAL = 1e-6


def _check_times(times: torch.Tensor, name: str) -> None:
    if not isinstance(times, torch.Tensor) or times.dim() != 3 or times.shape[-1] < 1:
        shape = tuple(times.shape) if isinstance(times, torch.Tensor) else type(times).__name__
        raise ValueError(f"{name} must be a [batch, neurons, max_spikes>=1] spike-time tensor, got {shape}")


def _check_labels(labels: torch.Tensor, out: torch.Tensor) -> None:
    batch, n_out = out.shape[0], out.shape[1]
    if not isinstance(labels, torch.Tensor) or labels.shape != (batch,) or labels.is_floating_point():
        got = (tuple(labels.shape), labels.dtype) if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise ValueError(f"labels must be an integer tensor of shape ({batch},), got {got}")
    # Range check only on the CPU: on a GPU it would force a host sync in every training step.
    if labels.device.type == "cpu" and batch and (labels.min() < 0 or labels.max() >= n_out):
        raise ValueError(f"labels must lie in [0, {n_out}) (one per output neuron), got {labels.tolist()}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (_is_number(value) and value > 0):
            raise ValueError(f"{name} must be a finite number > 0 (ms), got {name}={value!r}")


def first_spike_times(output_times: torch.Tensor, t_end: float) -> torch.Tensor:
    """``[batch, n_out]`` first spike of each neuron, ``t_end`` where it never fired (no gradient there)."""
    _check_times(output_times, "output_times")
    _check_positive(t_end=t_end)
    # nan_to_num replaces +inf by a constant and routes a zero gradient there: nothing non-finite is
    # differentiated, in one op (this runs every training step).
    return output_times[..., 0].nan_to_num(posinf=float(t_end))


def cross_entropy(out: torch.Tensor, labels: torch.Tensor, tau_0: float, *, t_end: float = 30.0) -> torch.Tensor:
    """CE (eq. 10): ``mean_b -log softmax(-t_first / tau_0)[target]``."""
    _check_positive(tau_0=tau_0)
    t_first = first_spike_times(out, t_end)
    _check_labels(labels, out)
    return F.cross_entropy(-t_first / tau_0, labels)


def target_spike_term(out: torch.Tensor, labels: torch.Tensor, tau_1: float, *, t_end: float = 30.0) -> torch.Tensor:
    """CS (eq. 10): ``mean_b [exp(t_first[target] / tau_1) - 1]``."""
    _check_positive(tau_1=tau_1)
    t_first = first_spike_times(out, t_end)
    _check_labels(labels, out)
    t_target = t_first.gather(1, labels.long().unsqueeze(1)).squeeze(1)
    return torch.expm1(t_target / tau_1).mean()


def all_spike_term(out: torch.Tensor, tau_1: float, *, t_end: float = 30.0) -> torch.Tensor:
    """AS (eq. 14): ``mean over samples and output neurons of exp(t_first / tau_1) - 1``."""
    _check_positive(tau_1=tau_1)
    return torch.expm1(first_spike_times(out, t_end) / tau_1).mean()


def spike_penalty(layer_times: Sequence[torch.Tensor] | torch.Tensor) -> torch.Tensor:
    """SP (eq. 12): ``mean_b sum_{neurons} sum_{p>=2} 1 / (t_p - t_1)`` over every layer given (pass the
    hidden and output layers). A neuron with fewer than two spikes adds nothing."""
    layers = [layer_times] if isinstance(layer_times, torch.Tensor) else list(layer_times)
    if not layers:
        raise ValueError("spike_penalty needs at least one layer's spike times, got an empty list")
    total = None
    for i, times in enumerate(layers):
        _check_times(times, f"layer_times[{i}]")
        # A silent neuron's +inf first spike becomes 0 before the subtraction, so padding yields
        # gap = +inf and 1/gap = 0 (never inf - inf = nan); the reciprocal's gradient there is -1/gap^2 = 0.
        gap = times[..., 1:] - times[..., :1].nan_to_num(posinf=0.0)
        inverse = gap.clamp_min(_MIN_INTERVAL).reciprocal()
        term = inverse.sum() / times.shape[0] if times.shape[0] else inverse.sum()
        total = term if total is None else total + term
    return total


def _check_hyper(alpha: float, eta: float, tau_0: float, tau_1: float, t_end: float) -> None:
    for name, value in (("alpha", alpha), ("eta", eta)):
        if not (_is_number(value) and value >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")
    _check_positive(tau_0=tau_0, tau_1=tau_1, t_end=t_end)


def _output(layer_times: Sequence[torch.Tensor]) -> torch.Tensor:
    if isinstance(layer_times, torch.Tensor) or len(layer_times) == 0:
        raise ValueError("layer_times must be a non-empty list of spike-time tensors (hidden layers first, output last)")
    return layer_times[-1]


def loss_lw(layer_times, labels, *, alpha, tau_0=0.5, tau_1=6.4, t_end=30.0) -> torch.Tensor:
    """``L_W = CE + alpha CS`` (eq. 9, the EventProp loss)."""
    _check_hyper(alpha, 0.0, tau_0, tau_1, t_end)
    out = _output(layer_times)
    return cross_entropy(out, labels, tau_0, t_end=t_end) + alpha * target_spike_term(out, labels, tau_1, t_end=t_end)


def _sp_scale(layer_times, sp_normalization: str) -> float:
    if sp_normalization not in SP_NORMALIZATIONS:
        raise ValueError(f"sp_normalization must be one of {SP_NORMALIZATIONS}, got {sp_normalization!r}")
    return 1.0 / sum(t.shape[1] for t in layer_times) if sp_normalization == "neurons" else 1.0


def loss_l(layer_times, labels, *, alpha, eta, tau_0=0.5, tau_1=6.4, t_end=30.0, sp_normalization="neurons") -> torch.Tensor:
    """``L = CE + alpha CS + eta SP`` (eq. 11); SP scaled per ``sp_normalization`` (see SP_NORMALIZATIONS)."""
    _check_hyper(alpha, eta, tau_0, tau_1, t_end)
    _output(layer_times)  # a clear error for a bad list before SP reads it
    sp = spike_penalty(layer_times) * _sp_scale(layer_times, sp_normalization)
    return loss_lw(layer_times, labels, alpha=alpha, tau_0=tau_0, tau_1=tau_1, t_end=t_end) + eta * sp


def loss_la(layer_times, labels, *, alpha, eta, tau_0=0.5, tau_1=6.4, t_end=30.0, sp_normalization="neurons") -> torch.Tensor:
    """``L_A = CE + alpha AS + eta SP`` (eq. 13); SP scaled per ``sp_normalization`` (see SP_NORMALIZATIONS)."""
    _check_hyper(alpha, eta, tau_0, tau_1, t_end)
    out = _output(layer_times)
    sp = spike_penalty(layer_times) * _sp_scale(layer_times, sp_normalization)
    return (
        cross_entropy(out, labels, tau_0, t_end=t_end)
        + alpha * all_spike_term(out, tau_1, t_end=t_end)
        + eta * sp
    )


@dataclass(frozen=True)
class LossFunction:
    """A configured loss: ``fn(layer_times, labels) -> scalar``. A plain dataclass so it pickles (Ray)."""

    name: str
    alpha: float
    eta: float
    tau_0: float = 0.5
    tau_1: float = 6.4
    t_end: float = 30.0
    sp_normalization: str = "neurons"

    def kernel_arguments(self, neurons: int) -> tuple[int, float, float, float, float]:
        """``(kind, alpha, eta, tau_0, tau_1)`` as the C++ kernels take them, for a network of ``neurons``
        hidden and output neurons: eta * (SP / N_n) == (eta / N_n) * SP, so the kernels sum SP plainly."""
        eta = self.eta / neurons if self.sp_normalization == "neurons" else self.eta
        return (_KINDS[self.name], self.alpha, eta, self.tau_0, self.tau_1)

    def __call__(self, layer_times, labels) -> torch.Tensor:
        if _fused_available(layer_times, labels):
            params = (*self.kernel_arguments(sum(t.shape[1] for t in layer_times)), self.t_end)
            from snn import _ops  # the operator's Python entry point (loads the kernels on first use)

            return _ops.spike_loss(list(layer_times), labels, *params)[0]
        kw = dict(alpha=self.alpha, tau_0=self.tau_0, tau_1=self.tau_1, t_end=self.t_end)
        if self.name == "L_W":
            return loss_lw(layer_times, labels, **kw)
        loss = loss_l if self.name == "L" else loss_la
        return loss(layer_times, labels, eta=self.eta, sp_normalization=self.sp_normalization, **kw)


_KINDS = {"L_W": 0, "L": 1, "L_A": 2}


def _fused_available(layer_times, labels) -> bool:
    """The C++ form (csrc/loss_cpu.cpp) serves CPU tensors; it equals the functions above (tested)."""
    if isinstance(layer_times, torch.Tensor) or not layer_times:
        return False
    tensors = [*layer_times, labels]
    if not all(isinstance(t, torch.Tensor) and t.device.type == "cpu" for t in tensors):
        return False
    if not all(t.dim() == 3 for t in layer_times) or labels.dim() != 1 or labels.is_floating_point():
        return False  # let the reference raise its clear errors
    from snn._ext import has_kernel

    return has_kernel("spike_loss", "cpu")


def make_loss(
    name: str, *, alpha: float, eta: float, tau_0: float = 0.5, tau_1: float = 6.4, t_end: float = 30.0,
    sp_normalization: str = "neurons",
) -> LossFunction:
    """The loss called ``name`` ("L_W", "L" or "L_A"; ``eta`` is ignored by L_W) with its hyperparameters."""
    if name not in LOSS_NAMES:
        raise ValueError(f"loss name must be one of {LOSS_NAMES}, got {name!r}")
    if sp_normalization not in SP_NORMALIZATIONS:
        raise ValueError(f"sp_normalization must be one of {SP_NORMALIZATIONS}, got {sp_normalization!r}")
    _check_hyper(alpha, eta, tau_0, tau_1, t_end)
    return LossFunction(name, float(alpha), float(eta), float(tau_0), float(tau_1), float(t_end), sp_normalization)
