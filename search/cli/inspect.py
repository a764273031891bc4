"""``snn-search status NAME``, ``pareto NAME`` and ``list``: read-only views of studies."""

from __future__ import annotations

import argparse
import json
from collections import Counter

from search.cli.common import StudyView, add_root
from search.cli.render import make_console, print_summary, trials_table
from search.layout import list_studies
from search.summary import pareto_records, records_csv

__all__ = ["StatusCommand", "ParetoCommand", "ListCommand", "ui_command_for"]


def ui_command_for(name: str, root: str | None) -> str:
    return f"snn-search ui {name}" + (f" --root {root}" if root else "")


class StatusCommand:
    name = "status"
    help = "show a study's trials (state, epochs, objectives, Pareto rank) and its summary"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="NAME", help="study name (see `snn-search list`)")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        view = StudyView(args.study, args.root)
        console = make_console()
        rows = view.rows()
        written = f" (snapshot of {view.snapshot.age_text()})" if view.snapshot else ""
        console.print(trials_table(rows, view.objectives, f"{view.manifest.name}: {len(rows)} of "
                                   f"{view.manifest.trials} trials{written}", console.width))
        print_summary(console, view.summary(rows), tracking_uri=view.manifest.tracking_uri,
                      experiment_id=view.manifest.experiment_id, study_dir=str(view.layout.dir),
                      ui_command=ui_command_for(args.study, args.root))
        return 0


class ParetoCommand:
    name = "pareto"
    help = "print a study's Pareto front (COMPLETE trials only) as a table, JSON or CSV"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="NAME", help="study name (see `snn-search list`)")
        parser.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format (default: table)")
        parser.add_argument("--confirmed", action="store_true", help="the confirmed front (`snn-search confirm`): medians over seeds")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        from search.cli.render import front_table

        view = StudyView(args.study, args.root)
        if args.confirmed:
            from search.cli.confirm import print_confirmed

            return print_confirmed(view, args.format)
        records = pareto_records(view.rows(), view.objectives)
        if args.format == "json":
            print(json.dumps(records, indent=1, default=str))
        elif args.format == "csv":
            print(records_csv(records), end="")
        else:
            console = make_console()
            console.print(front_table(records, view.objectives, f"{args.study}: Pareto front, {len(records)} trial(s)",
                                      console.width))
        return 0


class ListCommand:
    name = "list"
    help = "list the studies under the state directory"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        from rich.table import Table

        studies = list_studies(args.root)
        if not studies:
            print("no studies yet (run one with `snn-search run STUDY.toml`)")
            return 0
        table = Table(title="studies", title_justify="left")
        for column in ("name", "dataset", "trials", "complete", "pruned", "failed", "tracking", "directory"):
            table.add_column(column)
        for layout in studies:
            view = StudyView(layout.name, layout.dir.parent)
            states = Counter(row.state for row in view.rows())  # no Pareto ranking or Optuna query needed
            table.add_row(layout.name, view.manifest.dataset, f"{sum(states.values())}/{view.manifest.trials}",
                          str(states.get("COMPLETE", 0)), str(states.get("PRUNED", 0)), str(states.get("FAILED", 0)),
                          view.manifest.tracking_uri, str(layout.dir))
        make_console().print(table)
        return 0
