"""Silent-neuron pruning: stop a trial whose network has switched off (SPEC.md: a whole layer, or the output
layer's target neurons, go silent), because such a network reaches N_S ~ 0 and would otherwise look like the
best trade-off on the Pareto front.

The rule is evaluated on the whole history of validation dicts, not on a running counter, so that a trial
resumed from a checkpoint (with its history restored) decides exactly as the uninterrupted trial would.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["PruningConfig", "PruningRule"]

_KEYS = {"enabled", "grace_epochs", "patience", "layer_silent_fraction", "target_silent_fraction"}


@dataclass(frozen=True)
class PruningConfig:
    """``[search.pruning]``: prune when, for ``patience`` consecutive epochs after the first ``grace_epochs``,
    any layer's silent fraction >= ``layer_silent_fraction`` or the silent-target fraction >=
    ``target_silent_fraction``. A threshold above 1 disables that half of the rule."""

    enabled: bool = True
    grace_epochs: int = 0
    patience: int = 2
    layer_silent_fraction: float = 1.0
    target_silent_fraction: float = 0.9

    @classmethod
    def from_dict(cls, table: Mapping[str, Any] | None, prefix: str = "search.pruning") -> "PruningConfig":
        table = dict(table or {})
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ValueError(f"{prefix}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
        config = cls(**table)
        if not isinstance(config.enabled, bool):
            raise ValueError(f"{prefix}.enabled must be true or false, got enabled={config.enabled!r}")
        for name, minimum in (("grace_epochs", 0), ("patience", 1)):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{prefix}.{name} must be an integer >= {minimum}, got {name}={value!r}")
        for name in ("layer_silent_fraction", "target_silent_fraction"):
            value = getattr(config, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{prefix}.{name} must be a fraction in (0, 1] (above 1 disables it), got {name}={value!r}")
        return config


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

    def check(self, history: Sequence[Mapping[str, Any]]) -> str | None:
        """``history``: the validation dict of every epoch so far (epoch 0 first). Returns the prune reason,
        or None to keep training."""
        c = self.config
        if not c.enabled or len(history) < c.grace_epochs + c.patience:
            return None
        window = history[len(history) - c.patience :]
        reasons = [self.why_switched_off(v) for v in window]
        if any(r is None for r in reasons):
            return None
        first, last = len(history) - c.patience, len(history) - 1
        span = f"epoch {last}" if first == last else f"epochs {first}-{last}"
        return f"switched off: {reasons[-1]} ({span})"
