"""A study's trials and summary as one JSON file in its folder, written by the driver after every change.

Why: ``list``, ``status``, ``pareto`` and ``ui`` only read, and importing MLflow alone takes 1.5-2.5 s here
(Optuna another second); with this file they answer without importing either (nor Ray or torch). The
stores stay the truth: the snapshot is rewritten from them on every refresh, and a study without one (made
before snapshots, or whose driver never finished a trial) is read from MLflow instead.

The file is replaced atomically (written beside it, then renamed), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from search.tracking import TrialRow

__all__ = ["Snapshot", "write_snapshot", "read_snapshot", "SNAPSHOT_NAME"]

SNAPSHOT_NAME = "snapshot.json"
_VERSION = 1


@dataclass
class Snapshot:
    rows: list[TrialRow]  # every child run: COMPLETE, PRUNED, FAILED and RUNNING trials
    summary: dict[str, Any]  # search.summary.study_summary of those rows
    written: float  # seconds since the epoch

    def age_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.written))


def write_snapshot(study_dir: str | Path, rows: Sequence[TrialRow], summary: dict[str, Any]) -> Path:
    path = Path(study_dir) / SNAPSHOT_NAME
    data = {"version": _VERSION, "written": time.time(), "rows": [asdict(r) for r in rows], "summary": summary}
    tmp = path.with_name(f".{SNAPSHOT_NAME}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_snapshot(study_dir: str | Path) -> Snapshot | None:
    """The study's snapshot, or None when it has none (or one in a format this version does not read)."""
    try:
        data = json.loads((Path(study_dir) / SNAPSHOT_NAME).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):  # none yet, or unreadable: the stores answer instead
        return None
    if data.get("version") != _VERSION:
        return None
    return Snapshot([TrialRow(**r) for r in data["rows"]], data["summary"], float(data["written"]))
