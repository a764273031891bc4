"""What a study optimises, and the metric names every part of the search service agrees on.

The trainer reports a ``MetricAccumulator`` dict per epoch (``accuracy``, ``ce``, ``n_s``, ...). The search
service flattens it into scalar metrics with a ``val_`` prefix (Tune results, MLflow per-epoch metrics) and,
at the end of a trial, ``final_val_*`` / ``final_test_*`` metrics. Objectives name the per-epoch metrics; the
final value of an objective is its ``final_`` metric, which equals the last epoch's value reported to Optuna.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = [
    "OBJECTIVE_METRICS",
    "DEFAULT_OBJECTIVES",
    "Objective",
    "split_metrics",
    "final_metrics",
]

# metric name -> (key in the trainer's MetricAccumulator dict, natural direction, human label)
OBJECTIVE_METRICS: dict[str, tuple[str, str, str]] = {
    "val_accuracy": ("accuracy", "max", "validation accuracy"),
    "val_ce": ("ce", "min", "validation cross-entropy"),
    "val_n_s": ("n_s", "min", "validation N_S (spikes/neuron)"),
    "val_n_s_output": ("n_s_output", "min", "validation N_S of the output layer"),
}


@dataclass(frozen=True)
class Objective:
    metric: str
    mode: str  # "max" or "min"

    @property
    def final_metric(self) -> str:
        """The MLflow metric holding the trial's final value of this objective."""
        return f"final_{self.metric}"

    @property
    def label(self) -> str:
        return OBJECTIVE_METRICS[self.metric][2]

    def to_dict(self) -> dict[str, str]:
        """The form stored in a study's manifest and summary (JSON)."""
        return {"metric": self.metric, "mode": self.mode}

    @classmethod
    def from_dicts(cls, records: Sequence[Mapping[str, str]]) -> list[Objective]:
        """The objectives of a manifest or summary (a list of :meth:`to_dict` records)."""
        return [cls(r["metric"], r["mode"]) for r in records]


DEFAULT_OBJECTIVES = (Objective("val_accuracy", "max"), Objective("val_n_s", "min"))


def _finite(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value


def split_metrics(prefix: str, evaluation: Mapping[str, Any]) -> dict[str, float]:
    """Flattens a MetricAccumulator dict into scalar metrics: ``{prefix}_accuracy``, ``{prefix}_n_s``, the
    per-layer lists as ``{prefix}_n_s_layer1..``, ``{prefix}_silent_fraction_layer1..`` (1-based, hidden layers first, output last), and
    ``{prefix}_silent_fraction_max`` (the most silent layer: the quantity a switch-off rule watches)."""
    metrics: dict[str, float] = {}
    for key, value in evaluation.items():
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value, start=1):
                metrics[f"{prefix}_{key.removesuffix('_per_layer')}_layer{i}"] = _finite(item)
            if key == "silent_fraction_per_layer" and value:
                metrics[f"{prefix}_silent_fraction_max"] = max(_finite(v) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            metrics[f"{prefix}_{key}"] = _finite(value)
    return metrics


def final_metrics(final: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """``RunResult.final`` ({"validation": {...}, "test": {...}}) -> ``final_val_*`` and ``final_test_*``."""
    metrics: dict[str, float] = {}
    for split, prefix in (("validation", "final_val"), ("test", "final_test")):
        if final.get(split):
            metrics.update(split_metrics(prefix, final[split]))
    return metrics
