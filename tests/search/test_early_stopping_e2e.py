"""A tiny study with successive halving on a real local Ray, MLflow store and Optuna storage: trials dominated at
a rung stop right there and are PRUNED everywhere with their reason and the epochs they saved, never on the
front; the decisions on record are the ones the rule makes from the values the trials reported. And the parent
run's hypervolume: its last value is a brute-force hypervolume of the COMPLETE trials, at the study's epochs."""

import json

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.hypervolume import reference_box
from search.rungs import DOMINATED, goes_on, rung_positions
from search.scheduler import RungBook
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, run_local_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.test_hypervolume import brute_force_hypervolume

TRIALS, EPOCHS, RUNGS = 7, 4, (1, 2)
pytestmark = pytest.mark.slow  # one real study run (~1 min)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("halving")
    # A harsh rule (the best quarter goes on, from the second trial at a rung), so that a study this small
    # certainly stops some trials; thresholds that mostly keep the network firing, so that trials reach rungs.
    text = edit_study(tiny_study_text(TRIALS, epochs=EPOCHS, switch_epoch=2), FIRING_THRESHOLDS,
                      ("[search.pruning]", "[search.early_stopping]\nrungs = [1, 2]\nreduction_factor = 4\n"
                                           "min_trials = 2\n[search.pruning]"))
    return run_local_study(tmp, text)


def runs_of(result):
    client = MlflowClient(result.manifest.tracking_uri)
    return client, {r.data.tags["tune_trial_id"]: r for r in
                    client.search_runs([result.manifest.experiment_id], "tags.snn_search_role = 'trial'")}


def test_dominated_trials_stop_at_their_rung_pruned_everywhere_with_the_epochs_they_saved(study):
    runs = assert_study_consistent(study.manifest, TRIALS)
    dominated = [r for r in runs if r.data.tags.get("prune_reason", "").startswith(DOMINATED)]
    assert dominated, "the harsh rule stops some of the trials"
    book = RungBook(study.layout.dir).read()
    for run in dominated:
        rung = int(run.data.tags["prune_reason"].split(":")[0].removeprefix(DOMINATED))
        assert rung in RUNGS and not book[(run.data.tags["tune_trial_id"], rung)]["goes_on"]
        assert run.data.tags["trial_state"] == "PRUNED" and run.data.tags["pareto_front"] == "false"
        assert "pareto_rank" not in run.data.tags
        # stopped right at the rung: the decision reached the trial before its next epoch
        assert run.data.metrics["epochs_run"] == rung and run.data.metrics["epochs_saved"] == EPOCHS - rung
    trials = optuna.load_study(study_name=study.manifest.name, storage=study.manifest.optuna_storage).get_trials()
    by_name = {f"trial_{t.number:03d}": t for t in trials}
    for run in dominated:
        assert by_name[run.info.run_name].state.name == "PRUNED"
        assert by_name[run.info.run_name].user_attrs["prune_reason"] == run.data.tags["prune_reason"]
    summary = json.loads((study.layout.artifacts_dir / "summary.json").read_text())
    assert summary["dominated"] == len(dominated)
    assert summary["epochs_saved_by_early_stopping"] == sum(EPOCHS - r.data.metrics["epochs_run"] for r in dominated)
    assert all(r["trial"] not in {d.info.run_name for d in dominated} for r in summary["pareto_front"])


def test_each_decision_on_record_is_the_rule_applied_to_the_reported_values_in_arrival_order(study):
    client, runs = runs_of(study)
    book = list(RungBook(study.layout.dir).read().values())  # in the order the driver wrote them
    box = reference_box(study.manifest.objectives, study.manifest.hypervolume_reference)
    assert {r["rung"] for r in book} == set(RUNGS)
    for i, record in enumerate(book):
        run = runs[record["trial"]]
        for value, metric in zip(record["values"], ("val_accuracy", "val_n_s")):
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, metric)}
            assert history[record["rung"] - 1] == value  # judged on what the trial reported at the rung
        peers = [r["values"] for r in book[: i + 1] if r["rung"] == record["rung"] and r["phase"] == record["phase"]]
        position = rung_positions(peers, ["max", "min"], box)[-1]
        assert (record["position"], record["of"], record["goes_on"]) == (position, len(peers), goes_on(position, len(peers), 4, 2))
    # a trial stopped at rung 1 never reaches rung 2
    assert not {r["trial"] for r in book if r["rung"] == 2} & {r["trial"] for r in book if r["rung"] == 1 and not r["goes_on"]}


def test_the_last_hypervolume_is_a_brute_force_one_of_the_complete_trials_at_all_epochs_trained(study):
    client, runs = runs_of(study)
    parent = client.search_runs([study.manifest.experiment_id], "tags.snn_search_role = 'parent'")[0]
    history = sorted(client.get_metric_history(parent.info.run_id, "hypervolume"), key=lambda m: m.timestamp)
    complete = [r for r in runs.values() if r.data.tags["trial_state"] == "COMPLETE"]
    points = [(r.data.metrics["final_val_accuracy"], r.data.metrics["final_val_n_s"]) for r in complete]
    assert study.manifest.hypervolume_reference == (1 / 3, 5.0)
    assert history[-1].value == pytest.approx(brute_force_hypervolume(points, (1 / 3, 5.0)), rel=1e-12)
    total = sum(int(r.data.metrics["epochs_run"]) for r in runs.values())
    assert history[-1].step == total
    assert [m.step for m in history] == sorted(m.step for m in history)  # epochs trained only grow
    epochs = client.get_metric_history(parent.info.run_id, "epochs_trained")
    assert max(m.step for m in epochs) == TRIALS and max(m.value for m in epochs) == total
    assert (study.layout.artifacts_dir / "hypervolume.png").stat().st_size > 1000
    assert study.summary["hypervolume"] == pytest.approx(history[-1].value) and study.summary["epochs_trained"] == total
