"""The study's report, rebuilt from its trial rows: the Pareto tags, ``pareto.csv``/``pareto.json``, the
summary, the Pareto plots and the hypervolume against epochs trained (from the parent run's ``hypervolume``
metric); written to ``<study>/artifacts`` and logged to the parent MLflow run; and the study's snapshot
(search.snapshot), which the read-only commands read.

The driver rebuilds it at most every :data:`REPORT_INTERVAL_S` while trials finish and always at the end
(search.callbacks), from rows it keeps in memory: a study's overhead grows with its trials, not with their
square.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from search.layout import StudyLayout
from search.manifest import StudyManifest
from search.snapshot import write_snapshot
from search.tracking import StudyTracker, TrialRow

__all__ = ["write_report", "write_text", "REPORT_INTERVAL_S"]

REPORT_INTERVAL_S = 10.0


def write_report(layout: StudyLayout, manifest: StudyManifest, rows: Sequence[TrialRow], tracker: StudyTracker,
                 *, plots: bool = True) -> dict[str, Any]:
    """Re-tags the front, writes the artifacts and logs them to the parent run; returns the summary."""
    from search.summary import optuna_states, records_csv, study_summary, summary_json

    objectives = list(manifest.objectives)
    tracker.write_pareto_tags(rows, objectives)
    summary = study_summary(manifest.name, rows, objectives, optuna=optuna_states(manifest.optuna_storage, manifest.name),
                            planned_trials=manifest.trials, reference=manifest.hypervolume_reference)
    out = layout.artifacts_dir
    out.mkdir(parents=True, exist_ok=True)
    records = summary["pareto_front"]
    files = [write_text(out / "pareto.csv", records_csv(records)),
             write_text(out / "pareto.json", json.dumps(records, indent=1, default=str) + "\n"),
             write_text(out / "summary.json", summary_json(summary) + "\n")]
    tracked = tracker.find_parent() is not None  # a study stopped before it recorded anything has no parent run
    if plots:
        files += _plots(out, rows, objectives, manifest, f"{manifest.name}: {len(rows)} trials, {summary['pruned']} pruned")
        if tracked and manifest.hypervolume_reference is not None:
            files += _hypervolume_plot(out, tracker, manifest)
    if tracked:
        for path in files:
            tracker.log_parent_artifact(path)
    write_snapshot(layout.dir, rows, summary)  # what `status`/`pareto`/`list` read (no MLflow import)
    return summary


def write_text(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.replace(path)  # a reader (`snn-search status`, the MLflow UI) never sees half a file
    return path


def _hypervolume_plot(out: Path, tracker: StudyTracker, manifest: StudyManifest) -> list[Path]:
    from search.plots import hypervolume_png

    history = tracker.parent_metric_history("hypervolume")
    try:  # a plotting failure must not stop the study
        return [hypervolume_png(out / "hypervolume.png", {manifest.name: history}, manifest.hypervolume_reference,
                                f"{manifest.name}: hypervolume of the validation front")] if history else []
    except Exception as error:  # noqa: BLE001
        return [write_text(out / "plot_error.txt", repr(error))]


def _plots(out: Path, rows, objectives, manifest: StudyManifest, title: str) -> list[Path]:
    from search.plots import pareto_html, pareto_png

    try:  # a plotting failure must not stop the study
        return [pareto_png(out / "pareto.png", rows, objectives, manifest.dataset, title),
                pareto_html(out / "pareto.html", rows, objectives, manifest.dataset, title)]
    except Exception as error:  # noqa: BLE001
        return [write_text(out / "plot_error.txt", repr(error))]
