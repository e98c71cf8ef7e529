"""Paper 000, App. A: the epochs at which the margins of the 200-epoch MNIST runs are estimated, rescaled to a run
of any length. Used by sections 02 (:mod:`marginlib.papers.p000_minavg.s02_deep`, Figs. 2a-c, 4-7) and 03
(:mod:`marginlib.papers.p000_minavg.s03_amr`, Figs. 2d-f).
"""
from __future__ import annotations

from marginlib import validate

#: App. A: margin estimation epochs of the paper's 200-epoch MLP and CNN runs
PAPER_SCHEDULE = (1, 10, 20, 30, 40, 50, 80, 120, 160, 200)
#: the length of the runs that :data:`PAPER_SCHEDULE` belongs to
PAPER_EPOCHS = 200


def paper_epochs(n_epochs: int) -> list[int]:
    """The paper's schedule scaled to a run of ``n_epochs`` (each epoch ``e`` -> ``round(e * n_epochs / 200)``, at
    least 1), sorted, without repeats."""
    validate.positive("n_epochs", n_epochs)
    return sorted({max(1, round(e * n_epochs / PAPER_EPOCHS)) for e in PAPER_SCHEDULE})


def late_epochs(n_epochs: int, count: int) -> list[int]:
    """``count`` evenly spaced epochs over the second half of a run of ``n_epochs``: ``n/2, n/2 + n/(2 count), ...``
    (rounded), so that second-half trends rest on more than the three points of the paper's schedule."""
    validate.nonnegative("count", count)
    return [round(n_epochs / 2 + k * n_epochs / (2 * count)) for k in range(count)]
