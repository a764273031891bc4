"""Type and range checks for configuration values; every error names the dotted key and the bad value."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["number", "integer", "string", "boolean", "table", "sequence", "check_keys"]


def _show(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def number(value: Any, key: str, *, min: float | None = None, max: float | None = None,
           min_open: bool = False, max_open: bool = False) -> float:
    """A finite float (TOML ints are accepted: ``alpha = 0`` means 0.0) within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{key} must be a number, got {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{key} must be finite, got {value}")
    if min is not None and (value <= min if min_open else value < min):
        raise ValueError(f"{key} must be {'>' if min_open else '>='} {min}, got {value}")
    if max is not None and (value >= max if max_open else value > max):
        raise ValueError(f"{key} must be {'<' if max_open else '<='} {max}, got {value}")
    return value


def integer(value: Any, key: str, *, min: int | None = None, max: int | None = None) -> int:
    # bool is an int subclass; `epochs = true` is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, got {_show(value)}")
    if min is not None and value < min:
        raise ValueError(f"{key} must be >= {min}, got {value}")
    if max is not None and value > max:
        raise ValueError(f"{key} must be <= {max}, got {value}")
    return value


def string(value: Any, key: str, *, choices: Sequence[str] | None = None) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, got {_show(value)}")
    if choices is not None and value not in choices:
        raise ValueError(f"{key} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def boolean(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false, got {_show(value)}")
    return value


def table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{key} must be a table, got {_show(value)}")
    return value


def sequence(value: Any, key: str, *, length: int | None = None, min_length: int = 0) -> Sequence[Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ValueError(f"{key} must be an array, got {_show(value)}")
    if length is not None and len(value) != length:
        raise ValueError(f"{key} must have {length} entr{'y' if length == 1 else 'ies'}, got {len(value)}: {list(value)}")
    if len(value) < min_length:
        raise ValueError(f"{key} must have at least {min_length} entries, got {len(value)}: {list(value)}")
    return value


def check_keys(d: Mapping[str, Any], known: Sequence[str], key: str) -> None:
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ValueError(
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(f'{key}.{k}' for k in unknown)}; "
            f"known keys in {key}: {', '.join(known)}"
        )
