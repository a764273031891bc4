"""Branching a run at its switch epoch: a branch with other phase-2 settings ends bit-identical to training its
config from scratch, and a checkpoint from another epoch or a config whose first phase differs is refused."""

import pytest

from snn.errors import UserError
from snn.train import TrainConfig, train
from snn.train.branch import branch_run, phase1_differences, reads_before_switch
from tests.snn.train.conftest import TINY
from tests.snn.train.test_checkpoint_resume import _assert_same_run, _weights


def test_which_keys_the_first_phase_reads():
    for key in ("schedule.phase2.lr", "schedule.phase2.eta", "schedule.phase2.alpha", "schedule.epochs"):
        assert not reads_before_switch(key)
    for key in ("schedule.phase1.lr", "schedule.phase1.eta", "schedule.switch_epoch", "schedule.lr_decay", "loss.alpha", "seed"):
        assert reads_before_switch(key)
    a = TrainConfig.from_dict(TINY)
    assert phase1_differences(a, a.with_overrides({"schedule.phase2.lr": 1e-3, "schedule.epochs": 5})) == []
    assert phase1_differences(a, a.with_overrides({"loss.eta": 1.0})) == ["train.loss.eta"]


def test_a_branch_at_the_switch_ends_where_its_config_trained_from_scratch_ends(tmp_path):
    parent = TrainConfig.from_dict(TINY)
    child = parent.with_overrides({"schedule.phase2.lr": 1e-3, "schedule.phase2.loss": "L_A", "schedule.phase2.eta": 2.0})
    # the parent's phase 1 alone: its checkpoint is the one a study keeps at the switch
    train(parent.with_overrides({"schedule.epochs": 2}), tmp_path / "phase1", progress=False, evaluate_test=False)
    assert branch_run(tmp_path / "phase1" / "checkpoint.pt", child, tmp_path / "branch") == 2
    assert all((_weights(tmp_path / "branch")[k] == w).all() for k, w in _weights(tmp_path / "phase1").items())
    branched = train(child, tmp_path / "branch", resume=True, progress=False)
    assert [e.epoch for e in branched.epochs] == [0, 1, 2, 3]  # the inherited epochs, then its own
    train(child, tmp_path / "scratch", progress=False)
    _assert_same_run(tmp_path / "branch", tmp_path / "scratch")


def test_branching_from_another_epoch_or_into_another_first_phase_is_refused(tmp_path):
    parent = TrainConfig.from_dict(TINY)
    # a run of one epoch (its switch at 1: a switch after the last epoch is refused)
    train(parent.with_overrides({"schedule.epochs": 1, "schedule.switch_epoch": 1}), tmp_path / "one", progress=False,
          evaluate_test=False)
    with pytest.raises(UserError, match="holds 1 epochs, not the 2 of phase 1"):
        branch_run(tmp_path / "one" / "checkpoint.pt", parent, tmp_path / "x")
    train(parent.with_overrides({"schedule.epochs": 2}), tmp_path / "two", progress=False, evaluate_test=False)
    with pytest.raises(UserError, match=r"first phase would differ in train.loss.alpha; only schedule.phase2"):
        branch_run(tmp_path / "two" / "checkpoint.pt", parent.with_overrides({"loss.alpha": 0.01}), tmp_path / "x")
    with pytest.raises(UserError, match="without two phases"):
        branch_run(tmp_path / "two" / "checkpoint.pt", parent.with_overrides({"schedule.switch_epoch": 4}), tmp_path / "x")
