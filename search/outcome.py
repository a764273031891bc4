"""What a trial reports, and how a trial ended, decided in one place.

A trial (search.trainable) reports one result per epoch (the ``val_*`` metrics and :data:`EPOCH_KEYS`) and,
after training, one final result marked :data:`FINAL_KEY` that adds the ``final_val_*``/``final_test_*``
metrics, :data:`FINAL_COUNTS` and whether it was pruned. :func:`classify` turns a trial's last result (or its
error) into an :class:`Outcome`; the live table, the MLflow runs, the Optuna study and the summary all take
their state from it, so that they cannot disagree about a trial:

- COMPLETE: the final report came, not pruned, every objective finite. Only these are ranked.
- PRUNED: the final report says pruned (a switched-off network, a spike-buffer overflow, or dominated at a
  rung of successive halving), with its reason.
- FAILED: the trial errored more often than ``max_retries`` allows, ended without its final report, or
  its objectives are not finite.
While a study runs, a trial is RUNNING; one left unfinished by an interrupted driver is INTERRUPTED.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from search.objectives import Objective, split_metrics

__all__ = ["FINAL_KEY", "PRUNED_KEY", "PRUNE_REASON_KEY", "NUMBER_KEY", "PHASE1_SOURCE_KEY", "EPOCH_KEYS", "FINAL_COUNTS",
           "COMPLETE", "PRUNED", "FAILED", "RUNNING", "INTERRUPTED", "TRIAL_STATES", "FINISHED_STATES",
           "Outcome", "classify", "epoch_result", "epoch_metrics", "final_metrics_of", "trial_params"]

FINAL_KEY = "is_final"  # marks a trial's last report (it carries the final_* metrics)
PRUNED_KEY = "pruned"
PRUNE_REASON_KEY = "prune_reason"
NUMBER_KEY = "optuna_trial"  # put in the Tune config by the searcher (Optuna's trial number); not a train field
PHASE1_SOURCE_KEY = "phase1_source"  # in a branching child's Tune config: its parent's Optuna number (search.branching)
# Reported every epoch besides the val_* metrics; logged to MLflow at step = epoch.
EPOCH_KEYS = ("epoch", "phase", "lr", "train_loss", "epoch_seconds", "train_spike_overflows")
# Counts in the final report, logged to MLflow with the final_* metrics.
# A branching child counts only its own epochs; epochs_inherited = those of its parent's phase 1 it starts from.
FINAL_COUNTS = ("epochs_run", "epochs_planned", "epochs_saved", "epochs_inherited", "spike_overflows")

COMPLETE, PRUNED, FAILED, RUNNING, INTERRUPTED = "COMPLETE", "PRUNED", "FAILED", "RUNNING", "INTERRUPTED"
TRIAL_STATES = (RUNNING, COMPLETE, PRUNED, FAILED, INTERRUPTED)
FINISHED_STATES = (COMPLETE, PRUNED, FAILED)
_OPTUNA_STATE = {COMPLETE: "COMPLETE", PRUNED: "PRUNED", FAILED: "FAIL"}
_MLFLOW_STATUS = {COMPLETE: "FINISHED", PRUNED: "FINISHED", FAILED: "FAILED", INTERRUPTED: "KILLED", RUNNING: "RUNNING"}


@dataclass(frozen=True)
class Outcome:
    """How a trial ended: its state, why (pruned or failed), and its objective values when COMPLETE."""

    state: str
    reason: str = ""
    values: tuple[float, ...] | None = None

    @property
    def optuna_state(self) -> str:
        """The name of the ``optuna.trial.TrialState`` to tell."""
        return _OPTUNA_STATE[self.state]

    @property
    def mlflow_status(self) -> str:
        return _MLFLOW_STATUS[self.state]


def classify(result: Mapping[str, Any] | None, objectives: Sequence[Objective], *, error: str | None = None) -> Outcome:
    """The outcome of a trial whose last result is ``result`` (``error``: why it failed, when it errored)."""
    if error is not None:
        return Outcome(FAILED, error)
    if not result or not result.get(FINAL_KEY):
        epoch = (result or {}).get("epoch")
        where = f" (last report: epoch {int(epoch) + 1})" if isinstance(epoch, (int, float)) else ""
        return Outcome(FAILED, f"the trial ended without its final report{where}")
    if result.get(PRUNED_KEY):
        return Outcome(PRUNED, str(result.get(PRUNE_REASON_KEY) or "pruned"))
    values = []
    for objective in objectives:
        value = result.get(objective.final_metric)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return Outcome(FAILED, f"objective {objective.metric} is not finite ({objective.final_metric} = {value!r})")
        values.append(float(value))
    return Outcome(COMPLETE, values=tuple(values))


def epoch_result(report: Any) -> dict[str, float]:
    """An ``snn.train.EpochReport`` as the flat metrics a trial reports every epoch."""
    metrics = split_metrics("val", report.validation)
    metrics.update(epoch=report.epoch, phase=report.phase, lr=report.lr, train_loss=report.train_loss,
                   epoch_seconds=report.seconds, train_spike_overflows=report.train_spike_overflows)
    return metrics


def _scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def epoch_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """The per-epoch metrics of a result, as logged at step = epoch (the ``val_*`` metrics and EPOCH_KEYS
    but the epoch itself, which is the step)."""
    return {k: v for k, v in result.items()
            if (k.startswith("val_") or (k in EPOCH_KEYS and k != "epoch")) and _scalar(v)}


def final_metrics_of(result: Mapping[str, Any]) -> dict[str, float]:
    """The final metrics of a final result (``final_*`` and FINAL_COUNTS)."""
    return {k: v for k, v in result.items() if (k.startswith("final_") or k in FINAL_COUNTS) and _scalar(v)}


def trial_params(config: Mapping[str, Any]) -> dict[str, Any]:
    """The sampled train overrides of a Tune trial config (without the searcher's bookkeeping)."""
    return {k: v for k, v in config.items() if k not in (NUMBER_KEY, PHASE1_SOURCE_KEY)}
