"""The search space: one ``ParamSpec`` per train field, parsed from ``[search.space]`` and turned into
Optuna distributions.

Keys are dotted paths relative to ``[train]`` ("loss.alpha", "schedule.phase1.lr"). TOML lets a user write
them quoted (``"loss.alpha" = {...}``) or as nested tables (``[search.space.loss] alpha = {...}``); both
flatten to the same key. A table is a parameter when it has a ``type`` key.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["ParamSpec", "parse_space", "parse_points", "to_optuna"]

_FIELDS = {
    "float": {"type", "low", "high", "log", "step"},
    "int": {"type", "low", "high", "log", "step"},
    "categorical": {"type", "choices"},
}


@dataclass(frozen=True)
class ParamSpec:
    """One searched train field, in Optuna's terms (bounds inclusive)."""

    key: str
    type: str
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple = ()

    def describe(self) -> str:
        if self.type == "categorical":
            return f"categorical{list(self.choices)}"
        extra = " log" if self.log else (f" step={self.step}" if self.step is not None else "")
        return f"{self.type}[{self.low}, {self.high}]{extra}"

    def check_value(self, where: str, value: Any) -> Any:
        """A start point's value for this parameter, checked to lie in the range."""
        if self.type == "categorical":
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {list(self.choices)}, got {value!r}")
            return value
        value = _number(where, "value", value, self.type == "int")
        if not self.low <= value <= self.high:
            raise ValueError(f"{where} must lie in [{self.low}, {self.high}], got {value!r}")
        return value

    def sample_values(self) -> list:
        """Representative values (bounds or every choice), to type-check against the train config."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]


def _number(where: str, name: str, value: Any, integer: bool) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{where}: {name} must be a number, got {name}={value!r}")
    if integer and not isinstance(value, int):
        raise ValueError(f"{where}: {name} must be an integer for type = \"int\", got {name}={value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where}: {name} must be finite, got {name}={value!r}")
    return value


def _parse_param(where: str, key: str, table: Mapping[str, Any]) -> ParamSpec:
    kind = table.get("type")
    if kind not in _FIELDS:
        raise ValueError(f"{where}.type must be one of {sorted(_FIELDS)}, got type={kind!r}")
    unknown = sorted(set(table) - _FIELDS[kind])
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for type = \"{kind}\"; allowed: {sorted(_FIELDS[kind])}")
    if kind == "categorical":
        choices = table.get("choices")
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"{where}.choices must be a non-empty list, got choices={choices!r}")
        for choice in choices:
            if not isinstance(choice, (bool, int, float, str)):
                raise ValueError(f"{where}.choices: Optuna takes only bool/int/float/str choices, got {choice!r}")
        if len({repr(c) for c in choices}) != len(choices):
            raise ValueError(f"{where}.choices must not repeat a value, got choices={choices!r}")
        return ParamSpec(key, kind, choices=tuple(choices))

    integer = kind == "int"
    for name in ("low", "high"):
        if name not in table:
            raise ValueError(f"{where}.{name} is required for type = \"{kind}\"")
    low = _number(where, "low", table["low"], integer)
    high = _number(where, "high", table["high"], integer)
    if not low <= high:
        raise ValueError(f"{where}: low <= high must hold, got low={low}, high={high}")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise ValueError(f"{where}.log must be true or false, got log={log!r}")
    if log and low <= 0:
        raise ValueError(f"{where}: log = true needs low > 0, got low={low}")
    step = table.get("step")
    if step is not None:
        step = _number(where, "step", step, integer)
        if step <= 0:
            raise ValueError(f"{where}: step must be > 0, got step={step}")
        if log and not (integer and step == 1):
            raise ValueError(f"{where}: Optuna cannot combine log = true with step={step}; drop one of them")
        if step > high - low and high != low:
            raise ValueError(f"{where}: step must fit in [low, high], got step={step}, low={low}, high={high}")
    return ParamSpec(key, kind, low=low, high=high, log=log, step=step)


def parse_space(table: Mapping[str, Any], prefix: str = "search.space") -> dict[str, ParamSpec]:
    """``[search.space]`` -> ``{dotted train key: ParamSpec}``; errors name the full key."""
    if not isinstance(table, Mapping):
        raise ValueError(f"{prefix} must be a table, got {table!r}")
    space: dict[str, ParamSpec] = {}

    def walk(node: Mapping[str, Any], path: list[str]) -> None:
        for name, value in node.items():
            here = [*path, *str(name).split(".")]
            where = ".".join([prefix, *here])
            if not isinstance(value, Mapping):
                raise ValueError(f"{where} must be a table like {{ type = \"float\", low = ..., high = ... }}, got {value!r}")
            if "type" in value:
                key = ".".join(here)
                if key in space:
                    raise ValueError(f"{where} is given twice")
                space[key] = _parse_param(where, key, value)
            else:
                walk(value, here)

    walk(table, [])
    return space


def _flatten(table: Mapping[str, Any], path: tuple[str, ...] = ()) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in table.items():
        here = (*path, *str(name).split("."))
        if isinstance(value, Mapping):
            flat.update(_flatten(value, here))
        else:
            flat[".".join(here)] = value
    return flat


def parse_points(value: Any, space: Mapping[str, ParamSpec], prefix: str = "search.start_points") -> list[dict[str, Any]]:
    """``start_points``: parameter sets to try first (e.g. the paper's hand-tuned values), each naming every
    searched key with a value inside its range."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, Mapping) for p in value):
        raise ValueError(f"{prefix} must be a list of tables like {{ \"loss.alpha\" = 3.5e-3 }}, got {value!r}")
    points = []
    for i, table in enumerate(value):
        point = _flatten(table)
        where = f"{prefix}[{i}]"
        unknown = sorted(set(point) - set(space))
        missing = sorted(set(space) - set(point))
        if unknown or missing:
            raise ValueError(f"{where} must name exactly the searched keys {sorted(space)}; unknown: {unknown}, missing: {missing}")
        points.append({key: space[key].check_value(f"{where}.{key}", point[key]) for key in space})
    return points


def to_optuna(space: Mapping[str, ParamSpec]) -> dict:
    """``{key: optuna distribution}`` in the key order of the space (OptunaSearch's ``space`` argument)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distributions = {}
    for key, spec in space.items():
        if spec.type == "categorical":
            distributions[key] = CategoricalDistribution(list(spec.choices))
        elif spec.type == "int":
            distributions[key] = IntDistribution(spec.low, spec.high, log=spec.log, step=spec.step or 1)
        else:
            distributions[key] = FloatDistribution(float(spec.low), float(spec.high), log=spec.log, step=spec.step)
    return distributions
