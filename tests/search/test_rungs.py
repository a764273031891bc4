"""Successive halving's rule and its book: ranks at a rung by non-dominated sorting then crowding distance,
stops the worst 1 - 1/factor, compares a phase only with itself, and never decides a (trial, rung) twice, also
after a restart; the config's keys and their errors."""

import math

import pytest

from search.config import SearchConfig
from search.objectives import DEFAULT_OBJECTIVES
from search.pareto import crowding_distances
from search.rungs import DOMINATED, EarlyStoppingConfig, goes_on, rung_positions
from search.scheduler import RungBook, SuccessiveHalving, stop_reason
from snn.errors import UserError
from snn.train import TrainConfig

MODES = ["max", "min"]


def test_crowding_distance_gives_the_ends_infinity_and_the_inside_its_normalised_gaps():
    front = [(0.9, 3.0), (0.8, 2.0), (0.7, 1.5), (0.5, 0.0)]
    d = crowding_distances(front)
    assert d[0] == d[3] == math.inf
    assert d[1] == pytest.approx((0.9 - 0.7) / 0.4 + (3.0 - 1.5) / 3.0)
    assert d[2] == pytest.approx((0.8 - 0.5) / 0.4 + (2.0 - 0.0) / 3.0)
    assert crowding_distances([(1, 2), (2, 1)]) == [math.inf, math.inf]


def test_positions_follow_fronts_then_crowding_and_put_points_outside_the_box_last():
    points = [(0.9, 1.0), (0.8, 2.0), (0.95, 3.0), (0.6, 0.5), (0.85, 1.5), (0.3, 0.1)]
    # front 1: (0.95, 3.0), (0.9, 1.0), (0.6, 0.5), (0.3, 0.1); front 2: (0.85, 1.5); front 3: (0.8, 2.0)
    assert rung_positions(points, MODES) == [2, 5, 0, 3, 4, 0]
    # with the hypervolume box, (0.3, 0.1) is below chance: after every point inside
    assert rung_positions(points, MODES, box=[1 / 3, 5.0]) == [2, 4, 0, 0, 3, 5]
    assert rung_positions([(0.9, float("nan")), (0.5, 1.0)], MODES) == [1, 0]


@pytest.mark.parametrize("n, kept", [(1, 1), (3, 3), (4, 2), (6, 2), (7, 3), (9, 3)])
def test_the_best_third_goes_on_once_min_trials_have_reached_the_rung(n, kept):
    assert sum(goes_on(position, n, 3.0, 4) for position in range(n)) == kept


def scheduler(tmp_path, min_trials=2):
    return SuccessiveHalving(EarlyStoppingConfig(True, (2, 4), 2.0, min_trials), DEFAULT_OBJECTIVES, str(tmp_path))


def test_a_rung_decision_is_written_once_and_read_back_by_the_trial_and_a_restarted_driver(tmp_path):
    first = scheduler(tmp_path)
    assert first.judge("a", 2, 1, [0.9, 1.0])["goes_on"]  # alone: fewer than min_trials
    b = first.judge("b", 2, 1, [0.5, 2.0])  # dominated by a: 1 of 2 before it, 1 >= 2 / 2
    assert not b["goes_on"] and b["reason"].startswith(f"{DOMINATED} 2:")
    assert stop_reason(tmp_path, "b", 2, (2, 4)) == b["reason"]
    assert stop_reason(tmp_path, "b", 3, (2, 4)) == b["reason"]  # a trial restarted past its rung still stops
    assert stop_reason(tmp_path, "a", 2, (2, 4)) is None

    restarted = scheduler(tmp_path)  # a new driver: the book, not its memory, decides
    assert restarted.judge("b", 2, 1, [0.99, 0.1]) == b  # the same trial at the same rung: the same decision
    assert len(RungBook(tmp_path).read()) == 2
    c = restarted.judge("c", 2, 1, [0.95, 0.5])  # dominates both: goes on
    assert c["goes_on"] and c["of"] == 3


def test_a_trial_is_compared_only_with_trials_in_the_same_phase_at_the_rung(tmp_path):
    s = scheduler(tmp_path)
    s.judge("phase2", 4, 2, [0.99, 0.1])
    assert s.judge("phase1", 4, 1, [0.5, 3.0])["of"] == 1  # never stopped by a network that already switched
    assert not s.judge("worse1", 4, 1, [0.4, 3.5])["goes_on"]


def test_the_scheduler_judges_only_unpruned_epoch_reports_at_a_rung(tmp_path):
    s = scheduler(tmp_path)

    class Trial:
        trial_id = "t"

    for result in ({"epoch": 0, "val_accuracy": 0.9, "val_n_s": 1.0, "phase": 1},   # not a rung
                   {"epoch": 1, "val_accuracy": 0.9, "val_n_s": 1.0, "phase": 1, "pruned": True},
                   {"epoch": 1, "val_accuracy": 0.9, "val_n_s": 1.0, "phase": 1, "is_final": True}):
        assert s.on_trial_result(None, Trial(), result) == s.CONTINUE
    assert RungBook(tmp_path).read() == {}
    s.on_trial_result(None, Trial(), {"epoch": 1, "val_accuracy": 0.9, "val_n_s": 1.0, "phase": 1})
    assert list(RungBook(tmp_path).read()) == [("t", 2)]


def test_early_stopping_keys_and_their_errors():
    space = {"loss.alpha": {"type": "float", "low": 1e-3, "high": 1e-2}}
    config = SearchConfig.from_dict({"space": space, "early_stopping": {"rungs": [10, 30, 90]}})
    assert config.early_stopping == EarlyStoppingConfig(True, (10, 30, 90), 3.0, 4)
    assert not SearchConfig.from_dict({"space": space}).early_stopping.enabled
    assert SearchConfig.from_dict({"space": space}).reference_n_s == 5.0
    for table, message in [({"enabled": True}, "rungs must be given"),
                           ({"rungs": [10, 10]}, "rungs must increase strictly"),
                           ({"rungs": []}, "rungs must have"),
                           ({"rungs": [10], "reduction_factor": 1}, "reduction_factor must be > 1"),
                           ({"rungs": [10], "min_trials": 0}, "min_trials must be >= 1"),
                           ({"rungs": [10], "eta": 3}, "eta")]:
        with pytest.raises(UserError, match=message):
            SearchConfig.from_dict({"space": space, "early_stopping": table})
    with pytest.raises(UserError, match=r"rungs must lie below train.schedule.epochs = 160, got \[10, 160\]; drop \[160\]"):
        SearchConfig.from_dict({"space": space, "early_stopping": {"rungs": [10, 160]}}, train=TrainConfig())
    with pytest.raises(UserError, match="reference_n_s must be > 0"):
        SearchConfig.from_dict({"space": space, "reference_n_s": 0})
