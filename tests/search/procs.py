"""Process helpers for the end-to-end tests that start real servers and Ray nodes: find what a process
started (its session, its descendants) through /proc and stop exactly those pids, never by name."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

__all__ = ["free_port", "session_pids", "kill_pids", "wait_for", "alive", "mlflow_server_pids"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields after the command name: state, ppid, pgrp, session


def _pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def session_pids(sid: int) -> list[int]:
    """Live processes of session ``sid`` (a child started with start_new_session=True leads its own)."""
    return [pid for pid in _pids() if (f := _stat(pid)) and int(f[3]) == sid and f[0] != "Z"]



def mlflow_server_pids(port: int) -> list[int]:
    """Processes whose command line serves ``port`` with MLflow (an ``mlflow ui`` and its uvicorn)."""
    pids = []
    for pid in _pids():
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(port).encode() in argv and any(b"mlflow" in a or b"uvicorn" in a for a in argv) and alive(pid):
            pids.append(pid)
    return pids


def kill_pids(pids, sig: int = signal.SIGKILL, timeout: float = 30.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.2)


def wait_for(predicate, timeout: float, what: str, interval: float = 0.5):
    """Polls ``predicate`` until it returns something truthy; fails the test with ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
