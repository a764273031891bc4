"""The ``snn-search`` command line: one small command class per subcommand, registered in :data:`COMMANDS`.

A command has ``name``, ``help``, ``add_arguments(parser)`` and ``run(args) -> int``. Mistakes the user can
fix (a bad study file, an unknown study, a study that exists already) are :class:`snn.errors.UserError`:
printed without a traceback, exit status 2, like argparse's own usage errors. Any other exception is a bug:
its traceback is printed and the exit status is 1 (``snn.cli.common.run_command``, shared with ``snn``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from search.cli.common import Command, CommandError
from search.cli.confirm import ConfirmCommand
from snn.cli.common import build_command_parser, run_command
from search.cli.doctor import DoctorCommand
from search.cli.inspect import ListCommand, ParetoCommand, StatusCommand
from search.cli.replay import ReplayCommand
from search.cli.run import ResumeCommand, RunCommand
from search.cli.ui import UiCommand

__all__ = ["main", "build_parser", "COMMANDS", "Command", "CommandError"]

COMMANDS: list[Command] = [RunCommand(), ResumeCommand(), StatusCommand(), ParetoCommand(), ListCommand(), UiCommand(), DoctorCommand(),
                           ConfirmCommand(), ReplayCommand()]


def build_parser() -> argparse.ArgumentParser:
    return build_command_parser(
        "snn-search",
        "Multi-objective hyperparameter search (accuracy vs spikes) for deep spiking networks: "
        "Ray Tune runs the trials, Optuna proposes them, MLflow records them.",
        COMMANDS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snn-search`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    return run_command(build_parser(), argv)
