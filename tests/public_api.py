"""What the public-surface tests of ``snn`` and ``search`` share: a module's ``__all__`` compared with the
list a test pins, and which heavy packages an import pulls in (checked in a fresh interpreter)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

__all__ = ["assert_public", "loaded_by"]


def assert_public(module_name: str, names: list[str]) -> None:
    """``module_name.__all__`` is exactly ``names``, and every name exists."""
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(names)
    for name in module.__all__:
        assert getattr(module, name) is not None


def loaded_by(modules: str, candidates: tuple[str, ...]) -> list[str]:
    """Which of ``candidates`` are in ``sys.modules`` after ``import {modules}`` in a fresh interpreter."""
    code = f"import sys, {modules}\nprint(sorted(m for m in {candidates!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return ast.literal_eval(out.strip())
