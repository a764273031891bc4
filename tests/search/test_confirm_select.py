"""Which settings a confirmation re-trains: the front and its ε-band, against a brute-force reading of the
definition (every COMPLETE trial that no front point beats by more than B in validation accuracy at equal or
lower validation N_S), plus trials named; never pruned or failed ones, never by test values."""

import random

import pytest

from search.confirm.select import select_settings
from search.objectives import DEFAULT_OBJECTIVES, Objective
from search.tracking import TrialRow
from snn.errors import NotFoundError, UserError
from tests.search.test_pareto import brute_force_front


def row(i, state, acc, ns, test_acc=0.5):
    return TrialRow(f"r{i}", f"trial_{i:03d}", state, {}, {"final_val_accuracy": acc, "final_val_n_s": ns,
                                                        "final_test_accuracy": test_acc})


def brute_force_band(rows, band):
    complete = [r for r in rows if r.state == "COMPLETE"]
    points = [[r.metrics["final_val_accuracy"], r.metrics["final_val_n_s"]] for r in complete]
    front = [points[i] for i in brute_force_front(points, ["max", "min"])]
    return {r.name for r, (acc, ns) in zip(complete, points)
            if not any(f[0] - acc > band and f[1] <= ns for f in front)}


@pytest.mark.parametrize("seed", range(25))
@pytest.mark.parametrize("band", [0.0, 0.02, 0.1])
def test_front_and_band_match_the_definition(seed, band):
    rng = random.Random(seed)
    rows = [row(i, rng.choice(["COMPLETE"] * 4 + ["PRUNED", "FAILED"]), rng.choice([0.90, 0.93, 0.95, 0.96, 0.97, 0.98]),
                rng.choice([0.8, 1.0, 1.2, 1.4, 1.6]), test_acc=rng.random()) for i in range(rng.randint(1, 20))]
    chosen = [r.name for r in select_settings(rows, DEFAULT_OBJECTIVES, band)]
    assert chosen == sorted(brute_force_band(rows, band))


def test_the_band_widens_the_front_and_test_values_never_matter():
    rows = [row(0, "COMPLETE", 0.98, 1.4), row(1, "COMPLETE", 0.97, 1.5), row(2, "COMPLETE", 0.95, 1.6),
            row(3, "PRUNED", 0.99, 0.1), row(4, "COMPLETE", 0.90, 1.0)]
    assert [r.name for r in select_settings(rows, DEFAULT_OBJECTIVES, 0.0)] == ["trial_000", "trial_004"]
    assert [r.name for r in select_settings(rows, DEFAULT_OBJECTIVES, 0.02)] == ["trial_000", "trial_001", "trial_004"]
    for r in rows:
        r.metrics["final_test_accuracy"] = 1.0 - r.metrics["final_test_accuracy"]
    assert [r.name for r in select_settings(rows, DEFAULT_OBJECTIVES, 0.02)] == ["trial_000", "trial_001", "trial_004"]


def test_named_trials_are_added_only_when_they_are_complete():
    rows = [row(0, "COMPLETE", 0.98, 1.4), row(1, "COMPLETE", 0.90, 1.5), row(2, "PRUNED", 0.3, 0.0)]
    assert [r.name for r in select_settings(rows, DEFAULT_OBJECTIVES, 0.0, ["trial_001"])] == ["trial_000", "trial_001"]
    with pytest.raises(UserError, match="--trial trial_002: the trial is PRUNED, only COMPLETE trials"):
        select_settings(rows, DEFAULT_OBJECTIVES, 0.0, ["trial_002"])
    with pytest.raises(NotFoundError, match="--trial trial_009: the study has no trial of that name"):
        select_settings(rows, DEFAULT_OBJECTIVES, 0.0, ["trial_009"])


def test_a_study_without_validation_accuracy_among_its_objectives_is_refused():
    with pytest.raises(UserError, match="confirm needs val_accuracy \\(max\\) among them"):
        select_settings([row(0, "COMPLETE", 0.9, 1.0)], [Objective("val_ce", "min"), Objective("val_n_s", "min")], 0.02)
