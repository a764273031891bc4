"""`snn-search ui` as a user runs it (a subprocess, a real MLflow server on loopback): the URL of the study's
view, a busy port refused before anything is printed, and Ctrl-C or SIGTERM stopping every server process
without a traceback. What the page shows is tested in a browser (test_ui_browser.py)."""

import json
import os
import signal
import socket
import subprocess
import sys
from urllib.parse import parse_qs, urlparse

import pytest
from mlflow.tracking import MlflowClient

from tests.search.conftest import build_demo_study
from tests.search.procs import free_port, kill_pids, mlflow_server_pids, wait_for

ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return build_demo_study(tmp_path_factory.mktemp("ui"))


def start_ui(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "search.cli", "ui", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def read_until(process: subprocess.Popen, marker: str, lines: list[str]) -> None:
    while not any(marker in line for line in lines):
        line = process.stdout.readline()
        assert line, f"ui exited before printing {marker!r}: {lines} {process.stderr.read()}"
        lines.append(line)


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_ui_prints_the_view_url_and_stopping_it_stops_the_server(root, how):
    port = free_port()
    args = ["demo", "--root", str(root), "--port", str(port)] if how == signal.SIGTERM else ["--root", str(root), "--port", str(port)]
    ui = start_ui(*args)
    lines: list[str] = []
    try:
        read_until(ui, "ready", lines)
        url = lines[0].split("MLflow UI: ", 1)[1].strip() if how == signal.SIGTERM else lines[1].split("demo: ", 1)[1].strip()
        page = urlparse(url)
        assert (page.scheme, page.netloc) == ("http", f"127.0.0.1:{port}")
        route, _, query = page.fragment.partition("?")
        experiment_id = route.split("/")[2]
        assert route == f"/experiments/{experiment_id}/runs"
        assert parse_qs(query) == {"viewStateShareKey": ["snn-search-trials"], "workflowType": ["machine_learning"]}
        tags = MlflowClient(f"sqlite:///{root.parent / 'mlflow.db'}").get_experiment(experiment_id).tags
        view = json.loads(json.loads(tags["mlflow.sharedViewState.snn-search-trials"])["state"])
        assert view["selectedColumns"][:2] == ["metrics.`final_val_accuracy`", "metrics.`final_val_n_s`"]
        assert tags["mlflow.experimentKind"] == "custom_model_development"
        assert listening(port) and mlflow_server_pids(port)
        ui.send_signal(how)  # to the command only, as a terminal's Ctrl-C or a `kill` reaches it
        out, err = ui.communicate(timeout=60)
        assert ui.returncode == 0 and "Traceback" not in err and "stopping the MLflow UI" in out
        assert not listening(port) and not mlflow_server_pids(port)
    finally:
        kill_pids([ui.pid, *mlflow_server_pids(port)])


def test_a_busy_port_is_an_error_that_names_it_before_any_url(root):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ui = start_ui("demo", "--root", str(root), "--port", str(port))
        try:
            out, err = ui.communicate(timeout=60)
        finally:
            kill_pids([ui.pid])
    assert ui.returncode == 2 and "MLflow UI" not in out
    assert f"port {port} on 127.0.0.1 is in use" in err and f"--port {port + 1}" in err


def test_a_study_made_before_the_view_gets_it_when_ui_opens_it(root, tmp_path):
    """Studies tracked before the view existed have no view tags: `ui` adds them before serving."""
    client = MlflowClient(f"sqlite:///{root.parent / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("demo")
    for key in ("mlflow.sharedViewState.snn-search-trials", "mlflow.experimentKind"):
        client.delete_experiment_tag(experiment.experiment_id, key)
    port = free_port()
    ui = start_ui("demo", "--root", str(root), "--port", str(port))
    try:
        wait_for(lambda: "mlflow.experimentKind" in client.get_experiment(experiment.experiment_id).tags, 60, "the view tags")
        assert "mlflow.sharedViewState.snn-search-trials" in client.get_experiment(experiment.experiment_id).tags
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.communicate(timeout=60)
        kill_pids([ui.pid, *mlflow_server_pids(port)])
