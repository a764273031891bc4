"""torch.library.opcheck of the whole-network and loss operators (test_lif_opcheck.py covers the layer pair):
schema, fake kernels, autograd registration and AOT dispatch, for each operator; and a training step under
torch.compile that equals the eager one, so the operators' torch.compile support is shown, not claimed."""

import pytest
import torch

import snn._ops  # noqa: F401  (registers torch.ops.snn.*)
from snn._ext import OPERATORS
from snn.losses import make_loss
from snn.nn import FeedForwardSNN
from tests.snn.test_lif_opcheck import schema_args

NEURON = dict(tau_m=20.0, tau_s=5.0, threshold=1.0, resistance=1.0, t_end=30.0)
LOSS = dict(zip(("kind", "alpha", "eta", "tau_0", "tau_1"), make_loss("L", alpha=3e-3, eta=0.4).kernel_arguments(9)))
DTYPES = [torch.float32, torch.float64]


def network(dtype, requires_grad):
    """A 4-6-3 stack whose neurons fire several times, on 3 samples with two spikes per input."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(3, 4, 2, generator=g, dtype=torch.float64) * 15).sort(dim=-1).values
    weights = [torch.empty(6, 4, dtype=torch.float64).uniform_(1.0, 3.0, generator=g),
               torch.empty(3, 6, dtype=torch.float64).uniform_(0.5, 2.0, generator=g)]
    x = x.to(dtype).requires_grad_(requires_grad)
    return x, [w.to(dtype).requires_grad_(requires_grad) for w in weights], [6, 6]


def test_every_operator_of_the_kernel_table_is_checked_here_or_in_test_lif_opcheck():
    checked = {"lif_forward", "lif_backward", "network_forward", "network_backward", "network_forward_loss", "spike_loss"}
    assert set(OPERATORS["cpu"]) == checked
    assert set(OPERATORS["cuda"]) <= checked
    # The table against what the loaded library registered (has_kernel trusts the table): every snn operator is
    # in it, and each one listed for the CPU has a CPU kernel.
    registered = {n.removeprefix("snn::") for n in torch._C._dispatch_get_all_op_names() if n.startswith("snn::")}
    assert registered == checked
    assert all(torch._C._dispatch_has_kernel_for_dispatch_key(f"snn::{op}", "CPU") for op in OPERATORS["cpu"])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("requires_grad", [False, True], ids=["no-grad", "grad"])
def test_opcheck_network_forward(dtype, requires_grad):
    x, weights, k = network(dtype, requires_grad)
    args = schema_args(torch.ops.snn.network_forward.default, input_times=x, weights=weights, max_spikes=k, **NEURON)
    times, _, counts, _ = torch.ops.snn.network_forward(*args)
    assert all(int(c.max()) >= 2 for c in counts), "test setup: every layer fires several spikes"
    torch.library.opcheck(torch.ops.snn.network_forward.default, args)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("input_grad", [True, False], ids=["input-grad", "weight-grad-only"])
def test_opcheck_network_backward(dtype, input_grad):
    x, weights, k = network(dtype, requires_grad=False)
    times, currents, _, orders = torch.ops.snn.network_forward(x, weights, k, *NEURON.values())
    grads = [torch.where(torch.isfinite(t), torch.linspace(0.5, 1.5, t.numel(), dtype=dtype).view_as(t), 0.0) for t in times]
    op = torch.ops.snn.network_backward.default
    args = schema_args(op, grad_spike_times=grads, input_times=x, weights=weights, spike_times=times,
                       spike_currents=currents, event_orders=orders, input_grad=input_grad, **NEURON)
    grad_x, grad_weights = op(*args)
    assert (grad_x.abs().sum() > 0) == input_grad and all(g.abs().sum() > 0 for g in grad_weights)
    torch.library.opcheck(op, args)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("flags", [(False, False), (False, True), (True, True)], ids=["loss-only", "weights", "all"])
def test_opcheck_network_forward_loss(dtype, flags):
    input_grad, weight_grad = flags
    x, weights, k = network(dtype, requires_grad=False)
    x.requires_grad_(input_grad)
    for w in weights:
        w.requires_grad_(weight_grad)
    op = torch.ops.snn.network_forward_loss.default
    args = schema_args(op, input_times=x, weights=weights, max_spikes=k, labels=torch.tensor([0, 1, 2]),
                       input_grad=input_grad, weight_grad=weight_grad, **NEURON, **LOSS)
    loss, _, _, _, grad_x, grad_weights = op(*args)
    assert torch.isfinite(loss) and grad_x.numel() == (x.numel() if input_grad else 0)
    assert len(grad_weights) == (len(weights) if weight_grad else 0)
    torch.library.opcheck(op, args)


def test_network_forward_loss_refuses_a_gradient_it_was_not_asked_for():
    x, weights, k = network(torch.float64, requires_grad=True)
    loss = torch.ops.snn.network_forward_loss(x, weights, k, *NEURON.values(), torch.tensor([0, 1, 2]), *LOSS.values(),
                                              False, True)[0]
    with pytest.raises(RuntimeError, match="input_grad=True"):
        loss.backward()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_opcheck_spike_loss(dtype):
    x, weights, k = network(dtype, requires_grad=False)
    times = [t.detach().requires_grad_() for t in torch.ops.snn.network_forward(x, weights, k, *NEURON.values())[0]]
    op = torch.ops.snn.spike_loss.default
    args = schema_args(op, layer_times=times, labels=torch.tensor([2, 0, 1]), t_end=NEURON["t_end"], **LOSS)
    torch.library.opcheck(op, args)


def _yinyang_batch():
    torch.manual_seed(0)
    net = FeedForwardSNN([5, 40, 25, 13, 3], [(1, 3), (0.2, 1), (0, 1), (0, 1)], [8, 16, 32, 32])
    xy = torch.rand(16, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x = (torch.cat([xy, 1 - xy, torch.zeros(16, 1, dtype=torch.float64)], dim=1) * 20).unsqueeze(-1)
    return net, x, torch.arange(16) % 3


def test_a_training_step_under_torch_compile_equals_the_eager_step():
    loss_fn = make_loss("L_A", alpha=3.5e-3, eta=0.4)
    arguments = loss_fn.kernel_arguments(81)

    def loss_of(x, labels, weights):  # the trainer's loss, on the operator itself: one graph, no breaks
        return torch.ops.snn.network_forward_loss(x, weights, [8, 16, 32, 32], *NEURON.values(), labels, *arguments,
                                                  False, True)[0]

    grads = []
    for f in (loss_of, torch.compile(loss_of, backend="aot_eager", fullgraph=True)):  # eager, then compiled
        net, x, labels = _yinyang_batch()
        loss = f(x, labels, [layer.weight for layer in net.layers])
        loss.backward()  # compiled: the backward graph AOTAutograd traced through the operator's autograd
        grads.append((loss.detach(), *[layer.weight.grad for layer in net.layers]))
    for eager, compiled in zip(*grads):
        torch.testing.assert_close(compiled, eager, rtol=0, atol=0)
    assert all(g.abs().sum() > 0 for g in grads[0][1:])


def test_the_module_training_step_under_torch_compile_fills_the_same_grads():
    loss_fn = make_loss("L_A", alpha=3.5e-3, eta=0.4)
    eager, x, labels = _yinyang_batch()
    compiled, _, _ = _yinyang_batch()
    eager.loss_backward(x, labels, loss_fn)
    torch.compile(compiled.loss_backward, backend="aot_eager")(x, labels, loss_fn)
    for a, b in zip(compiled.parameters(), eager.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
