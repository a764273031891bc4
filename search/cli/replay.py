"""``snn-search replay NAME``: successive halving replayed on a finished study (search.replay), to choose
``[search.early_stopping]`` from a study that trained every trial in full."""

from __future__ import annotations

import argparse
import statistics

from search.cli.common import add_root
from search.cli.render import make_console
from search.replay import ReplayableStudy
from search.rungs import EarlyStoppingConfig
from snn.errors import UserError

__all__ = ["ReplayCommand", "read_study", "rule_grid"]


def rule_grid(epochs: int) -> list[EarlyStoppingConfig]:
    """Rules to try on a study of ``epochs`` epochs: early, middle and late rungs, factors 2 to 4."""
    shapes = [(1 / 12, 1 / 4, 3 / 4), (1 / 4, 3 / 4), (1 / 2, 3 / 4), (3 / 4,)]
    grid = []
    for shape in shapes:
        rungs = tuple(sorted({max(1, min(epochs - 1, round(f * epochs))) for f in shape}))
        if rungs[-1] < epochs and rungs not in [rule.rungs for rule in grid]:  # a 1- or 2-epoch study has few
            grid += [EarlyStoppingConfig(True, rungs, float(factor), 4) for factor in (2, 3, 4)]
    return grid


def _rungs(text: str) -> tuple[int, ...]:
    try:
        rungs = tuple(int(r) for r in text.split(","))
    except ValueError:
        rungs = ()
    if not rungs or rungs[0] < 1 or any(b <= a for a, b in zip(rungs, rungs[1:])):
        raise argparse.ArgumentTypeError(f"takes increasing epochs >= 1 separated by commas, e.g. 5,15,45; got {text!r}")
    return rungs


def _factor(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 1:
        raise argparse.ArgumentTypeError(f"must be a number > 1 (3 keeps the best third at each rung); got {text!r}")
    return value


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1; got {text!r}")
    return int(text)


class ReplayCommand:
    name = "replay"
    help = "replay successive halving on finished studies: the epochs a rule would save, the hypervolume it keeps"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("studies", metavar="NAME", nargs="+",
                            help="finished studies that trained every trial in full (several: medians over them)")
        parser.add_argument("--rungs", type=_rungs, default=None,
                            help="epochs of the rule to replay, e.g. 5,15,45 (default: a grid of rules)")
        parser.add_argument("--reduction-factor", type=_factor, default=3.0, help="with --rungs (default 3)")
        parser.add_argument("--min-trials", type=_count, default=4, help="with --rungs (default 4)")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        from rich.table import Table

        studies = [read_study(name, args.root) for name in args.studies]
        epochs = min(study.epochs for study in studies)
        if args.rungs is not None and args.rungs[-1] >= epochs:
            raise UserError(f"--rungs {','.join(map(str, args.rungs))}: every rung must lie below the studies' {epochs} "
                            "epochs (a trial that trained them all has nothing to save)")
        if epochs < 2:
            raise UserError(f"the studies train {epochs} epoch: no rung can lie below it, so there is nothing to replay")
        rules = rule_grid(epochs) if args.rungs is None else [
            EarlyStoppingConfig(True, args.rungs, args.reduction_factor, args.min_trials)]
        one = len(studies) == 1
        title = (f"{studies[0].name}: {len(studies[0].curves)} trials, {studies[0].full.epochs} epochs, hypervolume "
                 f"{studies[0].full.hypervolume:.4f}" if one else f"{len(studies)} studies, medians (lowest)")
        table = Table(title=f"{title}; successive halving replayed", title_justify="left")
        columns = ["rungs", "factor", "min trials", "stopped", "epochs", "of the study's", "hypervolume", "kept"] if one \
            else ["rungs", "factor", "min trials", "epochs", "hypervolume kept", "studies keeping all with <= 1/2 the epochs"]
        for column in columns:
            table.add_column(column, justify="left" if column == "rungs" else "right")
        for rule in rules:
            shares = [study.replay(rule) for study in studies]
            head = [",".join(map(str, rule.rungs)), f"{rule.reduction_factor:g}", str(rule.min_trials)]
            if one:
                result, kept, spent = shares[0]
                table.add_row(*head, str(len(result.stopped)), str(result.epochs), f"{spent:.0%}",
                              f"{result.hypervolume:.4f}", f"{kept:.1%}")
            else:
                kept, spent = [s[1] for s in shares], [s[2] for s in shares]
                table.add_row(*head, f"{statistics.median(spent):.0%}",
                              f"{statistics.median(kept):.1%} ({min(kept):.1%})",
                              str(sum(k >= 1 and e <= 0.5 for _, k, e in shares)))
        console = make_console()
        console.print(table)
        console.print("Same proposals as the study's sampler made: stopping can keep the front, never improve it "
                      "(a real study's sampler, seeing other trials complete, proposes differently).")
        return 0


def read_study(name: str, root: str | None) -> ReplayableStudy:
    """``name``'s curves, read with a progress bar (a few MLflow queries per trial)."""
    from rich.progress import Progress

    with Progress(transient=True, console=make_console()) as progress:
        task = progress.add_task(f"reading {name}'s trials from MLflow", total=None)
        return ReplayableStudy(name, root, lambda done, total: progress.update(task, completed=done, total=total))
