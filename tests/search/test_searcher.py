"""The study's searcher on a real SQLite Optuna storage: start points first, every ending told to Optuna as
search.outcome classifies it (a pruned trial is never COMPLETE with its last values), a stored study
continued by a new searcher, and orphans of a killed driver adopted (same numbers and parameters, no extra
trials) after a restore from Tune's saved searcher state."""

import math

import optuna
import pytest

from search.config import SearchConfig
from search.outcome import FINAL_KEY, NUMBER_KEY, PRUNE_REASON_KEY, PRUNED_KEY
from search.searcher import make_searcher

SPACE = {"loss.alpha": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "schedule.phase1.lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}}


def final(accuracy, n_s, pruned=False, reason=""):
    return {FINAL_KEY: True, PRUNED_KEY: pruned, PRUNE_REASON_KEY: reason, "final_val_accuracy": accuracy,
            "final_val_n_s": n_s, "val_accuracy": 0.0, "val_n_s": 0.0}


@pytest.fixture
def settings():
    return SearchConfig.from_dict({"space": SPACE, "trials": 4, "seed": 3,
                                   "start_points": [{"loss.alpha": 3.5e-3, "schedule.phase1.lr": 5e-3}]})


def test_every_ending_reaches_optuna_as_classified(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = make_searcher(settings, study_name="s", storage_url=storage)
    configs = [searcher.suggest(f"t{i}") for i in range(5)]
    assert configs[0] == {"loss.alpha": 3.5e-3, "schedule.phase1.lr": 5e-3, NUMBER_KEY: 0}  # the start point first
    assert [c[NUMBER_KEY] for c in configs] == [0, 1, 2, 3, 4]
    searcher.on_trial_complete("t0", final(0.9, 1.2))
    searcher.on_trial_complete("t1", final(0.0, 0.0, pruned=True, reason="layer 2 silent"))
    searcher.on_trial_complete("t2", final(math.nan, 0.1))
    searcher.on_trial_complete("t3", None, error=True)
    searcher.on_trial_complete("t4", {"val_accuracy": 0.9, "val_n_s": 0.1, "epoch": 2})  # no final report
    searcher.on_trial_complete("t1", final(0.5, 0.5))  # a second completion: ignored

    study = optuna.load_study(study_name="s", storage=storage)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "FAIL", "FAIL", "FAIL"]
    assert trials[0].values == [0.9, 1.2]  # the final metrics, not the last epoch's
    assert trials[1].values is None and trials[1].user_attrs["prune_reason"] == "layer 2 silent"
    assert "val_accuracy is not finite" in trials[2].user_attrs["fail_reason"]
    assert "max_retries" in trials[3].user_attrs["fail_reason"]
    assert "without its final report" in trials[4].user_attrs["fail_reason"]
    assert [t.number for t in study.best_trials] == [0]  # the silent network is not on Optuna's front
    assert trials[1].user_attrs["tune_trial_id"] == "t1"


def test_a_new_searcher_continues_the_stored_study(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = make_searcher(settings, study_name="s", storage_url=storage)
    first.suggest("a")
    first.on_trial_complete("a", final(0.9, 1.2))
    second = make_searcher(SearchConfig.from_dict({"space": SPACE, "seed": 3}), study_name="s", storage_url=storage)
    assert second.suggest("b")[NUMBER_KEY] == 1
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2


def test_orphans_of_a_killed_driver_are_adopted_after_a_restore(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    crashed = make_searcher(settings, study_name="s", storage_url=storage)
    crashed.suggest("a")
    crashed.on_trial_complete("a", final(0.9, 1.2))
    crashed.save(str(tmp_path / "searcher.pkl"))  # Tune's last snapshot
    lost = crashed.suggest("b")  # asked for, then the driver died before the next snapshot

    resumed = make_searcher(settings, study_name="s", storage_url=storage)
    resumed.restore(str(tmp_path / "searcher.pkl"))
    assert resumed.suggest("c") == lost  # the same Optuna trial: same number, same parameters
    resumed.on_trial_complete("c", final(0.8, 1.0))
    assert resumed.suggest("d")[NUMBER_KEY] == 2  # afterwards, new trials as usual
    trials = optuna.load_study(study_name="s", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "RUNNING"]
    assert trials[0].values == [0.9, 1.2]
    assert trials[1].user_attrs["tune_trial_id"] == "c" and trials[1].values == [0.8, 1.0]


def test_a_trial_told_before_the_snapshot_is_not_told_twice(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = make_searcher(settings, study_name="s", storage_url=storage)
    first.suggest("a")
    first.save(str(tmp_path / "searcher.pkl"))  # snapshot before the tell
    first.on_trial_complete("a", final(0.9, 1.2))
    restored = make_searcher(settings, study_name="s", storage_url=storage)
    restored.restore(str(tmp_path / "searcher.pkl"))
    restored.on_trial_complete("a", final(0.1, 9.0))  # Optuna would raise on a second tell
    assert optuna.load_study(study_name="s", storage=storage).get_trials()[0].values == [0.9, 1.2]
