"""csrc/lif_cuda.cu's kernels, run on the CPU through a thin CUDA emulation (tests/snn/cuda/emulated.py),
agree with the CPU kernel: the kernels' event walk, indexing, warp sums and atomics are checked here on any
machine; only the device arithmetic and the launch on real hardware are left to test_lif_cuda.py."""

import shutil

import pytest
import torch

from tests.snn.cuda.cases import CASES, assert_matches_cpu, mnist_like_inputs, yinyang_like_inputs
from tests.snn.cuda.emulated import build_emulation

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not found: cannot build the emulation")


@pytest.fixture(scope="module")
def emulation(tmp_path_factory):
    return build_emulation(tmp_path_factory.mktemp("lif_cuda_emulated"))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_emulated_kernels_match_cpu(emulation, case, dtype):
    assert_matches_cpu(emulation.forward, emulation.backward, case, dtype)


@pytest.mark.parametrize(
    ("sizes", "init_ranges", "inputs"),
    [
        ((5, 40, 25, 13, 3), ((1, 3), (0.2, 1), (0, 1), (0, 1)), yinyang_like_inputs),
        ((784, 280, 160, 70, 10), ((-0.01, 0.03), (-0.05, 0.15), (-0.2, 0.6), (-0.4, 0.8)), mnist_like_inputs),
    ],
    ids=["yinyang", "mnist"],
)
def test_emulated_kernels_match_cpu_layer_by_layer_on_paper_networks(emulation, sizes, init_ranges, inputs):
    # Each layer gets the CPU's spikes of the layer below as input, so a difference cannot propagate.
    from tests.snn.cuda.cases import Case

    # Batch 2 and, in the first layer, no input-time gradient (as in training, where the data needs none):
    # the emulated warp sums are slow (32 OS threads meet at a barrier for every shuffle).
    g = torch.Generator().manual_seed(0)
    x = inputs(2, g)
    for layer, (n_in, n_out, (lo, hi)) in enumerate(zip(sizes, sizes[1:], init_ranges)):
        w = torch.empty(n_out, n_in, dtype=torch.float64).uniform_(lo, hi, generator=g)
        case = Case(f"{n_in}-{n_out}", x, w, 32)
        assert_matches_cpu(emulation.forward, emulation.backward, case, torch.float64,
                           input_grads=(True, False) if layer else (False,))
        x = torch.ops.snn.lif_forward(*case.args(torch.float64))[0]
    assert torch.isfinite(x).any(), "test setup: the output layer must fire"
