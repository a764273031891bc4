"""A study's driver killed with SIGKILL (after some trials finished, while others train) and continued with
`snn-search resume NAME`: exactly the configured trials, finished trials never re-run, unfinished ones
continue from their checkpoints, one MLflow run per trial and none left RUNNING, no Optuna trial RUNNING."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from search.trainable import read_attempts
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.procs import kill_pids, session_pids, wait_for

TRIALS = 4
EPOCHS = 40
# A trial caught with this many epochs still to train cannot finish in the moment between the check and the
# kill, so that it is unfinished in Tune's snapshot.
EPOCHS_LEFT_AT_CRASH = 10
# Enough samples and epochs that a firing trial trains for about ten seconds: the test must see one of its
# results taken by the driver and a Tune snapshot after that (every 2 s) while it still has
# EPOCHS_LEFT_AT_CRASH to go. An epoch takes 0.2-0.3 s on a 2-core machine; with 600 samples and 12 epochs a
# whole trial took 2.5 s, and the study could end before such a moment was polled (a CI failure).
TRAIN_SAMPLES = 3000
CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
pytestmark = pytest.mark.slow


def epochs_of(trial_dir: Path) -> tuple[list[dict], bool]:
    """(per-epoch records, finished) from a trial's metrics.json; ([], False) while it is being written."""
    try:
        data = json.loads((trial_dir / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError):
        return [], False
    return data["epochs"], data.get("final") is not None


def snapshot_time(study_dir: Path) -> float:
    states = list((study_dir / "tune").glob("experiment_state-*.json"))
    return max((p.stat().st_mtime for p in states), default=0.0)


def crash_point(study_dir: Path, seen: dict[str, float]):
    """At least one finished trial, and one that has trained an epoch, is not finished and whose checkpoint
    Tune's snapshot holds: the driver had taken a result of it (Tune's result.json, written by the driver, has
    a line) at a time ``seen`` before the newest snapshot. A trial killed before that restarts from an older
    checkpoint, which is correct, but this test wants to see a continuation."""
    now = time.time()
    states = {d.name: epochs_of(d) for d in (study_dir / "trials").glob("*") if d.is_dir()}
    for key, (epochs, done) in states.items():
        result = study_dir / "tune" / key / "result.json"
        if epochs and not done and key not in seen and result.exists() and result.read_text().strip():
            seen[key] = now
    finished = [k for k, (_, done) in states.items() if done]
    newest = snapshot_time(study_dir)
    training = [k for k, (epochs, done) in states.items() if not done and k in seen and newest > seen[k]
                and len(epochs) <= EPOCHS - EPOCHS_LEFT_AT_CRASH]
    return (states, finished, training) if finished and training else None


def kill_driver_when(tmp_path: Path, text: str, moment, what: str, timeout: float = 240):
    """Runs the study ``text`` with `snn-search run` in ``tmp_path`` and kills its driver with SIGKILL as soon
    as ``moment(study_dir, seen)`` returns something (``seen``: a dict it may keep between polls); returns
    that. Fails when the study ends first."""
    (tmp_path / "tiny.toml").write_text(text)
    study_dir = tmp_path / "snn-studies" / "tiny"
    driver = subprocess.Popen([*CLI, "run", "tiny.toml", "--no-live", "--num-cpus", "2"], cwd=tmp_path, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        seen: dict[str, float] = {}
        point = wait_for(lambda: driver.poll() is None and moment(study_dir, seen)
                         or (driver.poll() is not None and "ended"), timeout, what, interval=0.2)
        assert point != "ended", f"the study ended before the crash:\n{driver.communicate()[0]}"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=60)
    finally:
        # The killed driver's local Ray (GCS, raylet, workers) may linger in its session: stop it by pid.
        kill_pids(session_pids(driver.pid))
    return point


def resume_killed(tmp_path: Path) -> None:
    """`snn-search resume tiny` after :func:`kill_driver_when`; it must succeed."""
    resumed = subprocess.run([*CLI, "resume", "tiny", "--no-live", "--num-cpus", "2"], cwd=tmp_path, env=ENV,
                             capture_output=True, text=True, timeout=400, start_new_session=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr


def test_a_killed_driver_is_resumed_without_reruns_or_duplicate_runs(tmp_path):
    # TRAIN_SAMPLES and EPOCHS, so that firing trials train long enough to be caught mid-run; thresholds that
    # mostly keep the network firing. The fixed threshold-100 start point is pruned after epoch 0: the trial
    # that finishes before the crash.
    text = tiny_study_text(TRIALS, epochs=EPOCHS, switch_epoch=EPOCHS // 2, train_samples=TRAIN_SAMPLES)
    text = edit_study(text, FIRING_THRESHOLDS)
    assert "choices = [1.0" in text and f"train_subset = {TRAIN_SAMPLES}" in text
    study_dir = tmp_path / "snn-studies" / "tiny"
    states, finished, training = kill_driver_when(tmp_path, text, crash_point, "a finished and a running trial")
    before = {k: epochs_of(study_dir / "trials" / k)[0] for k in states}
    resume_killed(tmp_path)

    after = {d.name: epochs_of(d) for d in (study_dir / "trials").iterdir() if d.is_dir()}
    for key in finished:  # finished before the crash: same epochs (timings included), never trained again
        assert after[key] == (before[key], True), key
        # A trial that finished after Tune's last snapshot is started once more, only to report its result.
        assert all(a["resumed_epochs"] == len(before[key]) for a in read_attempts(study_dir, key)[1:]), key
    for key in training:  # trained some epochs before the crash: continued from a checkpoint, not from scratch
        attempts = read_attempts(study_dir, key)
        assert len(attempts) == 2 and attempts[1]["resumed_epochs"] >= 1, (key, attempts)
        kept = attempts[1]["resumed_epochs"]
        assert after[key][1] and after[key][0][:kept] == before[key][:kept], key

    manifest = json.loads((study_dir / "study.json").read_text())
    assert_study_consistent(manifest, TRIALS)
