"""``snn-search doctor [STUDY.toml] [--address A] [--tracking-uri U]``: a checklist of the setup (Ray, the
tracking server, the Optuna storage, shared state, GPU fractions, the kernel on every node), with a fix for
every failure; exit status 1 when anything fails."""

from __future__ import annotations

import argparse

from search.cli.common import add_root
from search.layout import StudyLayout
from search.tracking import default_tracking_uri

__all__ = ["DoctorCommand"]


class DoctorCommand:
    name = "doctor"
    help = "check a setup (Ray, MLflow, Optuna storage, shared folders, GPUs, kernels on every node) before a study"
    description = (
        "Check what a long study needs, from this machine and from every Ray node (one small task per node):\n"
        "Ray reachable, the tracking URI and the Optuna storage reachable from the workers, SQLite not used\n"
        "with several nodes, the state folder shared, GPU fractions that fill a GPU, the LIF kernel built.\n"
        "Prints PASS/FAIL per check with a fix; exits 1 when a check fails."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study_file", metavar="STUDY.toml", nargs="?", help="the study to check for (storage, GPUs)")
        parser.add_argument("--address", help="Ray cluster address (default: a local Ray)")
        parser.add_argument("--tracking-uri", help="MLflow tracking URI (default: the study's, else sqlite:///./mlflow.db)")
        add_root(parser)

    def run(self, args: argparse.Namespace) -> int:
        import ray

        from search.config import SearchConfig
        from search.doctor import run_checks
        from search.runtime import prepare_environment, start_ray

        gpus, device, storage, name = 0.0, "cpu", None, "doctor"
        if args.study_file:
            from snn.train import load_study

            study = load_study(args.study_file)
            settings = SearchConfig.from_dict(study.search, train=study.train)
            gpus, device, storage, name = settings.resources.gpus, study.train.device, settings.storage, study.name
        tracking = args.tracking_uri or (storage.tracking_uri if storage else "") or default_tracking_uri()
        layout = StudyLayout.at(name, args.root or (storage.root if storage else None) or None)
        optuna_url = (storage.optuna if storage else "") or layout.default_optuna_storage
        prepare_environment()
        # Ray exactly as `snn-search run` starts or joins it, so the node probes see the trials' environment.
        start_ray(args.address, tracking)
        try:
            checks = run_checks(tracking, optuna_url, layout.dir.parent, gpus=gpus, device=device)
        finally:
            ray.shutdown()
        for check in checks:
            print(f"[{'PASS' if check.passed else 'FAIL'}] {check.name}" + (f": {check.detail}" if check.detail else ""))
            if not check.passed:
                print(f"       fix: {check.fix}")
        failed = sum(not c.passed for c in checks)
        print(f"{len(checks) - failed} passed, {failed} failed")
        return 1 if failed else 0
