import json

import pytest
import torch

import snn.train.trainer as trainer
from snn.train import CHECKPOINT, METRICS, EpochReport, train
from snn.train.checkpoint import load_checkpoint

METRIC_KEYS = {"accuracy", "ce", "n_s", "n_s_per_layer", "n_s_output", "silent_fraction_per_layer",
               "silent_target_fraction", "spike_overflows"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from snn.train import TrainConfig
    from tests.snn.train.conftest import TINY

    out = tmp_path_factory.mktemp("run")
    return train(TrainConfig.from_dict(TINY), out, progress=False), out


def test_run_follows_the_schedule(run, tiny_config):
    result, _ = run
    assert [r.epoch for r in result.epochs] == [0, 1, 2, 3]
    assert [r.phase for r in result.epochs] == [1, 1, 2, 2]
    assert [r.lr for r in result.epochs] == [tiny_config.schedule.lr_at(e) for e in range(4)]
    assert not result.stopped_early and result.stop_reason is None
    assert result.epochs[-1].train_loss < result.epochs[0].train_loss  # it learns


def test_run_writes_metrics_checkpoint_and_plots(run):
    result, out = run
    assert {CHECKPOINT, METRICS, "training_curves.png", "spikes_per_layer.png", "raster.png"} <= {p.name for p in out.iterdir()}
    metrics = json.loads((out / METRICS).read_text())
    for split in ("validation", "test"):
        block = metrics["final"][split]
        assert METRIC_KEYS <= block.keys()
        assert 0.0 <= block["accuracy"] <= 1.0
        assert len(block["n_s_per_layer"]) == len(block["silent_fraction_per_layer"]) == 2
    assert metrics["final"]["validation"]["n_samples"] == 1000 and metrics["final"]["test"]["n_samples"] == 1000
    assert metrics["final"] == result.final
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1, 2, 3]
    assert metrics["epochs"][-1]["validation"] == result.final["validation"]


def test_each_phase_starts_a_fresh_adam(run):
    _, out = run
    state = load_checkpoint(out / CHECKPOINT)
    steps = {int(s["step"]) for s in state["optimizer"]["state"].values()}
    assert steps == {2 * 7}  # 2 epochs of phase 2 x ceil(200 / 32) batches, nothing carried from phase 1
    assert state["optimizer_phase"] == 2


def test_same_seed_same_run_other_seed_other_weights(tmp_path, tiny_config):
    short = tiny_config.with_overrides({"schedule.epochs": 1, "schedule.switch_epoch": 1})
    a = train(short, tmp_path / "a", progress=False, evaluate_test=False)
    b = train(short, tmp_path / "b", progress=False, evaluate_test=False)
    train(short.with_overrides({"seed": 4}), tmp_path / "c", progress=False, evaluate_test=False)
    assert a.final == b.final and a.final["test"] is None
    wa, wb, wc = (load_checkpoint(tmp_path / d / CHECKPOINT)["model"] for d in "abc")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not torch.equal(wa["layers.0.weight"], wc["layers.0.weight"])


def test_callback_sees_each_epoch_after_its_checkpoint_and_can_stop(tmp_path, tiny_config):
    seen = []

    def callback(report: EpochReport):
        assert isinstance(report, EpochReport)
        assert len(load_checkpoint(tmp_path / CHECKPOINT)["epochs"]) == report.epoch + 1
        assert set(report.validation) >= METRIC_KEYS
        seen.append(report.epoch)
        return "good enough" if report.epoch == 1 else None

    result = train(tiny_config, tmp_path, progress=False, callback=callback)
    assert seen == [0, 1]
    assert result.stopped_early and result.stop_reason == "good enough" and len(result.epochs) == 2
    metrics = json.loads((tmp_path / METRICS).read_text())
    assert metrics["stop_reason"] == "good enough" and metrics["final"]["test"] is not None


def test_non_finite_loss_stops_the_run(tmp_path, tiny_config, monkeypatch):
    make_loss = trainer.make_loss
    monkeypatch.setattr(trainer, "make_loss", lambda *a, **k: (lambda t, y: make_loss(*a, **k)(t, y) * float("nan")))
    result = train(tiny_config, tmp_path, progress=False, evaluate_test=False)
    assert result.stopped_early and "not finite" in result.stop_reason and len(result.epochs) == 1


def test_float32_network(tmp_path, tiny_config):
    config = tiny_config.with_overrides({"network.dtype": "float32", "schedule.epochs": 1, "schedule.switch_epoch": 1})
    result = train(config, tmp_path, progress=False, evaluate_test=False)
    assert load_checkpoint(tmp_path / CHECKPOINT)["model"]["layers.0.weight"].dtype == torch.float32
    assert 0.0 <= result.final["validation"]["accuracy"] <= 1.0


def test_progress_prints_one_line_per_epoch_and_quiet_prints_nothing(tmp_path, tiny_config, capsys):
    config = tiny_config.with_overrides({"schedule.epochs": 2})
    train(config, tmp_path / "loud", progress=True, evaluate_test=False)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2") and "acc" in lines[0] and "N_S" in lines[0]
    train(config, tmp_path / "quiet", progress=False, evaluate_test=False)
    assert capsys.readouterr().out == ""


def test_unavailable_cuda_device_is_refused_before_training(tmp_path, tiny_config):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(ValueError, match="CUDA device is not available"):
        train(tiny_config.with_overrides({"device": "cuda"}), tmp_path, progress=False)
    assert not (tmp_path / CHECKPOINT).exists()


def test_a_phase_own_loss_weights_change_that_phase_only(tmp_path, tiny_config):
    """schedule.phase2.eta replaces [train.loss] eta after the switch: the epochs before it are bit for bit the
    default run's (so phase-1 branching may share them), the phase-2 epochs train with the other spike penalty."""
    assert tiny_config.loss.eta == 0.4 and tiny_config.schedule.switch_epoch == 2
    other_config = tiny_config.with_overrides({"schedule.phase2.eta": 40.0})
    base = train(tiny_config, tmp_path / "base", progress=False, evaluate_test=False)
    other = train(other_config, tmp_path / "other", progress=False, evaluate_test=False)
    assert [r.train_loss for r in other.epochs[:2]] == [r.train_loss for r in base.epochs[:2]]
    assert [r.validation for r in other.epochs[:2]] == [r.validation for r in base.epochs[:2]]
    # 100x the penalty on extra spikes: the network ends with fewer of them
    assert other.epochs[-1].validation["n_s"] < base.epochs[-1].validation["n_s"]
    assert (trainer.training_loss(other_config, 1).eta, trainer.training_loss(other_config, 2).eta) == (0.4, 40.0)
