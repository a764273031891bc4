"""``snn-search run STUDY.toml`` and ``snn-search resume NAME``: run (or continue) a study and print its
summary."""

from __future__ import annotations

import argparse
import time

from search.outcome import FINISHED_STATES

from search.cli.inspect import ui_command_for
from search.cli.render import make_console, print_summary, trials_table
from search.layout import default_root
from search.study import RunOptions, StudyRun, resume_command, resume_study, run_study

__all__ = ["RunCommand", "ResumeCommand"]


class RunCommand:
    name = "run"
    help = "run a study file ([train] + [search]) with Ray Tune, Optuna and MLflow"
    description = (
        "Run a study: Optuna proposes trials, Ray Tune runs them (pruning networks that switch off), MLflow\n"
        "records one parent run per study and one child run per trial.\n\n"
        "Defaults: a local Ray on 127.0.0.2, MLflow in sqlite:///./mlflow.db, state in ./snn-studies/NAME/."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study_file", metavar="STUDY.toml", help="study file: [train] and [search] tables")
        parser.add_argument("--name", help="study name (default: the file's stem); names the state dir and MLflow experiment")
        parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: [search.storage], else sqlite:///./mlflow.db)")
        parser.add_argument("--resume", action="store_true", help="continue the study of this name (unfinished trials resume from checkpoints)")
        _add_run_options(parser, root_default="[search.storage].root, else ./snn-studies")

    def run(self, args: argparse.Namespace) -> int:
        return _run_and_report(run_study, args.study_file, RunOptions(
            name=args.name, address=args.address, tracking_uri=args.tracking_uri, resume=args.resume,
            root=args.root, num_cpus=args.num_cpus, live=not args.no_live,
        ))


class ResumeCommand:
    name = "resume"
    help = "continue an interrupted study (Ctrl-C, a killed driver, a lost node) from its saved state"
    description = (
        "Continue study NAME from its own copy of the study file: finished trials are kept, unfinished ones\n"
        "continue from their last epoch checkpoint, Optuna's sampler keeps its history, and every trial keeps\n"
        "its one MLflow run. The same as `snn-search run STUDY.toml --resume`."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study_name", metavar="NAME", help="the study's name (`snn-search list` shows them)")
        _add_run_options(parser, root_default="$SNN_SEARCH_ROOT, else ./snn-studies")

    def run(self, args: argparse.Namespace) -> int:
        return _run_and_report(resume_study, args.study_name, RunOptions(address=args.address, root=args.root,
                                                                         num_cpus=args.num_cpus, live=not args.no_live))


def _run_and_report(run, target: str, options: RunOptions) -> int:
    from search.interrupts import Interrupted, exit_status

    start = time.perf_counter()
    try:
        result = run(target, options)
    except Interrupted as stop:  # before any trial could start: nothing to continue, nothing changed
        print(f"interrupted ({stop}) before the study's trials started", flush=True)
        return exit_status(stop.signum)
    return report(result, start)


def _add_run_options(parser: argparse.ArgumentParser, root_default: str) -> None:
    """The options `run` and `resume` share: where Ray runs, where the state lives, how progress shows."""
    parser.add_argument("--address", help="Ray cluster address to join (default: start a local Ray)")
    parser.add_argument("--root", help=f"state directory (default: {root_default})")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    parser.add_argument("--no-live", action="store_true", help="no live trial table: one line per finished trial")


def report(result: StudyRun, start: float) -> int:
    """Prints the trials, the summary and, when trials are left, how to continue; the exit status is
    128 + the signal's number when a signal stopped the study (130 for Ctrl-C, 143 for SIGTERM)."""
    from search.interrupts import exit_status
    from search.tracking import StudyTracker

    console = make_console()
    manifest = result.manifest
    root = result.layout.dir.parent
    root = root if root != default_root() else None  # the commands below must find the study where it is
    tracker = StudyTracker(manifest.tracking_uri, manifest.name)
    console.print(trials_table(tracker.trials(), result.settings.objectives, f"{manifest.name}: trials", console.width))
    print_summary(console, result.summary, tracking_uri=manifest.tracking_uri,
                  experiment_id=manifest.experiment_id, study_dir=str(result.layout.dir),
                  ui_command=ui_command_for(manifest.name, root))
    unfinished = result.settings.trials - sum(n for s, n in result.summary["states"].items() if s in FINISHED_STATES)
    if result.interrupted_by is not None:
        console.print(f"[yellow]interrupted: {unfinished} trial(s) unfinished; continue with: "
                      f"{resume_command(result.layout)}", soft_wrap=True, highlight=False)
        return exit_status(result.interrupted_by)
    if unfinished > 0:
        console.print(f"[yellow]study stopped with {unfinished} trial(s) unfinished; continue it with: "
                      f"{resume_command(result.layout)} (or snn-search run {manifest.study_file or 'STUDY.toml'} "
                      f"--resume)", soft_wrap=True)
    console.print(f"finished in {time.perf_counter() - start:.0f} s")
    return 0
