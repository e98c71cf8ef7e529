"""Notebooks are prose over library calls: no ``def``/``class``, few code lines, hidden cells only for glue.

Every section's logic lives in its module under ``marginlib/papers`` (tested directly); a notebook keeps its
parameters cell and one short call per figure or table. Limits: at most :data:`VISIBLE` code lines a reader can
see per notebook (cells not tagged ``remove-input``/``remove-cell``; ``hide-input`` cells count as visible, one
click away), at most :data:`HIDDEN` lines in removed cells, and :data:`TOTAL` code lines over the whole book,
the parameters cells excepted. A code line is a non-blank line that is not only a comment.
"""
from __future__ import annotations

import ast
import json

import pytest

from marginlib.book import params

VISIBLE = 40
HIDDEN = 15
TOTAL = 600
REMOVED = {"remove-input", "remove-cell"}


def _code_cells(path):
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        tags = set(cell.get("metadata", {}).get("tags", []))
        if "parameters" in tags:
            continue
        yield "".join(cell["source"]), tags


def _lines(source: str) -> int:
    return sum(1 for line in source.splitlines() if line.strip() and not line.strip().startswith("#"))


NOTEBOOKS = params.toc_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_defines_nothing_and_stays_short(path):
    visible = hidden = 0
    for source, tags in _code_cells(path):
        tree = ast.parse(source)
        defined = [node.name for node in ast.walk(tree)
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defined, f"{path.name} defines {defined}: move them to its section module"
        lambdas = sum(isinstance(node, ast.Lambda) for node in ast.walk(tree))
        assert not lambdas, f"{path.name} has {lambdas} lambda(s): functions belong in its section module"
        if tags & REMOVED:
            hidden += _lines(source)
        else:
            visible += _lines(source)
    assert visible <= VISIBLE, f"{path.name}: {visible} visible code lines (at most {VISIBLE})"
    assert hidden <= HIDDEN, f"{path.name}: {hidden} code lines in removed cells (at most {HIDDEN}: glue only)"


def test_whole_book_code_is_short():
    total = sum(_lines(source) for path in NOTEBOOKS for source, _ in _code_cells(path))
    assert total <= TOTAL, f"the notebooks hold {total} code lines outside their parameters cells (at most {TOTAL})"


def test_line_counter_counts_code_not_comments_or_blanks():
    assert _lines("a = 1\n\n# note\n  b = 2  # x\n") == 2
