"""Real servers for the cluster-mode tests, on loopback, started in temporary folders and stopped by pid:
a PostgreSQL (initdb + postgres, as the ``postgres`` user when the tests run as root) and an
``mlflow server`` over HTTP."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.search.procs import free_port, kill_pids, session_pids, wait_for

__all__ = ["postgres_bin", "PostgresServer", "MlflowServer"]


def postgres_bin() -> Path | None:
    """The folder holding initdb and postgres (Debian keeps them under /usr/lib/postgresql/<v>/bin)."""
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists() and (candidate / "postgres").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


@dataclass
class PostgresServer:
    """``with PostgresServer() as pg: pg.url("optuna")``; the data folder is removed afterwards."""

    port: int = 0
    pid: int = 0
    root: Path | None = None

    def _as_owner(self, command: list[str]) -> list[str]:
        # postgres refuses to run as root: run its tools as the postgres user, who owns the folder.
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def __enter__(self) -> "PostgresServer":
        binaries = postgres_bin()
        if binaries is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.root = Path(tempfile.mkdtemp(prefix="snn-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        data = self.root / "data"
        subprocess.run(self._as_owner([str(binaries / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                       "-E", "UTF8", "--no-sync"]), check=True, capture_output=True, timeout=120)
        self.port = free_port()
        self.process = subprocess.Popen(
            self._as_owner([str(binaries / "postgres"), "-D", str(data), "-p", str(self.port), "-h", "127.0.0.1",
                            "-k", str(self.root), "-c", "fsync=off"]),
            stdout=subprocess.DEVNULL, stderr=(self.root / "log").open("w") if os.geteuid() != 0 else subprocess.DEVNULL,
            start_new_session=True)
        pid_file = data / "postmaster.pid"
        wait_for(lambda: pid_file.exists() and self._ready() or self.process.poll() is not None, 60, "PostgreSQL to start")
        assert self.process.poll() is None, "PostgreSQL exited at start"
        self.pid = int(pid_file.read_text().split()[0])
        return self

    def _ready(self) -> bool:
        import psycopg2

        try:
            psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres").close()
            return True
        except psycopg2.OperationalError:
            return False

    def create_database(self, name: str) -> str:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{name}"

    def __exit__(self, *exc) -> None:
        if self.pid:
            kill_pids([self.pid], signal.SIGINT)  # "fast" shutdown of the postmaster we started
        kill_pids(session_pids(self.process.pid))  # the runuser wrapper and anything left in its session
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class MlflowServer:
    """``with MlflowServer(tmp) as server: server.uri``: one worker, no job runner, SQLite backend in ``tmp``."""

    folder: Path
    uri: str = ""

    def __enter__(self) -> "MlflowServer":
        port = free_port()
        self.uri = f"http://127.0.0.1:{port}"
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"}
        self.folder.mkdir(parents=True, exist_ok=True)
        mlflow = Path(sys.executable).with_name("mlflow")
        self.process = subprocess.Popen(
            [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.folder / 'mlflow.db'}",
             "--artifacts-destination", str(self.folder / "artifacts")],
            cwd=self.folder, env=env, stdout=(self.folder / "server.log").open("w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        wait_for(lambda: self._healthy() or self.process.poll() is not None, 120, "mlflow server /health")
        assert self.process.poll() is None, (self.folder / "server.log").read_text()
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.uri + "/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def __exit__(self, *exc) -> None:
        pids = session_pids(self.process.pid)
        kill_pids(pids, signal.SIGTERM, timeout=10)
        kill_pids(session_pids(self.process.pid))
        self.process.wait(timeout=30)
