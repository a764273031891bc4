"""Training on the GPU: a training step (FeedForwardSNN.loss_backward, which on CUDA takes the per-layer
kernels with autograd) equals the CPU's fused step, the kernels run on the current stream, and a short
training run on CUDA ends with the CPU run's metrics. Needs a GPU; uses only torch, numpy, pytest and snn
(the training run also rich, and skips without it)."""

import copy

import pytest
import torch

if not torch.cuda.is_available():
    pytest.skip("CUDA not available", allow_module_level=True)

from snn.losses import make_loss  # noqa: E402
from snn.nn import FeedForwardSNN  # noqa: E402
from tests.snn.cuda.cases import CASES, yinyang_like_inputs  # noqa: E402

pytestmark = pytest.mark.cuda
CUDA = "cuda"
YINYANG = ([5, 40, 25, 13, 3], [(1, 3), (0.2, 1), (0, 1), (0, 1)])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflows at init are counted, expected (SPEC.md)
@pytest.mark.parametrize("loss_name", ["L_W", "L", "L_A"])
def test_a_training_step_on_cuda_equals_the_cpu_step(loss_name):
    torch.manual_seed(0)
    net = FeedForwardSNN(*YINYANG, max_spikes=32)
    x = yinyang_like_inputs(64, torch.Generator().manual_seed(1))
    labels = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(2))
    loss_fn = make_loss(loss_name, alpha=3.5e-3, eta=0.4)
    gpu_net = copy.deepcopy(net).to(CUDA)
    cpu_loss = net.loss_backward(x, labels, loss_fn)
    gpu_loss = gpu_net.loss_backward(x.to(CUDA), labels.to(CUDA), loss_fn)
    assert gpu_loss.device.type == CUDA
    torch.testing.assert_close(gpu_loss.cpu(), cpu_loss, rtol=1e-9, atol=1e-12)
    for layer, (cpu, gpu) in enumerate(zip(net.layers, gpu_net.layers)):
        assert torch.equal(gpu.last_spike_counts.cpu(), cpu.last_spike_counts), f"layer {layer}: spike counts differ"
        scale = float(cpu.weight.grad.abs().max())
        assert scale > 0, f"test setup: layer {layer} must get a gradient"
        # As the end-to-end network test: four layers of rounding (CUDA's exp is not glibc's) reach 1e-8.
        torch.testing.assert_close(gpu.weight.grad.cpu(), cpu.weight.grad, rtol=1e-7, atol=1e-7 * scale)


def test_the_kernels_run_on_the_current_stream():
    # ~0.1 s of GPU work queued on a side stream ahead of the input copies: a kernel launched on another
    # stream would run before its inputs (and the sort of its events) exist, and read garbage.
    case = CASES[0]
    x, w, *rest = case.args(torch.float64)
    expected = torch.ops.snn.lif_forward(x, w, *rest)
    expected_grads = torch.ops.snn.lif_backward(torch.ones_like(expected[0]).masked_fill(expected[0].isinf(), 0), x, w,
                                                expected[0], expected[1], *rest[1:], True)
    stream = torch.cuda.Stream()
    x_host, w_host = x.pin_memory(), w.pin_memory()
    with torch.cuda.stream(stream):
        torch.cuda._sleep(200_000_000)
        xd, wd = x_host.to(CUDA, non_blocking=True), w_host.to(CUDA, non_blocking=True)
        got = torch.ops.snn.lif_forward(xd, wd, *rest)
        grad = torch.ones_like(got[0]).masked_fill(got[0].isinf(), 0)
        grads = torch.ops.snn.lif_backward(grad, xd, wd, got[0], got[1], *rest[1:], True)
    stream.synchronize()
    torch.testing.assert_close(tuple(t.cpu() for t in got), expected, rtol=0, atol=1e-9)
    torch.testing.assert_close(tuple(t.cpu() for t in grads), expected_grads, rtol=1e-9, atol=1e-9)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_short_training_run_on_cuda_ends_with_the_cpu_run_s_metrics(tmp_path):
    pytest.importorskip("rich", reason="snn.train's progress display needs rich (the GPU machine may lack it)")
    from snn.train import TrainConfig, train

    tiny = {"seed": 3, "network": {"sizes": [5, 20, 3], "init_ranges": [[1.0, 3.0], [0.0, 1.0]], "max_spikes": 16},
            "data": {"train_subset": 200, "batch_size": 32}, "schedule": {"epochs": 2, "switch_epoch": 1}}
    cpu, gpu = (train(TrainConfig.from_dict({**tiny, "device": device}), tmp_path / f"run{i}", progress=False).final["test"]
                for i, device in enumerate(("cpu", CUDA)))
    assert gpu["accuracy"] == cpu["accuracy"] and gpu["n_s_per_layer"] == pytest.approx(cpu["n_s_per_layer"])
    assert gpu["ce"] == pytest.approx(cpu["ce"], rel=1e-6)
