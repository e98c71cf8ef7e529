"""Paper 003's 2-D toy data (§3.3.3, Fig. 1): two classes uniform in thin vertical rectangles.

Class 0 is uniform in ``[-1.01, -0.99] x [-4, 2]`` and class 1 in ``[0.99, 1.01] x [-2, 4]``, 200 points per class
and split. The class centres are ``(-1, -1)`` and ``(1, 1)``; the best linear boundary is the vertical line
``x_1 = 0`` with a minimum margin of 0.99 (the paper rounds it to 1). The points live in R^2, not in an image box
(``bounds=None``). The points are regenerated from the paper's description (the authors' points are not
published), with a fixed seed per split. Used by section 08 (:mod:`marginlib.papers.p003_amm.s08_toy2d`).
"""
from __future__ import annotations

import torch

from marginlib import validate
from marginlib.data import SPLIT_SEED, SPLITS, Dataset

#: the name every output gives this data set
NAME = "toy2d"
#: ``((x_lo, x_hi), (y_lo, y_hi))`` of class 0 and of class 1 (paper 003 §3.3.3)
BOXES = (((-1.01, -0.99), (-4.0, 2.0)), ((0.99, 1.01), (-2.0, 4.0)))
#: points per class and split (paper 003 §3.3.3)
PER_CLASS = 200
SOURCE = "generated (paper 003 §3.3.3)"


def load(*, split: str = "train", verbose: bool = True) -> Dataset:
    """The ``split`` ("train" or "test") of the toy data: ``x`` (400, 2) float32, ``y`` 200 zeros then 200 ones.

    Drawn in float64 from a generator seeded with :data:`marginlib.data.SPLIT_SEED` (+1 for the test split), so
    both splits are fixed and differ. Unless ``verbose=False``, prints one line about it.
    """
    validate.choice("split", split, SPLITS)
    g = torch.Generator().manual_seed(SPLIT_SEED + (split == "test"))
    parts = []
    for (x0, x1), (y0, y1) in BOXES:
        u = torch.rand(PER_CLASS, 2, generator=g, dtype=torch.float64)
        parts.append(torch.stack([x0 + (x1 - x0) * u[:, 0], y0 + (y1 - y0) * u[:, 1]], dim=1))
    x = torch.cat(parts).float()
    y = torch.arange(2).repeat_interleave(PER_CLASS)
    toy = Dataset(NAME, split, x, y, SOURCE, 2, bounds=None)
    if verbose:
        print(toy.describe())
    return toy
