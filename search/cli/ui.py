"""``snn-search ui [NAME]``: start the MLflow UI on a loopback address and print the URL of the study's
trials (search.mlflow_view), or without NAME every study's link; Ctrl-C or SIGTERM stops the server.

The port is checked before anything is printed: a port in use is an error naming it. The URL is printed
before MLflow is imported (it comes from the study's manifest), then the study's experiment is tagged for
its view (studies made before the view existed get it here), then the server starts in a session of its
own, so that a Ctrl-C in the terminal reaches only this command, which stops the server cleanly.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from search.cli.common import CommandError, StudyView, add_root
from search.layout import list_studies
from search.mlflow_view import space_keys, view_url
from search.tracking import default_tracking_uri

__all__ = ["UiCommand"]


class _Stop(Exception):
    """SIGINT or SIGTERM arrived."""


def _stop(signum, frame):
    raise _Stop(signum)


class UiCommand:
    name = "ui"
    help = "start the MLflow UI (127.0.0.1) and print the URL of a study's trials and Pareto front"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="NAME", nargs="?", help="the study to open (default: list every study's link)")
        parser.add_argument("--tracking-uri", help="MLflow store (default: the study's; without NAME the one most "
                                                   "studies use, else sqlite:///./mlflow.db)")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
        parser.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        handlers = {s: signal.signal(s, _stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return self._run(args)
        except _Stop:
            print("stopping the MLflow UI", flush=True)
            return 0
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)

    def _run(self, args: argparse.Namespace) -> int:
        views = [StudyView(args.study, args.root)] if args.study else [StudyView(s.name, s.dir.parent) for s in list_studies(args.root)]
        # Without NAME: the store most of the studies track to (usually all of them), else ./mlflow.db.
        stores = Counter(v.manifest.tracking_uri for v in views).most_common(1)
        uri = args.tracking_uri or (stores[0][0] if stores else default_tracking_uri())
        served = uri.startswith(("http://", "https://"))  # a tracking server: its own UI shows the study
        base = uri.rstrip("/") if served else f"http://{args.host}:{args.port}"
        problem = None if served else _port_problem(args.host, args.port)
        if problem:
            raise CommandError(f"{problem}; pick another port with --port, "
                               f"e.g. snn-search ui{' ' + args.study if args.study else ''} --port {args.port + 1}")
        here = [v for v in views if v.manifest.tracking_uri == uri]
        if args.study:
            print(f"MLflow UI: {_link(base, views[0], uri) or base}", flush=True)
        else:
            print(f"MLflow UI: {base}" + ("" if views else "  (no studies yet: run one with `snn-search run STUDY.toml`)"),
                  flush=True)
            for view in views:
                link = _link(base, view, uri) if view in here else \
                    f"tracked in {view.manifest.tracking_uri}: snn-search ui {view.layout.name}"
                print(f"  {view.layout.name}: {link or 'no trials tracked yet'}", flush=True)
        for view in here:
            _tag_for_view(view, uri)
        return 0 if served else _serve(uri, args.host, args.port, base)


def _port_problem(host: str, port: int) -> str | None:
    """Why the server could not listen on (host, port), or None. Binds as uvicorn will (SO_REUSEADDR), so a
    port that only lingers in TIME_WAIT counts as free and one with a listener as taken."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        return f"cannot listen on {host}:{port}: {error}"
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} on {host} is in use"
            return f"cannot listen on {host}:{port}: {error.strerror or error}"
    return None


def _link(base: str, view: StudyView, uri: str) -> str | None:
    """The study's page; from the manifest when it tracks to ``uri`` (no MLflow import), else looked up."""
    if view.manifest.tracking_uri == uri and view.manifest.experiment_id:
        return view_url(base, view.manifest.experiment_id)
    from search.tracking import StudyTracker

    tracker = StudyTracker(uri, view.manifest.name)
    return tracker.ui_url(base) if tracker.find_parent() else None


def _tag_for_view(view: StudyView, uri: str) -> None:
    from search.tracking import StudyTracker

    tracker = StudyTracker(uri, view.manifest.name)
    if tracker.find_parent():
        tracker.show_in_ui(view.objectives, space_keys(view.manifest.parent_params))


def _serve(uri: str, host: str, port: int, base: str) -> int:
    """Runs ``mlflow ui`` until it exits or this process gets SIGINT/SIGTERM (:class:`_Stop`, raised by the
    handlers :meth:`UiCommand.run` installs); then stops all of its processes."""
    log = Path(tempfile.gettempdir()) / f"snn-search-ui-{port}.log"
    # One worker and no job runner: the UI answers in ~5 s instead of ~19 s (ENVIRONMENT.md).
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", host, "--port", str(port),
               "--workers", "1"]
    process = None
    try:
        with log.open("w") as out:
            process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        while process.poll() is None and not _healthy(base):
            time.sleep(0.3)
        if process.poll() is not None:
            tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-15:])
            print(f"the MLflow server exited with status {process.returncode}; its log ({log}) ends:\n{tail}", file=sys.stderr)
            return 1
        print(f"ready (server log: {log}); Ctrl-C stops it", flush=True)
        process.wait()
        return process.returncode
    finally:
        if process is not None:
            for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the (bounded) shutdown short
                signal.signal(sig, signal.SIG_IGN)
            _stop_group(process)


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop_group(process: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM to ``mlflow ui`` (it forwards it to its uvicorn), then SIGKILL to whatever of its session is
    left after ``timeout``: no server process outlives this command."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)  # anything left in its process group (the group id is its pid)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
