"""search.replay on hand-made curves: the rule applied in the order the trials reached each rung (not the order
of their names), only among trials in the same phase, and the hypervolume of what it keeps."""

import pytest

from search.hypervolume import reference_box
from search.objectives import DEFAULT_OBJECTIVES
from search.cli.replay import rule_grid
from search.replay import TrialCurve, replay
from search.rungs import EarlyStoppingConfig
from search.tracking import TrialRow
from tests.search.test_hypervolume import brute_force_hypervolume

REFERENCE = (1 / 3, 5.0)
BOX = reference_box(DEFAULT_OBJECTIVES, REFERENCE)
EPOCHS = 4


def curve(name: str, accuracy: float, logged: int, *, n_s: float = 1.0, phase: int = 1, state: str = "COMPLETE",
          final: tuple[float, float] | None = None) -> TrialCurve:
    """A trial whose every epoch reports (accuracy, n_s), logged ``logged`` ms apart per epoch from ``logged``."""
    final_accuracy, final_n_s = final or (accuracy, n_s)
    row = TrialRow(f"run-{name}", name, state, metrics={"final_val_accuracy": final_accuracy, "final_val_n_s": final_n_s,
                                                        "epochs_run": EPOCHS})
    steps = range(EPOCHS)
    return TrialCurve(row, logged={s: logged + 100 * s for s in steps}, phase={s: phase for s in steps},
                      values={s: [accuracy, n_s] for s in steps})


def run(curves, rungs=(1,), factor=2.0, min_trials=2):
    return replay(curves, EarlyStoppingConfig(True, rungs, factor, min_trials), DEFAULT_OBJECTIVES, REFERENCE, BOX)


def test_trials_are_judged_in_the_order_they_reached_the_rung_against_all_that_reached_it_before():
    # arrival order t3, t0, t4, t1, t2 (by the time the rung's epoch was logged), not by name
    curves = [curve("t0", 0.90, 20), curve("t1", 0.50, 40), curve("t2", 0.80, 50), curve("t3", 0.95, 10),
              curve("t4", 0.40, 30)]
    result = run(curves)
    # t3 alone goes on (fewer than min_trials); t0 has t3 before it: 1 of 2 is not < 2/2; t4: 2 of 3;
    # t1: 2 of 4 (t3, t0 before it; a stopped trial still counts at its rung); t2: 2 of 5 < 2.5 goes on
    assert result.stopped == {"t0": 1, "t4": 1, "t1": 1}
    assert result.epochs == 3 * 1 + 2 * EPOCHS
    assert result.hypervolume == pytest.approx(brute_force_hypervolume([(0.95, 1.0), (0.80, 1.0)], REFERENCE))


def test_a_trial_is_compared_only_with_trials_in_the_same_phase_at_the_rung():
    curves = [curve("a", 0.95, 10), curve("b", 0.90, 20), curve("c", 0.40, 30, phase=2), curve("d", 0.30, 40, phase=2)]
    result = run(curves, factor=2.0, min_trials=2)
    # b loses to a in phase 1; c is the first of phase 2 (alone: goes on), d loses to c
    assert result.stopped == {"b": 1, "d": 1}


def test_a_trial_is_judged_at_each_rung_it_reaches_and_stops_at_the_first_it_fails():
    a = curve("a", 0.9, 10)
    b = curve("b", 0.8, 20, n_s=0.5)
    # b fires fewer spikes than a at rung 1 (not dominated: goes on), three times as many at rung 3 (dominated)
    b = TrialCurve(b.row, b.logged, b.phase, {**b.values, 2: [0.8, 3.0]})
    result = run([a, b], rungs=(1, 3), factor=2.0, min_trials=2)
    assert result.stopped == {"b": 3} and result.epochs == EPOCHS + 3


def test_without_a_rule_nothing_is_stopped_and_the_hypervolume_is_the_studys():
    curves = [curve("a", 0.9, 10), curve("b", 0.8, 20, n_s=0.5), curve("p", 0.2, 30, state="PRUNED"),
              curve("c", 0.7, 40, final=(0.75, 0.4))]
    result = replay(curves, EarlyStoppingConfig(), DEFAULT_OBJECTIVES, REFERENCE, BOX)
    assert result.stopped == {} and result.epochs == 4 * EPOCHS
    # the final values count, not the last epoch's, and a pruned trial adds nothing
    assert result.hypervolume == pytest.approx(
        brute_force_hypervolume([(0.9, 1.0), (0.8, 0.5), (0.75, 0.4)], REFERENCE))


def test_a_trial_that_ended_before_a_rung_is_not_judged_there():
    short = curve("short", 0.1, 5)
    short = TrialCurve(short.row, {0: 5}, {0: 1}, {0: [0.1, 1.0]})
    curves = [curve("a", 0.9, 10), short, curve("b", 0.8, 20)]
    assert run(curves, rungs=(2,), factor=2.0, min_trials=2).stopped == {"b": 2}


def test_a_network_pruned_as_silent_at_a_rung_is_not_judged_there():
    # its last report (the one that prunes it) never reaches the rule, so it is no peer of later trials either
    silent = curve("silent", 0.34, 15, n_s=0.0, state="PRUNED")
    silent = TrialCurve(TrialRow(silent.row.run_id, "silent", "PRUNED", metrics={"epochs_run": 1}), {0: 15}, {0: 1},
                        {0: [0.34, 0.0]})
    curves = [curve("a", 0.9, 10), silent, curve("b", 0.8, 20, n_s=0.5)]
    # with the silent one as a peer, b would be the middle of a three-point front (smallest crowding distance):
    # 2 of 3 before it, stopped at factor 2
    assert run(curves, factor=2.0, min_trials=2).stopped == {}


@pytest.mark.parametrize("epochs", [1, 2, 4, 60, 160])
def test_the_grid_of_rules_has_only_rules_a_study_of_that_length_accepts(epochs):
    grid = rule_grid(epochs)
    for rule in grid:
        rule.check_epochs(epochs)  # every rung below the last epoch
        assert list(rule.rungs) == sorted(set(rule.rungs)) and rule.rungs[0] >= 1
    assert len({(r.rungs, r.reduction_factor) for r in grid}) == len(grid)
    assert (len(grid) == 0) == (epochs == 1)
