"""Checkpoints that resume a run exactly: atomic writes and every random-number generator's state.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so ``torch.load`` reads it with
``weights_only=True`` (no arbitrary unpickling of a file someone handed you).
"""

from __future__ import annotations

import os
import pickle
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from snn.errors import NotFoundError, UserError

__all__ = ["save_checkpoint", "load_checkpoint", "capture_rng_state", "restore_rng_state", "seed_everything",
           "capture_global_rng", "restore_global_rng"]


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically: a temporary file in the same directory, flushed to disk,
    then renamed over ``path``, so a run killed at any moment leaves the previous checkpoint or the new
    one, never a torn file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """The state saved at ``path``; a missing file is a ``NotFoundError``, a torn or foreign one a ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise NotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, KeyError, pickle.UnpicklingError) as error:  # torch.load on a damaged file
        first = (str(error).splitlines() or [""])[0].split(". ")[0]  # torch's messages run on for lines
        cause = f"{type(error).__name__}: {first}" if first else type(error).__name__
        raise UserError(f"the checkpoint {str(path)!r} is corrupt or not a checkpoint ({cause}); "
                        f"restore it from a backup, or delete it to start that run again") from error


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch, numpy and random with ``seed``; return a fresh CPU generator for the data order
    (shuffling and augmentation), seeded separately so that model code drawing from torch's global RNG
    does not shift the data order."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    return torch.Generator().manual_seed(seed + 1)


def capture_global_rng() -> dict[str, Any]:
    """The process-wide generators' states (torch, CUDA when in use, numpy, random): what a run that shares
    the process with others (snn.train.lockstep) must have put back before it continues."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_global_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def capture_rng_state(data_generator: torch.Generator) -> dict[str, Any]:
    return {**capture_global_rng(), "data": data_generator.get_state()}


def restore_rng_state(state: dict[str, Any], data_generator: torch.Generator) -> None:
    restore_global_rng(state)
    data_generator.set_state(state["data"])
