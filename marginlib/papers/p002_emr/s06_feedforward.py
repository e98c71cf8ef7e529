"""Paper 002 §3-4 on a feedforward network: effective margins, EMR and Approx-EMR on an MNIST MLP.

Notebook: ``notebooks/06_emr_feedforward.ipynb``. Reproduces Fig. 1a (cross-entropy's gradient vanishes under logit
scaling while the effective margin stays), Table 1 (ST / ST+L-Softmax / ST+EMR / ST+Approx-EMR and their AT
counterparts: clean and PGD20 accuracy, effective margins of eq. (3) on the training and test sets), Figs. 1b, 1d
and 2 (MNIST panels: mean test / training effective margin after every epoch) and the MLP rows of Table 8 (exact
EMR, eq. (5), against Approx-EMR, eq. (7) and Algorithm 1). The CNN on CIFAR-10 (Table 2, Figs. 1c, 5) and the
robust-accuracy training curves (Fig. 4) are not run in this section.

Flow: :func:`sigmoid_example` / :func:`figure1a`; :func:`load_data`, :func:`train_table1` (every row of
:func:`plan`, in that order, each a fresh MLP from ``seed``); :func:`table1_frame`, :func:`curves_figure`,
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

from marginlib import data, methods, models, train, validate
from marginlib.book.results import claim
from marginlib.data import Dataset
from marginlib.methods import Method
from marginlib.papers import tables
from marginlib.papers.p002_emr import effective_margins

NOTEBOOK = "06_emr_feedforward"

#: claim ``emr_larger_effective_margin`` compares ST+EMR only with the ST / ST+L-Softmax rows whose clean accuracy
#: is at least this (models that trained: the paper's own Table 1 has a 17.83%-accurate L-Softmax row with a
#: larger margin, which it does not count against EMR)
TRAINED = 0.5
#: claim ``approx_emr_close``: |robust accuracy of Approx-EMR - exact EMR| at most 5 points, for every training
CLOSE = 0.05
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
    seed: int = 0

    def __post_init__(self) -> None:
        validate.choice("source", self.source, ("auto", "full", "offline"))
        for name in ("n_train", "n_test", "n_curve", "mlp_width", "mlp_depth", "epochs", "batch_size", "at_steps",
                     "pgd_steps"):
            validate.positive(name, getattr(self, name))
        if not 1 <= self.lr_decay_epoch < self.epochs:
            raise ValueError(f"lr_decay_epoch={self.lr_decay_epoch} must lie in 1 .. epochs - 1 = {self.epochs - 1} "
                             f"(the learning rate and lambda_EMR are divided by 10 after it; epochs={self.epochs})")
        if not self.weight_decays:
            raise ValueError("weight_decays=() is empty: give at least one lambda_WD for the ST and ST+L-Softmax rows")
        for name in ("weight_decays", "at_weight_decays"):
            values = getattr(self, name)
            if len(set(values)) != len(values):
                raise ValueError(f"{name}={values!r} repeats a value: each (row, lambda_WD) is trained once")
            for value in values:
                validate.nonnegative(name, value)

    @property
    def hidden(self) -> tuple[int, ...]:
        """Hidden layer widths of the MLP: ``mlp_depth`` layers of ``mlp_width`` (paper: 4 x 1024)."""
        return (self.mlp_width,) * self.mlp_depth


# ----------------------------------------------------------------------------------------------------- Fig. 1a


@dataclass(frozen=True)
class SigmoidExample:
    """Paper 002, Fig. 1a: the binary logit ``f(x) = w x + b`` scaled by ``alpha`` or shifted by ``beta``.

    ``scaled[alpha]`` = sigmoid(alpha f(x)) and ``shifted`` = sigmoid(f(x) + beta) over ``x``;
    ``grad_w`` = |d XE / d w| at ``x0`` of the scaled logit, alpha (1 - sigmoid(alpha f(x0))) x0, over ``alpha``.
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
        """The effective margin |f(x0)| / |w| of ``x0`` (eq. (3) in one dimension), whatever ``alpha``."""
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


def plan(p: Params) -> list[Row]:
    """Table 1's rows in training order: ST and ST+L-Softmax for every ``weight_decays``, ST+EMR and ST+Approx-EMR
    at ``emr_weight_decay``; then, with ``adversarial``, the same for AT with ``at_weight_decays``."""
    trainings = ("ST", "AT") if p.adversarial else ("ST",)
    rows = []
    for training in trainings:
        grid = p.weight_decays if training == "ST" else p.at_weight_decays
        rows += [Row(training, kind, wd) for kind in ("plain", "lsoftmax") for wd in grid]
        rows += [Row(training, kind, p.emr_weight_decay) for kind in ("emr", "approx")]
    return rows


@dataclass(frozen=True)
class Splits:
    """The MNIST training and test sets, and their first ``n_curve`` points, tracked every epoch."""

    train: Dataset
    test: Dataset
    curve_train: Dataset
    curve_test: Dataset


def load_data(p: Params) -> Splits:
    """``n_train`` training and ``n_test`` test images of MNIST (``source``), and the curve subsets."""
    train_data = data.load("mnist", split="train", n=p.n_train, seed=p.seed, source=p.source)
    test_data = data.load("mnist", split="test", n=p.n_test, seed=p.seed, source=p.source)
    return Splits(train_data, test_data, train_data.subset(torch.arange(min(p.n_curve, len(train_data.y)))),
                  test_data.subset(torch.arange(min(p.n_curve, len(test_data.y)))))


def adversary(p: Params) -> Method:
    """PGD adversarial training (eq. (6)): l-inf radius ``eps``, ``at_steps`` steps of ``pgd_step``."""
    return methods.build("pgd_at", eps=p.eps, step_size=p.pgd_step, steps=p.at_steps)


def emr_weight(row: Row, p: Params) -> float | None:
    """lambda_EMR of ``row`` (``None`` for the rows without EMR): ``emr_weight`` / ``approx_weight`` under ST,
    ``at_emr_weight`` under AT."""
    if row.kind not in ("emr", "approx"):
        return None
    if row.training == "AT":
        return p.at_emr_weight
    return p.emr_weight if row.kind == "emr" else p.approx_weight


def training_method(row: Row, p: Params) -> Method:
    """The objective of ``row``: cross-entropy (ST) or PGD AT; annealed L-Softmax (under AT: on the PGD batch,
    whose adversary maximizes the plain cross-entropy); or EMR on the clean batch, exact (eq. (5)) or Approx-EMR
    (eq. (7), temperature ``approx_temperature``) added to that base objective (Algorithm 1)."""
    if row.kind == "lsoftmax":
        loss = methods.build("lsoftmax_annealed", margin=p.lsoftmax_margin, base=p.lsoftmax_base,
                             gamma=p.lsoftmax_gamma, power=p.lsoftmax_power)
        return methods.build("on_adversary", attack=adversary(p), inner=loss) if row.training == "AT" else loss
    base = adversary(p) if row.training == "AT" else None
    weight = emr_weight(row, p)
    if weight is None:
        return base if base is not None else methods.build("standard")
    mode = "exact" if row.kind == "emr" else "approx"
    return methods.build("emr", weight=weight, mode=mode, temperature=p.approx_temperature, base=base)


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


def train_row(row: Row, p: Params, splits: Splits) -> Trained:
    """Train a fresh MLP (``hidden``, ``seed``) on ``row``'s objective by SGD (momentum 0.9, lambda_WD as the
    optimizer's weight decay; learning rate and lambda_EMR divided by 10 after ``lr_decay_epoch``, Algorithm 1),
    tracking the curve points' mean effective margin every epoch, then measure its Table 1 numbers."""
    method = training_method(row, p)
    model = models.build("mlp", hidden=p.hidden, seed=p.seed)
    trackers = {"train": effective_margins.effective_tracker(splits.curve_train.x, splits.curve_train.y),
                "test": effective_margins.effective_tracker(splits.curve_test.x, splits.curve_test.y)}
    t0 = time.perf_counter()
    history = train.fit(model, method, splits.train, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr,
                        momentum=MOMENTUM, weight_decay=row.weight_decay, milestones=[p.lr_decay_epoch], gamma=DECAY,
                        decay_regularizer=True, seed=p.seed, eval_train=False, progress=False, callbacks=trackers)
    seconds = time.perf_counter() - t0
    numbers = effective_margins.table_row(model, splits.train, splits.test, eps=p.eps, step_size=p.pgd_step,
                                          steps=p.pgd_steps)
    curves = {split: [history.recorded[e][split] for e in sorted(history.recorded)] for split in ("train", "test")}
    return Trained(row, emr_weight(row, p), numbers, curves, seconds)


def train_table1(p: Params, splits: Splits, *, log: Callable[[str], None] | None = print) -> Table1:
    """Train every row of :func:`plan` in order (paper 002, Table 1 and the MLP rows of Table 8); ``log`` gets one
    line per row."""
    runs = []
    for row in plan(p):
        r = train_row(row, p, splits)
        runs.append(r)
        if log is not None:
            n = r.numbers
            log(f"{row.name:16s} wd={row.weight_decay:<7g} clean {n['clean_acc']:.3f}  PGD{p.pgd_steps} "
                f"{n['robust_acc']:.3f}  m_test {n['eff_margin_test_mean']:.3f}  ({r.seconds:.0f} s)")
    return Table1(runs, splits.train.source, len(splits.train.y), len(splits.test.y), len(splits.curve_train.y),
                  p.pgd_steps)


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
    """|robust accuracy of exact EMR - Approx-EMR| (a fraction) for every training that has both (Table 8)."""
    return {tr: abs(t.get(f"{tr}+EMR").numbers["robust_acc"] - t.get(f"{tr}+Approx-EMR").numbers["robust_acc"])
            for tr in t.pairs()}


def most_robust_wd(t: Table1, name: str) -> float:
    """The lambda_WD of the first most robust row called ``name`` (ST, ST+LSoftmax: the curves of Fig. 1b)."""
    runs = [r for r in t.runs if r.row.name == name]
    return max(runs, key=lambda r: r.numbers["robust_acc"]).row.weight_decay


def curves_figure(t: Table1) -> Figure:
    """Figs. 1b, 1d and 2 (MNIST): the mean effective margin of the curve points after every epoch (epoch 0:
    initialization). (b) the methods, ST and ST+L-Softmax at their most robust lambda_WD, AT rows dashed; (d) ST
    at every lambda_WD; with AT rows, (Fig. 2) training (solid) and test (dotted) curves."""
    emr_wd = t.get("ST+EMR").row.weight_decay
    main = [("ST", most_robust_wd(t, "ST")), ("ST+LSoftmax", most_robust_wd(t, "ST+LSoftmax")),
            ("ST+EMR", emr_wd), ("ST+Approx-EMR", t.get("ST+Approx-EMR").row.weight_decay)]
    adv = [(r.row.name, r.row.weight_decay) for r in t.runs if r.row.training == "AT"]
    fig, axes = plt.subplots(1, 3 if adv else 2, figsize=(14 if adv else 10, 3.7), sharey=False)
    for (name, wd), ls in [(k, "-") for k in main] + [(k, "--") for k in adv]:
        curve = t.get(name, wd).curves["test"]
        axes[0].plot(range(len(curve)), curve, ls=ls, label=f"{name} ($\\lambda_{{WD}}$={wd:g})")
    axes[0].set(xlabel="epoch", ylabel="mean effective margin (test)", title="(b) methods")
    axes[0].legend(frameon=False, fontsize=7)
    for r in (r for r in t.runs if r.row.name == "ST"):
        curve = r.curves["test"]
        axes[1].plot(range(len(curve)), curve, label=f"$\\lambda_{{WD}}$ = {r.row.weight_decay:g}")
    axes[1].set(xlabel="epoch", ylabel="mean effective margin (test)", title="(d) ST, weight decay")
    axes[1].legend(frameon=False, fontsize=8)
    if adv:
        for (name, wd), color in zip(main[:3] + adv[:3], ["C0", "C1", "C2"] * 2):
            for split, style in {"train": "-", "test": ":"}.items():
                curve = t.get(name, wd).curves[split]
                axes[2].plot(range(len(curve)), curve, color=color, ls=style,
                             alpha=1 if name.startswith("ST") else 0.5,
                             label=f"{name}, {split}" if split == "train" else None)
        axes[2].set(xlabel="epoch", ylabel="mean effective margin", title="(Fig. 2) train (solid) / test (dotted)")
        axes[2].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def paper_vs_book(t: Table1) -> pd.DataFrame:
    """The paper's Table 1 and Table 8 (MLP, Approx-EMR rows) beside this run's rows, by (training, lambda_WD):
    accuracies in %, mean effective margins; blank where one side lacks the row."""
    paper1 = tables.read("paper002_table1")
    paper8 = tables.read("paper002_table8")
    approx = paper8[(paper8.model == "MLP") & paper8.training.str.contains("Approx")].drop(columns="model")
    paper = pd.concat([paper1, approx]).set_index(["training", "lambda_wd"])[TABLE_COLUMNS]
    ours = t.frame().set_index(["training", "lambda_wd"])[TABLE_COLUMNS].copy()
    ours[["clean_acc", "robust_acc"]] *= 100
    side = paper.add_suffix(" (paper)").join(ours.add_suffix(" (book)"), how="outer")
    return side[[f"{c} ({w})" for c in TABLE_COLUMNS for w in ("paper", "book")]].round(2)


# --------------------------------------------------------------------------------------- record and prose


def record(t: Table1, ex: SigmoidExample, p: Params) -> dict[str, dict[str, Any]]:
    """The section's record: Table 1, the curves, the training times, Table 8 and Fig. 1a as metrics, and the
    three claims of paper 002 §3-4 this run checks (thresholds :data:`TRAINED`, :data:`CLOSE`)."""
    table = t.frame()
    metrics: dict[str, Any] = {
        "source": t.source, "n_train": t.n_train, "n_test": t.n_test,
        "table": table.to_dict(orient="records"),
        "curves": {r.key: r.curves for r in t.runs},
        "seconds": {r.key: r.seconds for r in t.runs},
        "approx_vs_exact": table8(t).to_dict(orient="index"),
        "fig1a": {"alpha": ex.alpha, "grad_w": ex.grad_w},
    }
    emr = table[table.training == "ST+EMR"].iloc[0]
    st = table[table.training == "ST"]
    baselines = pd.concat([st, table[table.training == "ST+LSoftmax"]])
    trained = baselines[baselines.clean_acc >= TRAINED]
    excluded = baselines[baselines.clean_acc < TRAINED]
    gaps = approx_gaps(t)
    claims = {
        "emr_larger_effective_margin": claim(
            bool((emr.eff_margin_test_mean > trained.eff_margin_test_mean).all()) and len(trained) > 0,
            required_at=["demo", "paper"],
            detail=f"ST+EMR test effective margin {emr.eff_margin_test_mean:.3f} vs max "
                   f"{trained.eff_margin_test_mean.max():.3f} over the {len(trained)} ST / ST+L-Softmax rows with "
                   f"clean accuracy >= {TRAINED:.0%} ({len(excluded)} row(s) below it excluded)"),
        "emr_more_robust": claim(
            bool((emr.robust_acc > st.robust_acc).all()), required_at=["demo", "paper"],
            detail=f"ST+EMR PGD{p.pgd_steps} accuracy {emr.robust_acc:.3f} vs max {st.robust_acc.max():.3f} over all "
                   f"{len(st)} ST rows"),
        "approx_emr_close": claim(
            all(g <= CLOSE for g in gaps.values()), required_at=["demo", "paper"],
            detail="; ".join(f"{tr}: |EMR - Approx-EMR| robust accuracy {100 * g:.1f} points (<= {100 * CLOSE:.0f})"
                             for tr, g in gaps.items())),
    }
    return {"metrics": metrics, "claims": claims}


def best(t: Table1, name: str, column: str) -> float:
    """The largest ``column`` of Table 1 (a key of :func:`effective_margins.table_row`) over the rows ``name``."""
    return max(r.numbers[column] for r in t.runs if r.row.name == name)


def quoted(t: Table1, ex: SigmoidExample, p: Params) -> dict[str, object]:
    """The numbers and phrases the page glues (``{glue:text}`` names of the notebook's prose)."""
    emr, approx = t.get("ST+EMR"), t.get("ST+Approx-EMR")
    return {
        "grad_alpha1": float(ex.grad_w[0]), "grad_alpha10": float(ex.grad_w[-1]),
        "emr_m_test": emr.numbers["eff_margin_test_mean"], "emr_robust": 100 * emr.numbers["robust_acc"],
        "emr_clean": 100 * emr.numbers["clean_acc"],
        "best_st_robust": 100 * best(t, "ST", "robust_acc"), "best_st_m": best(t, "ST", "eff_margin_test_mean"),
        "best_ls_m": best(t, "ST+LSoftmax", "eff_margin_test_mean"),
        "best_ls_robust": 100 * best(t, "ST+LSoftmax", "robust_acc"),
        "approx_robust": 100 * approx.numbers["robust_acc"],
        "n_curve_text": f"{t.n_curve}",
        "approx_gap_st": 100 * approx_gaps(t)["ST"],
        "approx_speedup": emr.seconds / approx.seconds,
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
    }
