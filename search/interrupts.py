"""Ctrl-C (SIGINT) and SIGTERM while a study runs: the first one stops the study the way a resume expects
(Tune snapshots its experiment with the unfinished trials still unfinished), the command then marks what was
left unfinished and exits with 128 + the signal's number (130, 143); a second one stops at once."""

from __future__ import annotations

import signal
from contextlib import contextmanager

from search._compat import stop_tune_gracefully, tune_can_stop_gracefully

__all__ = ["Interrupts", "Interrupted", "exit_status"]

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_status(signum: int) -> int:
    return 128 + signum


class Interrupted(KeyboardInterrupt):
    """Raised where a study cannot stop gracefully (before Tune runs, or on a second signal)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Interrupts:
    """``with Interrupts() as interrupts:`` around a study's run; ``interrupts.received`` is the first signal."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        self._in_tune = False

    @contextmanager
    def tune_running(self):
        """Around ``Tuner.fit``: only there can Tune stop gracefully (a handler Tune left from an earlier run
        in this process would take the request and do nothing)."""
        self._in_tune = True
        try:
            yield
        finally:
            self._in_tune = False

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
            if self._in_tune and tune_can_stop_gracefully():
                stop_tune_gracefully()
                return
        raise Interrupted(signum)

    def install(self) -> None:
        """(Re)installs the handlers: ``ray.init`` puts its own SIGTERM handler in the driver (it aborts the
        process), so the driver calls this again once Ray runs."""
        for sig in _SIGNALS:
            previous = signal.signal(sig, self._handle)
            self._previous.setdefault(sig, previous)

    def __enter__(self) -> Interrupts:
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
