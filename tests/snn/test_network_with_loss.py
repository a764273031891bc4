"""The training-step operator (forward pass, loss and the loss's spike-time gradient in one call, then one
backward call) equals the network and the loss composed, for every loss, in value and gradient; its gradient
equals finite differences; and it reports overflows and bad labels like the separate calls."""

import warnings

import pytest
import torch

from snn.functional import SpikeOverflowWarning, lif_network_with_loss, reset_spike_overflow_count, spike_overflow_count
from snn.losses import loss_l, loss_la, loss_lw, make_loss
from snn.nn import FeedForwardSNN

REFERENCE = {"L_W": loss_lw, "L": loss_l, "L_A": loss_la}
HYPER = dict(alpha=3.5e-3, eta=0.4, tau_0=0.5, tau_1=6.4)


def _net(dtype=torch.float64, max_spikes=(8, 16, 32, 32)):
    torch.manual_seed(0)
    return FeedForwardSNN([5, 40, 25, 13, 3], [(1, 3), (0.2, 1), (0, 1), (0, 1)], list(max_spikes), dtype=dtype)


def _inputs(batch, dtype=torch.float64):
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(batch, 2, generator=g, dtype=dtype)
    return (torch.cat([xy, 1 - xy, torch.zeros(batch, 1, dtype=dtype)], dim=1) * 20).unsqueeze(-1)


@pytest.mark.parametrize("name", ["L_W", "L", "L_A"])
@pytest.mark.parametrize("sp_normalization", ["neurons", "sum"])
def test_fused_step_equals_network_then_reference_loss(name, sp_normalization):
    net, x = _net(), _inputs(24)
    labels = torch.arange(24) % 3
    loss_fn = make_loss(name, **HYPER, sp_normalization=sp_normalization)
    fused = net.forward_with_loss(x, labels, loss_fn)
    assert "NetworkForwardLoss" in fused.grad_fn.name(), "the CPU step must take the fused path"
    fused_grads = torch.autograd.grad(3.0 * fused, list(net.parameters()))
    times = net(x)
    assert max(int(c.max()) for c in net.last_spike_counts) >= 5, "test network must fire several spikes per neuron"
    kwargs = dict(HYPER) if name != "L_W" else {k: v for k, v in HYPER.items() if k != "eta"}
    if name != "L_W":
        kwargs["sp_normalization"] = sp_normalization
    reference = REFERENCE[name](times, labels, **kwargs)
    reference_grads = torch.autograd.grad(3.0 * reference, list(net.parameters()))
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    for a, b in zip(fused_grads, reference_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_fused_step_gradient_matches_finite_differences():
    torch.manual_seed(3)
    weights = [torch.empty(6, 4, dtype=torch.float64).uniform_(1.0, 3.0).requires_grad_(),
               torch.empty(3, 6, dtype=torch.float64).uniform_(0.2, 1.2).requires_grad_()]
    x = (torch.rand(3, 4, 2, dtype=torch.float64) * 15).sort(dim=-1).values.requires_grad_()
    labels = torch.tensor([0, 1, 2])
    arguments = make_loss("L", alpha=3e-3, eta=0.4).kernel_arguments(9)

    def f(x, w0, w1):
        return lif_network_with_loss(x, [w0, w1], labels, arguments, max_spikes=[6, 6])[0]

    counts = lif_network_with_loss(x, weights, labels, arguments, max_spikes=[6, 6])[2]
    assert int(counts[0].max()) >= 2, "test network must fire several spikes per neuron"
    assert torch.autograd.gradcheck(f, (x, *weights), eps=1e-6, atol=1e-6)


def test_fused_step_is_deterministic_and_counts_overflows():
    net, x = _net(max_spikes=(2, 2, 2, 2)), _inputs(16)
    labels = torch.arange(16) % 3
    loss_fn = make_loss("L_A", **HYPER)
    reset_spike_overflow_count()
    with pytest.warns(SpikeOverflowWarning):
        first = net.forward_with_loss(x, labels, loss_fn)
    dropped = spike_overflow_count()
    expected = sum(int((c - 2).clamp(min=0).sum()) for c in net.last_spike_counts)
    assert dropped == expected > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpikeOverflowWarning)
        grads = [torch.autograd.grad(net.forward_with_loss(x, labels, loss_fn), list(net.parameters())) for _ in range(3)]
        again = net.forward_with_loss(x, labels, loss_fn)
    assert torch.equal(first, again)
    for other in grads[1:]:
        assert all(torch.equal(a, b) for a, b in zip(grads[0], other))


def test_fused_step_rejects_bad_labels():
    net, x = _net(), _inputs(2)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        net.forward_with_loss(x, torch.tensor([0, 5]), make_loss("L", **HYPER))
    with pytest.raises(ValueError, match="labels must be"):
        net.forward_with_loss(x, torch.tensor([0.0, 1.0]), make_loss("L", **HYPER))


def test_float32_step_agrees_with_float64():
    labels = torch.arange(16) % 3
    loss_fn = make_loss("L_A", **HYPER)
    net64, net32 = _net(torch.float64), _net(torch.float32)
    net32.load_state_dict({k: v.float() for k, v in net64.state_dict().items()})
    loss64 = net64.forward_with_loss(_inputs(16, torch.float64), labels, loss_fn)
    loss32 = net32.forward_with_loss(_inputs(16, torch.float64).float(), labels, loss_fn)
    torch.testing.assert_close(loss32.double(), loss64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["L_W", "L_A"])
def test_loss_backward_gives_the_tape_gradients_and_accumulates(name):
    loss_fn = make_loss(name, **HYPER)
    labels = torch.arange(24) % 3
    tape, direct = _net(), _net()
    x = _inputs(24)
    expected = tape.forward_with_loss(x, labels, loss_fn)
    expected.backward()
    loss = direct.loss_backward(x, labels, loss_fn)
    assert loss.grad_fn is None and torch.equal(loss, expected.detach())
    for a, b in zip(direct.parameters(), tape.parameters()):
        assert torch.equal(a.grad, b.grad)
    direct.loss_backward(x, labels, loss_fn)  # a second call adds, as a second backward() would
    for a, b in zip(direct.parameters(), tape.parameters()):
        torch.testing.assert_close(a.grad, 2 * b.grad, rtol=1e-14, atol=0)
    assert [c.shape for c in direct.last_spike_counts] == [(24, 40), (24, 25), (24, 13), (24, 3)]


def test_loss_backward_falls_back_to_the_tape_for_other_losses():
    net, x = _net(), _inputs(8)
    labels = torch.arange(8) % 3

    def custom(times, labels):
        return times[-1].nan_to_num(posinf=0.0).sum()

    loss = net.loss_backward(x, labels, custom)
    reference = _net()
    custom(reference(x), labels).backward()
    assert torch.equal(loss, custom(reference(x), labels).detach())
    for a, b in zip(net.parameters(), reference.parameters()):
        assert torch.equal(a.grad, b.grad)


def test_loss_backward_fills_grad_through_autograd_so_hooks_see_it():
    # Hooks on the weights (what DDP and gradient clipping by hook build on) see the step's gradient.
    net, x = _net(), _inputs(8)
    labels = torch.arange(8) % 3
    seen, accumulated = {}, {}

    def record(store, index, grad) -> None:
        store[index] = grad.clone()

    for index, layer in enumerate(net.layers):
        layer.weight.register_hook(lambda grad, index=index: record(seen, index, grad))
        layer.weight.register_post_accumulate_grad_hook(lambda weight, index=index: record(accumulated, index, weight.grad))
    net.loss_backward(x, labels, make_loss("L", **HYPER))
    assert sorted(seen) == sorted(accumulated) == [0, 1, 2, 3]
    for index, layer in enumerate(net.layers):
        assert torch.equal(seen[index], layer.weight.grad) and torch.equal(accumulated[index], layer.weight.grad)
