"""Where a study keeps its state: ``<root>/<name>/`` (root default ``<cwd>/snn-studies``).

```
<root>/<name>/study.toml      the study file as run (a resume must match it)
<root>/<name>/study.json      manifest (search.manifest): tracking URI, Optuna storage, dataset, objectives
<root>/<name>/driver.lock     the driver running the study (search.lock): host, pid, heartbeat
<root>/<name>/optuna.db       the Optuna study (default storage)
<root>/<name>/tune/           Ray Tune's experiment (restorable) and its checkpoints
<root>/<name>/trials/<id>/    each trial's out_dir (checkpoint.pt, metrics.json, plots)
<root>/<name>/attempts/<id>.jsonl  one line per start of a trial: node, pid, epochs it resumed from
<root>/<name>/rungs.jsonl     successive halving's decisions, one line per trial and rung (search.scheduler)
<root>/<name>/branches/<n>/   phase-1 checkpoint of Optuna trial n at its switch epoch (search.branching)
<root>/<name>/artifacts/      Pareto table, plots and summary (also logged to the parent MLflow run)
<root>/<name>/snapshot.json   every trial row and the summary, for the read-only commands (search.snapshot)
<root>/<name>/confirm/<trial>/seed<S>/  the confirmation stage's seed runs (search.confirm)
```
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from search.manifest import StudyManifest
from snn.errors import NotFoundError
from snn.validation import invalid

__all__ = ["StudyLayout", "default_root", "list_studies", "ROOT_ENV"]

ROOT_ENV = "SNN_SEARCH_ROOT"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or Path.cwd() / "snn-studies").resolve()


@dataclass(frozen=True)
class StudyLayout:
    name: str
    dir: Path

    @classmethod
    def at(cls, name: str, root: str | Path | None = None) -> "StudyLayout":
        if not _NAME.fullmatch(name):
            raise invalid("the study name", "be letters, digits, '_', '-' or '.', starting with a letter or digit",
                          repr(name))
        return cls(name, Path(root or default_root()).resolve() / name)

    study_file = property(lambda self: self.dir / "study.toml")
    manifest_file = property(lambda self: self.dir / "study.json")
    tune_dir = property(lambda self: self.dir / "tune")
    trials_dir = property(lambda self: self.dir / "trials")
    artifacts_dir = property(lambda self: self.dir / "artifacts")
    confirm_dir = property(lambda self: self.dir / "confirm")
    lock_file = property(lambda self: self.dir / "driver.lock")
    rungs_file = property(lambda self: self.dir / "rungs.jsonl")
    branches_dir = property(lambda self: self.dir / "branches")

    @property
    def default_optuna_storage(self) -> str:
        return f"sqlite:///{self.dir / 'optuna.db'}"

    def exists(self) -> bool:
        return self.manifest_file.exists()

    def create(self, study_text: str, manifest: StudyManifest) -> None:
        for path in (self.dir, self.trials_dir, self.artifacts_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.study_file.write_text(study_text, encoding="utf-8")
        self.write_manifest(manifest)

    def write_manifest(self, manifest: StudyManifest) -> None:
        manifest.write(self.manifest_file)

    def manifest(self) -> StudyManifest:
        if not self.exists():
            raise NotFoundError(f"no study {self.name!r} under {str(self.dir.parent)!r}; "
                                f"`snn-search list` shows the studies there (--root picks another directory)")
        return StudyManifest.read(self.manifest_file)


def list_studies(root: str | Path | None = None) -> list[StudyLayout]:
    root = Path(root or default_root())
    if not root.is_dir():
        return []
    return [StudyLayout(p.parent.name, p.parent) for p in sorted(root.glob("*/study.json"))]
