"""Every use of a private or version-specific part of Ray, Optuna and MLflow, in one place, checked against the
pinned versions when imported.

The search service otherwise uses public APIs only (Tune's Searcher, Callback, ExperimentAnalysis and
Tuner.restore; Optuna's ask/tell/enqueue_trial and storage interface; MLflow's client). What is left here
has no public equivalent; each shim has a fast test (tests/search/test_compat.py), so a version bump that
breaks one fails there, not in a crash-recovery path that only the slow tests reach.
"""

from __future__ import annotations

import os
import signal
from importlib.metadata import version

from snn.errors import UserError

__all__ = ["PINNED", "check_versions", "init_local_ray", "stop_tune_gracefully", "tune_can_stop_gracefully",
           "UNPINNED_ENV"]

# What pyproject.toml pins and the shims below were written and tested against.
PINNED = {"ray": "2.60.0", "optuna": "5.0.0", "mlflow": "3.17.2"}
UNPINNED_ENV = "SNN_SEARCH_ALLOW_UNPINNED"
LOOPBACK_NODE_IP = "127.0.0.2"


def check_versions() -> None:
    """Refuses versions other than the pinned ones (set SNN_SEARCH_ALLOW_UNPINNED=1 to try anyway)."""
    wrong = {name: version(name) for name, pinned in PINNED.items() if version(name) != pinned}
    if wrong and os.environ.get(UNPINNED_ENV) != "1":
        found = ", ".join(f"{name} {v} (pinned {PINNED[name]})" for name, v in wrong.items())
        raise UserError(f"snn-search's crash recovery is tested with the pinned versions only; found {found}. "
                        f"Install the project's pins (pip install -e .), or set {UNPINNED_ENV}=1 to run anyway")


def init_local_ray(num_cpus: int, **kwargs) -> None:
    """A fresh local Ray kept on loopback. ``_node_ip_address`` is private: Ray rewrites 127.0.0.1 to the
    machine's external address, 127.0.0.2 it keeps (ENVIRONMENT.md), and there is no public way to say so
    for ``ray.init`` (``ray start --node-ip-address`` is the public form for a cluster)."""
    import ray

    ray.init(address="local", num_cpus=num_cpus, _node_ip_address=LOOPBACK_NODE_IP, **kwargs)


def tune_can_stop_gracefully() -> bool:
    """Whether Tune's run loop is listening for SIGUSR1 (it installs the handler only inside ``fit``)."""
    return signal.getsignal(signal.SIGUSR1) not in (signal.SIG_DFL, signal.SIG_IGN, None)


def stop_tune_gracefully() -> None:
    """Asks the running ``Tuner.fit`` to stop as after Ctrl-C: it snapshots the experiment with the unfinished
    trials still unfinished (so a resume continues them) and returns. Tune listens for SIGINT and SIGUSR1;
    the driver takes SIGINT itself (TUNE_DISABLE_SIGINT_HANDLER=1, to also handle SIGTERM and print its own
    hint) and forwards the request through SIGUSR1."""
    os.kill(os.getpid(), signal.SIGUSR1)


check_versions()
