"""Phase-1 branching's plan and keys: which trial comes next (children of parents at their switch first, new
parents only beyond the reserved child slots, freed slots when a parent ends before its switch), and the
config's checks. The real Optuna study the searcher asks through: children carry the parent's phase-1 values
and their own phase-2 values, and a WAITING start point is never taken for a child."""

import optuna
import pytest

from search.branching import NEW_PARENT, Member, next_proposal
from search.config import SearchConfig
from search.searcher import StudySearcher
from search.outcome import NUMBER_KEY, PHASE1_SOURCE_KEY
from snn.errors import UserError
from snn.train import TrainConfig


def plan(members, ready=(), trials=9, children=3):
    return next_proposal([Member(*m) for m in members], trials, children, lambda n: n in ready)


def test_a_parent_at_its_switch_gets_its_children_before_any_new_parent():
    assert plan([]) == NEW_PARENT
    assert plan([(0, None, False)]) == NEW_PARENT  # 8 left, 2 reserved
    assert plan([(0, None, False)], ready={0}) == 0
    assert plan([(0, None, False), (1, 0, False)], ready={0}) == 0
    assert plan([(0, None, False), (1, 0, False), (2, 0, False)], ready={0}) == NEW_PARENT  # group full


def test_a_slot_waits_when_every_trial_left_is_reserved_for_running_parents():
    members = [(0, None, False), (1, None, False), (2, None, False)]  # 6 left, 6 reserved
    assert plan(members) is None
    assert plan(members, trials=10) == NEW_PARENT
    assert plan(members, ready={1}) == 1


def test_a_parent_that_ended_before_its_switch_frees_its_childrens_slots():
    members = [(0, None, True), (1, None, False), (2, None, False)]  # trial 0 was pruned in phase 1
    assert plan(members) == NEW_PARENT
    assert plan([(0, None, True), (1, 0, True), (2, None, False)], ready={0}) == 0  # finished after its switch: live
    assert plan([(i, None, True) for i in range(9)]) is None  # nothing left


def test_branching_keys_and_their_errors():
    train = TrainConfig.from_dict({"schedule": {"epochs": 10, "switch_epoch": 5}})
    space = {"loss.alpha": {"type": "float", "low": 1e-3, "high": 1e-2},
             "schedule.phase2.lr": {"type": "float", "low": 1e-4, "high": 1e-3}}
    config = SearchConfig.from_dict({"space": space, "trials": 6, "branching": {"phase2_children": 3}}, train=train)
    assert config.branching.phase2_children == 3 and config.branching.enabled
    assert not SearchConfig.from_dict({"space": space}).branching.enabled
    with pytest.raises(UserError, match="phase2_children must be 1 when \\[search.space\\] has no phase-2 key"):
        SearchConfig.from_dict({"space": {"loss.alpha": space["loss.alpha"]}, "branching": {"phase2_children": 2}}, train=train)
    with pytest.raises(UserError, match="phase2_children must be 1 unless every trial trains two phases"):
        SearchConfig.from_dict({"space": {**space, "schedule.switch_epoch": {"type": "int", "low": 0, "high": 5}},
                                "branching": {"phase2_children": 2}}, train=train)
    point = {"loss.alpha": 1e-3, "schedule.phase2.lr": 1e-4}
    with pytest.raises(UserError, match="start_points must list at most 2 points with phase2_children = 3"):
        SearchConfig.from_dict({"space": space, "trials": 6, "start_points": [point] * 3,
                                "branching": {"phase2_children": 3}}, train=train)
    with pytest.raises(UserError, match="phase2_children must be >= 1"):
        SearchConfig.from_dict({"space": space, "branching": {"phase2_children": 0}})


def test_the_searcher_asks_children_with_the_parents_phase1_values_after_the_start_points(tmp_path):
    space = {"loss.alpha": {"type": "float", "low": 1e-3, "high": 1e-2},
             "schedule.phase2.lr": {"type": "float", "low": 1e-4, "high": 1e-3}}
    settings = SearchConfig.from_dict({"space": space, "trials": 6, "seed": 3, "branching": {"phase2_children": 3},
                                       "start_points": [{"loss.alpha": 2e-3, "schedule.phase2.lr": 5e-4}]})
    searcher = StudySearcher(settings, study_name="s", storage_url=f"sqlite:///{tmp_path / 'o.db'}", study_dir=str(tmp_path))
    first = searcher.suggest("a")
    assert first == {"loss.alpha": 2e-3, "schedule.phase2.lr": 5e-4, NUMBER_KEY: 0}  # the start point, a parent
    second = searcher.suggest("b")
    assert PHASE1_SOURCE_KEY not in second and second[NUMBER_KEY] == 1  # 5 left, 2 reserved: a new parent
    assert searcher.suggest("c") is None  # 4 left, 4 reserved: wait for a switch
    checkpoint = tmp_path / "branches" / "1" / "checkpoint.pt"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.write_bytes(b"parent 1 at its switch")
    children = [searcher.suggest("d"), searcher.suggest("e")]
    assert searcher.suggest("f") is None
    for child in children:
        assert child[PHASE1_SOURCE_KEY] == 1 and child["loss.alpha"] == second["loss.alpha"]
    assert len({c["schedule.phase2.lr"] for c in children + [second]}) == 3  # sampled: each its own
    trials = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'o.db'}").get_trials()
    assert [t.user_attrs.get("phase1_source") for t in trials] == [None, None, 1, 1]
    assert all(set(t.params) == set(space) for t in trials)  # Optuna sees every child's full parameter set
