"""The driver's part of a study (search.study holds its lock around this): put Tune's last snapshot and the
stores in line, start Ray, build (or restore) the Tuner, run it under the interrupt handler, and settle and
report what it left.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from search import recovery
from search.callbacks import TrackingCallback
from search.config import SearchConfig
from search.interrupts import Interrupted, Interrupts
from search.layout import StudyLayout
from search.manifest import StudyManifest
from search.progress import LIVE_ENV, LiveProgress
from search.runtime import prepare_environment, quiet_tune, start_ray, warm_kernels
from search.tracking import StudyTracker
from search.tune_state import read_tune_snapshot

__all__ = ["drive_study", "resolved_train"]


def resolved_train(study) -> dict[str, Any]:
    """The train table as workers get it: a relative data root is taken relative to the driver's cwd
    (trials run in Tune's own directories)."""
    train = study.train.to_dict()
    root = train["data"].get("root", "")
    if root and not Path(root).is_absolute():
        train["data"]["root"] = str(Path(root).resolve())
    return train


def _trial_dirname(trial) -> str:
    return trial.trial_id  # short, and the same id names the trial's out_dir and MLflow trial_key


def _tuner(study, settings: SearchConfig, layout: StudyLayout, manifest: StudyManifest, resume: bool):
    from ray import tune

    from search.scheduler import make_scheduler
    from search.searcher import make_searcher
    from search.trainable import run_trial

    halving = settings.early_stopping
    trainable = tune.with_resources(
        tune.with_parameters(run_trial, base_train=resolved_train(study), pruning=vars(settings.pruning),
                             study_dir=str(layout.dir), threads=settings.resources.threads,
                             gpus=settings.resources.gpus, seeds=settings.seeds,
                             rungs=halving.rungs if halving.enabled else (), branching=settings.branching.enabled),
        {"cpu": settings.resources.cpus, "gpu": settings.resources.gpus},
    )
    if resume and tune.Tuner.can_restore(str(layout.tune_dir)):
        return tune.Tuner.restore(str(layout.tune_dir), trainable, resume_unfinished=True, resume_errored=False)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=make_searcher(settings, study_name=manifest.name, storage_url=manifest.optuna_storage,
                                     study_dir=str(layout.dir)),
            scheduler=make_scheduler(settings, layout.dir, manifest.hypervolume_reference),
            num_samples=settings.trials, max_concurrent_trials=settings.concurrency,
            trial_dirname_creator=_trial_dirname, reuse_actors=False,
        ),
        run_config=tune.RunConfig(
            name=layout.tune_dir.name, storage_path=str(layout.dir), verbose=0,
            callbacks=[TrackingCallback(str(layout.dir)), LiveProgress(manifest.name, settings.trials, settings.objectives)],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),  # the latest and one spare
            # A trial whose worker (or node) dies restarts from its last checkpoint on any node.
            failure_config=tune.FailureConfig(max_failures=settings.max_retries),
        ),
    )


def drive_study(study, settings: SearchConfig, layout: StudyLayout, manifest: StudyManifest, options) -> tuple[dict, int | None]:
    """Runs the study to its end or to an interrupt; returns (summary, the interrupting signal or None)."""
    from search.study import resume_command, settle_finished_study

    # What Tune's last snapshot holds; every unfinished trial's checkpoint must load before anything changes.
    snapshot = read_tune_snapshot(layout.tune_dir) if options.resume else {}
    deleted_checkpoints = recovery.check_checkpoints(layout.tune_dir, snapshot)
    prepare_environment()
    os.environ[LIVE_ENV] = "1" if options.live else "0"  # the callbacks may come back pickled from a first run
    interrupted_by = None
    with Interrupts() as interrupts:
        warm_kernels(study.train.network.dtype)
        started = False
        try:
            started = start_ray(options.address, manifest.tracking_uri, options.num_cpus)
            interrupts.install()  # after Ray's own SIGTERM handler
            if options.resume:
                # MLflow runs of trials Tune never recorded (driver killed in between) go; their Optuna trials
                # are adopted by the searcher.
                recovery.settle_mlflow_runs(StudyTracker(manifest.tracking_uri, manifest.name), snapshot,
                                            study_finished=False)
                recovery.restore_deleted_checkpoints(deleted_checkpoints)
            quiet_tune()
            tuner = _tuner(study, settings, layout, manifest, options.resume)
            with interrupts.tune_running():
                tuner.fit()
        except Interrupted as stop:  # a second signal, or one before Tune could stop gracefully
            interrupted_by = stop.signum
        finally:
            if started:
                import ray

                ray.shutdown()
    interrupted_by = interrupted_by or interrupts.received
    if interrupted_by is not None:
        StudyTracker(manifest.tracking_uri, manifest.name).mark_interrupted(resume_command(layout))
    else:
        settle_finished_study(layout, layout.manifest(), settings.trials)
    return TrackingCallback(str(layout.dir)).refresh(reread=True), interrupted_by
