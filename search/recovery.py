"""Recovering a study whose driver died (SIGKILL, a lost head node): what Tune's last snapshot knows, and
bringing the Optuna study, the MLflow runs and the checkpoints in line with it before and after a resume.

Tune snapshots its experiment (trials, searcher, callbacks) every few seconds, while Optuna and MLflow are
written as things happen. A driver killed between the two leaves *orphans*: an Optuna trial asked for (and
an MLflow run opened) for a Tune trial that the snapshot does not hold. The searcher adopts orphaned Optuna
trials for the next trials it is asked for (the study keeps exactly ``trials`` trials and the sampler its
history); their MLflow runs, which no Tune trial will ever finish, are deleted (MLflow's trash: restorable)
after being tagged with the reason. Before a resume, the checkpoint of every unfinished trial is loaded
once, so that a corrupt or missing checkpoint stops the resume with a clear error before anything changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["tune_trials", "check_checkpoints", "orphan_optuna_trials", "settle_mlflow_runs", "study_finished",
           "fail_running_optuna_trials",
           "FINISHED_TUNE_STATES"]

FINISHED_TUNE_STATES = ("TERMINATED", "ERROR")


def _newest_state(tune_dir: Path) -> Path | None:
    states = sorted(Path(tune_dir).glob("experiment_state-*.json"), key=lambda p: p.stat().st_mtime)
    return states[-1] if states else None


def tune_trials(tune_dir: str | Path) -> dict[str, str]:
    """Tune trial id -> status in the experiment's newest snapshot ({} when there is none)."""
    path = _newest_state(Path(tune_dir))
    if path is None:
        return {}
    try:
        state = json.loads(path.read_text())
        trials = {}
        for trial_json, _runtime in state["trial_data"]:
            trial = json.loads(trial_json)
            trials[str(trial["trial_id"])] = str(trial["status"])
        return trials
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"Tune's experiment state {str(path)!r} is unreadable ({error}); the study cannot be "
                         f"resumed from it: start a new study with --name") from None


def _latest_checkpoint(trial_dir: Path) -> Path | None:
    found = sorted(trial_dir.glob("checkpoint_*"), key=lambda p: p.name)
    return found[-1] if found else None


def check_checkpoints(tune_dir: str | Path, trials: dict[str, str]) -> None:
    """Loads the latest checkpoint of every unfinished trial that has reported (a trial that never reported
    starts afresh and needs none); raises ValueError naming the trial, the file and the fix."""
    import torch

    from snn.train import CHECKPOINT

    for trial_id, status in trials.items():
        if status in FINISHED_TUNE_STATES:
            continue
        trial_dir = Path(tune_dir) / trial_id
        reported = (trial_dir / "result.json").exists() and (trial_dir / "result.json").stat().st_size > 0
        latest = _latest_checkpoint(trial_dir)
        if latest is None:
            if reported:
                raise ValueError(f"cannot resume: trial {trial_id} reported epochs but has no checkpoint under "
                                 f"{str(trial_dir)!r}; restore it from a backup, or start a new study with --name")
            continue
        path = latest / CHECKPOINT
        try:
            torch.load(path, map_location="cpu", weights_only=False)
        except Exception as error:  # noqa: BLE001 - any unreadable file is the same user-facing problem
            raise ValueError(f"cannot resume: trial {trial_id}'s checkpoint {str(path)!r} is missing or corrupt "
                             f"({type(error).__name__}: {error}); restore it from a backup, delete the folder "
                             f"{str(latest)!r} to resume from the one before, or start a new study with --name") from None


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
