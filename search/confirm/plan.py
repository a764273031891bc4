"""The seed runs of a confirmation: for every selected setting, N fresh seeds (search.seeds.fresh_seeds), each a
plain ``snn.train`` run in ``<study>/confirm/<trial>/seed<S>/`` with the trial's own parameters (typed, as
Optuna sampled them). The folders are the confirmation's state: a finished run is reused, an unfinished one
continues from its checkpoint, a folder holding another config is refused (snn.train.repeat.run_state).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from search.layout import StudyLayout
from search.seeds import fresh_seeds
from search.tracking import TrialRow
from snn.errors import UserError
from snn.train.repeat import SeedRun

__all__ = ["Setting", "plan_settings", "trial_parameters"]


@dataclass(frozen=True)
class Setting:
    trial: str  # the trial's name, trial_007
    row: TrialRow  # the trial's MLflow run as the study left it (its single-run values)
    params: dict[str, Any]  # its sampled [train] overrides
    runs: tuple[SeedRun, ...]


def trial_parameters(storage_url: str, study_name: str) -> dict[int, dict[str, Any]]:
    """Optuna trial number -> the parameters Optuna sampled (typed: MLflow holds them as text)."""
    import optuna

    from search.storage import make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=study_name, storage=make_storage(storage_url))
    return {t.number: dict(t.params) for t in study.get_trials(deepcopy=False)}


def plan_settings(layout: StudyLayout, base_train: dict, rows: Sequence[TrialRow], params: dict[int, dict[str, Any]],
                  *, seeds_per_trial: int, n_seeds: int) -> list[Setting]:
    """Each selected trial (``rows``) with its ``n_seeds`` seed runs."""
    from snn.train import TrainConfig

    base = TrainConfig.from_dict(base_train)
    settings = []
    for row in rows:
        number = row.tags.get("optuna_trial_number")
        if number is None or int(number) not in params:
            raise UserError(f"{row.name} has no Optuna trial in the study's storage, so its typed parameters are unknown; "
                            f"it cannot be confirmed (leave it out)")
        trial_params = params[int(number)]
        config = base.with_overrides(trial_params)
        runs = tuple(SeedRun(row.name, layout.study_file, seed, config.with_overrides({"seed": seed}),
                             layout.confirm_dir / row.name / f"seed{seed}")
                     for seed in fresh_seeds(config.seed, seeds_per_trial, n_seeds))
        settings.append(Setting(row.name, row, trial_params, runs))
    return settings
