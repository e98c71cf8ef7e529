"""Packaging hook: a wheel of marginlib carries the book's inputs, so a section notebook runs outside a checkout.

The section code reads what a checkout keeps beside the package: ``_toc.yml``, the section notebooks with their
presets (``notebooks/``, ``notebooks/params/``) and the paper tables and seed summaries (``book/data/``). They
stay where they are in the repository (the book, the tests and DESIGN.md name those paths); building a wheel
copies them into ``marginlib/_book/`` with the same layout, and :mod:`marginlib.book.launch` unpacks that copy
into a working folder on Colab, Binder or a plain ``pip install``. An editable install ships nothing: it runs in
its checkout. Everything else is configured in ``pyproject.toml``.
"""
from __future__ import annotations

import pathlib
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
#: the checkout's paths a section run reads, relative to the repository root (``marginlib/_book`` mirrors them)
BOOK_INPUTS = ("_toc.yml", "notebooks", "book/data")
SHIPPED = "marginlib/_book"


class BuildWithBookInputs(build_py):
    """``build_py`` that also copies :data:`BOOK_INPUTS` into the built package (not in editable mode)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = pathlib.Path(self.build_lib) / SHIPPED
        shutil.rmtree(target, ignore_errors=True)
        for name in BOOK_INPUTS:
            source = HERE / name
            if not source.exists():
                raise FileNotFoundError(f"{source} is missing: a wheel is built from a full checkout")
            if source.is_dir():
                shutil.copytree(source, target / name,
                                ignore=shutil.ignore_patterns(".*", "__pycache__", "*.pyc"))
            else:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / name)


setup(cmdclass={"build_py": BuildWithBookInputs})
