"""What the ``snn`` and ``snn-search`` command lines share: the command protocol, the parser of its
subcommands, and how a command's errors end: a :class:`snn.errors.UserError` (a mistake the user can fix) as
one line and exit status 2, like argparse's own usage errors; anything else, a bug, with its traceback and
exit status 1."""

from __future__ import annotations

import argparse
import sys
import tomllib
import traceback
from collections.abc import Sequence
from typing import Any, Protocol

from snn.errors import UserError

__all__ = ["Command", "CommandError", "parse_assignment", "build_command_parser", "run_command"]


class Command(Protocol):
    name: str
    help: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


class CommandError(UserError):
    """A mistake in a command's arguments that the user can fix; printed without a traceback, exit status 2."""


def parse_assignment(text: str) -> tuple[str, Any]:
    """``"loss.alpha=1e-3"`` -> ``("loss.alpha", 0.001)``. The value is a TOML literal (``5``, ``1e-3``,
    ``true``, ``[5, 40, 3]``, ``"cuda"``); a value that is not valid TOML is taken as a bare string, so
    ``data.dataset=mnist`` works without shell-quoted quotes."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise CommandError(f"--set expects KEY=VALUE (e.g. loss.alpha=1e-3), got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value


def build_command_parser(prog: str, description: str, commands, **subparser_options) -> argparse.ArgumentParser:
    """An argparse parser with one subcommand per command object (``name``, ``help``, ``add_arguments``, ``run``);
    shared by ``snn`` and ``snn-search``."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    for command in commands:
        p = sub.add_parser(command.name, help=command.help, description=getattr(command, "description", command.help),
                           **subparser_options)
        command.add_arguments(p)
        p.set_defaults(_command=command)
    return parser


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parses ``argv`` and runs the chosen command; returns its exit status. A ``UserError`` is printed as one
    line (exit status 2); any other exception is a bug: its traceback is printed, and exit status 1."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse: --help (0) or a usage error (2, message already printed)
        return int(exit.code or 0)
    where = f"{parser.prog} {args._command.name}"
    try:
        return args._command.run(args)
    except UserError as error:
        print(f"{where}: error: {error}", file=sys.stderr)
        return 2
    except Exception:  # noqa: BLE001 - shown whole, never as a one-liner: the traceback is what a fix needs
        traceback.print_exc()
        print(f"{where}: internal error: the traceback above is a bug in {parser.prog}, not a mistake in the "
              f"input; please report it with the traceback", file=sys.stderr)
        return 1
