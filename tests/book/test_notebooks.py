"""Every notebook in the book runs end to end at the smoke profile, writes a well-formed results record,
and the book builds from the executed notebooks with warnings as errors (as `make book` does)."""
from __future__ import annotations

import json
import re

import nbformat
import pytest

from marginlib.book import build as book
from marginlib.book import params as notebook
from marginlib.book import results

NOTEBOOKS = notebook.toc_notebooks()
RECORD_KEYS = {"notebook", "profile", "params", "metrics", "claims", "environment", "started", "seconds"}
GLUE_USE = re.compile(r"\{glue(?::text|:math|:any|:)?\}`([A-Za-z0-9_]+)|```\{glue(?::figure|:math)?\}\s+([A-Za-z0-9_]+)")


def glue_uses(nb: nbformat.NotebookNode) -> set[str]:
    """The glue keys the notebook's markdown refers to."""
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return {a or b for a, b in GLUE_USE.findall(text)}


def glued(nb: nbformat.NotebookNode) -> set[str]:
    """The keys the executed notebook glued (myst-nb's ``scrapbook`` output metadata)."""
    return {o["metadata"]["scrapbook"]["name"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if "scrapbook" in o.get("metadata", {})}


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """A results folder where each test run executes its notebook at smoke."""
    folder = tmp_path_factory.mktemp("results")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(results.RESULTS_ENV, str(folder))
        yield folder


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_at_smoke(path, smoke_results):
    executed, _ = book.execute(path, profile="smoke", progress=False, timeout=600)
    assert executed == smoke_results / path.stem / "smoke.ipynb"
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    assert glue_uses(nb) <= glued(nb), f"prose refers to keys never glued: {sorted(glue_uses(nb) - glued(nb))}"
    record = json.loads((smoke_results / path.stem / "smoke.json").read_text())
    assert set(record) == RECORD_KEYS
    assert record["profile"] == "smoke" and record["notebook"] == path.stem
    assert record["params"] == notebook.resolve(path, "smoke")
    assert record["claims"], "every section states the paper's claims"
    for name, claim in record["claims"].items():
        assert {"holds", "required_at", "detail", "paper"} <= set(claim) <= {*claim, "value", "paper_value"}, name
        assert isinstance(claim["holds"], bool) and claim["paper"].strip(), name
    assert results.failed_claims(record) == [], "claims required at smoke must hold"
    assert {"python", "torch", "device", "git commit"} <= set(record["environment"])


@pytest.mark.notebook
def test_book_builds_from_the_smoke_notebooks(smoke_results, tmp_path):
    missing = [p.stem for p in NOTEBOOKS if not (smoke_results / p.stem / "smoke.ipynb").is_file()]
    if missing:
        pytest.skip(f"notebooks not executed in this session: {missing}")
    html = book.build("smoke", output=tmp_path)
    assert (html / "index.html").is_file()
    for path in NOTEBOOKS:
        page = (html / "notebooks" / f"{path.stem}.html").read_text()
        assert "<img" in page, f"{path.stem}: no figure rendered"
    staged = nbformat.read(tmp_path / "_build" / "src" / "notebooks" / NOTEBOOKS[0].name, as_version=4)
    injected = [c for c in staged.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and all("remove-cell" in c.metadata.tags for c in injected)
    _check_launch(html, NOTEBOOKS[0].stem)


def _check_launch(html, stem):
    """The launch buttons open the executed notebook the site publishes (``_sources/``, on the gh-pages branch),
    which starts with the install cell (not shown on the page); Binder's environment is published beside it."""
    import yaml

    repository = yaml.safe_load((results.repo_root() / "_config.yml").read_text())["repository"]
    org_repo = repository["url"].removeprefix("https://github.com/")
    page = (html / "notebooks" / f"{stem}.html").read_text()
    path = f"{repository['path_to_book']}/notebooks/{stem}.ipynb"
    assert f"colab.research.google.com/github/{org_repo}/blob/{repository['branch']}/{path}" in page
    assert f"mybinder.org/v2/gh/{org_repo}/{repository['branch']}?urlpath=lab/tree/{path}" in page
    published = nbformat.read(html / path, as_version=4)
    assert "launch.home()" in published.cells[0].source and "launch.home()" not in page
    assert published.metadata.kernelspec.name == "python3"
    assert any(o.get("output_type") for c in published.cells for o in c.get("outputs", [])), "it is the executed one"
    requirements = (html / "binder" / "requirements.txt").read_text()
    assert "torch==" in requirements and f"marginlib @ git+{repository['url']}" in requirements


def test_glue_uses_finds_text_and_figure_keys():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
        "ends at {glue:text}`err:.2f`% and {glue:}`n`\n\n```{glue:figure} fig_a\n:name: a\n```")])
    assert glue_uses(nb) == {"err", "n", "fig_a"}


RERUN = re.compile(r"`([^`]*-p [^`]*)`")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_rerun_command_a_page_suggests_is_accepted(path):
    """The pages' "Try this" commands (`-p name value ...`) pass every check `run` makes before the kernel starts
    (04's and 11's first exercises were refused as written). Spans with an all-caps placeholder (PATH) are not
    complete commands."""
    import shlex

    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for span in RERUN.findall(text):
        words = shlex.split(span)
        if any(w.isupper() and len(w) > 1 for w in words):
            continue
        overrides = {words[i + 1]: words[i + 2] for i, w in enumerate(words[:-2]) if w == "-p"}
        profile = words[words.index("--profile") + 1] if "--profile" in words else "demo"
        values = notebook.resolve(path, profile, overrides)
        notebook.check_section(path, values)


def test_every_toc_notebook_has_presets_and_a_parameters_cell():
    assert NOTEBOOKS, "_toc.yml lists no notebooks"
    for path in NOTEBOOKS:
        spec = notebook.spec(path)
        assert spec.defaults.get("profile") == "demo", f"{path.name}: the parameters cell must set profile = 'demo'"
        assert spec.description, f"{path.name}: params/{path.stem}.yaml needs a description"
        assert "smoke" in spec.presets, f"{path.name}: needs a smoke preset"
