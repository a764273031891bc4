"""The ``snn`` command line: one small command class per subcommand, registered in :data:`COMMANDS`.

A command has ``name``, ``help``, ``add_arguments(parser)`` and ``run(args) -> int``. Anything the user can fix
(bad study file, unknown ``--set`` key, out-of-range value) is a :class:`snn.errors.UserError`, such as
:class:`CommandError`: ``main`` prints its message without a traceback and exits with status 2, like argparse's
own usage errors. Any other exception is a bug: its traceback is printed and the exit status is 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from snn.cli.common import Command, CommandError, build_command_parser, run_command
from snn.cli.bench import BenchCommand
from snn.cli.seeds import SeedsCommand
from snn.cli.train import TrainCommand

__all__ = ["main", "COMMANDS", "Command", "CommandError"]


# Adding a subcommand is one line here.
COMMANDS: list[Command] = [
    TrainCommand(),
    SeedsCommand(),
    BenchCommand(),
]


def build_parser() -> argparse.ArgumentParser:
    return build_command_parser("snn", "Deep spiking networks trained with exact EventProp gradients.", COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    return run_command(build_parser(), argv)
