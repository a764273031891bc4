"""Terminal rendering (rich) of a study's trials, its Pareto front and its summary."""

from __future__ import annotations

from typing import Any, Sequence

from rich.console import Console
from rich.table import Table

from search.objectives import Objective
from search.tracking import PARETO_FILTER, TrialRow

__all__ = ["trials_table", "front_table", "print_summary", "format_value", "make_console"]


def make_console() -> Console:
    """rich's console; piped output (logs, CI) gets 160 columns instead of 80 so tables stay readable."""
    import sys

    return Console() if sys.stdout.isatty() else Console(width=160)


def format_value(metric: str, value: Any) -> str:
    """Accuracies in %, other numbers (also MLflow's string params) to 4 significant digits."""
    if value is None:
        return "-"
    if "accuracy" in metric:
        return f"{100 * float(value):.2f}%"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def trials_table(rows: Sequence[TrialRow], objectives: Sequence[Objective], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in ("trial", "state", "epochs", *(o.metric for o in objectives), "test acc", "rank", "params / prune reason"):
        table.add_column(column)
    for row in rows:
        run, planned = row.metrics.get("epochs_run"), row.metrics.get("epochs_planned")
        epochs = f"{int(run)}/{int(planned)}" if run is not None and planned is not None else "-"
        note = row.tags.get("prune_reason") if row.state == "PRUNED" else ", ".join(f"{k}={format_value(k, v)}" for k, v in sorted(row.params.items()))
        rank = row.tags.get("pareto_rank", "-")
        table.add_row(row.name, row.state, epochs, *(format_value(o.metric, row.metrics.get(o.final_metric)) for o in objectives),
                      format_value("accuracy", row.metrics.get("final_test_accuracy")),
                      f"[bold]{rank}[/bold]" if rank == "1" else rank, note or "")
    return table


def front_table(records: Sequence[dict[str, Any]], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    columns = [c for c in (records[0] if records else {}) if c not in ("run_id", "out_dir")]
    for column in columns:
        table.add_column(column.removeprefix("param:"))
    for record in records:
        table.add_row(*(format_value(c, record.get(c)) for c in columns))
    return table


def print_summary(console: Console, summary: dict[str, Any], *, tracking_uri: str, experiment_id: str | None,
                  study_dir: str, ui_command: str) -> None:
    objectives = Objective.from_dicts(summary["objectives"])
    states = ", ".join(f"{n} {s}" for s, n in sorted(summary["states"].items())) or "none"
    optuna = ", ".join(f"{n} {s}" for s, n in sorted(summary["optuna_states"].items())) or "none"
    say = lambda text: console.print(text, soft_wrap=True)  # long URIs and paths stay on one line
    say(f"[bold]Study {summary['study']}[/bold]: {summary['trials']} trials ({states}); Optuna: {optuna}")
    dominated = summary.get("dominated", 0)
    say(f"Pruned: {summary['pruned']} trial(s) ({summary['pruned'] - dominated} by the pruning rules, {dominated} "
        f"dominated at a rung), {summary['epochs_saved_by_pruning']} epoch(s) saved")
    if summary.get("epochs_saved_by_branching"):
        say(f"Branching: {summary['epochs_saved_by_branching']} phase-1 epoch(s) reused by children")
    if summary.get("hypervolume") is not None:
        acc, ns = summary["hypervolume_reference"]
        say(f"Hypervolume of the validation front: {summary['hypervolume']:.4g} after {summary['epochs_trained']} "
            f"epoch(s) trained (reference: accuracy {acc:.3g}, N_S {ns:g})")
    else:
        say(f"Epochs trained: {summary['epochs_trained']}")
    for metric, best in summary["best"].items():
        say(f"Best {metric}: {format_value(metric, best['value'])} ({best['trial']})")
    records = summary["pareto_front"]
    console.print(front_table(records, f"Pareto front ({len(records)} trial(s); {', '.join(f'{o.metric} {o.mode}' for o in objectives)})"))
    say(f"Where to look: MLflow {tracking_uri}, experiment '{summary['study']}'"
                  + (f" (id {experiment_id})" if experiment_id else "") + f", filter: {PARETO_FILTER}")
    say(f"  UI: {ui_command}")
    say(f"  state (Optuna, Tune checkpoints, trial dirs): {study_dir}")
