"""One driver per study: a lock file in the study's folder (on a cluster, the shared storage every node sees)
holding the driver's host, pid and a heartbeat.

Two drivers on one study would each settle the other's trials as orphans (and trash their MLflow runs), so a
second ``run --resume``/``resume``/``confirm`` of a study whose driver is alive is refused, naming the holder.
A driver that died without releasing the lock (SIGKILL, a lost node) leaves it stale: on the same host its
process is gone (checked by pid and the process's start time, so a reused pid does not count), on another
host its heartbeat stops; a stale lock is taken over without any manual step.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from snn.errors import UserError

__all__ = ["StudyLock", "StudyLockedError", "HEARTBEAT_S", "STALE_AFTER_S"]

HEARTBEAT_S = 5.0
STALE_AFTER_S = 30.0  # a holder on another host whose heartbeat is older than this is dead
_TAKEOVER_SETTLE_S = 0.5  # two drivers taking over one stale lock at once: the later write wins, the other yields


class StudyLockedError(UserError):
    """The study is being driven by another live process."""


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat); None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] == "Z" else fields[19]


def _holder_alive(holder: dict[str, Any], now: float) -> bool:
    if holder.get("host") == socket.gethostname():
        return _start_time(int(holder.get("pid", -1))) == holder.get("pid_start")
    return now - float(holder.get("heartbeat", 0)) < STALE_AFTER_S


class StudyLock:
    """``with StudyLock(layout.lock_file, "snn-search resume demo"):`` holds the study while the block runs."""

    def __init__(self, path: str | Path, command: str):
        self.path, self.command = Path(path), command
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _record(self) -> dict[str, Any]:
        return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": _start_time(os.getpid()),
                "command": self.command, "started": self._started, "heartbeat": time.time(), "token": self.token}

    def _write(self) -> None:
        tmp = self.path.with_name(f".{self.path.name}.{self.token}.tmp")
        tmp.write_text(json.dumps(self._record()))
        os.replace(tmp, self.path)

    def _read(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        self._started = time.time()
        holder = self._read()
        if holder is not None and holder.get("token") != self.token and _holder_alive(holder, time.time()):
            raise StudyLockedError(
                f"study folder {str(self.path.parent)!r} is being driven by another process: "
                f"`{holder.get('command')}` on host {holder.get('host')} (pid {holder.get('pid')}), started "
                f"{time.ctime(holder.get('started', 0))}, heartbeat {time.time() - holder.get('heartbeat', 0):.0f} s "
                f"ago; wait for it to finish or stop it (Ctrl-C) first. A driver that died leaves a lock that "
                f"is taken over automatically once its process is gone (same host) or its heartbeat is "
                f"{STALE_AFTER_S:.0f} s old (another host)")
        self._write()
        time.sleep(_TAKEOVER_SETTLE_S)
        if (self._read() or {}).get("token") != self.token:
            raise StudyLockedError(f"another driver took study folder {str(self.path.parent)!r} at the same moment; "
                                   f"see `{(self._read() or {}).get('command')}`")
        self._thread = threading.Thread(target=self._beat, name="snn-search-study-lock", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            if (self._read() or {}).get("token") == self.token:
                self._write()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if (self._read() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
