"""How a trial ended is decided once (search.outcome) and every part of the service agrees: a real Tune run
of five scripted trials, one per ending, seen by the live table, the MLflow runs, the Optuna study and the
summary. Plus the classification rules themselves."""

import math

import optuna
import pytest
import ray
from mlflow.tracking import MlflowClient
from ray import tune

from search.callbacks import TrackingCallback
from search.config import SearchConfig
from search.layout import StudyLayout
from search.manifest import StudyManifest
from search.objectives import DEFAULT_OBJECTIVES
from search.outcome import FINAL_KEY, PRUNE_REASON_KEY, PRUNED_KEY, classify
from search.progress import LiveProgress
from search.searcher import make_searcher
from search.storage import make_storage
from search.summary import study_summary
from search.tracking import StudyTracker

# ending -> (state everywhere, Optuna's name for it, the reason's beginning). Tune tells a searcher only that a
# trial errored, so Optuna's reason for "failed" says where the error is: in MLflow's reason.
ENDINGS = {
    "complete": ("COMPLETE", "COMPLETE", ""),
    "pruned": ("PRUNED", "PRUNED", "switched off"),
    "failed": ("FAILED", "FAIL", ("the trial's worker failed more often than [search] max_retries allows",
                                  "failed after 1 attempt(s): RuntimeError: the trial broke")),
    "no final report": ("FAILED", "FAIL", "the trial ended without its final report (last report: epoch 1)"),
    "non-finite objective": ("FAILED", "FAIL", "objective val_accuracy is not finite"),
}


def final(accuracy: float, pruned: bool = False) -> dict:
    return {FINAL_KEY: True, PRUNED_KEY: pruned, PRUNE_REASON_KEY: "switched off: layer 2 silent" if pruned else "",
            "final_val_accuracy": accuracy, "final_val_n_s": 1.0, "epochs_run": 1, "epochs_planned": 1, "epochs_saved": 0}


def scripted_trial(config):
    """Reports one epoch, then ends the way ``config["ending"]`` says."""
    ending = config["ending"]
    tune.report({"epoch": 0, "val_accuracy": 0.5, "val_n_s": 1.0, FINAL_KEY: False, PRUNED_KEY: False})
    if ending == "failed":
        raise RuntimeError("the trial broke")
    if ending == "no final report":
        return
    tune.report(final(math.nan if ending == "non-finite objective" else 0.8, pruned=ending == "pruned"))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outcome")
    settings = SearchConfig.from_dict({"space": {"ending": {"type": "categorical", "choices": list(ENDINGS)}},
                                       "trials": len(ENDINGS), "start_points": [{"ending": e} for e in ENDINGS]})
    layout = StudyLayout.at("endings", tmp / "studies")
    manifest = StudyManifest("endings", str(layout.dir), "", f"sqlite:///{tmp / 'mlflow.db'}", layout.default_optuna_storage,
                             "yinyang", DEFAULT_OBJECTIVES, len(ENDINGS))
    layout.create("", manifest)
    tracking, progress = TrackingCallback(str(layout.dir)), LiveProgress("endings", len(ENDINGS), DEFAULT_OBJECTIVES)
    ray.init(num_cpus=2, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        tune.Tuner(scripted_trial, tune_config=tune.TuneConfig(
            search_alg=make_searcher(settings, study_name="endings", storage_url=manifest.optuna_storage),
            num_samples=len(ENDINGS), max_concurrent_trials=1),
            run_config=tune.RunConfig(storage_path=str(tmp / "tune"), verbose=0, callbacks=[tracking, progress],
                                      failure_config=tune.FailureConfig(max_failures=0))).fit()
    finally:
        ray.shutdown()
    summary = tracking.refresh(reread=True)
    return layout.manifest(), progress, summary


def test_live_table_mlflow_optuna_and_summary_agree_on_every_ending(study):
    manifest, progress, summary = study
    client = MlflowClient(manifest.tracking_uri)
    runs = {r.data.params["ending"]: r for r in StudyTracker(manifest.tracking_uri, "endings").child_runs()}
    optuna_trials = {t.params["ending"]: t for t in
                     optuna.load_study(study_name="endings", storage=make_storage(manifest.optuna_storage)).get_trials()}
    table = progress.states()
    assert set(runs) == set(optuna_trials) == set(ENDINGS)
    for ending, (state, optuna_state, reason) in ENDINGS.items():
        run, trial = runs[ending], optuna_trials[ending]
        assert run.data.tags["trial_state"] == state, ending
        assert client.get_run(run.info.run_id).info.status == ("FAILED" if state == "FAILED" else "FINISHED"), ending
        assert trial.state.name == optuna_state, ending
        assert table[run.info.run_name] == state, ending
        told = trial.user_attrs.get("prune_reason" if state == "PRUNED" else "fail_reason", "")
        logged = run.data.tags.get("prune_reason" if state == "PRUNED" else "fail_reason", "")
        optuna_reason, mlflow_reason = reason if isinstance(reason, tuple) else (reason, reason)
        assert told.startswith(optuna_reason) and logged.startswith(mlflow_reason), (ending, told, logged)
    assert summary["states"] == {"COMPLETE": 1, "PRUNED": 1, "FAILED": 3}
    assert summary["optuna_states"] == {"COMPLETE": 1, "PRUNED": 1, "FAIL": 3}
    assert [r["trial"] for r in summary["pareto_front"]] == [runs["complete"].info.run_name]


def test_classify_needs_the_final_report_and_finite_objectives():
    assert classify(final(0.8), DEFAULT_OBJECTIVES).values == (0.8, 1.0)
    assert classify(final(0.8, pruned=True), DEFAULT_OBJECTIVES).state == "PRUNED"
    assert classify(final(0.8), DEFAULT_OBJECTIVES, error="boom").state == "FAILED"
    assert classify({"epoch": 3, "val_accuracy": 0.9}, DEFAULT_OBJECTIVES).reason.endswith("(last report: epoch 4)")
    assert classify(None, DEFAULT_OBJECTIVES).state == "FAILED"
    for bad in (math.inf, None, "0.8"):
        outcome = classify({**final(0.8), "final_val_n_s": bad}, DEFAULT_OBJECTIVES)
        assert outcome.state == "FAILED" and "val_n_s is not finite" in outcome.reason and outcome.values is None
