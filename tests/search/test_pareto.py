"""Non-dominated sorting against a brute-force definition of Pareto dominance."""

import itertools
import random

import pytest

from search.pareto import pareto_ranks


def brute_force_front(points, modes):
    def better_or_equal(a, b, mode):
        return a >= b if mode == "max" else a <= b

    def strictly_better(a, b, mode):
        return a > b if mode == "max" else a < b

    front = []
    for i, p in enumerate(points):
        dominated = any(
            all(better_or_equal(q[k], p[k], m) for k, m in enumerate(modes))
            and any(strictly_better(q[k], p[k], m) for k, m in enumerate(modes))
            for j, q in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return front


def front(points, modes):
    """The rank-1 points, as the tracker tags them."""
    return [i for i, rank in enumerate(pareto_ranks(points, modes)) if rank == 1]


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("modes", [("max", "min"), ("min", "min"), ("max", "min", "min"), ("max",)])
def test_front_matches_brute_force(seed, modes):
    rng = random.Random(seed)
    # Coarse values make ties and duplicates common.
    points = [[rng.choice([0.1, 0.2, 0.3, 0.5, 0.9]) for _ in modes] for _ in range(rng.randint(1, 25))]
    assert front(points, modes) == brute_force_front(points, modes)


@pytest.mark.parametrize("seed", range(10))
def test_rank_k_is_the_front_once_ranks_below_k_are_removed(seed):
    rng = random.Random(seed)
    modes = ("max", "min")
    points = [[rng.random(), rng.random()] for _ in range(30)]
    ranks = pareto_ranks(points, modes)
    remaining = list(range(len(points)))
    rank = 1
    while remaining:
        front = [remaining[i] for i in brute_force_front([points[i] for i in remaining], modes)]
        assert sorted(i for i in remaining if ranks[i] == rank) == sorted(front)
        remaining = [i for i in remaining if i not in front]
        rank += 1


def test_direction_matters_and_duplicates_share_the_front():
    # (accuracy, N_S): high accuracy and few spikes are good.
    points = [[0.98, 1.4], [0.98, 1.4], [0.95, 0.6], [0.90, 2.0], [0.99, 3.0]]
    assert pareto_ranks(points, ("max", "min")) == [1, 1, 1, 2, 1]
    assert front(points, ("min", "max")) == [3, 4]  # the opposite question has another answer
    assert pareto_ranks([[0.90, 2.0], [0.98, 1.4]], ("max", "min")) == [2, 1]  # better in both: dominates
    assert pareto_ranks([[0.98, 1.4], [0.98, 1.4]], ("max", "min")) == [1, 1]  # equal points do not dominate


def test_empty_and_invalid_input():
    assert pareto_ranks([], ("max", "min")) == []
    with pytest.raises(ValueError, match="non-finite"):
        pareto_ranks([[0.5, float("nan")]], ("max", "min"))
    with pytest.raises(ValueError, match="point 0 has 1 values but there are 2 objectives"):
        pareto_ranks([[0.5]], ("max", "min"))
    with pytest.raises(ValueError, match="modes must be 'max' or 'min'"):
        pareto_ranks([[0.5]], ("up",))


def test_all_permutations_give_the_same_ranks():
    points = [[0.9, 1.0], [0.8, 0.5], [0.7, 2.0], [0.95, 3.0], [0.8, 0.5]]
    expected = pareto_ranks(points, ("max", "min"))
    for order in itertools.permutations(range(len(points))):
        ranks = pareto_ranks([points[i] for i in order], ("max", "min"))
        assert [ranks[order.index(i)] for i in range(len(points))] == expected
