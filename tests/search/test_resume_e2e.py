"""Interrupt a running study (Ctrl-C on `snn-search run`) and resume it: every trial ends with exactly one
MLflow run, every epoch is logged once, and Optuna's states agree with MLflow's."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.search.conftest import tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.procs import kill_pids, session_pids, wait_for

TRIALS = 3
CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]


def finished_trials(trials_dir: Path) -> int:
    done = 0
    for metrics in trials_dir.glob("*/metrics.json"):
        try:
            done += json.loads(metrics.read_text()).get("final") is not None
        except json.JSONDecodeError:
            pass
    return done


@pytest.mark.slow
def test_an_interrupted_study_resumes_without_duplicates(tmp_path):
    # Longer trials than the other e2e test (1000 samples, 12 epochs: a few seconds each), so that the interrupt
    # finds trials mid-training.
    text = tiny_study_text(TRIALS, epochs=12, switch_epoch=6, train_samples=1000)
    (tmp_path / "tiny.toml").write_text(text)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [*CLI, "run", "tiny.toml", "--no-live", "--num-cpus", "2"]
    trials_dir = tmp_path / "snn-studies" / "tiny" / "trials"
    # Its own session, so that whatever the driver started (Ray's processes) is stopped if the test fails.
    process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        wait_for(lambda: finished_trials(trials_dir) >= 1 or process.poll() is not None, 120, "a finished trial", interval=0.2)
        assert process.poll() is None, f"the study ended before it could be interrupted:\n{process.communicate()[0]}"
        process.send_signal(signal.SIGINT)  # what Ctrl-C sends
        output = process.communicate(timeout=120)[0]
    finally:
        kill_pids(session_pids(process.pid))
    assert process.returncode == 0, output
    assert "--resume" in output  # the user is told how to continue
    interrupted_at = finished_trials(trials_dir)
    assert 1 <= interrupted_at < TRIALS, f"the interrupt left no unfinished trial to resume ({interrupted_at} finished)"

    resumed = subprocess.run([*command, "--resume"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert finished_trials(trials_dir) == TRIALS

    manifest = json.loads((tmp_path / "snn-studies" / "tiny" / "study.json").read_text())
    assert_study_consistent(manifest, TRIALS)
