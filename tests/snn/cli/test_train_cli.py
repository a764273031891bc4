import json
import subprocess
import sys
from pathlib import Path

import pytest

from snn.cli import main
from snn.cli.common import parse_assignment
from snn.train import CHECKPOINT, METRICS, load_study, train
from snn.train.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[3]


def test_train_writes_the_run_and_a_summary(tiny_study, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", str(tiny_study), "--out", str(out), "--set", "loss.alpha=1e-3", "schedule.epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "epoch 1/1" in printed and "test accuracy" in printed and str(out) in printed
    metrics = json.loads((out / METRICS).read_text())
    assert len(metrics["epochs"]) == 1 and metrics["final"]["test"]["accuracy"] >= 0
    config = load_checkpoint(out / CHECKPOINT)["config"]
    assert config["loss"]["alpha"] == 1e-3 and config["schedule"]["epochs"] == 1


def test_default_out_dir_and_seed(tiny_study, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", str(tiny_study), "--seed", "9", "--set", "schedule.epochs=1", "--quiet"]) == 0
    out = tmp_path / "runs" / "tiny-seed9"
    assert load_checkpoint(out / CHECKPOINT)["config"]["seed"] == 9
    assert "epoch 1/1" not in capsys.readouterr().out  # --quiet: the summary only


@pytest.mark.parametrize(
    "sets, message",
    [
        (["loss.alph=1"], "unknown key train.loss.alph"),
        (["loss.alpha=-1.0"], "train.loss.alpha must be >= 0, got -1.0"),
        (["loss.alpha=abc"], "train.loss.alpha must be a number, got 'abc'"),
        (["schedule.epochs=0"], "train.schedule.epochs must be >= 1"),
        (["data.dataset=cifar"], "train.data.dataset must be one of"),
        (["alpha"], "--set expects KEY=VALUE"),
    ],
)
def test_bad_overrides_exit_2_naming_the_key(tiny_study, tmp_path, capsys, sets, message):
    assert main(["train", str(tiny_study), "--out", str(tmp_path / "x"), "--set", *sets]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_bad_study_file_exits_2(tmp_path, capsys):
    assert main(["train", str(tmp_path / "missing.toml")]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[train.network]\nsizes = [5, 3]\n")
    assert main(["train", str(bad)]) == 2
    assert "train.network.init_ranges must have 1 entry, got 4" in capsys.readouterr().err


def test_an_internal_error_shows_its_traceback_and_exits_1(tiny_study, tmp_path, monkeypatch, capsys):
    # A bug is no user error, even when it is a ValueError: its traceback is shown, not a one-line message.
    import snn.train

    def broken(*args, **kwargs):
        raise ValueError("an internal inconsistency")

    monkeypatch.setattr(snn.train, "train", broken)
    assert main(["train", str(tiny_study), "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and "ValueError: an internal inconsistency" in err
    assert err.rstrip().endswith("snn train: internal error: the traceback above is a bug in snn, not a mistake in "
                                 "the input; please report it with the traceback")


def test_a_corrupt_checkpoint_is_refused_on_resume_and_kept(tiny_study, tmp_path, capsys):
    out = tmp_path / "run"
    train(load_study(tiny_study).train, out, progress=False, evaluate_test=False, callback=lambda r: "pause")
    torn = (out / CHECKPOINT).read_bytes()[:1000]
    (out / CHECKPOINT).write_bytes(torn)
    assert main(["train", str(tiny_study), "--resume", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"the checkpoint {str(out / CHECKPOINT)!r} is corrupt or not a checkpoint (" in err
    assert "restore it from a backup, or delete it to start that run again" in err and "Traceback" not in err
    assert (out / CHECKPOINT).read_bytes() == torn


def test_argparse_usage_errors_exit_2(capsys):
    assert main(["train"]) == 2
    assert main(["nonsense"]) == 2
    assert main(["train", "--help"]) == 0
    assert "--resume" in capsys.readouterr().out


def test_parse_assignment_reads_toml_literals():
    assert parse_assignment("loss.alpha=1e-3") == ("loss.alpha", 1e-3)
    assert parse_assignment("schedule.epochs=5") == ("schedule.epochs", 5)
    assert parse_assignment("network.sizes=[5, 10, 3]") == ("network.sizes", [5, 10, 3])
    assert parse_assignment('device="cuda:0"') == ("device", "cuda:0")
    assert parse_assignment("data.dataset=mnist") == ("data.dataset", "mnist")  # bare word: a string
    assert parse_assignment("data.augment=false") == ("data.augment", False)


def test_existing_run_needs_resume_and_resume_continues_it(tiny_study, tmp_path, capsys):
    out = tmp_path / "run"
    config = load_study(tiny_study).train
    train(config, out, progress=False, evaluate_test=False, callback=lambda r: "pause")
    assert main(["train", str(tiny_study), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"--resume {out}" in err and len(err.splitlines()) == 1
    assert main(["train", str(tiny_study), "--resume", str(out), "--set", "loss.alpha=0.5"]) == 2
    assert "differs from the checkpoint's in train.loss.alpha" in capsys.readouterr().err
    assert main(["train", str(tiny_study), "--resume", str(out), "--quiet"]) == 0
    assert [e["epoch"] for e in json.loads((out / METRICS).read_text())["epochs"]] == [0, 1]
    assert main(["train", str(tiny_study), "--resume", str(out), "--out", str(tmp_path / "other")]) == 2


def test_console_entry_point_exit_code_without_traceback(tiny_study, tmp_path):
    # As the installed `snn` script runs it: a fresh interpreter, sys.exit(main()).
    child = subprocess.run(
        [sys.executable, "-c", "import sys; from snn.cli import main; sys.exit(main())",
         "train", str(tiny_study), "--set", "loss.alpha=-1"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert child.returncode == 2
    assert "train.loss.alpha must be >= 0, got -1.0" in child.stderr and "Traceback" not in child.stderr
