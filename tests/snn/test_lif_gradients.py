"""lif_layer's EventProp gradients equal finite differences wherever the spike count does not change."""

import math

import numpy as np
import pytest
import torch

from snn.functional import lif_layer
from tests.snn.oracle import random_network, simulate_layer, spike_counts

T_END = 30.0
# The finite-difference step of gradcheck is 1e-6; these margins keep it far from changing a spike count.
MIN_GAP = 1e-3


def finite_or_zero(times):
    """Spike times with +inf replaced by 0, so finite differences stay finite (no spike passes no gradient)."""
    return torch.where(torch.isfinite(times), times, torch.zeros_like(times))


def assert_well_conditioned(x, w, **params):
    """Test-setup guard: no near-threshold maximum, no grazing crossing, no spike (or near-spike) at t_end."""
    spikes, margins = simulate_layer(x.detach().numpy(), w.detach().numpy(), **params)
    last = max((times[-1] for row in spikes for times in row if times), default=0.0)
    assert margins["min_peak_gap"] > MIN_GAP, margins
    assert margins["min_crossing_slope"] > 1e-2, margins
    assert margins["min_end_gap"] > MIN_GAP and last < params.get("t_end", T_END) - MIN_GAP, (margins, last)
    return spike_counts(spikes)


def small_network(seed, **kwargs):
    x, w = random_network(seed, batch=2, n_in=4, k_in=2, n_out=3, w_range=(-1.0, 5.0), t_max=15.0, p_inf=0.0,
                          **kwargs)
    return x.requires_grad_(), w.requires_grad_()


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_gradcheck_single_layer_with_resets(seed):
    x, w = small_network(seed)
    counts = assert_well_conditioned(x, w)
    assert counts.max() >= 3, counts  # several spikes, so the adjoint crosses resets
    assert torch.autograd.gradcheck(
        lambda x, w: finite_or_zero(lif_layer(x, w, max_spikes=8)), (x, w), eps=1e-6, atol=1e-5, rtol=1e-3
    )


def test_gradcheck_non_default_parameters():
    params = dict(tau_m=10.0, tau_s=3.0, threshold=0.5, resistance=2.0, t_end=25.0)
    x, w = random_network(3, batch=2, n_in=4, k_in=2, n_out=3, w_range=(-0.3, 1.2), t_max=15.0, p_inf=0.0)
    x, w = x.requires_grad_(), w.requires_grad_()
    counts = assert_well_conditioned(x, w, **params)
    assert counts.max() >= 3, counts
    assert torch.autograd.gradcheck(
        lambda x, w: finite_or_zero(lif_layer(x, w, max_spikes=12, **params)), (x, w), eps=1e-6, atol=1e-5, rtol=1e-3
    )


def test_gradcheck_two_layer_chain():
    # Layer 1's padded output (+inf included) is layer 2's input: the adjoint must pass through both layers
    # and ignore the padding.
    g = torch.Generator().manual_seed(5)
    x, w1 = small_network(5)
    w2 = torch.empty(2, 3, dtype=torch.float64).uniform_(0.5, 3.0, generator=g).requires_grad_()
    hidden = lif_layer(x, w1, max_spikes=8)
    assert torch.isinf(hidden).any() and assert_well_conditioned(x, w1).max() >= 3
    assert assert_well_conditioned(hidden, w2).max() >= 2

    def chain(x, w1, w2):
        return finite_or_zero(lif_layer(lif_layer(x, w1, max_spikes=8), w2, max_spikes=8))

    assert torch.autograd.gradcheck(chain, (x, w1, w2), eps=1e-6, atol=1e-5, rtol=1e-3)


def test_weight_gradient_matches_oracle_finite_differences():
    # Independent of the kernel's forward pass: central differences of the ODE oracle.
    x, w = small_network(1)
    assert_well_conditioned(x, w)
    coef = torch.linspace(0.5, 1.5, 3 * 8, dtype=torch.float64).reshape(1, 3, 8)
    (finite_or_zero(lif_layer(x, w, max_spikes=8)) * coef).sum().backward()

    def loss(weight):
        spikes, _ = simulate_layer(x.detach().numpy(), weight)
        # coef broadcasts over the batch, as in the kernel loss above
        return sum(
            coef[0, i, k].item() * t for row in spikes for i, times in enumerate(row) for k, t in enumerate(times)
        )

    h, w0 = 1e-5, w.detach().numpy()
    for i, j in [(0, 0), (1, 2), (2, 3)]:
        plus, minus = w0.copy(), w0.copy()
        plus[i, j] += h
        minus[i, j] -= h
        fd = (loss(plus) - loss(minus)) / (2 * h)
        np.testing.assert_allclose(w.grad[i, j].item(), fd, rtol=1e-5, atol=1e-7)


def test_gradient_is_zero_for_padding_and_late_inputs():
    x, w = random_network(2, batch=3, n_in=4, k_in=3, n_out=3, w_range=(0.0, 4.0), t_max=15.0, p_inf=0.0)
    x[0, 1, 2] = math.inf  # padding at the end of a row
    x[1, 2, 1:] = math.inf  # a row with one spike
    x[2] = math.inf  # a whole sample with no input
    x[0, 3, 2] = T_END  # inputs at or after t_end are ignored: no gradient either
    x[1, 0, 2] = T_END + 3.0
    x, w = x.requires_grad_(), w.requires_grad_()
    out = lif_layer(x, w, max_spikes=8)
    assert torch.isfinite(out[:2]).any() and torch.isinf(out[2]).all()
    coef = torch.rand(out.shape, generator=torch.Generator().manual_seed(0), dtype=out.dtype)
    (finite_or_zero(out) * coef).sum().backward()
    assert torch.isfinite(x.grad).all() and torch.isfinite(w.grad).all()
    ignored = torch.isinf(x.detach()) | (x.detach() >= T_END)
    assert (x.grad[ignored] == 0).all()
    assert (x.grad[~ignored] != 0).any()


def test_float32_gradients_agree_with_float64():
    x, w = small_network(0)
    grads = []
    for dtype in (torch.float64, torch.float32):
        xd, wd = x.detach().to(dtype).requires_grad_(), w.detach().to(dtype).requires_grad_()
        finite_or_zero(lif_layer(xd, wd, max_spikes=8)).sum().backward()
        grads.append((xd.grad.double(), wd.grad.double()))
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-3, atol=1e-4)
