"""A tiny study with ``[search] seeds = 2`` and its confirmation on 3 fresh seeds, on a real local Ray
(127.0.0.2), a real MLflow SQLite store and a real Optuna storage.

The study: every epoch a trial reports the median of its seeds' values (each seed's metrics.json is the
ground truth), its final metrics are medians, each seed's final values are recorded too, and a trial whose
seeds switch off is pruned. The confirmation: its ``confirmed_*`` medians are the medians of the rows of
``confirmation.csv``, its ``confirmed_front`` tags are the brute-force non-dominated set of the validation
medians, it trains only seeds the study never used, and running it again trains nothing and adds no run."""

import csv
import io
import json
import statistics
from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient

from search.confirm import ConfirmOptions, confirm_study
from search.study import RunOptions, run_study
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.test_pareto import brute_force_front

TRIALS, SEEDS, CONFIRM_SEEDS = 4, (0, 1), 3
pytestmark = pytest.mark.slow  # one study and one confirmation (~1-2 min here)


@pytest.fixture(scope="module")
def confirmed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("seeds")
    path = tmp / "tiny.toml"
    path.write_text(edit_study(tiny_study_text(TRIALS), FIRING_THRESHOLDS, ("concurrency = 2\n", "concurrency = 2\nseeds = 2\n")))
    ray.init(num_cpus=2, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        study = run_study(path, RunOptions(root=str(tmp / "studies"), tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", live=False))
        # band 1.0: every COMPLETE trial, so that the confirmed front is chosen among several settings
        options = ConfirmOptions(seeds=CONFIRM_SEEDS, band=1.0, root=str(tmp / "studies"), live=False)
        first = confirm_study("tiny", options)
        again = confirm_study("tiny", options)
        yield study, first, again
    finally:
        ray.shutdown()


def runs(manifest, role):
    client = MlflowClient(manifest.tracking_uri)
    return client, client.search_runs([manifest.experiment_id], f"tags.snn_search_role = '{role}'")


def seed_metrics(run):
    return [json.loads((Path(run.data.tags["out_dir"]) / f"seed{s}" / "metrics.json").read_text()) for s in SEEDS]


def test_every_epoch_a_trial_reports_the_median_of_its_seeds(confirmed):
    study, _, _ = confirmed
    client, trials = runs(study.manifest, "trial")
    assert len(trials) == TRIALS
    for run in trials:
        seeds = seed_metrics(run)
        epochs = int(run.data.metrics["epochs_run"])
        assert all(len(s["epochs"]) == epochs for s in seeds)
        for key in ("accuracy", "n_s", "ce", "n_s_output"):
            history = {m.step: m.value for m in client.get_metric_history(run.info.run_id, f"val_{key}")}
            assert history == {e: statistics.median(s["epochs"][e]["validation"][key] for s in seeds) for e in range(epochs)}, key
        losses = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "train_loss")}
        assert losses == {e: statistics.median(s["epochs"][e]["train_loss"] for s in seeds) for e in range(epochs)}
        for split, prefix in (("validation", "val"), ("test", "test")):
            for key in ("accuracy", "n_s", "ce"):
                per_seed = [s["final"][split][key] for s in seeds]
                assert run.data.metrics[f"final_{prefix}_{key}"] == statistics.median(per_seed)
                assert [run.data.metrics[f"final_{prefix}_{key}_seed{s}"] for s in SEEDS] == per_seed
    assert_study_consistent(study.manifest, TRIALS)


def test_each_seed_trains_its_own_network_from_its_seed(confirmed):
    study, _, _ = confirmed
    _, trials = runs(study.manifest, "trial")
    firing = [r for r in trials if r.data.tags["trial_state"] == "COMPLETE"]  # silent networks all look alike
    assert firing
    for run in firing:
        first, second = seed_metrics(run)
        assert first["epochs"][0]["validation"] != second["epochs"][0]["validation"], run.info.run_name


def test_a_trial_whose_seeds_switch_off_is_pruned_with_how_many_did(confirmed):
    study, _, _ = confirmed
    _, trials = runs(study.manifest, "trial")
    pruned = {r.info.run_name: r for r in trials if r.data.tags["trial_state"] == "PRUNED"}
    assert "trial_001" in pruned  # threshold 100: both seeds silent from epoch 0
    assert pruned["trial_001"].data.tags["prune_reason"].startswith("switched off: 2 of 2 seeds, e.g. ")


def confirmation_csv(manifest) -> list[dict]:
    client = MlflowClient(manifest.tracking_uri)
    parent = client.search_runs([manifest.experiment_id], "tags.snn_search_role = 'parent'")[0]
    text = Path(client.download_artifacts(parent.info.run_id, "confirmation.csv")).read_text()
    return list(csv.DictReader(io.StringIO(text)))


def test_confirmed_medians_are_the_medians_of_confirmation_csv(confirmed):
    study, first, _ = confirmed
    _, trials = runs(study.manifest, "trial")
    complete = {r.info.run_name: r for r in trials if r.data.tags["trial_state"] == "COMPLETE"}
    _, confirmed_runs = runs(study.manifest, "confirmed")
    assert {r.data.tags["confirmed_from"] for r in confirmed_runs} == set(complete) and len(confirmed_runs) == len(complete)
    rows = confirmation_csv(study.manifest)
    assert sorted((r["trial"], int(r["seed"])) for r in rows) == sorted(
        (t, s) for t in complete for s in range(len(SEEDS), len(SEEDS) + CONFIRM_SEEDS))  # fresh seeds: 2, 3, 4
    for run in confirmed_runs:
        trial = run.data.tags["confirmed_from"]
        assert run.data.tags["confirmed"] == "true" and run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == study.manifest.parent_run_id
        assert run.data.params == complete[trial].data.params
        assert run.data.metrics["confirmed_seeds"] == CONFIRM_SEEDS
        mine = [r for r in rows if r["trial"] == trial]
        for column in ("val_accuracy", "val_n_s", "test_accuracy", "test_n_s", "test_ce"):
            values = [float(r[column]) for r in mine]
            assert run.data.metrics[f"confirmed_{column}_median"] == statistics.median(values), column
            if column != "test_ce":
                assert run.data.metrics[f"confirmed_{column}_mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
                assert run.data.metrics[f"confirmed_{column}_std"] == pytest.approx(statistics.stdev(values), rel=1e-9)
    assert first.counts == {"reused": 0, "continued": 0, "started": len(complete) * CONFIRM_SEEDS} and not first.failed


def test_the_confirmed_front_is_the_non_dominated_set_of_validation_medians(confirmed):
    study, _, _ = confirmed
    _, confirmed_runs = runs(study.manifest, "confirmed")
    points = [[r.data.metrics["confirmed_val_accuracy_median"], r.data.metrics["confirmed_val_n_s_median"]]
              for r in confirmed_runs]
    expected = {confirmed_runs[i].data.tags["confirmed_from"] for i in brute_force_front(points, ["max", "min"])}
    tagged = {r.data.tags["confirmed_from"] for r in confirmed_runs if r.data.tags["confirmed_front"] == "true"}
    assert tagged == expected and tagged


def test_pareto_confirmed_prints_the_confirmed_front(confirmed, capsys):
    from search.cli import main

    study, _, _ = confirmed
    _, confirmed_runs = runs(study.manifest, "confirmed")
    capsys.readouterr()
    assert main(["pareto", "tiny", "--confirmed", "--format", "csv", "--root", str(study.layout.dir.parent)]) == 0
    printed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["trial"] for r in printed} == {r.data.tags["confirmed_from"] for r in confirmed_runs
                                             if r.data.tags["confirmed_front"] == "true"}
    assert all(float(r["confirmed_seeds"]) == CONFIRM_SEEDS for r in printed)


def test_confirming_again_trains_nothing_and_adds_no_run(confirmed):
    study, first, again = confirmed
    assert again.counts == {"reused": first.counts["started"], "continued": 0, "started": 0}
    client, confirmed_runs = runs(study.manifest, "confirmed")
    assert len(confirmed_runs) == len(first.records) == len(again.records)
    assert [r.info.run_name for r in client.search_runs([study.manifest.experiment_id], "") if r.info.status == "RUNNING"] == []
    artifacts = {a.path for a in client.list_artifacts(study.manifest.parent_run_id)}
    assert {"confirmation.csv", "confirmed.csv", "confirmed.json", "confirmed.md", "confirmed_pareto.png",
            "confirmed_pareto.html"} <= artifacts


def test_confirm_refuses_a_study_whose_driver_is_running(confirmed):
    from search.lock import StudyLock, StudyLockedError

    study, _, _ = confirmed
    with StudyLock(study.layout.lock_file, "snn-search resume tiny"):
        with pytest.raises(StudyLockedError, match="`snn-search resume tiny`"):
            confirm_study("tiny", ConfirmOptions(seeds=CONFIRM_SEEDS, band=1.0, root=str(study.layout.dir.parent), live=False))
