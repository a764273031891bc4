"""lif_layer on degenerate inputs, overflowing neurons and invalid arguments."""

import math

import numpy as np
import pytest
import torch

from snn.functional import (
    SpikeOverflowWarning,
    lif_layer,
    lif_layer_with_counts,
    reset_spike_overflow_count,
    spike_overflow_count,
)
from tests.snn.oracle import padded, random_network, simulate_layer

INF = math.inf


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


def test_no_input_spikes_gives_no_output_spikes():
    x = torch.full((2, 3, 2), INF, dtype=torch.float64)
    times, counts = lif_layer_with_counts(x, torch.full((4, 3), 5.0, dtype=torch.float64), max_spikes=3)
    assert times.shape == (2, 4, 3) and torch.isinf(times).all() and (times > 0).all()
    assert (counts == 0).all()


def test_all_negative_weights_never_fire():
    x, _ = random_network(0)
    w = -torch.rand(5, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 5
    assert torch.isinf(lif_layer(x, w, max_spikes=4)).all()


def test_overflow_is_counted_warned_and_keeps_the_first_spikes():
    x = f64([[[0.0, 5.0]], [[INF, INF]]])
    w = f64([[40.0], [7.0]])  # neuron 0 fires many times, neuron 1 a few times
    full, true_counts = lif_layer_with_counts(x, w, max_spikes=64)
    assert true_counts[0, 0] > 4 and true_counts.max() < 64
    reset_spike_overflow_count()
    with pytest.warns(SpikeOverflowWarning):
        clipped, counts = lif_layer_with_counts(x, w, max_spikes=4)
    assert torch.equal(counts, true_counts)  # true counts, beyond max_spikes
    expected_excess = int((true_counts - 4).clamp(min=0).sum())
    assert spike_overflow_count() == expected_excess > 0
    torch.testing.assert_close(clipped, full[..., :4], rtol=0, atol=0)
    with pytest.warns(SpikeOverflowWarning):
        lif_layer(x, w, max_spikes=4)
    assert spike_overflow_count() == 2 * expected_excess  # accumulates until reset
    reset_spike_overflow_count()
    assert spike_overflow_count() == 0


def test_no_overflow_no_warning(recwarn):
    reset_spike_overflow_count()
    x, w = random_network(0)
    lif_layer(x, w, max_spikes=16)
    assert not [r for r in recwarn if issubclass(r.category, SpikeOverflowWarning)]
    assert spike_overflow_count() == 0


def test_simultaneous_inputs_add_up():
    # Same time on two synapses, and twice in one row: equal to the oracle and to one summed input.
    x = f64([[[2.0, 2.0, 6.0], [2.0, INF, INF], [6.0, 6.0, INF]]])
    w = f64([[1.5, 2.0, 1.0], [3.0, -1.0, 0.5]])
    spikes, _ = simulate_layer(x.numpy(), w.numpy())
    got = lif_layer(x, w, max_spikes=6)
    assert torch.isfinite(got).sum() >= 2
    np.testing.assert_allclose(got.numpy(), padded(spikes, 6), rtol=0, atol=1e-9)
    summed_weights = f64([[1.5 * 2 + 2.0, 1.5 + 1.0 * 2], [3.0 * 2 - 1.0, 3.0 + 0.5 * 2]])
    summed = lif_layer(f64([[[2.0], [6.0]]]), summed_weights, max_spikes=6)
    torch.testing.assert_close(got, summed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("t_end", [30.0, 12.5])
def test_inputs_at_or_after_t_end_are_ignored(t_end):
    x, w = random_network(3, t_max=t_end - 1.0, p_inf=0.0)
    reference = lif_layer(x, w, max_spikes=12, t_end=t_end)
    late = x.clone()
    late[:, :, -1] = t_end  # exactly at t_end
    late[0, :, -1] = t_end + 5.0
    with_late = lif_layer(late, w, max_spikes=12, t_end=t_end)
    dropped = x.clone()
    dropped[:, :, -1] = INF
    torch.testing.assert_close(with_late, lif_layer(dropped, w, max_spikes=12, t_end=t_end), rtol=0, atol=0)
    assert not torch.equal(reference, with_late)  # the last column did matter before it was moved
    assert (with_late[torch.isfinite(with_late)] < t_end).all()


def test_padding_in_a_batch_matches_each_sample_alone():
    x = f64(
        [
            [[1.0, 2.0, INF], [0.5, INF, INF], [INF, INF, INF]],
            [[INF, INF, INF], [INF, INF, INF], [INF, INF, INF]],  # a sample with no input at all
            [[3.0, 8.0, 15.0], [4.0, 9.0, INF], [INF, INF, INF]],
        ]
    )
    w = f64([[4.0, 5.0, 9.0], [2.0, 6.0, -3.0]])
    batched = lif_layer(x, w, max_spikes=5)
    for b in range(3):
        torch.testing.assert_close(batched[b : b + 1], lif_layer(x[b : b + 1], w, max_spikes=5), rtol=0, atol=0)
    spikes, _ = simulate_layer(x.numpy(), w.numpy())
    np.testing.assert_allclose(batched.numpy(), padded(spikes, 5), rtol=0, atol=1e-9)
    assert torch.isinf(batched[1]).all() and torch.isfinite(batched[0]).any() and torch.isfinite(batched[2]).any()


def test_empty_batch():
    x, w = torch.empty(0, 3, 2, dtype=torch.float64), torch.ones(4, 3, dtype=torch.float64)
    times, counts = lif_layer_with_counts(x, w, max_spikes=2)
    assert times.shape == (0, 4, 2) and counts.shape == (0, 4)


X = torch.tensor([[[1.0, 2.0], [3.0, INF]]], dtype=torch.float64)
W = torch.ones(2, 2, dtype=torch.float64)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (dict(input_times=X[0]), "input_times"),  # wrong ndim
        (dict(weight=W[0]), "weight"),  # wrong ndim
        (dict(weight=torch.ones(2, 3, dtype=torch.float64)), "n_in"),  # n_in mismatch
        (dict(weight=W.float()), "dtype"),
        (dict(input_times=X.long(), weight=W.long()), "dtype"),
        (dict(input_times=X.half(), weight=W.half()), "dtype"),
        (dict(input_times=f64([[[2.0, 1.0], [3.0, INF]]])), "sorted"),
        (dict(input_times=f64([[[1.0, INF], [INF, 3.0]]])), "sorted"),  # +inf must be trailing padding
        (dict(input_times=f64([[[1.0, math.nan], [3.0, INF]]])), "NaN"),
        (dict(tau_m=0.0), "tau_m"),
        (dict(tau_m=-20.0), "tau_m"),
        (dict(tau_s=0.0), "tau_s"),
        (dict(tau_s=-5.0), "tau_s"),
        (dict(tau_m=5.0, tau_s=5.0), "tau_m"),
        (dict(max_spikes=0), "max_spikes"),
        (dict(max_spikes=-1), "max_spikes"),
        (dict(t_end=0.0), "t_end"),
        (dict(t_end=-1.0), "t_end"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
@pytest.mark.parametrize("fn", [lif_layer, lif_layer_with_counts], ids=["lif_layer", "with_counts"])
def test_invalid_arguments_raise_value_error(fn, change, match):
    kwargs = dict(input_times=X, weight=W, max_spikes=2) | change
    with pytest.raises(ValueError, match=match):
        fn(kwargs.pop("input_times"), kwargs.pop("weight"), **kwargs)
