"""Pruning rules: stop a trial whose network has switched off (SPEC.md: a whole layer, or the output layer's
target neurons, go silent), because such a network reaches N_S ~ 0 and would otherwise look like the best
trade-off on the Pareto front; and, when asked (``overflow_per_sample``), one whose spike buffers overflow, because
a neuron that fires more than ``max_spikes`` times has spikes dropped: its times are no longer exact, and a
network firing a hundred spikes per neuron is not a result.

The rule is evaluated on the whole history of validation dicts, not on a running counter, so that a trial
resumed from a checkpoint (with its history restored) decides exactly as the uninterrupted trial would.

A trial of k seeds (``[search] seeds``, search.seeds) counts as switched off (or overflowing) at an epoch when
at least half of its seeds are, ``ceil(k / 2)`` (:func:`quorum`): its reported median then comes, at least in
part, from such a network (for odd k the median seed is one; for even k one of the two middle seeds may be).
The patience counts consecutive epochs in that state; k = 1 is the single-network rule.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping, Sequence

from snn import validation as v

__all__ = ["PruningConfig", "PruningRule", "quorum"]


@dataclass(frozen=True)
class PruningConfig:
    """``[search.pruning]``: prune when, for ``patience`` consecutive epochs after the first ``grace_epochs``,
    any layer's silent fraction >= ``layer_silent_fraction`` or the silent-target fraction >=
    ``target_silent_fraction`` (a threshold above 1 disables that half of the rule); or, for as many epochs,
    the validation set drops more than ``overflow_per_sample`` spikes per sample beyond ``max_spikes``
    (absent: never; 0: any overflow)."""

    enabled: bool = True
    grace_epochs: int = 0
    patience: int = 2
    layer_silent_fraction: float = 1.0
    target_silent_fraction: float = 0.9
    overflow_per_sample: float | None = None

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None, prefix: str = "search.pruning") -> "PruningConfig":
        table = v.table({} if table is None else table, prefix)
        v.check_keys(table, [f.name for f in fields(cls)], prefix)
        values = {f.name: table.get(f.name, f.default) for f in fields(cls)}
        fraction = "it is a fraction of the neurons in (0, 1], or above 1 to disable this half of the rule"
        return cls(
            enabled=v.boolean(values["enabled"], f"{prefix}.enabled"),
            grace_epochs=v.integer(values["grace_epochs"], f"{prefix}.grace_epochs", min=0),
            patience=v.integer(values["patience"], f"{prefix}.patience", min=1),
            layer_silent_fraction=v.number(values["layer_silent_fraction"], f"{prefix}.layer_silent_fraction",
                                           min=0, min_open=True, fix=fraction),
            target_silent_fraction=v.number(values["target_silent_fraction"], f"{prefix}.target_silent_fraction",
                                            min=0, min_open=True, fix=fraction),
            overflow_per_sample=None if values["overflow_per_sample"] is None else v.number(
                values["overflow_per_sample"], f"{prefix}.overflow_per_sample", min=0,
                fix="it is the spikes per validation sample beyond network.max_spikes that prune a trial; leave it out to never prune for that"),
        )


def quorum(seeds: int) -> int:
    """How many of a trial's ``seeds`` must be switched off (or overflowing) for the trial to count as such."""
    return (seeds + 1) // 2


class PruningRule:
    def __init__(self, config: PruningConfig):
        self.config = config

    def why_switched_off(self, validation: Mapping[str, Any]) -> str | None:
        c = self.config
        layers = validation.get("silent_fraction_per_layer") or []
        for i, fraction in enumerate(layers, start=1):
            if fraction >= c.layer_silent_fraction:
                which = "output layer" if i == len(layers) else f"layer {i}"
                return f"{which} silent fraction {fraction:.2f} >= {c.layer_silent_fraction:g}"
        target = validation.get("silent_target_fraction")
        if target is not None and target >= c.target_silent_fraction:
            return f"silent target fraction {target:.2f} >= {c.target_silent_fraction:g}"
        return None

    def why_overflowing(self, validation: Mapping[str, Any]) -> str | None:
        limit = self.config.overflow_per_sample
        n = validation.get("n_samples") or 0
        if limit is None or not n:
            return None
        per_sample = validation.get("spike_overflows", 0) / n
        if per_sample > limit:
            return (f"{per_sample:.3g} spikes per validation sample dropped beyond network.max_spikes > {limit:g} "
                    f"(raise max_spikes if such activity is wanted)")
        return None

    def check(self, history: Sequence[Mapping[str, Any]]) -> str | None:
        """``history``: the validation dict of every epoch so far (epoch 0 first). Returns the prune reason,
        or None to keep training."""
        return self.check_seeds([history])

    def check_seeds(self, histories: Sequence[Sequence[Mapping[str, Any]]]) -> str | None:
        """:meth:`check` for a trial of several seeds: ``histories`` holds each seed's history (equally long)."""
        c = self.config
        epochs = min(len(h) for h in histories)
        if not c.enabled or epochs < c.grace_epochs + c.patience:
            return None
        first, last = epochs - c.patience, epochs - 1
        span = f"epoch {last}" if first == last else f"epochs {first}-{last}"
        for kind, why in (("switched off", self.why_switched_off), ("overflowing", self.why_overflowing)):
            reasons = [self._over_seeds(why, [h[e] for h in histories]) for e in range(first, epochs)]
            if all(r is not None for r in reasons):
                return f"{kind}: {reasons[-1]} ({span})"
        return None

    def seeds_switched_off(self, validations: Sequence[Mapping[str, Any]]) -> str | None:
        """Why a trial whose seeds ended with ``validations`` counts as switched off (None: it does not)."""
        return self._over_seeds(self.why_switched_off, validations)

    @staticmethod
    def _over_seeds(why, validations: Sequence[Mapping[str, Any]]) -> str | None:
        reasons = [r for r in map(why, validations) if r is not None]
        if len(reasons) < quorum(len(validations)):
            return None
        return reasons[0] if len(validations) == 1 else f"{len(reasons)} of {len(validations)} seeds, e.g. {reasons[0]}"
