"""Branching a 2-phase run at its switch epoch: a new run that continues from another run's checkpoint at the end
of phase 1, with its own phase-2 settings.

Epochs before the switch read every key but ``schedule.phase2.*`` and ``schedule.epochs`` (the learning rate of
epoch e < switch is ``phase1.lr * lr_decay ** e``; the data order comes from the seed and the epochs so far),
so two configs that differ only in those keys train bit-identical first phases. :func:`branch_run` writes the
source's checkpoint at the switch into ``out_dir`` under the new config; ``train(config, out_dir,
resume=True)`` then starts phase 2 exactly as the source run did at its switch (a fresh Adam at
``phase2.lr``, the source's random-number state), and trains only the epochs from the switch on.
"""

from __future__ import annotations

import json
from pathlib import Path

from snn.errors import UserError
from snn.train.checkpoint import load_checkpoint, save_checkpoint
from snn.train.config import TrainConfig

__all__ = ["branch_run", "reads_before_switch", "phase1_differences"]

_PHASE2_ONLY = ("schedule.phase2.", "schedule.epochs")


def reads_before_switch(key: str) -> bool:
    """Whether the epochs before the switch read the train key ``key`` (dotted, relative to ``[train]``)."""
    return not key.startswith(_PHASE2_ONLY)


def phase1_differences(a: TrainConfig, b: TrainConfig) -> list[str]:
    """The keys (``train.``-prefixed) in which ``a`` and ``b`` would train different first phases."""
    return [k for k in a.differences(b) if reads_before_switch(k.removeprefix("train."))]


def branch_run(source_checkpoint: str | Path, config: TrainConfig, out_dir: str | Path) -> int:
    """Puts the source run's checkpoint at its switch epoch into ``out_dir`` as a run of ``config``; returns the
    epochs it inherits (= the switch epoch). Refuses a checkpoint taken at another epoch, and a config whose
    first phase differs from the source's."""
    from snn.train.trainer import CHECKPOINT, METRICS

    state = load_checkpoint(source_checkpoint)
    source = TrainConfig.from_dict(state["config"])
    switch = config.schedule.switch_epoch
    if not 0 < switch < config.schedule.epochs:
        raise UserError(f"cannot branch into a run without two phases: train.schedule.switch_epoch = {switch}, "
                        f"epochs = {config.schedule.epochs}; branching needs 0 < switch_epoch < epochs")
    if len(state["epochs"]) != switch:
        raise UserError(f"cannot branch from {str(source_checkpoint)!r}: it holds {len(state['epochs'])} epochs, "
                        f"not the {switch} of phase 1")
    if changed := phase1_differences(source, config):
        raise UserError(f"cannot branch from {str(source_checkpoint)!r}: the first phase would differ in "
                        f"{', '.join(changed)}; only schedule.phase2.* and schedule.epochs may")
    out_dir = Path(out_dir)
    save_checkpoint(out_dir / CHECKPOINT, {**state, "config": config.to_dict()})
    (out_dir / METRICS).write_text(json.dumps({"final": None, "epochs": state["epochs"]}, indent=1) + "\n")
    return switch
