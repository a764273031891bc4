"""The training loop: Adam, per-epoch lr decay, the 2-phase schedule, validation every epoch, test at the end,
and a checkpoint after every epoch that resumes the run bit for bit.

Choices the paper leaves open (SPEC.md has the rest):
- Each phase gets a fresh Adam (zeroed moments) as well as its own learning rate: the paper runs phase 2 as a
  new training that starts from phase 1's weights (Fig. 8b), and L's gradients have a different scale than
  L_A's, so moments carried over from phase 1 would mis-scale the first phase-2 steps.
- The lr of epoch ``e`` is ``phase.lr * lr_decay ** (e - first epoch of the phase)``.
- Spikes beyond ``max_spikes`` are not warned about batch by batch; they are counted in the metrics
  (``spike_overflows``) and in ``EpochReport.train_spike_overflows``.
- A non-finite training loss stops the run (stop reason says so): Adam would only spread the NaNs.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Generator

import torch

from snn.functional import SpikeOverflowWarning, spike_overflow_count
from snn.losses import make_loss
from snn.train.checkpoint import capture_rng_state, load_checkpoint, restore_rng_state, save_checkpoint, seed_everything
from snn.train.config import TrainConfig
from snn.train.evaluation import build_model, evaluate, load_split, plot_run
from snn.train.progress import TrainingProgress

__all__ = ["EpochReport", "RunResult", "train", "training", "own_stop_reason", "training_loss", "check_start", "CHECKPOINT",
           "METRICS"]

CHECKPOINT, METRICS = "checkpoint.pt", "metrics.json"
_CHECKPOINT_FORMAT = 1


@dataclass
class EpochReport:
    epoch: int  # 0-based
    phase: int  # 1 or 2
    lr: float
    train_loss: float  # mean over the epoch's training samples
    validation: dict[str, Any]  # MetricAccumulator.compute() on the validation set
    seconds: float  # training + validation wall time
    train_spike_overflows: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunResult:
    epochs: list[EpochReport]
    final: dict[str, dict[str, Any] | None]  # {"validation": {...}, "test": {...} or None}
    stopped_early: bool
    stop_reason: str | None
    out_dir: Path


def check_start(config: TrainConfig, out_dir: str | Path, *, resume: bool) -> None:
    """The checks :func:`train` makes before it starts, as ``ValueError``/``FileExistsError``/
    ``FileNotFoundError``: the device exists, and ``out_dir`` holds no run (``resume=False``) or a run of
    this very config (``resume=True``)."""
    if config.device.startswith("cuda"):
        index = torch.device(config.device).index or 0
        if not torch.cuda.is_available() or index >= torch.cuda.device_count():
            raise ValueError(f"train.device is {config.device!r} but that CUDA device is not available here; "
                             f"use device = \"cpu\"")
    path = Path(out_dir) / CHECKPOINT
    if not resume:
        if path.exists():
            raise FileExistsError(f"{str(out_dir)!r} already holds a run ({CHECKPOINT}); resume it or choose another directory")
        return
    state = load_checkpoint(path)
    changed = config.differences(TrainConfig.from_dict(state["config"]))
    if changed:
        raise ValueError(f"cannot resume {str(out_dir)!r}: the config differs from the checkpoint's in {', '.join(changed)}")


def training_loss(config: TrainConfig, phase: int):
    """The loss phase ``phase`` (1 or 2) minimises, with its hyperparameters (the phase's own alpha and eta
    where it sets them)."""
    c, p = config.loss, config.schedule.phase(phase)
    alpha, eta = p.loss_weights(c)
    return make_loss(p.loss, alpha=alpha, eta=eta, tau_0=c.tau_0, tau_1=c.tau_1, t_end=config.network.t_end,
                     sp_normalization=c.sp_normalization)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)  # readers (dashboards, the search service) never see half a file


@contextlib.contextmanager
def _single_threaded_torch():
    """torch's own operators on one thread: Adam's CPU kernels open OpenMP parallel regions even for a few
    thousand parameters, after which OpenMP's idle threads spin for milliseconds, taking a core from the next
    step's kernel (csrc/workers.h runs the snn kernels on threads of their own)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _train_epoch(model, optimizer, loss_fn, dataset, config, generator, advance) -> tuple[float, int]:
    model.train()
    weight = model.layers[0].weight
    total, n = torch.zeros((), dtype=torch.float64, device=weight.device), 0
    before = spike_overflow_count()
    augment = config.data.augment and config.data.dataset == "mnist"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SpikeOverflowWarning)
        for inputs, labels in dataset.batches(config.data.batch_size, shuffle=True, generator=generator, augment=augment):
            labels = labels.to(weight.device)
            optimizer.zero_grad(set_to_none=True)
            loss = model.loss_backward(inputs.to(device=weight.device, dtype=weight.dtype), labels, loss_fn)
            with _single_threaded_torch():
                optimizer.step()
            total += loss.detach().double() * len(labels)
            n += len(labels)
            advance(loss.detach())
        overflows = spike_overflow_count() - before
    return float(total) / max(n, 1), overflows


def train(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    callback: Callable[[EpochReport], str | None] | None = None,
    resume: bool = False,
    progress: bool = True,
    evaluate_test: bool = True,
) -> RunResult:
    """Train ``config`` into ``out_dir`` (``checkpoint.pt``, ``metrics.json``, PNG plots).

    ``callback(report)`` runs after each epoch's validation and checkpoint; a non-empty string returned
    stops training with that reason. ``resume=True`` continues from ``out_dir/checkpoint.pt`` (the config
    must equal the checkpoint's); without it, an ``out_dir`` that already holds a checkpoint is refused.
    """
    steps = training(config, out_dir, resume=resume, progress=progress, evaluate_test=evaluate_test)
    try:
        report = next(steps)
        while True:
            report = steps.send(callback(report) if callback else None)
    except StopIteration as done:
        return done.value


def own_stop_reason(report: EpochReport) -> str | None:
    """Why the trainer stops a run by itself after ``report``'s epoch (a non-finite training loss), if it does."""
    return None if math.isfinite(report.train_loss) else f"training loss is not finite ({report.train_loss})"


def training(
    config: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    evaluate_test: bool = True,
) -> Generator[EpochReport, str | None, RunResult]:
    """:func:`train` one epoch at a time: yields each epoch's report (after its checkpoint) and takes the
    stop reason (or None) through ``send``; returns the :class:`RunResult` (``StopIteration.value``). Several
    of these can be stepped in turn in one thread (``snn.train.lockstep``)."""
    out_dir = Path(out_dir)
    checkpoint_path = out_dir / CHECKPOINT
    check_start(config, out_dir, resume=resume)
    device = torch.device(config.device)
    generator = seed_everything(config.seed)
    model = build_model(config).to(device)  # built on the CPU first: the same weights on every device
    schedule = config.schedule
    history: list[EpochReport] = []
    optimizer, optimizer_phase = None, None

    def new_optimizer():
        o = config.optimizer
        # fused: one kernel for all parameters (the per-parameter loop costs more than a Yin-Yang step's math)
        return torch.optim.Adam(model.parameters(), lr=schedule.lr_at(0), betas=o.betas, eps=o.eps, fused=True)

    if resume:
        state = load_checkpoint(checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer, optimizer_phase = new_optimizer(), state["optimizer_phase"]
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_state(state["rng"], generator)
        history = [EpochReport(**e) for e in state["epochs"]]
    out_dir.mkdir(parents=True, exist_ok=True)

    train_set, validation_set = load_split(config, "train"), load_split(config, "validation")
    n_batches = math.ceil(len(train_set) / config.data.batch_size)
    console = TrainingProgress(schedule.epochs, enabled=progress)
    stop_reason = None
    for epoch in range(len(history), schedule.epochs):
        start = time.perf_counter()
        phase, lr = schedule.phase_of(epoch), schedule.lr_at(epoch)
        if phase != optimizer_phase:
            optimizer, optimizer_phase = new_optimizer(), phase
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss_fn = training_loss(config, phase)
        with console.epoch(epoch, phase, lr, n_batches) as advance:
            train_loss, overflows = _train_epoch(model, optimizer, loss_fn, train_set, config, generator, advance)
        report = EpochReport(epoch, phase, lr, train_loss, evaluate(model, validation_set, config),
                             time.perf_counter() - start, overflows)
        history.append(report)
        save_checkpoint(checkpoint_path, {
            "format": _CHECKPOINT_FORMAT, "config": config.to_dict(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "optimizer_phase": optimizer_phase,
            "rng": capture_rng_state(generator), "epochs": [r.to_dict() for r in history],
        })
        _write_json(out_dir / METRICS, {"final": None, "epochs": [r.to_dict() for r in history]})
        console.epoch_done(report)
        reason = yield report
        stop_reason = str(reason) if reason else own_stop_reason(report)
        if stop_reason:
            console.print(f"stopped after epoch {epoch + 1}: {stop_reason}")
            break

    test_set = load_split(config, "test") if evaluate_test else None
    final = {"validation": history[-1].validation, "test": evaluate(model, test_set, config) if test_set is not None else None}
    _write_json(out_dir / METRICS, {"final": final, "epochs": [r.to_dict() for r in history],
                                    "stopped_early": stop_reason is not None, "stop_reason": stop_reason})
    if test_set is not None:
        plot_run(out_dir, model, history, test_set, "test", config)
    else:
        plot_run(out_dir, model, history, validation_set, "validation", config)
    return RunResult(history, final, stop_reason is not None, stop_reason, out_dir)
