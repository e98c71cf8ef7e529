"""The book's root and staging never reach into another project (issue 18, item 13)."""
from __future__ import annotations

import pathlib

import pytest

from marginlib.book import build as book
from marginlib.book import results

CHECKOUT = pathlib.Path(__file__).resolve().parents[2]


def _other_jupyter_book(tmp_path: pathlib.Path) -> pathlib.Path:
    other = tmp_path / "other-book"
    (other / "notebooks").mkdir(parents=True)
    (other / "_toc.yml").write_text("format: jb-book\nroot: intro\n")
    (other / "_build" / "src").mkdir(parents=True)
    (other / "_build" / "src" / "precious.md").write_text("not margin-book's\n")
    return other


def test_another_jupyter_book_is_not_taken_for_the_checkout(tmp_path, monkeypatch):
    other = _other_jupyter_book(tmp_path)
    monkeypatch.chdir(other / "notebooks")
    assert results.repo_root() == CHECKOUT


def test_stage_refuses_to_delete_a_build_folder_it_did_not_stage(tmp_path):
    other = _other_jupyter_book(tmp_path)
    with pytest.raises(FileExistsError, match="not staged by margin-book"):
        book.stage("smoke", root=CHECKOUT, output=other)
    assert (other / "_build" / "src" / "precious.md").is_file()
