"""Recovery after a killed driver, piece by piece on real stores: Optuna trials asked for after Tune's last
snapshot are adopted (same numbers, same parameters, no extra trials), a trial told before the crash is not
told again, and Tune's snapshot is read for its trials and the checkpoints it restores them from."""

import json

import optuna
import pytest

from search.config import SearchConfig
from search.recovery import (check_checkpoints, orphan_optuna_trials, restore_checkpoints, restore_deleted_checkpoints,
                             tune_trials)
from search.searcher import make_searcher
from search.trainable import NUMBER_KEY
from tests.search.test_searcher import SPACE


@pytest.fixture
def settings():
    return SearchConfig.from_dict({"space": SPACE, "trials": 3, "seed": 3})


def test_orphaned_optuna_trials_are_adopted_by_the_next_tune_trials(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    crashed = make_searcher(settings, study_name="s", storage_url=storage)
    crashed.suggest("a")
    crashed.on_trial_complete("a", {"val_accuracy": 0.9, "val_n_s": 1.2})
    lost = crashed.suggest("b")  # asked for, then the driver died before Tune's snapshot held trial "b"
    orphans = orphan_optuna_trials(storage, "s", known={"a"})
    assert len(orphans) == 1
    resumed = make_searcher(settings, study_name="s", storage_url=storage, orphans=orphans)
    adopted = resumed.suggest("c")
    assert adopted == lost  # the same Optuna trial: same number, same parameters
    resumed.on_trial_complete("c", {"val_accuracy": 0.8, "val_n_s": 1.0})
    assert resumed.suggest("d")[NUMBER_KEY] == 2  # afterwards, new trials as usual
    trials = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "RUNNING"]
    assert trials[1].user_attrs["tune_trial_id"] == "c" and trials[1].values == [0.8, 1.0]


def test_a_trial_told_before_the_crash_is_not_told_again(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = make_searcher(settings, study_name="s", storage_url=storage)
    first.suggest("a")
    first._completed_trials.clear()  # a searcher restored from a snapshot taken before the trial was told
    first.on_trial_complete("a", {"val_accuracy": 0.9, "val_n_s": 1.2})
    first._completed_trials.clear()
    first.on_trial_complete("a", {"val_accuracy": 0.1, "val_n_s": 9.0})  # Optuna would raise on a second tell
    trial = optuna.load_study(study_name="s", storage=storage).get_trials()[0]
    assert trial.values == [0.9, 1.2]


def test_tune_snapshot_is_read_and_unreadable_snapshots_are_refused(tmp_path):
    assert tune_trials(tmp_path) == {}
    state = {"trial_data": [[json.dumps({"trial_id": "x1", "status": "TERMINATED"}), "{}"],
                            [json.dumps({"trial_id": "x2", "status": "RUNNING"}), "{}"]]}
    (tmp_path / "experiment_state-2026.json").write_text(json.dumps(state))
    assert tune_trials(tmp_path) == {"x1": "TERMINATED", "x2": "RUNNING"}
    check_checkpoints(tmp_path, {"x2": "RUNNING"})  # never reported: nothing to load, starts afresh
    (tmp_path / "x2").mkdir()
    (tmp_path / "x2" / "result.json").write_text('{"epoch": 0}\n')
    with pytest.raises(ValueError, match="reported epochs but has no checkpoint"):
        check_checkpoints(tmp_path, {"x2": "RUNNING"})
    (tmp_path / "experiment_state-2026.json").write_text("{not json")
    with pytest.raises(ValueError, match="unreadable"):
        tune_trials(tmp_path)


def test_trials_left_running_when_the_study_finished_are_failed_with_a_reason(tmp_path, settings):
    from search.recovery import fail_running_optuna_trials

    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = make_searcher(settings, study_name="s", storage_url=storage)
    searcher.suggest("a")
    searcher.on_trial_complete("a", {"val_accuracy": 0.9, "val_n_s": 1.2})
    searcher.suggest("b")
    assert fail_running_optuna_trials(storage, "s", "the study finished") == 1
    trials = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"] and trials[1].user_attrs["fail_reason"] == "the study finished"


def write_snapshot(tune_dir, trial_id: str, checkpoint_name: str) -> None:
    """A Tune snapshot, written by Ray's own classes, of a RUNNING trial whose latest checkpoint is the named one."""
    from ray.train._internal.checkpoint_manager import _CheckpointManager
    from ray.train._internal.session import _TrainingResult
    from ray.tune import Checkpoint, CheckpointConfig
    from ray.tune.trainable.metadata import _TrainingRunMetadata

    metadata = _TrainingRunMetadata()
    metadata.checkpoint_manager = _CheckpointManager(CheckpointConfig(num_to_keep=2))
    path = tune_dir / trial_id / checkpoint_name
    metadata.checkpoint_manager.register_checkpoint(_TrainingResult(checkpoint=Checkpoint(str(path)), metrics={}))
    state = {"trial_data": [[json.dumps({"trial_id": trial_id, "status": "RUNNING"}), metadata.get_json_state()]]}
    (tune_dir / "experiment_state-2026.json").write_text(json.dumps(state))


def write_checkpoint(folder, epoch: int, torn: bool = False) -> None:
    """A checkpoint folder as the trainable leaves it, written by the trainer's own writer; ``torn`` cuts the
    file in half (a write the worker did not finish)."""
    from snn.train import CHECKPOINT
    from snn.train.checkpoint import save_checkpoint

    path = folder / CHECKPOINT
    save_checkpoint(path, {"epoch": epoch})
    if torn:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_checkpoint_deleted_after_the_snapshot_is_replaced_by_the_newest_that_loads(tmp_path):
    import torch

    from snn.train import CHECKPOINT

    # The killed driver registered epochs 5 and 6 after its last snapshot (which names epoch 4) and deleted 4;
    # the worker, still running, left epoch 7 half-written.
    write_snapshot(tmp_path, "t1", "checkpoint_000004")
    assert restore_checkpoints(tmp_path) == {"t1": "checkpoint_000004"}
    for epoch in (5, 6):
        write_checkpoint(tmp_path / "t1" / f"checkpoint_00000{epoch}", epoch)
    write_checkpoint(tmp_path / "t1" / "checkpoint_000007", 7, torn=True)
    expected = tmp_path / "t1" / "checkpoint_000004"
    replacements = check_checkpoints(tmp_path, {"t1": "RUNNING"})
    assert replacements == {expected: tmp_path / "t1" / "checkpoint_000006"}
    assert not expected.exists()  # checking changes nothing
    assert check_checkpoints(tmp_path, {"t1": "TERMINATED"}) == {}  # a finished trial is never restored
    restore_deleted_checkpoints(replacements)
    assert torch.load(expected / CHECKPOINT)["epoch"] == 6
    assert check_checkpoints(tmp_path, {"t1": "RUNNING"}) == {}


def test_checkpoints_that_cannot_be_restored_are_refused_with_the_fix(tmp_path):
    write_snapshot(tmp_path, "t1", "checkpoint_000004")
    write_checkpoint(tmp_path / "t1" / "checkpoint_000005", 5, torn=True)
    with pytest.raises(ValueError, match="is gone and no other checkpoint .* loads"):
        check_checkpoints(tmp_path, {"t1": "RUNNING"})
    write_checkpoint(tmp_path / "t1" / "checkpoint_000004", 4, torn=True)  # the one Tune names, torn
    with pytest.raises(ValueError, match="checkpoint_000004/checkpoint.pt' is missing or corrupt.*delete the folder"):
        check_checkpoints(tmp_path, {"t1": "RUNNING"})
    state = json.loads((tmp_path / "experiment_state-2026.json").read_text())
    state["trial_data"][0][1] = '{"checkpoint_manager": {"_type": "CLOUDPICKLE_FALLBACK", "value": "00ff"}}'
    (tmp_path / "experiment_state-2026.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="unreadable for trial t1"):
        check_checkpoints(tmp_path, {"t1": "RUNNING"})
