"""The `snn-search` commands in-process (and `ui` as a subprocess) on a study state made by the real
components (layout, tracking callback, MLflow SQLite store) without running Ray."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from search.callbacks import TrackingCallback
from search.cli import main
from search.layout import StudyLayout
from search.manifest import StudyManifest
from search.objectives import DEFAULT_OBJECTIVES
from search.outcome import Outcome
from search.tracking import StudyTracker
from tests.search.conftest import edit_study, tiny_study_text
from tests.search.procs import free_port

# (accuracy, N_S, state)
TRIALS = [(0.90, 1.0, "COMPLETE"), (0.33, 0.0, "PRUNED"), (0.80, 0.5, "COMPLETE"), (0.70, 2.0, "COMPLETE")]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("cli")  # the commands only read the study: build it once
    layout = StudyLayout.at("demo", tmp_path / "studies")
    layout.create(tiny_study_text(len(TRIALS)), StudyManifest(
        "demo", str(layout.dir), "", f"sqlite:///{tmp_path / 'mlflow.db'}", layout.default_optuna_storage, "yinyang",
        DEFAULT_OBJECTIVES, len(TRIALS), {"space.loss.alpha": "float[0.0001, 0.01] log"},
        hypervolume_reference=(1 / 3, 5.0)))
    callback = TrackingCallback(str(layout.dir))
    callback.setup()
    tracker = StudyTracker(layout.manifest().tracking_uri, "demo")
    for i, (acc, n_s, state) in enumerate(TRIALS):
        tracker.trial_run(f"id{i}", f"trial_{i:03d}", {"loss.alpha": 0.001 * (i + 1)})
        tracker.log_epoch(f"id{i}", {"val_accuracy": acc, "val_n_s": n_s}, 0)
        saved = 2 if state == "PRUNED" else 0
        tracker.finish_trial(f"id{i}", Outcome(state, "switched off: layer 2 silent fraction 1.00 >= 1 (epoch 0)"
                                               if state == "PRUNED" else ""),
                             {"final_val_accuracy": acc, "final_val_n_s": n_s, "final_test_accuracy": acc,
                              "epochs_run": 3 - saved, "epochs_planned": 3, "epochs_saved": saved}, {})
    callback.refresh(reread=True)
    return tmp_path / "studies"


def test_status_shows_trials_pruning_and_where_to_look(root, capsys):
    assert main(["status", "demo", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "trial_001" in out and "PRUNED" in out and "switched off: layer 2" in out
    assert "Pruned: 1 trial(s) (1 by the pruning rules, 0 dominated at a rung), 2 epoch(s) saved" in out
    # the complete trials' (accuracy, N_S) dominate 0.5 x (0.8 - 1/3) + 4 x (0.9 - 1/3) = 2.5 up to (1/3, 5)
    assert "Hypervolume of the validation front: 2.5 after 10 epoch(s) trained (reference: accuracy 0.333, N_S 5)" in out
    assert 'tags.pareto_front = "true"' in out and f"snn-search ui demo --root {root}" in out


def test_pareto_formats_list_the_same_front(root, capsys):
    assert main(["pareto", "demo", "--root", str(root), "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["trial"] for r in records] == ["trial_000", "trial_002"]  # best accuracy first; pruned trial_001 absent
    assert records[0]["final_val_accuracy"] == 0.9 and records[0]["param:loss.alpha"] == "0.001"
    assert main(["pareto", "demo", "--root", str(root), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("trial,run_id,final_val_accuracy,final_val_n_s") and len(lines) == 3
    assert main(["pareto", "demo", "--root", str(root)]) == 0
    assert "trial_002" in capsys.readouterr().out


def test_parent_run_holds_plots_with_the_paper_points(root):
    artifacts = root / "demo" / "artifacts"
    assert (artifacts / "pareto.png").stat().st_size > 1000
    html = (artifacts / "pareto.html").read_text()
    assert "paper 2-phase" in html and "trial_000" in html
    summary = json.loads((artifacts / "summary.json").read_text())
    assert summary["pruned"] == 1 and [r["trial"] for r in summary["pareto_front"]] == ["trial_000", "trial_002"]


def test_list_shows_the_study(root, capsys):
    assert main(["list", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "demo" in out and "yinyang" in out


def test_user_mistakes_exit_2_with_the_reason(root, tmp_path, capsys):
    assert main(["status", "nope", "--root", str(root)]) == 2
    assert capsys.readouterr().err.startswith("snn-search status: error: no study 'nope' under ")
    assert main(["status", "../x", "--root", str(root)]) == 2
    assert "the study name must be letters, digits" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text(edit_study(tiny_study_text(), ('low = 1e-4, high = 1e-2', 'low = 1e-2, high = 1e-4')))
    assert 'low = 1e-2, high = 1e-4' in bad.read_text()
    assert main(["run", str(bad), "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert "search.space.loss.alpha.high must be >= low = 0.01, got 0.0001; swap low and high" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    again = tmp_path / "demo.toml"
    again.write_text(tiny_study_text(len(TRIALS)))
    assert main(["run", str(again), "--root", str(root)]) == 2
    assert "pass --resume to continue it or --name to start a new one" in capsys.readouterr().err


def test_an_internal_error_shows_its_traceback_and_exits_1(root, monkeypatch, capsys):
    # A bug (here: a manifest of the wrong type) is no user error: the traceback is shown.
    from search.cli import common

    monkeypatch.setattr(common.StudyLayout, "manifest", lambda self: {"name": "demo"})
    assert main(["status", "demo", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "AttributeError: 'dict' object has no attribute 'objectives'" in err
    assert err.rstrip().endswith("snn-search status: internal error: the traceback above is a bug in snn-search, not a "
                                 "mistake in the input; please report it with the traceback")


@pytest.mark.parametrize("command", ["run", "status", "pareto", "list", "ui"])
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    assert "usage: snn-search " + command in capsys.readouterr().out


def test_ui_serves_mlflow_and_prints_the_pareto_url(root):
    port = free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    process = subprocess.Popen(
        [sys.executable, "-c", "import sys; from search.cli import main; sys.exit(main())", "ui", "demo", "--root", str(root), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, start_new_session=True)
    try:
        first = process.stdout.readline()
        assert first.startswith(f"MLflow UI: http://127.0.0.1:{port}/#/experiments/")
        assert first.rstrip().endswith("/runs?searchFilter=tags.pareto_front%20%3D%20%22true%22")
        deadline, healthy = time.monotonic() + 60, False
        while time.monotonic() < deadline and not healthy:
            try:
                healthy = urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).status == 200
            except OSError:
                time.sleep(0.5)
        assert healthy
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the CLI and the mlflow server it started (its own session)
        process.wait(timeout=30)
