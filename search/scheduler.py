"""Successive halving as a Ray Tune scheduler, and the book of its decisions.

The driver's :class:`SuccessiveHalving` (a ``ray.tune.schedulers.FIFOScheduler``) sees every trial's results;
when one reports the epoch that completes a rung, it judges the trial by the rule of search.rungs and writes
the decision to ``<study>/rungs.jsonl`` (:class:`RungBook`) before Tune lets the trial go on: a function
trainable's ``tune.report`` returns only when the driver asks for its next result, after the scheduler ran.
The scheduler itself always answers CONTINUE; the trial reads its decision (:func:`stop_reason`) and, when
stopped, ends itself with a final report marked pruned with the decision's reason ("dominated at epoch r:
..."). So a stopped trial gets a final report like any other, and search.outcome.classify makes it PRUNED
in Optuna, MLflow, the live table and the summary, with the epochs it saved counted.

The book is the memory of successive halving: a decision, once written, is never made again. A trial that
reaches a rung again (resumed by a new driver from an earlier checkpoint) gets the decision on record, and a
restarted driver's scheduler reads the book back, so rung decisions do not depend on when a driver died.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

from ray.tune.schedulers import FIFOScheduler

from search.layout import StudyLayout
from search.objectives import Objective
from search.outcome import FINAL_KEY, PRUNED_KEY
from search.rungs import EarlyStoppingConfig, dominated_reason, judge

__all__ = ["SuccessiveHalving", "RungBook", "make_scheduler", "stop_reason"]

logger = logging.getLogger(__name__)
_WAIT_S = 60.0  # how long a trial waits for its decision at a rung (the driver writes it before the trial resumes)


class RungBook:
    """``<study>/rungs.jsonl``: one line per (trial, rung), appended by the driver only, read by trials."""

    def __init__(self, study_dir: str | Path):
        study_dir = Path(study_dir)
        self.path = StudyLayout(study_dir.name, study_dir).rungs_file

    def read(self) -> dict[tuple[str, int], dict[str, Any]]:
        records = {}
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return records
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:  # a line being written (a trial on another node reads while the driver appends)
                continue
            records[(record["trial"], int(record["rung"]))] = record
        return records

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())  # on disk before the trial may read it, and before any Tune snapshot


class SuccessiveHalving(FIFOScheduler):
    """Judges trials at the rungs of ``config`` on ``objectives``; ``box``: the hypervolume's reference
    point in objective order (search.hypervolume.reference_box), or None."""

    def __init__(self, config: EarlyStoppingConfig, objectives: Sequence[Objective], study_dir: str,
                 box: Sequence[float] | None = None):
        super().__init__()
        self.config, self.objectives, self.study_dir = config, tuple(objectives), str(study_dir)
        self.box = list(box) if box is not None else None
        self._records: dict[tuple[str, int], dict[str, Any]] | None = None  # read from the book at first use

    def __getstate__(self):  # pickled with the Tuner: the book on disk is the state
        return {**self.__dict__, "_records": None}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return True  # the objectives come from the study file, not from Tune's single metric

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        epochs = int(result.get("epoch", -1)) + 1
        if epochs in self.config.rungs and not result.get(FINAL_KEY) and not result.get(PRUNED_KEY):
            self.judge(trial.trial_id, epochs, int(result.get("phase", 1)),
                       [float(result.get(o.metric, float("nan"))) for o in self.objectives])
        return self.CONTINUE

    def judge(self, trial_id: str, rung: int, phase: int, values: Sequence[float]) -> dict[str, Any]:
        """The decision for ``trial_id`` at ``rung`` (the one on record if there is one), written to the book."""
        book = RungBook(self.study_dir)
        if self._records is None:
            self._records = book.read()
        if (trial_id, rung) in self._records:
            return self._records[(trial_id, rung)]
        peers = [r for r in self._records.values() if r["rung"] == rung and r["phase"] == phase]
        points = [r["values"] for r in peers] + [list(values)]
        position, go = judge(points, [o.mode for o in self.objectives], self.box, self.config)
        record = {"trial": trial_id, "rung": rung, "phase": phase, "values": list(values), "position": position,
                  "of": len(points), "goes_on": go,
                  "reason": "" if go else dominated_reason(rung, position, len(points), self.config.reduction_factor)}
        book.append(record)
        self._records[(trial_id, rung)] = record
        return record


def make_scheduler(settings, study_dir, reference: Sequence[float] | None):
    """The study's Tune scheduler: successive halving when ``[search.early_stopping]`` enables it, else
    Tune's default (FIFO). ``reference``: the manifest's hypervolume reference point."""
    from search.hypervolume import reference_box

    if not settings.early_stopping.enabled:
        return FIFOScheduler()
    return SuccessiveHalving(settings.early_stopping, settings.objectives, str(study_dir),
                             reference_box(settings.objectives, reference))


def stop_reason(study_dir: str | Path, trial_id: str, epochs_done: int, rungs: Sequence[int], *,
                wait: bool = True) -> str | None:
    """For a trial that has trained ``epochs_done`` epochs: the reason successive halving stopped it at a rung
    so far, or None. At a rung it waits (``wait``) for the driver's decision to be on record."""
    book = RungBook(study_dir)
    records = book.read()
    if wait and epochs_done in rungs and (trial_id, epochs_done) not in records:
        deadline = time.monotonic() + _WAIT_S
        while (trial_id, epochs_done) not in records and time.monotonic() < deadline:
            time.sleep(0.05)
            records = book.read()
        if (trial_id, epochs_done) not in records:
            logger.warning("trial %s: no successive-halving decision at epoch %d after %.0f s; it goes on",
                           trial_id, epochs_done, _WAIT_S)
    stopped = [r for (t, rung), r in records.items() if t == trial_id and rung <= epochs_done and not r["goes_on"]]
    return min(stopped, key=lambda r: r["rung"])["reason"] if stopped else None
