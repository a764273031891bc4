"""The ``snn`` command line: one small command class per subcommand, registered in :data:`COMMANDS`.

A command has ``name``, ``help``, ``add_arguments(parser)`` and ``run(args) -> int``. It raises
:class:`CommandError` for anything the user can fix (bad study file, unknown ``--set`` key, out-of-range value):
``main`` prints the message without a traceback and exits with status 2, like argparse's own usage errors.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Protocol

from snn.cli.common import CommandError, build_command_parser, run_command
from snn.cli.bench import BenchCommand
from snn.cli.seeds import SeedsCommand
from snn.cli.train import TrainCommand

__all__ = ["main", "COMMANDS", "Command", "CommandError"]


class Command(Protocol):
    name: str
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


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
    return run_command(build_parser(), argv, (CommandError,))
