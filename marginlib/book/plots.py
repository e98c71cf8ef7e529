"""One seaborn theme for the whole book, and the figure helpers the notebooks share.

Figures are glued into pages with myst-nb (``show``), so each number and figure on a page comes from the
executed notebook that computed it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

PALETTE = "colorblind"
TRAIN_TEST = {"train": "C0", "test": "C1"}
#: the resolution figures are drawn and saved at, and the smallest font size (points) in them
FIGURE_DPI, FIGURE_FONT_PT = 110, 9.0
#: on the page, a figure's smallest text is never under this many CSS pixels (``_static/margin-book.js`` scales
#: figures by :func:`min_figure_scale`; ``make page-check`` measures it)
MIN_TEXT_PX = 9.0


def min_figure_scale() -> float:
    """The smallest display size of a figure, as a fraction of its pixel width, at which its smallest text is
    :data:`MIN_TEXT_PX` CSS pixels high."""
    return MIN_TEXT_PX / (FIGURE_FONT_PT * FIGURE_DPI / 72)


def theme() -> None:
    """Apply the book's theme: figures in seaborn's ``whitegrid`` with the colorblind palette and compact fonts;
    in a notebook, tables (pandas frames) rendered by :func:`marginlib.book.pages.table_html`."""
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.95)
    plt.rcParams.update({"figure.dpi": FIGURE_DPI, "savefig.dpi": FIGURE_DPI, "savefig.bbox": "tight",
                         "axes.titleweight": "bold"})
    try:
        from IPython import get_ipython
    except ImportError:   # pragma: no cover - IPython comes with ipykernel, a dependency
        return
    shell = get_ipython()
    if shell is not None:
        import pandas as pd

        from marginlib.book.pages import table_html

        shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, table_html)


def show(name: str, fig: matplotlib.figure.Figure) -> None:
    """Glue ``fig`` under ``name`` for the page (``{glue:figure} name``) and close it."""
    from myst_nb import glue

    glue(name, fig, display=False)
    plt.close(fig)


def number(name: str, value: Any, *, display: bool = False) -> None:
    """Glue a number (or text) under ``name`` for ``{glue:text}`` in the prose.

    NumPy and torch scalars are converted to Python numbers first: their reprs (``np.float64(0.5)``) are not
    numbers that ``{glue:text}`key:.2f``` can format. In a sentence, a value that is not a number reads "—"
    (:func:`marginlib.book.pages.readable`); a number glued alone stays what it is, so a NaN there fails the
    build's page check.
    """
    from myst_nb import glue

    if hasattr(value, "item") and np.ndim(value) == 0:
        value = value.item()
    if isinstance(value, str):
        from marginlib.book.pages import readable

        value = readable(value)
    glue(name, value, display=display)


def curves(
    ax: plt.Axes,
    x: Sequence[float],
    series: Mapping[str, Sequence[float]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    logx: bool = False,
    reference: tuple[str, float] | None = None,
) -> plt.Axes:
    """Line plot of several named series over ``x``; ``reference=(label, y)`` adds a dashed horizontal line."""
    for label, ys in series.items():
        ax.plot(x, ys, label=label, color=TRAIN_TEST.get(label))
    if reference is not None:
        ax.axhline(reference[1], ls="--", color="0.3", lw=1.2, label=reference[0])
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(frameon=False)
    return ax


def histograms(
    values: Mapping[str, np.ndarray], *, xlabel: str = "margin", ncols: int = 5, bins: int | np.ndarray = 30,
    color: str = "C0", height: float = 1.9,
) -> matplotlib.figure.Figure:
    """A grid of histograms, one per named array, on shared bins so the shift of the distribution shows."""
    names = list(values)
    nrows = int(np.ceil(len(names) / ncols))
    if isinstance(bins, int):
        lo = min(float(np.min(v)) for v in values.values())
        hi = max(float(np.max(v)) for v in values.values())
        bins = np.linspace(lo, hi, bins + 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.3 * ncols, height * nrows), sharex=True, sharey=True,
                             squeeze=False)
    for ax, name in zip(axes.flat, names):
        sns.histplot(np.asarray(values[name]), bins=bins, ax=ax, color=color, edgecolor="white", linewidth=0.3)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel(xlabel)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def numbers(values: Mapping[str, Any]) -> None:
    """Glue every ``name: value`` of ``values`` (a section's ``quoted(...)`` numbers) with :func:`number`."""
    for name, value in values.items():
        number(name, value)


def claims_table(record: Mapping[str, Any]) -> Any:
    """The claims of a saved record (the last cell of every section): one row per claim, whether it holds here,
    where it is required, on how many recorded seeds it holds, the numbers behind it and the paper's statement
    (:func:`marginlib.book.pages.claims_frame`; the build re-renders this output with the seeds record of the
    build). Shown in full, no column cut."""
    from marginlib.book import pages, seeds

    return pages.claims_frame(record, seeds.load(record["notebook"])).style
