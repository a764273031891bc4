"""A study's manifest (``<study>/study.json``): where its stores are and what it optimises, written when the
study is created and read by every command that opens it (the driver, the callbacks, the read-only views).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from search.objectives import Objective

__all__ = ["StudyManifest"]


@dataclass(frozen=True)
class StudyManifest:
    name: str
    study_dir: str  # where the study was created: a moved or copied study folder is refused on resume
    study_file: str  # the file it was started from ("" when it came from text)
    tracking_uri: str
    optuna_storage: str
    dataset: str
    objectives: tuple[Objective, ...]
    trials: int
    parent_params: dict[str, str] = field(default_factory=dict)
    # (chance accuracy, [search] reference_n_s) for a study with the two default objectives (search.hypervolume)
    hypervolume_reference: tuple[float, float] | None = None
    experiment_id: str | None = None  # known once the driver opened the MLflow experiment
    parent_run_id: str | None = None

    def with_tracking(self, experiment_id: str, parent_run_id: str) -> StudyManifest:
        return replace(self, experiment_id=experiment_id, parent_run_id=parent_run_id)

    def to_json(self) -> str:
        data = asdict(self)
        data["objectives"] = [o.to_dict() for o in self.objectives]
        return json.dumps(data, indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StudyManifest:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        # Studies made before study_dir was recorded: accept them where they are.
        known.setdefault("study_dir", "")
        known["objectives"] = tuple(Objective.from_dicts(data["objectives"]))
        if known.get("hypervolume_reference") is not None:
            known["hypervolume_reference"] = tuple(known["hypervolume_reference"])
        return cls(**known)

    @classmethod
    def read(cls, path: Path) -> StudyManifest:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def write(self, path: Path) -> None:
        """Atomically: a reader (another command, a node) never sees half a manifest."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(self.to_json())
        os.replace(tmp, path)
