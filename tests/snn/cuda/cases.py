"""Shared by the CUDA tests (on a GPU) and the emulated-kernel tests (on the CPU): the operator-level cases
on which another implementation of snn::lif_forward / lif_backward must agree with the CPU kernel, and
the comparison. Needs only torch (and the CPU kernel)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

import snn._ops  # noqa: F401  (registers torch.ops.snn.*)
from snn.functional import lif_layer_with_counts
from tests.snn.oracle import random_network

__all__ = ["Case", "CASES", "Tolerance", "TOLERANCES", "assert_matches_cpu", "grad_for", "mnist_like_inputs",
           "yinyang_like_inputs"]

INF = math.inf
DEFAULT = dict(tau_m=20.0, tau_s=5.0, threshold=1.0, resistance=1.0, t_end=30.0)


@dataclass(frozen=True)
class Case:
    name: str
    x: torch.Tensor
    w: torch.Tensor
    max_spikes: int
    params: dict = field(default_factory=lambda: dict(DEFAULT))
    min_max_count: int = 0  # test-setup guard: some neuron must fire at least this often

    def args(self, dtype: torch.dtype, device: str = "cpu"):
        p = self.params
        return (self.x.to(device, dtype), self.w.to(device, dtype), self.max_spikes, p["tau_m"], p["tau_s"],
                p["threshold"], p["resistance"], p["t_end"])


def _f64(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def _spike_at_input_time() -> Case:
    # Input 1 arrives exactly at neuron 0's first spike time: the spike must come before the input's jump
    # (forward) and the input before the spike (backward), as on the CPU.
    P = (20.0, 5.0, 1.0, 1.0, 30.0)
    w = _f64([[8.0, 3.0], [2.0, 6.0]])
    t1 = float(torch.ops.snn.lif_forward(_f64([[[1.0], [INF]]]), w, 4, *P)[0][0, 0, 0])
    return Case("spike-at-input-time", _f64([[[1.0], [t1]]]), w, 8, min_max_count=2)


def _simultaneous() -> Case:
    x, w = random_network(5, batch=3, n_in=8, k_in=3, n_out=20)
    x = torch.where(torch.isfinite(x), (x / 4.0).round() * 4.0, x)  # a 4 ms grid: many ties, within rows too
    return Case("simultaneous-inputs", x, w, 16, min_max_count=3)


def _at_and_after_t_end() -> Case:
    x, w = random_network(6, batch=3, n_in=6, k_in=4, n_out=10, t_max=20.0, p_inf=0.0)
    x[:, :, -1] = 30.0  # exactly t_end: ignored
    x[:, ::2, -2:] = torch.tensor([30.0, 47.0], dtype=torch.float64)  # at and after t_end, sorted
    return Case("inputs-at-and-after-t_end", x, w, 16, min_max_count=2)


def _padding_mid_batch() -> Case:
    x, w = random_network(7, batch=5, n_in=6, k_in=3, n_out=12, p_inf=0.4)
    x[2] = INF  # a sample without any input spike in the middle of the batch
    return Case("inf-padding-mid-batch", x, w, 16, min_max_count=2)


def _build_cases() -> list[Case]:
    x0, w0 = random_network(0, batch=4, n_in=6, k_in=3, n_out=40)
    x1, w1 = random_network(1, batch=3, n_in=10, k_in=1, n_out=130, w_range=(-0.5, 2.5), p_inf=0.0)
    x2, w2 = random_network(2, batch=3, n_in=6, k_in=2, n_out=33, w_range=(-0.3, 1.2))
    x3, w3 = random_network(3, batch=3, n_in=6, k_in=2, n_out=9, w_range=(-0.5, 4.0))
    xo, wo = random_network(4, batch=2, n_in=4, k_in=2, n_out=6, w_range=(5.0, 20.0))
    xn, _ = random_network(8)
    return [
        Case("random-several-spikes", x0, w0, 16, min_max_count=5),
        Case("random-k1-two-blocks", x1, w1, 16, min_max_count=3),  # 130 neurons: 2 blocks, partial warp
        Case("nondefault-params", x2, w2, 16,
             dict(tau_m=10.0, tau_s=3.0, threshold=0.5, resistance=2.0, t_end=25.0), min_max_count=3),
        Case("tau_s-above-tau_m", x3, w3, 16, dict(DEFAULT, tau_m=5.0, tau_s=8.0), min_max_count=2),
        Case("overflow", xo, wo, 2, min_max_count=4),  # true counts above max_spikes
        Case("no-input-spikes", torch.full((2, 3, 2), INF, dtype=torch.float64), torch.full((4, 3), 5.0).double(), 3),
        Case("all-negative-weights", xn, -5 * torch.rand(5, 6, generator=torch.Generator().manual_seed(0)).double(), 4),
        Case("one-neuron-one-input", _f64([[[2.0]], [[INF]], [[0.0]]]), _f64([[30.0]]), 8, min_max_count=3),
        Case("no-inputs-at-all", torch.empty(2, 0, 1, dtype=torch.float64), torch.empty(3, 0, dtype=torch.float64), 2),
        Case("empty-batch", torch.empty(0, 3, 2, dtype=torch.float64), torch.ones(4, 3, dtype=torch.float64), 2),
        _spike_at_input_time(),
        _simultaneous(),
        _at_and_after_t_end(),
        _padding_mid_batch(),
    ]


CASES = _build_cases()


@dataclass(frozen=True)
class Tolerance:
    times_abs: float  # ms
    times_rel: float
    grad_rel: float  # relative to the largest gradient entry


# float64: the same arithmetic in a different order (FMA contraction, device exp): rounding level.
# float32: twice what the CPU float32 kernel itself achieves against float64 on well-conditioned networks
# (tests/snn/test_lif_exact.py: 1e-5 abs + 1e-5 rel), as both sides carry float32 error; a few ulp of a
# membrane value move a crossing by ~10 ulp of its time.
TOLERANCES = {torch.float64: Tolerance(1e-9, 0.0, 1e-9), torch.float32: Tolerance(2e-5, 2e-5, 1e-4)}


def grad_for(times: torch.Tensor) -> torch.Tensor:
    """A deterministic dL/d(spike_times): varied values on the finite spikes, 0 on the padding."""
    values = torch.linspace(-1.0, 1.5, times.numel(), dtype=times.dtype, device=times.device).view_as(times)
    return torch.where(torch.isfinite(times), values, torch.zeros_like(values))


def _assert_close_rel(actual, expected, rel, what):
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(actual, expected, rtol=rel, atol=rel * max(scale, 1e-300), msg=lambda m: f"{what}: {m}")


def assert_matches_cpu(forward: Callable, backward: Callable, case: Case, dtype: torch.dtype,
                       input_grads: tuple[bool, ...] = (True, False)) -> None:
    """``forward`` / ``backward`` (the operators' signatures, CPU tensors in and out) agree with the CPU kernel
    on ``case``: identical counts and padding, times within TOLERANCES, gradients for each ``input_grad``."""
    tol = TOLERANCES[dtype]
    args = case.args(dtype)
    ref_times, ref_currents, ref_counts = torch.ops.snn.lif_forward(*args)
    if case.min_max_count:
        assert int(ref_counts.max()) >= case.min_max_count, f"test setup: {case.name} fires too little: {ref_counts}"
    times, currents, counts = forward(*args)
    assert times.dtype == dtype and times.shape == ref_times.shape and counts.dtype == torch.int64
    torch.testing.assert_close(counts, ref_counts, rtol=0, atol=0)
    assert torch.equal(torch.isinf(times), torch.isinf(ref_times)), "different spikes"
    finite = torch.isfinite(ref_times)
    torch.testing.assert_close(times[finite], ref_times[finite], rtol=tol.times_rel, atol=tol.times_abs)
    _assert_close_rel(currents[finite], ref_currents[finite], tol.grad_rel, "spike currents")
    grad = grad_for(ref_times)
    x, w, _, *params = args
    for input_grad in input_grads:
        ref_gx, ref_gw = torch.ops.snn.lif_backward(grad, x, w, ref_times, ref_currents, *params, input_grad)
        gx, gw = backward(grad, x, w, ref_times, ref_currents, *params, input_grad)
        _assert_close_rel(gw, ref_gw, tol.grad_rel, f"weight gradient ({input_grad=})")
        _assert_close_rel(gx, ref_gx, tol.grad_rel, f"input-time gradient ({input_grad=})")
        assert input_grad or not gx.any(), "input-time gradient must be zero without input_grad"


def yinyang_like_inputs(batch: int, generator: torch.Generator) -> torch.Tensor:
    """Yin-Yang's encoding of random points in the unit square: (x, y, 1-x, 1-y) * 20 ms and a bias at 0."""
    xy = torch.rand(batch, 2, generator=generator, dtype=torch.float64)
    values = torch.cat([xy, 1 - xy, torch.zeros(batch, 1, dtype=torch.float64)], dim=1)
    times = values * 20.0
    times[:, 4] = 0.0
    return times.unsqueeze(-1)


def mnist_like_inputs(batch: int, generator: torch.Generator) -> torch.Tensor:
    """MNIST's statistics under its encoding: ~19 % lit pixels with intensities on the 1/255 grid, spiking at
    (1 - p) * 20 ms; the dark rest all spike together at 20 ms."""
    lit = torch.rand(batch, 784, generator=generator, dtype=torch.float64) < 0.19
    p = torch.randint(1, 256, (batch, 784), generator=generator).double() / 255.0
    return ((1 - torch.where(lit, p, torch.zeros_like(p))) * 20.0).unsqueeze(-1)


def chain_layers(x, weights, max_spikes):
    """The per-layer operator chained: the reference the whole-network operator must equal."""
    times, counts = [], []
    for w, k in zip(weights, max_spikes):
        x, c = lif_layer_with_counts(x, w, max_spikes=k)
        times.append(x)
        counts.append(c)
    return times, counts
