"""Bad input never loses data: a corrupt or a missing checkpoint, a study file that no longer matches the
stored study, an unreachable tracking server. Each is a clear error with a non-zero exit status, and the
stored study (its files, its Optuna trials, its MLflow store) is exactly as before. A checkpoint that the
killed driver deleted after Tune's last snapshot is no error: the trial continues from its newest one."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from search.tune_state import read_tune_snapshot
from search.trainable import read_attempts
from tests.search.conftest import edit_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.procs import free_port, kill_pids, session_pids, wait_for

CLI = [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())"]
ENV = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
pytestmark = pytest.mark.slow  # one real, interrupted study (~40 s) shared by the tests below


def snn_search(*args, cwd):
    return subprocess.run([*CLI, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300,
                          start_new_session=True)


def in_training(study_dir: Path) -> bool:
    """A trial has trained two epochs, is not finished, and the driver has taken both results (Tune's
    result.json, written by the driver, has two lines): Tune then holds the first one's checkpoint at least
    (the newest may still be on its way when the driver stops)."""
    for metrics in (study_dir / "trials").glob("*/metrics.json"):
        try:
            data = json.loads(metrics.read_text())
        except json.JSONDecodeError:
            continue
        result = study_dir / "tune" / metrics.parent.name / "result.json"
        if (len(data["epochs"]) >= 2 and data.get("final") is None and result.exists()
                and len(result.read_text().splitlines()) >= 2):
            return True
    return False


def interrupt_study(base: Path) -> Path:
    """Runs the tiny study in ``base`` and stops it with Ctrl-C while a trial trains; returns ``base``."""
    # 1000 samples and 20 epochs: the paper-setting trial trains for about 5 s, a window the poll cannot miss
    # (200 samples and 12 epochs took about 2 s).
    text = tiny_study_text(2, epochs=20, switch_epoch=10, train_samples=1000)
    (base / "tiny.toml").write_text(text)
    driver = subprocess.Popen([*CLI, "run", "tiny.toml", "--no-live", "--num-cpus", "2"], cwd=base, env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_for(lambda: in_training(base / "snn-studies" / "tiny") or driver.poll() is not None, 240,
                 "a trial in training", interval=0.2)
        assert driver.poll() is None, driver.communicate()[0]
        driver.send_signal(signal.SIGINT)
        output = driver.communicate(timeout=180)[0]
        assert driver.returncode == 130, output  # Ctrl-C: stopped resumably
    finally:
        kill_pids(session_pids(driver.pid))
    return base


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """An interrupted study, shared (read-only) by the tests that damage a copy of it."""
    return interrupt_study(tmp_path_factory.mktemp("bad-input"))


@pytest.fixture
def copy(interrupted, tmp_path):
    """A private copy of the interrupted study (its MLflow store included) for one test to damage."""
    shutil.copytree(interrupted, tmp_path / "w")
    work = tmp_path / "w"
    manifest_file = work / "snn-studies" / "tiny" / "study.json"
    # The manifest holds absolute paths: point them at the copy.
    text = manifest_file.read_text().replace(str(interrupted), str(work))
    manifest_file.write_text(text)
    return work


def fingerprint(work: Path) -> dict:
    """Hash of every file of the study and the MLflow store, and Optuna's trial states."""
    hashes = {str(p.relative_to(work)): hashlib.sha256(p.read_bytes()).hexdigest()
              for p in sorted(work.rglob("*")) if p.is_file()}
    manifest = json.loads((work / "snn-studies" / "tiny" / "study.json").read_text())
    trials = optuna.load_study(study_name="tiny", storage=manifest["optuna_storage"]).get_trials()
    return {"files": hashes, "optuna": [(t.number, t.state.name) for t in trials]}


def restored_checkpoint(work: Path) -> Path:
    """The checkpoint file Tune's snapshot will restore the interrupted trial from."""
    tune_dir = work / "snn-studies" / "tiny" / "tune"
    # The other trial may be unfinished too, still without a checkpoint (not started, or its first one in flight).
    restorable = [t for t in read_tune_snapshot(tune_dir).values() if not t.finished and t.checkpoint is not None]
    assert restorable, "the interrupted study has an unfinished trial with a checkpoint"
    return restorable[0].checkpoint / "checkpoint.pt"


def test_a_corrupt_checkpoint_stops_the_resume_and_changes_nothing(copy):
    path = restored_checkpoint(copy)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a torn write
    before = fingerprint(copy)
    result = snn_search("resume", "tiny", "--no-live", "--num-cpus", "2", cwd=copy)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "corrupt" in result.stderr and str(path) in result.stderr and "Traceback" not in result.stderr
    assert fingerprint(copy) == before


def test_a_missing_checkpoint_stops_the_resume_and_changes_nothing(copy):
    path = restored_checkpoint(copy)
    path.unlink()
    before = fingerprint(copy)
    result = snn_search("resume", "tiny", "--no-live", "--num-cpus", "2", cwd=copy)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "missing or corrupt" in result.stderr and "Traceback" not in result.stderr
    assert fingerprint(copy) == before


def test_a_checkpoint_deleted_after_the_snapshot_is_replaced_by_the_newest_one(tmp_path):
    # A driver killed a few epochs after its last snapshot may have deleted the checkpoint the snapshot names
    # (Tune keeps the newest two): here it is gone and a newer one, with the same training state, is left.
    # A study of its own, not a copy: a resumed copy would track to the original's MLflow store.
    work = interrupt_study(tmp_path)
    folder = restored_checkpoint(work).parent
    newer = folder.with_name("checkpoint_999999")
    folder.rename(newer)
    kept = json.loads((newer / "metrics.json").read_text())["epochs"]
    result = snn_search("resume", "tiny", "--no-live", "--num-cpus", "2", cwd=work)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"checkpoint {folder.name}, named by Tune's last snapshot, was deleted" in result.stderr
    study_dir = work / "snn-studies" / "tiny"
    # Continued from the state it holds (not restarted) and finished (trained on, or pruned).
    assert read_attempts(study_dir, folder.parent.name)[-1]["resumed_epochs"] == len(kept) >= 1
    metrics = json.loads((study_dir / "trials" / folder.parent.name / "metrics.json").read_text())
    assert metrics["final"] is not None and metrics["epochs"][:len(kept)] == kept
    assert_study_consistent(json.loads((study_dir / "study.json").read_text()), 2)


def test_a_changed_study_file_is_refused_on_resume_and_changes_nothing(copy):
    changed = copy / "tiny.toml"
    changed.write_text(edit_study(changed.read_text(), ("trials = 2", "trials = 3")))
    before = fingerprint(copy)
    result = snn_search("run", "tiny.toml", "--resume", "--no-live", "--num-cpus", "2", cwd=copy)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "differs from the one it was started with" in result.stderr
    assert fingerprint(copy) == before


def test_a_moved_study_is_refused_on_resume_and_changes_nothing(interrupted, tmp_path):
    moved = tmp_path / "moved"
    shutil.copytree(interrupted, moved)  # copied as a user would, the manifest untouched
    before, original = fingerprint(moved), fingerprint(interrupted)
    result = snn_search("resume", "tiny", "--no-live", "--num-cpus", "2", cwd=moved)
    assert result.returncode == 2, result.stdout + result.stderr
    created_in = json.loads((moved / "snn-studies" / "tiny" / "study.json").read_text())["study_dir"]
    assert Path(created_in) == (interrupted / "snn-studies" / "tiny").resolve()
    assert "has been moved or copied" in result.stderr and f"resume it in {created_in!r}" in result.stderr
    assert fingerprint(moved) == before and fingerprint(interrupted) == original


def test_an_unreachable_tracking_server_is_refused_before_anything_starts(copy):
    before = fingerprint(copy)
    uri = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = snn_search("run", "tiny.toml", "--name", "other", "--tracking-uri", uri, "--no-live", cwd=copy)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "does not answer" in result.stderr and uri in result.stderr
    assert not (copy / "snn-studies" / "other").exists()  # no half-created study
    assert fingerprint(copy) == before
