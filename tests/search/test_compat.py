"""Each shim over a private or version-specific part of Ray (search._compat) against the installed, pinned
versions. ``stop_tune_gracefully`` also stops the real Tune run that tests/search/test_recovery.py snapshots."""

import pytest
import ray

import search._compat as compat
from snn.errors import UserError


def test_the_installed_versions_are_the_pinned_ones_and_others_are_refused_with_the_fix(monkeypatch):
    compat.check_versions()
    monkeypatch.setitem(compat.PINNED, "optuna", "0.0.1")
    monkeypatch.delenv(compat.UNPINNED_ENV, raising=False)
    with pytest.raises(UserError, match=r"optuna 5\.0\.0 \(pinned 0\.0\.1\).*pip install -e \."):
        compat.check_versions()
    monkeypatch.setenv(compat.UNPINNED_ENV, "1")
    compat.check_versions()


def test_a_local_ray_stays_on_loopback():
    compat.init_local_ray(1, include_dashboard=False)
    try:
        assert [n["NodeManagerAddress"] for n in ray.nodes() if n["Alive"]] == [compat.LOOPBACK_NODE_IP]
    finally:
        ray.shutdown()


def test_tune_is_asked_to_stop_only_inside_its_run_loop(monkeypatch):
    import signal

    from search.interrupts import Interrupted, Interrupts

    monkeypatch.setattr(signal, "getsignal", lambda sig: signal.SIG_DFL)  # before Tune ran in this process
    assert not compat.tune_can_stop_gracefully()  # SIGUSR1 would kill the process
    monkeypatch.undo()
    stale = signal.signal(signal.SIGUSR1, lambda *a: None)  # a handler left by an earlier Tune run
    try:
        with Interrupts() as interrupts:
            with pytest.raises(Interrupted):  # outside fit: stop at once, not through a stale handler
                interrupts._handle(signal.SIGINT, None)
            assert interrupts.received == signal.SIGINT
    finally:
        signal.signal(signal.SIGUSR1, stale)
