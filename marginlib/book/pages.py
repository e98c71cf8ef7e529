"""What the build writes from records (never typed): each section's run box and claims table, and the claims
ledger appendix (``book/appendix/claims.md`` in the staged sources).

Rendering only: the records and the seeds summaries are read, nothing is computed here, so a page shows the
same numbers as the record beside it (locuslab/smoothing's "compute apart from rendering").
"""
from __future__ import annotations

import html
import pathlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from marginlib.book import seeds as seeds_mod

#: the claims ledger's page in the staged book (listed in ``_toc.yml``; generated, so not in the checkout)
LEDGER = "book/appendix/claims"


#: a value that is not a number inside a sentence: ``nan``, ``inf`` (and a percent sign after it)
NOT_A_NUMBER = re.compile(r"(?<![\w.\-])[-+−]?(?:nan|inf)(?![\w])%?", re.IGNORECASE)


def readable(text: str) -> str:
    """A sentence of a record or of ``quoted()`` as the page shows it: a value that is not a number (an empty
    selection's maximum, a ratio over no images) reads "—" instead of "nan"."""
    return NOT_A_NUMBER.sub("—", text)


def claims_frame(record: Mapping[str, Any], summary: Mapping[str, Any] | None) -> pd.DataFrame:
    """One row per claim of ``record``: whether it holds in this run, where it is required, on how many of the
    recorded seeds it holds (:func:`marginlib.book.seeds.hold_text`), the numbers that decide it and the paper's
    statement it tests."""
    digest = record.get("environment", {}).get("code", {}).get("digest")
    rows = {}
    for name, c in record["claims"].items():
        rows[name] = {"holds here": "yes" if c["holds"] else "no",
                      "required at": ", ".join(c["required_at"]) or "— (informational)",
                      "holds on seeds": seeds_mod.hold_text(summary, name, digest=digest),
                      "this run": readable(c.get("detail", "")), "the paper": c.get("paper", "")}
    return pd.DataFrame.from_dict(rows, orient="index")


def claims_html(record: Mapping[str, Any], summary: Mapping[str, Any] | None) -> str:
    """:func:`claims_frame` as an HTML table, every cell in full (nothing cut to a column width)."""
    return table_html(claims_frame(record, summary), classes="claims-table")


#: significant digits of a table's non-integer numbers (the papers' tables print two decimals of percentages)
SIGNIFICANT = 4


def number_text(value: float) -> str:
    """A table's number as the book prints it: a whole number in full (``12665``, not ``1.267e+04``), another to
    :data:`SIGNIFICANT` significant digits without a fixed precision's zeros (``0.001`` stays ``0.001`` and
    ``3e-4`` stays ``0.0003`` where two decimals would print ``0.00``; ``98.76`` stays ``98.76``), a missing or
    undefined value as "—"."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return "—"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:.0f}"
    if abs(value) >= 10 ** SIGNIFICANT:
        return f"{value:.0f}"
    return f"{value:.{SIGNIFICANT}g}"


def table_html(frame: pd.DataFrame, *, classes: str = "margin-book-table") -> str:
    """The book's one rendering of a table (every section's frames, through :func:`marginlib.book.plots.theme`,
    and the claims table): numbers by :func:`number_text`, "—" for a missing cell, no index column when the index
    is only the row numbers, every cell in full (no column cut; the page wraps long cells), headers aligned left
    like their cells (pandas' default right-aligns the headers only)."""
    plain = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    with pd.option_context("display.max_colwidth", None):
        return frame.to_html(escape=True, border=0, classes=classes, na_rep="—", float_format=number_text,
                             index=not plain, justify="left")


def data_source(record: Mapping[str, Any]) -> str:
    """The data a run used, as its record names it (``metrics.source``, else the ``source`` parameter)."""
    source = record.get("metrics", {}).get("source") or record.get("params", {}).get("source")
    return str(source) if source else "see the section"


def run_box(record: Mapping[str, Any], summary: Mapping[str, Any] | None) -> str:
    """A MyST admonition naming this page's run (profile, date, commit, device, seconds, data) and its claims:
    required ones that hold, informational ones that do not hold here (the page's mark), the seeds record."""
    env = record["environment"]
    commit = env.get("git commit") or "unknown"
    dirty = " with uncommitted changes" if env.get("git dirty") else ""
    profile = record["profile"]
    required = [n for n, c in record["claims"].items() if profile in c["required_at"]]
    held = [n for n in required if record["claims"][n]["holds"]]
    informational = [n for n, c in record["claims"].items() if profile not in c["required_at"] and not c["holds"]]
    lines = [
        ":::{admonition} This page's run",
        ":class: note run-box",
        f"Profile **{profile}**, started {record['started']}, commit `{commit}`{dirty}, on {env.get('device')} "
        f"({env.get('threads')} torch thread{'s' if env.get('threads') != 1 else ''}), {record['seconds']:.0f} s. "
        f"Data: {data_source(record)}.",
        "",
        (f"Claims required at {profile}: {len(held)} of {len(required)} hold in this run." if required
         else f"No claim is required at {profile}."),
    ]
    if informational:
        lines.append(f" Not required at {profile} and **not holding in this run**: "
                     + ", ".join(f"`{n}`" for n in informational) + ".")
    if summary is None:
        lines.append(f" No seeds record for this section at {profile} yet (`make seeds`).")
    else:
        same = summary["code"]["digest"] == env.get("code", {}).get("digest")
        state = "of the same code as this run" if same else "of other code than this run's: stale"
        seeds_list = ", ".join(map(str, summary["seeds"]))
        lines.append(f" Seeds record: seeds {seeds_list} at profile {summary['profile']}, "
                     f"commit `{summary['environment'].get('git commit')}`, {summary['date'][:10]}, {state}.")
    lines.append(":::")
    return "\n".join(lines) + "\n"


def duration_text(seconds: float) -> str:
    """A wall time as a reader says it: ``40 s``, ``12 min``, ``3.4 h``, ``2.1 days``, ``44 years``."""
    for unit, size, up_to in (("s", 1, 90), ("min", 60, 90), ("h", 3600, 48), ("days", 86400, 365)):
        if seconds < size * up_to:
            value = seconds / size
            return f"{value:.0f} {unit}" if unit in ("s", "min") or value >= 10 else f"{value:.2g} {unit}"
    years = seconds / (365.25 * 86400)
    return f"{years:.0f} years" if years >= 10 else f"{years:.2g} years"


def summary_box(record: Mapping[str, Any], summary: Mapping[str, Any] | None, *, key: Sequence[str],
                estimate: Mapping[str, Any] | None, exercise: str | None) -> str:
    """The box at the top of a section: its key result (the ``key`` claims of the preset file: the paper's
    statement, whether it holds in this run, on how many recorded seeds, and this run's numbers), its runtime (this
    run's, and the full paper profile's estimate from its dry run, ``estimate``: an entry of
    ``book/data/paper_check.json``) and what to try first (the section's first exercise, ``exercise``: its label,
    and the quick rerun). Everything in it is read from the record and the summaries, never typed."""
    claims = record["claims"]
    unknown = [name for name in key if name not in claims]
    if not key or unknown:
        raise ValueError(f"{record['notebook']}: the preset file's key: must name claims of the section; "
                         f"{unknown or 'none given'} not among {sorted(claims)}")
    digest = record.get("environment", {}).get("code", {}).get("digest")
    lines = [":::{admonition} In short", ":class: tip section-summary"]
    for name in key:
        c = claims[name]
        where = ", ".join(c["required_at"]) or "no profile (informational)"
        lines += [f"**Key result** (`{name}`, required at {where}). The paper: {_sentence(c['paper'])} "
                  f"**This run ({record['profile']}):** {'holds' if c['holds'] else 'does not hold'}; "
                  f"{readable(c.get('detail', ''))}. Holds on {seeds_mod.hold_text(summary, name, digest=digest)} "
                  "recorded seeds.", ""]
    env = record["environment"]
    runtime = f"**Runtime.** This page's run: {duration_text(record['seconds'])} on {env.get('device')}."
    if estimate:
        runtime += (f" The full `paper` profile: about {duration_text(estimate['estimate_seconds'])} on "
                    f"{estimate['device']}, estimated by its dry run ({{doc}}`/book/appendix/reproducing`).")
    lines += [runtime, ""]
    stem = record["notebook"]
    first = f"{{numref}}`{exercise}` below, then " if exercise else ""
    lines += [f"**Try first.** {first}a quick rerun at the smoke profile: "
              f"`python -m marginlib run {stem} --profile smoke` (the book's `demo` run: `--profile demo`).", ":::"]
    return "\n".join(lines) + "\n"


def _sentence(text: str) -> str:
    """``text`` ending with a full stop (a claim's paper statement, quoted in a box)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?", ")", '"', "”")) else text + "."


def _cell(text: Any) -> str:
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")


def ledger(records: Sequence[Mapping[str, Any]], summaries: Mapping[str, Mapping[str, Any] | None],
           *, titles: Mapping[str, str] | None = None) -> str:
    """The claims ledger page (MyST): every claim of every section, the paper's statement, the profiles where it is
    required, whether it holds in this build, its hold rate over the recorded seeds, our number and the paper's."""
    titles = titles or {}
    profile = records[0]["profile"] if records else "demo"
    out = [
        "# Claims ledger",
        "",
        f"Every claim of every section, as this build ran it (profile **{profile}**): the paper's statement it "
        "tests, the profiles at which the book requires it to hold, whether it holds in this build, and on how many "
        "of the recorded seeds it holds (`book/data/seeds/`, written by `make seeds`). \"ours\" and \"paper\" are "
        "the two numbers of the same quantity where the claim compares one. Generated from the records at build "
        "time.",
        "",
    ]
    for record in records:
        stem = record["notebook"]
        summary = summaries.get(stem)
        digest = record["environment"].get("code", {}).get("digest")
        out += [f"## {titles.get(stem, stem)}", "",
                f"[Section page](../../notebooks/{stem}.ipynb).", "",
                "| claim | the paper | required at | this build | seeds | ours | paper |",
                "|---|---|---|---|---|---|---|"]
        for name, c in record["claims"].items():
            ours = f"{c['value']:.4g}" if c.get("value") is not None else "—"
            theirs = f"{c['paper_value']:.4g}" if c.get("paper_value") is not None else "—"
            holds = "holds" if c["holds"] else ("**fails**" if profile in c["required_at"] else "does not hold")
            out.append(f"| `{name}` | {_cell(c.get('paper', ''))} | {', '.join(c['required_at']) or '—'} | "
                       f"{holds} | {seeds_mod.hold_text(summary, name, digest=digest)} | {ours} | {theirs} |")
        out.append("")
    return "\n".join(out)



#: the API reference appendix, generated from the docstrings at build time (``sphinx.ext.autodoc``)
API = "book/appendix/api"
#: the package's parts, in the order the reference lists them (core, then the papers, then the book machinery)
API_GROUPS = (("The core library", ""), ("The papers' modules", "papers."), ("The book's machinery", "book."))


def api_reference(root: pathlib.Path) -> str:
    """The API appendix: one ``automodule`` per module of ``marginlib``, grouped into core, papers and book. Each
    object is documented once, where it is defined: a package lists only what it defines itself, not what it
    re-exports (``:ignore-module-all:``); references to re-exported names are resolved by
    :func:`marginlib.book.sphinx.resolve_reexport`."""
    modules = sorted(".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
                     for p in (root / "marginlib").rglob("*.py") if p.name != "__main__.py")
    lines = ["# API reference", "",
             "Generated from the docstrings of `marginlib` at every build (a docstring that does not render fails the",
             "build). Docstrings cite the paper equation or section they implement.", ""]
    for title, prefix in API_GROUPS:
        group = [m for m in modules if m.removeprefix("marginlib.").startswith(prefix) and
                 (prefix or not m.removeprefix("marginlib.").startswith(("papers.", "book.")))]
        lines += [f"## {title}", "", "```{eval-rst}"]
        for m in group:
            package = (root / m.replace(".", "/") / "__init__.py").is_file()
            lines += [f".. automodule:: {m}", "   :members:"] + (["   :ignore-module-all:"] if package else []) + [""]
        lines += ["```", ""]
    return "\n".join(lines)
