"""Ray Tune's OptunaSearch, told about pruning, with the Optuna study in persistent storage.

OptunaSearch ignores intermediate results in multi-objective studies and tells Optuna COMPLETE with the last
result's values for every trial that ended without an error (ENVIRONMENT.md). A silent network ends with
N_S ~ 0, so it would land on Optuna's Pareto front and steer the sampler towards switching networks off.
The trainable's last report carries ``pruned``; this searcher tells such trials as PRUNED (no values), and a
trial whose objective values are missing or not finite as FAIL instead of leaving it RUNNING.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from ray.tune.search.optuna import OptunaSearch

from search.config import SAMPLERS, SearchConfig
from search.space import to_optuna
from search.storage import make_storage
from search.trainable import NUMBER_KEY, PRUNED_KEY

__all__ = ["PruneAwareOptunaSearch", "make_sampler", "make_searcher"]


def make_sampler(name: str, seed: int):
    """The seeded Optuna sampler ``name`` (a key of ``search.config.SAMPLERS``, validated with the study)."""
    import optuna

    return getattr(optuna.samplers, SAMPLERS[name])(seed=seed)


class PruneAwareOptunaSearch(OptunaSearch):
    """OptunaSearch whose completion step knows PRUNED and FAIL (see the module docstring)."""

    def adopt(self, orphan_ids: list[int]) -> None:
        """Optuna trials (storage ids) asked for before a driver crash whose Tune trial was lost: the next
        trials Tune asks for take them over instead of asking Optuna for new ones (search.recovery)."""
        self._orphans = list(orphan_ids)

    def suggest(self, trial_id: str):
        import optuna

        orphans = getattr(self, "_orphans", [])
        if orphans and trial_id not in self._ot_trials and self._space and not callable(self._space):
            ot_trial = optuna.trial.Trial(self._ot_study, orphans.pop(0))
            for name, distribution in self._space.items():
                ot_trial._suggest(name, distribution)  # returns the value it was given before the crash
            self._ot_trials[trial_id] = ot_trial
        config = super().suggest(trial_id)
        ot_trial = self._ot_trials.get(trial_id)
        if isinstance(config, dict) and ot_trial is not None:
            # Link the Optuna trial to the Tune trial, and carry Optuna's trial number in the Tune config so
            # that the MLflow run and the live table are named after it (trial_007 = Optuna trial 7).
            ot_trial.set_user_attr("tune_trial_id", trial_id)
            config[NUMBER_KEY] = ot_trial.number
        return config

    def restore(self, checkpoint_path: str) -> None:
        """Tune's restore: the Optuna trials asked for after this snapshot (a driver killed in between) are
        adopted by the next trials instead of staying RUNNING for ever."""
        super().restore(checkpoint_path)
        from search.recovery import orphan_optuna_trials

        self.adopt(orphan_optuna_trials(self._ot_study._storage, self._ot_study.study_name, set(self._ot_trials)))

    def on_trial_complete(self, trial_id: str, result: Mapping[str, Any] | None = None, error: bool = False) -> None:
        import optuna

        # _ot_trials / _completed_trials / _ot_study are OptunaSearch's own state (ray 2.60, pinned).
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return
        ot_trial = self._ot_trials[trial_id]
        if self._ot_study._storage.get_trial(ot_trial._trial_id).state.is_finished():
            # Told before a driver crash that Tune's snapshot did not see: telling again would raise.
            self._completed_trials.add(trial_id)
            return
        metrics = self.metric if isinstance(self.metric, list) else [self.metric]
        values = [result.get(m) for m in metrics] if result else None
        if error:
            ot_trial.set_user_attr("fail_reason", "the trial's worker failed more often than [search] max_retries allows")
            state, values = optuna.trial.TrialState.FAIL, None
        elif result and result.get(PRUNED_KEY):
            ot_trial.set_user_attr("prune_reason", str(result.get("prune_reason", "")))
            state, values = optuna.trial.TrialState.PRUNED, None
        elif values is None or any(v is None or not math.isfinite(float(v)) for v in values):
            # Ended without objective values (stopped by Tune before its first epoch): nothing to learn from.
            state, values = optuna.trial.TrialState.FAIL, None
        else:
            state = optuna.trial.TrialState.COMPLETE
            values = [float(v) for v in values]
            if not isinstance(self.metric, list):
                values = values[0]
        self._ot_study.tell(ot_trial, values, state=state)
        self._completed_trials.add(trial_id)


def make_searcher(settings: SearchConfig, *, study_name: str, storage_url: str,
                  orphans: list[int] | None = None) -> PruneAwareOptunaSearch:
    """A seeded multi-objective searcher whose Optuna study lives in ``storage_url`` (load_if_exists: a
    resumed study keeps its history). ``orphans``: Optuna trials of a study whose driver died before Tune
    recorded anything; then the start points were enqueued already and are not enqueued again."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the live table says what Optuna's INFO lines would
    storage = make_storage(storage_url)
    single = len(settings.objectives) == 1
    searcher = PruneAwareOptunaSearch(
        space=to_optuna(settings.space),
        metric=settings.metric_names[0] if single else settings.metric_names,
        mode=settings.modes[0] if single else settings.modes,
        sampler=make_sampler(settings.sampler, settings.seed),
        study_name=study_name,
        storage=storage,
        points_to_evaluate=None if orphans is not None else ([dict(p) for p in settings.start_points] or None),
    )
    if orphans:
        searcher.adopt(orphans)
    return searcher
