"""The build's page checks (issue 15 items 1 and 6): prose states no result by hand, and a built page shows no
"nan", no unrendered markup, no warning or traceback. Each rule is shown failing on a page made to break it."""
from __future__ import annotations

import pytest

from marginlib.book import checks

CLEAN = """# 5. Results

MMA keeps {glue:text}`mma_acc:.1%` against {paper}`paper001_table1:acc_pgd_model:attack=PGD` in the paper
(Table 1, §4.2, App. B.4.1, Theorem 2.1, Figs. 2a-c, Python 3.11), trained with $\\eta = 0.01$ and
momentum $0.9$ for 1,000 epochs on 4,000 images; `-p lr 0.05` reruns it.
$$ \\|\\delta\\| \\le 0.3 $$
<!-- an editor's note with 0.5 -->
```python
x = 0.25
```
```{glue:figure} fig_curves
:name: fig-0.3
```
See [the run](results/0.5/demo.json).
"""


def test_glue_paper_math_code_labels_and_integers_pass():
    assert checks.prose_problems(CLEAN) == []


@pytest.mark.parametrize("typed, number", [
    ("MMA keeps 92.86% at that radius.", "92.86%"),
    ("the ratio is 0.74 after training", "0.74"),
    ("AMM lowers the error by 3 % here", "3 %"),
    ("an average margin of -1.00 on seed 0", "1.00"),
    ("| MMA | 96.4 | 79.6 |", "96.4"),
    ("**Theorem-free** ratio 1.4 to 3.2", "1.4"),
])
def test_a_typed_result_is_found_with_its_line(typed, number):
    found = checks.prose_problems(CLEAN + typed + "\n")
    assert len(found) == 1 and repr(number) in found[0]
    assert found[0].startswith(f"line {len(CLEAN.splitlines()) + 1}:")


def test_the_books_prose_states_no_number_by_hand():
    """Every notebook's markdown and every page of the book passes (the build refuses otherwise)."""
    typed = checks.typed_numbers()
    assert typed == {}, "\n".join(f"{where}: {p}" for where, found in typed.items() for p in found)


PAGE = """<html><body><main><h1>5. Results</h1><p>MMA keeps 89.8% <span class="math">\\(\\ell_\\infty\\)</span></p>
<pre>eps = float("inf")</pre><code>nan</code>
<div class="cell_output"><table><tr><td>0.95</td><td>—</td></tr></table></div>
{extra}</main></body></html>"""


def test_a_good_page_passes():
    assert checks.page_problems(PAGE.format(extra="")) == []


@pytest.mark.parametrize("extra, words", [
    ("<p>the masked run reaches nan% error</p>", "'nan'"),
    ("<div class='cell_output'><table><tr><td>NaN</td></tr></table></div>", "'NaN'"),
    ("<p>a ratio of inf</p>", "'inf'"),
    ("<p>```{csv-table} Benchmarks</p>", "unrendered markup"),
    ("<p>error {glue:text}`err:.2f`</p>", "unrendered markup"),
    ("<div class='output stderr'><pre>UserWarning: something</pre></div>", "stderr"),
    ("<div class='cell_output'><pre>FutureWarning: the default will change</pre></div>", "'FutureWarning:'"),
    ("<div class='cell_output'><pre>Traceback (most recent call last):</pre></div>", "Traceback"),
])
def test_each_broken_page_rule_is_caught(extra, words):
    found = checks.page_problems(PAGE.format(extra=extra))
    assert found and any(words in p for p in found), found


def test_site_problems_names_the_page(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "09.html").write_text(PAGE.format(extra="<p>nan%</p>"))
    (tmp_path / "index.html").write_text(PAGE.format(extra=""))
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "x.html").write_text("<p>nan</p>")          # theme files are not pages
    assert list(checks.site_problems(tmp_path)) == ["notebooks/09.html"]


def test_cli_exit_status(capsys):
    assert checks.main(["nonsense"]) == 2
    assert "usage" in capsys.readouterr().err


def test_a_norms_name_is_not_a_missing_number_but_minus_infinity_is():
    from marginlib.book import checks

    assert checks.page_problems("<main><p>trained at l-infinity radius 0.3</p></main>") == []
    assert checks.page_problems("<main><p>the gap is -inf here</p></main>") != []


def test_the_api_reference_may_name_nan_but_not_leave_markup():
    from marginlib.book import checks

    page = "<main><p>mean and std are NaN when no point is correct</p></main>"
    assert checks.page_problems(page) != [] and checks.page_problems(page, numbers=False) == []
    assert checks.page_problems("<main><p>{glue:text}`x`</p></main>", numbers=False) != []
    assert "book/appendix/api.html" in checks.DOCUMENTATION_PAGES
