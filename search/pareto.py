"""Non-dominated sorting (Deb et al.'s fast non-dominated sort): rank 1 is the Pareto front, rank 2 the front
once rank 1 is removed, and so on; and NSGA-II's crowding distance, which orders the points of one front.

Point a dominates b when a is at least as good in every objective and strictly better in one; equal points
do not dominate each other, so duplicates share a rank. Callers pass only finite values of COMPLETE trials:
pruned or failed trials are never ranked.
"""

from __future__ import annotations

import math
from typing import Sequence

__all__ = ["pareto_ranks", "crowding_distances"]


def _oriented(point: Sequence[float], modes: Sequence[str]) -> list[float]:
    # Turn every objective into "smaller is better" once, so comparisons below need no mode.
    return [-v if m == "max" else v for v, m in zip(point, modes)]


def pareto_ranks(points: Sequence[Sequence[float]], modes: Sequence[str]) -> list[int]:
    """Rank (1 = non-dominated) of each point, in the input order."""
    for mode in modes:
        if mode not in ("max", "min"):
            raise ValueError(f"modes must be 'max' or 'min', got {mode!r}")
    for i, point in enumerate(points):
        if len(point) != len(modes):
            raise ValueError(f"point {i} has {len(point)} values but there are {len(modes)} objectives")
        if not all(math.isfinite(v) for v in point):
            raise ValueError(f"point {i} has a non-finite value {list(point)}; rank only finished trials")
    oriented = [_oriented(p, modes) for p in points]
    n = len(points)
    dominated_by_me: list[list[int]] = [[] for _ in range(n)]
    n_dominating = [0] * n
    for i in range(n):
        for j in range(i + 1, n):
            a, b = oriented[i], oriented[j]
            if all(x <= y for x, y in zip(a, b)) and a != b:
                dominated_by_me[i].append(j)
                n_dominating[j] += 1
            elif all(y <= x for x, y in zip(a, b)) and a != b:
                dominated_by_me[j].append(i)
                n_dominating[i] += 1
    ranks = [0] * n
    current = [i for i in range(n) if n_dominating[i] == 0]
    rank = 1
    while current:
        following = []
        for i in current:
            ranks[i] = rank
            for j in dominated_by_me[i]:
                n_dominating[j] -= 1
                if n_dominating[j] == 0:
                    following.append(j)
        current, rank = following, rank + 1
    return ranks



def crowding_distances(points: Sequence[Sequence[float]]) -> list[float]:
    """NSGA-II's crowding distance of each point of one front (finite values): per objective, the gap between
    its two neighbours divided by the objective's range, summed; the extreme points of any objective get
    infinity (a front of up to two points is all extremes). Direction does not matter: only gaps count."""
    n = len(points)
    distances = [0.0] * n
    if n <= 2:
        return [math.inf] * n
    for m in range(len(points[0])):
        order = sorted(range(n), key=lambda i: points[i][m])
        low, high = points[order[0]][m], points[order[-1]][m]
        if high == low:  # no extremes in an objective the whole front shares
            continue
        distances[order[0]] = distances[order[-1]] = math.inf
        for before, i, after in zip(order, order[1:], order[2:]):
            distances[i] += (points[after][m] - points[before][m]) / (high - low)
    return distances
