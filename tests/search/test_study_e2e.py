"""A tiny study end to end on a real local Ray (127.0.0.2), a real MLflow SQLite store and a real Optuna
storage: parent and child runs, per-epoch metrics, Pareto tags, Optuna states, and pruning of the trials
whose network switches off (the study's space reaches thresholds that silence it in epoch 0)."""

import math
import platform

import optuna
import pytest
import ray
from mlflow.tracking import MlflowClient

from search.study import RunOptions, run_study
from search.tracking import PARETO_FILTER
from tests.search.conftest import tiny_study_text
from tests.search.test_pareto import brute_force_front

TRIALS = 5
pytestmark = pytest.mark.slow  # one real study run (~40 s) shared by the tests below


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    path = tmp / "tiny.toml"
    path.write_text(tiny_study_text(TRIALS))
    ray.init(num_cpus=2, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        options = RunOptions(root=str(tmp / "studies"), tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}", live=False)
        first = run_study(path, options)
        options.resume = True
        resumed = run_study(path, options)  # a finished study resumed: must add nothing
        yield first, resumed
    finally:
        ray.shutdown()


def child_runs(result):
    m = result.manifest
    client = MlflowClient(m.tracking_uri)
    return client, client.search_runs([m.experiment_id], "tags.snn_search_role = 'trial'")


def test_one_parent_run_with_the_study_and_its_pareto_artifacts(study):
    result, _ = study
    client = MlflowClient(result.manifest.tracking_uri)
    parents = client.search_runs([result.manifest.experiment_id], "tags.snn_search_role = 'parent'")
    assert len(parents) == 1
    parent = parents[0]
    assert client.get_experiment(result.manifest.experiment_id).name == "tiny"
    assert parent.data.params["space.network.threshold"] == "float[0.5, 100.0] log"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"study.toml", "pareto.csv", "pareto.json", "pareto.png", "pareto.html", "summary.json"} <= artifacts


def test_one_child_run_per_trial_with_per_epoch_metrics(study):
    result, _ = study
    client, runs = child_runs(result)
    assert len(runs) == TRIALS
    assert sorted(r.info.run_name for r in runs) == [f"trial_{i:03d}" for i in range(TRIALS)]
    for run in runs:
        state = run.data.tags["trial_state"]
        assert state in ("COMPLETE", "PRUNED")
        history = client.get_metric_history(run.info.run_id, "val_accuracy")
        epochs = int(run.data.metrics["epochs_run"])
        assert sorted(m.step for m in history) == list(range(epochs))  # step = epoch, each once
        for key in ("val_ce", "val_n_s", "val_n_s_output", "val_silent_fraction_layer2", "val_silent_target_fraction"):
            assert len(client.get_metric_history(run.info.run_id, key)) == epochs
        for key in ("final_val_accuracy", "final_val_ce", "final_val_n_s", "final_test_accuracy", "final_test_ce", "final_test_n_s"):
            assert math.isfinite(run.data.metrics[key])
        assert run.data.tags["checkpoint"] and run.data.tags["out_dir"]


def test_pareto_tags_match_a_brute_force_front_of_the_complete_trials(study):
    result, _ = study
    client, runs = child_runs(result)
    complete = [r for r in runs if r.data.tags["trial_state"] == "COMPLETE"]
    points = [[r.data.metrics["final_val_accuracy"], r.data.metrics["final_val_n_s"]] for r in complete]
    expected = {complete[i].info.run_name for i in brute_force_front(points, ["max", "min"])}
    tagged = {r.info.run_name for r in runs if r.data.tags["pareto_front"] == "true"}
    assert tagged == expected and tagged
    assert all(r.data.tags["pareto_rank"] == "1" for r in runs if r.info.run_name in expected)
    found = client.search_runs([result.manifest.experiment_id], PARETO_FILTER)
    assert {r.info.run_name for r in found} == expected


def test_switched_off_trials_are_pruned_early_told_to_optuna_and_never_on_the_front(study):
    result, _ = study
    _, runs = child_runs(result)
    pruned = [r for r in runs if r.data.tags["trial_state"] == "PRUNED"]
    assert pruned, "the fixed start point with threshold 100 switches the network off"
    threshold_of = {r.info.run_name: float(r.data.params["network.threshold"]) for r in runs}
    assert "trial_001" in {r.info.run_name for r in pruned} and threshold_of["trial_001"] == 100.0
    assert "trial_000" not in {r.info.run_name for r in pruned}  # the paper's setting keeps firing
    for run in pruned:
        assert run.data.tags["pareto_front"] == "false" and "pareto_rank" not in run.data.tags
        assert run.data.tags["prune_reason"].startswith("switched off")
        assert run.data.metrics["epochs_run"] == 1 and run.data.metrics["epochs_saved"] == 2  # pruned after epoch 0

    m = result.manifest
    trials = optuna.load_study(study_name=m.name, storage=m.optuna_storage).get_trials()
    states = {t.number: t.state.name for t in trials}
    assert set(states.values()) == {"COMPLETE", "PRUNED"} and len(trials) == TRIALS
    by_name = {f"trial_{t.number:03d}": t for t in trials}
    for run in runs:
        expected = "PRUNED" if run.data.tags["trial_state"] == "PRUNED" else "COMPLETE"
        assert by_name[run.info.run_name].state.name == expected
    summary = result.summary
    assert summary["pruned"] == len(pruned)
    assert summary["epochs_saved_by_pruning"] == 2 * len(pruned)
    assert summary["optuna_states"]["PRUNED"] == len(pruned)


def test_resuming_a_finished_study_adds_no_trials_and_no_runs(study):
    first, resumed = study
    _, runs = child_runs(resumed)
    assert len(runs) == TRIALS
    assert resumed.summary["states"] == first.summary["states"]
    m = resumed.manifest
    assert len(optuna.load_study(study_name=m.name, storage=m.optuna_storage).trials) == TRIALS


def test_running_an_existing_study_without_resume_is_refused(study):
    result, _ = study
    with pytest.raises(FileExistsError, match="already exists .* pass --resume"):
        run_study(result.manifest.study_file, RunOptions(root=str(result.layout.dir.parent)))


def test_trials_load_the_kernel_built_for_this_cpu(study):
    # -march=native builds are keyed by CPU model (snn._ext): the driver forwards no cache location, and
    # every trial's worker maps the library from the keyed folder, never from the un-keyed one.
    from snn._ext import kernel_cache_dir, kernel_library
    from search.trainable import read_attempts

    result, _ = study
    attempts = [a for d in (result.layout.dir / "attempts").glob("*.jsonl") for a in read_attempts(result.layout.dir, d.stem)]
    assert len(attempts) >= TRIALS
    for attempt in attempts:
        assert attempt["kernel"] == str(kernel_library("snn_cpu")), attempt
    assert kernel_library("snn_cpu").parent.parent == kernel_cache_dir()  # <root>/<cpu>/snn_cpu/snn_cpu.so
    assert kernel_cache_dir().name.startswith(f"{platform.machine()}-")
