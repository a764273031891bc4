"""The processes a study runs in: the driver's environment, the kernel built before trials start, and Ray
(started locally on loopback, or joined).

Embedded defaults, so that ``snn-search run study.toml`` works on a laptop: a local Ray on 127.0.0.2 (kept on
loopback, ENVIRONMENT.md) with ``RAY_AUTH_MODE=disabled`` and ``RAY_USAGE_STATS_ENABLED=0`` unless set.
The kernel cache is keyed by CPU model on every node (snn._ext): the driver forwards no cache location, so a
node never loads a ``-march=native`` build made for another CPU.
"""

from __future__ import annotations

import logging
import os

__all__ = ["prepare_environment", "warm_kernels", "start_ray", "quiet_tune"]

ENV_DEFAULTS = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
# Each epoch's checkpoint replaces the last one (num_to_keep), which makes Tune snapshot its experiment
# state; with short epochs Tune warns about that on every epoch. The snapshot is what makes --resume work.
# Tune's newer console output prints an experiment banner even at verbose=0; the older one is silent there,
# and the live table (search.progress) is the study's console output.
# TUNE_GLOBAL_CHECKPOINT_S: Tune's snapshot (what a resume after a killed driver restores) is at most 2 s
# old instead of up to 10 s ("auto"), so a resumed trial loses at most the epoch it was in.
# TUNE_DISABLE_SIGINT_HANDLER: the driver handles Ctrl-C and SIGTERM itself (search.interrupts).
_DRIVER_ENV_DEFAULTS = {"TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0", "RAY_AIR_NEW_OUTPUT": "0",
                        "TUNE_GLOBAL_CHECKPOINT_S": "2", "TUNE_DISABLE_SIGINT_HANDLER": "1"}
# Tune's own hints and warnings (its Tuner.restore hint, "Trials did not complete", result files not found
# for trials that never reported): the study's commands say what applies, in their own words.
_TUNE_LOGGERS = ("ray.tune", "ray.train")


def prepare_environment() -> None:
    """Environment that the driver and (by inheritance) the Ray workers need, set only where unset."""
    for key, value in {**ENV_DEFAULTS, **_DRIVER_ENV_DEFAULTS}.items():
        os.environ.setdefault(key, value)


def quiet_tune() -> None:
    for name in _TUNE_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def warm_kernels(dtype_name: str = "float64") -> None:
    """Builds (first use on a machine: ~30 s) and calls the LIF kernel once in the driver, so that the trials
    starting together find it compiled instead of all compiling it at once."""
    import torch

    from snn.functional import lif_layer

    dtype = getattr(torch, dtype_name)
    lif_layer(torch.zeros(1, 1, 1, dtype=dtype), torch.ones(1, 1, dtype=dtype), max_spikes=2)


def start_ray(address: str | None, tracking_uri: str, num_cpus: int | None = None) -> bool:
    """Starts (``address`` None) or joins Ray unless this process is connected already; True when this call
    connected."""
    import ray

    from search._compat import init_local_ray

    if ray.is_initialized():
        return False
    common = dict(logging_level=logging.WARNING, log_to_driver=False)
    if address:
        env = {k: os.environ[k] for k in ENV_DEFAULTS if k in os.environ}
        # The driver is the study's only MLflow writer; the URI still goes to every worker, so that anything
        # a trial logs itself (mlflow.log_*) lands on the same server, not in a node-local ./mlruns.
        env["MLFLOW_TRACKING_URI"] = tracking_uri
        ray.init(address=address, runtime_env={"env_vars": env}, **common)
    else:
        # address="local": always a fresh instance, never one a killed driver left behind (or a `ray start`).
        init_local_ray(num_cpus or os.cpu_count(), include_dashboard=False, **common)
    return True
