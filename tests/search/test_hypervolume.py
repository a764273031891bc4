"""The study's hypervolume: the sweep equals a brute-force union of rectangles, points outside the reference
box add nothing, and the progress metrics count every finished trial's own epochs."""

import itertools
import random

import pytest

from search.hypervolume import (epochs_trained, hypervolume_2d, progress_metrics, reference_box, reference_point,
                                study_hypervolume)
from search.objectives import DEFAULT_OBJECTIVES, Objective
from search.tracking import TrialRow


def brute_force_hypervolume(points, reference) -> float:
    """Area of the union of [ref_acc, acc] x [n_s, ref_ns], by cutting the plane at every coordinate and summing
    the cells whose centre some rectangle covers."""
    ref_acc, ref_ns = reference
    rects = [(ref_acc, acc, ns, ref_ns) for acc, ns in points if acc > ref_acc and ns < ref_ns]
    xs = sorted({ref_acc, *(r[1] for r in rects)})
    ys = sorted({ref_ns, *(r[2] for r in rects)})
    area = 0.0
    for (x0, x1), (y0, y1) in itertools.product(zip(xs, xs[1:]), zip(ys, ys[1:])):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if any(a0 <= cx <= a1 and b0 <= cy <= b1 for a0, a1, b0, b1 in rects):
            area += (x1 - x0) * (y1 - y0)
    return area


@pytest.mark.parametrize("seed", range(30))
def test_the_sweep_equals_a_brute_force_union_of_rectangles(seed):
    rng = random.Random(seed)
    # accuracies around and below chance, N_S around and beyond the reference, duplicates included
    points = [(rng.choice([rng.uniform(0.2, 1.0), 0.5]), rng.choice([rng.uniform(0.0, 6.0), 1.0]))
              for _ in range(rng.randint(0, 12))]
    reference = (1 / 3, 5.0)
    assert hypervolume_2d(points, reference) == pytest.approx(brute_force_hypervolume(points, reference), abs=1e-12)


def test_a_single_point_spans_its_rectangle_and_points_outside_the_box_add_nothing():
    assert hypervolume_2d([(0.9, 1.0)], (0.4, 5.0)) == pytest.approx(0.5 * 4.0)
    outside = [(0.3, 0.1), (0.95, 5.0), (0.99, 7.0), (0.4, 0.0), (float("nan"), 1.0)]
    assert hypervolume_2d([(0.9, 1.0), *outside], (0.4, 5.0)) == pytest.approx(2.0)
    assert hypervolume_2d([], (0.4, 5.0)) == 0.0
    assert hypervolume_2d([(0.9, 1.0), (0.8, 2.0)], (0.4, 5.0)) == pytest.approx(2.0)  # dominated: nothing added


def test_the_reference_point_is_chance_accuracy_and_is_defined_only_for_the_default_objectives():
    assert reference_point(DEFAULT_OBJECTIVES, 3, 5.0) == (1 / 3, 5.0)
    assert reference_point(tuple(reversed(DEFAULT_OBJECTIVES)), 10, 2.0) == (0.1, 2.0)
    assert reference_point((Objective("val_accuracy", "max"), Objective("val_ce", "min")), 3, 5.0) is None
    assert reference_box(tuple(reversed(DEFAULT_OBJECTIVES)), (0.1, 2.0)) == [2.0, 0.1]


def row(state, acc=None, n_s=None, epochs=None) -> TrialRow:
    metrics = {k: v for k, v in (("final_val_accuracy", acc), ("final_val_n_s", n_s), ("epochs_run", epochs)) if v is not None}
    return TrialRow("run", "t", state, {}, metrics, {})


def test_progress_counts_every_finished_trials_own_epochs_and_ranks_only_complete_ones():
    rows = [row("COMPLETE", 0.9, 1.0, 10), row("PRUNED", 0.99, 0.1, 3), row("FAILED", epochs=2), row("RUNNING", epochs=7),
            row("COMPLETE", 0.8, 0.5, 4)]
    reference = (1 / 3, 5.0)
    assert epochs_trained(rows) == 19
    assert study_hypervolume(rows, reference) == pytest.approx(brute_force_hypervolume([(0.9, 1.0), (0.8, 0.5)], reference))
    assert progress_metrics(rows, reference) == [("epochs_trained", 19.0, 4),
                                                 ("hypervolume", study_hypervolume(rows, reference), 19)]
    assert progress_metrics(rows, None) == [("epochs_trained", 19.0, 4)]
