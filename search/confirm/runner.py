"""A confirmation's seed runs as Ray tasks: each with the study's resources per trial (its CPU threads, its GPU
share), at most the study's concurrency at once, a task whose worker or node dies retried up to the study's
``max_retries`` (it continues from the run's checkpoint). Every start is recorded in the study's attempts
folder (search.trainable.record_attempt), so that a resumed confirmation shows which runs continued from
where. Progress comes from the runs' own metrics.json (rewritten every epoch), read by the driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from search.config import SearchConfig
from search.confirm.display import ConfirmDisplay

__all__ = ["run_seed_runs", "attempt_key", "POLL_S"]

POLL_S = 0.5


def attempt_key(run) -> str:
    """The name of a seed run's attempts record: ``confirm-trial_004-seed12``."""
    return f"confirm-{run.study}-seed{run.seed}"


def _train_seed_run(config: dict, out_dir: str, study_dir: str, key: str, threads: int, gpus: float) -> None:
    """One seed run, in a Ray worker: resumed from its checkpoint when it has one."""
    import torch

    from search.trainable import cap_gpu_memory, record_attempt
    from snn.train import CHECKPOINT, TrainConfig, train
    from snn.train.checkpoint import load_checkpoint

    torch.set_num_threads(threads)
    cap_gpu_memory(gpus)
    checkpoint = Path(out_dir) / CHECKPOINT
    resume = checkpoint.exists()
    record_attempt(study_dir, key, len(load_checkpoint(checkpoint)["epochs"]) if resume else 0)
    train(TrainConfig.from_dict(config), out_dir, resume=resume, progress=False)


def _reason(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def run_seed_runs(runs: Sequence, settings: SearchConfig, study_dir: Path, display: ConfirmDisplay,
                  on_finished: Callable[[object, str | None], None]) -> None:
    """Trains ``runs`` (snn.train.repeat.SeedRun), calling ``on_finished(run, error or None)`` as each ends.
    An interrupt (search.interrupts.Interrupted) cancels the tasks in flight; their checkpoints stay."""
    import ray

    from snn.train.repeat import epochs_done

    task = ray.remote(_train_seed_run).options(num_cpus=settings.resources.cpus, num_gpus=settings.resources.gpus,
                                               max_retries=settings.max_retries)
    waiting, running = list(runs), {}
    try:
        while waiting or running:
            while waiting and len(running) < settings.concurrency:
                run = waiting.pop(0)
                running[task.remote(run.config.to_dict(), str(run.out_dir), str(study_dir), attempt_key(run),
                                    settings.resources.threads, settings.resources.gpus)] = run
                display.started(run)
            ready, _ = ray.wait(list(running), num_returns=len(running), timeout=POLL_S)
            if display.live:  # epochs_done reads each run's metrics.json: only for the live bars
                for run in running.values():
                    display.advanced(run, epochs_done(run))
            for ref in ready:
                run = running.pop(ref)
                try:
                    ray.get(ref)
                    error = None
                except Exception as failure:  # noqa: BLE001 - Ray wraps whatever the worker hit
                    error = _reason(failure)
                on_finished(run, error)
    finally:
        for ref in running:  # interrupted: stop the workers; the runs continue from their checkpoints next time
            ray.cancel(ref, force=True)
