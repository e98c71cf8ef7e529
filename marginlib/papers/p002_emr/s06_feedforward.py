"""Paper 002 §3-4 on a feedforward network: effective margins, EMR and Approx-EMR on an MNIST MLP.

Notebook: ``notebooks/06_emr_feedforward.ipynb``. Reproduces Fig. 1a (cross-entropy's gradient vanishes under logit
scaling while the effective margin stays), Table 1 (ST / ST+L-Softmax / ST+EMR / ST+Approx-EMR and their AT
counterparts: clean and PGD20 accuracy, effective margins of eq. (3) on the training and test sets), Figs. 1b, 1d
and 2 (MNIST panels: mean test / training effective margin after every epoch) and the MLP rows of Table 8 (exact
EMR, eq. (5), against Approx-EMR, eq. (7) and Algorithm 1). With ``cnn`` (the ``paper`` profile) the same rows
are trained on the CNN of Table 5 on CIFAR-10: Table 2, Fig. 1c and Table 8's CNN rows (:func:`train_table2`,
:func:`cnn_protocol`; on the offline data that is the labelled CIFAR stand-in). The robust-accuracy training curves
(Figs. 4-5) are not run.

Flow: :func:`sigmoid_example` / :func:`figure1a`; :func:`load_data`, :func:`train_table1` (every row of
:func:`plan`, in that order, each a fresh MLP from ``seed``); with ``cnn``, :func:`load_cnn_data` and
:func:`train_table2` (the same rows on the CNN, :class:`Protocol` "CNN"); :func:`table1_frame`, :func:`curves_figure`,
:func:`table8`, :func:`paper_vs_book` render; :func:`record` and :func:`quoted` give the record and the prose's
numbers.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import nn

from marginlib import cost, data, methods, models, train, validate
from marginlib.book.results import claim
from marginlib.data import Dataset
from marginlib.methods import Method
from marginlib.papers import tables
from marginlib.papers.p002_emr import effective_margins

NOTEBOOK = "06_emr_feedforward"

#: the claims on Table 1's effective margins compare ST+EMR (AT+EMR) only with the baseline rows whose clean accuracy
#: is at least this (models that trained: the paper's own Table 1 has a 17.83%-accurate L-Softmax row with a larger
#: margin, which it does not count against EMR)
TRAINED = 0.5
#: SGD momentum of every row (paper 002, §3)
MOMENTUM = 0.9
#: the learning rate and lambda_EMR are multiplied by this after ``lr_decay_epoch`` (Algorithm 1: divided by 10)
DECAY = 0.1

#: objective kind -> suffix of the row name (``"ST" + suffix``, ``"AT" + suffix``), Table 1's rows
SUFFIX = {"plain": "", "lsoftmax": "+LSoftmax", "emr": "+EMR", "approx": "+Approx-EMR"}
TABLE_COLUMNS = ["clean_acc", "robust_acc", "eff_margin_train_mean", "eff_margin_test_mean"]


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults; lists as tuples)."""

    profile: str = "demo"
    source: str = "auto"
    n_train: int = 2000
    n_test: int = 500
    n_curve: int = 200
    mlp_width: int = 256
    mlp_depth: int = 2
    epochs: int = 15
    lr_decay_epoch: int = 9
    lr: float = 0.05
    batch_size: int = 100
    weight_decays: tuple[float, ...] = (0.1, 0.01, 0.001)
    lsoftmax_margin: int = 4
    lsoftmax_base: float = 1000.0
    lsoftmax_gamma: float = 0.1
    lsoftmax_power: float = 1.0
    emr_weight: float = 0.1
    emr_weight_decay: float = 0.001
    approx_weight: float = 1.0
    approx_temperature: float = 0.1
    adversarial: bool = True
    at_weight_decays: tuple[float, ...] = (0.001,)
    at_emr_weight: float = 0.0003
    at_steps: int = 10
    eps: float = 0.1
    pgd_step: float = 0.01
    pgd_steps: int = 20
    at_random_start: bool = True
    emr_on: str = "clean"
    cnn: bool = False
    cnn_n_train: int = 2000
    cnn_n_test: int = 500
    cnn_n_curve: int = 200
    cnn_epochs: int = 15
    cnn_milestones: tuple[int, ...] = (11, 14)
    cnn_lr: float = 0.01
    cnn_batch_size: int = 100
    cnn_weight_decays: tuple[float, ...] = (0.01, 0.001, 0.0001)
    cnn_at_weight_decays: tuple[float, ...] = (0.01, 0.001, 0.0001)
    cnn_lsoftmax_margin: int = 1
    cnn_emr_weight: float = 0.01
    cnn_emr_weight_decay: float = 0.0005
    cnn_approx_weight: float = 30.0
    cnn_at_emr_weight: float = 0.001
    cnn_at_approx_weight: float = 0.0003
    cnn_at_steps: int = 10
    cnn_eps: float = 0.031
    cnn_pgd_step: float = 0.0078
    cnn_pgd_steps: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        validate.choice("source", self.source, ("auto", "full", "offline"))
        validate.choice("emr_on", self.emr_on, ("clean", "adversarial"))
        for name in ("n_train", "n_test", "n_curve", "mlp_width", "mlp_depth", "epochs", "batch_size", "at_steps",
                     "pgd_steps", "cnn_n_train", "cnn_n_test", "cnn_n_curve", "cnn_epochs", "cnn_batch_size",
                     "cnn_at_steps", "cnn_pgd_steps", "cnn_lsoftmax_margin"):
            validate.positive(name, getattr(self, name))
        if not 1 <= self.lr_decay_epoch < self.epochs:
            raise ValueError(f"lr_decay_epoch={self.lr_decay_epoch} must lie in 1 .. epochs - 1 = {self.epochs - 1} "
                             f"(the learning rate and lambda_EMR are divided by 10 after it; epochs={self.epochs})")
        if not self.weight_decays:
            raise ValueError("weight_decays=() is empty: give at least one lambda_WD for the ST and ST+L-Softmax rows")
        if self.cnn and not self.cnn_weight_decays:
            raise ValueError("cnn_weight_decays=() is empty: give at least one lambda_WD for the CNN's ST rows")
        if any(m < 1 for m in self.cnn_milestones) or list(self.cnn_milestones) != sorted(self.cnn_milestones):
            raise ValueError(f"cnn_milestones={self.cnn_milestones!r} must be increasing epochs >= 1 (a milestone "
                             "after cnn_epochs never divides the learning rate, as in a dry run that cuts the epochs)")
        for name in ("weight_decays", "at_weight_decays", "cnn_weight_decays", "cnn_at_weight_decays"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name}={values!r} repeats a value: each (row, lambda_WD) is trained once")
            for value in values:
                validate.nonnegative(name, value)

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer widths of the MLP: ``mlp_depth`` layers of ``mlp_width`` (paper: 4 x 1024)."""
        return (self.mlp_width,) * self.mlp_depth


@dataclass(frozen=True)
class Protocol:
    """What §3 sets per model: its data set, network, sizes, schedule, lambda grids and weights, and its attack.

    :func:`mlp_protocol` (MNIST, the 4 x 1024 MLP, PGD20 at 0.1: Table 1) and :func:`cnn_protocol` (CIFAR-10, the
    CNN of Table 5, PGD10 at 0.031: Table 2) build it from the parameters; the rest (L-Softmax's annealing,
    Approx-EMR's temperature, the AT adversary's start, where EMR is taken under AT, ``seed``) is shared.
    ``milestones``: the learning rate and lambda_EMR are divided by 10 after each.
    """

    label: str
    dataset: str
    n_train: int
    n_test: int
    n_curve: int
    epochs: int
    milestones: tuple[int, ...]
    lr: float
    batch_size: int
    weight_decays: tuple[float, ...]
    at_weight_decays: tuple[float, ...]
    lsoftmax_margin: int
    emr_weight: float
    emr_weight_decay: float
    approx_weight: float
    at_emr_weight: float
    at_approx_weight: float
    eps: float
    pgd_step: float
    pgd_steps: int
    at_steps: int
    hidden: tuple[int, ...] = ()

    def new_model(self, seed: int) -> nn.Module:
        """A fresh network of this protocol: the MLP with ``hidden`` layers, or paper 002's CNN (Table 5)."""
        if self.label == "MLP":
            return models.build("mlp", hidden=self.hidden, seed=seed)
        return models.build("emr_cnn", seed=seed)


def mlp_protocol(p: Params) -> Protocol:
    """The MNIST MLP of Table 1 from the parameters without a prefix."""
    return Protocol("MLP", "mnist", p.n_train, p.n_test, p.n_curve, p.epochs, (p.lr_decay_epoch,), p.lr,
                    p.batch_size, p.weight_decays, p.at_weight_decays, p.lsoftmax_margin, p.emr_weight,
                    p.emr_weight_decay, p.approx_weight, p.at_emr_weight, p.at_emr_weight, p.eps, p.pgd_step,
                    p.pgd_steps, p.at_steps, hidden=p.hidden)


def cnn_protocol(p: Params) -> Protocol:
    """The CIFAR-10 CNN of Table 2 from the ``cnn_*`` parameters (paper 002, §3 and Tables 2, 5, 8)."""
    return Protocol("CNN", "cifar10", p.cnn_n_train, p.cnn_n_test, p.cnn_n_curve, p.cnn_epochs, p.cnn_milestones,
                    p.cnn_lr, p.cnn_batch_size, p.cnn_weight_decays, p.cnn_at_weight_decays, p.cnn_lsoftmax_margin,
                    p.cnn_emr_weight, p.cnn_emr_weight_decay, p.cnn_approx_weight, p.cnn_at_emr_weight,
                    p.cnn_at_approx_weight, p.cnn_eps, p.cnn_pgd_step, p.cnn_pgd_steps, p.cnn_at_steps)


# ----------------------------------------------------------------------------------------------------- Fig. 1a


@dataclass(frozen=True)
class SigmoidExample:
    """Paper 002, Fig. 1a: the binary logit ``f(x) = w x + b`` scaled by ``alpha`` or shifted by ``beta``.

    ``scaled[alpha]`` = sigmoid(alpha f(x)) and ``shifted`` = sigmoid(f(x) + beta) over ``x``;
    ``grad_w`` = ``|d XE / d w|`` at ``x0`` of the scaled logit, alpha (1 - sigmoid(alpha f(x0))) x0, over ``alpha``.
    """

    w: float
    b: float
    x0: float
    beta: float
    x: torch.Tensor
    scaled: dict[float, torch.Tensor]
    shifted: torch.Tensor
    alpha: torch.Tensor
    grad_w: torch.Tensor

    @property
    def margin(self) -> float:
        """The effective margin ``|f(x0)| / |w|`` of ``x0`` (eq. (3) in one dimension), whatever ``alpha``."""
        return abs(self.w * self.x0 + self.b) / abs(self.w)


def sigmoid_example(*, w: float = 1.0, b: float = -1.0, x0: float = 2.0, beta: float = 1.0,
                    alphas: tuple[float, ...] = (1.0, 2.0, 5.0)) -> SigmoidExample:
    """The closed forms behind Fig. 1a (boundary at ``x = -b / w`` = 1, sample ``x0`` = 2, effective margin 1)."""
    x = torch.linspace(-4, 6, 501)
    alpha = torch.linspace(1, 10, 200)
    return SigmoidExample(
        w=w, b=b, x0=x0, beta=beta, x=x,
        scaled={a: torch.sigmoid(a * (w * x + b)) for a in alphas},
        shifted=torch.sigmoid(w * x + b + beta),
        alpha=alpha,
        grad_w=alpha * (1 - torch.sigmoid(alpha * (w * x0 + b))) * x0)


def figure1a(ex: SigmoidExample) -> Figure:
    """Fig. 1a: (a) scaling vs. shifting the logit, (b) the vanishing gradient against the constant margin."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.6))
    for a, curve in ex.scaled.items():
        left.plot(ex.x, curve, label=f"$\\sigma(\\alpha f)$, $\\alpha$ = {a:g}")
    left.plot(ex.x, ex.shifted, color="0.4", ls="-.", label=f"$\\sigma(f + \\beta)$, $\\beta$ = {ex.beta:g}")
    left.axvline(-ex.b / ex.w, color="C3", ls="--", lw=1.2)
    left.axvline(-(ex.b + ex.beta) / ex.w, color="0.4", ls=":", lw=1.2)
    left.plot([ex.x0], [0.5], "k^")
    left.annotate("$x_0$", (ex.x0, 0.5), xytext=(5, -15), textcoords="offset points")
    left.set(xlabel="input $x$", ylabel="$\\sigma$", title="(a) logit scaling vs. shifting")
    left.legend(frameon=False, fontsize=8, loc="upper left")
    right.plot(ex.alpha, ex.grad_w, label="$|\\partial\\,\\mathrm{XE} / \\partial w|$ at $x_0$")
    right.plot(ex.alpha, torch.full_like(ex.alpha, ex.margin), ls="--", color="C3",
               label="effective margin $\\tilde m(x_0)$")
    right.set(xlabel="logit scale $\\alpha$", ylabel="value", title="(b) the gradient vanishes, the margin stays")
    right.legend(frameon=False)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------- the experiment


@dataclass(frozen=True)
class Row:
    """One training of Table 1: ``training`` "ST" or "AT", objective ``kind`` (a key of :data:`SUFFIX`), lambda_WD."""

    training: str
    kind: str
    weight_decay: float

    @property
    def name(self) -> str:
        """The row's name in Table 1, e.g. ``"AT+Approx-EMR"``."""
        return f"{self.training}{SUFFIX[self.kind]}"


def plan(p: Params, proto: Protocol | None = None) -> list[Row]:
    """Table 1's (with ``proto`` the CNN's: Table 2's) rows in training order: ST and ST+L-Softmax for every
    ``weight_decays``, ST+EMR and ST+Approx-EMR at ``emr_weight_decay``; then, with ``adversarial``, the same for AT
    with ``at_weight_decays``."""
    proto = proto or mlp_protocol(p)
    trainings = ("ST", "AT") if p.adversarial else ("ST",)
    rows = []
    for training in trainings:
        grid = proto.weight_decays if training == "ST" else proto.at_weight_decays
        rows += [Row(training, kind, wd) for kind in ("plain", "lsoftmax") for wd in grid]
        rows += [Row(training, kind, proto.emr_weight_decay) for kind in ("emr", "approx")]
    return rows


@dataclass(frozen=True)
class Splits:
    """The MNIST training and test sets, and their first ``n_curve`` points, tracked every epoch."""

    train: Dataset
    test: Dataset
    curve_train: Dataset
    curve_test: Dataset


def load_data(p: Params, proto: Protocol | None = None) -> Splits:
    """``n_train`` training and ``n_test`` test images of the protocol's data set (MNIST by default; ``source``),
    and the curve subsets."""
    proto = proto or mlp_protocol(p)
    train_data = data.load(proto.dataset, split="train", n=proto.n_train, seed=p.seed, source=p.source)
    test_data = data.load(proto.dataset, split="test", n=proto.n_test, seed=p.seed, source=p.source)
    return Splits(train_data, test_data, train_data.subset(torch.arange(min(proto.n_curve, len(train_data.y)))),
                  test_data.subset(torch.arange(min(proto.n_curve, len(test_data.y)))))


def load_cnn_data(p: Params) -> Splits | None:
    """CIFAR-10 for the CNN rows (``cnn_n_train``, ``cnn_n_test``, ``source``; offline: the labelled stand-in),
    ``None`` without ``cnn``."""
    return load_data(p, cnn_protocol(p)) if p.cnn else None


def adversary(p: Params, proto: Protocol | None = None) -> Method:
    """PGD adversarial training (eq. (6)): l-inf radius ``eps``, ``at_steps`` steps of ``pgd_step``, from a uniform
    random point of the ball (``at_random_start``) or from the clean point as the paper's evaluation PGD."""
    proto = proto or mlp_protocol(p)
    return methods.build("pgd_at", eps=proto.eps, step_size=proto.pgd_step, steps=proto.at_steps,
                         random_start=p.at_random_start)


def emr_weight(row: Row, p: Params, proto: Protocol | None = None) -> float | None:
    """lambda_EMR of ``row`` (``None`` for the rows without EMR): ``emr_weight`` / ``approx_weight`` under ST,
    ``at_emr_weight`` / the protocol's ``at_approx_weight`` under AT (the MLP: both ``at_emr_weight``)."""
    proto = proto or mlp_protocol(p)
    if row.kind not in ("emr", "approx"):
        return None
    if row.training == "AT":
        return proto.at_emr_weight if row.kind == "emr" else proto.at_approx_weight
    return proto.emr_weight if row.kind == "emr" else proto.approx_weight


def training_method(row: Row, p: Params, proto: Protocol | None = None) -> Method:
    """The objective of ``row``: cross-entropy (ST) or PGD AT; annealed L-Softmax (under AT: on the PGD batch,
    whose adversary maximizes the plain cross-entropy); or EMR, exact (eq. (5)) or Approx-EMR (eq. (7), temperature
    ``approx_temperature``) added to that base objective (Algorithm 1), under AT taken where ``emr_on`` says (the
    clean batch, or the PGD batch the objective trains on as Algorithm 1)."""
    proto = proto or mlp_protocol(p)
    if row.kind == "lsoftmax":
        loss = methods.build("lsoftmax_annealed", margin=proto.lsoftmax_margin, base=p.lsoftmax_base,
                             gamma=p.lsoftmax_gamma, power=p.lsoftmax_power)
        return (methods.build("on_adversary", attack=adversary(p, proto), inner=loss) if row.training == "AT"
                else loss)
    base = adversary(p, proto) if row.training == "AT" else None
    weight = emr_weight(row, p, proto)
    if weight is None:
        return base if base is not None else methods.build("standard")
    mode = "exact" if row.kind == "emr" else "approx"
    on = {"on": p.emr_on} if base is not None and p.emr_on != "clean" else {}
    return methods.build("emr", weight=weight, mode=mode, temperature=p.approx_temperature, base=base, **on)


@dataclass(frozen=True)
class Trained:
    """One trained row: its Table 1 numbers (:func:`effective_margins.table_row`), the mean effective margin of the
    curve points after every epoch (``curves["train"|"test"]``, epoch 0 first) and the training time."""

    row: Row
    lambda_emr: float | None
    numbers: dict[str, float]
    curves: dict[str, list[float]]
    seconds: float

    @property
    def key(self) -> str:
        """``"<name> wd=<lambda_WD>"``, the row's key in the record."""
        return f"{self.row.name} wd={self.row.weight_decay:g}"


@dataclass(frozen=True)
class Table1:
    """Every trained row of Table 1 in training order, with the data and attack they were measured on."""

    runs: list[Trained]
    source: str
    n_train: int
    n_test: int
    n_curve: int
    pgd_steps: int
    label: str = "MLP"

    def frame(self) -> pd.DataFrame:
        """One line per row: ``training``, ``lambda_emr``, ``lambda_wd`` and the numbers of ``table_row``."""
        return pd.DataFrame([{"training": r.row.name, "lambda_emr": r.lambda_emr, "lambda_wd": r.row.weight_decay,
                              **r.numbers} for r in self.runs])

    def get(self, name: str, wd: float | None = None) -> Trained:
        """The first row called ``name`` (at lambda_WD ``wd`` if given)."""
        for r in self.runs:
            if r.row.name == name and (wd is None or r.row.weight_decay == wd):
                return r
        raise KeyError(f"no row {name!r}" + (f" at lambda_wd={wd:g}" if wd is not None else ""))

    def pairs(self) -> list[str]:
        """The trainings ("ST", "AT") that have both an exact-EMR and an Approx-EMR row (Table 8)."""
        names = {r.row.name for r in self.runs}
        return [t for t in ("ST", "AT") if f"{t}+EMR" in names and f"{t}+Approx-EMR" in names]


#: the parameter names of each protocol's sizes (training images, epochs, curve points, test images): what its
#: work units scale with (:func:`marginlib.cost.work`)
SCALES = {"MLP": ("n_train", "epochs", "n_curve", "n_test"),
          "CNN": ("cnn_n_train", "cnn_epochs", "cnn_n_curve", "cnn_n_test")}


def _tracked(fn: Callable[[nn.Module, int], float], n_curve: str, epochs: str) -> Callable[[nn.Module, int], float]:
    """``fn`` as its own work unit (curve points x epochs), apart from the training around it."""
    def measure(model: nn.Module, epoch: int) -> float:
        with cost.work(n_curve, epochs):
            return fn(model, epoch)
    return measure


def train_row(row: Row, p: Params, splits: Splits, proto: Protocol | None = None) -> Trained:
    """Train a fresh network of the protocol (the MLP, ``hidden``; or the CNN; ``seed``) on ``row``'s objective by
    SGD (momentum 0.9, lambda_WD as the optimizer's weight decay; learning rate and lambda_EMR divided by 10 after
    each milestone, Algorithm 1), tracking the curve points' mean effective margin every epoch, then measure its
    Table 1 (Table 2) numbers."""
    proto = proto or mlp_protocol(p)
    method = training_method(row, p, proto)
    model = proto.new_model(p.seed)
    n_train, epochs, n_curve, n_test = SCALES[proto.label]
    trackers = {"train": _tracked(effective_margins.effective_tracker(splits.curve_train.x, splits.curve_train.y),
                                  n_curve, epochs),
                "test": _tracked(effective_margins.effective_tracker(splits.curve_test.x, splits.curve_test.y),
                                 n_curve, epochs)}
    t0 = time.perf_counter()
    with cost.work(n_train, epochs):
        history = train.fit(model, method, splits.train, epochs=proto.epochs, batch_size=proto.batch_size,
                            lr=proto.lr, momentum=MOMENTUM, weight_decay=row.weight_decay,
                            milestones=list(proto.milestones), gamma=DECAY, decay_regularizer=True, seed=p.seed,
                            eval_train=False, progress=False, callbacks=trackers)
    seconds = time.perf_counter() - t0
    numbers = effective_margins.table_row(model, splits.train, splits.test, eps=proto.eps,
                                          step_size=proto.pgd_step, steps=proto.pgd_steps,
                                          sizes=(n_train, n_test))
    curves = {split: [history.recorded[e][split] for e in sorted(history.recorded)] for split in ("train", "test")}
    return Trained(row, emr_weight(row, p, proto), numbers, curves, seconds)


def train_table2(p: Params, splits: Splits | None, *, log: Callable[[str], None] | None = print) -> Table1 | None:
    """With ``cnn``: every row of :func:`plan` on the CNN of Table 5 (paper 002, Table 2, Fig. 1c and Table 8's CNN
    rows), on ``splits`` from :func:`load_cnn_data`; ``None`` without it."""
    if not p.cnn or splits is None:
        return None
    return train_table1(p, splits, log=log, proto=cnn_protocol(p))


def train_table1(p: Params, splits: Splits, *, log: Callable[[str], None] | None = print,
                 proto: Protocol | None = None) -> Table1:
    """Train every row of :func:`plan` in order (paper 002, Table 1 and the MLP rows of Table 8; with ``proto``
    the CNN's, Table 2); ``log`` gets one line per row."""
    proto = proto or mlp_protocol(p)
    runs = []
    for row in plan(p, proto):
        r = train_row(row, p, splits, proto)
        runs.append(r)
        if log is not None:
            n = r.numbers
            log(f"{row.name:16s} wd={row.weight_decay:<7g} clean {n['clean_acc']:.3f}  PGD{p.pgd_steps} "
                f"{n['robust_acc']:.3f}  m_test {n['eff_margin_test_mean']:.3f}  ({r.seconds:.0f} s)")
    return Table1(runs, splits.train.source, len(splits.train.y), len(splits.test.y), len(splits.curve_train.y),
                  proto.pgd_steps, proto.label)


# ------------------------------------------------------------------------------------------ tables and figures


def _lambda(value: float | None) -> str:
    """A regularization weight as written in the paper (``0.001``, ``0.0003``), "—" when the row has none."""
    return "—" if value is None or math.isnan(value) else f"{value:g}"


def table1_frame(t: Table1) -> pd.DataFrame:
    """Table 1 as shown: accuracies in %, effective margins as mean ± std, the lambdas unrounded."""
    table = t.frame()
    shown = pd.DataFrame({"training": table["training"], "lambda_emr": table["lambda_emr"].map(_lambda),
                          "lambda_wd": table["lambda_wd"].map(_lambda),
                          "clean acc. (%)": (100 * table["clean_acc"]).round(2),
                          f"PGD{t.pgd_steps} (%)": (100 * table["robust_acc"]).round(2)})
    for split in ("train", "test"):
        shown[f"m_{split}"] = [f"{m:.2f} ± {s:.2f}" for m, s in
                               zip(table[f"eff_margin_{split}_mean"], table[f"eff_margin_{split}_std"])]
    return shown


def table8(t: Table1) -> pd.DataFrame:
    """Paper 002, Table 8 (MLP rows): robust accuracy (%), mean test effective margin and training seconds of exact
    EMR and Approx-EMR, one line per training that has both."""
    lines = {}
    for tr in t.pairs():
        exact, approx = t.get(f"{tr}+EMR"), t.get(f"{tr}+Approx-EMR")
        lines[tr] = {"EMR robust (%)": 100 * exact.numbers["robust_acc"],
                     "Approx-EMR robust (%)": 100 * approx.numbers["robust_acc"],
                     "EMR m_test": exact.numbers["eff_margin_test_mean"],
                     "Approx-EMR m_test": approx.numbers["eff_margin_test_mean"],
                     "EMR seconds": exact.seconds, "Approx-EMR seconds": approx.seconds}
    return pd.DataFrame(lines).T


def approx_gaps(t: Table1) -> dict[str, float]:
    """``|robust accuracy of exact EMR - Approx-EMR|`` (a fraction) for every training that has both (Table 8)."""
    return {tr: abs(t.get(f"{tr}+EMR").numbers["robust_acc"] - t.get(f"{tr}+Approx-EMR").numbers["robust_acc"])
            for tr in t.pairs()}


def most_robust_wd(t: Table1, name: str) -> float:
    """The lambda_WD of the first most robust row called ``name`` (ST, ST+LSoftmax: the curves of Fig. 1b)."""
    runs = [r for r in t.runs if r.row.name == name]
    return max(runs, key=lambda r: r.numbers["robust_acc"]).row.weight_decay


#: the panel titles of :func:`curves_figure` per protocol (the MLP: Figs. 1b, 1d, 2; the CNN: Figs. 2a, 1c, 2)
PANELS = {"MLP": ("(b) methods", "(d) ST, weight decay", "(Fig. 2) train (solid) / test (dotted)"),
          "CNN": ("(Fig. 2a) CNN, methods", "(c) CNN, ST, weight decay", "(Fig. 2) CNN, train (solid) / test (dotted)")}


def curves_figure(t: Table1) -> Figure:
    """Figs. 1b, 1d and 2 (MNIST; for the CNN's table: Figs. 2a, 1c and 2, CIFAR-10): the mean effective margin of
    the curve points after every epoch (epoch 0: initialization). (b) the methods, ST and ST+L-Softmax at their
    most robust lambda_WD, AT rows dashed; (d) ST at every lambda_WD; with AT rows, (Fig. 2) training (solid) and
    test (dotted) curves."""
    titles = PANELS[t.label]
    emr_wd = t.get("ST+EMR").row.weight_decay
    main = [("ST", most_robust_wd(t, "ST")), ("ST+LSoftmax", most_robust_wd(t, "ST+LSoftmax")),
            ("ST+EMR", emr_wd), ("ST+Approx-EMR", t.get("ST+Approx-EMR").row.weight_decay)]
    adv = [(r.row.name, r.row.weight_decay) for r in t.runs if r.row.training == "AT"]
    fig, axes = plt.subplots(1, 3 if adv else 2, figsize=(14 if adv else 10, 3.7), sharey=False)
    for (name, wd), ls in [(k, "-") for k in main] + [(k, "--") for k in adv]:
        curve = t.get(name, wd).curves["test"]
        axes[0].plot(range(len(curve)), curve, ls=ls, label=f"{name} ($\\lambda_{{WD}}$={wd:g})")
    axes[0].set(xlabel="epoch", ylabel="mean effective margin (test)", title=titles[0])
    axes[0].legend(frameon=False, fontsize=7)
    for r in (r for r in t.runs if r.row.name == "ST"):
        curve = r.curves["test"]
        axes[1].plot(range(len(curve)), curve, label=f"$\\lambda_{{WD}}$ = {r.row.weight_decay:g}")
    axes[1].set(xlabel="epoch", ylabel="mean effective margin (test)", title=titles[1])
    axes[1].legend(frameon=False, fontsize=8)
    if adv:
        for (name, wd), color in zip(main[:3] + adv[:3], ["C0", "C1", "C2"] * 2):
            for split, style in {"train": "-", "test": ":"}.items():
                curve = t.get(name, wd).curves[split]
                axes[2].plot(range(len(curve)), curve, color=color, ls=style,
                             alpha=1 if name.startswith("ST") else 0.5,
                             label=f"{name}, {split}" if split == "train" else None)
        axes[2].set(xlabel="epoch", ylabel="mean effective margin", title=titles[2])
        axes[2].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def _paper_rows(label: str) -> pd.DataFrame:
    """The paper's rows of one model: Table 1 (MLP) or Table 2 (CNN) with Table 8's Approx-EMR rows of it
    (accuracies in %)."""
    main = tables.read("paper002_table1" if label == "MLP" else "paper002_table2")
    t8 = tables.read("paper002_table8")
    approx = t8[(t8.model == label) & t8.training.str.contains("Approx")].drop(columns="model")
    return pd.concat([main, approx])


def paper_vs_book(t: Table1) -> pd.DataFrame:
    """The paper's Table 1 (for the CNN's table: Table 2) and Table 8's Approx-EMR rows of that model beside this
    run's rows, by (training, lambda_WD): accuracies in %, mean effective margins; blank where one side lacks the
    row."""
    paper = _paper_rows(t.label).set_index(["training", "lambda_wd"])[TABLE_COLUMNS]
    ours = t.frame().set_index(["training", "lambda_wd"])[TABLE_COLUMNS].copy()
    ours[["clean_acc", "robust_acc"]] *= 100
    side = paper.add_suffix(" (paper)").join(ours.add_suffix(" (book)"), how="outer")
    return side[[f"{c} ({w})" for c in TABLE_COLUMNS for w in ("paper", "book")]].round(2)


# --------------------------------------------------------------------------------------- record and prose

#: the baseline rows of each training in Table 1 (weight decay alone and L-Softmax, over the lambda_WD grid)
BASELINES = {"ST": ("ST", "ST+LSoftmax"), "AT": ("AT", "AT+LSoftmax")}


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts keyed by column name (a record's ``metrics["table"]`` form)."""
    return [{str(k): v for k, v in row.items()} for row in frame.to_dict(orient="records")]


def _num(value: Any) -> float:
    """A table cell as a float (``None``, a record's non-finite number, as NaN)."""
    return math.nan if value is None else float(value)


def _rows(table: list[dict[str, Any]], *names: str, trained: bool = False) -> list[dict[str, Any]]:
    """The rows of ``table`` called one of ``names`` (with ``trained``: only those with clean accuracy >=
    :data:`TRAINED`)."""
    return [r for r in table if r["training"] in names and (not trained or _num(r["clean_acc"]) >= TRAINED)]


def _max(rows: list[dict[str, Any]], column: str) -> float:
    """The largest finite ``column`` over ``rows`` (NaN when there is none)."""
    values = [v for v in (_num(r[column]) for r in rows) if math.isfinite(v)]
    return max(values) if values else math.nan


def _first(table: list[dict[str, Any]], name: str, column: str) -> float:
    """``column`` of the first row called ``name`` (NaN when there is none)."""
    rows = _rows(table, name)
    return _num(rows[0][column]) if rows else math.nan


def facts(table: list[dict[str, Any]]) -> dict[str, float]:
    """The numbers the claims decide on, from Table 1's rows (a record's ``metrics["table"]``, or the paper's from
    :func:`paper_table`; accuracies as fractions): EMR's and Approx-EMR's robust accuracy and effective margins, and
    the largest of each over the baseline rows (margins over the rows that trained, :data:`TRAINED`)."""
    st = sorted(_rows(table, "ST"), key=lambda r: _num(r["lambda_wd"]))
    smaller = st[:1]
    larger = [r for r in st[1:] if _num(r["clean_acc"]) >= TRAINED]
    at_base = _rows(table, *BASELINES["AT"])
    at_trained = _rows(table, *BASELINES["AT"], trained=True)
    return {
        "emr_robust": _first(table, "ST+EMR", "robust_acc"),
        "emr_m_test": _first(table, "ST+EMR", "eff_margin_test_mean"),
        "emr_m_train": _first(table, "ST+EMR", "eff_margin_train_mean"),
        "approx_robust": _first(table, "ST+Approx-EMR", "robust_acc"),
        "st_robust_max": _max(_rows(table, "ST"), "robust_acc"),
        "ls_robust_max": _max(_rows(table, "ST+LSoftmax"), "robust_acc"),
        "base_m_test_max": _max(_rows(table, *BASELINES["ST"], trained=True), "eff_margin_test_mean"),
        "n_base_trained": float(len(_rows(table, *BASELINES["ST"], trained=True))),
        "n_base": float(len(_rows(table, *BASELINES["ST"]))),
        "st_m_test_max": _max(_rows(table, "ST", trained=True), "eff_margin_test_mean"),
        "ls_m_test_max": _max(_rows(table, "ST+LSoftmax", trained=True), "eff_margin_test_mean"),
        "small_wd": _num(smaller[0]["lambda_wd"]) if smaller else math.nan,
        "small_wd_m_test": _max(smaller, "eff_margin_test_mean"),
        "larger_wd_m_test_min": min((_num(r["eff_margin_test_mean"]) for r in larger), default=math.nan),
        "n_larger_wd": float(len(larger)),
        "at_emr_robust": _first(table, "AT+EMR", "robust_acc"),
        "at_approx_robust": _first(table, "AT+Approx-EMR", "robust_acc"),
        "at_base_robust_max": _max(at_base, "robust_acc"),
        "at_emr_m_train": _first(table, "AT+EMR", "eff_margin_train_mean"),
        "at_emr_m_test": _first(table, "AT+EMR", "eff_margin_test_mean"),
        "at_base_m_train_max": _max(at_trained, "eff_margin_train_mean"),
        "at_base_m_test_max": _max(at_trained, "eff_margin_test_mean"),
    }


def decide(f: dict[str, float]) -> dict[str, tuple[bool, float]]:
    """Each claim of the section from :func:`facts`: whether it holds and the difference it decides on (accuracies
    in points, margins in pixel units; positive where the paper's statement holds, except
    ``approx_emr_below_emr``, EMR minus Approx-EMR). NaN (a row this run lacks) never holds."""
    pts = 100.0
    emr_over_st = f["emr_robust"] - f["st_robust_max"]
    ls_over_st = f["ls_robust_max"] - f["st_robust_max"]
    emr_over_ls = f["emr_robust"] - f["ls_robust_max"]
    margin = f["emr_m_test"] - f["base_m_test_max"]
    ls_margin = f["ls_m_test_max"] - f["st_m_test_max"]
    small_wd = f["larger_wd_m_test_min"] - f["small_wd_m_test"]
    approx_over_base = f["approx_robust"] - max(f["st_robust_max"], f["ls_robust_max"])
    approx_loss = f["emr_robust"] - f["approx_robust"]
    at_robust = min(f["at_emr_robust"], f["at_approx_robust"]) - f["at_base_robust_max"]
    at_train = f["at_emr_m_train"] - f["at_base_m_train_max"]
    at_test = f["at_emr_m_test"] - f["at_base_m_test_max"]
    return {
        "emr_larger_effective_margin": (margin > 0, margin),
        "emr_more_robust": (emr_over_st > 0, pts * emr_over_st),
        "lsoftmax_more_robust": (ls_over_st > 0, pts * ls_over_st),
        "emr_more_robust_than_lsoftmax": (emr_over_ls > 0, pts * emr_over_ls),
        "lsoftmax_larger_effective_margin": (ls_margin > 0, ls_margin),
        "small_wd_smaller_margin": (small_wd > 0, small_wd),
        "approx_emr_more_robust": (approx_over_base > 0, pts * approx_over_base),
        "approx_emr_below_emr": (approx_loss > 0, pts * approx_loss),
        "at_emr_more_robust": (at_robust > 0, pts * at_robust),
        "at_emr_larger_effective_margin": (at_train > 0 and at_test > 0, at_train),
    }


def paper_table(label: str = "MLP") -> list[dict[str, Any]]:
    """The paper's Table 1 (``label="CNN"``: Table 2) and Table 8's Approx-EMR rows of that model as Table 1 rows
    of a record (accuracies as fractions), for :func:`facts`."""
    rows = _records(_paper_rows(label))
    for r in rows:
        r["clean_acc"], r["robust_acc"] = r["clean_acc"] / 100, r["robust_acc"] / 100
    return rows


#: each claim's statement in the paper, with where it is (``paper=`` of the record)
STATEMENTS = {
    "emr_larger_effective_margin":
        '§3, Fig. 2a-b and Table 1 (top): on the MLP "EMR achieves the highest effective margin" (test margin '
        '2.24 vs at most 1.91 over the ST and L-Softmax rows that train)',
    "emr_more_robust":
        '§3, Table 1 (top), observation a): "increasing λ_WD cannot achieve adversarial robustness that is '
        'comparable with L-Softmax or EMR" (the EMR half: 87.56 vs at most 48.41)',
    "lsoftmax_more_robust":
        '§3, Table 1 (top), observation a): "increasing λ_WD cannot achieve adversarial robustness that is '
        'comparable with L-Softmax or EMR" (the L-Softmax half: at most 60.59 vs at most 48.41)',
    "emr_more_robust_than_lsoftmax":
        '§3, Table 1 (top), observation b): "the adversarial robustness of training with EMR is substantially '
        'higher than training with L-Softmax" (87.56 vs at most 60.59)',
    "lsoftmax_larger_effective_margin":
        '§3, Fig. 2a-b: "L-Softmax has a benefit on the effective margins for MLP" (Table 1: test margin at most '
        '1.91 vs at most 1.31 for ST)',
    "small_wd_smaller_margin":
        '§3, Fig. 1c-d: "Training without weight decay (WD) or with small λ_WD leads to smaller effective margins" '
        '(Table 1, ST: 0.79 at λ_WD = 1e-4 vs at least 1.02 at the larger λ_WD)',
    "approx_emr_more_robust":
        'App., Table 8 with Table 1: "The approximation achieves a comparable performance" (MLP, ST: Approx-EMR '
        '77.09 vs at most 60.59 for the ST and L-Softmax rows)',
    "approx_emr_below_emr":
        'App., Table 8 (MLP, ST): Approx-EMR 77.09 vs exact EMR 87.56 PGD20 accuracy, 10.47 points lower',
    "at_emr_more_robust":
        '§3, Tables 1 (bottom) and 8: "we still observe improved robustness for both models using EMR" (MLP: '
        'AT+EMR 92.78 and AT+Approx-EMR 92.76 vs at most 92.62 for AT and AT+L-Softmax)',
    "at_emr_larger_effective_margin":
        '§3, Fig. 2c-d and Table 1 (bottom): "we still observe an increase of effective margin compared with the '
        'two baselines" (AT+EMR training margin 3.83 vs at most 1.21, test 2.42 vs at most 2.35)',
}


#: the CNN's claims (Table 2, Fig. 1c, Table 8's CNN rows): each is the MLP claim named beside it, decided alike
#: on the CNN's rows (:func:`decide`); the paper's L-Softmax and AT-margin statements differ for the CNN (L-Softmax
#: "does not have a benefit over ST", and AT+EMR's margin in Table 2 is not above AT's), so they have none
CNN_CLAIMS = {
    "cnn_emr_larger_effective_margin": "emr_larger_effective_margin",
    "cnn_emr_more_robust": "emr_more_robust",
    "cnn_emr_more_robust_than_lsoftmax": "emr_more_robust_than_lsoftmax",
    "cnn_small_wd_smaller_margin": "small_wd_smaller_margin",
    "cnn_approx_emr_more_robust": "approx_emr_more_robust",
    "cnn_at_emr_more_robust": "at_emr_more_robust",
}
CNN_STATEMENTS = {
    "cnn_emr_larger_effective_margin":
        '§3, Fig. 2a and Table 2 (top): "on both architectures, EMR achieves the highest effective margin" (CNN '
        'test margin 0.70 vs at most 0.43 over the ST and L-Softmax rows)',
    "cnn_emr_more_robust":
        '§3, Table 2 (top): "EMR still substantially improves the robustness" (PGD10 16.37 vs at most 4.19 for ST)',
    "cnn_emr_more_robust_than_lsoftmax":
        '§3, Table 2 (top): "L-Softmax does not have a benefit over ST in this case, while EMR still substantially '
        'improves the robustness" (16.37 vs at most 4.90)',
    "cnn_small_wd_smaller_margin":
        '§3, Fig. 1c: on CIFAR-10, "training without weight decay (WD) or with small λ_WD leads to smaller effective '
        'margins" (Table 2, ST: 0.23 at λ_WD = 1e-4 vs at least 0.30 at the larger λ_WD)',
    "cnn_approx_emr_more_robust":
        'App., Table 8 (CNN, ST): "The approximation achieves a comparable performance in both models" (Approx-EMR '
        '15.05 vs at most 4.90 for the ST and L-Softmax rows of Table 2)',
    "cnn_at_emr_more_robust":
        '§3, Tables 2 (bottom) and 8: "we still observe improved robustness for both models using EMR" (CNN: AT+EMR '
        '33.41 and AT+Approx-EMR 33.63 vs at most 32.96 for AT and AT+L-Softmax)',
}


def details(f: dict[str, float], pgd_steps: int) -> dict[str, str]:
    """This run's numbers behind each claim (``detail=`` of the record)."""
    pgd = f"PGD{pgd_steps}"
    trained = (f"the {f['n_base_trained']:.0f} ST / ST+L-Softmax rows with clean accuracy >= {TRAINED:.0%} "
               f"({f['n_base'] - f['n_base_trained']:.0f} below it excluded)")
    return {
        "emr_larger_effective_margin":
            f"ST+EMR test effective margin {f['emr_m_test']:.3f} vs max {f['base_m_test_max']:.3f} over {trained}",
        "emr_more_robust":
            f"{pgd} accuracy: ST+EMR {f['emr_robust']:.3f} vs max {f['st_robust_max']:.3f} over the ST rows",
        "lsoftmax_more_robust":
            f"{pgd} accuracy: max {f['ls_robust_max']:.3f} over the ST+L-Softmax rows vs max "
            f"{f['st_robust_max']:.3f} over the ST rows",
        "emr_more_robust_than_lsoftmax":
            f"{pgd} accuracy: ST+EMR {f['emr_robust']:.3f} vs max {f['ls_robust_max']:.3f} over the ST+L-Softmax "
            f"rows",
        "lsoftmax_larger_effective_margin":
            f"test effective margin: max {f['ls_m_test_max']:.3f} over the ST+L-Softmax rows vs max "
            f"{f['st_m_test_max']:.3f} over the ST rows (rows with clean accuracy >= {TRAINED:.0%})",
        "small_wd_smaller_margin":
            f"ST test effective margin {f['small_wd_m_test']:.3f} at the smallest lambda_WD ({f['small_wd']:g}) vs "
            f"min {f['larger_wd_m_test_min']:.3f} over the {f['n_larger_wd']:.0f} ST rows with a larger lambda_WD "
            f"that train" + (" (none, so it cannot hold)" if f["n_larger_wd"] == 0 else ""),
        "approx_emr_more_robust":
            f"{pgd} accuracy: ST+Approx-EMR {f['approx_robust']:.3f} vs max "
            f"{max(f['st_robust_max'], f['ls_robust_max']):.3f} over the ST and ST+L-Softmax rows",
        "approx_emr_below_emr":
            f"{pgd} accuracy: ST+Approx-EMR {f['approx_robust']:.3f} vs ST+EMR {f['emr_robust']:.3f}",
        "at_emr_more_robust":
            f"{pgd} accuracy: AT+EMR {f['at_emr_robust']:.3f}, AT+Approx-EMR {f['at_approx_robust']:.3f} vs max "
            f"{f['at_base_robust_max']:.3f} over the AT and AT+L-Softmax rows"
            + ("" if math.isfinite(f["at_emr_robust"]) else " (no AT rows in this run, so it cannot hold)"),
        "at_emr_larger_effective_margin":
            f"AT+EMR effective margin train {f['at_emr_m_train']:.3f}, test {f['at_emr_m_test']:.3f} vs max "
            f"{f['at_base_m_train_max']:.3f} and {f['at_base_m_test_max']:.3f} over the AT and AT+L-Softmax rows "
            f"with clean accuracy >= {TRAINED:.0%}",
    }


def _table_metrics(t: Table1) -> dict[str, Any]:
    """One model's metrics: its table, curves, training seconds and Table 8 rows."""
    table = t.frame()
    return {"source": t.source, "n_train": t.n_train, "n_test": t.n_test,
            "table": table.to_dict(orient="records"),
            "curves": {r.key: r.curves for r in t.runs},
            "seconds": {r.key: r.seconds for r in t.runs},
            "approx_vs_exact": table8(t).to_dict(orient="index")}


def record(t: Table1, ex: SigmoidExample, p: Params, t2: Table1 | None = None) -> dict[str, dict[str, Any]]:
    """The section's record: Table 1, the curves, the training times, Table 8 and Fig. 1a as metrics, and the
    claims of paper 002 §3-4 this run checks (:data:`STATEMENTS`; margins over the rows that train,
    :data:`TRAINED`), each with its difference beside the paper's, computed alike from the paper's tables. With
    the CNN's table ``t2`` (``cnn``), its metrics under ``"cnn"`` and the claims :data:`CNN_CLAIMS`."""
    metrics: dict[str, Any] = {**_table_metrics(t), "fig1a": {"alpha": ex.alpha, "grad_w": ex.grad_w}}
    ours = facts(metrics["table"])
    paper = decide(facts(paper_table()))
    text = details(ours, p.pgd_steps)
    claims = {name: claim(holds, detail=text[name], paper=STATEMENTS[name],
                          value=value if math.isfinite(value) else None, paper_value=round(paper[name][1], 6))
              for name, (holds, value) in decide(ours).items()}
    if t2 is not None:
        metrics["cnn"] = _table_metrics(t2)
        cnn_facts = facts(metrics["cnn"]["table"])
        cnn_ours, cnn_paper = decide(cnn_facts), decide(facts(paper_table("CNN")))
        cnn_text = details(cnn_facts, t2.pgd_steps)
        for name, mlp_name in CNN_CLAIMS.items():
            holds, value = cnn_ours[mlp_name]
            claims[name] = claim(holds, detail="CNN, " + cnn_text[mlp_name], paper=CNN_STATEMENTS[name],
                                 value=value if math.isfinite(value) else None,
                                 paper_value=round(cnn_paper[mlp_name][1], 6))
    return {"metrics": metrics, "claims": claims}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers the claims and the prose compare, from a record's ``metrics`` (accuracies in %): robust accuracy
    and test effective margin of ST+EMR against the best ST / ST+L-Softmax row, Approx-EMR's robust accuracy, and
    under AT the robust accuracy and training margin of AT+EMR against the best baseline (only the finite ones)."""
    f = facts(metrics["table"])
    values = {
        "ST+EMR robust acc (%)": 100 * f["emr_robust"],
        "best ST robust acc (%)": 100 * f["st_robust_max"],
        "best ST+LSoftmax robust acc (%)": 100 * f["ls_robust_max"],
        "ST+Approx-EMR robust acc (%)": 100 * f["approx_robust"],
        "ST+EMR test margin": f["emr_m_test"],
        "best ST test margin": f["st_m_test_max"],
        "best ST+LSoftmax test margin": f["ls_m_test_max"],
        "best AT / AT+LSoftmax robust acc (%)": 100 * f["at_base_robust_max"],
        "AT+EMR robust acc (%)": 100 * f["at_emr_robust"],
        "AT+Approx-EMR robust acc (%)": 100 * f["at_approx_robust"],
        "AT+EMR train margin": f["at_emr_m_train"],
        "best AT / AT+LSoftmax train margin": f["at_base_m_train_max"],
    }
    return {k: float(v) for k, v in values.items() if math.isfinite(v)}


def best(t: Table1, name: str, column: str) -> float:
    """The largest ``column`` of Table 1 (a key of :func:`effective_margins.table_row`) over the rows ``name``."""
    return max(r.numbers[column] for r in t.runs if r.row.name == name)


def _observations(f: dict[str, float]) -> str:
    """The paper's observations a) and b) on Table 1 (top), as this run shows them."""
    a_emr, a_ls = f["emr_robust"] > f["st_robust_max"], f["ls_robust_max"] > f["st_robust_max"]
    if a_emr and a_ls:
        a = ("Both halves of the paper's observation a) hold here: no λ_WD brings ST to the robustness of L-Softmax "
             "or EMR")
    elif a_emr:
        a = ("Observation a) holds only in half here: no λ_WD brings ST to EMR's robustness, but the best ST row is "
             "at least as robust as the best L-Softmax row")
    elif a_ls:
        a = "Observation a) holds only in half here: L-Softmax is more robust than every ST row, but EMR is not"
    else:
        a = "Observation a) does not hold here: the best ST row is at least as robust as L-Softmax and EMR"
    if f["emr_robust"] > f["ls_robust_max"]:
        b = "observation b) holds: ST+EMR is more robust than ST+L-Softmax at every λ_WD"
    else:
        b = "observation b) does not: the best ST+L-Softmax row is at least as robust as ST+EMR"
    return f"{a}; {b}."


def _ratio(train_m: float, test_m: float) -> float:
    return train_m / test_m if test_m > 0 else math.nan


def _curve_text(curve: list[float]) -> str:
    """Where a mean-margin curve peaks and ends (epoch 0: initialization)."""
    peak = max(range(len(curve)), key=lambda e: curve[e] if math.isfinite(curve[e]) else -math.inf)
    end = len(curve) - 1
    if peak == end:
        return f"rises to {curve[end]:.2f} at the last epoch ({end}), its highest value"
    return (f"peaks at {curve[peak]:.2f} after epoch {peak} and ends at {curve[end]:.2f} after epoch {end}")


def cnn_frame(t2: Table1 | None) -> pd.DataFrame:
    """Table 2 as this run measured it (:func:`table1_frame`), or, when the CNN was not trained, the paper's Table 2
    with Table 8's CNN Approx-EMR rows (accuracies in %)."""
    if t2 is not None:
        return table1_frame(t2)
    return _paper_rows("CNN").reset_index(drop=True)


def cnn_figure(t2: Table1 | None) -> Figure:
    """Figs. 1c, 2a and 2 (CIFAR-10 panels) of the CNN's run; when it was not trained, the paper's Table 2 (with
    Table 8's CNN Approx-EMR rows) drawn instead: each row's mean test effective margin (left) and PGD10 accuracy
    (right), the ST rows ordered by lambda_WD (the end points of Fig. 1c)."""
    if t2 is not None:
        return curves_figure(t2)
    rows = _paper_rows("CNN")
    labels = [f"{r['training']}\n" + (f"λ_WD={float(r['lambda_wd']):g}" if str(r["lambda_emr"]) in ("—", "nan")
                                        else f"λ={r['lambda_emr']}") for r in _records(rows)]
    colors = ["C0" if n.startswith("ST") else "C1" for n in rows.training]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.8))
    left.bar(range(len(rows)), rows.eff_margin_test_mean, yerr=rows.eff_margin_test_std, color=colors, capsize=2)
    left.set(ylabel="mean test effective margin", title="paper 002, Table 2: test effective margin (CNN)")
    right.bar(range(len(rows)), rows.robust_acc, color=colors)
    right.set(ylabel="PGD10 accuracy (%)", title="paper 002, Table 2: PGD10 accuracy (CNN)")
    for ax in (left, right):
        ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=6)
    fig.tight_layout()
    return fig


def _cnn_quoted(t2: Table1 | None, p: Params) -> dict[str, object]:
    """The CNN's numbers and sentences for the page (placeholders when it was not trained)."""
    if t2 is None:
        none = ("the CNN is not trained at this profile (`cnn` is false; the `paper` profile trains it, and "
                "`-p cnn true` adds it to any run); the table shows the paper's numbers")
        return {"cnn_run_text": none, "cnn_result_text": "no CNN rows were trained in this run",
                "cnn_wd_text": "no CNN rows were trained in this run",
                "cnn_figure_text": ("not trained in this run, so the figure shows the paper's Table 2 (with Table 8's "
                                    "Approx-EMR rows): each row's mean test effective margin with its standard "
                                    "deviation (left) and PGD10 accuracy (right); ST rows blue, AT rows orange")}
    f = facts(_records(t2.frame()))
    st_wd = sorted((r for r in t2.runs if r.row.name == "ST"), key=lambda r: -r.row.weight_decay)
    standin = " (the labelled synthetic stand-in, not CIFAR-10: its numbers say nothing about CIFAR-10)" if (
        "stand-in" in t2.source) else ""
    return {
        "cnn_run_text": (f"the CNN was trained on {t2.n_train:,} images of {t2.source}{standin}, "
                         f"{p.cnn_epochs} epochs, and tested on {t2.n_test:,}"),
        "cnn_result_text": (f"ST+EMR reaches {100 * f['emr_robust']:.1f}% PGD{t2.pgd_steps} accuracy against at most "
                            f"{100 * f['st_robust_max']:.1f}% for ST and {100 * f['ls_robust_max']:.1f}% for "
                            f"ST+L-Softmax, with a mean test effective margin of {f['emr_m_test']:.2f} against at "
                            f"most {f['base_m_test_max']:.2f}; ST+Approx-EMR reaches "
                            f"{100 * f['approx_robust']:.1f}%"
                            + (f"; under AT, AT+EMR {100 * f['at_emr_robust']:.1f}% and AT+Approx-EMR "
                               f"{100 * f['at_approx_robust']:.1f}% against at most "
                               f"{100 * f['at_base_robust_max']:.1f}% for AT and AT+L-Softmax"
                               if math.isfinite(f["at_emr_robust"]) else "")),
        "cnn_figure_text": ("this run's mean effective margin of the tracked points after each epoch: (Fig. 2a) the "
                            "methods, ST and ST+L-Softmax at their most robust λ_WD, AT rows dashed; (Fig. 1c) ST at "
                            "each λ_WD; right, training (solid) and test (dotted) curves" + standin),
        "cnn_wd_text": "the ST rows' test margins are " + ", ".join(
            f"{r.numbers['eff_margin_test_mean']:.2f} at λ_WD = {r.row.weight_decay:g}" for r in st_wd),
    }


def quoted(t: Table1, ex: SigmoidExample, p: Params, t2: Table1 | None = None) -> dict[str, object]:
    """The numbers and phrases the page glues (``{glue:text}`` names of the notebook's prose); with the CNN's
    table ``t2``, its sentences (placeholders without it)."""
    emr, approx = t.get("ST+EMR"), t.get("ST+Approx-EMR")
    table = _records(t.frame())
    f = facts(table)
    others = [_ratio(_num(r["eff_margin_train_mean"]), _num(r["eff_margin_test_mean"]))
              for r in _rows(table, *BASELINES["ST"], trained=True)]
    others = [r for r in others if math.isfinite(r)]
    emr_ratio = _ratio(f["emr_m_train"], f["emr_m_test"])
    other_max = max(others, default=math.nan)
    if emr_ratio > other_max:
        train_gap = (f"larger than for any ST or ST+L-Softmax row that trains (at most {other_max:.2f}), as in "
                     "the paper, though by much less")
    else:
        train_gap = (f"no larger than for the ST and ST+L-Softmax rows (up to {other_max:.2f}): the paper's pattern "
                     "does not show in this run")
    st_wd = sorted((r for r in t.runs if r.row.name == "ST"), key=lambda r: -r.row.weight_decay)
    gap = 100 * (emr.numbers["robust_acc"] - approx.numbers["robust_acc"])
    if gap > 0:
        approx_text = (f"{gap:.1f} points below exact EMR, the direction of Table 8 "
                       "(`approx_emr_below_emr` holds)")
    else:
        approx_text = (f"{-gap:.1f} points above exact EMR (or level with it): Table 8's loss does not show in this "
                       "run (`approx_emr_below_emr` fails)")
    values: dict[str, object] = {
        "grad_alpha1": float(ex.grad_w[0]), "grad_alpha10": float(ex.grad_w[-1]),
        "emr_m_test": emr.numbers["eff_margin_test_mean"], "emr_robust": 100 * emr.numbers["robust_acc"],
        "emr_m_train": emr.numbers["eff_margin_train_mean"],
        "emr_clean": 100 * emr.numbers["clean_acc"],
        "best_st_robust": 100 * best(t, "ST", "robust_acc"), "best_st_m": best(t, "ST", "eff_margin_test_mean"),
        "best_ls_m": best(t, "ST+LSoftmax", "eff_margin_test_mean"),
        "best_ls_robust": 100 * best(t, "ST+LSoftmax", "robust_acc"),
        "approx_robust": 100 * approx.numbers["robust_acc"],
        "observations_text": _observations(f),
        "emr_train_test_ratio": emr_ratio,
        "train_gap_text": train_gap,
        "emr_curve_text": _curve_text(emr.curves["test"]),
        "st_curve_text": _curve_text(t.get("ST", most_robust_wd(t, "ST")).curves["test"]),
        "st_curve_wd": f"{most_robust_wd(t, 'ST'):g}",
        "wd_curve_end_text": ", ".join(f"{r.curves['test'][-1]:.2f} at λ_WD = {r.row.weight_decay:g}" for r in st_wd),
        "wd_margin_text": ", ".join(f"{r.numbers['eff_margin_test_mean']:.2f} at λ_WD = {r.row.weight_decay:g}"
                                    for r in st_wd),
        "n_curve_text": f"{t.n_curve}",
        "approx_gap_st": abs(gap),
        "approx_text": approx_text,
        "approx_speedup": emr.seconds / approx.seconds,
        "image_points": 100 / t.n_test,
        "n_train_text": f"{t.n_train:,} MNIST training images ({t.source})",
        "n_test_text": f"{t.n_test:,}",
        "arch_text": f"{p.mlp_depth} hidden layers of {p.mlp_width}",
        "epochs_text": str(p.epochs),
        "decay_text": str(p.lr_decay_epoch),
        "lr_text": f"{p.lr:g}",
        "wd_text": ", ".join(f"{w:g}" for w in p.weight_decays),
        "at_steps_text": str(p.at_steps),
        "at_wd_text": ", ".join(f"{w:g}" for w in p.at_weight_decays),
        "approx_t_text": f"{p.approx_temperature:g}",
        "trained_text": f"{TRAINED:.0%}",
        "at_start_text": "a uniform random point of the ε-ball" if p.at_random_start else
                         "the clean point, as the evaluation's PGD",
        "emr_on_text": "the clean batch" if p.emr_on == "clean" else "the PGD batch the objective trains on",
    }
    return values | _at_quoted(t, f) | _cnn_quoted(t2, p)


def _at_quoted(t: Table1, f: dict[str, float]) -> dict[str, object]:
    """The AT rows' numbers and sentences (placeholders when this run trained none)."""
    names = {r.row.name for r in t.runs}
    if "AT+EMR" not in names:
        none = "no AT rows were trained in this run (`-p adversarial false`)"
        return {"at_text": none, "at_margin_text": none, "at_largest_margin_text": none}
    robust, margin = decide(f)["at_emr_more_robust"][0], decide(f)["at_emr_larger_effective_margin"][0]
    at = [r for r in t.runs if r.row.training == "AT"]
    largest = max(at, key=lambda r: r.numbers["eff_margin_test_mean"]
                  if math.isfinite(r.numbers["eff_margin_test_mean"]) else -math.inf)
    return {
        "at_text": (f"AT+EMR reaches {100 * f['at_emr_robust']:.1f}% and AT+Approx-EMR "
                    f"{100 * f['at_approx_robust']:.1f}% PGD accuracy, against at most "
                    f"{100 * f['at_base_robust_max']:.1f}% for AT and AT+L-Softmax: "
                    + ("EMR's small gain under AT shows here too" if robust else
                       "EMR's gain under AT does not show in this run")),
        "at_margin_text": (f"AT+EMR's training effective margin is {f['at_emr_m_train']:.2f} against at most "
                           f"{f['at_base_m_train_max']:.2f} for the AT baselines (test: {f['at_emr_m_test']:.2f} "
                           f"vs {f['at_base_m_test_max']:.2f}): "
                           + ("larger, as in Fig. 2c-d" if margin else "the paper's margin increase does not show")),
        "at_largest_margin_text": f"{largest.row.name} has the largest test effective margin of the AT rows",
    }
