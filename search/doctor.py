"""``snn-search doctor``: checks a setup before a long study, from the driver and from every Ray node.

Every check is a :class:`Check` (name, passed, detail, fix). The node checks run as one Ray task pinned to
each alive node (NodeAffinity, no CPU reserved, so they run even on a busy cluster): the node must reach the
tracking URI and the Optuna storage, see the study's state folder (checkpoints live there), and build and
call the LIF kernel (a node that cannot compile it would fail every trial sent to it).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.storage import is_sqlite

__all__ = ["Check", "node_probe", "run_checks", "storage_checks"]


@dataclass
class Check:
    name: str
    passed: bool
    detail: str = ""
    fix: str = ""


def _writable(folder: Path) -> str | None:
    """None when ``folder`` is (or can be created as) a writable folder; the folder is not created."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return None if existing.is_dir() and os.access(existing, os.W_OK) else f"folder {str(folder)!r} cannot be written"


def _reach_tracking(uri: str) -> str | None:
    """None when the tracking store answers from here, else the problem."""
    from search.tracking import http_tracking_problem

    if uri.startswith(("http://", "https://")):
        return http_tracking_problem(uri)
    if uri.startswith("sqlite:///"):
        return _writable(Path(uri[len("sqlite:///"):]).parent)
    return None  # other stores (databricks, ...) are MLflow's business


def _reach_optuna(url: str) -> str | None:
    from search.storage import JOURNAL_SCHEME, database_url

    if url.startswith(JOURNAL_SCHEME):
        return _writable(Path(url[len(JOURNAL_SCHEME):]).parent)
    if url.startswith("sqlite:///"):
        return _writable(Path(url[len("sqlite:///"):]).parent)  # created with the study
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(database_url(url))
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as error:  # noqa: BLE001 - reported, not raised
        return f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"


def node_probe(tracking_uri: str, optuna_url: str, marker: str, device: str) -> dict[str, Any]:
    """Runs on one node: what it can reach, whether it sees the driver's marker file, and the kernel."""
    result: dict[str, Any] = {"tracking": _reach_tracking(tracking_uri), "optuna": _reach_optuna(optuna_url),
                              "shared": None if Path(marker).exists() else f"cannot see {marker!r}"}
    try:
        import torch

        from snn.functional import lif_layer

        dtype = torch.float64
        times = lif_layer(torch.zeros(1, 1, 1, dtype=dtype, device=device), torch.ones(1, 1, dtype=dtype, device=device),
                          max_spikes=2)
        result["kernel"] = None if times.shape == (1, 1, 2) else f"unexpected output shape {tuple(times.shape)}"
    except Exception as error:  # noqa: BLE001
        result["kernel"] = f"{type(error).__name__}: {str(error).splitlines()[0][:300] if str(error) else ''}"
    return result


def storage_checks(tracking_uri: str, optuna_url: str, n_nodes: int) -> list[Check]:
    """Checks that need no node: SQLite is a single-machine store."""
    checks = []
    for what, url, fix in (("MLflow tracking", tracking_uri, "run `mlflow server --backend-store-uri postgresql://... "
                            "--host 0.0.0.0` and pass --tracking-uri http://HOST:5000"),
                           ("Optuna storage", optuna_url, "set [search.storage] optuna = \"postgresql://USER@HOST/DB\" "
                            "or \"journal:///shared/path/optuna.journal\"")):
        sqlite = is_sqlite(url)
        checks.append(Check(f"{what} fits {n_nodes} node(s)", not (sqlite and n_nodes > 1),
                            f"{url}" + (" is SQLite, which other nodes cannot share" if sqlite and n_nodes > 1 else ""),
                            fix if sqlite and n_nodes > 1 else ""))
    return checks


def gpu_check(gpus: float, cluster_gpus: float) -> Check:
    if gpus == 0:
        return Check("GPU fractions", True, "trials use no GPU")
    if cluster_gpus == 0:
        return Check("GPU fractions", False, f"trials ask for {gpus} GPU but the cluster has none",
                     "start GPU nodes, or set [search.resources] gpus = 0 and [train] device = \"cpu\"")
    per_gpu = 1 / gpus if gpus < 1 else 1
    if gpus < 1 and abs(per_gpu - round(per_gpu)) > 1e-6:
        return Check("GPU fractions", False, f"gpus = {gpus} packs {per_gpu:.2f} trials per GPU and leaves a share unused",
                     "use 1/k (0.5, 0.25, 0.2, ...) so that k trials fill a GPU")
    return Check("GPU fractions", True, f"{gpus} GPU per trial ({round(per_gpu)} per GPU, memory capped at that "
                                        f"fraction); the cluster has {cluster_gpus:g} GPU(s)")


def run_checks(tracking_uri: str, optuna_url: str, state_dir: Path, *, gpus: float = 0.0, device: str = "cpu") -> list[Check]:
    """The whole checklist; Ray must be initialised by the caller."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    checks = [Check("Ray cluster reachable", True, f"{len(nodes)} alive node(s), "
                    f"{sum(n['Resources'].get('CPU', 0) for n in nodes):g} CPUs")]
    checks += storage_checks(tracking_uri, optuna_url, len(nodes))
    checks.append(gpu_check(gpus, sum(n["Resources"].get("GPU", 0) for n in nodes)))
    state_dir.mkdir(parents=True, exist_ok=True)
    marker = state_dir / f".doctor-{uuid.uuid4().hex}"
    marker.write_text("snn-search doctor\n")
    probe = ray.remote(num_cpus=0)(node_probe)
    try:
        futures = {n["NodeManagerAddress"] + " " + n["NodeID"][:8]: probe.options(
            scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False),
        ).remote(tracking_uri, optuna_url, str(marker), device) for n in nodes}
        results = {name: ray.get(future, timeout=600) for name, future in futures.items()}
    finally:
        marker.unlink(missing_ok=True)
    fixes = {"tracking": ("reaches the MLflow tracking URI", "open the server's port to the nodes (bind it to 0.0.0.0) "
                          "and pass its address, not localhost"),
             "optuna": ("reaches the Optuna storage", "let the nodes reach the database (pg_hba.conf, listen_addresses) "
                        "or put the journal file on a shared file system"),
             "shared": ("sees the study folder (checkpoints)", f"mount {str(state_dir)!r} on every node (NFS, a shared "
                        "volume) or pass --root on a shared path"),
             "kernel": ("builds and runs the LIF kernel", "install a C++ compiler (and CUDA for GPU nodes) on the node, "
                        "then warm the kernel cache: python -c 'import snn.functional'")}
    for name, result in results.items():
        for key, (what, fix) in fixes.items():
            problem = result[key]
            checks.append(Check(f"node {name} {what}", problem is None, problem or "", fix if problem else ""))
    return checks
