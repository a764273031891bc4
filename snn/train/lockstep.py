"""Several trainings of one setting (its seeds) stepped in turn in one thread, epoch by epoch, so that after
every epoch all of them can be looked at together (the search service reports their median each epoch).

Each run is :func:`snn.train.trainer.training` in its own ``out_dir`` (own checkpoint: a killed process
continues every run from its last epoch). The runs share the process-wide random generators (torch, numpy,
random), so each run's generator states are put back before its epoch and saved after it: every run is bit for
bit the run :func:`snn.train.train` makes alone with its config. One thread, one run at a time: the runs use
the threads torch is given, one after another, never more (a trial keeps to its CPU share).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from snn.train.checkpoint import capture_global_rng, restore_global_rng
from snn.train.config import TrainConfig
from snn.train.trainer import EpochReport, RunResult, own_stop_reason, training

__all__ = ["train_lockstep"]


class _Run:
    def __init__(self, config: TrainConfig, out_dir: Path, resume: bool, evaluate_test: bool):
        self.steps = training(config, out_dir, resume=resume, progress=False, evaluate_test=evaluate_test)
        self.rng: dict | None = None  # the process-wide generators as this run left them
        self.started = False
        self.result: RunResult | None = None

    def advance(self, reason: str | None) -> EpochReport | None:
        """Sends the previous epoch's stop reason; returns the next epoch's report, or None once finished."""
        if self.rng is not None:
            restore_global_rng(self.rng)
        try:
            report = self.steps.send(reason) if self.started else next(self.steps)
        except StopIteration as done:
            self.result, report = done.value, None
        self.started = True
        self.rng = capture_global_rng()
        return report


def train_lockstep(
    configs: Sequence[TrainConfig],
    out_dirs: Sequence[str | Path],
    *,
    callback: Callable[[list[EpochReport]], str | None] | None = None,
    resume: Sequence[bool] | bool = False,
    evaluate_test: bool = True,
    names: Sequence[str] | None = None,
) -> list[RunResult]:
    """Trains every ``configs[i]`` into ``out_dirs[i]``, epoch by epoch in turn; the configs must plan the same
    epochs (they differ in their seed). ``callback(reports)`` gets every run's report of an epoch; a
    non-empty string returned stops all runs with that reason. A run whose trainer stops by itself
    (:func:`snn.train.trainer.own_stop_reason`) stops with its own reason, and the others with
    ``"{names[i]}: {that reason}"`` (names default to ``run 0``, ``run 1``, ...)."""
    resumes = [resume] * len(configs) if isinstance(resume, bool) else list(resume)
    runs = [_Run(c, Path(d), r, evaluate_test) for c, d, r in zip(configs, out_dirs, resumes, strict=True)]
    names = list(names) if names is not None else [f"run {i}" for i in range(len(runs))]
    reasons: list[str | None] = [None] * len(runs)
    while True:
        reports = [run.advance(reason) for run, reason in zip(runs, reasons)]
        if all(r is None for r in reports):
            return [run.result for run in runs]
        if any(r is None for r in reports) or len({r.epoch for r in reports}) != 1:
            epochs = [None if r is None else r.epoch for r in reports]
            raise RuntimeError(f"the runs are out of step (epochs {epochs}): they must plan the same epochs and "
                               f"resume from the same one")
        reason = callback(reports) if callback else None
        own = [own_stop_reason(r) for r in reports]
        first = next(((names[i], why) for i, why in enumerate(own) if why), None)
        # A run that stops by itself is sent nothing: its trainer records its own reason, as train() would.
        reasons = [reason or (None if why or first is None else f"{first[0]}: {first[1]}") for why in own]
