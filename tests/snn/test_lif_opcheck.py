"""torch.library.opcheck of the registered operators: schema, fake (meta) kernels, autograd registration
and AOT dispatch, so lif_layer works under torch.compile and torch.export."""

import pytest
import torch

import snn._ops  # noqa: F401  (registers torch.ops.snn.*)
from tests.snn.oracle import random_network

PARAMS = (20.0, 5.0, 1.0, 1.0, 30.0)  # tau_m, tau_s, threshold, resistance, t_end
SHAPES = [  # batch, n_in, k_in, n_out, max_spikes
    (1, 1, 1, 1, 1),
    (2, 3, 2, 4, 3),
    (3, 6, 3, 5, 8),
]
DTYPES = [torch.float32, torch.float64]


def schema_args(op, **values):
    """Positional arguments for ``op`` in its schema's order, by name, so a schema change fails loudly here."""
    names = [a.name for a in op._schema.arguments]
    missing = [n for n in names if n not in values]
    assert not missing, f"the schema of {op} has arguments this test does not know: {missing}"
    return tuple(values[n] for n in names)


def param_values():
    return dict(zip(("tau_m", "tau_s", "threshold", "resistance", "t_end"), PARAMS))


def inputs(shape, dtype, requires_grad):
    batch, n_in, k_in, n_out, _ = shape
    x, w = random_network(sum(shape), batch=batch, n_in=n_in, k_in=k_in, n_out=n_out, dtype=dtype)
    if n_in == 1:
        w = w.abs() + 7.0  # one input: make sure the neuron fires
    return x.requires_grad_(requires_grad), w.requires_grad_(requires_grad)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("requires_grad", [False, True], ids=["no-grad", "grad"])
def test_opcheck_lif_forward(shape, dtype, requires_grad):
    x, w = inputs(shape, dtype, requires_grad)
    op = torch.ops.snn.lif_forward.default
    args = schema_args(op, input_times=x, weight=w, max_spikes=shape[-1], **param_values())
    times, _, counts = torch.ops.snn.lif_forward(*args)
    assert torch.isfinite(times).any() and counts.dtype == torch.int64
    torch.library.opcheck(torch.ops.snn.lif_forward.default, args)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("input_grad", [True, False], ids=["input-grad", "weight-grad-only"])
def test_opcheck_lif_backward(shape, dtype, input_grad):
    x, w = inputs(shape, dtype, requires_grad=False)
    times, currents, _ = torch.ops.snn.lif_forward(
        *schema_args(torch.ops.snn.lif_forward.default, input_times=x, weight=w, max_spikes=shape[-1], **param_values())
    )
    grad = torch.where(torch.isfinite(times), torch.linspace(0.5, 1.5, times.numel(), dtype=dtype).view_as(times), 0.0)
    op = torch.ops.snn.lif_backward.default
    if input_grad is False and "input_grad" not in [a.name for a in op._schema.arguments]:
        pytest.skip("lif_backward has no input_grad flag")
    args = schema_args(op, grad_spike_times=grad, input_times=x, weight=w, spike_times=times, spike_currents=currents,
                       input_grad=input_grad, **param_values())
    grad_x, grad_w = op(*args)
    assert grad_x.shape == x.shape and grad_w.shape == w.shape and grad_w.abs().sum() > 0
    assert (grad_x.abs().sum() > 0) == input_grad
    torch.library.opcheck(torch.ops.snn.lif_backward.default, args)


def test_lif_layer_under_torch_compile_matches_eager():
    from snn.functional import lif_layer

    x, w = inputs(SHAPES[1], torch.float64, requires_grad=False)
    eager = lif_layer(x, w, max_spikes=3)
    compiled = torch.compile(lambda x, w: lif_layer(x, w, max_spikes=3), backend="aot_eager", fullgraph=False)(x, w)
    torch.testing.assert_close(compiled, eager, rtol=0, atol=0)
    assert torch.isfinite(eager).any()
