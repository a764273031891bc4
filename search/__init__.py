"""snn-search's search service: multi-objective hyperparameter studies over ``snn.train``.

What a study is: its file's ``[search]`` table (config, space, objectives, pruning), its state folder
(layout, manifest) and how a trial ended (outcome). What runs it: the driver (study, driver, runtime,
interrupts, lock) lets Ray Tune run the trials (trainable), Optuna propose them (searcher) and recovers a
killed driver (tune_state, recovery); every private Ray access is in _compat. What it stores and reports:
MLflow (tracking, callbacks), Optuna storage (storage), the report (report, summary, pareto, plots) and
the console (progress). What a study's compute buys: seeds per trial (seeds) and their confirmation on fresh
seeds (search.confirm); successive halving (scheduler, rungs), phase-1 branching (branching) and the
hypervolume against epochs trained (hypervolume, budget). ``snn-search`` is the command line (search.cli). The light modules import neither
Ray nor MLflow; the orchestration names below are imported on first use.
"""

from __future__ import annotations

from search.config import Resources, SearchConfig, StorageConfig
from search.objectives import DEFAULT_OBJECTIVES, OBJECTIVE_METRICS, Objective
from search.pruning import PruningConfig
from search.space import ParamSpec

# What a caller configures and runs; the machinery (space parsing, Pareto ranking, the pruning rule) stays
# in its modules.
__all__ = [
    "SearchConfig", "Resources", "StorageConfig", "ParamSpec", "PruningConfig",
    "Objective", "OBJECTIVE_METRICS", "DEFAULT_OBJECTIVES",
    "RunOptions", "run_study", "resume_study", "StudyTracker", "StudyLayout",
]

_LAZY = {"RunOptions": "search.study", "run_study": "search.study", "resume_study": "search.study", "StudyTracker": "search.tracking",
         "StudyLayout": "search.layout"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
