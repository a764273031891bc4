"""One driver per study: a second driver is refused while the first lives (naming it), and a lock left by a
driver that died (SIGKILL on this host, a silent heartbeat on another, a reused pid) is taken over."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

import search.lock
from search.lock import StudyLock, StudyLockedError
from tests.search.procs import wait_for

HOLD = ("import sys, time; from search.lock import StudyLock\n"
        "with StudyLock(sys.argv[1], 'snn-search run demo.toml'):\n"
        "    print('held', flush=True); time.sleep(600)\n")


@pytest.fixture
def holder(tmp_path):
    """Another process that holds the lock of ``tmp_path/driver.lock``."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path / "driver.lock")], stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert process.stdout.readline().strip() == "held"
    yield process
    process.kill()
    process.wait()


def test_a_second_driver_is_refused_while_the_first_lives_and_takes_over_after_a_sigkill(tmp_path, holder):
    with pytest.raises(StudyLockedError, match=rf"`snn-search run demo.toml` on host {socket.gethostname()} "
                                               rf"\(pid {holder.pid}\).*wait for it to finish"):
        StudyLock(tmp_path / "driver.lock", "snn-search resume demo").acquire()
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    with StudyLock(tmp_path / "driver.lock", "snn-search resume demo") as lock:  # no manual step
        assert json.loads(lock.path.read_text())["command"] == "snn-search resume demo"
    assert not (tmp_path / "driver.lock").exists()  # released


def write_holder(path, **fields):
    record = {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": None, "command": "old driver",
              "started": time.time(), "heartbeat": time.time(), "token": "theirs", **fields}
    path.write_text(json.dumps(record))


def test_a_reused_pid_does_not_keep_a_dead_drivers_lock(tmp_path):
    # The recorded pid is alive (this process) but started at another time: another process reuses it.
    write_holder(tmp_path / "driver.lock", pid_start="1")
    with StudyLock(tmp_path / "driver.lock", "new"):
        pass


def test_a_holder_on_another_host_counts_as_alive_until_its_heartbeat_is_stale(tmp_path):
    write_holder(tmp_path / "driver.lock", host="node-7", heartbeat=time.time() - 5)
    with pytest.raises(StudyLockedError, match="on host node-7"):
        StudyLock(tmp_path / "driver.lock", "new").acquire()
    write_holder(tmp_path / "driver.lock", host="node-7", heartbeat=time.time() - search.lock.STALE_AFTER_S - 1)
    with StudyLock(tmp_path / "driver.lock", "new"):
        pass


def test_the_holder_keeps_its_heartbeat_fresh(tmp_path, monkeypatch):
    monkeypatch.setattr(search.lock, "HEARTBEAT_S", 0.1)
    with StudyLock(tmp_path / "driver.lock", "new") as lock:
        first = json.loads(lock.path.read_text())["heartbeat"]
        wait_for(lambda: json.loads(lock.path.read_text())["heartbeat"] > first, 5, "a heartbeat", interval=0.05)
