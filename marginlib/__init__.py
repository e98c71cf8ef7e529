"""marginlib: margins, attacks and margin-based training methods behind margin-book.

Three places: the core library (attacks, margins, methods, models, training and evaluation), the five papers
(:mod:`marginlib.papers`, one package per paper, one module per book section) and the book machinery
(:mod:`marginlib.book`). The core imports neither; papers import the core and the record helpers of
:mod:`marginlib.book.results`; the book reaches a paper only through the section module a notebook hands it.

Submodules are imported on first use (``marginlib.data``, ``marginlib.attacks``, ...),
so ``import marginlib`` stays cheap and never imports torchvision.
"""
from __future__ import annotations

import importlib
from types import ModuleType

__version__ = "0.1.0"

_SUBMODULES = (
    # core
    "attacks", "augment", "context", "data", "evaluate", "margins", "methods", "models", "optim", "spectrum",
    "stats", "timing", "train", "validate",
    # the five papers, one module per book section (marginlib.papers.p003_amm.s09_mnist ...)
    "papers",
    # the book machinery: parameters, records, execution and build, command line, figures
    "book",
)


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"marginlib.{name}")
    raise AttributeError(f"module 'marginlib' has no attribute {name!r}")


__all__ = ["__version__", *_SUBMODULES]
