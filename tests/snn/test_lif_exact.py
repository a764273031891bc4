"""lif_layer's spike times equal an independent ODE simulation (tests/snn/oracle.py): every spike, 1e-9 ms."""

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from snn.functional import lif_layer, lif_layer_with_counts
from tests.snn.oracle import (
    padded, random_network, simulate_layer, simulate_neuron, single_spike_membrane, spike_counts,
)

TAU_M, TAU_S = 20.0, 5.0
# Time of the maximum of V after one input (or after a reset, which restarts the same shape from V = 0).
D_PEAK = math.log(TAU_M / TAU_S) / (1 / TAU_S - 1 / TAU_M)
PEAK_PER_WEIGHT = float(single_spike_membrane(D_PEAK, 1.0))


def first_crossing(weight, tau_m=TAU_M, tau_s=TAU_S):
    """Analytic first crossing of theta = 1 after one input of ``weight`` at t = 0 (it must exist)."""
    d_peak = math.log(tau_m / tau_s) / (1 / tau_s - 1 / tau_m)
    return brentq(lambda t: single_spike_membrane(t, weight, tau_m=tau_m, tau_s=tau_s) - 1.0, 0.0, d_peak,
                  xtol=1e-15, rtol=1e-15)


def analytic_spikes(weight, t0, tau_m, tau_s, t_end=30.0):
    """Spike times after one input of ``weight`` at t0, with resets. After a spike at t1, V restarts from 0
    with I1 = w e^{-(t1 - t0)/tau_s}: the single-input shape with weight I1, shifted by t1."""
    d_peak = math.log(tau_m / tau_s) / (1 / tau_s - 1 / tau_m)
    peak_per_weight = float(single_spike_membrane(d_peak, 1.0, tau_m=tau_m, tau_s=tau_s))
    expected, t, current = [], t0, weight
    while current * peak_per_weight >= 1.0:
        t = t + first_crossing(current, tau_m, tau_s)
        if t >= t_end:
            break
        expected.append(t)
        current = weight * math.exp(-(t - t0) / tau_s)
    return expected


SINGLE_INPUT_CASES = [(20.0, 5.0, w) for w in (6.5, 8.0, 12.0, 30.0)] + [(5.0, 8.0, w) for w in (3.0, 10.0)] + [
    (10.0, 3.0, 10.0)
]


@pytest.mark.parametrize(("tau_m", "tau_s", "weight"), SINGLE_INPUT_CASES)
def test_oracle_matches_the_analytic_solution_with_resets(tau_m, tau_s, weight):
    # One input: V(t) = R w tau_s/(tau_m - tau_s) (e^{-t/tau_m} - e^{-t/tau_s}), then restarts after resets.
    expected = analytic_spikes(weight, 1.0, tau_m, tau_s)
    assert len(expected) >= 2 or weight < 10
    got = simulate_neuron([(1.0, weight)], tau_m=tau_m, tau_s=tau_s).times
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_oracle_stays_silent_below_the_analytic_peak():
    assert simulate_neuron([(0.0, 0.99 / PEAK_PER_WEIGHT)]).times == []


@pytest.mark.parametrize("offset", [+1e-7, -1e-7])
def test_oracle_finds_shallow_crossings_between_integration_steps(offset):
    # The part of V above theta is ~0.01 ms wide, far narrower than DOP853's steps: a sign-change-only
    # event search would miss it.
    weight = (1.0 + offset) / PEAK_PER_WEIGHT
    times = simulate_neuron([(2.0, weight)]).times
    if offset > 0:
        assert len(times) == 1 and abs(times[0] - (2.0 + first_crossing(weight))) < 1e-6
    else:
        assert times == []


# ---- the kernel against the oracle -------------------------------------------------------------------


def assert_matches_oracle(x, w, max_spikes=12, atol=1e-9, **params):
    spikes, _ = simulate_layer(x.double().numpy(), w.double().numpy(), **params)
    expected_counts = spike_counts(spikes)
    assert expected_counts.max() <= max_spikes, "test setup: raise max_spikes"
    times, counts = lif_layer_with_counts(x, w, max_spikes=max_spikes, **params)
    np.testing.assert_array_equal(counts.numpy(), expected_counts)
    np.testing.assert_allclose(times.double().numpy(), padded(spikes, max_spikes), rtol=0, atol=atol)
    return expected_counts


@pytest.mark.parametrize(("tau_m", "tau_s", "weight"), SINGLE_INPUT_CASES)
def test_single_input_with_resets_matches_the_analytic_solution(tau_m, tau_s, weight):
    x = torch.tensor([[[1.0]]], dtype=torch.float64)
    times = lif_layer(x, torch.tensor([[weight]], dtype=torch.float64), max_spikes=16, tau_m=tau_m, tau_s=tau_s)
    expected = analytic_spikes(weight, 1.0, tau_m, tau_s)
    np.testing.assert_allclose(times[0, 0, : len(expected)].numpy(), expected, rtol=0, atol=1e-9)
    assert torch.isinf(times[0, 0, len(expected):]).all()


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_networks_match_oracle_float64(seed):
    x, w = random_network(seed)
    counts = assert_matches_oracle(x, w)
    # The regime this test is about: several spikes (and resets) per neuron, not one or none.
    assert counts.max() >= 4 and np.median(counts) >= 2, counts


@pytest.mark.parametrize(
    ("params", "w_range"),
    [
        (dict(tau_m=10.0, tau_s=3.0, threshold=0.5, resistance=2.0, t_end=40.0), (-0.2, 0.8)),
        (dict(tau_m=5.0, tau_s=8.0, threshold=1.5, resistance=1.0, t_end=25.0), (-0.5, 1.5)),  # tau_s > tau_m
    ],
    ids=["other-taus", "tau_s-greater"],
)
def test_non_default_parameters_match_oracle(params, w_range):
    x, w = random_network(7, w_range=w_range)
    counts = assert_matches_oracle(x, w, max_spikes=12, **params)
    assert counts.max() >= 3, counts


def test_lif_layer_returns_the_same_times_as_with_counts():
    x, w = random_network(11)
    torch.testing.assert_close(lif_layer(x, w, max_spikes=12), lif_layer_with_counts(x, w, max_spikes=12)[0])


def _second_spike_weight(offset):
    """Weight of one input at t = 0 whose SECOND spike (after a reset) peaks at theta + offset."""
    def excess(w):
        return w * math.exp(-first_crossing(w) / TAU_S) * PEAK_PER_WEIGHT - (1.0 + offset)
    return brentq(excess, 7.0, 14.0, xtol=1e-14, rtol=1e-15)


@pytest.mark.parametrize("offset", [+1e-7, -1e-7])
@pytest.mark.parametrize("which", ["first", "second"])
def test_shallow_crossing_near_a_maximum(offset, which):
    t0 = 3.0
    if which == "first":
        weight = (1.0 + offset) / PEAK_PER_WEIGHT
        before, peak_time = [], t0 + D_PEAK
    else:
        weight = _second_spike_weight(offset)
        t1 = t0 + first_crossing(weight)
        before, peak_time = [t1], t1 + D_PEAK
    x = torch.tensor([[[t0, math.inf], [math.inf, math.inf]]], dtype=torch.float64)
    w = torch.tensor([[weight, 1.0]], dtype=torch.float64)
    times = lif_layer(x, w, max_spikes=4)[0, 0]
    finite = times[torch.isfinite(times)].tolist()
    if offset > 0:
        assert len(finite) == len(before) + 1, f"shallow crossing missed: {finite}"
        # The crossing lies within ~0.01 ms before the peak; compare with the oracle there.
        expected = simulate_neuron([(t0, weight)]).times
        np.testing.assert_allclose(finite, expected, rtol=0, atol=1e-6)
        assert peak_time - 0.02 < finite[-1] <= peak_time
    else:
        assert len(finite) == len(before), f"spurious spike below threshold: {finite}"
    np.testing.assert_allclose(finite[: len(before)], before, rtol=0, atol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_float32_agrees_with_float64(seed):
    x, w = random_network(seed)
    _, margins = simulate_layer(x.numpy(), w.numpy())
    # Well-conditioned: no near-miss maximum, no grazing crossing, nothing close to t_end.
    assert margins["min_peak_gap"] > 1e-3 and margins["min_crossing_slope"] > 1e-2 and margins["min_end_gap"] > 1e-3
    t64, c64 = lif_layer_with_counts(x, w, max_spikes=12)
    t32, c32 = lif_layer_with_counts(x.float(), w.float(), max_spikes=12)
    assert t32.dtype == torch.float32
    torch.testing.assert_close(c32, c64, rtol=0, atol=0)
    torch.testing.assert_close(t32.double(), t64, rtol=1e-5, atol=1e-5)
