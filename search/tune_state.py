"""What Ray Tune's last snapshot of a study holds, read through Tune's public reader (``ExperimentAnalysis``,
which picks the snapshot that ``Tuner.restore`` restores from).

Tune snapshots its experiment (trials, searcher, callbacks) every few seconds, while Optuna and MLflow are
written as things happen; a resume restores this snapshot, so it is the reference the other stores are put
in line with (search.recovery).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snn.errors import UserError

__all__ = ["SnapshotTrial", "read_tune_snapshot", "FINISHED_TUNE_STATES", "study_finished"]

FINISHED_TUNE_STATES = ("TERMINATED", "ERROR")


@dataclass(frozen=True)
class SnapshotTrial:
    trial_id: str
    status: str  # Tune's: PENDING, RUNNING, PAUSED, TERMINATED, ERROR
    checkpoint: Path | None  # the checkpoint folder a resume restores the trial from (None: starts afresh)
    last_result: dict[str, Any]

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_TUNE_STATES


def read_tune_snapshot(tune_dir: str | Path) -> dict[str, SnapshotTrial]:
    """Tune trial id -> its state in the experiment's newest snapshot ({} when there is none yet)."""
    from ray import tune

    tune_dir = Path(tune_dir)
    if not tune_dir.is_dir() or not tune.Tuner.can_restore(str(tune_dir)):
        return {}
    # The reader warns about every trial that has not written a result file yet: expected here, not news.
    quiet = logging.getLogger("ray.tune.analysis.experiment_analysis")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        trials = tune.ExperimentAnalysis(str(tune_dir)).trials
    except Exception as error:  # noqa: BLE001 - Ray's reader raises whatever the damage makes it hit
        raise UserError(f"Tune's experiment state under {str(tune_dir)!r} is unreadable ({type(error).__name__}: "
                        f"{error}); the study cannot be resumed from it: start a new study with --name") from None
    finally:
        quiet.setLevel(level)
    # The checkpoint's folder name, under this tune_dir: the path recorded is where the snapshot was taken.
    return {t.trial_id: SnapshotTrial(t.trial_id, t.status,
                                      tune_dir / t.trial_id / Path(t.checkpoint.path).name if t.checkpoint else None,
                                      dict(t.last_result or {})) for t in trials}


def study_finished(trials: dict[str, SnapshotTrial], planned: int) -> bool:
    return len(trials) >= planned and all(t.finished for t in trials.values())
