"""A trial of two seeds whose worker is killed mid-run (SIGKILL) is retried by Tune from its checkpoint, which
holds every seed's run folder: both seeds continue from the same epoch, and each ends bit for bit as if never
interrupted; MLflow logs every epoch once."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from search.study import RunOptions, run_study
from search.trainable import read_attempts
from snn.train import load_study
from snn.train.lockstep import train_lockstep
from tests.search.conftest import edit_study, tiny_study_text
from tests.search.consistency import assert_study_consistent
from tests.search.test_driver_crash_e2e import epochs_of
from tests.snn.train.test_checkpoint_resume import _assert_same_run

EPOCHS, SAMPLES, KILL_AT = 24, 2000, 4  # a seed epoch takes ~0.2 s: the worker is caught at epoch 4+ of 24
pytestmark = pytest.mark.slow


def kill_mid_run(study_dir: Path, seen: dict) -> None:
    """Kills the worker of the first trial (its pid is in the trial's attempts record) once both its seeds
    have trained KILL_AT epochs, and keeps what the seeds had trained by then."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        for trial_dir in (study_dir / "trials").glob("*"):
            seeds = [trial_dir / "seed0", trial_dir / "seed1"]
            attempts = read_attempts(study_dir, trial_dir.name)
            if len(attempts) == 1 and all(len(epochs_of(d)[0]) >= KILL_AT for d in seeds):
                os.kill(attempts[0]["pid"], signal.SIGKILL)
                seen.update(trial=trial_dir.name, before={d.name: epochs_of(d)[0] for d in seeds})
                return
        time.sleep(0.1)


def test_a_killed_trial_continues_every_seed_from_its_checkpoint(tmp_path):
    text = edit_study(tiny_study_text(2, epochs=EPOCHS, switch_epoch=EPOCHS // 2, train_samples=SAMPLES),
                      ("concurrency = 2\n", "concurrency = 1\nseeds = 2\n"))
    (tmp_path / "tiny.toml").write_text(text)
    study_dir = tmp_path / "studies" / "tiny"
    seen: dict = {}
    killer = threading.Thread(target=kill_mid_run, args=(study_dir, seen), daemon=True)
    killer.start()
    result = run_study(tmp_path / "tiny.toml", RunOptions(root=str(tmp_path / "studies"), live=False, num_cpus=2,
                                                          tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}"))
    killer.join(timeout=5)
    assert seen, "the trial finished before its worker could be killed"

    attempts = read_attempts(study_dir, seen["trial"])
    assert len(attempts) == 2 and attempts[1]["resumed_epochs"] >= 1, attempts  # retried from a checkpoint
    resumed = attempts[1]["resumed_epochs"]
    trial_dir = study_dir / "trials" / seen["trial"]
    for seed in ("seed0", "seed1"):  # both seeds from the same epoch, what they had trained before kept
        assert epochs_of(trial_dir / seed)[0][:resumed] == seen["before"][seed][:resumed]
        assert len(epochs_of(trial_dir / seed)[0]) == EPOCHS

    # Each seed ends as the uninterrupted lockstep of the trial's setting (the paper's start point) ends.
    base = load_study(tmp_path / "tiny.toml").train.with_overrides({"loss.alpha": 3.5e-3, "network.threshold": 1.0})
    alone = [tmp_path / "alone0", tmp_path / "alone1"]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the trial (cpus = 1): the kernel's sums run in the same order
    try:
        train_lockstep([base.with_overrides({"seed": s}) for s in (0, 1)], alone)
    finally:
        torch.set_num_threads(threads)
    _assert_same_run(trial_dir / "seed0", alone[0])
    _assert_same_run(trial_dir / "seed1", alone[1])
    assert_study_consistent(result.manifest, 2)
