"""Recovering a study whose driver died (SIGKILL, a lost head node): what Tune's last snapshot knows, and
bringing the Optuna study, the MLflow runs and the checkpoints in line with it before and after a resume.

Tune snapshots its experiment (trials, searcher, callbacks) every few seconds, while Optuna and MLflow are
written as things happen. A driver killed between the two leaves *orphans*: an Optuna trial asked for (and
an MLflow run opened) for a Tune trial that the snapshot does not hold. The searcher adopts orphaned Optuna
trials for the next trials it is asked for (the study keeps exactly ``trials`` trials and the sampler its
history); their MLflow runs, which no Tune trial will ever finish, are deleted (MLflow's trash: restorable)
after being tagged with the reason. Before a resume, the checkpoint Tune will restore each unfinished trial
from is loaded once, so that a corrupt checkpoint stops the resume with a clear error before anything
changes; one that the killed driver deleted after its last snapshot is replaced by the trial's newest
checkpoint that loads (Tune itself would fail the trial on every retry).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

__all__ = ["tune_trials", "restore_checkpoints", "check_checkpoints", "restore_deleted_checkpoints",
           "orphan_optuna_trials", "settle_mlflow_runs", "study_finished", "fail_running_optuna_trials",
           "FINISHED_TUNE_STATES"]

FINISHED_TUNE_STATES = ("TERMINATED", "ERROR")
logger = logging.getLogger(__name__)


def _newest_state(tune_dir: Path) -> Path | None:
    states = sorted(Path(tune_dir).glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    return states[-1] if states else None


def _snapshot(tune_dir: str | Path) -> list[tuple[str, str, str]]:
    """(trial id, status, runtime metadata JSON) of every trial in Tune's newest snapshot."""
    path = _newest_state(Path(tune_dir))
    if path is None:
        return []
    try:
        trials = []
        for trial_json, runtime in json.loads(path.read_text())["trial_data"]:
            trial = json.loads(trial_json)
            trials.append((str(trial["trial_id"]), str(trial["status"]), runtime))
        return trials
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"Tune's experiment state {str(path)!r} is unreadable ({error}); the study cannot be "
                         f"resumed from it: start a new study with --name") from None


def tune_trials(tune_dir: str | Path) -> dict[str, str]:
    """Tune trial id -> status in the experiment's newest snapshot ({} when there is none)."""
    return {trial_id: status for trial_id, status, _ in _snapshot(tune_dir)}


def restore_checkpoints(tune_dir: str | Path) -> dict[str, str | None]:
    """Tune trial id -> the name of the checkpoint folder Tune restores that trial from (None: it has none and
    starts afresh), as the newest snapshot records it."""
    from ray.tune.trainable.metadata import _TrainingRunMetadata  # the snapshot's own reader (pinned Ray)

    names: dict[str, str | None] = {}
    for trial_id, _, runtime in _snapshot(tune_dir):
        try:
            manager = _TrainingRunMetadata.from_json_state(runtime).checkpoint_manager
        except Exception as error:  # noqa: BLE001 - Ray's reader raises whatever the damage makes it hit
            raise ValueError(f"Tune's experiment state under {str(tune_dir)!r} is unreadable for trial {trial_id} "
                             f"({type(error).__name__}: {error}); the study cannot be resumed from it: start a new "
                             f"study with --name") from None
        latest = manager.latest_checkpoint_result if manager is not None else None
        names[trial_id] = Path(latest.checkpoint.path).name if latest is not None else None
    return names


def _load_error(checkpoint_dir: Path) -> Exception | None:
    import torch

    from snn.train import CHECKPOINT

    try:
        torch.load(checkpoint_dir / CHECKPOINT, map_location="cpu", weights_only=False)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the same user-facing problem
        return error
    return None


def check_checkpoints(tune_dir: str | Path, trials: dict[str, str]) -> dict[Path, Path]:
    """Loads the checkpoint Tune will restore each unfinished trial from; raises ValueError naming the trial,
    the file and the fix. A driver killed after its last snapshot may already have deleted that checkpoint
    (Tune keeps the newest two, and several epochs can pass between snapshots): such a trial continues from
    its newest checkpoint that loads. Returns those replacements (folder Tune expects -> folder to copy
    there) for ``restore_deleted_checkpoints``; checking changes nothing."""
    from snn.train import CHECKPOINT

    names = restore_checkpoints(tune_dir)
    replacements: dict[Path, Path] = {}
    for trial_id, status in trials.items():
        if status in FINISHED_TUNE_STATES:
            continue
        trial_dir = Path(tune_dir) / trial_id
        name = names.get(trial_id)
        if name is None:
            reported = (trial_dir / "result.json").exists() and (trial_dir / "result.json").stat().st_size > 0
            if reported and not any(trial_dir.glob("checkpoint_*")):
                raise ValueError(f"cannot resume: trial {trial_id} reported epochs but has no checkpoint under "
                                 f"{str(trial_dir)!r}; restore it from a backup, or start a new study with --name")
            continue  # no checkpoint in Tune's snapshot: the trial starts afresh
        expected = trial_dir / name
        if expected.exists():
            if (error := _load_error(expected)) is not None:
                raise ValueError(f"cannot resume: trial {trial_id}'s checkpoint {str(expected / CHECKPOINT)!r} is "
                                 f"missing or corrupt ({type(error).__name__}: {error}); restore it from a backup, "
                                 f"delete the folder {str(expected)!r} to resume from the trial's newest other "
                                 f"checkpoint, or start a new study with --name")
            continue
        saved = sorted(trial_dir.glob("checkpoint_*"), key=lambda p: p.name, reverse=True)
        newest = next((d for d in saved if _load_error(d) is None), None)
        if newest is None:
            raise ValueError(f"cannot resume: trial {trial_id}'s checkpoint {str(expected)!r} (the one Tune's last "
                             f"snapshot names) is gone and no other checkpoint under {str(trial_dir)!r} loads; "
                             f"restore one from a backup, or start a new study with --name")
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


def orphan_optuna_trials(storage, study_name: str, known: set[str]) -> list[int]:
    """Optuna trial ids (storage ids) still RUNNING whose Tune trial is not in Tune's snapshot; ``storage``
    is a URL or an Optuna storage."""
    import optuna

    from search.storage import make_storage

    try:
        study = optuna.load_study(study_name=study_name, storage=make_storage(storage) if isinstance(storage, str) else storage)
    except KeyError:
        return []
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    return [t._trial_id for t in running if t.user_attrs.get("tune_trial_id") not in known]


def fail_running_optuna_trials(storage_url: str, study_name: str, reason: str) -> int:
    """Once the study has finished, an Optuna trial still RUNNING has nobody left to finish it: FAIL it."""
    import optuna

    from search.storage import make_storage

    storage = make_storage(storage_url)
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return 0
    running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
    for trial in running:
        storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
        storage.set_trial_state_values(trial._trial_id, optuna.trial.TrialState.FAIL)
    return len(running)


def settle_mlflow_runs(tracker, known: dict[str, str], *, study_finished: bool) -> list[str]:
    """Deletes child runs of trials Tune does not know (orphans); when the study has finished, also ends any
    child run left RUNNING as FAILED with a reason. Returns the run ids it changed."""
    from mlflow.entities import RunTag

    if tracker.find_parent() is None:
        return []
    changed = []
    for run in tracker._search("tags.snn_search_role = 'trial'"):
        key = run.data.tags.get("trial_key", "")
        if key not in known:
            tracker.client.log_batch(run.info.run_id, tags=[RunTag("orphan_reason", "the study's driver stopped before "
                                                                  "Ray Tune recorded this trial; its parameters went to the next trial")])
            tracker.client.set_terminated(run.info.run_id, "KILLED")
            tracker.client.delete_run(run.info.run_id)
            changed.append(run.info.run_id)
        elif study_finished and run.info.status == "RUNNING":
            reason = f"the study finished with this trial {known[key]} in Tune"
            tracker.client.log_batch(run.info.run_id, tags=[RunTag("trial_state", "FAILED"), RunTag("fail_reason", reason)])
            tracker.client.set_terminated(run.info.run_id, "FAILED")
            changed.append(run.info.run_id)
    return changed


def study_finished(trials: dict[str, Any], planned: int) -> bool:
    return len(trials) >= planned and all(s in FINISHED_TUNE_STATES for s in trials.values())
