"""Recovery after a killed driver, piece by piece, on a snapshot that Ray Tune itself wrote: an experiment
stopped the way Ctrl-C stops a study (search._compat.stop_tune_gracefully) while a trial had checkpoints.
The snapshot is read for its trials and the checkpoint each is restored from; a checkpoint the killed driver
deleted is replaced by the newest that loads; an unloadable one is refused with the fix; Optuna trials left
RUNNING by a finished study are failed with a reason."""

import shutil
import tempfile
import threading
import time
from pathlib import Path

import optuna
import pytest
import ray
from ray import tune

from search._compat import stop_tune_gracefully, tune_can_stop_gracefully
from search.config import SearchConfig
from search.recovery import check_checkpoints, fail_running_optuna_trials, restore_deleted_checkpoints
from search.searcher import make_searcher
from search.tune_state import read_tune_snapshot
from snn.train import CHECKPOINT
from snn.train.checkpoint import load_checkpoint, save_checkpoint
from tests.search.test_searcher import SPACE, final

EPOCHS = 4


def checkpointing_trial(config):
    """Saves a checkpoint every epoch, then waits to be stopped: RUNNING in the snapshot."""
    for epoch in range(EPOCHS):
        with tempfile.TemporaryDirectory() as folder:
            save_checkpoint(Path(folder) / CHECKPOINT, {"epoch": epoch})
            tune.report({"epoch": epoch}, checkpoint=tune.Checkpoint.from_directory(folder))
    time.sleep(600)


@pytest.fixture(scope="module")
def snapshot_dir(tmp_path_factory):
    """Tune's experiment folder after the stop: one RUNNING trial whose checkpoints 2 and 3 are kept."""
    storage = tmp_path_factory.mktemp("tune")
    experiment = storage / "exp"

    def stop_when_checkpointed():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            done = list(experiment.glob(f"*/checkpoint_{EPOCHS - 1:06d}"))
            if done and tune_can_stop_gracefully():
                time.sleep(1.0)  # the driver registers the checkpoint after the worker wrote it
                return stop_tune_gracefully()
            time.sleep(0.1)

    ray.init(num_cpus=1, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        threading.Thread(target=stop_when_checkpointed, daemon=True).start()
        tune.Tuner(checkpointing_trial, tune_config=tune.TuneConfig(trial_dirname_creator=lambda t: t.trial_id),
                   run_config=tune.RunConfig(name="exp", storage_path=str(storage), verbose=0,
                                             checkpoint_config=tune.CheckpointConfig(num_to_keep=2))).fit()
    finally:
        ray.shutdown()
    return experiment


@pytest.fixture
def tune_dir(snapshot_dir, tmp_path):
    """A private copy of the stopped experiment, for one test to damage."""
    return Path(shutil.copytree(snapshot_dir, tmp_path / "exp"))


def running_trial(tune_dir):
    snapshot = read_tune_snapshot(tune_dir)
    assert len(snapshot) == 1
    trial = next(iter(snapshot.values()))
    assert trial.status in ("RUNNING", "PENDING", "PAUSED") and not trial.finished  # unfinished: a resume continues it
    return snapshot, trial


def test_the_snapshot_names_the_running_trial_and_its_newest_checkpoint(tune_dir):
    snapshot, trial = running_trial(tune_dir)
    assert trial.checkpoint == tune_dir / trial.trial_id / f"checkpoint_{EPOCHS - 1:06d}"
    assert load_checkpoint(trial.checkpoint / CHECKPOINT) == {"epoch": EPOCHS - 1}
    assert trial.last_result["epoch"] == EPOCHS - 1
    assert check_checkpoints(tune_dir, snapshot) == {}  # it loads: nothing to replace
    assert read_tune_snapshot(tune_dir.parent / "nothing-here") == {}


def test_a_checkpoint_deleted_after_the_snapshot_is_replaced_by_the_newest_that_loads(tune_dir):
    snapshot, trial = running_trial(tune_dir)
    # The killed driver registered two more epochs after its snapshot, deleted the named checkpoint, and the
    # worker left the newest one half-written.
    named = trial.checkpoint
    newer, torn = named.with_name("checkpoint_000010"), named.with_name("checkpoint_000011")
    named.rename(newer)
    shutil.copytree(newer, torn)
    (torn / CHECKPOINT).write_bytes((torn / CHECKPOINT).read_bytes()[:40])
    replacements = check_checkpoints(tune_dir, snapshot)
    assert replacements == {named: newer} and not named.exists()  # checking changes nothing
    restore_deleted_checkpoints(replacements)
    assert load_checkpoint(named / CHECKPOINT) == {"epoch": EPOCHS - 1}
    assert check_checkpoints(tune_dir, snapshot) == {}


def test_checkpoints_that_cannot_be_restored_are_refused_with_the_fix(tune_dir):
    snapshot, trial = running_trial(tune_dir)
    path = trial.checkpoint / CHECKPOINT
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=f"{path}' is missing or corrupt.*delete the folder"):
        check_checkpoints(tune_dir, snapshot)
    for folder in (tune_dir / trial.trial_id).glob("checkpoint_*"):
        shutil.rmtree(folder)
    with pytest.raises(ValueError, match="is gone and no other checkpoint .* loads"):
        check_checkpoints(tune_dir, snapshot)
    (tune_dir / "experiment_state-2099-01-01_00-00-00.json").write_text("{not json")  # the newest snapshot, torn
    with pytest.raises(ValueError, match="unreadable"):
        read_tune_snapshot(tune_dir)


def test_trials_left_running_when_the_study_finished_are_failed_with_a_reason(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = make_searcher(SearchConfig.from_dict({"space": SPACE, "trials": 3, "seed": 3}), study_name="s",
                             storage_url=storage)
    searcher.suggest("a")
    searcher.on_trial_complete("a", final(0.9, 1.2))
    searcher.suggest("b")
    assert fail_running_optuna_trials(storage, "s", "the study finished") == 1
    trials = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "FAIL"] and trials[1].user_attrs["fail_reason"] == "the study finished"
