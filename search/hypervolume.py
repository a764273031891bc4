"""How good a study is, as one number: the hypervolume of its validation front, in raw units.

For a study with the two default objectives (validation accuracy up, validation N_S down), the hypervolume is
the area of the union of the rectangles ``[chance, accuracy] x [n_s, reference_n_s]`` over its COMPLETE
trials: the region of the (accuracy, N_S) plane that the front dominates, inside the box bounded by chance
accuracy (1/classes) and ``[search] reference_n_s`` spikes per neuron. A point at or below chance accuracy, or
at or above the reference N_S, adds nothing. The units are accuracy (a fraction) times spikes per neuron.

A study's progress is the hypervolume against the epochs its trials have trained (every trial, pruned and
failed ones included; a branching child counts only the epochs it trained itself), one point each time a
trial finishes: the driver logs it to the parent MLflow run (metrics ``hypervolume`` at step = epochs
trained, and ``epochs_trained`` at step = trials finished) and plots it (``hypervolume.png``).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

from search.objectives import DEFAULT_OBJECTIVES, Objective
from search.outcome import COMPLETE, FINISHED_STATES

__all__ = ["DEFAULT_REFERENCE_N_S", "hypervolume_2d", "reference_point", "reference_box", "front_points",
           "study_hypervolume", "epochs_trained", "progress_metrics"]

DEFAULT_REFERENCE_N_S = 5.0  # spikes per neuron: about 3x what the paper's untrained Yin-Yang network fires


def hypervolume_2d(points: Iterable[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by ``points`` = [(accuracy, n_s), ...] (accuracy up, N_S down) inside the box from
    ``reference`` = (chance accuracy, reference N_S). Sweep over N_S: each strip between two consecutive
    N_S values is as tall as the best accuracy reached at or below its lower edge."""
    ref_acc, ref_ns = reference
    inside = sorted((ns, acc) for acc, ns in points
                    if math.isfinite(acc) and math.isfinite(ns) and acc > ref_acc and ns < ref_ns)
    area, best = 0.0, ref_acc
    for i, (ns, acc) in enumerate(inside):
        best = max(best, acc)
        upper = inside[i + 1][0] if i + 1 < len(inside) else ref_ns
        area += (upper - ns) * (best - ref_acc)
    return area


def reference_point(objectives: Sequence[Objective], classes: int, reference_n_s: float) -> tuple[float, float] | None:
    """(chance accuracy, reference N_S) for a study with the two default objectives; None for any other
    study (its hypervolume is not defined here)."""
    if set(objectives) != set(DEFAULT_OBJECTIVES) or len(objectives) != 2:
        return None
    return 1.0 / classes, float(reference_n_s)


def reference_box(objectives: Sequence[Objective], reference: Sequence[float] | None) -> list[float] | None:
    """The reference point in the order of ``objectives`` (the worst corner of the box), or None."""
    if reference is None:
        return None
    return [reference[list(DEFAULT_OBJECTIVES).index(o)] for o in objectives]


def front_points(rows) -> list[tuple[float, float]]:
    """(final_val_accuracy, final_val_n_s) of the COMPLETE trials among ``rows`` (search.tracking.TrialRow)."""
    return [tuple(values) for row in rows
            if row.state == COMPLETE and (values := row.values(DEFAULT_OBJECTIVES)) is not None]


def study_hypervolume(rows, reference: Sequence[float] | None) -> float | None:
    return None if reference is None else hypervolume_2d(front_points(rows), reference)


def epochs_trained(rows) -> int:
    """Epochs the finished trials among ``rows`` trained themselves (their ``epochs_run``), in every state."""
    return int(sum(row.metrics.get("epochs_run", 0) for row in rows if row.state in FINISHED_STATES))


def progress_metrics(rows, reference: Sequence[float] | None) -> list[tuple[str, float, int]]:
    """(metric, value, step) for the parent run after a trial finished: ``epochs_trained`` at step = trials
    finished, and ``hypervolume`` at step = epochs trained (when the study has a reference point)."""
    rows = list(rows)
    finished = sum(row.state in FINISHED_STATES for row in rows)
    epochs = epochs_trained(rows)
    metrics = [("epochs_trained", float(epochs), finished)]
    if reference is not None:
        metrics.append(("hypervolume", study_hypervolume(rows, reference), epochs))
    return metrics
