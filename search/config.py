"""``[search]`` of a study file: what to search, how many trials, on what resources, where state goes.

```toml
[search]
trials = 8                # trials in the study
concurrency = 2           # trials at once
max_retries = 2           # a trial whose worker dies restarts from its last checkpoint this often, then FAILS
sampler = "tpe"           # "tpe" | "nsga2" | "random" (Optuna, seeded with `seed`)
seed = 0
objectives = [{ metric = "val_accuracy", mode = "max" }, { metric = "val_n_s", mode = "min" }]
[search.resources]        # per trial; torch uses `cpus` threads in the trial
cpus = 1
gpus = 0.0                # fractional GPUs (0.25 = four trials share a GPU); needs [train] device = "cuda"
[search.space]            # dotted keys relative to [train]
"loss.alpha" = { type = "float", low = 1e-4, high = 1e-1, log = true }
"schedule.phase1.loss" = { type = "categorical", choices = ["L_A", "L"] }
# optional, before the tables: start_points = [{ "loss.alpha" = 3.5e-3, "schedule.phase1.loss" = "L_A" }]
[search.pruning]          # see search.pruning.PruningConfig
[search.storage]
root = ""                 # study state: <root>/<name>/ ; "" = <cwd>/snn-studies
optuna = ""               # Optuna storage URL; "" = sqlite:///<root>/<name>/optuna.db
tracking_uri = ""         # MLflow tracking URI; "" = sqlite:///<cwd>/mlflow.db
```
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from search.objectives import DEFAULT_OBJECTIVES, OBJECTIVE_METRICS, Objective
from search.pruning import PruningConfig
from search.space import ParamSpec, parse_points, parse_space

__all__ = ["Resources", "StorageConfig", "SearchConfig", "SAMPLERS"]

SAMPLERS = ("tpe", "nsga2", "random")
_TOP_KEYS = {"start_points", "trials", "concurrency", "max_retries", "sampler", "seed", "objectives", "resources", "space", "pruning", "storage"}


def _check_keys(prefix: str, table: Any, allowed: set[str]) -> dict:
    if not isinstance(table, Mapping):
        raise ValueError(f"{prefix} must be a table, got {table!r}")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ValueError(f"{prefix}: unknown key(s) {[f'{prefix}.{k}' for k in unknown]}; allowed: {sorted(allowed)}")
    return dict(table)


def _int(prefix: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{prefix}.{name} must be an integer >= {minimum}, got {name}={value!r}")
    return value


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0

    @classmethod
    def from_dict(cls, table: Any, prefix: str = "search.resources") -> "Resources":
        table = _check_keys(prefix, table or {}, {"cpus", "gpus"})
        resources = cls(**table)
        for name in ("cpus", "gpus"):
            value = getattr(resources, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{prefix}.{name} must be a number >= 0, got {name}={value!r}")
        if resources.cpus <= 0:
            raise ValueError(f"{prefix}.cpus must be > 0 (a trial needs a CPU to run), got cpus={resources.cpus!r}")
        if resources.gpus > 1 and resources.gpus != int(resources.gpus):
            raise ValueError(f"{prefix}.gpus above 1 must be a whole number (Ray shares only fractions of one GPU), got gpus={resources.gpus!r}")
        return resources

    @property
    def threads(self) -> int:
        """torch threads per trial: its CPU share, at least one."""
        return max(1, int(self.cpus))


@dataclass(frozen=True)
class StorageConfig:
    root: str = ""
    optuna: str = ""
    tracking_uri: str = ""

    @classmethod
    def from_dict(cls, table: Any, prefix: str = "search.storage") -> "StorageConfig":
        table = _check_keys(prefix, table or {}, {"root", "optuna", "tracking_uri"})
        for name, value in table.items():
            if not isinstance(value, str):
                raise ValueError(f"{prefix}.{name} must be a string (\"\" = default), got {name}={value!r}")
        return cls(**table)


def _objectives(value: Any, prefix: str = "search.objectives") -> tuple[Objective, ...]:
    if value is None:
        return DEFAULT_OBJECTIVES
    if not isinstance(value, list) or not value:
        raise ValueError(f"{prefix} must be a non-empty list of {{ metric = ..., mode = ... }}, got {value!r}")
    objectives = []
    for i, item in enumerate(value):
        where = f"{prefix}[{i}]"
        if isinstance(item, str):  # shorthand: the metric's natural direction
            item = {"metric": item}
        item = _check_keys(where, item, {"metric", "mode"})
        metric = item.get("metric")
        if metric not in OBJECTIVE_METRICS:
            raise ValueError(f"{where}.metric must be one of {sorted(OBJECTIVE_METRICS)}, got metric={metric!r}")
        mode = item.get("mode", OBJECTIVE_METRICS[metric][1])
        if mode not in ("max", "min"):
            raise ValueError(f"{where}.mode must be \"max\" or \"min\", got mode={mode!r}")
        objectives.append(Objective(metric, mode))
    metrics = [o.metric for o in objectives]
    if len(set(metrics)) != len(metrics):
        raise ValueError(f"{prefix} names a metric twice: {metrics}")
    return tuple(objectives)


@dataclass(frozen=True)
class SearchConfig:
    space: dict[str, ParamSpec]
    trials: int = 8
    concurrency: int = 1
    max_retries: int = 2
    sampler: str = "tpe"
    seed: int = 0
    objectives: tuple[Objective, ...] = DEFAULT_OBJECTIVES
    resources: Resources = field(default_factory=Resources)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    start_points: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_dict(cls, table: Any, *, train: Any = None, prefix: str = "search") -> "SearchConfig":
        """Validates ``[search]``. With ``train`` (a ``snn.train.TrainConfig``) every space key must name a
        train field and every bound/choice must be a valid value for it."""
        if table is None:
            raise ValueError(f"the study file has no [{prefix}] table; add one with at least [{prefix}.space]")
        table = _check_keys(prefix, table, _TOP_KEYS)
        if "space" not in table:
            raise ValueError(f"{prefix}.space is required: the train fields to search, e.g. \"loss.alpha\" = {{ type = \"float\", low = 1e-4, high = 1e-1, log = true }}")
        space = parse_space(table["space"], f"{prefix}.space")
        if not space:
            raise ValueError(f"{prefix}.space is empty; name at least one train field to search")
        sampler = table.get("sampler", "tpe")
        if sampler not in SAMPLERS:
            raise ValueError(f"{prefix}.sampler must be one of {list(SAMPLERS)}, got sampler={sampler!r}")
        config = cls(
            space=space,
            trials=_int(prefix, "trials", table.get("trials", 8), 1),
            concurrency=_int(prefix, "concurrency", table.get("concurrency", 1), 1),
            max_retries=_int(prefix, "max_retries", table.get("max_retries", 2), 0),
            sampler=sampler,
            seed=_int(prefix, "seed", table.get("seed", 0), 0),
            objectives=_objectives(table.get("objectives"), f"{prefix}.objectives"),
            resources=Resources.from_dict(table.get("resources"), f"{prefix}.resources"),
            pruning=PruningConfig.from_dict(table.get("pruning"), f"{prefix}.pruning"),
            storage=StorageConfig.from_dict(table.get("storage"), f"{prefix}.storage"),
            start_points=tuple(parse_points(table.get("start_points"), space, f"{prefix}.start_points")),
        )
        if len(config.start_points) > config.trials:
            raise ValueError(f"{prefix}.start_points lists {len(config.start_points)} points but trials = {config.trials}; "
                             f"raise trials or drop points")
        if train is not None:
            config.check_against(train, prefix)
        return config

    def check_against(self, train: Any, prefix: str = "search") -> None:
        """Every searched key must be a train field that accepts every bound/choice of its range."""
        for key, spec in self.space.items():
            for value in spec.sample_values():
                try:
                    train.with_overrides({key: value})
                except (ValueError, TypeError, KeyError) as error:
                    raise ValueError(f"{prefix}.space.{key}: {spec.describe()} is not valid for train.{key}: {error}") from None
        device = str(getattr(train, "device", "cpu"))
        if self.resources.gpus > 0 and not device.startswith("cuda"):
            raise ValueError(f"{prefix}.resources.gpus = {self.resources.gpus} reserves a GPU per trial but train.device = {device!r}; set [train] device = \"cuda\" or gpus = 0")
        if device.startswith("cuda") and self.resources.gpus == 0:
            raise ValueError(f"train.device = {device!r} but {prefix}.resources.gpus = 0: Ray would not give trials a GPU; set gpus (e.g. 0.25)")

    @property
    def metric_names(self) -> list[str]:
        return [o.metric for o in self.objectives]

    @property
    def modes(self) -> list[str]:
        return [o.mode for o in self.objectives]
