"""Helpers shared by the ``snn`` subcommands."""

from __future__ import annotations

import argparse
import sys
import tomllib
from collections.abc import Sequence
from typing import Any

__all__ = ["CommandError", "parse_assignment", "build_command_parser", "run_command"]


class CommandError(Exception):
    """A mistake the user can fix; printed without a traceback, exit status 2."""


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


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None, user_errors: tuple[type[Exception], ...]) -> int:
    """Parses ``argv`` and runs the chosen command. ``user_errors`` are mistakes the user can fix: printed
    without a traceback, exit status 2 (as argparse's own usage errors)."""
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit:  # argparse: --help (0) or a usage error (2, message already printed)
        return int(exit.code or 0)
    try:
        return args._command.run(args)
    except user_errors as error:
        print(f"{parser.prog} {args._command.name}: error: {error}", file=sys.stderr)
        return 2
