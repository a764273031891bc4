"""Recovering a study whose driver died (SIGKILL, a lost head node): bringing the checkpoints, the MLflow runs
and the Optuna study in line with Tune's last snapshot (search.tune_state) before and after a resume.

A driver killed between Tune's snapshot and its next one leaves *orphans*: an Optuna trial asked for (and an
MLflow run opened) for a Tune trial that the snapshot does not hold. The searcher adopts orphaned Optuna
trials (search.searcher); their MLflow runs, which no Tune trial will ever finish, are deleted (MLflow's
trash: restorable) after being tagged with the reason. Before a resume, the checkpoint Tune will restore each
unfinished trial from is loaded once, so that a corrupt checkpoint stops the resume with a clear error before
anything changes; one that the killed driver deleted after its last snapshot is replaced by the trial's
newest checkpoint that loads (Tune itself would fail the trial on every retry).
"""

from __future__ import annotations

import logging
from pathlib import Path

from snn.errors import UserError
from search.outcome import FAILED
from search.tune_state import SnapshotTrial

__all__ = ["check_checkpoints", "restore_deleted_checkpoints", "fail_running_optuna_trials", "settle_mlflow_runs"]

logger = logging.getLogger(__name__)
_NEW_STUDY = "or start a new study with --name"


def _load_error(checkpoint_dir: Path) -> Exception | None:
    from snn.train import CHECKPOINT
    from snn.train.checkpoint import load_checkpoint

    try:
        load_checkpoint(checkpoint_dir / CHECKPOINT)  # weights_only: a checkpoint is plain tensors and numbers
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        return error
    return None


def check_checkpoints(tune_dir: str | Path, snapshot: dict[str, SnapshotTrial]) -> dict[Path, Path]:
    """Loads the checkpoint Tune will restore each unfinished trial from; raises UserError naming the trial,
    the file and the fix. A driver killed after its last snapshot may already have deleted that checkpoint
    (Tune keeps the newest two, and several epochs can pass between snapshots): such a trial continues from
    its newest checkpoint that loads. Returns those replacements (folder Tune expects -> folder to copy
    there) for ``restore_deleted_checkpoints``; checking changes nothing."""
    from snn.train import CHECKPOINT

    replacements: dict[Path, Path] = {}
    for trial in snapshot.values():
        if trial.finished:
            continue
        trial_dir = Path(tune_dir) / trial.trial_id
        expected = trial.checkpoint
        if expected is None:
            result = trial_dir / "result.json"
            if result.exists() and result.stat().st_size > 0 and not any(trial_dir.glob("checkpoint_*")):
                raise UserError(f"cannot resume: trial {trial.trial_id} reported epochs but has no checkpoint under "
                                f"{str(trial_dir)!r}; restore it from a backup, {_NEW_STUDY}")
            continue  # no checkpoint in Tune's snapshot: the trial starts afresh
        if expected.exists():
            if (error := _load_error(expected)) is not None:
                raise UserError(f"cannot resume: trial {trial.trial_id}'s checkpoint {str(expected / CHECKPOINT)!r} is "
                                f"missing or corrupt ({type(error).__name__}: {error}); restore it from a backup, "
                                f"delete the folder {str(expected)!r} to resume from the trial's newest other "
                                f"checkpoint, {_NEW_STUDY}")
            continue
        saved = sorted(trial_dir.glob("checkpoint_*"), key=lambda p: p.name, reverse=True)
        newest = next((d for d in saved if _load_error(d) is None), None)
        if newest is None:
            raise UserError(f"cannot resume: trial {trial.trial_id}'s checkpoint {str(expected)!r} (the one Tune's "
                            f"last snapshot names) is gone and no other checkpoint under {str(trial_dir)!r} loads; "
                            f"restore one from a backup, {_NEW_STUDY}")
        replacements[expected] = newest
    return replacements


def restore_deleted_checkpoints(replacements: dict[Path, Path]) -> None:
    """Puts a copy of each replacement where Tune's snapshot expects the deleted checkpoint; the trial then
    continues from that (newer) state, which is complete in itself (weights, optimiser, metrics.json)."""
    import shutil

    for expected, newest in replacements.items():
        shutil.copytree(newest, expected)
        logger.warning("trial %s: checkpoint %s, named by Tune's last snapshot, was deleted after it; the trial "
                       "continues from %s", expected.parent.name, expected.name, newest.name)


def fail_running_optuna_trials(storage_url: str, study_name: str, reason: str) -> int:
    """Once the study has finished, an Optuna trial still RUNNING has nobody left to finish it: FAIL it."""
    import optuna

    from search.storage import make_storage

    storage = make_storage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # never created: no trial was asked for
        return 0
    study_id = storage.get_study_id_from_name(study_name)
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, "fail_reason", reason)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
    return len(running)


def settle_mlflow_runs(tracker, snapshot: dict[str, SnapshotTrial], *, study_finished: bool) -> list[str]:
    """Deletes child runs of trials Tune does not know (orphans); when the study has finished, also ends any
    child run left unfinished as FAILED with a reason. Returns the run ids it changed."""
    if tracker.find_parent() is None:
        return []
    changed = []
    for run in tracker.child_runs():
        key = run.data.tags.get("trial_key", "")
        if key not in snapshot:
            tracker.discard_run(run.info.run_id, "the study's driver stopped before Ray Tune recorded this trial; "
                                                 "its parameters went to the next trial")
            changed.append(run.info.run_id)
        elif study_finished and run.info.status in ("RUNNING", "KILLED"):
            tracker.end_run(run.info.run_id, FAILED, {"fail_reason": f"the study finished with this trial "
                                                                     f"{snapshot[key].status} in Tune"})
            changed.append(run.info.run_id)
    return changed
