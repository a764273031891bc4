"""``snn-search confirm NAME [--seeds N] [--band B] [--trial T ...]``: re-train a study's front and its band on
N fresh seeds (search.confirm); and the confirmed front as ``snn-search pareto NAME --confirmed`` prints it."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any, Sequence

from search.cli.common import StudyView, add_root
from search.cli.render import format_value, make_console

__all__ = ["ConfirmCommand", "print_confirmed", "confirmed_table"]

_SHOWN = (("val acc %", "confirmed_val_accuracy"), ("val N_S", "confirmed_val_n_s"),
          ("test acc %", "confirmed_test_accuracy"), ("test N_S", "confirmed_test_n_s"))


class ConfirmCommand:
    name = "confirm"
    help = "re-train a study's Pareto front (and its band) on N fresh seeds; record medians, the confirmed front"
    description = (
        "Re-train the study's front and its band (every COMPLETE trial that no front point beats by more than B\n"
        "in validation accuracy at equal or lower validation N_S) on N fresh seeds, as Ray tasks with the study's\n"
        "resources and concurrency. Each setting gets one MLflow run (tags confirmed, confirmed_from) with the\n"
        "median / mean / std / quartiles over its seeds; confirmed_front marks the settings non-dominated on the\n"
        "validation medians. Run it again after an interrupt: finished seed runs are reused, others continue."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="NAME", help="study name (see `snn-search list`)")
        parser.add_argument("--seeds", type=int, default=10, help="fresh seeds per setting (default: 10, the paper's)")
        parser.add_argument("--band", type=float, default=0.02,
                            help="validation accuracy band below the front, as a fraction (default: 0.02)")
        parser.add_argument("--trial", dest="trials", action="append", default=[], metavar="TRIAL",
                            help="also confirm this trial (e.g. trial_000, the study's first start point); repeatable")
        parser.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
        parser.add_argument("--tracking-uri", help="the study's MLflow tracking URI (default: the one it was run with)")
        parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
        parser.add_argument("--no-live", action="store_true", help="no live bars: one line per finished seed run")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        from search.confirm import ConfirmOptions, confirm_command, confirm_study
        from search.interrupts import exit_status

        start = time.perf_counter()
        options = ConfirmOptions(seeds=args.seeds, band=args.band, trials=tuple(args.trials), address=args.address,
                                 tracking_uri=args.tracking_uri, root=args.root, num_cpus=args.num_cpus,
                                 live=not args.no_live)
        result = confirm_study(args.study, options)
        console = make_console()
        console.print(confirmed_table(result.records, f"{args.study}: {len(result.records)} confirmed setting(s), "
                                                      f"medians over seeds (IQR)"))
        counts = result.counts
        console.print(f"seed runs: {counts['reused']} reused, {counts['continued']} continued, {counts['started']} "
                      f"started; artifacts in {result.layout.artifacts_dir} (confirmation.csv, confirmed_pareto.png) "
                      f"and the study's parent MLflow run", soft_wrap=True, highlight=False)
        for label, why in result.failed:
            console.print(f"[red]FAILED {label}: {why}", soft_wrap=True, highlight=False)
        hint = f"continue with: {confirm_command(args.study, options)}"
        if result.interrupted_by is not None:
            console.print(f"[yellow]interrupted; {hint}", soft_wrap=True, highlight=False)
            return exit_status(result.interrupted_by)
        console.print(f"finished in {time.perf_counter() - start:.0f} s")
        if result.failed:
            console.print(f"[yellow]{len(result.failed)} seed run(s) failed; their settings are not confirmed; {hint}",
                          soft_wrap=True, highlight=False)
        return 1 if result.failed else 0


def _cell(record: dict[str, Any], key: str) -> str:
    """The median over the line of its interquartile range, ``98.50`` / ``(98.40-98.70)`` (accuracies in %)."""
    median, q1, q3 = (record.get(f"{key}_{s}") for s in ("median", "q1", "q3"))
    if median is None:
        return "-"
    fmt = (lambda v: f"{100 * v:.2f}") if "accuracy" in key else (lambda v: f"{v:.3f}")
    return f"{fmt(median)}\n({fmt(q1)}-{fmt(q3)})"


def confirmed_table(records: Sequence[dict[str, Any]], title: str):
    """Medians with their interquartile range, the values the study measured for the setting's trial, and its
    parameters one per line (named without their section: ``alpha`` for ``loss.alpha``; JSON and CSV keep
    the full names)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("trial", "front", "seeds", *(label for label, _ in _SHOWN), "study val / test acc %", "params"):
        table.add_column(column, overflow="fold")  # a narrow terminal wraps a cell, never cuts it
    for r in records:
        study = " / ".join("-" if r.get(k) is None else f"{100 * r[k]:.2f}" for k in ("final_val_accuracy", "final_test_accuracy"))
        params = "\n".join(f"{k.removeprefix('param:').split('.', 1)[-1]}={format_value(k, v)}"
                           for k, v in r.items() if k.startswith("param:"))
        table.add_row(r["trial"], "yes" if r["confirmed_front"] else "", format_value("", r.get("confirmed_seeds")),
                      *(_cell(r, key) for _, key in _SHOWN), study, params)
    return table


def print_confirmed(view: StudyView, output: str) -> int:
    """``pareto NAME --confirmed``: the confirmed front (table, json or csv)."""
    from search.confirm.record import columns, confirmed_records, confirmed_rows
    from search.summary import records_csv

    rows = confirmed_rows(view.tracker) if view.tracker.find_parent() else []
    records = [r for r in confirmed_records(rows, view.rows(), columns(view.objectives)) if r["confirmed_front"]]
    if output == "json":
        print(json.dumps(records, indent=1, default=str))
    elif output == "csv":
        print(records_csv(records), end="")
    else:
        make_console().print(confirmed_table(records, f"{view.manifest.name}: confirmed front, {len(records)} setting(s)"
                                             + ("" if records else " (run `snn-search confirm` first)")))
    return 0
