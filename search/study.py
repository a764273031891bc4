"""Running a study: validate the study file, lay out its state, start (or join) Ray, and let Tune run the
trials with the prune-aware Optuna searcher and the MLflow/progress callbacks; ``--resume`` (and
``snn-search resume NAME``) restores Tune's experiment (unfinished trials continue from their checkpoints; the
Optuna study and MLflow runs are found again in their stores; what a killed driver left half-done is put
right by search.recovery). A trial whose worker or node dies is retried from its checkpoint up to
``[search] max_retries`` times.

Embedded defaults, so that ``snn-search run study.toml`` works on a laptop: a local Ray on 127.0.0.2 (kept on
loopback, ENVIRONMENT.md) with ``RAY_AUTH_MODE=disabled`` and ``RAY_USAGE_STATS_ENABLED=0`` unless set, an
MLflow SQLite store ``<cwd>/mlflow.db``, study state under ``<cwd>/snn-studies/<name>/``.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.config import SearchConfig
from search.layout import StudyLayout
from search import recovery
from search.mlflow_view import SPACE_PARAM_PREFIX
from search.tracking import StudyTracker, default_tracking_uri, http_tracking_problem

__all__ = ["RunOptions", "StudyRun", "run_study", "resume_study", "prepare_environment", "warm_kernels",
           "check_tracking_reachable", "start_ray"]

_ENV_DEFAULTS = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
# Each epoch's checkpoint replaces the last one (num_to_keep), which makes Tune snapshot its experiment
# state; with short epochs Tune warns about that on every epoch. The snapshot is what makes --resume work.
# Tune's newer console output prints an experiment banner even at verbose=0; the older one is silent there,
# and the live table (search.progress) is the study's console output.
# TUNE_GLOBAL_CHECKPOINT_S: Tune's snapshot (what a resume after a killed driver restores) is at most 2 s
# old instead of up to 10 s ("auto"), so a resumed trial loses at most the epoch it was in.
_DRIVER_ENV_DEFAULTS = {"TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0", "RAY_AIR_NEW_OUTPUT": "0",
                        "TUNE_GLOBAL_CHECKPOINT_S": "2"}


@dataclass
class RunOptions:
    name: str | None = None  # default: the study file's stem
    address: str | None = None  # Ray cluster to join; None = start a local one
    tracking_uri: str | None = None  # default: [search.storage].tracking_uri, else sqlite:///<cwd>/mlflow.db
    resume: bool = False
    root: str | None = None  # default: [search.storage].root, else <cwd>/snn-studies
    num_cpus: int | None = None  # local Ray only; default: all cores
    live: bool = True


@dataclass
class StudyRun:
    layout: StudyLayout
    settings: SearchConfig
    manifest: dict[str, Any]
    summary: dict[str, Any]


def prepare_environment() -> None:
    """Environment that the driver and (by inheritance) the Ray workers need, set only where unset."""
    for key, value in {**_ENV_DEFAULTS, **_DRIVER_ENV_DEFAULTS}.items():
        os.environ.setdefault(key, value)
    # One kernel cache for driver and workers, so the driver's warm build is the workers' build.
    os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(Path.home() / ".cache" / "snn-search" / "torch_extensions"))


def warm_kernels(dtype_name: str = "float64") -> None:
    """Builds (first use on a machine: ~30 s) and calls the LIF kernel once in the driver, so that the trials
    starting together find it compiled instead of all compiling it at once."""
    import torch

    from snn.functional import lif_layer

    dtype = getattr(torch, dtype_name)
    lif_layer(torch.zeros(1, 1, 1, dtype=dtype), torch.ones(1, 1, dtype=dtype), max_spikes=2)


def _resolved_train(study) -> dict[str, Any]:
    """The train table as workers get it: a relative data root is taken relative to the driver's cwd
    (trials run in Tune's own directories)."""
    train = study.train.to_dict()
    root = train["data"].get("root", "")
    if root and not Path(root).is_absolute():
        train["data"]["root"] = str(Path(root).resolve())
    return train


def check_tracking_reachable(uri: str, timeout: float = 10.0) -> None:
    """An HTTP tracking server must answer before a study starts (MLflow's client would retry for minutes,
    and a study that cannot record its trials should not run them)."""
    problem = http_tracking_problem(uri, timeout)
    if problem is not None:
        raise ValueError(f"the MLflow tracking server {uri!r} does not answer ({problem}); start it "
                         f"(`mlflow server --host HOST --port PORT`), or fix --tracking-uri / [search.storage].tracking_uri")


def _open_layout(study, settings: SearchConfig, options: RunOptions, text: str) -> tuple[StudyLayout, dict]:
    name = options.name or study.name
    layout = StudyLayout.at(name, options.root or settings.storage.root or None)
    uri = options.tracking_uri or settings.storage.tracking_uri or None
    if layout.exists():
        if not options.resume:
            raise FileExistsError(f"study {name!r} already exists in {str(layout.dir)!r}; pass --resume to continue it "
                                  f"or --name to start a new one")
        manifest = layout.manifest()
        created_in = manifest.get("study_dir")  # absent in studies made before it was recorded
        if created_in and Path(created_in) != layout.dir.resolve():
            raise ValueError(f"cannot resume {name!r} in {str(layout.dir)!r}: the study was created in {created_in!r} "
                             f"and has been moved or copied, but its Tune experiment, MLflow runs and Optuna storage "
                             f"still point there; resume it in {created_in!r} (move it back), or start a new study "
                             f"with --name")
        if tomllib.loads(layout.study_file.read_text()) != study.raw:
            raise ValueError(f"cannot resume {name!r}: the study file differs from the one it was started with "
                             f"({str(layout.study_file)!r}); start a new study with --name")
        if uri and uri != manifest["tracking_uri"]:
            raise ValueError(f"cannot resume {name!r} with tracking URI {uri!r}: it tracks to {manifest['tracking_uri']!r}")
        check_tracking_reachable(manifest["tracking_uri"])
        return layout, manifest
    check_tracking_reachable(uri or default_tracking_uri())
    manifest = {
        "name": name,
        "study_dir": str(layout.dir.resolve()),
        "study_file": str(Path(study.path).resolve()) if study.path else "",
        "tracking_uri": uri or default_tracking_uri(),
        "optuna_storage": settings.storage.optuna or layout.default_optuna_storage,
        "dataset": study.train.data.dataset,
        "objectives": [o.to_dict() for o in settings.objectives],
        "trials": settings.trials,
        "parent_params": _parent_params(settings),
    }
    layout.create(text, manifest)
    return layout, manifest


def _parent_params(settings: SearchConfig) -> dict[str, str]:
    params = {f"{SPACE_PARAM_PREFIX}{k}": spec.describe() for k, spec in settings.space.items()}
    params.update(trials=settings.trials, concurrency=settings.concurrency, sampler=settings.sampler, seed=settings.seed,
                  objectives=",".join(f"{o.metric}:{o.mode}" for o in settings.objectives),
                  cpus_per_trial=settings.resources.cpus, gpus_per_trial=settings.resources.gpus)
    params.update({f"pruning.{k}": v for k, v in vars(settings.pruning).items()})
    return {k: str(v) for k, v in params.items()}


def _trial_dirname(trial) -> str:
    return trial.trial_id  # short, and the same id names the trial's out_dir and MLflow trial_key


def start_ray(options: RunOptions, tracking_uri: str) -> bool:
    """Starts or joins Ray unless this process is connected already; True when this call connected."""
    import ray

    if ray.is_initialized():
        return False
    common = dict(logging_level=logging.WARNING, log_to_driver=False)
    if options.address:
        env = {k: os.environ[k] for k in ("TORCH_EXTENSIONS_DIR", *_ENV_DEFAULTS) if k in os.environ}
        # The driver is the study's only MLflow writer; the URI still goes to every worker, so that anything
        # a trial logs itself (mlflow.log_*) lands on the same server, not in a node-local ./mlruns.
        env["MLFLOW_TRACKING_URI"] = tracking_uri
        ray.init(address=options.address, runtime_env={"env_vars": env}, **common)
    else:
        # address="local": always a fresh instance, never one a killed driver left behind (or a `ray start`).
        ray.init(address="local", num_cpus=options.num_cpus or os.cpu_count(), _node_ip_address="127.0.0.2",
                 include_dashboard=False, **common)
    return True


def run_study(study_path: str | Path, options: RunOptions | None = None) -> StudyRun:
    from snn.train import load_study

    options = options or RunOptions()
    study = load_study(study_path)
    settings = SearchConfig.from_dict(study.search, train=study.train)
    layout, manifest = _open_layout(study, settings, options, Path(study_path).read_text(encoding="utf-8"))
    # What Tune's last snapshot holds; every unfinished trial's checkpoint must load before anything changes.
    known = recovery.tune_trials(layout.tune_dir) if options.resume else {}
    deleted_checkpoints = recovery.check_checkpoints(layout.tune_dir, known)
    prepare_environment()
    warm_kernels(study.train.network.dtype)

    from ray import tune

    from search.callbacks import TrackingCallback
    from search.progress import LiveProgress
    from search.searcher import make_searcher
    from search.trainable import run_trial

    started = start_ray(options, manifest["tracking_uri"])
    try:
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, base_train=_resolved_train(study), pruning=vars(settings.pruning),
                                 study_dir=str(layout.dir), threads=settings.resources.threads,
                                 gpus=settings.resources.gpus),
            {"cpu": settings.resources.cpus, "gpu": settings.resources.gpus},
        )
        restorable = options.resume and tune.Tuner.can_restore(str(layout.tune_dir))
        orphans = None
        if options.resume:
            # MLflow runs of trials Tune never recorded (driver killed in between) go; their Optuna trials are
            # adopted by the searcher (search.recovery).
            recovery.settle_mlflow_runs(StudyTracker(manifest["tracking_uri"], manifest["name"]), known, study_finished=False)
            if not restorable:
                orphans = recovery.orphan_optuna_trials(manifest["optuna_storage"], manifest["name"], set())
        if restorable:
            recovery.restore_deleted_checkpoints(deleted_checkpoints)
            tuner = tune.Tuner.restore(str(layout.tune_dir), trainable, resume_unfinished=True, resume_errored=False)
        else:
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=make_searcher(settings, study_name=manifest["name"], storage_url=manifest["optuna_storage"],
                                             orphans=orphans),
                    num_samples=settings.trials, max_concurrent_trials=settings.concurrency,
                    trial_dirname_creator=_trial_dirname, reuse_actors=False,
                ),
                run_config=tune.RunConfig(
                    name=layout.tune_dir.name, storage_path=str(layout.dir), verbose=0,
                    callbacks=[TrackingCallback(str(layout.dir)),
                               LiveProgress(manifest["name"], settings.trials, enabled=options.live)],
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),  # the latest and one spare
                    # A trial whose worker (or node) dies restarts from its last checkpoint on any node.
                    failure_config=tune.FailureConfig(max_failures=settings.max_retries),
                ),
            )
        tuner.fit()
    finally:
        if started:
            import ray

            ray.shutdown()
    tracking = TrackingCallback(str(layout.dir))
    tracking.open()
    final = recovery.tune_trials(layout.tune_dir)
    if recovery.study_finished(final, settings.trials):  # nothing may stay RUNNING once the study is done
        recovery.settle_mlflow_runs(tracking._tracker, final, study_finished=True)
        recovery.fail_running_optuna_trials(manifest["optuna_storage"], manifest["name"],
                                            "the study finished while this trial was still RUNNING")
    summary = tracking.refresh()
    return StudyRun(layout, settings, layout.manifest(), summary)


def resume_study(name: str, options: RunOptions | None = None) -> StudyRun:
    """Continues study ``name`` from its own copy of the study file (``<root>/<name>/study.toml``)."""
    from dataclasses import replace

    options = replace(options or RunOptions(), name=name, resume=True)
    layout = StudyLayout.at(name, options.root)
    layout.manifest()  # a clear error when there is no such study
    return run_study(layout.study_file, options)
