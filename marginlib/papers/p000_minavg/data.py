"""Paper 000's binary data set: the MNIST digits 0 and 1 (§3, Figs. 1 and 3; App. A: "all MNIST zeros and ones").

Used by section 01 (:mod:`marginlib.papers.p000_minavg.s01_linear`). The digits come from
:func:`marginlib.data.load` ``("mnist", ...)``, so the sources are MNIST's: the full IDX files when present (or a
torchvision download), else the 5,000 offline digits with their fixed train/test split.
"""
from __future__ import annotations

import os

import torch

from marginlib import data
from marginlib.data import Dataset

#: the name every output gives this data set
NAME = "mnist01"


def mnist01(*, split: str = "train", root: str | os.PathLike[str] | None = None, download: bool = False,
            source: str = "auto", verbose: bool = True) -> Dataset:
    """The MNIST images of digits 0 and 1 of ``split``, labels 0/1, two classes, pixel space [0, 1].

    ``split``, ``root``, ``download`` and ``source`` are those of :func:`marginlib.data.load`; the source names the
    MNIST source it came from and adds ", digits 0 and 1". Unless ``verbose=False``, prints one line about it.
    """
    full = data.load("mnist", split=split, root=root, download=download, source=source, verbose=False)
    keep = full.y <= 1
    binary = Dataset(NAME, split, full.x[keep], full.y[keep], full.source + ", digits 0 and 1", 2)
    if verbose:
        print(binary.describe())
    return binary


def resplit(train: Dataset, test: Dataset, *, seed: int, verbose: bool = True) -> tuple[Dataset, Dataset]:
    """The train/test draw of seed ``seed`` (section 01's ``seed`` parameter): ``seed = 0`` keeps ``train`` and
    ``test`` as they are (MNIST's own split); another seed pools the two and draws a random split with the same
    sizes (a ``torch`` permutation seeded with ``seed``), the source saying so. Unless ``verbose=False``, prints one
    line per split when it redraws."""
    if seed == 0:
        return train, test
    x, y = torch.cat([train.x, test.x]), torch.cat([train.y, test.y])
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    source = f"{train.source} and its test split, pooled and split at random (seed {seed})"
    parts = (order[:len(train)], order[len(train):])
    out = tuple(Dataset(train.name, split, x[idx], y[idx], source, train.num_classes, train.bounds)
                for split, idx in zip(("train", "test"), parts))
    if verbose:
        for ds in out:
            print(ds.describe())
    return out[0], out[1]


def subset(ds: Dataset, n: int, *, seed: int) -> Dataset:
    """``n`` images of ``ds`` drawn at random with ``seed`` (section 01's ``n_train``), in their original order;
    ``ds`` itself when ``n`` is 0 or not below its size."""
    if n <= 0 or n >= len(ds):
        return ds
    keep = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return Dataset(ds.name, ds.split, ds.x[keep], ds.y[keep], f"{ds.source}, {n:,} of them at random (seed {seed})",
                   ds.num_classes, ds.bounds)
