"""``snn seeds STUDY.toml [STUDY.toml ...] [--seeds 0-9] [--jobs N] [--threads T] [--out DIR] [--set KEY=VALUE ...]``

Trains every study over the seeds, ``--jobs`` runs at a time (each a ``snn train`` process with ``--threads``
threads, its output in ``<run>/train.log``), with a live bar per run, then prints and writes the table of
median / mean / std. Finished runs are reused, interrupted ones continue from their checkpoints: after Ctrl-C,
the same command picks up where it stopped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from snn.cli.common import CommandError, parse_assignment

__all__ = ["SeedsCommand"]


class SeedsCommand:
    name = "seeds"
    help = "train study files over several seeds in parallel; print the median / mean / std table"
    description = __doc__.split("\n\n", 1)[1].strip()

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("studies", metavar="STUDY.toml", nargs="+", help="study files with a [train] table")
        parser.add_argument("--seeds", default="0-9", help="seeds: N, A-B or a comma list (default: 0-9, the paper's 10)")
        parser.add_argument("--jobs", type=int, metavar="N", help="runs at a time (default: cores / threads)")
        parser.add_argument("--threads", type=int, default=1, metavar="T", help="threads per run (default: 1)")
        parser.add_argument("--out", default="runs", metavar="DIR",
                            help="runs go to DIR/<study>-seed<N>, as `snn train` names them (default: runs)")
        parser.add_argument("--set", dest="overrides", action="extend", nargs="+", default=[], metavar="KEY=VALUE",
                            help="override a key of [train] in every run, as in `snn train`")

    def run(self, args: argparse.Namespace) -> int:
        from snn.train.repeat import parse_seeds, plan_runs, run_state

        if args.threads < 1 or (args.jobs is not None and args.jobs < 1):
            raise CommandError(f"--jobs and --threads must be >= 1, got jobs={args.jobs}, threads={args.threads}")
        jobs = args.jobs or max(1, (os.cpu_count() or 1) // args.threads)
        overrides = dict(parse_assignment(a) for a in args.overrides)
        runs = plan_runs(args.studies, parse_seeds(args.seeds), args.out, overrides)
        states = {run: run_state(run) for run in runs}
        todo = [run for run in runs if states[run] != "done"]
        partial = sum(states[run] == "partial" for run in todo)
        print(f"{len(runs)} runs ({len(runs) - len(todo)} finished already, {partial} to continue, "
              f"{len(todo) - partial} to start); {jobs} at a time, {args.threads} thread(s) each; "
              f"logs in {args.out}/<study>-seed<N>/train.log")
        try:
            failed = _Pool(jobs, args.threads, args.overrides).run(todo, states) if todo else []
        except KeyboardInterrupt:
            print("\ninterrupted: finished epochs are saved; run the same command again to continue")
            return 130
        return _report(runs, failed, Path(args.out))


class _Pool:
    """Runs ``snn train`` processes, ``jobs`` at a time, with a rich bar per running run."""

    def __init__(self, jobs: int, threads: int, overrides: list[str]) -> None:
        self.jobs, self.threads, self.overrides = jobs, threads, overrides

    def command(self, run, resume: bool) -> list[str]:
        where = ["--resume", str(run.out_dir)] if resume else ["--out", str(run.out_dir)]
        sets = ["--set", *self.overrides] if self.overrides else []
        return [sys.executable, "-m", "snn.cli", "train", str(run.study_file), "--seed", str(run.seed), *where,
                "--quiet", *sets]

    def run(self, todo: list, states: dict) -> list:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from snn.train.repeat import epochs_done, run_result

        env = {**os.environ, "OMP_NUM_THREADS": str(self.threads)}
        waiting, running, failed = list(todo), {}, []
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as progress:
            overall = progress.add_task("runs", total=len(todo))
            try:
                while waiting or running:
                    while waiting and len(running) < self.jobs:
                        run = waiting.pop(0)
                        run.out_dir.mkdir(parents=True, exist_ok=True)
                        log = open(run.out_dir / "train.log", "a")
                        process = subprocess.Popen(self.command(run, states[run] == "partial"), stdout=log,
                                                   stderr=subprocess.STDOUT, env=env)
                        task = progress.add_task(f"  {run.label}", total=run.config.schedule.epochs)
                        running[run] = (process, log, task)
                    time.sleep(0.5)
                    for run, (process, log, task) in list(running.items()):
                        progress.update(task, completed=epochs_done(run))
                        if process.poll() is None:
                            continue
                        log.close()
                        progress.remove_task(task)
                        progress.advance(overall)
                        del running[run]
                        result = run_result(run)
                        if result is None:
                            failed.append(run)
                            progress.console.print(f"FAILED {run.label} (exit {process.returncode}): see {run.out_dir / 'train.log'}")
                        else:
                            progress.console.print(f"done {run.label}: accuracy {100 * result['accuracy']:.2f} %, "
                                                   f"N_S {result['n_s']:.3f}, {result['seconds']:.0f} s"
                                                   + (" (stopped early)" if result["stopped_early"] else ""))
            finally:  # Ctrl-C or an error: stop the runs; their checkpoints let the next call continue them
                for process, log, _ in running.values():
                    process.terminate()
                for process, log, _ in running.values():
                    process.wait()
                    log.close()
        return failed


def _report(runs: list, failed: list, out: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    from snn.train.repeat import run_result, summarize, summary_markdown

    results: dict[str, list] = {}
    for run in runs:
        result = run_result(run)
        results.setdefault(run.study, [])
        if result is not None:
            results[run.study].append(result)
    rows = summarize(results)
    table = Table(title="test set over seeds", title_justify="left")
    table.add_column("study")
    table.add_column("runs", justify="right")
    for metric in ("accuracy %", "CE", "N_S"):
        for stat in ("median", "mean", "std"):
            table.add_column(f"{metric} {stat}" if stat == "median" else stat, justify="right")
    table.add_column("s/run", justify="right")
    for row in rows:
        cells = [row["study"], str(row["runs"])]
        for key, digits in (("accuracy", 2), ("ce", 4), ("n_s", 3)):
            cells += [f"{row[key][stat]:.{digits}f}" for stat in ("median", "mean", "std")]
        table.add_row(*cells, f"{row['seconds_per_run']:.0f}")
    console = Console()
    (console if console.is_terminal else Console(width=140)).print(table)  # logs: one line per study
    stem = "seeds-" + "+".join(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(rows, indent=1) + "\n")
    (out / f"{stem}.md").write_text(summary_markdown(rows))
    print(f"table written to {out / f'{stem}.md'} and {out / f'{stem}.json'}")
    for row in rows:
        if row["stopped_early"]:
            print(f"{row['study']}: seeds {row['stopped_early']} stopped early (non-finite loss); they are in the table")
    if failed:
        print(f"{len(failed)} run(s) failed and are not in the table: {', '.join(r.label for r in failed)}")
    return 1 if failed else 0
