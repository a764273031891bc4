"""The page `snn-search ui NAME` opens, as headless Chromium renders it on a first visit: a tiny study run by
`snn-search run` (real Ray, MLflow, Optuna), then `snn-search ui` started as a user starts it. Every front
trial's name and final validation accuracy must be on the screen of a 1440-pixel-wide window (not scrolled
away, beside MLflow's Assistant panel, which opens on a first visit), a pruned trial must say PRUNED, the
page must be the training view, and SIGTERM to `ui` must leave nothing listening on its port.

Set SNN_UI_SCREENSHOTS=DIR to keep the page's screenshot there. Skipped where Chromium or Selenium is
missing, except under SNN_TEST_REQUIRE_BROWSER=1 (.ci/run sets it after installing Chromium), where that
fails instead."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from search.snapshot import read_snapshot
from tests.search.browser import RUN_NAME, Browser, GridCell, browser_problem
from tests.search.conftest import tiny_study_text
from tests.search.procs import free_port, kill_pids, mlflow_server_pids

pytestmark = pytest.mark.slow  # a real study (~40 s) and an MLflow server
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
ACCURACY = "metrics.`final_val_accuracy`"


def snn_search(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "search.cli", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=600)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    problem = browser_problem()
    if problem:
        if os.environ.get("SNN_TEST_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{problem}, and SNN_TEST_REQUIRE_BROWSER=1 requires it")
        pytest.skip(problem)
    tmp = tmp_path_factory.mktemp("browser")
    (tmp / "tiny.toml").write_text(tiny_study_text(5))
    done = snn_search("run", "tiny.toml", "--root", "studies", "--num-cpus", "2", "--no-live", cwd=tmp)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp


def test_the_ui_page_shows_the_front_and_the_pruned_trials(study):
    front = json.loads(snn_search("pareto", "tiny", "--root", "studies", "--format", "json", cwd=study).stdout)
    pruned = [r.name for r in read_snapshot(study / "studies" / "tiny").rows if r.state == "PRUNED"]
    assert front and pruned  # the tiny study's second start point switches its network off
    port = free_port()
    ui = subprocess.Popen([sys.executable, "-m", "search.cli", "ui", "tiny", "--root", "studies", "--port", str(port)],
                          cwd=study, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = ui.stdout.readline().removeprefix("MLflow UI: ").strip()
        assert ui.stdout.readline().startswith("ready"), ui.stderr.read()
        with Browser(1440, 1000) as browser:  # a laptop screen
            browser.open(url)
            rows = {row[RUN_NAME].text: row for row in browser.wait_for_grid({r["trial"] for r in front} | set(pruned))}
            if os.environ.get("SNN_UI_SCREENSHOTS"):
                browser.screenshot(Path(os.environ["SNN_UI_SCREENSHOTS"]) / "ui-tiny-study.png")
            page = browser.text()
        for record in front:
            row = rows[record["trial"]]
            assert row[RUN_NAME].visible and row[ACCURACY].visible, f"{record['trial']} is not on the screen"
            assert float(row[ACCURACY].text) == pytest.approx(record["final_val_accuracy"], abs=5e-4)
            assert row["tags.`pareto_front`"].text == "true"
        for name in pruned:
            assert rows[name]["tags.`trial_state`"] == GridCell("PRUNED", visible=True)
        assert "Model training" in page and "Runs" in page  # the training view, not GenAI's "Training runs"
        ui.send_signal(signal.SIGTERM)
        out, err = ui.communicate(timeout=60)
        assert ui.returncode == 0 and "Traceback" not in err
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, f"something still listens on port {port}"
        assert not mlflow_server_pids(port)
    finally:
        kill_pids([ui.pid, *mlflow_server_pids(port)])
