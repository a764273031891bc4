"""The Tune callback that keeps MLflow in step with the study (runs in the driver, the only MLflow writer).

Per trial: a child run (found again by its Tune trial id after a restore), params, per-epoch metrics at
step = epoch, final metrics, ``trial_state`` COMPLETE/PRUNED/FAILED (+ ``prune_reason``) and the checkpoint
location. After every finished trial: Pareto ranks re-tagged on all child runs, and the parent run's Pareto
table, plots and summary refreshed.

The callback is pickled into Tune's experiment (a restored study gets this object back), so it holds only
the study directory and builds its MLflow client in ``setup``, from the manifest the driver just wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ray import tune

from search.layout import StudyLayout
from search.mlflow_view import space_keys
from search.objectives import Objective
from search.trainable import FINAL_KEY, NUMBER_KEY, PRUNED_KEY, trial_params

__all__ = ["TrackingCallback", "trial_run_name", "EPOCH_METRIC_KEYS"]

EPOCH_METRIC_KEYS = ("train_loss", "lr", "phase", "epoch_seconds", "train_spike_overflows")
_FINAL_EXTRA = ("epochs_run", "epochs_planned", "epochs_saved")


def trial_run_name(trial) -> str:
    """``trial_007`` for Optuna trial 7 (the number the searcher put in the Tune config), else the Tune id."""
    number = (trial.config or {}).get(NUMBER_KEY)
    return f"trial_{number:03d}" if isinstance(number, int) else f"trial_{trial.trial_id}"


def _epoch_metrics(result: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in result.items()
            if (k.startswith("val_") or k in EPOCH_METRIC_KEYS) and isinstance(v, (int, float)) and not isinstance(v, bool)}


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


class TrackingCallback(tune.Callback):
    def __init__(self, study_dir: str):
        self.study_dir = study_dir
        self._tracker = None
        self._manifest: dict[str, Any] = {}

    def __getstate__(self):
        return {"study_dir": self.study_dir, "_tracker": None, "_manifest": {}}

    # -- setup ----------------------------------------------------------------------------------------------
    @property
    def layout(self) -> StudyLayout:
        path = Path(self.study_dir)
        return StudyLayout(path.name, path)

    @property
    def objectives(self) -> list[Objective]:
        return Objective.from_dicts(self._manifest["objectives"])

    def open(self) -> None:
        """Connects to the study's tracking store (the manifest says where)."""
        from search.tracking import StudyTracker

        self._manifest = self.layout.manifest()
        self._tracker = StudyTracker(self._manifest["tracking_uri"], self._manifest["name"])

    def setup(self, **info) -> None:
        self.open()
        self._tracker.log_parent_params(self._manifest["parent_params"])
        self._tracker.log_parent_artifact(self.layout.study_file)
        self._tracker.set_parent_status("RUNNING")
        self._tracker.show_in_ui(self.objectives, space_keys(self._manifest["parent_params"]))
        self._manifest["experiment_id"] = self._tracker.experiment_id
        self._manifest["parent_run_id"] = self._tracker.parent_run_id
        self.layout.write_manifest(self._manifest)

    # -- trials ---------------------------------------------------------------------------------------------
    def _run(self, trial) -> str:
        out_dir = str(self.layout.trials_dir / trial.trial_id)
        tags = {"out_dir": out_dir, "tune_trial_id": trial.trial_id}
        if NUMBER_KEY in trial.config:
            tags["optuna_trial_number"] = str(trial.config[NUMBER_KEY])
        return self._tracker.trial_run(trial.trial_id, trial_run_name(trial), trial_params(trial.config), tags=tags)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._run(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._run(trial)  # a trial restored mid-run may report before any start event reaches us
        if not result.get(FINAL_KEY) and "epoch" in result:
            self._tracker.log_epoch(trial.trial_id, _epoch_metrics(result), step=int(result["epoch"]))

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._run(trial)
        result = trial.last_result or {}
        pruned = bool(result.get(PRUNED_KEY))
        metrics = {k: v for k, v in result.items() if k.startswith("final_") or k in _FINAL_EXTRA}
        has_values = all(o.final_metric in metrics for o in self.objectives)
        state = "PRUNED" if pruned else ("COMPLETE" if has_values else "FAILED")
        tags = {"checkpoint": trial.checkpoint.path if trial.checkpoint else ""}
        if pruned:
            tags["prune_reason"] = str(result.get("prune_reason", ""))
        self._tracker.finish_trial(trial.trial_id, state, metrics, tags)
        self.refresh()

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._run(trial)
        error = str(getattr(trial, "error_file", "") or "")
        self._tracker.finish_trial(trial.trial_id, "FAILED", {}, {"error_file": error, "fail_reason": _fail_reason(trial)})
        self.refresh()

    def on_experiment_end(self, trials, **info) -> None:
        # No refresh here: run_study refreshes once more after settling the runs, and that one is final.
        self._tracker.finish_parent()

    # -- study-level artifacts ------------------------------------------------------------------------------
    def refresh(self) -> dict[str, Any]:
        """Re-rank the front, rewrite the parent run's Pareto table/plots/summary; returns the summary."""
        from search.plots import pareto_html, pareto_png
        from search.snapshot import write_snapshot
        from search.summary import optuna_states, records_csv, study_summary, summary_json

        objectives = self.objectives
        rows = self._tracker.update_pareto(objectives)
        m = self._manifest
        summary = study_summary(m["name"], rows, objectives, optuna=optuna_states(m["optuna_storage"], m["name"]),
                                planned_trials=m.get("trials"))
        out = self.layout.artifacts_dir
        out.mkdir(parents=True, exist_ok=True)
        records = summary["pareto_front"]  # pareto_records(rows, objectives), computed once by study_summary
        (out / "pareto.csv").write_text(records_csv(records))
        (out / "pareto.json").write_text(json.dumps(records, indent=1, default=str) + "\n")
        (out / "summary.json").write_text(summary_json(summary) + "\n")
        title = f"{m['name']}: {len(rows)} trials, {summary['pruned']} pruned"
        files = [out / "pareto.csv", out / "pareto.json", out / "summary.json"]
        try:  # a plotting failure must not stop the study
            files.append(pareto_png(out / "pareto.png", rows, objectives, m["dataset"], title))
            files.append(pareto_html(out / "pareto.html", rows, objectives, m["dataset"], title))
        except Exception as error:  # noqa: BLE001
            (out / "plot_error.txt").write_text(repr(error))
        for path in files:
            self._tracker.log_parent_artifact(path)
        write_snapshot(self.layout.dir, rows, summary)  # what `status`/`pareto`/`list` read (no MLflow import)
        return summary
