"""Recovery after a killed driver, piece by piece on real stores: Optuna trials asked for after Tune's last
snapshot are adopted (same numbers, same parameters, no extra trials), a trial told before the crash is not
told again, and Tune's snapshot is read for its trials."""

import json

import optuna
import pytest

from search.config import SearchConfig
from search.recovery import check_checkpoints, orphan_optuna_trials, tune_trials
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
