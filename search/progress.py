"""A live table of the study's trials in the terminal (rich Live), fed by Tune's callback events.

One row per trial: state, epoch, phase, the objectives of the latest epoch, the most silent layer, and the
prune reason. Replaces Tune's own progress output (the study runs Tune with ``verbose=0``). When the output
is not a terminal (a log file, CI) it prints one line per finished trial instead of redrawing a table.
"""

from __future__ import annotations

from typing import Any

from ray import tune

from search.callbacks import trial_run_name
from search.trainable import FINAL_KEY, PRUNED_KEY

__all__ = ["LiveProgress"]

_COLUMNS = ("trial", "state", "epoch", "phase", "val acc", "val N_S", "val CE", "max silent", "note")


class LiveProgress(tune.Callback):
    def __init__(self, title: str, total_trials: int, enabled: bool = True):
        self.title, self.total, self.enabled = title, total_trials, enabled
        self._rows: dict[str, dict[str, Any]] = {}  # Tune trial id -> the row's values
        self._live = None
        self._console = None

    def __getstate__(self):  # pickled into Tune's experiment: never the live display
        return {"title": self.title, "total": self.total, "enabled": self.enabled, "_rows": {}, "_live": None,
                "_console": None}

    def _table(self):
        from rich.table import Table

        done = sum(r["state"] in ("COMPLETE", "PRUNED", "FAILED") for r in self._rows.values())
        table = Table(title=f"{self.title}: {done}/{self.total} trials finished", title_justify="left")
        for column in _COLUMNS:
            table.add_column(column, justify="left" if column in ("trial", "state", "note") else "right")
        styles = {"PRUNED": "yellow", "FAILED": "red", "COMPLETE": "green", "RUNNING": "cyan"}
        for r in sorted(self._rows.values(), key=lambda r: r["name"]):
            table.add_row(
                r["name"], f"[{styles.get(r['state'], '')}]{r['state']}",
                f"{r.get('epoch', '-')}", f"{r.get('phase', '-')}", _pct(r.get("val_accuracy")),
                _num(r.get("val_n_s")), _num(r.get("val_ce")), _num(r.get("val_silent_fraction_max")), r.get("note", ""),
            )
        return table

    def _update(self, trial, **values) -> None:
        self._rows.setdefault(trial.trial_id, {"state": "PENDING", "name": trial_run_name(trial)}).update(values)
        if self._live is not None:
            self._live.update(self._table())

    def setup(self, **info) -> None:
        from rich.console import Console

        self._console = Console()
        if self.enabled and self._console.is_terminal:
            from rich.live import Live

            self._live = Live(self._table(), console=self._console, refresh_per_second=2)
            self._live.start()

    def _finished(self, trial, state: str, note: str) -> None:
        self._update(trial, state=state, note=note)
        if self.enabled and self._live is None and self._console is not None:
            row = self._rows[trial.trial_id]
            done = sum(r["state"] in ("COMPLETE", "PRUNED", "FAILED") for r in self._rows.values())
            self._console.print(f"[{done}/{self.total}] {row['name']} {state} after {row.get('epoch', 0)} epoch(s): "
                                f"val acc {_pct(row.get('val_accuracy'))}, val N_S {_num(row.get('val_n_s'))}"
                                + (f"; {note}" if note else ""), soft_wrap=True)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._update(trial, state="RUNNING")

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        values = {k: result.get(k) for k in ("val_accuracy", "val_n_s", "val_ce", "val_silent_fraction_max", "phase")}
        if "epoch" in result and not result.get(FINAL_KEY):
            values["epoch"] = f"{int(result['epoch']) + 1}"
        self._update(trial, state="RUNNING", **values)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        result = trial.last_result or {}
        if result.get(PRUNED_KEY):
            self._finished(trial, "PRUNED", str(result.get("prune_reason", "")))
        else:
            self._finished(trial, "COMPLETE", "")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._finished(trial, "FAILED", f"error: see {getattr(trial, 'error_file', None) or 'the trial directory'}")

    def on_experiment_end(self, trials, **info) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value) -> str:
    return "-" if value is None else f"{value:.3g}"
