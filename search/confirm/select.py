"""Which settings a confirmation re-trains: the study's Pareto front and its ε-band, and trials named.

The band: every COMPLETE trial that no front point beats by more than ``band`` in validation accuracy while
being at least as good in every other objective (for the usual accuracy / N_S study: at equal or lower
validation N_S). A band of 0.02 keeps the trials within two accuracy points of the front at their spike
count: on one seed they may have been unlucky, and more seeds may put them on the confirmed front. Only
validation values are looked at: the test set never takes part in a selection.
"""

from __future__ import annotations

from typing import Sequence

from search.objectives import Objective
from search.outcome import COMPLETE
from search.tracking import TrialRow, pareto_tags
from snn.errors import NotFoundError, UserError

__all__ = ["select_settings", "ACCURACY"]

ACCURACY = "val_accuracy"


def _beats(front: Sequence[float], trial: Sequence[float], modes: Sequence[str], accuracy: int, band: float) -> bool:
    others = all((f >= t) if m == "max" else (f <= t) for i, (f, t, m) in enumerate(zip(front, trial, modes)) if i != accuracy)
    return others and front[accuracy] - trial[accuracy] > band


def select_settings(rows: Sequence[TrialRow], objectives: Sequence[Objective], band: float,
                    also: Sequence[str] = ()) -> list[TrialRow]:
    """The front, its band and the trials named in ``also`` (each once, in trial order)."""
    metrics = [o.metric for o in objectives]
    if ACCURACY not in metrics or objectives[metrics.index(ACCURACY)].mode != "max":
        raise UserError(f"confirm's band is in validation accuracy, but the study's objectives are "
                        f"{', '.join(f'{o.metric} {o.mode}' for o in objectives)}; confirm needs val_accuracy (max) among them")
    complete = [r for r in rows if r.state == COMPLETE and r.values(objectives) is not None]
    front = [r.values(objectives) for r, tags in zip(complete, pareto_tags(complete, objectives))
             if tags["pareto_front"] == "true"]
    modes, accuracy = [o.mode for o in objectives], metrics.index(ACCURACY)
    chosen = {r.name for r in complete
              if not any(_beats(f, r.values(objectives), modes, accuracy, band) for f in front)}
    by_name = {r.name: r for r in rows}
    for name in also:
        if name not in by_name:
            raise NotFoundError(f"--trial {name}: the study has no trial of that name; `snn-search status` lists them")
        if by_name[name] not in complete:
            raise UserError(f"--trial {name}: the trial is {by_name[name].state}, only COMPLETE trials have a setting "
                            f"worth confirming")
        chosen.add(name)
    return [r for r in sorted(rows, key=lambda r: r.name) if r.name in chosen]
