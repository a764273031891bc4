"""Training: the study-file config, the training loop with exact-resume checkpoints, and its plots.

The library API the search service calls::

    study = load_study("studies/yinyang-2phase.toml")
    result = train(study.train.with_overrides({"loss.alpha": 1e-3}), "runs/x", callback=report_to_tuner)

``training(...)`` is the same run one epoch at a time (a generator); ``snn.train.lockstep`` steps the seeds of
one setting through it together, in one thread.
"""

from snn.train.config import (
    DataConfig,
    LossConfig,
    NetworkConfig,
    OptimizerConfig,
    PhaseConfig,
    ScheduleConfig,
    TrainConfig,
)
from snn.train.study import Study, load_study, parse_study
from snn.train.evaluation import build_model, evaluate, load_split
from snn.train.trainer import CHECKPOINT, METRICS, EpochReport, RunResult, check_start, train, training

__all__ = [
    "TrainConfig", "NetworkConfig", "DataConfig", "LossConfig", "ScheduleConfig", "PhaseConfig", "OptimizerConfig",
    "Study", "load_study", "parse_study",
    "EpochReport", "RunResult", "train", "training", "check_start", "evaluate", "build_model", "load_split", "CHECKPOINT", "METRICS",
]
