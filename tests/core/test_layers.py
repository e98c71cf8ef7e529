"""The layout is the architecture: the core never imports a paper or the book machinery, and the book machinery
imports no paper package (it finds a section through the ``marginlib.papers.SECTIONS`` registry, or a notebook
hands it its section module)."""
from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "marginlib"


def _imports(path: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def _files(where: str) -> list[pathlib.Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    if where == "core":
        # __main__.py is the command line's entry point (python -m marginlib): book machinery
        return [f for f in files if f.relative_to(PACKAGE).parts[0] not in ("papers", "book", "__main__.py")]
    return [f for f in files if f.relative_to(PACKAGE).parts[0] == where]


@pytest.mark.parametrize(("where", "forbidden"), [("core", ("marginlib.papers", "marginlib.book")),
                                                   ("book", ("marginlib.papers.p",))])
def test_layer_imports_point_one_way(where, forbidden):
    bad = {str(f.relative_to(PACKAGE)): sorted(n for n in _imports(f) if n.startswith(forbidden))
           for f in _files(where)}
    assert not {f: n for f, n in bad.items() if n}


def test_the_checker_sees_imports():
    assert "marginlib.papers.tables" in _imports(PACKAGE / "papers" / "p003_amm" / "s10_benchmarks.py")
    assert _files("core") and _files("book")
