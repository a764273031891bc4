"""The fused C++ loss (csrc/loss_cpu.cpp), which LossFunction uses on the CPU, equals the reference
functions of snn.losses in value and gradient, including silent outputs, single-spike neurons and padding."""

import pytest
import torch

from snn.losses import loss_l, loss_la, loss_lw, make_loss

REFERENCE = {"L_W": loss_lw, "L": loss_l, "L_A": loss_la}


def _spike_trains(batch, n, k, generator, silent_fraction=0.3):
    times = torch.rand(batch, n, k, generator=generator, dtype=torch.float64) * 25
    counts = torch.randint(0, k + 1, (batch, n), generator=generator)
    counts[torch.rand(batch, n, generator=generator) < silent_fraction] = 0
    padding = torch.arange(k).expand(batch, n, k) >= counts.unsqueeze(-1)
    return times.sort(dim=-1).values.masked_fill(padding, float("inf"))


@pytest.mark.parametrize("name", ["L_W", "L", "L_A"])
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("sp_normalization", ["neurons", "sum"])
def test_fused_loss_equals_reference(name, seed, sp_normalization):
    g = torch.Generator().manual_seed(seed)
    layers = [_spike_trains(16, n, k, g) for n, k in ((7, 5), (4, 6), (3, 4))]
    labels = torch.randint(0, 3, (16,), generator=g)
    kwargs = dict(alpha=3.5e-3, eta=0.4, tau_0=0.5, tau_1=6.4, t_end=30.0)
    fused_inputs = [t.clone().requires_grad_() for t in layers]
    reference_inputs = [t.clone().requires_grad_() for t in layers]
    fused = make_loss(name, **kwargs, sp_normalization=sp_normalization)(fused_inputs, labels)
    if name == "L_W":
        reference = loss_lw(reference_inputs, labels, **{k: v for k, v in kwargs.items() if k != "eta"})
    else:
        reference = REFERENCE[name](reference_inputs, labels, **kwargs, sp_normalization=sp_normalization)
    assert fused.grad_fn is not None and "SpikeLoss" in fused.grad_fn.name()
    torch.testing.assert_close(fused, reference, rtol=1e-12, atol=1e-12)
    (2.0 * fused).backward()
    (2.0 * reference).backward()
    for a, b in zip(fused_inputs, reference_inputs):
        expected = torch.zeros_like(b) if b.grad is None else b.grad  # L_W does not reach hidden layers
        torch.testing.assert_close(a.grad, expected, rtol=1e-10, atol=1e-12)
        assert torch.isfinite(a.grad).all()


def test_fused_loss_rejects_bad_labels():
    out = torch.full((2, 3, 2), float("inf"), dtype=torch.float64)
    with pytest.raises(ValueError, match="labels"):
        make_loss("L", alpha=1e-3, eta=0.1)([out], torch.tensor([0, 5]))
