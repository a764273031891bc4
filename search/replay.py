"""Successive halving replayed on a finished study: which trials a rule would have stopped, the epochs it would
have saved and the hypervolume it would have kept, from the per-epoch validation values MLflow holds.

The rule is search.rungs' own (:func:`search.rungs.judge`), applied as the driver applies it: a trial reaching a
rung is judged against the trials that reached that rung before it and were in the same phase, in the order
the study's trials really reached it (the time its epoch was logged). A trial the replay stops keeps the epochs
up to its rung; every other trial keeps what it trained, and a COMPLETE one its final values. What the replay
cannot know is how the sampler would have proposed differently after seeing fewer complete trials: with the
same proposals, stopping can keep the front at best, never improve it. Hence a study that stopped or branched
trials itself cannot be replayed (its curves end where its own rule ended them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from search.hypervolume import reference_box, study_hypervolume
from search.layout import StudyLayout
from search.objectives import Objective
from search.outcome import FINISHED_STATES, PHASE1_SOURCE_KEY, PRUNE_REASON_KEY, PRUNED
from search.rungs import DOMINATED, EarlyStoppingConfig, judge
from search.tracking import StudyTracker, TrialRow
from snn.errors import UserError

__all__ = ["TrialCurve", "ReplayResult", "ReplayableStudy", "read_curves", "replay"]


@dataclass(frozen=True)
class TrialCurve:
    """One trial as the replay needs it: its run, and per epoch index (0 = after the first epoch) the time the
    epoch was logged (ms), the phase and the objectives' values."""

    row: TrialRow
    logged: dict[int, int]
    phase: dict[int, int]
    values: dict[int, list[float]]

    @property
    def epochs(self) -> int:
        return int(self.row.metrics.get("epochs_run", len(self.values)))

    def reaches(self, rung: int) -> bool:
        """Whether the driver judged this trial at ``rung``: it reported the rung's epoch, and not as its pruned
        last report (a network found silent at that very epoch is pruned before any rule sees it)."""
        return rung - 1 in self.logged and not (self.row.state == PRUNED and rung >= self.epochs)


@dataclass(frozen=True)
class ReplayResult:
    stopped: dict[str, int]  # run name -> the rung that stopped it
    epochs: int
    hypervolume: float | None


def read_curves(tracker: StudyTracker, objectives: Sequence[Objective],
                on_trial: Callable[[int, int], None] | None = None) -> list[TrialCurve]:
    """Every finished trial's curve, read from the study's MLflow store (a few queries per trial: ``on_trial(done,
    total)`` after each, for a progress bar)."""
    curves = []
    rows = [row for row in tracker.trials() if row.state in FINISHED_STATES]
    for done, row in enumerate(rows, 1):
        halved = row.tags.get(PRUNE_REASON_KEY, "").startswith(DOMINATED)
        if halved or row.tags.get(PHASE1_SOURCE_KEY):
            raise UserError(
                f"trial {row.name} was {'stopped by successive halving' if halved else 'branched from a phase-1 parent'}: "
                "a replay needs a study whose every trial trained its own schedule (no [search.early_stopping], no "
                "[search.branching]); replay the baseline study of a comparison instead")
        # every epoch logs its phase; an objective's non-finite value is not logged
        epochs = {m.step: m for m in tracker.client.get_metric_history(row.run_id, "phase")}
        by_step = {key: {m.step: m.value for m in tracker.client.get_metric_history(row.run_id, key)}
                   for key in dict.fromkeys(o.metric for o in objectives)}
        curves.append(TrialCurve(
            row,
            logged={s: m.timestamp for s, m in epochs.items()},
            phase={s: int(m.value) for s, m in epochs.items()},
            values={s: [by_step[o.metric].get(s, math.nan) for o in objectives] for s in epochs},  # NaN ranks last
        ))
        if on_trial:
            on_trial(done, len(rows))
    return curves


def replay(curves: Sequence[TrialCurve], config: EarlyStoppingConfig, objectives: Sequence[Objective],
           reference: Sequence[float] | None, box: Sequence[float] | None) -> ReplayResult:
    """What successive halving with ``config`` would have done to the trials of ``curves`` (``reference``: the
    hypervolume's reference point; ``box``: the same in objective order, as the scheduler ranks with it)."""
    arrivals = sorted((curve.logged[rung - 1], i, rung) for i, curve in enumerate(curves)
                      for rung in (config.rungs if config.enabled else ()) if curve.reaches(rung))
    seen: dict[tuple[int, int], list[list[float]]] = {}  # (rung, phase) -> the values judged there so far
    stopped: dict[int, int] = {}
    modes = [o.mode for o in objectives]
    for _, i, rung in arrivals:
        if i in stopped:
            continue
        curve = curves[i]
        peers = seen.setdefault((rung, curve.phase[rung - 1]), [])
        peers.append(curve.values[rung - 1])
        if not judge(peers, modes, box, config)[1]:
            stopped[i] = rung
    kept = [curve.row for i, curve in enumerate(curves) if i not in stopped]
    epochs = sum(stopped.get(i, curve.epochs) for i, curve in enumerate(curves))
    return ReplayResult({curves[i].row.name: rung for i, rung in stopped.items()}, epochs,
                        study_hypervolume(kept, reference))


class ReplayableStudy:
    """A finished study's curves and its own outcome, read once from its MLflow store (``on_trial(done, total)``
    after each trial, for a progress bar), then replayed under as many rules as asked."""

    def __init__(self, name: str, root: str | None, on_trial: Callable[[int, int], None] | None = None):
        manifest = StudyLayout.at(name, root).manifest()
        self.name, self.objectives = name, list(manifest.objectives)
        self.reference = manifest.hypervolume_reference
        if self.reference is None:
            raise UserError(f"study {name} has no hypervolume (it needs the two default objectives): a replay "
                            "compares hypervolumes")
        self.box = reference_box(self.objectives, self.reference)
        self.curves = read_curves(StudyTracker(manifest.tracking_uri, manifest.name), self.objectives, on_trial)
        if not self.curves:
            raise UserError(f"study {name} has no finished trial to replay")
        self.epochs = max(int(c.row.metrics.get("epochs_planned", c.epochs)) for c in self.curves)
        self.full = replay(self.curves, EarlyStoppingConfig(), self.objectives, self.reference, self.box)

    def replay(self, rule: EarlyStoppingConfig) -> tuple[ReplayResult, float, float]:
        """The rule's result, and its hypervolume and epochs as shares of the study's own."""
        result = replay(self.curves, rule, self.objectives, self.reference, self.box)
        kept = result.hypervolume / self.full.hypervolume if self.full.hypervolume else float("nan")
        return result, kept, result.epochs / self.full.epochs
