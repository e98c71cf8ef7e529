"""The browser check (issue 19 item 3) finds what a reader cannot see: it is run on pages made to break it."""
from __future__ import annotations

import pathlib

import pytest
from docutils import nodes

from marginlib.book import browser
from marginlib.book.sphinx import caption_as_alt

needs_chromium = pytest.mark.skipif(browser.chromium() is None,
                                    reason="needs Debian's chromium and chromium-driver (apt-get install)")
WIDE = "<table><tr>" + "".join(f"<td>column_{i}_wide_content</td>" for i in range(30)) + "</tr></table>"


def _page(tmp_path: pathlib.Path, body: str) -> pathlib.Path:
    page = tmp_path / "page.html"
    page.write_text(f"<!doctype html><html><head><meta name='viewport' content='width=device-width, initial-scale=1'></head><body><main><article>{body}</article></main></body></html>")
    return page


@needs_chromium
@pytest.mark.parametrize(("body", "kinds"), [
    (f'<div style="overflow-x: hidden">{WIDE}</div>', ["clipped"]),       # cut off: no way to see its end
    (f'<div style="overflow-x: auto">{WIDE}</div>', []),                   # scrolls: fine
    ('<p>short text</p><table><tr><td>a</td></tr></table>', []),
])
def test_a_table_cut_off_by_its_container_is_found_and_one_that_scrolls_is_not(tmp_path, body, kinds):
    with browser.session() as b:
        for width in browser.WIDTHS:
            b.open(_page(tmp_path, body), width=width)
            assert [p["kind"] for p in b.measure()] == kinds


@needs_chromium
def test_the_phone_width_is_emulated_below_chromiums_window_minimum(tmp_path):
    """Headless Chromium will not open a window under 500 px; the check must still see a 420 px page."""
    with browser.session() as b:
        b.open(_page(tmp_path, '<p>x</p>'), width=420)
        assert b._call("POST", "/execute/sync", {"script": "return window.innerWidth", "args": []}) == 420


def test_a_bad_width_is_refused_before_any_work():
    with pytest.raises(ValueError, match="width must be CSS pixels"):
        browser.Browser("http://127.0.0.1:1", "s").open(pathlib.Path("x.html"), width=10)


def test_a_figure_named_by_its_hash_gets_its_caption_as_alt_text():
    doc = nodes.document(None, None)
    named = nodes.figure("", nodes.image(uri="_images/ab12.png", alt="../_images/ab12.png"),
                         nodes.caption("", "Fig. 3: accuracy  against radius."))
    own = nodes.figure("", nodes.image(uri="_images/cd34.png", alt="a heat map"), nodes.caption("", "Fig. 4"))
    doc += [named, own]
    caption_as_alt(None, doc, "page")  # type: ignore[arg-type]
    assert [img["alt"] for img in doc.findall(nodes.image)] == ["Fig. 3: accuracy against radius.", "a heat map"]


@needs_chromium
def test_a_page_whose_math_never_typesets_is_reported_not_left_to_time_out(tmp_path, monkeypatch):
    """A stalled MathJax startup (or a page still loading) is reported after TYPESET_MS, once opened again, never a
    30 s WebDriver script timeout; a page whose MathJax finished is measured as usual."""
    monkeypatch.setattr(browser, "TYPESET_MS", 500)
    stalled = _page(tmp_path, "<script>window.MathJax = {startup: {promise: new Promise(function () {})}};</script>x")
    problems = browser.site_problems(tmp_path, widths=(1280,), pages=[stalled])
    assert list(problems) == ["page.html @ 1280 px"]
    assert problems["page.html @ 1280 px"][0].startswith(browser.NOT_TYPESET)
    (tmp_path / "page.html").write_text(stalled.read_text().replace("new Promise(function () {})", "Promise.resolve()"))
    assert browser.site_problems(tmp_path, widths=(1280,), pages=[stalled]) == {}
