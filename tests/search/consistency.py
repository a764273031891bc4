"""The check every end-to-end study test ends with: MLflow and Optuna tell the same story of a finished study."""

from __future__ import annotations

import optuna
from mlflow.tracking import MlflowClient

from search.manifest import StudyManifest
from search.storage import make_storage

__all__ = ["assert_study_consistent"]

_MLFLOW_STATE = {"COMPLETE": "COMPLETE", "PRUNED": "PRUNED", "FAIL": "FAILED"}


def assert_study_consistent(manifest: StudyManifest | dict, trials: int, *, states=("COMPLETE", "PRUNED")) -> list:
    """Exactly one MLflow run per trial (trial_000.., one per trial key), none left RUNNING, each in one of
    ``states`` with every epoch it trained logged exactly once (steps 0..epochs_run-1, after the epochs a
    branching child inherited), and Optuna holding the same trials in the same states. Returns the trial runs."""
    if isinstance(manifest, dict):  # read from a study.json
        manifest = StudyManifest.from_dict(manifest)
    client = MlflowClient(manifest.tracking_uri)
    experiment = manifest.experiment_id
    runs = client.search_runs([experiment], "tags.snn_search_role = 'trial'")
    assert sorted(r.info.run_name for r in runs) == [f"trial_{i:03d}" for i in range(trials)]
    assert len({r.data.tags["trial_key"] for r in runs}) == trials
    assert [r.info.run_name for r in client.search_runs([experiment], "") if r.info.status == "RUNNING"] == []
    for run in runs:
        assert run.data.tags["trial_state"] in states, (run.info.run_name, run.data.tags["trial_state"])
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_accuracy")]
        first = int(run.data.metrics.get("epochs_inherited", 0))
        assert sorted(steps) == list(range(first, first + int(run.data.metrics["epochs_run"]))), run.info.run_name
    storage = make_storage(manifest.optuna_storage)
    optuna_trials = optuna.load_study(study_name=manifest.name, storage=storage).get_trials()
    assert len(optuna_trials) == trials and all(t.state.is_finished() for t in optuna_trials)
    assert ({f"trial_{t.number:03d}": _MLFLOW_STATE[t.state.name] for t in optuna_trials}
            == {r.info.run_name: r.data.tags["trial_state"] for r in runs})
    return runs
