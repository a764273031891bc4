"""`snn-search doctor`: the checklist on a real local Ray (one task per node), and the rules it applies."""

import subprocess
import sys

from search.doctor import gpu_check, storage_checks
from tests.search.conftest import tiny_study_text
from tests.search.procs import free_port

CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]


def test_sqlite_is_refused_for_several_nodes_and_accepted_for_one():
    one = storage_checks("sqlite:////x/mlflow.db", "sqlite:////x/optuna.db", 1)
    assert all(c.passed for c in one)
    two = storage_checks("sqlite:////x/mlflow.db", "postgresql://u@db/optuna", 2)
    assert [c.passed for c in two] == [False, True]
    assert "mlflow server" in two[0].fix
    assert storage_checks("http://tracking:5000", "journal:///shared/optuna.journal", 3)[1].passed


def test_gpu_fractions_must_fill_a_gpu_and_need_gpus():
    assert gpu_check(0.25, 1).passed and gpu_check(0.0, 0).passed and gpu_check(2, 4).passed
    assert not gpu_check(0.3, 1).passed and "1/k" in gpu_check(0.3, 1).fix
    assert not gpu_check(0.5, 0).passed


def test_doctor_runs_its_checks_on_the_nodes_and_reports_a_failure_with_a_fix(tmp_path):
    (tmp_path / "tiny.toml").write_text(tiny_study_text(2))
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = subprocess.run([*CLI, "doctor", "tiny.toml", "--tracking-uri", uri], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, start_new_session=True)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert "[PASS] Ray cluster reachable" in out
    assert "builds and runs the LIF kernel" in out and "[FAIL]" in out
    lines = out.splitlines()
    kernel = [line for line in lines if "LIF kernel" in line]
    assert kernel and all(line.startswith("[PASS]") for line in kernel), out
    optuna = [line for line in lines if "reaches the Optuna storage" in line]
    assert optuna and all(line.startswith("[PASS]") for line in optuna), out
    tracking = [i for i, line in enumerate(lines) if "reaches the MLflow tracking URI" in line]
    assert tracking and lines[tracking[0]].startswith("[FAIL]") and "fix:" in lines[tracking[0] + 1], out
