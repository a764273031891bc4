"""The ``snn`` command line: one small command class per subcommand, registered in :data:`COMMANDS`.

A command has ``name``, ``help``, ``add_arguments(parser)`` and ``run(args) -> int``. It raises
:class:`CommandError` for anything the user can fix (bad study file, unknown ``--set`` key, out-of-range value):
``main`` prints the message without a traceback and exits with status 2, like argparse's own usage errors.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Protocol

from snn.cli.common import CommandError
from snn.cli.bench import BenchCommand
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
    BenchCommand(),
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snn", description="Deep spiking networks trained with exact EventProp gradients.")
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=getattr(command, "description", command.help))
        command.add_arguments(p)
        p.set_defaults(_command=command, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``snn`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse: --help (0) or a usage error (2, message already printed)
        return int(exit.code or 0)
    try:
        return args._command.run(args)
    except CommandError as error:
        print(f"snn {args._command.name}: error: {error}", file=sys.stderr)
        return 2
