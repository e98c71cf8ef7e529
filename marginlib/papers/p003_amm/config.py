"""Paper 003's training settings, written once: appendix Table 1 (AMM's ``lambda, c, d``), MIN+EXP, appendix
Table 2 (the schedules) and the learning-rate decay the book's shortened runs use.

Used by sections 09 (``notebooks/09_amm_mnist.ipynb``, :mod:`marginlib.papers.p003_amm.s09_mnist`) and 10
(``notebooks/10_amm_benchmarks.ipynb``, :mod:`marginlib.papers.p003_amm.s10_benchmarks`, through
:mod:`marginlib.papers.p003_amm.benchmarks`). Docstrings elsewhere cite these names instead of restating the
values; ``tests/papers/test_amm_config.py`` checks :data:`APPENDIX_TABLE1` against ``book/data/paper003_apptable1.csv``.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from marginlib import validate
from marginlib.papers import tables


def _setting(aggregation: str, shrinkage: str, lam: float, c: float, d: float) -> Mapping[str, Any]:
    return MappingProxyType({"aggregation": aggregation, "shrinkage": shrinkage, "lam": lam, "c": c, "d": d})


#: Paper 003, appendix Table 1: the MLP's ``(lam, c, d)`` per aggregation x shrinkage configuration (§3.3, grid
#: searched on MNIST), as keywords of ``methods.build("amm", ...)``; the same rows as
#: ``book/data/paper003_apptable1.csv`` (``tables.read("paper003_apptable1")``).
APPENDIX_TABLE1: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "AVG+LIN": _setting("avg", "lin", 1.0, 4.0, 4.0),
    "AVG+INV": _setting("avg", "inv", 32.0, 4.0, 2.0),
    "AVG+EXP": _setting("avg", "exp", 32.0, 2.0, 2.0),
    "MIN+LIN": _setting("min", "lin", 1.0, 0.5, 4.0),
    "MIN+INV": _setting("min", "inv", 32.0, 1.0, 0.5),
    "MIN+EXP": _setting("min", "exp", 32.0, 2.0, 1.0),
})
#: The six configurations of Table 1, in the paper's order.
CONFIGURATIONS: tuple[str, ...] = tuple(APPENDIX_TABLE1)
#: MIN+EXP, the configuration of every experiment after Table 1 (§4.3.2-4.4): ``lam = 32, c = 2, d = 1``.
MIN_EXP: Mapping[str, Any] = APPENDIX_TABLE1["MIN+EXP"]
#: DeepFool candidates of the benchmarks' AMM (§4.4): the released code searches the top 10 labels
#: (``--df-num-label 10``), the predicted one and 9 others: every class on 10-class data, 9 of 99 on CIFAR-100.
BENCHMARK_CANDIDATES = 9
#: The AMM of every benchmark (§4.4): MIN+EXP with :data:`BENCHMARK_CANDIDATES`. The paper tunes ``lam, c, d`` per
#: data set on held-out data and does not report them (§4.4.2-4.4.5); this book reuses the MLP's.
BENCHMARK_AMM: Mapping[str, Any] = MappingProxyType({**MIN_EXP, "candidates": BENCHMARK_CANDIDATES})


def decay_milestones(epochs: int) -> tuple[int, ...]:
    """The epochs after which the learning rate is multiplied by 0.1 in this book's shortened runs: half and four
    fifths of training, as appendix Table 2's MNIST rows (epochs 50 and 80 of 100). A milestone of 0, which
    would decay the rate before the first epoch, is left out (``epochs`` 1: no decay)."""
    validate.positive("epochs", epochs)
    return tuple(m for m in (epochs // 2, epochs * 4 // 5) if m > 0)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """One row of paper 003's appendix Table 2: batch size, epochs, initial learning rate, the epochs after which
    it is multiplied by ``gamma`` (0.1 each: "50 (0.1x), 80 (0.01x)"), and whether AMM trains from scratch
    (``True``) or fine-tunes the trained reference."""

    batch_size: int
    epochs: int
    lr: float
    milestones: tuple[int, ...] = ()
    scratch: bool = True
    gamma: float = 0.1

    def __post_init__(self) -> None:
        validate.positive("batch_size", self.batch_size)
        validate.positive("epochs", self.epochs)
        validate.positive("lr", self.lr)

    @classmethod
    def decaying(cls, batch_size: int, epochs: int, lr: float, *, scratch: bool = True) -> Schedule:
        """A schedule with the rate decayed x0.1 after half and four fifths of ``epochs`` (:func:`decay_milestones`)."""
        return cls(batch_size, epochs, lr, decay_milestones(epochs), scratch=scratch)

    def fit_kw(self) -> dict[str, Any]:
        """The keywords of :func:`marginlib.train.fit` this schedule sets."""
        return {"epochs": self.epochs, "batch_size": self.batch_size, "lr": self.lr,
                "milestones": list(self.milestones), "gamma": self.gamma}


def appendix_table2(dataset: str, architecture: str) -> tuple[Schedule, Schedule]:
    """The (reference, AMM) schedules of appendix Table 2's row for ``dataset`` and ``architecture`` (the paper's
    names, e.g. ``"CIFAR-10"``, ``"ResNet-20"``): the reference trains from scratch; AMM has the same batch size,
    epochs, rate and milestones, from scratch when the row's last column says "yes", else fine-tuning."""
    table = tables.read("paper003_apptable2")
    rows = table[(table.dataset == dataset) & (table.architecture == architecture)]
    if rows.empty:
        pairs = ", ".join(f"{d}/{a}" for d, a in zip(table.dataset, table.architecture))
        raise ValueError(f"dataset={dataset!r}, architecture={architecture!r}: not a row of paper 003's appendix "
                         f"Table 2; choose one of: {pairs}")
    row = rows.iloc[0]
    reference = Schedule(int(row.batch_size), int(row.epochs), float(row.init_lr),
                         tuple(int(m) for m in str(row.milestones).split()), scratch=True)
    return reference, dataclasses.replace(reference, scratch=bool(row.scratch == "yes"))


def paper_number(reference: str) -> float:
    """A number of paper 003 from ``book/data`` as a float: ``reference`` is ``STEM:COLUMN:KEY=VALUE,...`` of
    :func:`marginlib.papers.tables.cell` (e.g. ``"paper003_table1:error_mean:aggregation=MIN,shrinkage=EXP"``) or,
    without a colon, a ``key`` of ``book/data/paper003_quotes.csv`` (numbers the paper states in its text)."""
    if ":" not in reference:
        reference = f"paper003_quotes:value:key={reference}"
    return float(tables.cell(reference))
