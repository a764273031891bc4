"""The Tune function trainable: one trial = one ``snn.train.train`` run with the trial's parameters.

Every epoch the trainer's callback reports every metric to Tune (objectives, silent fractions, ...) together
with the trial's checkpoint, and applies the silent-neuron pruning rule; returning its reason stops training.
After training one last report carries the final validation/test metrics and ``pruned``/``prune_reason``:
the searcher (search.searcher) tells a pruned trial to Optuna as PRUNED, the tracker marks its MLflow run.
With successive halving (search.scheduler), a trial at a rung reads the driver's decision and, when stopped,
ends the same way. With branching (search.branching), a parent keeps its checkpoint at the switch epoch and a
child starts from it, reporting and counting only its own epochs.

A trial is PRUNED when the rule fired, when the trainer stopped on its own (a non-finite loss leaves a dead
network), or when the network ends switched off (the rule's condition holds on the final validation but the
patience had no epochs left to elapse): such networks have N_S ~ 0 and must never reach the Pareto front.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from search.objectives import final_metrics
from search.branching import branch_checkpoint, keep_branch
from search.outcome import (FINAL_KEY, NUMBER_KEY, PHASE1_SOURCE_KEY, PRUNE_REASON_KEY, PRUNED_KEY, epoch_result,
                            trial_params)
from search.pruning import PruningConfig, PruningRule
from search.scheduler import stop_reason

__all__ = ["run_trial", "read_attempts", "cap_gpu_memory", "TRIAL_DIR", "ATTEMPTS_DIR"]

TRIAL_DIR = "trials"
ATTEMPTS_DIR = "attempts"  # <study>/attempts/<trial id>.jsonl: one line per start of a trial (node, epoch)


def _restore(out_dir: Path) -> bool:
    """Puts the Tune checkpoint (if Tune restored this trial) into ``out_dir``; True when there is a run to
    resume. Tune's copy wins over whatever ``out_dir`` holds: it is the state Tune's results agree with."""
    from ray import tune
    from snn.train import CHECKPOINT

    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        with checkpoint.as_directory() as source:
            for path in Path(source).iterdir():
                if path.is_file():
                    shutil.copy2(path, out_dir / path.name)
    return (out_dir / CHECKPOINT).exists() and checkpoint is not None


def _finished_run(out_dir: Path):
    """The trial's finished run when ``out_dir`` holds one (its metrics.json has final metrics): a trial that
    finished after Tune's last snapshot (driver killed in between) or whose last report was lost is
    reported again from it, never trained again. None otherwise."""
    from snn.train import METRICS, EpochReport, RunResult

    try:
        data = json.loads((out_dir / METRICS).read_text())
    except (OSError, ValueError):
        return None
    if not data.get("final") or not data.get("epochs"):
        return None
    return RunResult([EpochReport(**e) for e in data["epochs"]], data["final"], bool(data.get("stopped_early")),
                     data.get("stop_reason"), out_dir)


def _previous_validations(out_dir: Path) -> list[dict]:
    from snn.train import METRICS

    path = out_dir / METRICS
    if not path.exists():
        return []
    return [epoch["validation"] for epoch in json.loads(path.read_text())["epochs"]]


def _record_attempt(study_dir: str, trial_id: str, resumed_epochs: int, branched_from: int | None = None) -> None:
    """Appends where and from which epoch this trial (re)starts: a retried or resumed trial shows the node it
    moved to and that it continued from its checkpoint instead of starting over; a branching child that
    starts from its parent's switch checkpoint, which parent."""
    import os
    import socket
    import time

    import ray

    path = Path(study_dir) / ATTEMPTS_DIR / f"{trial_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {"node_id": ray.get_runtime_context().get_node_id(), "host": socket.gethostname(), "pid": os.getpid(),
            "resumed_epochs": resumed_epochs, "time": time.time(), "kernel": _loaded_kernel(),
            "branched_from": branched_from}
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")


def _loaded_kernel() -> str:
    """The kernel library this process has mapped (Linux), so that which build a node uses is on record.
    Loads the kernels first (the trial needs them next)."""
    from snn._ext import load_kernels

    load_kernels()
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return ""
    return next((line.split()[-1] for line in maps.splitlines() if line.endswith("/snn_cpu.so")), "")


def read_attempts(study_dir: str | Path, trial_id: str) -> list[dict]:
    path = Path(study_dir) / ATTEMPTS_DIR / f"{trial_id}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def cap_gpu_memory(gpus: float) -> None:
    """A trial given a fraction of a GPU may allocate only that fraction of its memory, so that trials packed
    on one GPU cannot starve each other (Ray shares the device but does not enforce memory)."""
    import torch

    if 0 < gpus < 1 and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(gpus, 0)  # Ray's CUDA_VISIBLE_DEVICES makes it device 0


def run_trial(config: dict[str, Any], *, base_train: dict, pruning: dict, study_dir: str, threads: int,
              gpus: float = 0.0, rungs: tuple[int, ...] = (), branching: bool = False) -> None:
    """Tune's entry point (bound with ``tune.with_parameters``): ``config`` holds the sampled parameters,
    dotted keys relative to ``[train]``; ``rungs``: successive halving's (search.scheduler), if enabled;
    ``branching``: the study branches trials at the switch epoch (search.branching)."""
    import torch
    from ray import tune
    from snn.train import TrainConfig, train
    from snn.train.branch import branch_run

    torch.set_num_threads(threads)  # the trial's CPU share: trials at once must not oversubscribe the cores
    cap_gpu_memory(gpus)
    trial_config = TrainConfig.from_dict(base_train).with_overrides(trial_params(config))
    out_dir = Path(study_dir) / TRIAL_DIR / tune.get_context().get_trial_id()
    rule = PruningRule(PruningConfig.from_dict(pruning))
    parent = config.get(PHASE1_SOURCE_KEY)  # a branching child: the parent whose phase 1 it continues
    inherited = trial_config.schedule.switch_epoch if parent is not None else 0
    done = _finished_run(out_dir)
    if done is not None:
        _record_attempt(study_dir, tune.get_context().get_trial_id(), len(done.epochs))
        return _report_final(done, rule, {}, trial_config.schedule.epochs, out_dir, inherited)
    resume = _restore(out_dir)
    if not resume and out_dir.exists():
        shutil.rmtree(out_dir)  # a restarted trial (no Tune checkpoint) starts from scratch
    branched = parent is not None and not resume  # a child's own start: its parent's checkpoint at the switch
    if branched:
        resume = bool(branch_run(branch_checkpoint(study_dir, parent), trial_config, out_dir))
    history = _previous_validations(out_dir) if resume else []
    _record_attempt(study_dir, tune.get_context().get_trial_id(), len(history), parent if branched else None)
    stop: dict[str, str] = {}
    first_epoch = len(history)

    def callback(report) -> str | None:
        history.append(report.validation)
        reason = rule.check(history)
        metrics = {**epoch_result(report), PRUNED_KEY: reason is not None, FINAL_KEY: False}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(out_dir)))
        # At a rung, and once after a restart (a decision the last driver made may not have reached the trial)
        if reason is None and rungs and (report.epoch + 1 in rungs or report.epoch == first_epoch):
            reason = stop_reason(study_dir, tune.get_context().get_trial_id(), report.epoch + 1, rungs)
        if reason is None and branching and parent is None and report.epoch + 1 == trial_config.schedule.switch_epoch:
            keep_branch(out_dir, study_dir, config[NUMBER_KEY])  # a parent's phase 1, for its children
        if reason:
            stop["reason"] = reason
        return reason

    result = train(trial_config, out_dir, callback=callback, resume=resume, progress=False)
    _report_final(result, rule, stop, trial_config.schedule.epochs, out_dir, inherited)


def _report_final(result, rule: PruningRule, stop: dict, planned: int, out_dir: Path, inherited: int) -> None:
    """``inherited``: the epochs a branching child took from its parent (the rest it trained itself)."""
    from ray import tune

    reason = stop.get("reason") or result.stop_reason
    if reason is None and rule.config.enabled and (off := rule.why_switched_off(result.final["validation"])):
        reason = f"ended switched off: {off}"
    tune.report({
        **epoch_result(result.epochs[-1]),
        **final_metrics(result.final),
        PRUNED_KEY: reason is not None,
        PRUNE_REASON_KEY: reason or "",
        FINAL_KEY: True,
        "epochs_run": len(result.epochs) - inherited,
        "epochs_planned": planned - inherited,
        "epochs_saved": planned - len(result.epochs) if reason else 0,
        "epochs_inherited": inherited,
        # Spikes dropped by full spike buffers in training and validation: the network's times are not exact.
        "spike_overflows": sum(e.train_spike_overflows + int(e.validation.get("spike_overflows", 0))
                               for e in result.epochs[inherited:]),
        "out_dir": str(out_dir),
    })
