"""The search space: one ``ParamSpec`` per train field, parsed from ``[search.space]`` and turned into
Optuna distributions.

Keys are dotted paths relative to ``[train]`` ("loss.alpha", "schedule.phase1.lr"). TOML lets a user write
them quoted (``"loss.alpha" = {...}``) or as nested tables (``[search.space.loss] alpha = {...}``); both
flatten to the same key. A table is a parameter when it has a ``type`` key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from snn import validation as v
from snn.errors import UserError

__all__ = ["ParamSpec", "parse_space", "parse_points", "to_optuna"]

_FIELDS = {
    "float": ("type", "low", "high", "log", "step"),
    "int": ("type", "low", "high", "log", "step"),
    "categorical": ("type", "choices"),
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
                raise v.invalid(where, f"be one of {list(self.choices)}", repr(value))
            return value
        value = _bound(value, where, self.type)
        if not self.low <= value <= self.high:
            raise v.invalid(where, f"lie in [{self.low}, {self.high}]", repr(value))
        return value

    def sample_values(self) -> list:
        """Representative values (bounds or every choice), to type-check against the train config."""
        return list(self.choices) if self.type == "categorical" else [self.low, self.high]


def _bound(value: Any, key: str, kind: str) -> float | int:
    if kind == "int":
        return v.integer(value, key, fix='type = "int" takes whole numbers; use type = "float" for others')
    return v.number(value, key)


def _parse_param(where: str, key: str, table: Mapping[str, Any]) -> ParamSpec:
    kind = v.string(table.get("type"), f"{where}.type", choices=tuple(_FIELDS))
    v.check_keys(table, _FIELDS[kind], where)
    if kind == "categorical":
        choices = v.sequence(table.get("choices"), f"{where}.choices", min_length=1)
        for i, choice in enumerate(choices):
            if not isinstance(choice, (bool, int, float, str)):
                raise v.invalid(f"{where}.choices[{i}]", "be a bool, int, float or string (Optuna's choice types)",
                                v.shown(choice))
        if len({repr(c) for c in choices}) != len(choices):
            raise v.invalid(f"{where}.choices", "list each value once", repr(list(choices)))
        return ParamSpec(key, kind, choices=tuple(choices))

    for name in ("low", "high"):
        if name not in table:
            raise UserError(f"{where}.{name} is required for type = \"{kind}\"")
    low = _bound(table["low"], f"{where}.low", kind)
    high = _bound(table["high"], f"{where}.high", kind)
    if not low <= high:
        raise v.invalid(f"{where}.high", f"be >= low = {low}", repr(high), "swap low and high")
    log = v.boolean(table.get("log", False), f"{where}.log")
    if log and low <= 0:
        raise v.invalid(f"{where}.low", "be > 0 with log = true", repr(low), "raise low, or set log = false")
    step = table.get("step")
    if step is not None:
        step = _bound(step, f"{where}.step", kind)
        if step <= 0:
            raise v.invalid(f"{where}.step", "be > 0", repr(step))
        if log and not (kind == "int" and step == 1):
            raise v.invalid(f"{where}.step", "be absent with log = true (Optuna cannot combine them)", repr(step),
                            "drop step or log")
        if step > high - low and high != low:
            raise v.invalid(f"{where}.step", f"fit in [low, high] = [{low}, {high}]", repr(step))
    return ParamSpec(key, kind, low=low, high=high, log=log, step=step)


def parse_space(table: Mapping[str, Any], prefix: str = "search.space") -> dict[str, ParamSpec]:
    """``[search.space]`` -> ``{dotted train key: ParamSpec}``; errors name the full key."""
    v.table(table, prefix)
    space: dict[str, ParamSpec] = {}

    def walk(node: Mapping[str, Any], path: list[str]) -> None:
        for name, value in node.items():
            here = [*path, *str(name).split(".")]
            where = ".".join([prefix, *here])
            v.table(value, where, fix='a parameter is a table like { type = "float", low = ..., high = ... }')
            if "type" in value:
                key = ".".join(here)
                if key in space:
                    raise UserError(f"{where} is given twice (quoted and as nested tables); keep one")
                space[key] = _parse_param(where, key, value)
            else:
                walk(value, here)

    walk(table, [])
    return space


def parse_points(value: Any, space: Mapping[str, ParamSpec], prefix: str = "search.start_points") -> list[dict[str, Any]]:
    """``start_points``: parameter sets to try first (e.g. the paper's hand-tuned values), each naming every
    searched key with a value inside its range."""
    if value is None:
        return []
    example = 'e.g. start_points = [{ "loss.alpha" = 3.5e-3 }]'
    points = []
    for i, table in enumerate(v.sequence(value, prefix, fix=example)):
        where = f"{prefix}[{i}]"
        point = v.flatten(v.table(table, where, fix=example))
        unknown = sorted(set(point) - set(space))
        missing = sorted(set(space) - set(point))
        if unknown or missing:
            fix = "; ".join(([f"add {missing}"] if missing else []) + ([f"drop {unknown}"] if unknown else []))
            raise v.invalid(where, f"name exactly the searched keys {sorted(space)}", repr(sorted(point)), fix)
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
