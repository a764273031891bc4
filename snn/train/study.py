"""Study files: TOML with a ``[train]`` table (a :class:`TrainConfig`) and an optional ``[search]`` table
that belongs to the search service and is passed through unvalidated."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snn import validation
from snn.errors import NotFoundError, UserError
from snn.train.config import TrainConfig

__all__ = ["Study", "load_study", "parse_study"]

_TABLES = ("train", "search")


@dataclass(frozen=True)
class Study:
    train: TrainConfig
    search: dict[str, Any] | None
    path: Path | None
    name: str
    raw: dict[str, Any]


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; errors are ``UserError`` naming the file (missing file:
    ``NotFoundError``)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFoundError(f"study file {str(path)!r} does not exist") from None
    return parse_study(text, name=path.stem, path=path)


def parse_study(text: str, *, name: str = "study", path: Path | None = None) -> Study:
    where = str(path) if path is not None else name
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise UserError(f"{where} is not valid TOML: {error}") from None
    unknown = sorted(set(raw) - set(_TABLES))
    if unknown:
        raise UserError(f"{where}: unknown top-level key(s) {', '.join(unknown)}; a study has [train] and [search]")
    if "train" not in raw:
        raise UserError(f"{where} has no [train] table; add one (an empty [train] takes the paper's Yin-Yang setting)")
    search = raw.get("search")
    if search is not None:
        validation.table(search, f"{where}: search")
    try:
        train = TrainConfig.from_dict(raw["train"])
    except UserError as error:
        raise UserError(f"{where}: {error}") from None
    return Study(train=train, search=search, path=path, name=name, raw=raw)
