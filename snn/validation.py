"""Checks for the values of a study file's tables, shared by ``snn.train`` and the search service, with one
message style: the dotted key, what it must be, the value it got and, where there is one, the fix::

    train.loss.alpha must be >= 0, got -1.0
    search.resources.cpus must be > 0, got 0.0; a trial needs a share of a CPU to run, e.g. cpus = 1
    unknown key search.trails; known keys in search: trials, concurrency, ...; did you mean search.trials?

Every failure is a :class:`snn.errors.UserError`. ``flatten`` turns nested tables into those dotted keys.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import Any

from snn.errors import UserError

__all__ = ["invalid", "shown", "number", "integer", "string", "boolean", "table", "sequence", "check_keys", "flatten"]


def invalid(key: str, requirement: str, got: str, fix: str | None = None) -> UserError:
    """The error for ``key``: ``"{key} must {requirement}, got {got}; {fix}"`` (``got`` is the value as
    text; ``requirement`` starts with its verb: "be >= 0", "have 2 entries"). Raise what it returns."""
    return UserError(f"{key} must {requirement}, got {got}" + (f"; {fix}" if fix else ""))


def shown(value: Any) -> str:
    """A value of the wrong type, with its type: ``'abc' (str)``."""
    return f"{value!r} ({type(value).__name__})"


def _did_you_mean(word: str, options: Sequence[str], show=str) -> str | None:
    """A suggestion for a typo, only when one option is clearly the closest (``L_X`` is as near ``L_A`` as
    ``L_W``: no guess)."""
    ratios = sorted(((difflib.SequenceMatcher(None, word, o).ratio(), o) for o in options), reverse=True)
    if not ratios or ratios[0][0] < 0.6 or (len(ratios) > 1 and ratios[1][0] == ratios[0][0]):
        return None
    return f"did you mean {show(ratios[0][1])}?"


def number(value: Any, key: str, *, min: float | None = None, max: float | None = None,
           min_open: bool = False, max_open: bool = False, fix: str | None = None) -> float:
    """A finite float (TOML ints are accepted: ``alpha = 0`` means 0.0) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise invalid(key, "be a number", shown(value), fix)
    value = float(value)
    if not math.isfinite(value):
        raise invalid(key, "be finite", repr(value), fix)
    if min is not None and (value <= min if min_open else value < min):
        raise invalid(key, f"be {'>' if min_open else '>='} {min}", repr(value), fix)
    if max is not None and (value >= max if max_open else value > max):
        raise invalid(key, f"be {'<' if max_open else '<='} {max}", repr(value), fix)
    return value


def integer(value: Any, key: str, *, min: int | None = None, max: int | None = None, fix: str | None = None) -> int:
    # bool is an int subclass; `epochs = true` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(key, "be an integer", shown(value), fix)
    if min is not None and value < min:
        raise invalid(key, f"be >= {min}", repr(value), fix)
    if max is not None and value > max:
        raise invalid(key, f"be <= {max}", repr(value), fix)
    return value


def string(value: Any, key: str, *, choices: Sequence[str] | None = None, fix: str | None = None) -> str:
    if not isinstance(value, str):
        raise invalid(key, "be a string", shown(value), fix)
    if choices is not None and value not in choices:
        raise invalid(key, f"be one of {', '.join(map(repr, choices))}", repr(value), fix or _did_you_mean(value, choices, repr))
    return value


def boolean(value: Any, key: str, *, fix: str | None = None) -> bool:
    if not isinstance(value, bool):
        raise invalid(key, "be true or false", shown(value), fix)
    return value


def table(value: Any, key: str, *, fix: str | None = None) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise invalid(key, "be a table", shown(value), fix)
    return value


def _entries(n: int) -> str:
    return f"{n} entr{'y' if n == 1 else 'ies'}"


def sequence(value: Any, key: str, *, length: int | None = None, min_length: int = 0,
             fix: str | None = None) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise invalid(key, "be an array", shown(value), fix)
    if length is not None and len(value) != length:
        raise invalid(key, f"have {_entries(length)}", f"{len(value)}: {list(value)}", fix)
    if len(value) < min_length:
        raise invalid(key, f"have at least {_entries(min_length)}", f"{len(value)}: {list(value)}", fix)
    return value


def check_keys(d: Mapping[str, Any], known: Sequence[str], key: str) -> None:
    """Every key of the table ``d`` (at dotted ``key``) is one of ``known``; a typo gets a suggestion."""
    unknown = sorted(set(d) - set(known), key=str)
    if unknown:
        hint = _did_you_mean(str(unknown[0]), [str(k) for k in known], lambda k: f"{key}.{k}") if len(unknown) == 1 else None
        raise UserError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(f'{key}.{k}' for k in unknown)}; "
            f"known keys in {key}: {', '.join(map(str, known))}" + (f"; {hint}" if hint else "")
        )


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables -> ``{dotted key: value}`` under ``prefix``. A name holding dots (TOML's quoted
    ``"loss.alpha" = ...``) and the nested tables it abbreviates give the same key."""
    out: dict[str, Any] = {}
    for name, value in d.items():
        here = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(value, Mapping):
            out.update(flatten(value, here))
        else:
            out[here] = value
    return out
