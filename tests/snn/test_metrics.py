"""snn.metrics: predictions (ties, silent outputs) and MetricAccumulator on a constructed two-batch set,
checked against counts worked out by hand."""

import json
import math

import pytest
import torch

from snn.metrics import MetricAccumulator, predictions

INF = math.inf


def _t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_predictions_first_firing_neuron_lowest_index_on_ties_minus_one_if_silent():
    out = _t([
        [[3.0, INF], [1.0, 2.0], [2.0, INF]],  # neuron 1 first
        [[2.0, INF], [INF, INF], [2.0, 5.0]],  # tie between 0 and 2 -> 0
        [[INF, INF], [4.0, INF], [4.0, INF]],  # tie between 1 and 2 -> 1
        [[INF, INF], [INF, INF], [INF, INF]],  # nothing fires -> -1
    ])
    assert predictions(out).tolist() == [1, 0, 1, -1]
    assert predictions(out).dtype == torch.int64


# Network with a hidden layer of 2 neurons and an output layer of 3, max_spikes = 2, t_end = 30.
# Batch A (2 samples):
HIDDEN_A = [[[1.0, 2.0], [INF, INF]], [[1.5, INF], [INF, INF]]]
COUNTS_HIDDEN_A = [[2, 0], [1, 0]]
OUT_A = [[[5.0, 6.0], [7.0, INF], [INF, INF]], [[INF, INF], [INF, INF], [INF, INF]]]
COUNTS_OUT_A = [[4, 1, 0], [0, 0, 0]]  # neuron 0 of sample 0 overflowed by 2 spikes
LABELS_A = [0, 1]  # sample 0 correct; sample 1 silent output -> wrong, silent target
# Batch B (1 sample):
HIDDEN_B = [[[3.0, INF], [INF, INF]]]
COUNTS_HIDDEN_B = [[1, 0]]
OUT_B = [[[9.0, INF], [INF, INF], [8.0, INF]]]
COUNTS_OUT_B = [[1, 0, 1]]
LABELS_B = [0]  # predicted 2 -> wrong; target fired


def _ce_by_hand(tau_0):
    def ce(firsts, target):
        return -(-firsts[target] / tau_0) + math.log(sum(math.exp(-t / tau_0) for t in firsts))
    return (ce([5.0, 7.0, 30.0], 0) + ce([30.0, 30.0, 30.0], 1) + ce([9.0, 30.0, 8.0], 0)) / 3


def _accumulated(**kwargs):
    acc = MetricAccumulator(2, **kwargs)
    acc.update([_t(HIDDEN_A), _t(OUT_A)], [torch.tensor(COUNTS_HIDDEN_A), torch.tensor(COUNTS_OUT_A)], torch.tensor(LABELS_A))
    acc.update([_t(HIDDEN_B), _t(OUT_B)], [torch.tensor(COUNTS_HIDDEN_B), torch.tensor(COUNTS_OUT_B)], torch.tensor(LABELS_B))
    return acc.compute()


def test_metrics_on_a_constructed_set():
    m = _accumulated(tau_0=2.0)
    assert m["n_samples"] == 3
    assert m["accuracy"] == pytest.approx(1 / 3)
    assert m["ce"] == pytest.approx(_ce_by_hand(2.0), rel=1e-12)
    hidden_spikes, output_spikes = 2 + 1 + 1, 4 + 1 + 1 + 1  # TRUE counts, overflow included
    assert m["n_s_per_layer"] == pytest.approx([hidden_spikes / (3 * 2), output_spikes / (3 * 3)])
    assert m["n_s_output"] == pytest.approx(output_spikes / (3 * 3))
    assert m["n_s"] == pytest.approx((hidden_spikes + output_spikes) / (3 * 5))
    # Hidden neuron 1 never fires; every output neuron fires for some sample.
    assert m["silent_fraction_per_layer"] == pytest.approx([1 / 2, 0.0])
    assert m["silent_target_fraction"] == pytest.approx(1 / 3)
    assert m["spike_overflows"] == 2
    assert json.loads(json.dumps(m)) == m  # plain Python values only


def test_ce_uses_the_default_tau_0_and_t_end():
    assert _accumulated()["ce"] == pytest.approx(_ce_by_hand(0.5), rel=1e-12)


def test_batches_accumulate_like_one_big_batch():
    acc = MetricAccumulator(2, tau_0=2.0)
    layers = [_t(HIDDEN_A + HIDDEN_B), _t(OUT_A + OUT_B)]
    counts = [torch.tensor(COUNTS_HIDDEN_A + COUNTS_HIDDEN_B), torch.tensor(COUNTS_OUT_A + COUNTS_OUT_B)]
    acc.update(layers, counts, torch.tensor(LABELS_A + LABELS_B))
    whole, batched = acc.compute(), _accumulated(tau_0=2.0)
    assert whole.keys() == batched.keys()
    for key in whole:
        assert whole[key] == pytest.approx(batched[key], rel=1e-12), key


def test_without_counts_spikes_are_counted_from_the_times():
    acc = MetricAccumulator(2)
    acc.update([_t(HIDDEN_A), _t(OUT_A)], None, torch.tensor(LABELS_A))
    m = acc.compute()
    assert m["n_s_per_layer"] == pytest.approx([3 / 4, 3 / 6])  # padded tensors hold 2 spikes for neuron 0
    assert m["spike_overflows"] == 0


def test_a_silent_layer_is_reported():
    acc = MetricAccumulator(2)
    silent_hidden = _t([[[INF, INF], [INF, INF]]])
    acc.update([silent_hidden, _t([[[1.0, INF], [INF, INF], [INF, INF]]])], None, torch.tensor([0]))
    m = acc.compute()
    assert m["silent_fraction_per_layer"] == [1.0, pytest.approx(2 / 3)]
    assert m["n_s_per_layer"][0] == 0.0
    assert m["accuracy"] == 1.0


def test_reset_and_empty_accumulator():
    acc = MetricAccumulator(1)
    with pytest.raises(ValueError, match="no samples"):
        acc.compute()
    acc.update([_t(OUT_B)], None, torch.tensor(LABELS_B))
    acc.reset()
    with pytest.raises(ValueError, match="no samples"):
        acc.compute()


def test_update_validates_its_inputs():
    acc = MetricAccumulator(2)
    with pytest.raises(ValueError, match="list of 2"):
        acc.update([_t(OUT_A)], None, torch.tensor(LABELS_A))
    with pytest.raises(ValueError, match=r"layer_counts\[1\] must have shape \(2, 3\)"):
        acc.update([_t(HIDDEN_A), _t(OUT_A)], [torch.tensor(COUNTS_HIDDEN_A), torch.tensor([[1, 2]])], torch.tensor(LABELS_A))
    with pytest.raises(ValueError, match="labels"):
        acc.update([_t(HIDDEN_A), _t(OUT_A)], None, torch.tensor([0]))
    acc.update([_t(HIDDEN_A), _t(OUT_A)], None, torch.tensor(LABELS_A))
    with pytest.raises(ValueError, match="layer sizes changed"):
        acc.update([_t(HIDDEN_A), _t(OUT_A)[:, :2]], None, torch.tensor(LABELS_A))
    with pytest.raises(ValueError, match="n_layers"):
        MetricAccumulator(0)
    with pytest.raises(ValueError, match="tau_0"):
        MetricAccumulator(2, tau_0=-1.0)
