"""The prune-aware OptunaSearch on a real SQLite Optuna storage: pruned trials are told PRUNED (never
COMPLETE with their last values), trials without values FAIL, and the study survives a restart."""

import optuna
import pytest

from search.config import SearchConfig
from search.searcher import make_searcher
from search.trainable import NUMBER_KEY

SPACE = {"loss.alpha": {"type": "float", "low": 1e-4, "high": 1e-1, "log": True},
         "schedule.phase1.lr": {"type": "float", "low": 1e-3, "high": 0.3, "log": True}}


@pytest.fixture
def settings():
    return SearchConfig.from_dict({"space": SPACE, "trials": 4, "seed": 3,
                                   "start_points": [{"loss.alpha": 3.5e-3, "schedule.phase1.lr": 5e-3}]})


def test_pruned_failed_and_complete_trials_reach_optuna_as_such(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    searcher = make_searcher(settings, study_name="s", storage_url=storage)
    configs = [searcher.suggest(f"t{i}") for i in range(4)]
    assert configs[0] == {"loss.alpha": 3.5e-3, "schedule.phase1.lr": 5e-3, NUMBER_KEY: 0}  # the start point first
    assert [c[NUMBER_KEY] for c in configs] == [0, 1, 2, 3]
    searcher.on_trial_complete("t0", {"val_accuracy": 0.9, "val_n_s": 1.2, "pruned": False})
    searcher.on_trial_complete("t1", {"val_accuracy": 0.0, "val_n_s": 0.0, "pruned": True, "prune_reason": "layer 2 silent"})
    searcher.on_trial_complete("t2", {"val_accuracy": float("nan"), "val_n_s": 0.1, "pruned": False})
    searcher.on_trial_complete("t3", None, error=True)
    searcher.on_trial_complete("t1", {"val_accuracy": 0.5, "val_n_s": 0.5})  # a second completion: ignored

    study = optuna.load_study(study_name="s", storage=storage)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED", "FAIL", "FAIL"]
    assert trials[0].values == [0.9, 1.2]
    assert trials[1].values is None and trials[1].user_attrs["prune_reason"] == "layer 2 silent"
    assert [t.number for t in study.best_trials] == [0]  # the silent network is not on Optuna's front
    assert trials[1].user_attrs["tune_trial_id"] == "t1"


def test_a_new_searcher_continues_the_stored_study(tmp_path, settings):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    first = make_searcher(settings, study_name="s", storage_url=storage)
    first.suggest("a")
    first.on_trial_complete("a", {"val_accuracy": 0.9, "val_n_s": 1.2})
    second = make_searcher(settings.__class__.from_dict({"space": SPACE, "seed": 3}), study_name="s", storage_url=storage)
    assert second.suggest("b")[NUMBER_KEY] == 1
    assert len(optuna.load_study(study_name="s", storage=storage).trials) == 2
