"""``snn-search confirm NAME``: re-train a finished study's front and its band (search.confirm.select) on N
fresh seeds and record the medians (search.confirm.record).

It holds the study's lock (no driver may change the study's stores meanwhile), reads the settings from the
stores (MLflow rows, Optuna's typed parameters, the study's own copy of its study file) and trains the seed
runs as Ray tasks (search.confirm.runner). Resumable: the seed runs' folders are the state, so running the
same command again after a kill reuses finished runs and continues the others from their checkpoints, and
every setting keeps its one confirmed MLflow run. A setting is recorded as soon as all its seeds are done.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from typing import Any

from search.confirm.display import ConfirmDisplay
from search.confirm.plan import Setting, plan_settings, trial_parameters
from search.confirm.record import (columns, confirmation_rows, confirmed_records, record_setting, seed_values,
                                   setting_metrics, tag_confirmed_front, write_artifacts)
from search.confirm.select import select_settings
from search.layout import StudyLayout
from search.outcome import FINISHED_STATES
from snn import validation as v
from snn.errors import UserError

__all__ = ["ConfirmOptions", "ConfirmResult", "confirm_study", "confirm_command"]


@dataclass
class ConfirmOptions:
    seeds: int = 10  # the paper's protocol
    band: float = 0.02  # validation accuracy, as a fraction
    trials: tuple[str, ...] = ()  # trials to confirm besides the front and its band
    address: str | None = None
    tracking_uri: str | None = None
    root: str | None = None
    num_cpus: int | None = None
    live: bool = True


@dataclass
class ConfirmResult:
    layout: StudyLayout
    settings: list[Setting]
    records: list[dict[str, Any]]  # every confirmed setting of the study (search.confirm.record)
    counts: dict[str, int]  # seed runs: reused, continued, started
    failed: list[tuple[str, str]] = field(default_factory=list)  # (seed run, why)
    interrupted_by: int | None = None
    unfinished_trials: int = 0


def confirm_command(name: str, options: ConfirmOptions) -> str:
    """The command that runs (or continues) this confirmation."""
    extra = "".join(f" --trial {t}" for t in options.trials) + (f" --root {options.root}" if options.root else "")
    return f"snn-search confirm {name} --seeds {options.seeds} --band {options.band:g}{extra}"


def confirm_study(name: str, options: ConfirmOptions) -> ConfirmResult:
    from search.config import SearchConfig
    from search.lock import StudyLock
    from search.study import check_tracking_reachable
    from snn.train import load_study

    v.integer(options.seeds, "--seeds", min=1, fix="the paper's protocol is 10")
    v.number(options.band, "--band", min=0, max=1, fix="it is a fraction of validation accuracy, e.g. 0.02")
    layout = StudyLayout.at(name, options.root)
    manifest = layout.manifest()
    if options.tracking_uri and options.tracking_uri != manifest.tracking_uri:
        raise UserError(f"cannot confirm {name!r} with tracking URI {options.tracking_uri!r}: the study tracks to "
                        f"{manifest.tracking_uri!r}, where its parent run is; leave --tracking-uri out")
    check_tracking_reachable(manifest.tracking_uri)
    study = load_study(layout.study_file)
    settings = SearchConfig.from_dict(study.search, train=study.train)
    with StudyLock(layout.lock_file, confirm_command(name, options)):
        return _Confirmation(layout, manifest, study, settings, options).run()


class _Confirmation:
    def __init__(self, layout, manifest, study, settings, options: ConfirmOptions):
        from search.tracking import StudyTracker

        self.layout, self.manifest, self.study, self.settings, self.options = layout, manifest, study, settings, options
        self.tracker = StudyTracker(manifest.tracking_uri, manifest.name)
        self.objectives = list(manifest.objectives)
        self.names = columns(self.objectives)
        self.values: dict[Any, dict[str, float]] = {}  # seed run -> its final values, once finished
        self.trials = []  # the study's trial rows, read when planning

    def _plan(self) -> tuple[list[Setting], int]:
        from search.driver import resolved_train

        if self.tracker.find_parent() is None:
            raise UserError(f"study {self.manifest.name!r} has no tracked trials yet; run it first")
        self.trials = self.tracker.trials()
        chosen = select_settings(self.trials, self.objectives, self.options.band, self.options.trials)
        if not chosen:
            raise UserError(f"study {self.manifest.name!r} has no COMPLETE trial to confirm yet")
        params = trial_parameters(self.manifest.optuna_storage, self.manifest.name)
        plan = plan_settings(self.layout, resolved_train(self.study), chosen, params,
                             seeds_per_trial=self.settings.seeds, n_seeds=self.options.seeds)
        unfinished = self.manifest.trials - sum(r.state in FINISHED_STATES for r in self.trials)
        return plan, max(unfinished, 0)

    def run(self) -> ConfirmResult:
        from snn.train.repeat import run_state

        plan, unfinished = self._plan()
        self.by_run = {run: setting for setting in plan for run in setting.runs}
        states = {run: run_state(run) for run in self.by_run}
        for run, state in states.items():
            if state == "done":
                self.values[run] = seed_values(run.out_dir, self.names)
        todo = [run for run in self.by_run if states[run] != "done"]
        counts = {"reused": len(states) - len(todo), "continued": sum(states[r] == "partial" for r in todo),
                  "started": sum(states[r] == "new" for r in todo)}
        result = ConfirmResult(self.layout, plan, [], counts, unfinished_trials=unfinished)
        with ConfirmDisplay(self.manifest.name, len(todo), live=self.options.live) as self.display:
            self.display.say(f"confirming {len(plan)} setting(s) of {self.manifest.name} ({', '.join(s.trial for s in plan)}) "
                             f"on {self.options.seeds} fresh seed(s) each: {len(states)} seed runs, {counts['reused']} "
                             f"finished already, {counts['continued']} to continue, {counts['started']} to start")
            if unfinished:
                self.display.say(f"note: the study has {unfinished} unfinished trial(s); its front may change when it "
                                 f"is resumed")
            for setting in plan:
                self._record_if_done(setting)
            if todo:
                result.interrupted_by = self._train(todo, result.failed)
        result.records = self.report()
        return result

    def _train(self, todo, failed: list) -> int | None:
        import ray

        from search.confirm.runner import run_seed_runs
        from search.interrupts import Interrupts
        from search.runtime import prepare_environment, start_ray, warm_kernels

        def finished(run, error: str | None) -> None:
            values = None if error else seed_values(run.out_dir, self.names)
            if values is None:
                failed.append((run.label, error or "the run ended without final metrics"))
                self.display.finished(run, f"FAILED: {failed[-1][1]}")
                return
            self.values[run] = values
            self.display.finished(run, f"val acc {100 * values['val_accuracy']:.2f}%, val N_S {values['val_n_s']:.3f}; "
                                       f"test acc {100 * values['test_accuracy']:.2f}%, test N_S {values['test_n_s']:.3f}")
            self._record_if_done(self.by_run[run])

        prepare_environment()
        with Interrupts() as interrupts:
            warm_kernels(self.study.train.network.dtype)
            started = False
            try:
                started = start_ray(self.options.address, self.manifest.tracking_uri, self.options.num_cpus)
                interrupts.install()  # after Ray's own SIGTERM handler
                run_seed_runs(todo, self.settings, self.layout.dir, self.display, finished)
            except KeyboardInterrupt as stop:
                # Ours (Interrupted) or Ray's: a signal inside ray.wait runs our handler, then Ray raises its own
                # KeyboardInterrupt over it; either way the first signal received is the one to report.
                return interrupts.received or getattr(stop, "signum", signal.SIGINT)
            finally:
                if started:
                    ray.shutdown()
        return interrupts.received

    def _record_if_done(self, setting: Setting) -> None:
        values = [self.values.get(run) for run in setting.runs]
        if all(v is not None for v in values):
            metrics = setting_metrics(values, self.names)
            record_setting(self.tracker, setting, metrics)
            self.display.say(f"confirmed {setting.trial} on {len(values)} seeds: median val acc "
                             f"{100 * metrics['confirmed_val_accuracy_median']:.2f}%, val N_S "
                             f"{metrics['confirmed_val_n_s_median']:.3f}; test acc "
                             f"{100 * metrics['confirmed_test_accuracy_median']:.2f}%, test N_S "
                             f"{metrics['confirmed_test_n_s_median']:.3f}")

    def report(self) -> list[dict[str, Any]]:
        """Tags the confirmed front, writes and logs the artifacts; returns every confirmed setting's record."""
        from search.confirm.markdown import confirmed_markdown
        from search.confirm.plot import confirmed_plots
        from search.report import write_text

        rows = tag_confirmed_front(self.tracker, self.objectives)
        records = confirmed_records(rows, self.trials, self.names)
        out = self.layout.artifacts_dir
        files = write_artifacts(out, confirmation_rows(rows, self.layout.confirm_dir, self.names), records)
        files.append(write_text(out / "confirmed.md", confirmed_markdown(records, self.manifest.dataset)))
        files += confirmed_plots(out, records, self.trials, self.manifest.dataset,
                                 f"{self.manifest.name}: {len(records)} setting(s) confirmed")
        for path in files:
            self.tracker.log_parent_artifact(path)
        return records
