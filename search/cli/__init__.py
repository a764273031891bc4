"""The ``snn-search`` command line: one small command class per subcommand, registered in :data:`COMMANDS`.

A command has ``name``, ``help``, ``add_arguments(parser)`` and ``run(args) -> int``. Mistakes the user can
fix (a bad study file, an unknown study, a study that exists already) are printed without a traceback and
exit with status 2, like argparse's own usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from search.cli.common import Command, CommandError
from search.cli.doctor import DoctorCommand
from search.cli.inspect import ListCommand, ParetoCommand, StatusCommand
from search.cli.run import ResumeCommand, RunCommand
from search.cli.ui import UiCommand

__all__ = ["main", "build_parser", "COMMANDS", "Command", "CommandError"]

COMMANDS: list[Command] = [RunCommand(), ResumeCommand(), StatusCommand(), ParetoCommand(), ListCommand(), UiCommand(), DoctorCommand()]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn-search",
        description="Multi-objective hyperparameter search (accuracy vs spikes) for deep spiking networks: "
                    "Ray Tune runs the trials, Optuna proposes them, MLflow records them.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=getattr(command, "description", command.help),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        command.add_arguments(p)
        p.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snn-search`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse: --help (0) or a usage error (2, message already printed)
        return int(exit.code or 0)
    try:
        return args._command.run(args)
    except (CommandError, ValueError, FileNotFoundError, FileExistsError) as error:
        print(f"snn-search {args._command.name}: error: {error}", file=sys.stderr)
        return 2
