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

With ``[search] seeds = k`` the trial trains its setting on k seeds in lockstep (snn.train.lockstep: one
thread, within the trial's CPU share) and reports their medians (search.seeds); the pruning rule counts a
trial switched off when at least half its seeds are (search.pruning); a seed whose trainer stops by itself
(non-finite loss) stops the trial.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from search.objectives import final_metrics
from search.branching import branch_runs, keep_branch
from search.outcome import (FINAL_KEY, NUMBER_KEY, PHASE1_SOURCE_KEY, PRUNE_REASON_KEY, PRUNED_KEY, epoch_result,
                            trial_params)
from search.pruning import PruningConfig, PruningRule
from search.scheduler import stop_reason
from search.seeds import median_result, per_seed_finals, seed_dirs, trial_seeds

__all__ = ["run_trial", "record_attempt", "read_attempts", "cap_gpu_memory", "TRIAL_DIR", "ATTEMPTS_DIR"]

TRIAL_DIR = "trials"
ATTEMPTS_DIR = "attempts"  # <study>/attempts/<trial id>.jsonl: one line per start of a trial (node, epoch)
# (and <study>/attempts/confirm-<trial>-seed<S>.jsonl per start of a confirmation's seed run)


def _restore(out_dir: Path, run_dirs: list[Path]) -> bool:
    """Puts the Tune checkpoint (if Tune restored this trial) into ``out_dir``: the files of each seed's run
    folder (``run_dirs``, inside ``out_dir``). True when there is a run to resume. Tune's copy wins over
    whatever ``out_dir`` holds: it is the state Tune's results agree with."""
    from ray import tune
    from snn.train import CHECKPOINT

    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return False
    with checkpoint.as_directory() as source:
        for run_dir in run_dirs:
            saved = Path(source) / run_dir.relative_to(out_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            for path in saved.iterdir() if saved.is_dir() else ():
                if path.is_file():
                    shutil.copy2(path, run_dir / path.name)
    return all((run_dir / CHECKPOINT).exists() for run_dir in run_dirs)


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


def record_attempt(study_dir: str, trial_id: str, resumed_epochs: int, branched_from: int | None = None) -> None:
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
              gpus: float = 0.0, seeds: int = 1, rungs: tuple[int, ...] = (), branching: bool = False) -> None:
    """Tune's entry point (bound with ``tune.with_parameters``): ``config`` holds the sampled parameters,
    dotted keys relative to ``[train]``; ``seeds``: seeds per trial; ``rungs``: successive halving's
    (search.scheduler), if enabled; ``branching``: the study branches trials at the switch epoch
    (search.branching)."""
    import torch
    from ray import tune
    from snn.train import TrainConfig
    from snn.train.lockstep import train_lockstep

    torch.set_num_threads(threads)  # the trial's CPU share: trials at once must not oversubscribe the cores
    cap_gpu_memory(gpus)
    trial_config = TrainConfig.from_dict(base_train).with_overrides(trial_params(config))
    trial_id = tune.get_context().get_trial_id()
    out_dir = Path(study_dir) / TRIAL_DIR / trial_id
    seed_list = trial_seeds(trial_config.seed, seeds)
    configs = [trial_config.with_overrides({"seed": seed}) for seed in seed_list]
    run_dirs = seed_dirs(out_dir, seed_list)
    rule = PruningRule(PruningConfig.from_dict(pruning))
    parent = config.get(PHASE1_SOURCE_KEY)  # a branching child: the parent whose phase 1 it continues
    inherited = trial_config.schedule.switch_epoch if parent is not None else 0
    done = [_finished_run(run_dir) for run_dir in run_dirs]
    if all(done):
        record_attempt(study_dir, trial_id, len(done[0].epochs))
        return _report_final(done, seed_list, rule, trial_config.schedule.epochs, out_dir, inherited)
    resume = _restore(out_dir, run_dirs)
    if not resume and out_dir.exists():
        shutil.rmtree(out_dir)  # a restarted trial (no Tune checkpoint) starts from scratch
    branched = parent is not None and not resume  # a child's own start: its parent's checkpoints at the switch
    if branched:
        resume = bool(branch_runs(study_dir, parent, out_dir, configs, run_dirs))
    histories = [_previous_validations(run_dir) if resume else [] for run_dir in run_dirs]
    record_attempt(study_dir, trial_id, len(histories[0]), parent if branched else None)
    first_epoch = len(histories[0])

    def callback(reports) -> str | None:
        for history, report in zip(histories, reports):
            history.append(report.validation)
        reason = rule.check_seeds(histories)
        metrics = {**median_result([epoch_result(r) for r in reports]), PRUNED_KEY: reason is not None, FINAL_KEY: False}
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(out_dir)))
        epochs_done = reports[0].epoch + 1  # the seeds are in step (snn.train.lockstep)
        # At a rung, and once after a restart (a decision the last driver made may not have reached the trial)
        if reason is None and rungs and (epochs_done in rungs or epochs_done == first_epoch + 1):
            reason = stop_reason(study_dir, trial_id, epochs_done, rungs)
        if reason is None and branching and parent is None and epochs_done == trial_config.schedule.switch_epoch:
            keep_branch(study_dir, config[NUMBER_KEY], out_dir, run_dirs)  # a parent's phase 1, for its children
        return reason

    results = train_lockstep(configs, run_dirs, callback=callback, resume=resume, names=[f"seed {s}" for s in seed_list])
    _report_final(results, seed_list, rule, trial_config.schedule.epochs, out_dir, inherited)


def _why_ended(results, seeds: list[int]) -> str | None:
    """Why the runs stopped early: a seed that stopped by itself (a non-finite loss; named when there are
    several seeds), else the reason all were stopped with (the pruning rule's, or successive halving's)."""
    from snn.train.trainer import own_stop_reason

    for seed, result in zip(seeds, results):
        if result.stop_reason and result.stop_reason == own_stop_reason(result.epochs[-1]):
            return result.stop_reason if len(seeds) == 1 else f"seed {seed}: {result.stop_reason}"
    return next((r.stop_reason for r in results if r.stop_reason), None)


def _report_final(results, seeds: list[int], rule: PruningRule, planned: int, out_dir: Path, inherited: int) -> None:
    """``inherited``: the epochs a branching child took from its parent (the rest it trained itself)."""
    from ray import tune

    reason = _why_ended(results, seeds)
    if reason is None and rule.config.enabled and (
            off := rule.seeds_switched_off([r.final["validation"] for r in results])):
        reason = f"ended switched off: {off}"
    finals = [final_metrics(r.final) for r in results]
    epochs_run = len(results[0].epochs)
    tune.report({
        **median_result([epoch_result(r.epochs[-1]) for r in results]),
        **median_result(finals),
        **(per_seed_finals(seeds, finals) if len(seeds) > 1 else {}),
        PRUNED_KEY: reason is not None,
        PRUNE_REASON_KEY: reason or "",
        FINAL_KEY: True,
        "epochs_run": epochs_run - inherited,
        "epochs_planned": planned - inherited,
        "epochs_saved": planned - epochs_run if reason else 0,
        "epochs_inherited": inherited,
        # Spikes dropped by full spike buffers in training and validation: the network's times are not exact.
        "spike_overflows": sum(e.train_spike_overflows + int(e.validation.get("spike_overflows", 0))
                               for r in results for e in r.epochs[inherited:]),
        "out_dir": str(out_dir),
    })
