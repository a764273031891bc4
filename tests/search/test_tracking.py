"""The MLflow tracker on a real SQLite store: runs are found again instead of duplicated, replayed epochs
are not logged twice, and Pareto tags follow the COMPLETE trials only."""

import json

import pytest

from search.objectives import DEFAULT_OBJECTIVES
from search.outcome import Outcome
from search.tracking import PARETO_FILTER, StudyTracker
from tests.search.test_pareto import brute_force_front

# (accuracy, N_S, state): trial 4 is pruned with N_S 0, which would dominate everything if it were ranked.
TRIALS = [(0.90, 1.0, "COMPLETE"), (0.80, 0.5, "COMPLETE"), (0.70, 2.0, "COMPLETE"), (0.95, 3.0, "COMPLETE"),
          (0.33, 0.0, "PRUNED"), (0.85, 0.8, "FAILED")]


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    # One store for the module (creating MLflow's tables takes seconds); each test has its own experiment.
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def store(database, request):
    return database, request.node.name


def log_study(tracker):
    for i, (acc, n_s, state) in enumerate(TRIALS):
        key = f"tune_{i}"
        tracker.trial_run(key, f"trial_{i:03d}", {"loss.alpha": 0.001 * (i + 1)})
        for step in range(2):
            tracker.log_epoch(key, {"val_accuracy": acc, "val_n_s": n_s}, step)
        finals = {} if state == "FAILED" else {"final_val_accuracy": acc, "final_val_n_s": n_s, "epochs_saved": 1}
        tracker.finish_trial(key, Outcome(state, "switched off" if state == "PRUNED" else ""), finals, {})
    rows = tracker.trials()
    tracker.write_pareto_tags(rows, DEFAULT_OBJECTIVES)
    return rows


def test_pareto_tags_mark_exactly_the_front_of_complete_trials(store):
    rows = log_study(StudyTracker(*store))
    complete = [r for r in rows if r.state == "COMPLETE"]
    points = [r.values(DEFAULT_OBJECTIVES) for r in complete]
    expected = {complete[i].name for i in brute_force_front(points, ["max", "min"])}
    assert {r.name for r in rows if r.tags["pareto_front"] == "true"} == expected == {"trial_000", "trial_001", "trial_003"}
    assert {r.name: r.tags.get("pareto_rank") for r in rows} == {
        "trial_000": "1", "trial_001": "1", "trial_002": "2", "trial_003": "1", "trial_004": None, "trial_005": None}
    # The UI's filter string finds the same runs in the store.
    tracker = StudyTracker(*store)
    found = tracker.client.search_runs([tracker.experiment_id], PARETO_FILTER)
    assert {r.info.run_name for r in found} == expected


def test_reopening_a_study_finds_its_runs_instead_of_duplicating_them(store):
    first = StudyTracker(*store)
    log_study(first)
    again = StudyTracker(*store)  # a resumed driver: nothing in memory
    assert again.parent_run_id == first.parent_run_id
    run_id = again.trial_run("tune_1", "trial_001", {"loss.alpha": 0.002})
    assert run_id == first._runs["tune_1"]
    again.log_epoch("tune_1", {"val_accuracy": 0.0}, 1)  # a replayed epoch: skipped
    again.log_epoch("tune_1", {"val_accuracy": 0.81}, 2)  # a new epoch: logged
    history = again.client.get_metric_history(run_id, "val_accuracy")
    assert sorted((m.step, m.value) for m in history) == [(0, 0.8), (1, 0.8), (2, 0.81)]
    assert len(again.trials()) == len(TRIALS)
    parents = again.client.search_runs([again.experiment_id], "tags.snn_search_role = 'parent'")
    assert len(parents) == 1


def test_child_runs_carry_state_parent_and_params(store):
    tracker = StudyTracker(*store)
    rows = {r.name: r for r in log_study(tracker)}
    assert rows["trial_004"].state == "PRUNED" and rows["trial_004"].tags["prune_reason"] == "switched off"
    assert rows["trial_005"].state == "FAILED"
    assert all(r.tags["mlflow.parentRunId"] == tracker.parent_run_id for r in rows.values())
    assert rows["trial_002"].params == {"loss.alpha": "0.003"}
    run = tracker.client.get_run(rows["trial_005"].run_id)
    assert run.info.status == "FAILED"


def test_ui_url_opens_the_study_view_in_the_training_view(store):
    tracker = StudyTracker(*store)
    url = tracker.ui_url("http://127.0.0.1:5000")
    assert url == (f"http://127.0.0.1:5000/#/experiments/{tracker.experiment_id}/runs"
                   "?viewStateShareKey=snn-search-trials&workflowType=machine_learning")


def test_the_ui_view_selects_the_trial_runs_best_first_with_the_objectives_as_first_columns(store):
    """The saved view's filter and sort, run through MLflow's own search: every trial, no parent run, the
    first objective's best first; and tagging again writes nothing new."""
    tracker = StudyTracker(*store)
    log_study(tracker)
    tracker.show_in_ui(DEFAULT_OBJECTIVES, ["loss.alpha"])
    experiment = tracker.client.get_experiment(tracker.experiment_id)
    view = json.loads(json.loads(experiment.tags["mlflow.sharedViewState.snn-search-trials"])["state"])
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    assert view["selectedColumns"][:4] == ["metrics.`final_val_accuracy`", "metrics.`final_val_n_s`",
                                           "tags.`pareto_front`", "tags.`trial_state`"]
    assert "params.`loss.alpha`" in view["selectedColumns"]
    order = view["orderByKey"] + (" ASC" if view["orderByAsc"] else " DESC")
    runs = tracker.client.search_runs([tracker.experiment_id], view["searchFilter"], order_by=[order])
    assert [r.info.run_name for r in runs][:5] == ["trial_003", "trial_000", "trial_001", "trial_002", "trial_004"]
    assert len(runs) == len(TRIALS) and tracker.parent_run_id not in {r.info.run_id for r in runs}
    tracker.show_in_ui(DEFAULT_OBJECTIVES, ["loss.alpha"])
    assert tracker.client.get_experiment(tracker.experiment_id).tags == experiment.tags
