"""MLflow bookkeeping for a study: one experiment named after the study, one parent run, one child run per
trial, found again by tags rather than remembered in memory.

Why not Ray's ``MLflowLoggerCallback``: it keeps its trial -> run map only in memory, so a resumed study
would open a second run for every trial (ENVIRONMENT.md). Here every lookup goes through the tracking store:
the parent run is the run tagged ``snn_search_role = parent`` in the experiment, a child run the one tagged
``trial_key = <Tune trial id>`` (stable across ``Tuner.restore``). Per-epoch metrics already in the store
(step = epoch) are not logged again when a resumed trial replays an epoch.

All writes happen in the driver process (the Tune callback), so a SQLite store has a single writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import urlparse

from search.objectives import Objective
from search.outcome import COMPLETE, INTERRUPTED, RUNNING, TRIAL_STATES, Outcome
from search.pareto import pareto_ranks

__all__ = ["TrialRow", "StudyTracker", "default_tracking_uri", "http_tracking_problem", "front", "pareto_tags",
           "PARETO_FILTER", "STATE_TAG"]

ROLE_TAG, TRIAL_KEY_TAG, STATE_TAG = "snn_search_role", "trial_key", "trial_state"
_PARENT_TAG = "mlflow.parentRunId"
PARETO_FILTER = 'tags.pareto_front = "true"'  # the MLflow UI search that shows the front


def http_tracking_problem(uri: str, timeout: float = 10.0) -> str | None:
    """For an ``http(s)://`` tracking URI, why its server does not answer ``/health`` (None when it does);
    None for every other store, which MLflow opens itself."""
    from urllib.error import URLError
    from urllib.request import urlopen

    if not uri.startswith(("http://", "https://")):
        return None
    try:
        with urlopen(uri.rstrip("/") + "/health", timeout=timeout) as response:
            return None if response.status == 200 else f"HTTP {response.status}"
    except (URLError, OSError, ValueError) as error:  # ValueError: a malformed URL
        return str(getattr(error, "reason", error))


def default_tracking_uri(cwd: Path | None = None) -> str:
    return f"sqlite:///{(cwd or Path.cwd()).resolve() / 'mlflow.db'}"


def _artifact_root(tracking_uri: str, experiment: str) -> str | None:
    # A SQLite store's default artifact root is ./mlruns relative to wherever the process runs; pin it next
    # to the database so that `snn-search ui` from another directory still finds the plots.
    parsed = urlparse(tracking_uri)
    if parsed.scheme == "sqlite" and tracking_uri.startswith("sqlite:///"):
        database = Path(tracking_uri[len("sqlite:///") :])
        return (database.parent / "mlartifacts" / experiment).as_uri()
    return None


@dataclass
class TrialRow:
    """One child run as the CLI and the Pareto update see it."""

    run_id: str
    name: str
    state: str
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def values(self, objectives: Sequence[Objective]) -> list[float] | None:
        """Final objective values, or None when any is missing or not finite."""
        values = [self.metrics.get(o.final_metric) for o in objectives]
        if any(v is None or not math.isfinite(v) for v in values):
            return None
        return values


class StudyTracker:
    def __init__(self, tracking_uri: str, study_name: str):
        from mlflow.tracking import MlflowClient

        self.tracking_uri = tracking_uri
        self.study_name = study_name
        self.client = MlflowClient(tracking_uri=tracking_uri)
        self._experiment_id: str | None = None
        self._parent_id: str | None = None
        self._runs: dict[str, str] = {}  # trial key -> run id (a cache of what the store says)
        self._last_step: dict[str, int] = {}

    # -- experiment and parent run -------------------------------------------------------------------------
    @property
    def experiment_id(self) -> str:
        if self._experiment_id is None:
            experiment = self.client.get_experiment_by_name(self.study_name)
            if experiment is None:
                self._experiment_id = self.client.create_experiment(
                    self.study_name, artifact_location=_artifact_root(self.tracking_uri, self.study_name)
                )
            else:
                self._experiment_id = experiment.experiment_id
        return self._experiment_id

    def search_runs(self, filter_string: str) -> list:
        """Every run of the study's experiment matching ``filter_string`` (all pages)."""
        runs, token = [], None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string, max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                return runs

    @property
    def parent_run_id(self) -> str:
        if self._parent_id is None:
            found = self.search_runs(f"tags.{ROLE_TAG} = 'parent'")
            if found:
                self._parent_id = found[0].info.run_id
            else:
                run = self.client.create_run(self.experiment_id, run_name=self.study_name, tags={ROLE_TAG: "parent"})
                self._parent_id = run.info.run_id
        return self._parent_id

    def find_parent(self) -> str | None:
        """The parent run id if the study was ever tracked here; creates nothing."""
        experiment = self.client.get_experiment_by_name(self.study_name)
        if experiment is None:
            return None
        self._experiment_id = experiment.experiment_id
        found = self.search_runs(f"tags.{ROLE_TAG} = 'parent'")
        return found[0].info.run_id if found else None

    def log_parent_params(self, params: Mapping[str, Any]) -> None:
        self.log_params(self.parent_run_id, params)

    def set_parent_status(self, status: str) -> None:
        self.client.update_run(self.parent_run_id, status=status)

    def finish_parent(self) -> None:
        self.client.set_terminated(self.parent_run_id, "FINISHED")

    def log_parent_metrics(self, metrics: Iterable[tuple[str, float, int]]) -> None:
        """``(name, value, step)`` triples on the parent run."""
        from mlflow.entities import Metric
        import time

        now = int(time.time() * 1000)
        self.client.log_batch(self.parent_run_id, metrics=[Metric(k, float(v), now, int(s)) for k, v, s in metrics])

    def parent_metric_history(self, name: str) -> list[tuple[int, float]]:
        """(step, value) of a parent-run metric, in the order logged."""
        history = self.client.get_metric_history(self.parent_run_id, name)
        return [(m.step, m.value) for m in sorted(history, key=lambda m: m.timestamp)]

    def log_parent_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.parent_run_id, str(path), artifact_path)

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        existing = self.client.get_run(run_id).data.params
        # Params are immutable in MLflow: re-logging one (a resumed study) is skipped, not an error.
        fresh = [Param(str(k), str(v)[:6000]) for k, v in params.items() if str(k) not in existing]
        for start in range(0, len(fresh), 100):
            self.client.log_batch(run_id, params=fresh[start : start + 100])

    # -- child runs --------------------------------------------------------------------------------------
    def trial_run(self, trial_key: str, run_name: str, params: Mapping[str, Any], tags: Mapping[str, str] = {}) -> str:
        """The child run of a trial: found by its key if it exists (resume), created otherwise."""
        if trial_key not in self._runs:
            found = self.search_runs(f"tags.{TRIAL_KEY_TAG} = '{trial_key}'")
            if found:
                run_id = found[0].info.run_id
                history = self.client.get_metric_history(run_id, "val_accuracy")
                self._last_step[trial_key] = max((m.step for m in history), default=-1)
                # Reopened by a resume (it was RUNNING in a killed driver, or INTERRUPTED by Ctrl-C).
                self.client.update_run(run_id, status="RUNNING")
                self.client.set_tag(run_id, STATE_TAG, RUNNING)
            else:
                run = self.client.create_run(
                    self.experiment_id,
                    run_name=run_name,
                    tags={TRIAL_KEY_TAG: trial_key, _PARENT_TAG: self.parent_run_id, STATE_TAG: "RUNNING",
                          "pareto_front": "false", ROLE_TAG: "trial", **tags},
                )
                run_id = run.info.run_id
                self._last_step[trial_key] = -1
            self._runs[trial_key] = run_id
            self.log_params(run_id, params)
        return self._runs[trial_key]

    def log_epoch(self, trial_key: str, metrics: Mapping[str, float], step: int) -> None:
        """Per-epoch metrics at ``step`` = epoch; an epoch already in the store is skipped."""
        from mlflow.entities import Metric
        import time

        if step <= self._last_step.get(trial_key, -1):
            return
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None and math.isfinite(float(v))]
        self.client.log_batch(self._runs[trial_key], metrics=batch)
        self._last_step[trial_key] = step

    def finish_trial(self, trial_key: str, outcome: Outcome, metrics: Mapping[str, float], tags: Mapping[str, str]) -> None:
        """Final metrics, ``trial_state`` and the reason (``prune_reason``/``fail_reason``), and the run ended
        with the outcome's MLflow status."""
        from mlflow.entities import Metric, RunTag
        import time

        run_id = self._runs[trial_key]
        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, 0) for k, v in metrics.items() if v is not None and math.isfinite(float(v))]
        tags = {**tags, STATE_TAG: outcome.state}
        if outcome.reason:
            tags["prune_reason" if outcome.state == "PRUNED" else "fail_reason"] = outcome.reason
        self.client.log_batch(run_id, metrics=batch, tags=[RunTag(k, str(v)) for k, v in tags.items()])
        self.client.set_terminated(run_id, outcome.mlflow_status)

    def end_run(self, run_id: str, state: str, tags: Mapping[str, str]) -> None:
        """Ends a run that no trial will finish (settling after a crash or an interrupt) in ``state``."""
        from mlflow.entities import RunTag

        if state not in TRIAL_STATES:
            raise ValueError(f"state must be one of {TRIAL_STATES}, got {state=}")
        self.client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in {**tags, STATE_TAG: state}.items()])
        self.client.set_terminated(run_id, Outcome(state).mlflow_status)

    def discard_run(self, run_id: str, reason: str) -> None:
        """Tags the run with why, ends it KILLED and moves it to MLflow's trash (restorable there)."""
        from mlflow.entities import RunTag

        self.client.log_batch(run_id, tags=[RunTag("orphan_reason", reason)])
        self.client.set_terminated(run_id, "KILLED")
        self.client.delete_run(run_id)

    def mark_interrupted(self, resume_hint: str) -> list[str]:
        """The parent run and every unfinished child run KILLED, with the command that continues the study;
        a resume sets them RUNNING again. Returns the child runs it marked."""
        marked = []
        if self.find_parent() is None:
            return marked  # interrupted before the study recorded anything
        for run in self.child_runs():
            if run.info.status == "RUNNING":
                self.end_run(run.info.run_id, INTERRUPTED, {"resume_command": resume_hint})
                marked.append(run.info.run_id)
        self.client.set_tag(self.parent_run_id, "resume_command", resume_hint)
        self.client.set_terminated(self.parent_run_id, "KILLED")
        return marked

    # -- reading and Pareto --------------------------------------------------------------------------------
    def child_runs(self) -> list:
        """The trial runs of the study as MLflow returns them."""
        return self.search_runs(f"tags.{ROLE_TAG} = 'trial'")

    def trials(self) -> list[TrialRow]:
        rows = []
        for run in self.child_runs():
            tags = dict(run.data.tags)
            rows.append(TrialRow(run.info.run_id, run.info.run_name or run.info.run_id, tags.get(STATE_TAG, RUNNING),
                                 dict(run.data.params), dict(run.data.metrics), tags))
        return sorted(rows, key=lambda r: r.name)

    def write_pareto_tags(self, rows: Sequence[TrialRow], objectives: Sequence[Objective]) -> None:
        """Sets ``pareto_front``/``pareto_rank`` (:func:`pareto_tags`) where a row's tags differ, in the store
        and in ``rows``; pruned, failed and running trials are never ranked."""
        for row, wanted in zip(rows, pareto_tags(rows, objectives)):
            for key, value in wanted.items():
                self.set_row_tag(row, key, value)
            if "pareto_rank" not in wanted and "pareto_rank" in row.tags:
                self.client.delete_tag(row.run_id, "pareto_rank")
                del row.tags["pareto_rank"]

    def set_row_tag(self, row: TrialRow, key: str, value: str) -> None:
        """Sets a run's tag in the store and in ``row``, only where it differs (a study's tags are re-derived
        at every trial's end: unchanged ones cost no write)."""
        if row.tags.get(key) != value:
            self.client.set_tag(row.run_id, key, value)
            row.tags[key] = value

    def show_in_ui(self, objectives: Sequence[Objective], param_keys: Sequence[str]) -> None:
        """Tags the experiment so that the MLflow UI opens on the study's trials (search.mlflow_view); only
        tags that differ are written. Run at every start of the driver, and by `snn-search ui`."""
        from search.mlflow_view import view_tags

        experiment = self.client.get_experiment(self.experiment_id)
        wanted = view_tags(self.study_name, objectives, param_keys, experiment.creation_time or 0)
        for key, value in wanted.items():
            if experiment.tags.get(key) != value:
                self.client.set_experiment_tag(self.experiment_id, key, value)

    def ui_url(self, base: str) -> str:
        from search.mlflow_view import view_url

        return view_url(base, self.experiment_id)


def pareto_tags(rows: Sequence[TrialRow], objectives: Sequence[Objective]) -> list[dict[str, str]]:
    """Per row, the Pareto tags it should carry: a rank for COMPLETE trials with finite objectives, and
    ``pareto_front`` true for rank 1 only."""
    ranked = [i for i, r in enumerate(rows) if r.state == COMPLETE and r.values(objectives) is not None]
    ranks = pareto_ranks([rows[i].values(objectives) for i in ranked], [o.mode for o in objectives])
    wanted = [{"pareto_front": "false"} for _ in rows]
    for i, rank in zip(ranked, ranks):
        wanted[i] = {"pareto_front": "true" if rank == 1 else "false", "pareto_rank": str(rank)}
    return wanted


def front(rows: Iterable[TrialRow]) -> list[TrialRow]:
    return [r for r in rows if r.state == COMPLETE and r.tags.get("pareto_front") == "true"]
