"""The checks a page must pass before the book is published (issue "every page tells the truth").

**Prose numbers** (:func:`prose_problems`). In prose, the markdown cells of the book's notebooks and its ``.md``
pages, every decimal number and every percentage must be one of:

- a ``{glue}`` role: a number of this book's own run, glued from the section's record (across pages with
  ``{glue:text}`/notebooks/<stem>.ipynb::key```);
- a ``{paper}`` role: a paper's number, quoted from a cell of ``book/data`` (:mod:`marginlib.book.sphinx`);
- inside math (``$\\eta = 0.01$``): settings, hyperparameters and formulas;
- a structural label: §4.2, Theorem 2.1, App. B.4.1, Table 1, Fig. 3c, Python 3.11.

Anything else is a number typed by hand, which goes stale the next time the run changes, so the build refuses it.
Code, links' targets, directive options and HTML comments are not prose; a table's caption is. Integers (epochs,
image counts) are settings and are not checked.

**Built pages** (:func:`page_problems`): no "nan" or "inf" where a number belongs, no directive or role left
unrendered (``{glue:...}``, a fence shown as text), no warning, error or traceback in a cell's output.
"""
from __future__ import annotations

import json
import pathlib
import re
import sys
from collections.abc import Iterable

#: what is not prose, removed before numbers are looked for (order matters: comments and fences first)
_NOT_PROSE = [
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"^(?P<f>```+|:::+)[ \t]*\{(?P<d>code-cell|code-block|code|math|csv-table|list-table|raw|"
               r"glue:[a-z]+|glue)\}(?P<title>[^\n]*).*?^(?P=f)[ \t]*$", re.S | re.M),
    re.compile(r"^(?P<f>```+)(?![ \t]*\{)[^\n]*\n.*?^(?P=f)[ \t]*$", re.S | re.M),
    re.compile(r"\$\$.*?\$\$", re.S),
    re.compile(r"\\\[.*?\\\]", re.S),
    re.compile(r"(?<![\\$])\$(?!\$)[^$\n]+?(?<!\\)\$"),
    re.compile(r"\\\(.*?\\\)"),
    re.compile(r"\{[a-z][a-z0-9:_-]*\}`[^`]*`"),
    re.compile(r"`[^`\n]*`"),
    re.compile(r"\]\([^)\s]*\)"),
    re.compile(r"<https?://[^>]*>|https?://\S+"),
    re.compile(r"^[ \t]*:[a-z-]+:.*$", re.M),
]
#: structural labels: section, theorem, table, figure, equation, appendix and version numbers
_LABEL = re.compile(
    r"(?:§+\s*|\b(?:Theorems?|Thms?\.|Lemmas?|Corollar(?:y|ies)|Propositions?|Definitions?|Defs?\.|Remarks?|Tables?|"
    r"Tabs?\.|Figs?\.|Figures?|[Ee]qs?\.|[Ee]quations?|App\.|Appendix|Appendices|Algorithms?|Algs?\.|Sections?|"
    r"Secs?\.|Steps?|Python|PyTorch|torch|CUDA|Jupyter Book|Sphinx|version|v)\s+)"
    r"\(?[A-Z]?\.?\d+(?:\.\d+)*[a-z]?\)?(?:\s*(?:,|and|or|to|-|–)\s*\(?[A-Z]?\.?\d+(?:\.\d+)*[a-z]?\)?)*")
#: a typed result: a decimal number or a percentage (not inside a word or a dotted label such as B.4.1)
_NUMBER = re.compile(r"(?<![\w§./])\d+\.\d+(?:\s?%)?|(?<![\w§./])\d+\s?%")


def _blank(match: re.Match[str]) -> str:
    """A match replaced by its line breaks; a table directive keeps its title (a caption is prose)."""
    groups = match.groupdict()
    title = groups.get("title") if groups.get("d") in ("csv-table", "list-table") else ""
    return (title or "") + "\n" * match.group(0).count("\n") + " "


def prose(text: str) -> str:
    """``text`` with everything that is not prose blanked out (same line count, for line numbers)."""
    for pattern in _NOT_PROSE:
        text = pattern.sub(_blank, text)
    return _LABEL.sub(" ", text)


def prose_problems(text: str) -> list[str]:
    """The typed numbers of ``text`` (markdown), as ``line N: 'number' in: <the line>``."""
    out = []
    for lineno, line in enumerate(prose(text).splitlines(), 1):
        found = [m.group(0).strip() for m in _NUMBER.finditer(line)]
        if found:
            out.append(f"line {lineno}: {', '.join(map(repr, found))} in: {line.strip()[:140]}")
    return out


def prose_sources(root: pathlib.Path | None = None) -> Iterable[tuple[str, str]]:
    """``(where, markdown)`` of every page of the book: each markdown cell of the notebooks in ``_toc.yml``
    (``notebooks/<name>.ipynb cell N``) and each ``.md`` page it lists."""
    from marginlib.book import params
    from marginlib.book.results import repo_root

    root = root or repo_root()
    for path in params.toc_notebooks(root):
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "markdown":
                yield f"notebooks/{path.name} cell {i}", "".join(cell["source"])
    for path in toc_pages(root):
        yield str(path.relative_to(root)), path.read_text()


def toc_pages(root: pathlib.Path) -> list[pathlib.Path]:
    """The ``.md`` pages listed in ``_toc.yml`` that exist in the checkout (the generated ones are not there)."""
    import yaml

    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(yaml.safe_load((root / "_toc.yml").read_text()))
    return [root / f"{f}.md" for f in found if (root / f"{f}.md").is_file()]


def typed_numbers(root: pathlib.Path | None = None) -> dict[str, list[str]]:
    """Every page's typed numbers (:func:`prose_problems`), for the pages that have any."""
    report = {where: prose_problems(text) for where, text in prose_sources(root)}
    return {where: found for where, found in report.items() if found}


_NAN = re.compile(r"(?<![\w.-])[-+−]?(?:nan|NaN|NAN|inf|Inf|INF|infinity|Infinity)(?![\w])")
_RAW = re.compile(r"\{(?:glue|paper|glue:[a-z]+|cite|ref|doc|numref|eq|math)\}`|^\s*(?:```|:::)\s*\{[a-z-]+\}",
                  re.M)
_SKIP_TAGS = ("script", "style", "pre", "code", "mjx-container", "textarea")


#: pages that document code, not results: their prose names NaN and inf as values the code handles
DOCUMENTATION_PAGES = ("book/appendix/api.html",)


def page_problems(html: str, *, numbers: bool = True) -> list[str]:
    """What is wrong with one built HTML page: "nan"/"inf" shown as a number (unless ``numbers`` is false: a page
    that documents code), a directive or role left unrendered, a cell output on stderr or showing a warning, error
    or traceback."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    main = soup.find("main") or soup
    problems = []
    for out in main.select(".output.stderr, .output.traceback, .output.error"):
        problems.append(f"a cell output on stderr or an error: {out.get_text(' ', strip=True)[:120]!r}")
    for out in main.select(".cell_output, .output"):
        text = out.get_text(" ", strip=True)
        match = re.search(r"(\w*Warning:|Traceback \(most recent call last\)|\w+Error:)", text)
        if match:
            problems.append(f"a cell output shows {match.group(1)!r}: {text[max(0, match.start() - 40):][:120]!r}")
    for node in main.find_all(string=True):
        if any(parent.name in _SKIP_TAGS or "math" in (parent.get("class") or []) for parent in node.parents):
            continue
        text = str(node)
        for match in _NAN.finditer(text) if numbers else ():
            problems.append(f"shows {match.group(0)!r} where a number belongs: {text.strip()[:120]!r}")
        for match in _RAW.finditer(text):
            problems.append(f"shows unrendered markup {match.group(0).strip()!r}: {text.strip()[:120]!r}")
    return list(dict.fromkeys(problems))


def site_problems(html_dir: pathlib.Path) -> dict[str, list[str]]:
    """:func:`page_problems` of every page of a built book (``_build/html``), for the pages that have any."""
    report = {}
    for page in sorted(html_dir.rglob("*.html")):
        if page.parent.name.startswith("_") or page.name in ("genindex.html", "search.html"):
            continue
        where = str(page.relative_to(html_dir))
        found = page_problems(page.read_text(encoding="utf-8"), numbers=where not in DOCUMENTATION_PAGES)
        if found:
            report[where] = found
    return report


def _print(report: dict[str, list[str]]) -> int:
    for where, found in report.items():
        print(where)
        for line in found:
            print(f"    {line}")
    return 1 if report else 0


def main(argv: list[str] | None = None) -> int:
    """``python -m marginlib.book.checks prose`` | ``pages [HTML_DIR]``: print the problems; exit 1 if any."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("prose", "pages"):
        print("usage: python -m marginlib.book.checks prose | pages [_build/html]", file=sys.stderr)
        return 2
    if args[0] == "prose":
        return _print(typed_numbers())
    from marginlib.book.results import repo_root

    return _print(site_problems(pathlib.Path(args[1]) if len(args) > 1 else repo_root() / "_build" / "html"))


if __name__ == "__main__":
    raise SystemExit(main())
