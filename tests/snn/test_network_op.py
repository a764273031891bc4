"""The fused whole-network operator equals the per-layer operator chained (forward and gradients), and
its gradients equal finite differences."""

import pytest
import torch

from snn.functional import lif_network
from snn.nn import FeedForwardSNN
from tests.snn.cuda.cases import chain_layers


def _loss(times):
    # A loss that touches every layer (like SP does): finite spike times, weighted per layer.
    return sum((l + 1) * t.nan_to_num(posinf=0.0).sum() for l, t in enumerate(times))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_network_equals_chained_layers(dtype):
    torch.manual_seed(1)
    sizes, k = [5, 12, 8, 3], [4, 8, 8]
    weights = [torch.empty(o, i, dtype=dtype).uniform_(0.3, 2.5).requires_grad_() for i, o in zip(sizes, sizes[1:])]
    x = (torch.rand(6, 5, 1, dtype=dtype) * 20).sort(dim=1).values.requires_grad_()
    fused, fused_counts = lif_network(x, weights, max_spikes=k)
    chained, chained_counts = chain_layers(x, weights, k)
    assert any(int(c.max()) >= 2 for c in chained_counts), "test network must fire several spikes per neuron"
    for a, b, ca, cb in zip(fused, chained, fused_counts, chained_counts):
        assert torch.equal(ca, cb)
        assert torch.equal(a, b)
    grads_fused = torch.autograd.grad(_loss(fused), [x, *weights])
    grads_chained = torch.autograd.grad(_loss(chained), [x, *weights])
    for a, b in zip(grads_fused, grads_chained):
        torch.testing.assert_close(a, b, rtol=1e-12 if dtype == torch.float64 else 1e-5, atol=1e-12 if dtype == torch.float64 else 1e-5)


def test_network_gradients_match_finite_differences():
    torch.manual_seed(3)
    weights = [torch.empty(6, 4, dtype=torch.float64).uniform_(1.0, 3.0).requires_grad_(),
               torch.empty(3, 6, dtype=torch.float64).uniform_(0.2, 1.2).requires_grad_()]
    x = (torch.rand(2, 4, 2, dtype=torch.float64) * 15).sort(dim=-1).values.requires_grad_()

    def f(x, w0, w1):
        times, _ = lif_network(x, [w0, w1], max_spikes=[6, 6])
        return tuple(t.nan_to_num(posinf=0.0) for t in times)

    assert torch.autograd.gradcheck(f, (x, *weights), eps=1e-6, atol=1e-6)


def test_feed_forward_snn_uses_counts_of_every_layer():
    torch.manual_seed(0)
    net = FeedForwardSNN([5, 40, 25, 13, 3], [(1, 3), (0.2, 1), (0, 1), (0, 1)], 32)
    x = torch.rand(8, 5, 1, dtype=torch.float64) * 20
    times = net(x)
    chained, counts = chain_layers(x, [l.weight for l in net.layers], [32] * 4)
    for t, c, layer_counts, expected in zip(times, chained, net.last_spike_counts, counts):
        assert torch.equal(t, c) and torch.equal(layer_counts, expected)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_a_samples_spikes_do_not_depend_on_the_rest_of_its_batch(dtype):
    # The CPU kernel walks the samples of a batch in groups whose crossing searches share vectors; which
    # samples share a group must not change a single bit of any sample's spikes.
    torch.manual_seed(5)
    net = FeedForwardSNN([5, 40, 25, 13, 3], [(1, 3), (0.2, 1), (0, 1), (0, 1)], [8, 16, 32, 32], dtype=dtype)
    x = (torch.rand(19, 5, 1, dtype=dtype) * 20).contiguous()
    with torch.no_grad():
        batch = net(x)
        counts = net.last_spike_counts
        reversed_batch = net(x.flip(0).contiguous())
        for b in [0, 7, 8, 18]:
            alone = net(x[b : b + 1].contiguous())
            for layer, (t, t_alone) in enumerate(zip(batch, alone)):
                assert torch.equal(t[b : b + 1], t_alone), f"sample {b}, layer {layer}"
        for t, t_reversed in zip(batch, reversed_batch):
            assert torch.equal(t, t_reversed.flip(0))
    assert all(int(c.max()) >= 2 for c in counts[1:3]), "the hidden layers must fire repeatedly"


def test_mismatched_max_spikes_is_rejected():
    w = torch.ones(3, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="one max_spikes per weight"):
        lif_network(torch.zeros(1, 2, 1, dtype=torch.float64), [w], max_spikes=[4, 4])
