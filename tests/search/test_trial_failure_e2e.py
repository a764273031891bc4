"""A trial that fails on every attempt is retried [search] max_retries times, then recorded as failed:
Optuna FAIL and MLflow FAILED with the reason, while the study's other trials finish normally."""

import json

import optuna
import pytest
from mlflow.tracking import MlflowClient

from search.study import RunOptions, run_study
from search.trainable import read_attempts
from tests.search.conftest import edit_study, tiny_study_text

pytestmark = pytest.mark.slow


def test_a_trial_failing_every_attempt_is_retried_then_recorded_failed_with_its_reason(tmp_path):
    text = tiny_study_text(2, epochs=2, switch_epoch=1)
    # Trial 1 asks for more training samples than Yin-Yang has: its data loading fails in the worker.
    text = edit_study(
        text,
        ('"network.threshold" = 100.0 }', '"network.threshold" = 1.0, "data.train_subset" = 100000 }'),
        ('{ "loss.alpha" = 3.5e-3, "network.threshold" = 1.0 },', '{ "loss.alpha" = 3.5e-3, "network.threshold" = 1.0, "data.train_subset" = 200 },'),
        ("[search.space]\n", '[search.space]\n"data.train_subset" = { type = "categorical", choices = [200, 100000] }\n'),
        ("[search]\n", "[search]\nmax_retries = 1\n"),
    )
    path = tmp_path / "fails.toml"
    path.write_text(text)
    result = run_study(path, RunOptions(root=str(tmp_path / "studies"), tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
                                        live=False, num_cpus=2))
    manifest = result.manifest
    client = MlflowClient(manifest.tracking_uri)
    runs = {r.info.run_name: r for r in client.search_runs([manifest.experiment_id], "tags.snn_search_role = 'trial'")}
    assert sorted(runs) == ["trial_000", "trial_001"]
    failed = runs["trial_001"]
    assert failed.info.status == "FAILED" and failed.data.tags["trial_state"] == "FAILED"
    reason = failed.data.tags["fail_reason"]
    assert "failed after 2 attempt(s)" in reason and "exceeds" in reason, reason
    assert len(read_attempts(result.layout.dir, failed.data.tags["trial_key"])) == 2  # the first try and one retry
    assert runs["trial_000"].data.tags["trial_state"] == "COMPLETE" and runs["trial_000"].info.status == "FINISHED"
    trials = {t.number: t for t in optuna.load_study(study_name="fails", storage=manifest.optuna_storage).get_trials()}
    assert trials[1].state.name == "FAIL" and "max_retries" in trials[1].user_attrs["fail_reason"]
    assert trials[0].state.name == "COMPLETE"
    summary = json.loads((result.layout.artifacts_dir / "summary.json").read_text())
    assert summary["trials"] == 2 and summary["states"] == {"COMPLETE": 1, "FAILED": 1}, summary
    assert summary["optuna_states"] == {"COMPLETE": 1, "FAIL": 1}, summary
    assert [r["trial"] for r in summary["pareto_front"]] == ["trial_000"], summary  # a failed trial is on no front
