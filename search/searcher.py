"""The Tune searcher: Optuna proposes every trial, from a study in persistent storage, through public APIs only
(``ask``, ``tell``, ``enqueue_trial`` and the storage's user attributes).

Why not Ray's OptunaSearch: it ignores intermediate results in multi-objective studies, tells Optuna COMPLETE
with the last result for every trial that did not error (a pruned, switched-off network with N_S ~ 0 would
land on Optuna's front and steer the sampler towards silence), and crash recovery needed its private state.
Here every ending is told as :func:`search.outcome.classify` decides.

Recovery: Tune saves this searcher with its snapshot (:meth:`save`: which Tune trial holds which Optuna trial
number, the sampler with its random state). Optuna trials asked for after that snapshot (a driver killed in
between) are still RUNNING in the storage but unknown to the restored searcher: *orphans*. The next trials
Tune asks for adopt them (same number, same parameters), so the study keeps exactly its planned trials.

Branching (search.branching): which trial comes next is planned from the Optuna study and the branch folders
at each suggestion; a child is asked with its parent's phase-1 values enqueued, and carries its parent's
number in the user attribute ``phase1_source`` (and in its Tune config), so an adopted orphan keeps its role.
"""

from __future__ import annotations

import pickle
from typing import Any, Mapping

from ray.tune.search import Searcher

from search.config import SAMPLERS, SearchConfig
from search.branching import NEW_PARENT, ROLE_ATTR, Member, branch_dir, next_proposal, phase1_params
from search.outcome import NUMBER_KEY, PHASE1_SOURCE_KEY, classify
from search.space import to_optuna

__all__ = ["StudySearcher", "make_sampler", "make_searcher", "set_trial_attr"]

# Tune tells a searcher only that a trial errored; the error itself is in the MLflow run's fail_reason.
_WORKER_FAILED = "the trial's worker failed more often than [search] max_retries allows; see the MLflow run's fail_reason"


def make_sampler(name: str, seed: int):
    """The seeded Optuna sampler ``name`` (a key of ``search.config.SAMPLERS``, validated with the study)."""
    import optuna

    return getattr(optuna.samplers, SAMPLERS[name])(seed=seed)


def set_trial_attr(storage, study_name: str, number: int, key: str, value: str) -> None:
    """A user attribute on Optuna trial ``number``, through the storage's public interface (``storage``: an
    Optuna storage or its URL)."""
    if isinstance(storage, str):
        from search.storage import make_storage

        storage = make_storage(storage)
    study_id = storage.get_study_id_from_name(study_name)
    storage.set_trial_user_attr(storage.get_trial_id_from_study_id_trial_number(study_id, number), key, value)


class StudySearcher(Searcher):
    """Tune trial id -> Optuna trial number, asked and told through the Optuna study ``study_name``."""

    def __init__(self, settings: SearchConfig, *, study_name: str, storage_url: str, study_dir: str = ""):
        super().__init__()  # several objectives: Tune's single metric/mode are not used
        self.settings, self.study_name, self.storage_url = settings, study_name, storage_url
        self.study_dir = study_dir  # where branching parents keep their switch checkpoints
        self.sampler = make_sampler(settings.sampler, settings.seed)
        self.numbers: dict[str, int] = {}  # Tune trial id -> Optuna trial number
        self.told: set[str] = set()
        self._study = self._storage = None
        self._orphans: list[int] | None = None  # looked up at the first suggestion after (re)start

    def __getstate__(self) -> dict[str, Any]:  # pickled into Tune's experiment: never the open storage
        return {**self.__dict__, "_study": None, "_storage": None, "_orphans": None}

    # -- the Optuna study ------------------------------------------------------------------------------------
    @property
    def study(self):
        if self._study is None:
            import optuna

            from search.storage import make_storage

            optuna.logging.set_verbosity(optuna.logging.WARNING)  # the live table says what INFO lines would
            self._storage = make_storage(self.storage_url)
            self._study = optuna.create_study(
                study_name=self.study_name, storage=self._storage, sampler=self.sampler,
                directions=["maximize" if o.mode == "max" else "minimize" for o in self.settings.objectives],
                load_if_exists=True)
            if not self._study.get_trials(deepcopy=False):  # a new study: the start points go first
                for point in self.settings.start_points:
                    self._study.enqueue_trial(dict(point))
        return self._study

    def _set_attr(self, number: int, key: str, value: str) -> None:
        self.study  # opens the storage
        set_trial_attr(self._storage, self.study_name, number, key, value)

    def orphans(self) -> list[int]:
        """Optuna trials RUNNING in the storage that no Tune trial of this searcher holds."""
        import optuna

        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        held = set(self.numbers.values())
        return sorted(t.number for t in running if t.number not in held)

    # -- Tune's Searcher interface ---------------------------------------------------------------------------
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # the space and objectives come from the study file, not from Tune

    def suggest(self, trial_id: str) -> dict[str, Any]:
        if self._orphans is None:
            self._orphans = self.orphans()
        if self._orphans:
            number = self._orphans.pop(0)
            trial = next(t for t in self.study.get_trials(deepcopy=False) if t.number == number)
        else:
            trial = self._ask()
            if trial is None:
                return None  # branching: the slot waits for a parent to reach its switch epoch
        self._set_attr(trial.number, "tune_trial_id", trial_id)
        self.numbers[trial_id] = trial.number
        # Optuna's number travels in the config, so the MLflow run and the live table are named after it; a
        # branching child's parent, from the trial's own record, so an adopted orphan keeps it.
        role = {PHASE1_SOURCE_KEY: trial.user_attrs[ROLE_ATTR]} if ROLE_ATTR in trial.user_attrs else {}
        return {**trial.params, NUMBER_KEY: trial.number, **role}

    def _ask(self):
        """The next Optuna trial, or None when branching says to wait (search.branching.next_proposal)."""
        import optuna

        distributions = to_optuna(self.settings.space)
        plan = self.settings.branching
        trials = self.study.get_trials(deepcopy=False)
        # Start points (and a child enqueued by a driver killed before asking for it) go first, as they are.
        if not plan.enabled or any(t.state == optuna.trial.TrialState.WAITING for t in trials):
            return self.study.ask(fixed_distributions=distributions)
        members = [Member(t.number, t.user_attrs.get(ROLE_ATTR), t.state.is_finished()) for t in trials]
        pick = next_proposal(members, self.settings.trials, plan.phase2_children,
                             lambda number: branch_dir(self.study_dir, number).exists())
        if pick is None:
            return None
        if pick != NEW_PARENT:
            parent = next(t for t in trials if t.number == pick)
            self.study.enqueue_trial(phase1_params(parent.params), user_attrs={ROLE_ATTR: pick})
        return self.study.ask(fixed_distributions=distributions)

    def on_trial_complete(self, trial_id: str, result: Mapping[str, Any] | None = None, error: bool = False) -> None:
        import optuna

        if trial_id in self.told or trial_id not in self.numbers:
            return
        number = self.numbers[trial_id]
        outcome = classify(result, self.settings.objectives, error=_WORKER_FAILED if error else None)
        if outcome.reason:
            self._set_attr(number, "prune_reason" if outcome.state == "PRUNED" else "fail_reason", outcome.reason)
        # skip_if_finished: a trial told just before a driver crash that Tune's snapshot did not see.
        self.study.tell(number, list(outcome.values) if outcome.values else None,
                        state=optuna.trial.TrialState[outcome.optuna_state], skip_if_finished=True)
        self.told.add(trial_id)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump({"numbers": self.numbers, "told": self.told, "sampler": self.sampler}, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            state = pickle.load(f)
        self.numbers, self.told, self.sampler = state["numbers"], state["told"], state["sampler"]
        self._study, self._orphans = None, None


def make_searcher(settings: SearchConfig, *, study_name: str, storage_url: str, study_dir: str = "") -> StudySearcher:
    """A seeded searcher whose Optuna study lives in ``storage_url`` (a resumed study keeps its history)."""
    return StudySearcher(settings, study_name=study_name, storage_url=storage_url, study_dir=study_dir)
