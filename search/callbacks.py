"""The Tune callback that keeps MLflow in step with the study (runs in the driver, the only MLflow writer).

Per trial: a child run (found again by its Tune trial id after a restore), params, per-epoch metrics at
step = epoch, and at the end its final metrics and the state :func:`search.outcome.classify` decides
(``trial_state`` COMPLETE/PRUNED/FAILED with ``prune_reason``/``fail_reason``) and the checkpoint location;
then the study's hypervolume and epochs trained on the parent run (search.hypervolume).
The study's report (Pareto tags, tables, plots: search.report) is rebuilt from rows kept in memory, at most
every ``REPORT_INTERVAL_S`` while trials finish; the driver rebuilds it once more at the end.

The callback is pickled into Tune's experiment (a restored study gets this object back), so it holds only
the study directory and builds its MLflow client in ``setup``, from the manifest the driver just wrote.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ray import tune

from search.layout import StudyLayout
from search.hypervolume import progress_metrics
from search.mlflow_view import space_keys
from search.outcome import (FINAL_KEY, NUMBER_KEY, PHASE1_SOURCE_KEY, RUNNING, Outcome, classify, epoch_metrics,
                            final_metrics_of, trial_params)
from search.report import REPORT_INTERVAL_S, write_report
from search.tracking import TrialRow

__all__ = ["TrackingCallback", "trial_run_name", "trial_outcome"]


def _run_name(number: int) -> str:
    return f"trial_{number:03d}"


def trial_run_name(trial) -> str:
    """``trial_007`` for Optuna trial 7 (the number the searcher put in the Tune config), else the Tune id."""
    number = (trial.config or {}).get(NUMBER_KEY)
    return _run_name(number) if isinstance(number, int) else f"trial_{trial.trial_id}"


def _fail_reason(trial) -> str:
    """The error's last line (Tune keeps the traceback in the trial's error file), and how often it was tried."""
    text = ""
    try:
        path = getattr(trial, "error_file", None)
        text = Path(path).read_text() if path and Path(path).exists() else ""
    except OSError:
        pass
    last = next((line.strip() for line in reversed(text.splitlines()) if line.strip()), "the trial's worker failed")
    return f"failed after {getattr(trial, 'num_failures', 0)} attempt(s): {last}"[:5000]


def trial_outcome(trial, objectives, errored: bool = False) -> Outcome:
    """How a Tune trial ended (an errored one with the last line of its error)."""
    return classify(trial.last_result, objectives, error=_fail_reason(trial) if errored else None)


class TrackingCallback(tune.Callback):
    def __init__(self, study_dir: str):
        self.study_dir = study_dir
        self._reset()

    def _reset(self) -> None:
        self._tracker = self._manifest = None
        self._rows: dict[str, TrialRow] = {}  # Tune trial id -> the trial's row as MLflow holds it
        self._dirty, self._reported_at = False, 0.0
        self._progress: list | None = None

    def __getstate__(self):
        return {"study_dir": self.study_dir}

    def __setstate__(self, state):
        self.study_dir = state["study_dir"]
        self._reset()

    @property
    def layout(self) -> StudyLayout:
        path = Path(self.study_dir)
        return StudyLayout(path.name, path)

    def open(self) -> None:
        """Connects to the study's tracking store (the manifest says where) and reads its trial rows once."""
        from search.tracking import StudyTracker

        self._manifest = self.layout.manifest()
        self._tracker = StudyTracker(self._manifest.tracking_uri, self._manifest.name)
        if self._tracker.find_parent() is not None:
            self._rows = {row.tags.get("trial_key", row.run_id): row for row in self._tracker.trials()}
            # what the parent run holds already: a trial re-reported after a resume adds no point
            self._progress = progress_metrics(self._rows.values(), self._manifest.hypervolume_reference)

    def setup(self, **info) -> None:
        self.open()
        self._tracker.log_parent_params(self._manifest.parent_params)
        self._tracker.log_parent_artifact(self.layout.study_file)
        self._tracker.set_parent_status(RUNNING)
        self._manifest = self._manifest.with_tracking(self._tracker.experiment_id, self._tracker.parent_run_id)
        self._tracker.show_in_ui(list(self._manifest.objectives), space_keys(self._manifest.parent_params))
        self.layout.write_manifest(self._manifest)

    # -- trials ---------------------------------------------------------------------------------------------
    def _run(self, trial) -> TrialRow:
        key = trial.trial_id
        tags = {"out_dir": str(self.layout.trials_dir / key), "tune_trial_id": key}
        if NUMBER_KEY in trial.config:
            tags["optuna_trial_number"] = str(trial.config[NUMBER_KEY])
        if PHASE1_SOURCE_KEY in trial.config:  # a branching child: the trial that trained its phase 1
            tags[PHASE1_SOURCE_KEY] = _run_name(trial.config[PHASE1_SOURCE_KEY])
        params = trial_params(trial.config)
        run_id = self._tracker.trial_run(key, trial_run_name(trial), params, tags=tags)
        row = self._rows.get(key)
        if row is None or row.run_id != run_id:
            row = self._rows[key] = TrialRow(run_id, trial_run_name(trial), RUNNING,
                                             {k: str(v) for k, v in params.items()}, {}, {"trial_key": key, **tags})
        return row

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._run(trial).state = RUNNING
        self._dirty = True  # `snn-search status` shows started trials too (the report's snapshot)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._run(trial).state = RUNNING  # a trial restored mid-run may report before any start event reaches us
        if not result.get(FINAL_KEY) and "epoch" in result:
            self._tracker.log_epoch(trial.trial_id, epoch_metrics(result), step=int(result["epoch"]))

    def _finish(self, trial, errored: bool) -> None:
        row = self._run(trial)
        outcome = trial_outcome(trial, self._manifest.objectives, errored)
        metrics = final_metrics_of(trial.last_result or {})
        tags = {"error_file": str(trial.error_file or "")} if errored else {
            "checkpoint": trial.checkpoint.path if trial.checkpoint else ""}
        if metrics.get("spike_overflows"):  # a tag, so that the runs table can show and filter it
            tags["spike_overflows"] = str(int(metrics["spike_overflows"]))
        self._tracker.finish_trial(trial.trial_id, outcome, metrics, tags)
        row.state = outcome.state
        row.metrics.update(metrics)
        self._dirty = True
        self._log_progress()

    def _log_progress(self) -> None:
        """The study's hypervolume against epochs trained (search.hypervolume), when it changed."""
        progress = progress_metrics(self._rows.values(), self._manifest.hypervolume_reference)
        if progress != self._progress:  # a trial re-reported after a resume changes nothing
            self._tracker.log_parent_metrics(progress)
            self._progress = progress

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._finish(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._finish(trial, errored=True)

    def on_step_end(self, iteration, trials, **info) -> None:
        if self._dirty and time.monotonic() - self._reported_at >= REPORT_INTERVAL_S:
            self.refresh()

    def on_experiment_end(self, trials, **info) -> None:
        # No report here: the driver writes the final one after settling the runs.
        self._tracker.finish_parent()

    # -- study-level artifacts ------------------------------------------------------------------------------
    def refresh(self, *, reread: bool = False) -> dict[str, Any]:
        """Rebuilds the study's report; ``reread`` first reads every row from the store again (after the
        driver settled runs outside this callback). Returns the summary."""
        if reread:
            self.open()
        rows = sorted(self._rows.values(), key=lambda r: r.name)
        summary = write_report(self.layout, self._manifest, rows, self._tracker)
        self._dirty, self._reported_at = False, time.monotonic()
        return summary
