"""Each loss, differentiated through two exact LIF layers (the EventProp adjoint of snn.functional), agrees
with finite differences of the forward simulation w.r.t. both layers' weights; SP reaches the hidden layer."""

import pytest
import torch

from snn.functional import lif_layer_with_counts
from snn.losses import make_loss, spike_penalty

MAX_SPIKES = 8
# Two Yin-Yang-like samples (x, y, 1-x, 1-y scaled to 0-20 ms, bias at 0) into a 5-4-3 network. The weights
# were chosen so that every hidden neuron fires 2-4 times, each output neuron 1-3 times, and no spike count
# changes when any weight moves by 1e-4 (checked below), far beyond gradcheck's 1e-6 steps.
INPUTS = [[[0.0], [4.0], [16.0], [8.0], [0.0]], [[6.0], [10.0], [2.0], [12.0], [0.0]]]
W_HIDDEN = [[4.88, 3.83, 2.84, 4.68, 3.58], [4.16, 1.71, 2.4, 3.33, 2.15],
            [2.81, 1.71, 2.42, 3.49, 2.93], [2.76, 2.63, 1.82, 3.66, 4.14]]
W_OUTPUT = [[0.63, 2.03, 0.33, 1.57], [0.68, 1.67, 1.76, 2.05], [2.24, 0.68, 2.43, 1.89]]
LABELS = [2, 1]


def _network(inputs, w_hidden, w_output):
    hidden, hidden_counts = lif_layer_with_counts(inputs, w_hidden, max_spikes=MAX_SPIKES)
    output, output_counts = lif_layer_with_counts(hidden, w_output, max_spikes=MAX_SPIKES)
    return [hidden, output], [hidden_counts, output_counts]


@pytest.fixture(scope="module")
def setup():
    f64 = dict(dtype=torch.float64)
    inputs, w_hidden, w_output = torch.tensor(INPUTS, **f64), torch.tensor(W_HIDDEN, **f64), torch.tensor(W_OUTPUT, **f64)
    _, counts = _network(inputs, w_hidden, w_output)
    # The preconditions the gradient check relies on: multi-spike neurons, no overflow, stable counts.
    assert (counts[0] >= 2).all() and (counts[1] >= 1).all() and (counts[1] >= 2).any()
    assert max(int(c.max()) for c in counts) <= MAX_SPIKES
    for weight in (w_hidden, w_output):
        for index in range(weight.numel()):
            for step in (1e-4, -1e-4):
                weight.view(-1)[index] += step
                _, moved = _network(inputs, w_hidden, w_output)
                weight.view(-1)[index] -= step
                assert all(torch.equal(a, b) for a, b in zip(counts, moved)), f"count changes at {index=}, {step=}"
    return inputs, w_hidden, w_output


@pytest.mark.parametrize("name", ["L_W", "L", "L_A"])
def test_loss_gradients_through_the_operator_match_finite_differences(setup, name):
    inputs, w_hidden, w_output = setup
    loss = make_loss(name, alpha=0.2, eta=0.4)
    labels = torch.tensor(LABELS)

    def fn(w1, w2):
        layers, _ = _network(inputs, w1, w2)
        return loss(layers, labels)

    weights = (w_hidden.clone().requires_grad_(), w_output.clone().requires_grad_())
    assert torch.autograd.gradcheck(fn, weights, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_spike_penalty_gives_the_hidden_weights_a_gradient(setup):
    inputs, w_hidden, w_output = setup
    w1, w2 = w_hidden.clone().requires_grad_(), w_output.clone().requires_grad_()
    layers, _ = _network(inputs, w1, w2)
    hidden_only = spike_penalty(layers[:1])  # not through the output layer: the hidden spikes themselves
    (grad_hidden,) = torch.autograd.grad(hidden_only, (w1,))
    assert torch.isfinite(grad_hidden).all()
    assert (grad_hidden.abs().sum(dim=1) > 0).all()  # every multi-spike hidden neuron is pushed
    # And the full loss L differs from L_W in its hidden-weight gradient by exactly eta * dSP/dW1.
    labels = torch.tensor(LABELS)
    loss_l = make_loss("L", alpha=0.2, eta=0.4, sp_normalization="sum")
    g_l = torch.autograd.grad(loss_l(_network(inputs, w1, w2)[0], labels), (w1,))[0]
    g_lw = torch.autograd.grad(make_loss("L_W", alpha=0.2, eta=0.4)(_network(inputs, w1, w2)[0], labels), (w1,))[0]
    (g_sp,) = torch.autograd.grad(spike_penalty(_network(inputs, w1, w2)[0]), (w1,))
    assert (g_sp != 0).any()
    torch.testing.assert_close(g_l - g_lw, 0.4 * g_sp, rtol=1e-9, atol=1e-12)
