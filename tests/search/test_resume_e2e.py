"""Interrupt a running study and resume it. Ctrl-C (SIGINT) exits 130 and SIGTERM 143, with the command's own
one-line hint and none of Ray's; the parent run and the unfinished trials' runs are KILLED (trial_state
INTERRUPTED) with the command that continues them; the resumed study counts the trials finished before, and
every trial ends with exactly one MLflow run, every epoch logged once, Optuna agreeing. The resumed command's
--no-live is honoured although the callbacks come back from Tune's pickled experiment."""

import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from search.manifest import StudyManifest
from tests.search.conftest import tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.procs import kill_pids, session_pids, wait_for

TRIALS = 3
CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]
RAY_NOISE = ("Tuner.restore", "Failed to fetch metrics", "Traceback", "Trials did not complete")
CURSOR_UP = "\x1b[1A"  # rich's Live redraws its table by moving the cursor up
pytestmark = pytest.mark.slow


def finished_trials(trials_dir: Path) -> int:
    done = 0
    for metrics in trials_dir.glob("*/metrics.json"):
        try:
            done += json.loads(metrics.read_text()).get("final") is not None
        except json.JSONDecodeError:
            pass
    return done


class Driver:
    """``snn-search`` in its own session; in a pseudo-terminal (``tty``), as a user's shell runs it."""

    def __init__(self, args, cwd: Path, tty: bool = False):
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "TERM": "xterm", "COLUMNS": "120"}
        self.chunks: list[bytes] = []
        if tty:
            master, slave = pty.openpty()
            self.process = subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                            start_new_session=True)
            os.close(slave)
            self._reader = threading.Thread(target=self._drain, args=(master,), daemon=True)
        else:
            self.process = subprocess.Popen([*CLI, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, start_new_session=True)
            self._reader = threading.Thread(target=self._drain, args=(self.process.stdout.fileno(),), daemon=True)
        self._reader.start()

    def _drain(self, fd: int) -> None:
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the pty closed
                return
            if not chunk:
                return
            self.chunks.append(chunk)

    def finish(self, timeout: float = 300) -> tuple[int, str]:
        try:
            code = self.process.wait(timeout=timeout)
            self._reader.join(timeout=10)
        finally:
            kill_pids(session_pids(self.process.pid))  # whatever the driver started (Ray), if it is left
        return code, b"".join(self.chunks).decode(errors="replace")


    def output(self) -> str:
        return b"".join(self.chunks).decode(errors="replace")


def interrupt(tmp_path: Path, signum: int, tty: bool) -> tuple[int, str, int]:
    """Runs the tiny study and sends ``signum`` once the driver has seen a trial finish (its line, or its live
    table's count); returns (exit status, output, trials the driver saw finish)."""
    (tmp_path / "tiny.toml").write_text(tiny_study_text(TRIALS, epochs=12, switch_epoch=6, train_samples=1000))
    driver = Driver(["run", "tiny.toml", "--num-cpus", "2", *(() if tty else ("--no-live",))], tmp_path, tty=tty)
    # Some but not all trials finished: the live table's count may jump past 1 (two trials pruned between two
    # refreshes); the lines count one by one.
    seen = re.compile(rf"\b[1-{TRIALS - 1}]/{TRIALS} trials finished" if tty else rf"\[1/{TRIALS}\]")
    wait_for(lambda: seen.search(driver.output()) or driver.process.poll() is not None, 240, "a finished trial", interval=0.2)
    assert driver.process.poll() is None, f"the study ended before it could be interrupted:\n{driver.finish()[1]}"
    driver.process.send_signal(signum)
    code, output = driver.finish()
    # The table may show 2/3 before the third trial has opened its run: then nothing is running when the signal
    # comes, and the resume has the third trial to start. The line mode interrupts at [1/3], the second running.
    return code, output, assert_marked_interrupted(tmp_path, between_trials_allowed=tty)


def assert_marked_interrupted(tmp_path: Path, between_trials_allowed: bool = False) -> int:
    """The parent run and the unfinished trials' runs are KILLED with the resume command; returns the number
    of trials that finished before the interrupt."""
    manifest = StudyManifest.read(tmp_path / "snn-studies" / "tiny" / "study.json")
    client = MlflowClient(manifest.tracking_uri)
    runs = client.search_runs([manifest.experiment_id], "")
    parent = next(r for r in runs if r.data.tags["snn_search_role"] == "parent")
    assert parent.info.status == "KILLED" and parent.data.tags["resume_command"] == "snn-search resume tiny"
    children = [r for r in runs if r.data.tags["snn_search_role"] == "trial"]
    unfinished = [r for r in children if r.data.tags["trial_state"] not in ("COMPLETE", "PRUNED", "FAILED")]
    finished = len(children) - len(unfinished)
    assert 1 <= finished < TRIALS, f"the interrupt left no trial to resume ({finished} finished)"
    assert unfinished or between_trials_allowed, f"no trial was running at the interrupt ({finished} finished)"
    for run in unfinished:
        assert (run.info.status, run.data.tags["trial_state"]) == ("KILLED", "INTERRUPTED"), run.info.run_name
        assert run.data.tags["resume_command"] == "snn-search resume tiny"
    return finished


def test_ctrl_c_stops_resumably_and_the_resume_counts_what_finished_before(tmp_path):
    code, output, interrupted_at = interrupt(tmp_path, signal.SIGINT, tty=False)
    assert code == 130, output
    assert "interrupted:" in output and "continue with: snn-search resume tiny" in output
    assert not [noise for noise in RAY_NOISE if noise in output], output

    resumed = Driver(["resume", "tiny", "--no-live", "--num-cpus", "2"], tmp_path)
    code, output = resumed.finish()
    assert code == 0, output
    assert finished_trials(tmp_path / "snn-studies" / "tiny" / "trials") == TRIALS
    lines = [line for line in output.splitlines() if line.startswith("[")]
    # One line per trial finished now; the count goes on from the trials finished before the interrupt.
    assert [line.split("]")[0] for line in lines] == [f"[{k}/{TRIALS}" for k in range(interrupted_at + 1, TRIALS + 1)]
    assert "after 0 epoch(s)" not in output
    assert_study_consistent(StudyManifest.read(tmp_path / "snn-studies" / "tiny" / "study.json"), TRIALS)


def test_sigterm_in_a_terminal_stops_resumably_and_a_resume_with_no_live_prints_lines(tmp_path):
    code, output, interrupted_at = interrupt(tmp_path, signal.SIGTERM, tty=True)
    assert code == 143, output
    assert CURSOR_UP in output and "trials finished" in output  # the live table was up
    assert "continue with: snn-search resume tiny" in output and not [n for n in RAY_NOISE if n in output], output

    code, output = Driver(["resume", "tiny", "--no-live", "--num-cpus", "2"], tmp_path, tty=True).finish()
    assert code == 0, output
    assert CURSOR_UP not in output  # --no-live, although the pickled callbacks were made with a live table
    assert f"[{TRIALS}/{TRIALS}]" in output
