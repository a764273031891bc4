"""Running a study: validate the study file, open (or create) its state, hold its lock, and let Tune run the
trials with the study's searcher and the MLflow/progress callbacks.

``--resume`` (and ``snn-search resume NAME``) restores Tune's experiment: unfinished trials continue from
their checkpoints, the Optuna study and MLflow runs are found again in their stores, and what a killed driver
left half-done is put right by search.recovery. A trial whose worker or node dies is retried from its
checkpoint up to ``[search] max_retries`` times. Ctrl-C or SIGTERM stops the study resumably
(search.interrupts). Processes and defaults: search.runtime.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from snn.errors import AlreadyExistsError, UserError
from search import recovery
from search.config import SearchConfig
from search.hypervolume import reference_point
from search.layout import StudyLayout
from search.lock import StudyLock
from search.manifest import StudyManifest
from search.mlflow_view import SPACE_PARAM_PREFIX
from search.tracking import StudyTracker, default_tracking_uri, http_tracking_problem
from search.tune_state import read_tune_snapshot, study_finished

__all__ = ["RunOptions", "StudyRun", "run_study", "resume_study", "check_tracking_reachable", "resume_command"]


@dataclass
class RunOptions:
    name: str | None = None  # default: the study file's stem
    address: str | None = None  # Ray cluster to join; None = start a local one
    tracking_uri: str | None = None  # default: [search.storage].tracking_uri, else sqlite:///<cwd>/mlflow.db
    resume: bool = False
    root: str | None = None  # default: [search.storage].root, else <cwd>/snn-studies
    num_cpus: int | None = None  # local Ray only; default: all cores
    live: bool = True  # a live table in a terminal; otherwise one line per finished trial


@dataclass
class StudyRun:
    layout: StudyLayout
    settings: SearchConfig
    manifest: StudyManifest
    summary: dict[str, Any]
    interrupted_by: int | None = None  # the signal that stopped the study (it is resumable)


def check_tracking_reachable(uri: str, timeout: float = 10.0) -> None:
    """An HTTP tracking server must answer before a study starts (MLflow's client would retry for minutes,
    and a study that cannot record its trials should not run them)."""
    problem = http_tracking_problem(uri, timeout)
    if problem is not None:
        raise UserError(f"the MLflow tracking server {uri!r} does not answer ({problem}); start it "
                        f"(`mlflow server --host HOST --port PORT`), or fix --tracking-uri / [search.storage].tracking_uri")


def resume_command(layout: StudyLayout) -> str:
    """The command that continues the study, with --root when it is not the default one."""
    from search.layout import default_root

    root = layout.dir.parent
    return f"snn-search resume {layout.name}" + ("" if root == default_root() else f" --root {root}")


def _check_resumable(layout: StudyLayout, manifest: StudyManifest, study, uri: str | None) -> None:
    name = layout.name
    if manifest.study_dir and Path(manifest.study_dir) != layout.dir.resolve():
        raise UserError(f"cannot resume {name!r} in {str(layout.dir)!r}: the study was created in {manifest.study_dir!r} "
                        f"and has been moved or copied, but its Tune experiment, MLflow runs and Optuna storage "
                        f"still point there; resume it in {manifest.study_dir!r} (move it back), or start a new study "
                        f"with --name")
    if tomllib.loads(layout.study_file.read_text()) != study.raw:
        raise UserError(f"cannot resume {name!r}: the study file differs from the one it was started with "
                        f"({str(layout.study_file)!r}); start a new study with --name")
    if uri and uri != manifest.tracking_uri:
        raise UserError(f"cannot resume {name!r} with tracking URI {uri!r}: it tracks to {manifest.tracking_uri!r}")


def _open_study(study, settings: SearchConfig, options: RunOptions, text: str) -> tuple[StudyLayout, StudyManifest]:
    from snn.train.config import DATASETS

    layout = StudyLayout.at(options.name or study.name, options.root or settings.storage.root or None)
    uri = options.tracking_uri or settings.storage.tracking_uri or None
    if layout.exists():
        if not options.resume:
            raise AlreadyExistsError(f"study {layout.name!r} already exists in {str(layout.dir)!r}; pass --resume to "
                                     f"continue it or --name to start a new one")
        manifest = layout.manifest()
        _check_resumable(layout, manifest, study, uri)
        check_tracking_reachable(manifest.tracking_uri)
        return layout, manifest
    check_tracking_reachable(uri or default_tracking_uri())
    manifest = StudyManifest(
        name=layout.name, study_dir=str(layout.dir.resolve()),
        study_file=str(Path(study.path).resolve()) if study.path else "",
        tracking_uri=uri or default_tracking_uri(),
        optuna_storage=settings.storage.optuna or layout.default_optuna_storage,
        dataset=study.train.data.dataset, objectives=tuple(settings.objectives), trials=settings.trials,
        parent_params=_parent_params(settings),
        hypervolume_reference=reference_point(settings.objectives, DATASETS[study.train.data.dataset][1],
                                              settings.reference_n_s))
    layout.create(text, manifest)
    return layout, manifest


def _parent_params(settings: SearchConfig) -> dict[str, str]:
    params = {f"{SPACE_PARAM_PREFIX}{k}": spec.describe() for k, spec in settings.space.items()}
    params.update(trials=settings.trials, concurrency=settings.concurrency, sampler=settings.sampler, seed=settings.seed,
                  seeds_per_trial=settings.seeds,
                  objectives=",".join(f"{o.metric}:{o.mode}" for o in settings.objectives),
                  cpus_per_trial=settings.resources.cpus, gpus_per_trial=settings.resources.gpus)
    params.update({f"pruning.{k}": v for k, v in vars(settings.pruning).items()})
    params.update({f"early_stopping.{k}": v for k, v in vars(settings.early_stopping).items()})
    params["reference_n_s"] = settings.reference_n_s
    params["branching.phase2_children"] = settings.branching.phase2_children
    return {k: str(v) for k, v in params.items()}


def run_study(study_path: str | Path, options: RunOptions | None = None) -> StudyRun:
    from snn.train import load_study

    options = options or RunOptions()
    study = load_study(study_path)
    settings = SearchConfig.from_dict(study.search, train=study.train)
    layout, manifest = _open_study(study, settings, options, Path(study_path).read_text(encoding="utf-8"))
    with StudyLock(layout.lock_file, resume_command(layout) if options.resume else f"snn-search run {study_path}"):
        from search.driver import drive_study

        summary, interrupted_by = drive_study(study, settings, layout, manifest, options)
    return StudyRun(layout, settings, layout.manifest(), summary, interrupted_by)


def resume_study(name: str, options: RunOptions | None = None) -> StudyRun:
    """Continues study ``name`` from its own copy of the study file (``<root>/<name>/study.toml``)."""
    options = replace(options or RunOptions(), name=name, resume=True)
    layout = StudyLayout.at(name, options.root)
    layout.manifest()  # a clear error when there is no such study
    return run_study(layout.study_file, options)


def settle_finished_study(layout: StudyLayout, manifest: StudyManifest, planned: int) -> None:
    """Once every trial has ended in Tune, nothing may stay RUNNING in MLflow or Optuna."""
    final = read_tune_snapshot(layout.tune_dir)
    if study_finished(final, planned):
        recovery.settle_mlflow_runs(StudyTracker(manifest.tracking_uri, manifest.name), final, study_finished=True)
        recovery.fail_running_optuna_trials(manifest.optuna_storage, manifest.name,
                                            "the study finished while this trial was still RUNNING")

