"""marginlib: margins, attacks and margin-based training methods behind margin-book.

Submodules are imported on first use (``marginlib.data``, ``marginlib.attacks``, ...),
so ``import marginlib`` stays cheap and never imports torchvision.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "analysis", "attacks", "book", "cli", "context", "data", "evaluate", "linear", "margins", "methods",
    "models", "notebook", "optim", "plots", "results", "train", "validate",
)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f"marginlib.{name}")
    raise AttributeError(f"module 'marginlib' has no attribute {name!r}")


__all__ = ["__version__", *_SUBMODULES]
