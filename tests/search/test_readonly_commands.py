"""The read-only commands answer from the study's snapshot without importing Ray, torch, MLflow or Optuna
(each costs seconds to import here), and `ui` prints its URL before importing MLflow. Each command runs in
a fresh interpreter in which importing a forbidden module fails; the wall times are printed (pytest -s),
with only a generous sanity bound asserted."""

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.search.conftest import build_demo_study
from tests.search.procs import free_port, kill_pids, mlflow_server_pids

# Runs `snn-search ARGS` with the modules named in argv[1] made unimportable, and prints a line when MLflow
# is first imported, so that its place relative to the URL shows in the output.
WRAPPER = """
import sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None  # `import name` now raises ImportError
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "mlflow":
            print("[importing mlflow]", flush=True)
            sys.meta_path.remove(self)
sys.meta_path.insert(0, Watch())
from search.cli import main
sys.exit(main(sys.argv[2:]))
"""
HEAVY = "ray,torch,mlflow,optuna"
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "COLUMNS": "120"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return build_demo_study(tmp_path_factory.mktemp("readonly"))


def command(blocked: str, *args: str) -> list[str]:
    return [sys.executable, "-c", WRAPPER, blocked, *args]


def timed(blocked: str, *args: str) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    done = subprocess.run(command(blocked, *args), capture_output=True, text=True, env=ENV, timeout=120)
    return time.perf_counter() - start, done


def test_list_status_and_pareto_read_the_snapshot_without_heavy_imports(root):
    figures = []
    for args in (["list"], ["status", "demo"], ["pareto", "demo"], ["pareto", "demo", "--format", "json"]):
        seconds, done = timed(HEAVY, *args, "--root", str(root))
        assert done.returncode == 0, done.stderr
        assert "trial_000" in done.stdout or args == ["list"]
        assert "[importing mlflow]" not in done.stdout
        figures.append(f"{' '.join(args)}: {seconds:.2f} s")
        assert seconds < 10  # sanity only; the target (2 s) is shown by the printed figures
    print("\nread-only commands from the snapshot (wall, fresh interpreter):", "; ".join(figures))


def test_a_study_without_snapshot_is_read_from_mlflow_still_without_ray_or_torch(root, tmp_path):
    snapshot = root / "demo" / "snapshot.json"
    shutil.move(snapshot, tmp_path / "snapshot.json")
    try:
        seconds, done = timed("ray,torch", "status", "demo", "--root", str(root))
    finally:
        shutil.move(tmp_path / "snapshot.json", snapshot)
    assert done.returncode == 0, done.stderr
    assert "trial_001" in done.stdout and "[importing mlflow]" in done.stdout
    print(f"\nstatus without a snapshot (reads MLflow and Optuna): {seconds:.2f} s")


def test_ui_prints_its_url_before_importing_mlflow_and_never_imports_ray_or_torch(root):
    port = free_port()
    start = time.perf_counter()
    ui = subprocess.Popen(command("ray,torch", "ui", "demo", "--root", str(root), "--port", str(port)),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True)
    lines, to_url = [], None
    try:
        while not any(line.startswith("ready") for line in lines):
            line = ui.stdout.readline()
            assert line, f"ui exited early: {lines} {ui.stderr.read()}"
            lines.append(line)
            if line.startswith("MLflow UI:") and to_url is None:
                to_url = time.perf_counter() - start
        url_at = next(i for i, line in enumerate(lines) if line.startswith("MLflow UI:"))
        assert url_at < lines.index("[importing mlflow]\n")
        print(f"\nui: URL printed after {to_url:.2f} s")
        assert to_url < 10
    finally:
        ui.send_signal(signal.SIGTERM)
        ui.communicate(timeout=60)
        kill_pids([ui.pid, *mlflow_server_pids(port)])
