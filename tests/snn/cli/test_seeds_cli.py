"""`snn seeds`: real `snn train` processes in parallel, the table over the seeds, finished runs reused and an
interrupted run continued from its checkpoint."""

import json
import statistics

import pytest
import torch

from snn.cli import main
from snn.train import CHECKPOINT, METRICS, load_study, train


def test_trains_the_seeds_in_parallel_and_tabulates_them(tiny_study, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["seeds", str(tiny_study), "--seeds", "0-2", "--jobs", "2", "--out", str(out), "--set", "schedule.epochs=1"]) == 0
    printed = capsys.readouterr().out
    assert "3 runs (0 finished already, 0 to continue, 3 to start); 2 at a time" in printed
    finals = [json.loads((out / f"tiny-seed{s}" / METRICS).read_text())["final"]["test"] for s in range(3)]
    (row,) = json.loads((out / "seeds-tiny.json").read_text())
    assert row["runs"] == 3 and row["seeds"] == [0, 1, 2]
    assert row["accuracy"]["median"] == pytest.approx(100 * statistics.median(f["accuracy"] for f in finals))
    assert row["n_s"]["std"] == pytest.approx(statistics.stdev(f["n_s"] for f in finals))
    assert (out / "seeds-tiny.md").read_text().startswith("| study | runs |")
    assert "done tiny seed 2: accuracy" in printed and "test set over seeds" in printed

    # Again, with one more seed: the three finished runs are reused, not trained again.
    stamps = {s: (out / f"tiny-seed{s}" / METRICS).stat().st_mtime_ns for s in range(3)}
    assert main(["seeds", str(tiny_study), "--seeds", "0-3", "--out", str(out), "--set", "schedule.epochs=1"]) == 0
    assert "4 runs (3 finished already, 0 to continue, 1 to start)" in capsys.readouterr().out
    assert stamps == {s: (out / f"tiny-seed{s}" / METRICS).stat().st_mtime_ns for s in range(3)}
    assert json.loads((out / "seeds-tiny.json").read_text())[0]["seeds"] == [0, 1, 2, 3]


def test_an_interrupted_run_continues_from_its_checkpoint_and_ends_like_an_uninterrupted_one(tiny_study, tmp_path, capsys):
    config = load_study(tiny_study).train.with_overrides({"seed": 1})
    out = tmp_path / "runs"
    stop_after_one = lambda report: (_ for _ in ()).throw(KeyboardInterrupt)  # noqa: E731 - killed after epoch 1
    with pytest.raises(KeyboardInterrupt):
        train(config, out / "tiny-seed1", callback=stop_after_one, progress=False)
    assert (out / "tiny-seed1" / CHECKPOINT).exists()
    assert json.loads((out / "tiny-seed1" / METRICS).read_text())["final"] is None
    # As many threads as this process uses: a thread count fixes the summation order of the weight gradients.
    assert main(["seeds", str(tiny_study), "--seeds", "1", "--out", str(out), "--threads", str(torch.get_num_threads())]) == 0
    assert "1 runs (0 finished already, 1 to continue, 0 to start)" in capsys.readouterr().out
    reference = train(config, tmp_path / "reference", progress=False)
    resumed = json.loads((out / "tiny-seed1" / METRICS).read_text())
    assert len(resumed["epochs"]) == config.schedule.epochs
    assert resumed["final"]["test"] == reference.final["test"]


@pytest.mark.parametrize("arguments, message", [
    (["--seeds", "3-1"], "a seed range must run upwards, got '3-1'"),
    (["--jobs", "0"], "--jobs and --threads must be >= 1"),
    (["--set", "loss.alph=1"], "unknown key train.loss.alph"),
])
def test_bad_arguments_exit_2_with_the_reason(tiny_study, tmp_path, capsys, arguments, message):
    assert main(["seeds", str(tiny_study), "--out", str(tmp_path / "runs"), *arguments]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_a_directory_holding_another_config_s_run_is_refused_and_kept(tiny_study, tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["seeds", str(tiny_study), "--seeds", "0", "--out", str(out), "--set", "schedule.epochs=1"]) == 0
    before = (out / "tiny-seed0" / METRICS).read_bytes()
    capsys.readouterr()
    assert main(["seeds", str(tiny_study), "--seeds", "0", "--out", str(out), "--set", "schedule.epochs=1", "loss.alpha=0.01"]) == 2
    assert "'" + str(out / "tiny-seed0") + "' already holds a run of tiny whose config differs in train.loss.alpha" in capsys.readouterr().err
    assert (out / "tiny-seed0" / METRICS).read_bytes() == before
