"""Seeds per trial (``[search] seeds = k``) and per confirmation, and how their results are combined.

Which seeds: a trial trains its setting on seeds ``base, base + 1, ..., base + k - 1``, ``base`` being the
trial's ``train.seed`` (the study's ``[train] seed`` unless the space searches it). Every trial gets the same
seeds, so settings are compared on equal seeds (paired): a difference between two trials is not a difference
between their seeds. The confirmation stage (search.confirm) trains N *fresh* seeds, ``base + k ... base + k +
N - 1``, none of which the search selected on.

Where: with k = 1 the seed trains in the trial's own folder, as it always did; with k > 1 each seed has its
folder ``<trial dir>/seed<S>/`` (its own checkpoint and metrics.json), all inside the trial's Tune checkpoint.

What a trial reports: for every metric, the median over its seeds (so that Optuna, the pruning rule and the
Pareto front all see medians), except counts and costs, which are summed (spikes dropped by full buffers, an
epoch's seconds: the trial dropped and spent that much in all) and values every seed shares (epoch, phase,
lr), which pass through. A NaN on any seed makes the median NaN: a median that hides a broken run is not one.
With k > 1 the final report also carries each seed's main final values, named :func:`per_seed_name`.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["trial_seeds", "fresh_seeds", "seed_dirs", "median_result", "per_seed_finals", "per_seed_name",
           "PER_SEED_FINALS", "spread", "SPREAD"]

SPREAD = ("median", "mean", "std", "q1", "q3")  # how a value over seeds is summarised (:func:`spread`)
# The final values recorded per seed besides their median (MLflow metrics of the trial's run).
PER_SEED_FINALS = tuple(f"final_{split}_{m}" for split in ("val", "test") for m in ("accuracy", "n_s", "ce"))


def trial_seeds(base: int, k: int) -> list[int]:
    return [base + i for i in range(k)]


def fresh_seeds(base: int, k: int, n: int) -> list[int]:
    """The ``n`` seeds a confirmation trains for a setting whose trials trained ``trial_seeds(base, k)``."""
    return [base + k + i for i in range(n)]


def seed_dirs(trial_dir: Path, seeds: Sequence[int]) -> list[Path]:
    """Each seed's run folder (one seed: the trial's folder itself)."""
    return [trial_dir] if len(seeds) == 1 else [trial_dir / f"seed{s}" for s in seeds]


def per_seed_name(metric: str, seed: int) -> str:
    return f"{metric}_seed{seed}"


def _summed(key: str) -> bool:
    return key.endswith("spike_overflows") or key == "epoch_seconds"


def _median(values: Sequence[float]) -> float:
    return math.nan if any(math.isnan(v) for v in values) else statistics.median(values)


def median_result(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One result from the seeds' results (flat metric dicts with the same keys), as the module says."""
    combined: dict[str, Any] = {}
    for key in results[0]:
        values = [r[key] for r in results]
        if _summed(key):
            combined[key] = sum(values)
        elif all(v == values[0] for v in values):
            combined[key] = values[0]  # also keeps an int an int (epoch, phase)
        else:
            combined[key] = _median([float(v) for v in values])
    return combined


def per_seed_finals(seeds: Sequence[int], finals: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each seed's :data:`PER_SEED_FINALS` under :func:`per_seed_name` (``final_test_accuracy_seed3``)."""
    return {per_seed_name(key, seed): final[key] for seed, final in zip(seeds, finals) for key in PER_SEED_FINALS
            if key in final}


def spread(values: Sequence[float]) -> dict[str, float]:
    """The :data:`SPREAD` of ``values`` over seeds: the paper's median / mean / sample std, and the quartiles
    (linear interpolation, as numpy's percentiles; one value is its own quartiles)."""
    from snn.train.repeat import median_mean_std

    values = [float(v) for v in values]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return {**median_mean_std(values), "q1": q1, "q3": q3}
