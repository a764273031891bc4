"""The `snn-search` commands in-process on a study state made by the real components (layout, tracking
callback, MLflow SQLite store, snapshot) without running Ray; `ui` is tested in test_ui.py."""

import json
import re
import shutil

import pytest

from search.cli import main
from tests.search.conftest import DEMO_TRIALS, build_demo_study, edit_study, tiny_study_text

@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return build_demo_study(tmp_path_factory.mktemp("cli"))  # the commands only read the study: build it once


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
    assert "paper 2-phase (test)" in html and "trial_000" in html
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
    again.write_text(tiny_study_text(len(DEMO_TRIALS)))
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


def test_status_at_80_columns_keeps_trial_names_whole_and_says_what_it_left_out(root, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["status", "demo", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines if "│" in line or "┃" in line) <= 80
    rows = {line.split()[1]: line for line in lines if line.startswith("│ trial_")}
    assert set(rows) == {f"trial_{i:03d}" for i in range(len(DEMO_TRIALS))}  # every name whole, none cut
    assert "PRUNED" in rows["trial_001"] and "90.00%" in rows["trial_000"]
    assert any("not shown at 80 columns: params / prune reason" in line for line in lines)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal shows every column
    assert main(["status", "demo", "--root", str(root)]) == 0
    wide = capsys.readouterr().out
    assert "not shown" not in wide and "switched off: layer 2" in wide


def test_pareto_table_at_80_columns_keeps_the_trials_and_objectives(root, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main(["pareto", "demo", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "trial_000" in out and "trial_002" in out and "final_val_n_s" in out
    assert max(len(line) for line in out.splitlines()) <= 80


def test_the_snapshot_and_the_stores_give_the_same_answers(root, tmp_path, capsys, monkeypatch):
    """status/pareto/list read the snapshot the driver wrote; a study without one is read from MLflow and
    Optuna, and must read the same."""
    monkeypatch.setenv("COLUMNS", "200")
    outputs = []
    for _ in range(2):
        for command in (["status", "demo"], ["pareto", "demo", "--format", "json"], ["list"]):
            assert main([*command, "--root", str(root)]) == 0
        outputs.append(capsys.readouterr().out)
        snapshot = root / "demo" / "snapshot.json"
        if snapshot.exists():
            shutil.move(snapshot, tmp_path / "snapshot.json")
    shutil.move(tmp_path / "snapshot.json", root / "demo" / "snapshot.json")
    with_snapshot, from_stores = outputs
    assert "snapshot of" in with_snapshot and "snapshot" not in from_stores
    lines = lambda text: [line.rstrip() for line in re.sub(r" \(snapshot of [^)]*\)", "", text).splitlines()]
    assert lines(with_snapshot) == lines(from_stores)


def test_status_shows_spike_overflows_only_for_studies_that_have_them():
    from rich.console import Console

    from search.cli.render import trials_table
    from search.objectives import DEFAULT_OBJECTIVES
    from search.tracking import TrialRow

    def render(rows):
        console = Console(width=200, record=True)
        console.print(trials_table(rows, DEFAULT_OBJECTIVES, "t", 200))
        return console.export_text()

    calm = TrialRow("r0", "trial_000", "COMPLETE", {}, {"final_val_accuracy": 0.9, "final_val_n_s": 1.0})
    flooded = TrialRow("r1", "trial_001", "COMPLETE", {}, {"final_val_accuracy": 0.5, "final_val_n_s": 124.0,
                                                           "spike_overflows": 555643})
    assert "overflows" not in render([calm])
    text = render([calm, flooded])
    assert "overflows" in text and "555643" in next(line for line in text.splitlines() if "trial_001" in line)
