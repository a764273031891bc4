"""Two drivers on one study: while `snn-search run` drives it, `resume` and `run --resume` are refused (naming
the running driver) and change nothing; the first driver finishes with every trial's one MLflow run, none
trashed as an orphan of the second."""

import os
import subprocess
import sys

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from search.manifest import StudyManifest
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.procs import kill_pids, session_pids, wait_for
from tests.search.test_resume_e2e import finished_trials

TRIALS = 3
CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
pytestmark = pytest.mark.slow


def test_a_second_driver_is_refused_and_the_first_finishes_untouched(tmp_path):
    text = edit_study(tiny_study_text(TRIALS, epochs=12, switch_epoch=6, train_samples=1000), FIRING_THRESHOLDS)
    (tmp_path / "tiny.toml").write_text(text)
    study_dir = tmp_path / "snn-studies" / "tiny"
    first = subprocess.Popen([*CLI, "run", "tiny.toml", "--no-live", "--num-cpus", "2"], cwd=tmp_path, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: any(study_dir.glob("trials/*/metrics.json")) or first.poll() is not None, 240,
                 "a trial in training", interval=0.2)
        assert first.poll() is None, first.communicate()[0]
        for command in (["resume", "tiny"], ["run", "tiny.toml", "--resume"]):
            second = subprocess.run([*CLI, *command, "--no-live", "--num-cpus", "2"], cwd=tmp_path, env=ENV,
                                    capture_output=True, text=True, timeout=120, start_new_session=True)
            assert second.returncode == 2, second.stdout + second.stderr
            assert "being driven by another process" in second.stderr and f"(pid {first.pid})" in second.stderr
            assert "snn-search run tiny.toml" in second.stderr and "Traceback" not in second.stderr
        assert first.poll() is None and finished_trials(study_dir / "trials") < TRIALS  # refused mid-study
        output = first.communicate(timeout=400)[0]
    finally:
        kill_pids(session_pids(first.pid))
    assert first.returncode == 0, output
    manifest = StudyManifest.read(study_dir / "study.json")
    trashed = MlflowClient(manifest.tracking_uri).search_runs([manifest.experiment_id], "",
                                                              run_view_type=ViewType.DELETED_ONLY)
    assert trashed == []
    assert_study_consistent(manifest, TRIALS)
    assert not (study_dir / "driver.lock").exists()
