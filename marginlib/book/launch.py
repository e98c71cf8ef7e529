"""Running a section notebook outside a checkout: on Colab, on Binder, or after ``pip install marginlib``.

A section reads the book's inputs where a checkout keeps them, under the repository root
(:func:`marginlib.book.results.repo_root`: the checkout around the working directory, else the working directory
itself): ``_toc.yml``, the section notebooks and their presets (``notebooks/``, ``notebooks/params/``), the paper
tables and seed summaries (``book/data/``). A wheel of marginlib carries a copy of them in ``marginlib/_book``
(``setup.py`` puts it there). :func:`home` unpacks that copy into a working folder and makes it the working
directory, so the notebook runs there exactly as in a checkout and writes its records under ``<home>/results``.

The book's published notebooks start with :func:`install_cell` (hidden on the site): it installs marginlib from
the repository at the commit the page was built from when the package is missing, then calls :func:`home`.
Binder builds its environment from :func:`binder_requirements`, written beside the site.
"""
from __future__ import annotations

import os
import pathlib
import shutil

from marginlib.book.results import repo_root

#: the book's inputs shipped inside the package (a wheel's copy of the checkout's ``_toc.yml``, ``notebooks/``
#: and ``book/data/``); absent in an editable install, which runs in its checkout
SHIPPED = pathlib.Path(__file__).resolve().parents[1] / "_book"
#: the working folder :func:`home` unpacks into when no folder is given (default: ``./margin-book``)
HOME_ENV = "MARGINLIB_HOME"
#: the file in a home that says which shipped copy it holds (so a newer package refreshes it)
STAMP = ".margin-book-home"


def in_checkout(folder: str | os.PathLike | None = None) -> bool:
    """Whether the repository root of ``folder`` (default: the working directory) holds the book's inputs: a
    checkout, or a home :func:`home` unpacked."""
    root = repo_root(folder)
    return (root / "_toc.yml").is_file() and (root / "notebooks").is_dir() and (root / "book" / "data").is_dir()


def home(folder: str | os.PathLike | None = None, *, chdir: bool = True) -> pathlib.Path:
    """The folder a section notebook runs in; with ``chdir`` (the default) it becomes the working directory.

    In a checkout (or a home already entered) that is the repository root, and nothing is copied. Elsewhere the
    book's inputs shipped in the package are unpacked into ``folder`` (default ``$MARGINLIB_HOME``, else
    ``./margin-book``): again when the package holds another copy than the folder (a newer marginlib), never over
    the records under ``<home>/results``.
    """
    if in_checkout():
        return repo_root()
    if not (SHIPPED / "_toc.yml").is_file():
        raise RuntimeError(f"no checkout of margin-book around {os.getcwd()} and this marginlib ({SHIPPED.parent}) "
                           "was not built with the book's inputs: install it from a wheel or the repository "
                           "(pip install 'marginlib @ git+<repository>'), or run inside a checkout")
    target = pathlib.Path(folder or os.environ.get(HOME_ENV) or "margin-book").absolute()
    shipped = _stamp(SHIPPED)
    if not (target / STAMP).is_file() or (target / STAMP).read_text() != shipped:
        shutil.copytree(SHIPPED, target, dirs_exist_ok=True)
        (target / STAMP).write_text(shipped)
    if chdir:
        os.chdir(target)
    return target


def _stamp(folder: pathlib.Path) -> str:
    """Names and sizes of the files under ``folder``: what distinguishes one shipped copy from another."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return "".join(f"{p.relative_to(folder)} {p.stat().st_size}\n" for p in files)


def install_cell(*, repository: str, commit: str | None) -> str:
    """The first code cell of a published notebook: ``pip install`` marginlib from ``repository`` at ``commit``
    (the checkout's, when the book was built; the default branch when unknown) if it is missing, then work in
    :func:`home`. Colab keeps its own (CUDA) torch, which satisfies marginlib's requirement."""
    source = _source(repository, commit)
    return (
        "# On Colab, Binder or any Jupyter outside a checkout of the book: install marginlib (at the commit this\n"
        "# page was built from) when it is missing, then work in a folder holding the book's inputs.\n"
        "import importlib, importlib.util\n"
        "if importlib.util.find_spec(\"marginlib\") is None:\n"
        f"    %pip install --quiet \"marginlib @ {source}\"\n"
        "    importlib.invalidate_caches()\n"
        "from marginlib.book import launch\n"
        "launch.home()\n"
    )


def binder_requirements(*, repository: str, commit: str | None, torch_pin: str) -> str:
    """Binder's ``binder/requirements.txt``: torch's CPU build at ``torch_pin`` (Binder has no GPU; PyPI's
    default wheel is the large CUDA one) and marginlib from ``repository`` at ``commit``."""
    source = _source(repository, commit)
    return ("# Binder's environment for the book's executed notebooks (written by marginlib.book.build)\n"
            "--index-url https://download.pytorch.org/whl/cpu\n"
            "--extra-index-url https://pypi.org/simple\n"
            f"{torch_pin}\n"
            f"marginlib @ {source}\n")


def _source(repository: str, commit: str | None) -> str:
    """pip's ``git+<repository>[@<commit>]`` for marginlib (the install cell's and Binder's)."""
    return f"git+{repository.rstrip('/')}" + (f"@{commit}" if commit else "")
