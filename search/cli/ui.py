"""``snn-search ui [NAME]``: start ``mlflow ui`` on a loopback address and print the URL of the study's runs
filtered to its Pareto front (``tags.pareto_front = "true"``)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from search.cli.common import StudyView, add_root
from search.tracking import PARETO_FILTER, default_tracking_uri

__all__ = ["UiCommand"]


class UiCommand:
    name = "ui"
    help = "start the MLflow UI (127.0.0.1) and print the URL of a study's Pareto front"

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="NAME", nargs="?", help="study whose Pareto front to link (optional)")
        parser.add_argument("--tracking-uri", help="MLflow store (default: the study's, else sqlite:///./mlflow.db)")
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
        parser.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        base = f"http://{args.host}:{args.port}"
        if args.study:
            view = StudyView(args.study, args.root)
            uri = args.tracking_uri or view.manifest.tracking_uri
            url = view.tracker.ui_url(base) if view.tracker.find_parent() else base
        else:
            uri, url = args.tracking_uri or default_tracking_uri(), base
        # One worker and no job runner: the UI answers in ~5 s instead of ~19 s (ENVIRONMENT.md).
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                   "--host", args.host, "--port", str(args.port), "--workers", "1"]
        print(f"MLflow UI: {url}", flush=True)
        if args.study:
            print(f"  (runs of study {args.study!r} filtered by: {PARETO_FILTER}; Ctrl-C stops the UI)", flush=True)
        process = subprocess.Popen(command, env=env)
        try:
            return process.wait()
        except KeyboardInterrupt:
            process.terminate()
            process.wait(timeout=30)
            return 0
