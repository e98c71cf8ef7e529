"""What the build writes from the records: run box, claims table with seed hold rates, the claims ledger."""
from __future__ import annotations

import re

import nbformat
import pytest
import yaml

from marginlib.book import build, exercises, pages
from marginlib.book.params import toc_notebooks

NOTEBOOKS = toc_notebooks()

DETAIL = "MMA - PGD-AT white-box accuracy at every radius: " + ", ".join(f"{e}: +0.{e}" for e in range(30))
RECORD = {
    "notebook": "05_mma_training", "profile": "demo", "params": {"source": "offline"},
    "metrics": {"source": "MNIST (offline 5k subset)"},
    "claims": {"beats": {"holds": False, "required_at": ["paper"], "detail": DETAIL, "paper": "Fig. 3a: all ε | x",
                         "value": 0.25, "paper_value": 0.9},
               "margin": {"holds": True, "required_at": ["demo", "paper"], "detail": "0.30 vs 0.23",
                          "paper": "eq. (3)"}},
    "environment": {"git commit": "abc1234", "git dirty": False, "device": "cpu (2 cores)", "threads": 2,
                    "code": {"digest": "d1", "files": ["x.py"]}},
    "started": "2026-12-02T03:00:00+00:00", "seconds": 221.6,
}
SUMMARY = {"notebook": "05_mma_training", "profile": "demo", "seeds": [0, 1, 2, 3, 4], "date": "2026-12-02T04:00",
           "code": {"digest": "d1", "files": ["x.py"]}, "environment": {"git commit": "abc1234"},
           "claims": {"beats": {"holds_on": [1], "fails_on": [0, 2, 3, 4]},
                      "margin": {"holds_on": [0, 1, 2, 3, 4], "fails_on": []}}}


def test_run_box_names_the_run_and_marks_informational_failures():
    box = pages.run_box(RECORD, SUMMARY)
    assert box.startswith(":::{admonition}") and box.rstrip().endswith(":::")
    for words in ("**demo**", "`abc1234`", "cpu (2 cores)", "222 s", "MNIST (offline 5k subset)",
                  "1 of 1 hold", "not holding in this run**: `beats`", "seeds 0, 1, 2, 3, 4", "same code"):
        assert words in box, words
    assert "stale" in pages.run_box(RECORD, {**SUMMARY, "code": {"digest": "old"}})
    assert "No seeds record" in pages.run_box(RECORD, None)


def test_claims_table_is_whole_and_shows_seed_hold_rates():
    html = pages.claims_html(RECORD, SUMMARY)
    assert DETAIL in html, "the detail column is never cut"
    assert "1 of 5" in html and "5 of 5" in html and "Fig. 3a" in html
    assert "stale" in pages.claims_html(RECORD, {**SUMMARY, "code": {"digest": "old"}})


def test_ledger_lists_every_claim_with_both_numbers():
    page = pages.ledger([RECORD], {"05_mma_training": SUMMARY}, titles={"05_mma_training": "5. MMA training"})
    assert page.startswith("# Claims ledger") and "## 5. MMA training" in page
    row = next(line for line in page.splitlines() if "`beats`" in line)
    assert "all ε \\| x" in row and "| paper |" in row and "does not hold" in row and "1 of 5" in row
    assert "| 0.25 | 0.9 |" in row
    assert "holds | 5 of 5 | — | — |" in next(line for line in page.splitlines() if "`margin`" in line)


def test_staged_notebook_gets_run_box_claims_table_and_dashes(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 5. MMA training\n\ntext"),
        nbformat.v4.new_code_cell("show(table)", outputs=[nbformat.v4.new_output(
            "execute_result", data={"text/html": "<table><tr><td>NaN</td><td>0.5</td></tr></table>"})]),
        nbformat.v4.new_code_cell("record = run.save(...)\nplots.numbers(q)\nplots.claims_table(record)", outputs=[
            nbformat.v4.new_output("display_data", data={"text/plain": "0.5"}, metadata={"scrapbook": {"name": "q"}}),
            nbformat.v4.new_output("execute_result", data={"text/plain": "old table"})]),
    ])
    source, target = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    assert build._write_for_book(source, target, RECORD, SUMMARY, install="launch.home()") == "5. MMA training"
    out = nbformat.read(target, as_version=4)
    install = out.cells.pop(0)   # the launch buttons' install cell comes first, hidden on the site
    assert install.cell_type == "code" and install.source == "launch.home()" and install.metadata.tags == ["remove-cell"]
    assert out.metadata.kernelspec.name == "python3", "Colab and Binder know the standard kernel, not the project's"
    assert out.cells[0].source == "# 5. MMA training", "the title stands alone, the boxes right under it"
    assert out.cells[1].cell_type == "markdown" and "This page's run" in out.cells[1].source
    assert out.cells[2].source == "text", "then the title cell's prose"
    assert out.cells[3].outputs[0]["data"]["text/html"] == "<table><tr><td>—</td><td>0.5</td></tr></table>"
    glue, table = out.cells[4].outputs
    assert glue["metadata"]["scrapbook"]["name"] == "q", "the glued numbers of the claims cell are kept"
    assert table["output_type"] == "execute_result" and "1 of 5" in table["data"]["text/html"]


def test_a_value_that_is_not_a_number_reads_as_a_dash_in_sentences_and_tables():
    assert pages.readable("max nan over 0 rows; nan% error; -inf; L-inf ball; Linf; infinity") == \
        "max — over 0 rows; — error; —; L-inf ball; Linf; infinity"
    cells = '<tr><th class="row_heading" >nan</th><td id="x">NaN</td><td>0.5</td></tr>'
    assert build.MISSING_CELL.sub(r"\1—\2", cells) == '<tr><th class="row_heading" >—</th><td id="x">—</td><td>0.5</td></tr>'


def _demo_records(tmp_path, monkeypatch, *, failing=None):
    """A results folder holding a demo record and an executed notebook per section; the section numbered
    ``failing`` fails its required claim ``c``."""
    from marginlib.book import params as notebook
    from marginlib.book import results

    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path / "results"))
    for i, path in enumerate(notebook.toc_notebooks()):
        key = {name: results.claim(True, detail="k", paper="the key") for name in build._key_claims(path)}
        run = results.Run(path.stem, profile="demo", params=notebook.resolve(path.stem, "demo"),
                          required={"c": ["demo"], "info": [], **{name: [] for name in key}})
        run.save(metrics={}, claims={"c": results.claim(i != failing, detail=f"value {i}", paper="p"),
                                     "info": results.claim(False, detail="", paper="p"), **key})
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t")]),
                       build.executed_path(path, "demo"))


def test_the_build_refuses_a_failed_required_claim_and_names_it(tmp_path, monkeypatch):
    _demo_records(tmp_path, monkeypatch, failing=3)
    broken = NOTEBOOKS[3].stem
    with pytest.raises(ValueError, match=rf"do not hold, so the book is not published:\n  {broken}: c \(value 3\)$"):
        build.stage("demo", output=tmp_path / "out")


@pytest.mark.parametrize("hide", [False, True])
def test_a_course_build_hides_the_solutions(tmp_path, monkeypatch, hide):
    """``make book HIDE_SOLUTIONS=1`` (issue 19 item 4): the staged config turns on sphinx-exercise's
    ``hide_solutions``; the default book shows them."""
    _demo_records(tmp_path, monkeypatch)
    src = build.stage("demo", output=tmp_path / "out", hide_solutions=hide)
    config = yaml.safe_load((src / "_config.yml").read_text())
    assert config["sphinx"]["config"]["hide_solutions"] is hide
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]


def test_the_stage_writes_the_figure_scale_and_binder_environment_from_their_one_source(tmp_path, monkeypatch):
    from marginlib.book import plots

    _demo_records(tmp_path, monkeypatch)
    src = build.stage("demo", output=tmp_path / "out")
    scale = (src / "_static" / build.FIGURE_SCALE_JS).read_text()
    assert f"window.marginBookMinScale = {plots.min_figure_scale():.6f};" in scale
    assert plots.min_figure_scale() * plots.FIGURE_FONT_PT * plots.FIGURE_DPI / 72 == pytest.approx(plots.MIN_TEXT_PX)
    assert "window.marginBookMinScale" in (src / "_static" / "margin-book.js").read_text()
    pin = re.search(r"^torch==\S+", (build.repo_root() / "constraints.txt").read_text(), re.M).group(0)
    assert pin in (src / build.LAUNCH_EXTRA / "binder" / "requirements.txt").read_text().splitlines()
    staged = nbformat.read(src / "notebooks" / "01_minavg_linear.ipynb", as_version=4)
    assert "In short" in staged.cells[2].source and "This page's run" in staged.cells[3].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_section_ends_with_numbered_exercises_each_with_a_solution(path):
    """Issue 19 item 4: each section's exercises are sphinx-exercise directives with a label, and each has a
    solution (a dropdown a course build can hide)."""
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    labels = re.findall(r"^`{3,}\{exercise\}.*\n:label: (\S+)$", text, re.M)
    solved = re.findall(r"^`{3,}\{solution\} (\S+)\n:class: dropdown$", text, re.M)
    assert labels and labels == solved, (labels, solved)
    assert "## Exercises" in text and "{toggle}" not in text


def test_tables_print_small_numbers_whole_numbers_and_missing_values_readably():
    assert [pages.number_text(v) for v in (0.001, 3e-4, 98.76, 12665.0, 0.123456, -0.5, float("nan"), None)] == \
        ["0.001", "0.0003", "98.76", "12665", "0.1235", "-0.5", "—", "—"]
    import pandas as pd

    frame = pd.DataFrame({"method": ["MMA", "PGD"], "acc": [0.001, float("nan")], "detail": ["x" * 90, "y"]})
    html = pages.table_html(frame)
    assert "<td>0.001</td>" in html and "<td>—</td>" in html and "x" * 90 in html, "no rounding to 0.00, no cut"
    assert "<th>0</th>" not in html, "row numbers are not a column"
    assert "<th>MMA</th>" in pages.table_html(frame.set_index("method")), "a named index stays"
    assert 'text-align: left' in html and 'text-align: right' not in html, "headers align with their cells"


def test_the_theme_renders_every_frame_of_a_notebook_with_the_book_formatter():
    import pandas as pd
    from IPython.core.interactiveshell import InteractiveShell

    from marginlib.book import plots

    shell = InteractiveShell.instance()
    try:
        plots.theme()
        data, _ = shell.display_formatter.format(pd.DataFrame({"a": [3e-4]}))
        assert "<td>0.0003</td>" in data["text/html"] and "<th>0</th>" not in data["text/html"]
    finally:
        InteractiveShell.clear_instance()


def test_every_section_names_its_key_claims_and_has_an_exercise_to_try_first():
    import yaml

    from marginlib.book import params as notebook

    for path in notebook.toc_notebooks():
        meta = yaml.safe_load((path.parent / "params" / f"{path.stem}.yaml").read_text())
        assert meta.get("key") and set(meta["key"]) <= set(meta["required"]), path.stem
        assert build._key_claims(path) == meta["key"]
        assert exercises.labels(path)[0] == f"ex-{path.stem[:2]}-1", path.stem


def test_the_summary_box_states_the_key_claim_runtime_and_what_to_try():
    estimate = {"estimate_seconds": 7200, "device": "cpu (2 cores)"}
    box = pages.summary_box(RECORD, SUMMARY, key=["beats"], estimate=estimate, exercise="ex-05-1")
    assert box.startswith(":::{admonition} In short") and box.rstrip().endswith(":::")
    claim = RECORD["claims"]["beats"]
    assert claim["paper"].rstrip(".") in box and "does not hold" in box and "1 of 5" in box
    assert "about 2 h on cpu (2 cores)" in box and "{numref}`ex-05-1`" in box
    assert "python -m marginlib run 05_mma_training --profile smoke" in box
    with pytest.raises(ValueError, match="key: must name claims"):
        pages.summary_box(RECORD, SUMMARY, key=["no_such_claim"], estimate=None, exercise=None)
    assert [pages.duration_text(s) for s in (40, 720, 12240, 190000, 1.4e9)] == \
        ["40 s", "12 min", "3.4 h", "2.2 days", "44 years"]
