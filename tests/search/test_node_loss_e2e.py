"""Node loss: a two-node Ray cluster on this machine (a head with one CPU, a worker node with two), a study
joined to it with --address, and the worker node killed while one of its trials trains. The trial is retried
from its last checkpoint on the head node ([search] max_retries); every trial ends COMPLETE or PRUNED, with
one MLflow run each and nothing RUNNING. Only the Ray processes started here are stopped, by pid. Before the
study, `snn-search doctor` checks the two nodes."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from search.trainable import read_attempts
from tests.search.conftest import FIRING_THRESHOLDS, edit_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.procs import free_port, kill_pids, session_pids, wait_for

TRIALS = 3
CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]
RAY = str(Path(sys.executable).with_name("ray"))
pytestmark = pytest.mark.slow
# Faster node-death detection by the GCS (defaults: 5 missed checks 3 s apart, after a 5 s delay), but not
# so fast that the loaded head node itself is declared dead: with 3 missed 1 s checks, the head's raylet, busy
# with its trial and the driver on this 2-core machine, was once marked dead and the driver crashed. Five
# missed checks of up to 3 s each still find the killed worker node within ~20 s.
GCS_ENV = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "5",
           "RAY_health_check_timeout_ms": "3000", "RAY_health_check_initial_delay_ms": "1000"}


def start_node(args: list[str], env: dict) -> subprocess.Popen:
    """`ray start` in its own session: the node's daemons stay in that session after it returns."""
    process = subprocess.Popen([RAY, "start", "--node-ip-address=127.0.0.2", "--disable-usage-stats", *args], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = process.communicate(timeout=120)[0]
    assert process.returncode == 0, output
    return process


def trial_on_worker(study_dir: Path, worker_pids: set[int]):
    """A trial training on the worker node (its process is one of the node's) whose epoch checkpoint the
    driver has registered (Tune's result.json, written by the driver, has a line)."""
    for attempts in (study_dir / "attempts").glob("*.jsonl"):
        key = attempts.stem
        lines = read_attempts(study_dir, key)
        try:
            metrics = json.loads((study_dir / "trials" / key / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        result = study_dir / "tune" / key / "result.json"
        registered = result.exists() and result.read_text().strip() != ""
        if lines and lines[-1]["pid"] in worker_pids and registered and metrics.get("final") is None:
            return key, lines[-1]["node_id"]
    return None


def test_a_lost_worker_node_s_trials_finish_on_the_head_from_their_checkpoints(tmp_path):
    # 3000 samples, 20 epochs and thresholds that mostly keep the network firing, so that a trial trains for
    # several seconds and is still training when its node goes (an epoch takes 0.2-0.3 s on a 2-core machine;
    # with 600 samples and 10 epochs a whole trial took about 2 s, a narrow window to catch).
    text = tiny_study_text(TRIALS, epochs=20, switch_epoch=10, train_samples=3000)
    text = edit_study(text, FIRING_THRESHOLDS, ("[search]\n", "[search]\nmax_retries = 2\n"))
    (tmp_path / "tiny.toml").write_text(text)
    ray_tmp = tempfile.mkdtemp(prefix="rn", dir="/tmp")  # short: Ray's socket paths must stay < 108 chars
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0", "MLFLOW_DISABLE_TELEMETRY": "true"}
    port = free_port("127.0.0.2")
    nodes: list[subprocess.Popen] = []
    driver = None
    try:
        nodes.append(start_node(["--head", f"--port={port}", "--num-cpus=1", "--include-dashboard=false",
                                 f"--temp-dir={ray_tmp}"], {**env, **GCS_ENV}))
        nodes.append(start_node([f"--address=127.0.0.2:{port}", "--num-cpus=2", '--resources={"worker_node": 2}'], env))
        worker = nodes[1]
        # doctor on the real two-node cluster: a task per node builds and calls the kernel; the study's
        # SQLite stores are refused for two nodes (this test still uses them: both nodes share one disk).
        doctor = subprocess.run([*CLI, "doctor", "tiny.toml", "--address", f"127.0.0.2:{port}"], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=300)
        assert doctor.returncode == 1, doctor.stdout + doctor.stderr
        assert doctor.stdout.count("builds and runs the LIF kernel") == 2 and "2 alive node(s)" in doctor.stdout
        assert all(line.startswith("[PASS]") for line in doctor.stdout.splitlines() if "LIF kernel" in line), doctor.stdout
        assert "[FAIL] MLflow tracking fits 2 node(s)" in doctor.stdout and "[FAIL] Optuna storage fits 2 node(s)" in doctor.stdout
        study_dir = tmp_path / "snn-studies" / "tiny"
        driver = subprocess.Popen([*CLI, "run", "tiny.toml", "--address", f"127.0.0.2:{port}", "--no-live"],
                                  cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  start_new_session=True)
        key, lost_node = wait_for(lambda: trial_on_worker(study_dir, set(session_pids(worker.pid)))
                                  or (driver.poll() is not None and (None, None)), 240, "a trial training on the worker node",
                                  interval=0.2)
        assert key, f"the study ended before a trial trained on the worker node:\n{driver.communicate()[0]}"
        kill_pids(session_pids(worker.pid))  # the node is lost: raylet, its workers, its agents
        output = driver.communicate(timeout=400)[0]
        assert driver.returncode == 0, output
    finally:
        for process in [driver, *reversed(nodes)]:
            if process is not None:
                kill_pids(session_pids(process.pid))
        shutil.rmtree(ray_tmp, ignore_errors=True)

    attempts = read_attempts(study_dir, key)
    assert len(attempts) >= 2 and attempts[-1]["node_id"] != lost_node, attempts  # moved to the head node
    assert attempts[-1]["resumed_epochs"] >= 1, attempts  # from its checkpoint, not from scratch
    manifest = json.loads((study_dir / "study.json").read_text())
    assert_study_consistent(manifest, TRIALS)  # every epoch logged once, none lost with the node
