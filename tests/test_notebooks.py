"""Every notebook in the book runs end to end at the smoke profile and writes a well-formed results record."""
from __future__ import annotations

import json

import nbformat
import pytest

from marginlib import book, notebook, results

NOTEBOOKS = notebook.toc_notebooks()
RECORD_KEYS = {"notebook", "profile", "params", "metrics", "claims", "environment", "started", "seconds"}


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke(path, tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    executed, _ = book.execute(path, profile="smoke", progress=False, timeout=600)
    assert executed == tmp_path / path.stem / "smoke.ipynb"
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    record = json.loads((tmp_path / path.stem / "smoke.json").read_text())
    assert set(record) == RECORD_KEYS
    assert record["profile"] == "smoke" and record["notebook"] == path.stem
    assert record["params"] == notebook.resolve(path, "smoke")
    assert record["claims"], "every section states the paper's claims"
    for name, claim in record["claims"].items():
        assert set(claim) == {"holds", "required_at", "detail"}, name
        assert isinstance(claim["holds"], bool)
    assert results.failed_claims(record) == [], "claims required at smoke must hold"
    assert {"python", "torch", "device", "git commit"} <= set(record["environment"])


def test_every_toc_notebook_has_presets_and_a_parameters_cell():
    assert NOTEBOOKS, "_toc.yml lists no notebooks"
    for path in NOTEBOOKS:
        spec = notebook.spec(path)
        assert spec.defaults.get("profile") == "demo", f"{path.name}: the parameters cell must set profile = 'demo'"
        assert spec.description, f"{path.name}: params/{path.stem}.yaml needs a description"
        assert "smoke" in spec.presets, f"{path.name}: needs a smoke preset"
