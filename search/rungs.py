"""Multi-objective successive halving (MO-ASHA, Schmucker et al. 2021): ``[search.early_stopping]`` and the rule
that decides, at a rung, whether a trial goes on.

```toml
[search.early_stopping]
enabled = true            # default when the table is present; absent table = off
rungs = [10, 30, 90]      # after this many epochs, trials are compared (each < train.schedule.epochs)
reduction_factor = 3      # the best 1/3 at a rung go on
min_trials = 4            # trials that must have reached a rung before anything is stopped there
```

The rule is asynchronous: a trial is judged once, when it reaches a rung, against every trial that reached
that rung before it (and itself). They are ordered by non-dominated sorting of the study's objectives at that
epoch, ties within a front broken by crowding distance (the more isolated point first, the front's ends
first); the trial goes on when fewer than ``n / reduction_factor`` of the n trials stand strictly before it,
i.e. it is stopped when its rank quantile falls in the worst ``1 - 1/reduction_factor``. When the study has
a hypervolume box (search.hypervolume), a point outside it (accuracy at or below chance, N_S at or above the
reference) can add nothing to the study's front and ranks after every point inside; a non-finite value ranks
last too.

2-phase trials: a trial is compared only with trials that were in the same phase at that rung (the phase of
its last epoch before the rung). A rung inside phase 1 thus compares networks trained on L_A only; when the
switch epoch is searched, a trial that has already switched is never stopped by, nor stops, one that has not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from search.pareto import crowding_distances, pareto_ranks
from snn import validation as v

__all__ = ["EarlyStoppingConfig", "rung_positions", "goes_on", "judge", "DOMINATED", "dominated_reason"]

DOMINATED = "dominated at epoch"  # how every prune reason of successive halving begins


@dataclass(frozen=True)
class EarlyStoppingConfig:
    enabled: bool = False
    rungs: tuple[int, ...] = ()
    reduction_factor: float = 3.0
    min_trials: int = 4

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None, prefix: str = "search.early_stopping") -> "EarlyStoppingConfig":
        if table is None:
            return cls()
        table = v.table(table, prefix)
        v.check_keys(table, ("enabled", "rungs", "reduction_factor", "min_trials"), prefix)
        enabled = v.boolean(table.get("enabled", True), f"{prefix}.enabled")
        example = "e.g. rungs = [10, 30, 90] (epochs)"
        if enabled and "rungs" not in table:
            raise v.invalid(f"{prefix}.rungs", "be given when early stopping is enabled", "nothing", example)
        listed = v.sequence(table.get("rungs", []), f"{prefix}.rungs", min_length=1 if enabled else 0, fix=example)
        rungs = tuple(v.integer(r, f"{prefix}.rungs[{i}]", min=1) for i, r in enumerate(listed))
        if any(b <= a for a, b in zip(rungs, rungs[1:])):
            raise v.invalid(f"{prefix}.rungs", "increase strictly", repr(list(rungs)), example)
        factor = v.number(table.get("reduction_factor", cls.reduction_factor), f"{prefix}.reduction_factor", min=1,
                          min_open=True, fix="3 keeps the best third at each rung")
        min_trials = v.integer(table.get("min_trials", cls.min_trials), f"{prefix}.min_trials", min=1)
        return cls(enabled, rungs, float(factor), min_trials)

    def check_epochs(self, epochs: int, prefix: str = "search.early_stopping") -> None:
        """Every rung must come before the last epoch (a trial that has trained them all has nothing to save)."""
        late = [r for r in self.rungs if r >= epochs]
        if self.enabled and late:
            raise v.invalid(f"{prefix}.rungs", f"lie below train.schedule.epochs = {epochs}", repr(list(self.rungs)),
                            f"drop {late}")


def _outside(point: Sequence[float], box: Sequence[float] | None, modes: Sequence[str]) -> bool:
    if not all(math.isfinite(x) for x in point):
        return True
    if box is None:
        return False
    # the box's corner is the worst point that still counts: a point no better in some objective is outside
    return any((x <= b) if m == "max" else (x >= b) for x, b, m in zip(point, box, modes))


def rung_positions(points: Sequence[Sequence[float]], modes: Sequence[str], box: Sequence[float] | None = None) -> list[int]:
    """For each point, how many points stand strictly before it (0 = best): inside the box by non-dominated
    rank, then by crowding distance (larger first); every point outside the box after all inside ones."""
    inside = [i for i, p in enumerate(points) if not _outside(p, box, modes)]
    keys: dict[int, tuple[float, float]] = {i: (math.inf, 0.0) for i in range(len(points))}
    ranks = pareto_ranks([points[i] for i in inside], modes)
    for rank in set(ranks):
        members = [i for i, r in zip(inside, ranks) if r == rank]
        for i, distance in zip(members, crowding_distances([points[i] for i in members])):
            keys[i] = (float(rank), -distance)
    return [sum(keys[j] < keys[i] for j in keys) for i in range(len(points))]


def goes_on(position: int, n: int, factor: float, min_trials: int) -> bool:
    """Whether a trial with ``position`` trials before it among ``n`` at its rung continues."""
    return n < min_trials or position < n / factor


def judge(points: Sequence[Sequence[float]], modes: Sequence[str], box: Sequence[float] | None,
          config: EarlyStoppingConfig) -> tuple[int, bool]:
    """The rule for the last of ``points``, a trial reaching a rung after the others (the trials in its phase
    that reached the rung before it): how many stand before it, and whether it goes on."""
    position = rung_positions(points, modes, box)[-1]
    return position, goes_on(position, len(points), config.reduction_factor, config.min_trials)


def dominated_reason(rung: int, position: int, n: int, factor: float) -> str:
    return (f"{DOMINATED} {rung}: {position} of the {n} trials at this rung rank before it (non-dominated "
            f"sorting, then crowding distance); the best 1/{factor:g} go on")
