"""`snn-search confirm` killed with SIGKILL (or stopped with Ctrl-C: exit 130, no traceback, the command to
continue) while its seed runs train, then run again: seed runs that had finished are reused untouched, unfinished
ones continue from their checkpoints (no epoch trained twice), the
setting ends with exactly one confirmed MLflow run, and nothing is left RUNNING."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient

from search.study import RunOptions, run_study
from search.trainable import read_attempts
from snn.train import CHECKPOINT
from snn.train.checkpoint import load_checkpoint
from tests.search.conftest import tiny_study_text
from tests.search.procs import kill_pids, session_pids, wait_for
from tests.search.test_driver_crash_e2e import epochs_of

SEEDS = 3
EPOCHS, TRAIN_SAMPLES = 30, 3000  # a seed run trains for seconds: the kill finds one finished and one mid-run
EPOCHS_LEFT_AT_KILL = 8
CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]
pytestmark = pytest.mark.slow


def kill_point(confirm_dir: Path):
    runs = {d: epochs_of(d) for d in confirm_dir.glob("trial_*/seed*")}
    finished = [d for d, (_, done) in runs.items() if done]
    training = [d for d, (epochs, done) in runs.items() if not done and 1 <= len(epochs) <= EPOCHS - EPOCHS_LEFT_AT_KILL]
    return (finished, training) if finished and training else None


@pytest.mark.parametrize("stop", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_a_stopped_confirmation_continues_without_training_anything_twice(tmp_path, stop):
    # Two trials: the paper's setting (COMPLETE, the front) and the silent threshold-100 one (PRUNED).
    (tmp_path / "tiny.toml").write_text(tiny_study_text(2, epochs=EPOCHS, switch_epoch=EPOCHS // 2, train_samples=TRAIN_SAMPLES))
    ray.init(num_cpus=2, _node_ip_address="127.0.0.2", include_dashboard=False)
    try:
        study = run_study(tmp_path / "tiny.toml", RunOptions(root=str(tmp_path / "snn-studies"), live=False,
                                                             tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"))
    finally:
        ray.shutdown()
    confirm_dir = study.layout.confirm_dir
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    command = [*CLI, "confirm", "tiny", "--seeds", str(SEEDS), "--no-live", "--num-cpus", "2"]
    driver = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, start_new_session=True)
    try:
        point = wait_for(lambda: driver.poll() is None and kill_point(confirm_dir) or (driver.poll() is not None and "ended"),
                         240, "a finished and a training seed run", interval=0.2)
        assert point != "ended", f"the confirmation ended before the kill:\n{driver.communicate()[0]}"
        os.kill(driver.pid, stop)
        output = driver.communicate(timeout=120)[0]
        if stop == signal.SIGINT:
            assert driver.returncode == 130, output
            assert "Traceback" not in output and "interrupted; continue with: snn-search confirm tiny" in output, output
    finally:
        kill_pids(session_pids(driver.pid))  # its local Ray and the workers still training
    finished, _ = point
    before = {d: epochs_of(d) for d in confirm_dir.glob("trial_*/seed*")}
    saved = {d: len(load_checkpoint(d / CHECKPOINT)["epochs"]) for d in before if (d / CHECKPOINT).exists()}

    again = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    partial = [d for d in saved if d not in finished]
    assert partial and f"{len(finished)} finished already, {len(partial)} to continue" in again.stdout, again.stdout

    runs = sorted(confirm_dir.glob("trial_000/seed*"))
    assert [d.name for d in runs] == [f"seed{s}" for s in range(1, SEEDS + 1)]  # fresh seeds: the study trained seed 0
    for run_dir in runs:
        epochs, done = epochs_of(run_dir)
        assert done and [e["epoch"] for e in epochs] == list(range(EPOCHS)), run_dir
        attempts = read_attempts(study.layout.dir, f"confirm-trial_000-{run_dir.name}")
        if run_dir in finished:  # reused as it was: not started again, not a byte of its record changed
            assert len(attempts) == 1 and epochs_of(run_dir) == before[run_dir], run_dir
        elif run_dir in saved:  # continued from its checkpoint, the epochs before the kill kept as they were
            assert [a["resumed_epochs"] for a in attempts] == [0, saved[run_dir]], (run_dir, attempts)
            assert epochs[:len(before[run_dir][0])] == before[run_dir][0]
        else:  # never started before the kill
            assert [a["resumed_epochs"] for a in attempts] == [0], run_dir

    client = MlflowClient(study.manifest.tracking_uri)
    experiment = study.manifest.experiment_id
    confirmed = client.search_runs([experiment], "tags.snn_search_role = 'confirmed'")
    assert [(r.data.tags["confirmed_from"], r.data.metrics["confirmed_seeds"], r.info.status) for r in confirmed] \
        == [("trial_000", SEEDS, "FINISHED")]
    assert [r.info.run_name for r in client.search_runs([experiment], "") if r.info.status == "RUNNING"] == []
    assert confirmed[0].data.tags["confirmed_front"] == "true"
