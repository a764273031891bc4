"""Helpers shared by the ``snn`` subcommands."""

from __future__ import annotations

import tomllib
from typing import Any

__all__ = ["CommandError", "parse_assignment"]


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
