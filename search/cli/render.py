"""Terminal rendering (rich) of a study's trials, its Pareto front and its summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from search.objectives import Objective
from search.tracking import PARETO_FILTER, TrialRow

__all__ = ["trials_table", "front_table", "fitted_table", "Column", "print_summary", "format_value", "make_console"]


def make_console() -> Console:
    """rich's console: a terminal's own width (or $COLUMNS); piped output (logs, CI) gets 160 columns
    instead of 80 so tables stay readable."""
    import os
    import sys

    return Console() if sys.stdout.isatty() or os.environ.get("COLUMNS") else Console(width=160)


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


@dataclass(frozen=True)
class Column:
    header: str
    keep: bool = False  # never dropped, never cut (the trial name, its state, the objectives)
    wrap: bool = False  # long free text: folds over several lines rather than being dropped, while it can


_BORDERS = 1  # rich's default box: one rule per column plus one, and one space of padding on each side
_PADDING = 2
_MIN_WRAP = 16  # a wrapping column narrower than this is dropped instead


def fitted_table(title: str, columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int) -> Table:
    """A table that fits ``width`` console columns without cutting a kept column: columns are given most
    important first, and the others are dropped from the right until the table fits (a ``wrap`` column
    folds instead while it can keep ``_MIN_WRAP`` characters). The caption names what was dropped."""
    natural = [max([Text.from_markup(c.header).cell_len] + [Text.from_markup(r[i]).cell_len for r in rows])
               for i, c in enumerate(columns)]
    shown = list(range(len(columns)))

    def needed(indices: list[int]) -> int:
        return sum(min(natural[i], _MIN_WRAP) if columns[i].wrap else natural[i] for i in indices) \
            + len(indices) * (_PADDING + _BORDERS) + _BORDERS

    while needed(shown) > width and any(not columns[i].keep for i in shown):
        shown.remove(max(i for i in shown if not columns[i].keep))
    dropped = [columns[i].header for i in range(len(columns)) if i not in shown]
    caption = f"not shown at {width} columns: {', '.join(dropped)} (a wider terminal shows them)" if dropped else None
    table = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for i in shown:
        column = columns[i]
        table.add_column(column.header, no_wrap=not column.wrap, overflow="fold" if column.wrap else "ellipsis",
                         min_width=natural[i] if column.keep else None)
    for row in rows:
        table.add_row(*(row[i] for i in shown))
    return table


def trials_table(rows: Sequence[TrialRow], objectives: Sequence[Objective], title: str, width: int) -> Table:
    """One line per trial. At narrow widths the columns drop in this order: params / prune reason, epochs,
    test acc, overflows (spikes dropped by full spike buffers, shown when a trial has any), rank; the trial,
    its state and the objectives always show in full."""
    overflows = any(row.metrics.get("spike_overflows") for row in rows)
    columns = [Column("trial", keep=True), Column("state", keep=True), *(Column(o.metric, keep=True) for o in objectives),
               Column("rank"), *((Column("overflows"),) if overflows else ()), Column("test acc"), Column("epochs"),
               Column("params / prune reason", wrap=True)]
    lines = []
    for row in rows:
        run, planned = row.metrics.get("epochs_run"), row.metrics.get("epochs_planned")
        epochs = f"{int(run)}/{int(planned)}" if run is not None and planned is not None else "-"
        note = row.tags.get("prune_reason") if row.state == "PRUNED" else ", ".join(f"{k}={format_value(k, v)}" for k, v in sorted(row.params.items()))
        rank = row.tags.get("pareto_rank", "-")
        lines.append([row.name, row.state, *(format_value(o.metric, row.metrics.get(o.final_metric)) for o in objectives),
                      f"[bold]{rank}[/bold]" if rank == "1" else rank,
                      *((str(int(row.metrics.get("spike_overflows") or 0) or ""),) if overflows else ()),
                      format_value("accuracy", row.metrics.get("final_test_accuracy")), epochs, note or ""])
    return fitted_table(title, columns, lines, width)


def front_table(records: Sequence[dict[str, Any]], objectives: Sequence[Objective], title: str, width: int) -> Table:
    """The front, one line per trial. At narrow widths the columns drop from the right: the parameters
    (last first), then the test metrics; the trial and the objectives always show in full."""
    keys = [c for c in (records[0] if records else {}) if c not in ("run_id", "out_dir")]
    kept = {"trial", *(o.final_metric for o in objectives)}
    columns = [Column(k.removeprefix("param:"), keep=k in kept) for k in keys]
    return fitted_table(title, columns, [[format_value(k, r.get(k)) for k in keys] for r in records], width)


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
    elif "epochs_trained" in summary:  # (a snapshot from before hypervolumes has neither)
        say(f"Epochs trained: {summary['epochs_trained']}")
    for metric, best in summary["best"].items():
        say(f"Best {metric}: {format_value(metric, best['value'])} ({best['trial']})")
    records = summary["pareto_front"]
    console.print(front_table(records, objectives, f"Pareto front ({len(records)} trial(s); "
                              f"{', '.join(f'{o.metric} {o.mode}' for o in objectives)})", console.width))
    say(f"Where to look: MLflow {tracking_uri}, experiment '{summary['study']}'"
                  + (f" (id {experiment_id})" if experiment_id else "") + f", filter: {PARETO_FILTER}")
    say(f"  UI: {ui_command}")
    say(f"  state (Optuna, Tune checkpoints, trial dirs): {study_dir}")
