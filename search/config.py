"""``[search]`` of a study file: what to search, how many trials, on what resources, where state goes.

```toml
[search]
trials = 8                # trials in the study
concurrency = 2           # trials at once
max_retries = 2           # a trial whose worker dies restarts from its last checkpoint this often, then FAILS
seeds = 1                 # seeds per trial: it reports the median over them every epoch (search.seeds)
sampler = "tpe"           # "tpe" | "nsga2" | "random" (Optuna, seeded with `seed`)
seed = 0                  # the sampler's seed
objectives = [{ metric = "val_accuracy", mode = "max" }, { metric = "val_n_s", mode = "min" }]
reference_n_s = 5.0       # the hypervolume's reference N_S (search.hypervolume); its accuracy is chance
[search.resources]        # per trial; torch uses `cpus` threads in the trial
cpus = 1
gpus = 0.0                # fractional GPUs (0.25 = four trials share a GPU); needs [train] device = "cuda"
[search.space]            # dotted keys relative to [train]
"loss.alpha" = { type = "float", low = 1e-4, high = 1e-1, log = true }
"schedule.phase1.loss" = { type = "categorical", choices = ["L_A", "L"] }
# optional, before the tables: start_points = [{ "loss.alpha" = 3.5e-3, "schedule.phase1.loss" = "L_A" }]
[search.pruning]          # see search.pruning.PruningConfig
[search.early_stopping]   # multi-objective successive halving, see search.rungs.EarlyStoppingConfig
[search.branching]        # phase2_children = M trials share each phase-1 setting, see search.branching
[search.storage]
root = ""                 # study state: <root>/<name>/ ; "" = <cwd>/snn-studies
optuna = ""               # Optuna storage URL; "" = sqlite:///<root>/<name>/optuna.db
tracking_uri = ""         # MLflow tracking URI; "" = sqlite:///<cwd>/mlflow.db
```
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from search.branching import BranchingConfig
from search.hypervolume import DEFAULT_REFERENCE_N_S
from search.objectives import DEFAULT_OBJECTIVES, OBJECTIVE_METRICS, Objective
from search.pruning import PruningConfig
from search.rungs import EarlyStoppingConfig
from search.space import ParamSpec, parse_points, parse_space
from snn import validation as v
from snn.errors import UserError

__all__ = ["Resources", "StorageConfig", "SearchConfig", "SAMPLERS"]

# name in [search] sampler -> the optuna.samplers class (named, not imported: this module stays free of Optuna)
SAMPLERS = {"tpe": "TPESampler", "nsga2": "NSGAIISampler", "random": "RandomSampler"}
_TOP_KEYS = ("trials", "concurrency", "max_retries", "sampler", "seed", "seeds", "objectives", "start_points",
             "resources", "space", "pruning", "storage", "reference_n_s", "early_stopping", "branching")


def _table(value: Any, key: str, known: tuple[str, ...]) -> dict:
    """A sub-table (absent = empty) whose keys are all known."""
    table = dict(v.table({} if value is None else value, key))
    v.check_keys(table, known, key)
    return table


@dataclass(frozen=True)
class Resources:
    cpus: float = 1.0
    gpus: float = 0.0

    @classmethod
    def from_dict(cls, table: Any, prefix: str = "search.resources") -> "Resources":
        table = _table(table, prefix, ("cpus", "gpus"))
        cpus = v.number(table.get("cpus", cls.cpus), f"{prefix}.cpus", min=0, min_open=True,
                        fix="a trial needs a share of a CPU to run, e.g. cpus = 1")
        gpus = v.number(table.get("gpus", cls.gpus), f"{prefix}.gpus", min=0)
        if gpus > 1 and gpus != int(gpus):
            raise v.invalid(f"{prefix}.gpus", "be a fraction of one GPU or a whole number", repr(gpus),
                            "Ray shares only fractions of one GPU: use gpus <= 1 or a whole number")
        return cls(cpus, gpus)

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
        table = _table(table, prefix, ("root", "optuna", "tracking_uri"))
        return cls(**{name: v.string(value, f"{prefix}.{name}", fix='"" takes the default') for name, value in table.items()})


def _objectives(value: Any, prefix: str = "search.objectives") -> tuple[Objective, ...]:
    if value is None:
        return DEFAULT_OBJECTIVES
    value = v.sequence(value, prefix, min_length=1, fix='e.g. [{ metric = "val_accuracy", mode = "max" }]')
    objectives = []
    for i, item in enumerate(value):
        where = f"{prefix}[{i}]"
        if isinstance(item, str):  # shorthand: the metric's natural direction
            item = {"metric": item}
        item = _table(item, where, ("metric", "mode"))
        metric = v.string(item.get("metric"), f"{where}.metric", choices=tuple(OBJECTIVE_METRICS))
        mode = v.string(item.get("mode", OBJECTIVE_METRICS[metric][1]), f"{where}.mode", choices=("max", "min"))
        objectives.append(Objective(metric, mode))
    metrics = [o.metric for o in objectives]
    if len(set(metrics)) != len(metrics):
        raise v.invalid(prefix, "name each metric once", repr(metrics))
    return tuple(objectives)


@dataclass(frozen=True)
class SearchConfig:
    space: dict[str, ParamSpec]
    trials: int = 8
    concurrency: int = 1
    max_retries: int = 2
    seeds: int = 1
    sampler: str = "tpe"
    seed: int = 0
    objectives: tuple[Objective, ...] = DEFAULT_OBJECTIVES
    resources: Resources = field(default_factory=Resources)
    pruning: PruningConfig = field(default_factory=PruningConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    start_points: tuple[dict[str, Any], ...] = ()
    reference_n_s: float = DEFAULT_REFERENCE_N_S
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    branching: BranchingConfig = field(default_factory=BranchingConfig)

    @classmethod
    def from_dict(cls, table: Any, *, train: Any = None, prefix: str = "search") -> "SearchConfig":
        """Validates ``[search]``. With ``train`` (a ``snn.train.TrainConfig``) every space key must name a
        train field and every bound/choice must be a valid value for it."""
        if table is None:
            raise UserError(f"the study file has no [{prefix}] table; add one with at least [{prefix}.space]")
        table = _table(table, prefix, _TOP_KEYS)
        if "space" not in table:
            raise UserError(f"{prefix}.space is required: the train fields to search, e.g. \"loss.alpha\" = {{ type = \"float\", low = 1e-4, high = 1e-1, log = true }}")
        space = parse_space(table["space"], f"{prefix}.space")
        if not space:
            raise UserError(f"{prefix}.space is empty; name at least one train field to search")
        config = cls(
            space=space,
            trials=v.integer(table.get("trials", 8), f"{prefix}.trials", min=1),
            concurrency=v.integer(table.get("concurrency", 1), f"{prefix}.concurrency", min=1),
            max_retries=v.integer(table.get("max_retries", 2), f"{prefix}.max_retries", min=0),
            seeds=v.integer(table.get("seeds", 1), f"{prefix}.seeds", min=1,
                            fix="the number of seeds each trial trains its setting on, e.g. seeds = 3"),
            sampler=v.string(table.get("sampler", "tpe"), f"{prefix}.sampler", choices=tuple(SAMPLERS)),
            seed=v.integer(table.get("seed", 0), f"{prefix}.seed", min=0),
            objectives=_objectives(table.get("objectives"), f"{prefix}.objectives"),
            resources=Resources.from_dict(table.get("resources"), f"{prefix}.resources"),
            pruning=PruningConfig.from_dict(table.get("pruning"), f"{prefix}.pruning"),
            storage=StorageConfig.from_dict(table.get("storage"), f"{prefix}.storage"),
            start_points=tuple(parse_points(table.get("start_points"), space, f"{prefix}.start_points")),
            reference_n_s=v.number(table.get("reference_n_s", DEFAULT_REFERENCE_N_S), f"{prefix}.reference_n_s", min=0,
                                   min_open=True, fix="spikes per neuron beyond which a trial adds no hypervolume"),
            early_stopping=EarlyStoppingConfig.from_dict(table.get("early_stopping"), f"{prefix}.early_stopping"),
            branching=BranchingConfig.from_dict(table.get("branching"), f"{prefix}.branching"),
        )
        if len(config.start_points) > config.trials:
            raise v.invalid(f"{prefix}.start_points", f"list at most as many points as {prefix}.trials = {config.trials}",
                            f"{len(config.start_points)} points", "raise trials or drop points")
        if train is not None:
            config.check_against(train, prefix)
        return config

    def check_against(self, train: Any, prefix: str = "search") -> None:
        """Every searched key must be a train field that accepts every bound/choice of its range."""
        for key, spec in self.space.items():
            for value in spec.sample_values():
                try:
                    train.with_overrides({key: value})
                except UserError as error:
                    raise UserError(f"{prefix}.space.{key}: {spec.describe()} is not valid for train.{key}: {error}") from None
        self.early_stopping.check_epochs(train.schedule.epochs, f"{prefix}.early_stopping")
        self.branching.check(self.space, train, self.trials, len(self.start_points), f"{prefix}.branching")
        device, gpus = str(getattr(train, "device", "cpu")), self.resources.gpus
        if gpus > 0 and not device.startswith("cuda"):
            raise v.invalid(f"{prefix}.resources.gpus", f"be 0 with train.device = {device!r} (it reserves GPUs the trials "
                            f"would not use)", repr(gpus), 'set [train] device = "cuda", or gpus = 0')
        if device.startswith("cuda") and gpus == 0:
            raise v.invalid(f"{prefix}.resources.gpus", f"be > 0 with train.device = {device!r} (Ray gives a trial only "
                            f"the GPUs it reserves)", repr(gpus), "set gpus, e.g. 0.25 for four trials per GPU")

    @property
    def metric_names(self) -> list[str]:
        return [o.metric for o in self.objectives]

    @property
    def modes(self) -> list[str]:
        return [o.mode for o in self.objectives]
