import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from snn.train import CHECKPOINT, METRICS, train
from snn.train.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint, seed_everything
from tests.snn.train.conftest import TINY

REPO = Path(__file__).resolve().parents[3]


def test_rng_states_round_trip_through_a_checkpoint(tmp_path):
    generator = seed_everything(11)
    save_checkpoint(tmp_path / "c.pt", {"rng": capture_rng_state(generator)})

    def draws():
        return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)],
                torch.randperm(10, generator=generator).tolist())

    first = draws()
    other = seed_everything(99)  # scramble every generator, then restore
    restore_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"], other)
    generator = other
    assert draws() == first


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"epoch": 1})

    def torn_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    assert load_checkpoint(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["c.pt"]  # no temporary file left behind


def _weights(out_dir):
    return load_checkpoint(Path(out_dir) / CHECKPOINT)["model"]


def _assert_same_run(a, b):
    """Bit-identical: every epoch's metrics, the final metrics and the weights (wall times aside)."""
    ma, mb = (json.loads((Path(d) / METRICS).read_text()) for d in (a, b))
    assert [{**e, "seconds": 0} for e in ma["epochs"]] == [{**e, "seconds": 0} for e in mb["epochs"]]
    assert ma["final"] == mb["final"]
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    from snn.train import TrainConfig

    out = tmp_path_factory.mktemp("full")
    train(TrainConfig.from_dict(TINY), out, progress=False)
    return out


# 0: inside phase 1; 1: last epoch of phase 1 (resume starts phase 2's fresh Adam); 2: inside phase 2.
@pytest.mark.parametrize("stop_after", [0, 1, 2])
def test_stop_by_callback_then_resume_is_bit_identical(tmp_path, tiny_config, uninterrupted, stop_after):
    first = train(tiny_config, tmp_path, progress=False,
                  callback=lambda r: "pause" if r.epoch == stop_after else None)
    assert first.stopped_early and first.stop_reason == "pause" and len(first.epochs) == stop_after + 1
    resumed = train(tiny_config, tmp_path, progress=False, resume=True)
    assert not resumed.stopped_early
    assert [r.epoch for r in resumed.epochs] == [0, 1, 2, 3]
    _assert_same_run(tmp_path, uninterrupted)


def test_sigkill_then_resume_is_bit_identical(tmp_path, tiny_config, uninterrupted):
    # The child kills itself with SIGKILL right after epoch 1's checkpoint: no cleanup code runs, as when a
    # node dies or the OOM killer strikes.
    script = textwrap.dedent(f"""
        import os, signal
        from snn.train import TrainConfig, train
        def die(report):
            if report.epoch == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        train(TrainConfig.from_dict({TINY!r}), {str(tmp_path)!r}, progress=False, callback=die)
    """)
    child = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert child.returncode == -9, child.stderr
    assert len(load_checkpoint(tmp_path / CHECKPOINT)["epochs"]) == 2
    train(tiny_config, tmp_path, progress=False, resume=True)
    _assert_same_run(tmp_path, uninterrupted)


def test_resuming_a_finished_run_trains_nothing(tmp_path, tiny_config, uninterrupted):
    import shutil

    shutil.copy(uninterrupted / CHECKPOINT, tmp_path / CHECKPOINT)
    result = train(tiny_config, tmp_path, progress=False, resume=True)
    assert len(result.epochs) == 4
    _assert_same_run(tmp_path, uninterrupted)


def test_resume_refuses_a_different_config(tmp_path, tiny_config):
    train(tiny_config, tmp_path, progress=False, callback=lambda r: "pause")
    changed = tiny_config.with_overrides({"loss.alpha": 1e-2, "seed": 4})
    with pytest.raises(ValueError, match=r"differs from the checkpoint's in train.loss.alpha, train.seed"):
        train(changed, tmp_path, progress=False, resume=True)


def test_fresh_run_refuses_a_directory_holding_a_run(tmp_path, tiny_config):
    train(tiny_config, tmp_path, progress=False, callback=lambda r: "pause")
    with pytest.raises(FileExistsError, match="already holds a run"):
        train(tiny_config, tmp_path, progress=False)


def test_resume_without_checkpoint(tmp_path, tiny_config):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        train(tiny_config, tmp_path, progress=False, resume=True)
