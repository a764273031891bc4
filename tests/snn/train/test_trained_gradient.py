"""The gradient the trainer hands to Adam is the exact gradient of the training loss, also where training
takes the network: the paper's Yin-Yang network after a few epochs of 2-phase training (weights no longer
drawn from the init ranges, deep layers still firing several spikes per neuron), checked against central
finite differences of the loss along random weight directions."""

from pathlib import Path

import pytest
import torch

from snn.train import CHECKPOINT, train
from snn.train.checkpoint import load_checkpoint
from snn.train.evaluation import build_model, load_split
from snn.train.study import load_study
from snn.train.trainer import training_loss

EPS = 1e-7  # float64: the loss is smooth on this scale wherever no spike appears or disappears
DIRECTIONS = 4
STUDY = Path(__file__).resolve().parents[3] / "studies" / "yinyang-2phase.toml"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    config = load_study(STUDY).train.with_overrides(
        {"data.train_subset": 640, "schedule.epochs": 3, "schedule.switch_epoch": 2})
    out = tmp_path_factory.mktemp("trained")
    train(config, out, progress=False, evaluate_test=False)
    model = build_model(config)
    model.load_state_dict(load_checkpoint(out / CHECKPOINT)["model"])
    inputs, labels = next(iter(load_split(config, "train").batches(32, shuffle=False)))
    return config, model, inputs.double(), labels


def _loss_and_counts(model, loss_fn, inputs, labels):
    with torch.no_grad():
        loss = float(model.forward_with_loss(inputs, labels, loss_fn))
    return loss, [c.clone() for c in model.last_spike_counts]


@pytest.mark.parametrize("name", ["L_W", "L", "L_A"])
def test_training_gradient_equals_finite_differences(trained, name):
    config, model, inputs, labels = trained
    # the loss object the trainer builds for a phase with this loss
    loss_fn = training_loss(config.with_overrides({"schedule.phase1.loss": name}), 1)
    params = list(model.parameters())
    for p in params:
        p.grad = None
    model.loss_backward(inputs, labels, loss_fn)  # the trainer's call: fills .grad for Adam
    grads = [p.grad.clone() for p in params]
    assert max(int(counts.max()) for counts in model.last_spike_counts) >= 3, "deep layers should still fire bursts"

    generator = torch.Generator().manual_seed(7)
    checked = 0
    for _ in range(DIRECTIONS):
        directions = [torch.randn(p.shape, generator=generator, dtype=p.dtype) for p in params]
        values, counts = [], []
        for sign in (1.0, -1.0):
            with torch.no_grad():
                for p, d in zip(params, directions):
                    p.add_(sign * EPS * d)
            loss, layer_counts = _loss_and_counts(model, loss_fn, inputs, labels)
            values.append(loss)
            counts.append(layer_counts)
            with torch.no_grad():
                for p, d in zip(params, directions):
                    p.sub_(sign * EPS * d)
        if not all(torch.equal(a, b) for a, b in zip(*counts)):
            continue  # a spike appeared or vanished inside the step: the loss jumps there, no derivative
        finite_difference = (values[0] - values[1]) / (2 * EPS)
        adjoint = sum(float((g * d).sum()) for g, d in zip(grads, directions))
        assert adjoint == pytest.approx(finite_difference, rel=1e-5, abs=1e-7), (name, adjoint, finite_difference)
        checked += 1
    assert checked >= DIRECTIONS - 1, f"only {checked} of {DIRECTIONS} directions kept every spike count"
