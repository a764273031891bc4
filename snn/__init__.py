"""snn: exact, event-driven EventProp training of deep feed-forward spiking networks (Fontanini et al. 2024).

Submodules: :mod:`snn.functional` (the exact LIF operator), :mod:`snn.nn` (modules), :mod:`snn.losses`,
:mod:`snn.metrics`, :mod:`snn.data`, :mod:`snn.train`, and, shared with the search service, :mod:`snn.errors`
(the mistakes a user can fix) and :mod:`snn.validation` (checks of a study file's values). ``import snn``
itself is light: each submodule loads (and the kernel compiles) when first used.
"""

from __future__ import annotations

import importlib

__all__ = ["functional", "nn", "losses", "metrics", "data", "train", "errors", "validation", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f"snn.{name}")
    raise AttributeError(f"module 'snn' has no attribute {name!r}")
