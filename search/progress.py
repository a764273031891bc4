"""The study's console output, fed by Tune's callback events: in a terminal, a live table of the trials (rich
Live); otherwise (``--no-live``, a log file, CI) one line per finished trial.

One row per trial: state, epoch, phase, the objectives of the latest epoch, the most silent layer, spikes
dropped by full spike buffers (only when a trial has any) and the prune or fail reason. States come from
:func:`search.outcome.classify`, as in MLflow and Optuna. A resumed study starts with the trials that finished
before, at their real epoch counts. Replaces Tune's own output (the study runs Tune with ``verbose=0``).
"""

from __future__ import annotations

import os
from typing import Any

from ray import tune

from search.callbacks import trial_outcome, trial_run_name
from search.outcome import FINAL_KEY, FINISHED_STATES, RUNNING

__all__ = ["LiveProgress", "LIVE_ENV"]

LIVE_ENV = "SNN_SEARCH_LIVE"  # set by the driver: "0" for --no-live (this callback may be a pickled old one)
_STYLES = {"PRUNED": "yellow", "FAILED": "red", "COMPLETE": "green", RUNNING: "cyan"}


class LiveProgress(tune.Callback):
    def __init__(self, title: str, total_trials: int, objectives=()):
        self.title, self.total, self.objectives = title, total_trials, tuple(objectives)
        self._reset()

    def _reset(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}  # Tune trial id -> the row's values
        self._live = self._console = None

    def __getstate__(self):  # pickled into Tune's experiment: never the live display
        return {"title": self.title, "total": self.total, "objectives": self.objectives}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset()

    def states(self) -> dict[str, str]:
        """Trial name -> the state the table shows."""
        return {r["name"]: r["state"] for r in self._rows.values()}

    @property
    def finished(self) -> int:
        return sum(r["state"] in FINISHED_STATES for r in self._rows.values())

    def _table(self):
        from rich.table import Table

        overflows = any(r.get("overflows") for r in self._rows.values())
        table = Table(title=f"{self.title}: {self.finished}/{self.total} trials finished", title_justify="left")
        table.add_column("trial", no_wrap=True)  # never truncated: other columns fold first
        for column in ("state", "epoch", "phase", "val acc", "val N_S", "val CE", "max silent",
                       *(("overflows",) if overflows else ()), "note"):
            table.add_column(column, justify="left" if column in ("state", "note") else "right", overflow="fold")
        for r in sorted(self._rows.values(), key=lambda r: r["name"]):
            table.add_row(r["name"], f"[{_STYLES.get(r['state'], '')}]{r['state']}", str(r.get("epoch", "-")),
                          _num(r.get("phase")), _pct(r.get("val_accuracy")), _num(r.get("val_n_s")),
                          _num(r.get("val_ce")), _num(r.get("val_silent_fraction_max")),
                          *((str(r.get("overflows") or ""),) if overflows else ()), r.get("note", ""))
        return table

    def _row(self, trial) -> dict[str, Any]:
        return self._rows.setdefault(trial.trial_id, {"state": "PENDING", "name": trial_run_name(trial)})

    def _update(self, trial, result: dict | None = None, **values) -> None:
        """``result``: an epoch's result (adds its spikes dropped) or a final one (carries the totals)."""
        row = self._row(trial)
        if result:
            row.update({k: result.get(k) for k in ("val_accuracy", "val_n_s", "val_ce", "val_silent_fraction_max", "phase")})
            if result.get(FINAL_KEY):
                # the epoch reached (a branching child's inherited phase-1 epochs included)
                row["epoch"] = int(result.get("epochs_run", 0)) + int(result.get("epochs_inherited", 0))
                row["overflows"] = int(result.get("spike_overflows", 0))
            elif "epoch" in result:
                row["epoch"] = int(result["epoch"]) + 1
                row["overflows"] = row.get("overflows", 0) + int(result.get("train_spike_overflows") or 0) \
                    + int(result.get("val_spike_overflows") or 0)
        row.update(values)
        if self._live is not None:
            self._live.update(self._table())

    def setup(self, **info) -> None:
        from rich.console import Console

        self._console = Console()
        if os.environ.get(LIVE_ENV, "1") == "1" and self._console.is_terminal:
            from rich.live import Live

            self._live = Live(self._table(), console=self._console, refresh_per_second=2)
            self._live.start()

    def on_step_begin(self, iteration, trials, **info) -> None:
        # A restored study: the trials that ended before the interrupt, with their real epochs.
        for trial in trials:
            if trial.trial_id not in self._rows and trial.status in ("TERMINATED", "ERROR"):
                outcome = trial_outcome(trial, self.objectives, errored=trial.status == "ERROR")
                self._update(trial, trial.last_result, state=outcome.state, note=outcome.reason)

    def _finished(self, trial, errored: bool) -> None:
        outcome = trial_outcome(trial, self.objectives, errored)
        final = trial.last_result if (trial.last_result or {}).get(FINAL_KEY) else None  # epochs seen already
        self._update(trial, final, state=outcome.state, note=outcome.reason)
        if self._live is None and self._console is not None:
            row = self._rows[trial.trial_id]
            self._console.print(f"[{self.finished}/{self.total}] {row['name']} {outcome.state} after "
                                f"{row.get('epoch', 0)} epoch(s): val acc {_pct(row.get('val_accuracy'))}, "
                                f"val N_S {_num(row.get('val_n_s'))}" + (f"; {outcome.reason}" if outcome.reason else ""),
                                soft_wrap=True, highlight=False)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._update(trial, state=RUNNING)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._update(trial, result, state=RUNNING)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._finished(trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._finished(trial, errored=True)

    def on_experiment_end(self, trials, **info) -> None:
        if self._live is not None:
            self._live.update(self._table())
            self._live.stop()
            self._live = None


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value) -> str:
    return "-" if value is None else f"{value:.3g}"
