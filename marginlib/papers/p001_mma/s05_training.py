"""Paper 001 (Ding et al., "Max-Margin Adversarial (MMA) Training"), §2.3-3 and Algorithm 2: MMA training against
PGD adversarial training on MNIST, under L∞ and L2. Reproduces the MNIST panels of Fig. 3 (white-box PGD robust
accuracy against the perturbation length), Table 1 (the white-box / transfer / FGSM grid, plus the Boundary attack
under L2, as §3 benchmarks the L2 models) and each model's average margin. Notebook: notebooks/05_mma_training.ipynb.

Compute and rendering are apart: :func:`train_models`, :func:`robust_curves`, :func:`attack_grids` and
:func:`measure_margins` run the experiments and return data; :func:`figure_curves` and :func:`figure_margins` only
draw it; :func:`curve_frames`, :func:`grid_tables`, :func:`margin_tables`, :func:`comparison_table` and
:func:`l2_statements` build the tables; :func:`record` gives the metrics and claims, :func:`quoted` the numbers and
sentences the prose glues.

Conventions: every model starts from the same initialization (``Generator(seed)``) and data order; the models train
in the order standard, then per norm every PGD-AT model and then every MMA model. The attacks draw from fresh
generators seeded ``seed + 1`` (the curves, one per model), ``seed + 2`` (the Table 1 grid, one per PGD setting),
``seed + 3`` (the margins, one per model) and ``seed + 4`` (the Boundary attack, one per model). Accuracies are
fractions in [0, 1]; radii are in pixel units ([0, 1] images).
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from pandas.io.formats.style import Styler
from torch import Tensor, nn

from marginlib import cost, data, evaluate, margins, methods, models, train, validate
from marginlib.book import results
from marginlib.papers import tables
from marginlib.papers.p001_mma.boundary import minimum_norm_accuracy
from marginlib.papers.p001_mma.transfer import accuracy_under_attack, attack_table

__all__ = ["NOTEBOOK", "Grids", "Margins", "NormSetup", "Params", "Trained", "attack_grids", "comparison_table",
           "claims", "curve_frames", "figure_curves", "figure_margins", "grid_tables", "headline", "l2_numbers",
           "l2_statements", "linf_numbers", "load_data", "metrics_of",
           "margin_tables", "measure_margins", "paper_comparison", "quoted", "recipes", "record", "robust_curves",
           "strongest_text", "train_models"]

NOTEBOOK = "05_mma_training"
NORM_CHOICES = ("linf+l2", "linf", "l2")
ARCHS = ("small_cnn", "lenet5_madry")
SOURCES = ("auto", "full", "offline")
SYMBOL = {"linf": r"\ell_\infty", "l2": r"\ell_2"}
OPTIMIZERS = train.OPTIMIZERS
#: model selection: the last epoch, or (the released code) the epoch with the best average AN-PGD margin on n_val
#: held-out training images (MMA models only; PGD-AT and standard models keep their last epoch, as Madry et al.'s)
SELECTIONS = ("last", "val_margin")
CURVE_ATTACKS = ("pgd", "boundary")   # the L2 curves: white-box PGD, or the Boundary attack (paper 001 §3)
CIFAR_CHOICES = ("none", "linf", "l2", "linf+l2")

PAPER_LINF_EPS = 0.3                # PGD-AT's L∞ radius in Table 1: the demo scale of every L∞ radius is pgd_eps / 0.3
PAPER_L2_EPS = 3.0                  # the middle of the paper's L2 PGD-AT radii 1, 3, 5: the demo scale of the L2 radii
PAPER_TABLE_EPS = (0.3, 0.4, 0.5)   # Table 1's radii ...
TABLE_MULTIPLES = (1.0, 4 / 3, 5 / 3)   # ... as multiples of PGD-AT's 0.3: the L∞ grid radii of this run
#: claims mma_beats_pgd_above_train_eps and mma_robust_where_pgd_cracked: "significantly better" (§3) read as a lead of
#: more than 10 points (the book's reading; Table 1's leads above 0.3 are far larger)
SIGNIFICANT = 0.10
#: claim l2_mma_close_to_best_pgd: "similar performance compared with the best PGD model" (§3) read as at most 5 points
#: behind it (the book's reading; the values are only in Fig. 3)
L2_CLOSE = 0.05
#: claim clean_acc_maintained: MMA's clean accuracy may fall below PGD-AT's by at most this many standard errors of the
#: difference of two accuracies on n_test images (the paper's "maintaining": not detectably lower)
CLEAN_SE = 2.0
ABOVE = 1e-9                        # a curve radius is "above" a training radius when larger by more than this
HINGE = 1e-6                        # a stored length is "at the hinge" when it is at least (1 - HINGE) d_max
MARGIN_CAP = 2.0                    # margins are bisected on [0, MARGIN_CAP * the largest d_max of the norm]
PAPER_PGD_STEPS = 100               # the PGD-100 white-box rows of Table 1 the comparison table quotes


def _radii(top: float, points: int) -> tuple[float, ...]:
    return tuple(round(float(e), 6) for e in np.linspace(0.0, top, points))


@dataclass(frozen=True)
class NormSetup:
    """One norm's half of the page: the paired (PGD-AT eps, MMA d_max) radii, the curve radii and test images,
    the Table 1 grid radii and attacked images."""

    norm: str
    pairs: tuple[tuple[float, float], ...]
    curve: tuple[float, ...]
    n_test: int
    table: tuple[float, ...]
    n_attack: int

    @property
    def named_pairs(self) -> list[tuple[str, str]]:
        """``(PGD-AT model, MMA model)`` names, e.g. ``("pgd_at_linf_0.2", "mma_linf_0.3")``."""
        return [(f"pgd_at_{self.norm}_{float(e)}", f"mma_{self.norm}_{float(d)}") for e, d in self.pairs]

    @property
    def robust(self) -> list[str]:
        """The robust models: every PGD-AT model, then every MMA model (once each: one MMA model can be paired
        with several PGD-AT models, as in the paper's L2 comparison)."""
        return list(dict.fromkeys([a for a, _ in self.named_pairs] + [b for _, b in self.named_pairs]))

    @property
    def curved(self) -> list[str]:
        """The models on the curves and margin panels (the standard model under L∞ only)."""
        return (["std"] if self.norm == "linf" else []) + self.robust

    @property
    def cap(self) -> float:
        """The margin search range: :data:`MARGIN_CAP` times the norm's largest d_max."""
        return MARGIN_CAP * max(d for _, d in self.pairs)


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults; lists as tuples)."""

    profile: str = "demo"
    source: str = "auto"
    arch: str = "small_cnn"
    norms: str = "linf+l2"
    n_train: int = 4000
    n_test: int = 1000
    n_attack: int = 200
    epochs: int = 6
    warmup: int = 2
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    n_val: int = 0
    select: str = "last"
    train_steps: int = 10
    pgd_step: float = 0.0
    pgd_eps: float = 0.2
    mma_dmax: float = 0.3
    mma_eps_min: float = 0.0
    l2_mma_eps_min: float = 0.0
    eps_max_factor: float = 1.0
    curve_max: float = 0.333333
    curve_points: int = 6
    l2_pgd_eps: tuple[float, ...] = (2.0,)
    l2_mma_dmax: tuple[float, ...] = (3.0,)
    l2_curve_max: float = 4.0
    l2_curve_points: int = 5
    l2_table_eps: tuple[float, ...] = (2.0, 2.666667, 3.333333)
    l2_n_test: int = 500
    l2_n_attack: int = 50
    boundary_steps: int = 1000
    eval_steps: int = 20
    table_steps: tuple[int, ...] = (20,)
    table_restarts: tuple[int, ...] = (1, 2)
    margin_steps: int = 20
    margin_bisection: int = 8
    l2_curve_attack: str = "pgd"
    cifar: str = "none"
    cifar_arch: str = "wrn28_4"
    cifar_n_train: int = 45000
    cifar_n_val: int = 5000
    cifar_n_test: int = 10000
    cifar_epochs: int = 143
    cifar_batch_size: int = 128
    cifar_lr: float = 0.3
    cifar_milestones: tuple[float, ...] = (0.4, 0.6, 0.8)
    cifar_gamma: float = 0.3
    cifar_weight_decay: float = 0.0002
    cifar_train_steps: int = 10
    cifar_pgd_eps: tuple[float, ...] = (0.031373, 0.062745)
    cifar_mma_dmax: float = 0.047059
    cifar_eps_min: float = 0.005
    cifar_l2_pgd_eps: tuple[float, ...] = (0.5, 1.5)
    cifar_l2_mma_dmax: float = 1.0
    cifar_l2_eps_min: float = 0.5
    cifar_curve_max: float = 0.12549
    cifar_curve_points: int = 9
    cifar_l2_curve_max: float = 3.0
    cifar_l2_curve_points: int = 7
    cifar_eval_steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        validate.choice("norms", self.norms, NORM_CHOICES)
        validate.choice("arch", self.arch, ARCHS)
        validate.choice("source", self.source, SOURCES)
        validate.choice("optimizer", self.optimizer, OPTIMIZERS)
        validate.choice("select", self.select, SELECTIONS)
        validate.choice("l2_curve_attack", self.l2_curve_attack, CURVE_ATTACKS)
        validate.choice("cifar", self.cifar, CIFAR_CHOICES)
        if self.select == "val_margin" and self.n_val <= 0:
            raise ValueError("select='val_margin' needs n_val > 0 held-out training images (the released code: 5,000)")
        if not self.l2_table_eps or any(e <= 0 for e in self.l2_table_eps):
            raise ValueError(f"l2_table_eps={list(self.l2_table_eps)!r} must list at least one radius > 0 "
                             "(the L2 attack table's columns)")
        if not self.l2_pgd_eps or len(self.l2_mma_dmax) not in (1, len(self.l2_pgd_eps)):
            raise ValueError(f"l2_pgd_eps={list(self.l2_pgd_eps)} and l2_mma_dmax={list(self.l2_mma_dmax)} must "
                             "pair up (same length, or one MMA model against every PGD-AT model; at least one)")
        if not self.table_steps or not self.table_restarts:
            raise ValueError(f"table_steps={list(self.table_steps)} and table_restarts={list(self.table_restarts)} "
                             "must each hold at least one value")
        for attacked, tested in (("n_attack", "n_test"), ("l2_n_attack", "l2_n_test")):
            if getattr(self, attacked) > getattr(self, tested):
                raise ValueError(f"{attacked}={getattr(self, attacked)} must be at most {tested}="
                                 f"{getattr(self, tested)} (the grid attacks the first {attacked} test images)")

    @property
    def norm_list(self) -> tuple[str, ...]:
        """The halves to run, ``("linf", "l2")`` for ``norms="linf+l2"``."""
        return tuple(self.norms.split("+"))

    @property
    def scale(self) -> float:
        """This run's L∞ radii over the paper's (1 at ``paper``)."""
        return self.pgd_eps / PAPER_LINF_EPS

    @property
    def l2_scale(self) -> float:
        """This run's L2 radii over the paper's: the median PGD-AT eps over the paper's middle one, 3."""
        return float(np.median(self.l2_pgd_eps)) / PAPER_L2_EPS

    def setup(self, norm: str) -> NormSetup:
        """The radii and image counts of ``norm``'s half."""
        validate.choice("norm", norm, self.norm_list)
        if norm == "linf":
            return NormSetup("linf", ((self.pgd_eps, self.mma_dmax),), _radii(self.curve_max, self.curve_points),
                             self.n_test, tuple(round(self.pgd_eps * r, 6) for r in TABLE_MULTIPLES), self.n_attack)
        dmax = self.l2_mma_dmax * len(self.l2_pgd_eps) if len(self.l2_mma_dmax) == 1 else self.l2_mma_dmax
        return NormSetup("l2", tuple(zip(self.l2_pgd_eps, dmax)),
                         _radii(self.l2_curve_max, self.l2_curve_points), self.l2_n_test,
                         tuple(round(float(e), 6) for e in self.l2_table_eps), self.l2_n_attack)

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded ``seed + offset`` (see the module docstring for the offsets)."""
        return torch.Generator().manual_seed(self.seed + offset)


# ----------------------------------------------------------------------------------------------- names and colours

def radius_of(name: str) -> float:
    """The training radius in a model name (``"mma_l2_3.0"`` -> 3.0)."""
    return float(name.rsplit("_", 1)[1])


def label(name: str) -> str:
    """A model's legend label (LaTeX)."""
    if name == "std":
        return "standard"
    return (f"PGD-AT, $\\epsilon$ = {radius_of(name):g}" if name.startswith("pgd_at") else
            f"MMA, $d_{{max}}$ = {radius_of(name):g}")


def plain(name: str) -> str:
    """A model's label in plain text (tables and glued sentences)."""
    if name == "std":
        return "standard"
    return f"PGD-AT (ε = {radius_of(name):g})" if name.startswith("pgd_at") else f"MMA (d_max = {radius_of(name):g})"


def _shades(names: Sequence[str], cmap: str, single: str) -> dict[str, Any]:
    levels = np.linspace(0.45, 0.9, len(names)) if len(names) > 1 else [None]
    return {n: single if lv is None else plt.get_cmap(cmap)(lv) for n, lv in zip(names, levels)}


def colors(p: Params) -> dict[str, Any]:
    """One colour per model: grey standard, reds for PGD-AT, blues for MMA (shades when a norm has several)."""
    color: dict[str, Any] = {"std": "0.5"}
    for norm in p.norm_list:
        pairs = p.setup(norm).named_pairs
        color.update(_shades(list(dict.fromkeys(a for a, _ in pairs)), "Reds", "C3"))
        color.update(_shades(list(dict.fromkeys(b for _, b in pairs)), "Blues", "C0"))
    return color


# --------------------------------------------------------------------------------------------------------- training

def load_data(p: Params) -> tuple[data.Dataset, data.Dataset]:
    """MNIST ``(train, test)``: ``n_train + n_val`` training images (the last ``n_val`` of a seeded permutation are
    held out by :func:`split_validation`) and the first ``max(n_test, l2_n_test)`` test images."""
    train_data = data.load("mnist", split="train", n=p.n_train + p.n_val, seed=p.seed, source=p.source)
    test_data = data.load("mnist", split="test", n=max(p.n_test, p.l2_n_test), seed=p.seed, source=p.source)
    return train_data, test_data


def split_validation(train_data: data.Dataset, n_val: int, *, seed: int) -> tuple[data.Dataset, data.Dataset | None]:
    """``(train, validation)``: the last ``n_val`` images of a permutation seeded ``seed`` held out (the released
    code holds out 5,000 training images to select its checkpoint); ``n_val = 0`` returns ``(train_data, None)``."""
    if n_val <= 0:
        return train_data, None
    if n_val >= len(train_data):
        raise ValueError(f"n_val={n_val} leaves no training images of {len(train_data)}")
    order = torch.randperm(len(train_data), generator=torch.Generator().manual_seed(seed))
    return train_data.subset(order[:-n_val].sort().values), train_data.subset(order[-n_val:].sort().values)


def _eps_min(value: float) -> float | None:
    """A preset's eps_min: 0 means the book's default ``d_max / steps`` (:class:`marginlib.methods.MMA`)."""
    return None if value <= 0 else float(value)


def recipes(p: Params) -> dict[str, methods.Method]:
    """The training methods by model name: standard, then per norm PGD-AT at each eps and MMA at each d_max
    (paper 001 Alg. 2), both with the book's linear radius warm-up over ``warmup`` epochs (``radius_warmup``;
    ``warmup = 1``: none, the full radius from the first step as in the released code). L∞ PGD-AT steps ``pgd_step``
    (0: ``2.5 eps / steps``); MMA starts AN-PGD at ``mma_eps_min`` / ``l2_mma_eps_min`` (0: ``d_max / steps``) and
    searches up to ``eps_max_factor * d_max``."""
    out = {"std": methods.build("standard")}
    for norm in p.norm_list:
        s = p.setup(norm)
        step = p.pgd_step if norm == "linf" and p.pgd_step > 0 else None
        eps_min = _eps_min(p.mma_eps_min if norm == "linf" else p.l2_mma_eps_min)
        for (eps, _), (pgd_name, _) in zip(s.pairs, s.named_pairs):
            out[pgd_name] = methods.build("radius_warmup", epochs=p.warmup, base=methods.build(
                "pgd_at", eps=eps, steps=p.train_steps, norm=norm, step_size=step))
        for (_, d_max), (_, mma_name) in zip(s.pairs, s.named_pairs):
            out[mma_name] = methods.build("radius_warmup", epochs=p.warmup, base=methods.build(
                "mma", d_max=d_max, steps=p.train_steps, norm=norm, eps_min=eps_min,
                eps_max_factor=p.eps_max_factor))
    return out


def model_norm(p: Params, name: str) -> str:
    """The norm model ``name`` trains against: the one in its name (``pgd_at_l2_3.0``, ``mma_linf_0.3``); the standard
    model's is the first half's (``norms="l2"`` runs no L∞ half)."""
    parts = name.split("_")
    if name.startswith("pgd_at_"):
        return parts[2]
    return parts[1] if name.startswith("mma_") else p.norm_list[0]


def _model_list(name: str) -> tuple[str, ...]:
    """The parameter listing the models of ``name``'s kind, as a cost scale (a dry run may train fewer of the L2
    PGD-AT models: each one measured then stands for ``len(paper list) / len(run list)`` of them)."""
    return ("l2_pgd_eps",) if name.startswith("pgd_at_l2") else ()


def validation_margin(net: nn.Module, val: data.Dataset, *, norm: str, eps_init: float, eps_max: float, steps: int,
                      generator: torch.Generator) -> float:
    """The released code's model-selection score: the average AN-PGD length on held-out images (0 for a
    misclassified one), AN-PGD started at ``eps_init`` (the released test radius) and searching up to ``eps_max``."""
    from marginlib.attacks import an_pgd

    x, y = val.x, val.y
    with torch.no_grad():
        correct = net(x).argmax(1) == y
    lengths = torch.zeros(len(y))
    if correct.any():
        _, found = an_pgd(net, x[correct], y[correct], eps_init=min(eps_init, eps_max), eps_max=eps_max, steps=steps,
                          norm=norm, final_pgd=False, generator=generator)
        lengths[correct.cpu()] = found.detach().cpu().float()
    return float(lengths.mean())


def fit_model(net: nn.Module, method: methods.Method, train_data: data.Dataset, val: data.Dataset | None, *,
              select: bool, norm: str, eps_init: float, steps: int, seed: int, scales: tuple[str, ...],
              val_scales: tuple[str, ...], **options: Any) -> train.History:
    """:func:`marginlib.train.fit` (``options``) as one cost unit (``scales``); with ``select``, the epoch with the
    best :func:`validation_margin` on ``val`` is kept (the released code's ``model_best.pt``), each evaluation its
    own cost unit (``val_scales``)."""
    if select:
        if val is None:
            raise ValueError("model selection on the validation margin needs held-out images")
        base = method.base if isinstance(method, methods.Extends) else method
        if not isinstance(base, methods.MMA):
            raise TypeError(f"model selection on the validation margin is for MMA models, got {method!r}")
        eps_max = float(base.eps_max)

        def score(model: nn.Module, epoch: int) -> float:
            with cost.work(*val_scales):
                return validation_margin(model, val, norm=norm, eps_init=eps_init, eps_max=eps_max, steps=steps,
                                         generator=torch.Generator().manual_seed(seed + 5))

        options.update(callbacks={"val_margin": score}, record_at=range(1, int(options["epochs"]) + 1),
                       early_stopping=train.EarlyStopping(metric="val_margin", mode="max"))
    with cost.work(*scales):
        return train.fit(net, method, train_data, seed=seed, progress=False, eval_train=False, **options)


def stored_lengths(method: methods.Method, *, n_train: int) -> Tensor:
    """The lengths an MMA model stored for its training points (AN-PGD's memory, Alg. 2), over its current d_max."""
    mma = method.base if isinstance(method, methods.Extends) else method
    if not isinstance(mma, methods.MMA):
        raise TypeError(f"stored_lengths needs an MMA method (or one wrapping it), got {method!r}")
    return mma.eps[:n_train] / mma.d_max


@dataclass(frozen=True)
class Trained:
    """The trained models (eval mode), their histories and seconds, MMA's stored lengths / d_max, clean test
    accuracy on the first ``n_test`` images, and the training data's source and size."""

    nets: dict[str, nn.Module]
    histories: dict[str, train.History]
    seconds: dict[str, float]
    stored: dict[str, Tensor]
    clean_acc: dict[str, float]
    source: str
    n_train: int


def train_models(p: Params, train_data: data.Dataset, test_data: data.Dataset) -> Trained:
    """Train every model of :func:`recipes` from the same initialization (``models.build(arch, generator=seed)``)
    and data order, for the same epochs, batch size and learning rate."""
    plan = recipes(p)
    nets: dict[str, nn.Module] = {}
    histories, seconds = {}, {}
    train_data, val = split_validation(train_data, p.n_val, seed=p.seed)
    for name, method in plan.items():
        t0 = time.perf_counter()
        norm = model_norm(p, name)
        nets[name] = models.build(p.arch, generator=p.generator())
        histories[name] = fit_model(
            nets[name], method, train_data, val, select=p.select == "val_margin" and name.startswith("mma"),
            norm=norm, eps_init=min(e for e, _ in p.setup(norm).pairs), steps=p.train_steps, seed=p.seed,
            scales=("n_train", "epochs", *_model_list(name)), val_scales=("n_val", "epochs"), epochs=p.epochs,
            batch_size=p.batch_size,
            lr=p.lr, **({} if p.optimizer == "sgd" else {"optimizer": p.optimizer}))
        nets[name].eval()
        seconds[name] = time.perf_counter() - t0
    stored = {name: stored_lengths(m, n_train=p.n_train) for name, m in plan.items() if name.startswith("mma")}
    x, y = test_data.x[:p.n_test], test_data.y[:p.n_test]
    clean = {name: evaluate.accuracy(net, x, y) for name, net in nets.items()}
    return Trained(nets, histories, seconds, stored, clean, train_data.source, len(train_data))


# ------------------------------------------------------------------------------------------------------- evaluation

Curves = dict[str, dict[str, dict[float, float]]]


def robust_curves(p: Params, trained: Trained, test_data: data.Dataset) -> Curves:
    """``{norm: {model: {eps: accuracy}}}``: white-box PGD (``eval_steps`` steps of 2.5 eps / steps, random start)
    at every curve radius, each model in its own norm (Fig. 3); eps 0 is the clean accuracy. With
    ``l2_curve_attack="boundary"`` the L2 curves are the Boundary attack's (``boundary_steps`` steps; one run gives
    every radius), as the paper benchmarks its L2 MNIST models (§3)."""
    curves: Curves = {}
    for norm in p.norm_list:
        s = p.setup(norm)
        x, y = test_data.x[:s.n_test], test_data.y[:s.n_test]
        attacked = [e for e in s.curve if e > 0]
        curves[norm] = {}
        boundary = norm == "l2" and p.l2_curve_attack == "boundary"
        for name in s.curved:
            net = trained.nets[name]
            clean = evaluate.accuracy(net, x, y)
            if boundary:
                with cost.work("l2_n_test", "boundary_steps", *_model_list(name)):
                    accs = minimum_norm_accuracy(net, x, y, eps=attacked, norm="l2", attack="boundary",
                                                 steps=p.boundary_steps, generator=p.generator(1))[0]
            else:
                sizes = ("n_test", "curve_points") if norm == "linf" else ("l2_n_test", "l2_curve_points")
                with cost.work(*sizes, "eval_steps", *_model_list(name)):
                    accs = accuracy_under_attack(net, {name: net}, x, y, eps=attacked, norm=norm, steps=p.eval_steps,
                                                 generator=p.generator(1))[name]
            curves[norm][name] = {0.0: clean, **accs}
    return curves


@dataclass(frozen=True)
class Grids:
    """Table 1 per norm (rows: attack, eps rounded to 4 digits, steps, restarts, source; a column per robust
    model), and under L2 the Boundary attack's accuracies ``{model: {eps: acc}}`` and lengths ``{model: (N,)}``."""

    tables: dict[str, pd.DataFrame]
    boundary: dict[str, dict[float, float]]
    boundary_dist: dict[str, Tensor]


def attack_grids(p: Params, trained: Trained, test_data: data.Dataset) -> Grids:
    """Paper 001's Table 1 on the first ``n_attack`` test images of each norm: FGSM and PGD (every
    ``table_steps`` x ``table_restarts``) crafted on the standard and each robust model, evaluated on the robust
    models; under L2 also the Boundary attack (``boundary_steps`` steps, white-box), as §3 benchmarks the L2 models."""
    grids: dict[str, pd.DataFrame] = {}
    for norm in p.norm_list:
        s = p.setup(norm)
        x, y = test_data.x[:s.n_attack], test_data.y[:s.n_attack]
        robust = {name: trained.nets[name] for name in s.robust}
        with cost.work("n_attack" if norm == "linf" else "l2_n_attack", "table_steps", "table_restarts"):
            grids[norm] = pd.DataFrame(attack_table({"std": trained.nets["std"], **robust}, robust, x, y,
                                                    eps=s.table, norm=norm, steps=p.table_steps,
                                                    restarts=p.table_restarts, seed=p.seed + 2))
    boundary: dict[str, dict[float, float]] = {}
    boundary_dist: dict[str, Tensor] = {}
    if "l2" in p.norm_list:
        s = p.setup("l2")
        x, y = test_data.x[:s.n_attack], test_data.y[:s.n_attack]
        for name in s.robust:
            with cost.work("l2_n_attack", "boundary_steps"):
                boundary[name], boundary_dist[name] = minimum_norm_accuracy(
                    trained.nets[name], x, y, eps=s.table, norm="l2", attack="boundary", steps=p.boundary_steps,
                    generator=p.generator(4))
        grids["l2"] = pd.concat([grids["l2"], pd.DataFrame(
            [{"attack": "BOUNDARY", "eps": e, "steps": p.boundary_steps, "restarts": None, "source": name, name: acc}
             for name, accs in boundary.items() for e, acc in accs.items()])], ignore_index=True)
    for grid in grids.values():
        grid["eps"] = grid["eps"].round(4)
    return Grids(grids, boundary, boundary_dist)


def white_box(p: Params, grids: Grids, norm: str, name: str, eps: float, *, strongest: bool = True) -> float:
    """``name``'s accuracy under white-box PGD at grid radius ``eps``: the grid row with the most (``strongest``)
    or the fewest steps and restarts, on the grid's images."""
    pick = max if strongest else min
    grid = grids.tables[norm]
    rows = grid[(grid.attack == "PGD") & (grid.steps == pick(p.table_steps)) & (grid.restarts == pick(p.table_restarts))
                & (grid.source == name) & (grid.eps == round(eps, 4))]
    return float(rows[name].iloc[0])


@dataclass(frozen=True)
class Margins:
    """Per model (first ``n_attack`` test images of its norm): the margin upper bounds by PGD bisection (0 where
    misclassified, capped at :attr:`NormSetup.cap`), their averages, and under L2 the Boundary lengths against them."""

    of: dict[str, Tensor]
    average: dict[str, float]
    boundary_vs_pgd: dict[str, dict[str, float]]


def measure_margins(p: Params, trained: Trained, test_data: data.Dataset, grids: Grids) -> Margins:
    """Each model's margins in its norm (:func:`marginlib.margins.attack_margin`: the smallest radius at which PGD
    with ``margin_steps`` steps of the margin loss succeeds, ``margin_bisection`` bisection steps on [0, cap]);
    paper 001 eq. (3) is the average margin MMA maximizes. Under L2 the Boundary lengths are a second upper bound."""
    of: dict[str, Tensor] = {}
    for norm in p.norm_list:
        s = p.setup(norm)
        x, y = test_data.x[:s.n_attack], test_data.y[:s.n_attack]
        for name in s.curved:
            net = trained.nets[name]
            with cost.work("n_attack" if norm == "linf" else "l2_n_attack", "margin_steps", "margin_bisection"):
                m = margins.attack_margin(net, x, y, norm=norm, eps_max=s.cap, steps=p.margin_steps,
                                          bisection_steps=p.margin_bisection,
                                          generator=p.generator(3)).clamp(max=s.cap)
            with torch.no_grad():
                m[net(x).argmax(1) != y] = 0.0
            of[name] = m
    average = {name: float(m.mean()) for name, m in of.items()}
    versus: dict[str, dict[str, float]] = {}
    if "l2" in p.norm_list:
        s = p.setup("l2")
        for name in s.robust:
            dist = grids.boundary_dist[name]
            versus[name] = {"avg_boundary": float(dist.clamp(max=s.cap).mean()), "avg_pgd": average[name],
                            "frac_boundary_shorter": float((dist < of[name]).double().mean()),
                            "median_ratio": float((dist / of[name]).nanmedian())}
    return Margins(of, average, versus)


# ---------------------------------------------------------------------------------------------------------- figures

def _curve_panel(ax: plt.Axes, p: Params, norm: str, curves: Curves, color: Mapping[str, Any], letter: str) -> None:
    s = p.setup(norm)
    for name in s.curved:
        ax.plot(s.curve, [curves[norm][name][e] for e in s.curve], "o-", color=color[name], ms=4, label=label(name))
        if name != "std":
            ax.axvline(radius_of(name), color=color[name], ls=":", lw=1)
    ax.set(xlabel=f"${SYMBOL[norm]}$ perturbation length $\\epsilon$", ylabel="robust accuracy (white-box PGD)",
           ylim=(-0.02, 1.02), title=f"({letter}) MNIST, ${SYMBOL[norm]}$")
    ax.legend(frameon=False, loc="lower left", fontsize=8)


def _stored_panel(ax: plt.Axes, stored: Mapping[str, Tensor], color: Mapping[str, Any], letter: str) -> None:
    bins = np.linspace(0, 1, 31).tolist()
    for name, lengths in stored.items():
        norm = name.split("_")[1]
        ax.hist(lengths.numpy(), bins=bins, histtype="step", lw=1.8, color=color[name], log=True,
                ls={"linf": "-", "l2": "--"}[norm], label=f"{label(name)} (${SYMBOL[norm]}$)")
    ax.set(xlabel="AN-PGD length stored by MMA / $d_{max}$", ylabel="training points (log scale)",
           title=f"({letter}) MMA's per-sample $\\epsilon_i$")
    ax.legend(frameon=False, loc="upper left", fontsize=8)


def figure_curves(p: Params, curves: Curves, stored: Mapping[str, Tensor]) -> Figure:
    """Fig. 3 (MNIST panels): white-box robust accuracy against the radius per norm, dotted at each training radius;
    last panel: the lengths each MMA model stored for its training points, over its d_max."""
    norms = p.norm_list
    color = colors(p)
    fig, axes = plt.subplots(1, len(norms) + 1, figsize=(5.2 * len(norms) + 4, 3.9))
    for i, norm in enumerate(norms):
        _curve_panel(axes[i], p, norm, curves, color, "ab"[i])
    _stored_panel(axes[-1], stored, color, "abc"[len(norms)])
    fig.tight_layout()
    return fig


def _margin_panel(ax: plt.Axes, p: Params, norm: str, m: Margins, color: Mapping[str, Any], letter: str) -> None:
    s = p.setup(norm)
    bins = np.linspace(0, s.cap, 31).tolist()
    for name in s.curved:
        ax.hist(m.of[name].numpy(), bins=bins, histtype="step", lw=1.8, color=color[name],
                label=f"{label(name)}: mean {m.average[name]:.3g}")
        if name != "std":
            ax.axvline(radius_of(name), color=color[name], ls=":", lw=1)
    ax.set(xlabel=f"${SYMBOL[norm]}$ margin (upper bound, PGD bisection)", ylabel="test images",
           title=f"({letter}) ${SYMBOL[norm]}$ margins")
    ax.legend(frameon=False, fontsize=8)


def _bounds_panel(ax: plt.Axes, p: Params, m: Margins, grids: Grids, color: Mapping[str, Any], letter: str) -> None:
    s = p.setup("l2")
    for name in s.robust:
        ax.scatter(m.of[name].numpy(), grids.boundary_dist[name].clamp(max=3 * s.cap).numpy(), s=12,
                   color=color[name], label=label(name))
    ax.plot([0, s.cap], [0, s.cap], color="0.3", lw=1, ls="--")
    ax.set(xlabel="$\\ell_2$ margin bound, PGD bisection", ylabel="$\\ell_2$ length, Boundary attack",
           title=f"({letter}) two upper bounds on the same images")
    ax.legend(frameon=False, fontsize=8)


def figure_margins(p: Params, m: Margins, grids: Grids) -> Figure:
    """The margins of the test images per norm (PGD bisection; dotted: training radii) and, under L2, the Boundary
    attack's lengths against PGD's bounds, image by image."""
    norms = p.norm_list
    color = colors(p)
    panels = len(norms) + ("l2" in norms)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 3.5))
    axes = np.atleast_1d(axes)
    for i, norm in enumerate(norms):
        _margin_panel(axes[i], p, norm, m, color, "ab"[i])
    if "l2" in norms:
        _bounds_panel(axes[-1], p, m, grids, color, "abc"[len(norms)])
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------------------------------------- tables

def curve_frames(curves: Curves) -> list[pd.DataFrame]:
    """The curves as one table per norm (rows: models, columns: eps)."""
    return [pd.DataFrame(by_model).rename_axis(f"{norm} eps").T.round(3) for norm, by_model in curves.items()]


def _bold_strongest(col: pd.Series, strongest: pd.DataFrame) -> list[str]:
    return ["font-weight: bold" if v == m else "" for v, m in zip(col, strongest[col.name])]


def grid_tables(grids: Grids) -> list[Styler]:
    """Table 1 per norm: accuracy under each attack (rows) of each robust model (columns); bold: the strongest
    attack on each model at each eps."""
    styled = []
    for norm, grid in grids.tables.items():
        table = grid.set_index(["eps", "source", "attack", "steps", "restarts"]).sort_index()
        styled.append(table.style.apply(_bold_strongest, strongest=table.groupby(level="eps").transform("min"))
                      .format("{:.1%}", na_rep="—").set_caption(f"{norm}: accuracy under attack"))
    return styled


def margin_tables(m: Margins) -> list[pd.DataFrame | pd.Series]:
    """Under L2 the Boundary lengths against PGD's bounds per model; then every model's average margin."""
    frames: list[pd.DataFrame | pd.Series] = [pd.DataFrame(m.boundary_vs_pgd).T.round(3)] if m.boundary_vs_pgd else []
    return frames + [pd.Series(m.average, name="average margin (PGD bisection)").round(4)]


def paper_comparison(p: Params, trained: Trained, grids: Grids, m: Margins) -> pd.DataFrame:
    """Paper 001's Table 1 (L∞) beside this run: clean accuracy, white-box PGD and the strongest grid attack at
    each of the paper's radii (here at the same multiples of PGD-AT's eps), and the average margins."""
    columns = ["quantity", "paper MMA", "paper PGD-AT", "this run MMA", "this run PGD-AT"]
    if "linf" not in p.norm_list:
        return pd.DataFrame([], columns=columns)
    paper = tables.read("paper001_table1")
    grid = grids.tables["linf"]
    pgd, mma = p.setup("linf").named_pairs[0]
    natural = paper[paper["attack"] == "Natural"].iloc[0]
    rows = [{"quantity": "clean accuracy", "paper MMA": natural["acc_mma_model"] / 100,
             "paper PGD-AT": natural["acc_pgd_model"] / 100, "this run MMA": trained.clean_acc[mma],
             "this run PGD-AT": trained.clean_acc[pgd]}]
    for paper_eps, eps in zip(PAPER_TABLE_EPS, p.setup("linf").table):
        one = paper[(paper["attack"] == "PGD") & (paper["eps"] == paper_eps) & (paper["steps"] == PAPER_PGD_STEPS)
                    & (paper["restarts"] == 1)]
        here = grid[(grid.attack == "PGD") & (grid.steps == p.eval_steps) & (grid.restarts == 1)
                    & (grid.eps == round(eps, 4))]
        rows.append({"quantity": f"white-box PGD-100, eps {paper_eps:g} (here {eps:.3f}, PGD-{p.eval_steps})",
                     "paper MMA": float(one[one["source_model"] == "MMA"]["acc_mma_model"].iloc[0]) / 100,
                     "paper PGD-AT": float(one[one["source_model"] == "PGD"]["acc_pgd_model"].iloc[0]) / 100,
                     "this run MMA": here[here.source == mma][mma].iloc[0] if len(here) else np.nan,
                     "this run PGD-AT": here[here.source == pgd][pgd].iloc[0] if len(here) else np.nan})
        worst_paper = paper[paper["eps"] == paper_eps][["acc_mma_model", "acc_pgd_model"]].min() / 100
        worst_here = grid[grid.eps == round(eps, 4)][[mma, pgd]].min()
        rows.append({"quantity": f"strongest attack in the grid, eps {paper_eps:g} (here {eps:.3f})",
                     "paper MMA": worst_paper["acc_mma_model"], "paper PGD-AT": worst_paper["acc_pgd_model"],
                     "this run MMA": worst_here[mma], "this run PGD-AT": worst_here[pgd]})
    rows.append({"quantity": "average margin (PGD bisection)", "paper MMA": np.nan, "paper PGD-AT": np.nan,
                 "this run MMA": m.average[mma], "this run PGD-AT": m.average[pgd]})
    return pd.DataFrame(rows, columns=columns)


def comparison_table(p: Params, trained: Trained, grids: Grids, m: Margins) -> Styler:
    """:func:`paper_comparison`, formatted for the page."""
    return paper_comparison(p, trained, grids, m).set_index("quantity").style.format("{:.3f}", na_rep="—")


def l2_statements(p: Params, trained: Trained, curves: Curves, grids: Grids) -> pd.DataFrame:
    """What the paper states about its L2 MNIST models (``book/data/paper001_l2.csv``; the values are only in
    Fig. 3) beside this run's number for each statement."""
    paper_l2 = tables.read("paper001_l2")
    if "l2" in p.norm_list:
        s = p.setup("l2")
        big = s.curve[-1]
        best_gap = max(max(curves["l2"][a][e] for a, _ in s.named_pairs) - curves["l2"][b][e]
                       for _, b in s.named_pairs for e in s.curve)
        here = {
            "models": ", ".join(plain(n) for n in s.robust),
            "attack": f"Boundary, {p.boundary_steps} steps, first {p.l2_n_attack} test images",
            "mma_close_to_best_pgd": f"largest lead of the best PGD-AT model over MMA on the curve: "
                                     f"{100 * best_gap:.1f} points",
            "mma_beats_pgd_at_large_eps": "; ".join(
                f"MMA - PGD-AT at eps {big:g}: {100 * (curves['l2'][b][big] - curves['l2'][a][big]):+.1f} points"
                for a, b in s.named_pairs),
            "boundary_stronger_than_pgd": "; ".join(
                f"{plain(n)}: Boundary {grids.boundary[n][e]:.0%} vs PGD {white_box(p, grids, 'l2', n, e):.0%} "
                f"at eps {e:g}" for n in s.robust for e in s.table[-1:]),
        }
        paper_l2["this run"] = paper_l2["id"].map(here)
    return paper_l2.set_index("id")


# ----------------------------------------------------------------------------------------------- metrics and claims
#
# The claims and the headline numbers are computed from the record's ``metrics`` as JSON holds them (string keys,
# None for a missing cell), so :func:`headline` reads a stored record exactly as :func:`record` judged it.

def _keyed(values: Mapping[str, Any]) -> dict[float, float]:
    """A ``{radius: accuracy}`` dict of the metrics (string keys) with float keys."""
    return {float(k): float(v) for k, v in values.items()}


def _curve_key(norm: str, l2_curve_attack: str) -> str:
    """The metrics key of a norm's curves: ``pgd_whitebox``, or ``boundary_curve`` for L2 Boundary-attack curves."""
    return "boundary_curve" if norm == "l2" and l2_curve_attack == "boundary" else "pgd_whitebox"


def _curve_attack(metrics: Mapping[str, Any]) -> str:
    """The record's L2 curve attack (``pgd`` where the record does not name one)."""
    return str(metrics.get("l2_curve_attack", "pgd"))


def _curve(metrics: Mapping[str, Any], name: str) -> dict[float, float]:
    """``name``'s curve ``{eps: accuracy}``: white-box PGD, or the Boundary attack's for an L2 model of a record
    with ``l2_curve_attack = boundary`` (eps 0: the clean accuracy on the curve's images)."""
    norm = "l2" if "_l2_" in name else "linf"
    return _keyed(metrics["robust_acc"][name][_curve_key(norm, _curve_attack(metrics))])


def _pairs(metrics: Mapping[str, Any], norm: str) -> list[tuple[str, str]]:
    """``norm``'s (PGD-AT, MMA) model pairs of the record."""
    return [(a, b) for a, b in metrics["pairs"][norm]]


def _grid_rows(metrics: Mapping[str, Any], norm: str, name: str, eps: float) -> list[Mapping[str, Any]]:
    """The Table 1 grid rows of ``norm`` at ``eps`` that evaluated ``name``."""
    return [r for r in metrics["table1"][norm] if r["eps"] == round(eps, 4) and r.get(name) is not None]


def _strongest(metrics: Mapping[str, Any], norm: str, name: str, eps: float) -> float:
    """``name``'s accuracy under the strongest attack of the grid at ``eps`` (the minimum over its rows)."""
    return min(float(r[name]) for r in _grid_rows(metrics, norm, name, eps))


def _single_white_box(metrics: Mapping[str, Any], norm: str, name: str, eps: float) -> float:
    """``name``'s accuracy under one white-box PGD run (the most steps, one start) at grid radius ``eps``."""
    rows = [r for r in _grid_rows(metrics, norm, name, eps) if r["attack"] == "PGD" and r["source"] == name]
    steps = max(r["steps"] for r in rows)
    starts = min(r["restarts"] for r in rows)
    return float(next(r[name] for r in rows if r["steps"] == steps and r["restarts"] == starts))


def _std_transfer(metrics: Mapping[str, Any], norm: str, name: str, eps: float) -> float:
    """``name``'s accuracy under the strongest attack transferred from the standard model at grid radius ``eps``."""
    return min(float(r[name]) for r in _grid_rows(metrics, norm, name, eps) if r["source"] == "std")


def _paper_strongest(eps: float) -> tuple[float, float]:
    """Table 1 of the paper: (MMA, PGD model) accuracy in % under the strongest attack at ``eps``."""
    t = tables.read("paper001_table1")
    rows = t[t["eps"] == eps]
    return float(rows["acc_mma_model"].min()), float(rows["acc_pgd_model"].min())


def _paper_row(eps: float, steps: float, restarts: float, source: str, column: str) -> float:
    """One cell (in %) of the paper's Table 1 (a PGD row)."""
    t = tables.read("paper001_table1")
    rows = t[(t["attack"] == "PGD") & (t["eps"] == eps) & (t["steps"] == steps) & (t["restarts"] == restarts)
             & (t["source_model"] == source)]
    return float(rows[column].iloc[0])


def _paper_clean_gap() -> float:
    """Table 1's Natural row: MMA minus PGD model clean accuracy, in points."""
    t = tables.read("paper001_table1")
    row = t[t["attack"] == "Natural"].iloc[0]
    return float(row["acc_mma_model"] - row["acc_pgd_model"])


def linf_numbers(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The L∞ numbers the claims, the headline and the prose compare (accuracies and gaps in points, MMA minus
    PGD-AT): the white-box gap at every curve radius, the strongest-attack gaps at Table 1's three radii, MMA's
    white-box minus standard-transfer accuracy at the largest, the clean accuracies and the average margins."""
    pgd, mma = _pairs(metrics, "linf")[0]
    eps = radius_of(pgd)
    a, b = _curve(metrics, pgd), _curve(metrics, mma)
    gaps = {e: 100 * (b[e] - a[e]) for e in a if e > 0}
    table = metrics["table_eps"]["linf"]
    strongest = {e: (100 * _strongest(metrics, "linf", mma, e), 100 * _strongest(metrics, "linf", pgd, e))
                 for e in table}
    n = int(metrics["n_test"])
    ca, cb = float(metrics["clean_acc"][pgd]), float(metrics["clean_acc"][mma])
    return {
        "pgd": pgd, "mma": mma, "eps": eps, "gaps": gaps,
        "below": {e: g for e, g in gaps.items() if e <= eps + ABOVE},
        "above": {e: g for e, g in gaps.items() if e > eps + ABOVE},
        "table": table, "strongest": strongest,
        "strongest_gap": {e: m - q for e, (m, q) in strongest.items()},
        "white_box_large": 100 * _single_white_box(metrics, "linf", mma, table[-1]),
        "transfer_large": 100 * _std_transfer(metrics, "linf", mma, table[-1]),
        "clean_mma": 100 * cb, "clean_pgd": 100 * ca, "clean_gap": 100 * (cb - ca),
        "clean_tol": 100 * CLEAN_SE * math.sqrt((ca * (1 - ca) + cb * (1 - cb)) / n), "n_test": n,
        "margin_mma": float(metrics["avg_margin"][mma]), "margin_pgd": float(metrics["avg_margin"][pgd]),
    }


def l2_numbers(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """The L2 numbers of the claims and the headline: "the" MMA model (the largest d_max: the preprint compares one
    MMA model, whose d_max it does not give), the best PGD-AT model's lead over it at every curve radius, the
    strongest-attack accuracies at the largest grid radius, and the Boundary minus strongest white-box PGD accuracy
    per robust model and grid radius (all in points)."""
    pairs = _pairs(metrics, "l2")
    pgds = list(dict.fromkeys(a for a, _ in pairs))
    mma = max((b for _, b in pairs), key=radius_of)
    curves = {n: _curve(metrics, n) for n in [*pgds, mma]}
    radii = [e for e in curves[mma] if e > 0]
    lead = {e: 100 * (max(curves[a][e] for a in pgds) - curves[mma][e]) for e in radii}
    table = metrics["table_eps"]["l2"]
    big = table[-1]
    strongest = {n: 100 * _strongest(metrics, "l2", n, big) for n in [*pgds, mma]}
    boundary = {}
    for n in dict.fromkeys([*pgds, *(b for _, b in pairs)]):
        for e in table:
            white = [float(r[n]) for r in _grid_rows(metrics, "l2", n, e) if r["attack"] == "PGD" and r["source"] == n]
            boundary[(n, e)] = 100 * (_keyed(metrics["boundary_acc"][n])[e] - min(white))
    return {"pairs": pairs, "pgds": list(dict.fromkeys(pgds)), "mma": mma, "lead": lead,
            "curve_attack": "the Boundary attack" if _curve_attack(metrics) == "boundary" else "white-box PGD",
            "big": big, "strongest": strongest,
            "beats_at_big": strongest[mma] - max(strongest[a] for a in pgds), "boundary": boundary,
            "margins": {n: float(metrics["avg_margin"][n]) for p in pairs for n in p}}


def _fmt(gaps: Mapping[float, float]) -> str:
    return ", ".join(f"{e:g}: {g:+.1f}" for e, g in gaps.items())


def _linf_claims(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    n = linf_numbers(metrics)
    eps, table = n["eps"], n["table"]
    at, big, top = n["strongest_gap"][table[0]], n["strongest_gap"][table[1]], table[-1]
    paper_above = min(_paper_row(e, PAPER_PGD_STEPS, 1, "MMA", "acc_mma_model")
                      - _paper_row(e, PAPER_PGD_STEPS, 1, "PGD", "acc_pgd_model") for e in PAPER_TABLE_EPS[1:])
    p_at, p_big = (m - q for m, q in (_paper_strongest(e) for e in PAPER_TABLE_EPS[:2]))
    paper_transfer = (_paper_row(PAPER_TABLE_EPS[-1], PAPER_PGD_STEPS, 1, "MMA", "acc_mma_model")
                      - min(_paper_row(PAPER_TABLE_EPS[-1], s, r, "STD", "acc_mma_model")
                            for s in (40, 100) for r in (1, 50)))
    transfer_gap = n["white_box_large"] - n["transfer_large"]
    return {
        "mma_beats_pgd_at_every_eps": results.claim(
            bool(n["gaps"]) and min(n["gaps"].values()) > 0, value=min(n["gaps"].values(), default=float("nan")),
            paper='§3, Fig. 3a (white-box PGD-100): "the MMA trained model is better than the PGD trained model at '
                  'all ε\'s"',
            detail=f"MMA - PGD-AT white-box PGD accuracy (points) at every attacked curve radius: {_fmt(n['gaps'])} "
                   "(> 0 at each)"),
        "mma_beats_pgd_above_train_eps": results.claim(
            bool(n["above"]) and min(n["above"].values()) > 100 * SIGNIFICANT,
            value=min(n["above"].values(), default=float("nan")), paper_value=paper_above,
            paper='§3, Fig. 3a: "When ε > 0.3, the MMA trained model is significantly better than PGD trained '
                  'model" (Table 1, white-box PGD-100 at ε = 0.4 and 0.5)',
            detail=f"MMA - PGD-AT white-box accuracy (points) at the curve radii above PGD-AT's ε = {eps:g}: "
                   f"{_fmt(n['above'])} (each > {100 * SIGNIFICANT:g}, the book's reading of 'significantly')"),
        "mma_beats_pgd_strongest_at_train_eps": results.claim(
            at > 0, value=at, paper_value=p_at,
            paper='Abstract, §3, Table 1: at ε = 0.3, under the strongest white-box and transfer PGD attacks, '
                  '"MMA model yields a 2% robust accuracy improvement over the PGD model (92.86% vs 90.65%)"',
            detail=f"strongest grid attack at {table[0]:g} (PGD-AT's ε; the paper's 0.3): MMA "
                   f"{n['strongest'][table[0]][0]:.1f}% vs PGD-AT {n['strongest'][table[0]][1]:.1f}%, "
                   f"difference {at:+.1f} points (> 0)"),
        "mma_robust_where_pgd_cracked": results.claim(
            big > 100 * SIGNIFICANT, value=big, paper_value=p_big,
            paper='Abstract, §3, Table 1: at ε = 0.4 "MMA training still achieves robust accuracy at 86.51%, while '
                  'the PGD model is completely cracked" (2.42%)',
            detail=f"strongest grid attack at {table[1]:g} (4/3 of PGD-AT's ε; the paper's 0.4): MMA "
                   f"{n['strongest'][table[1]][0]:.1f}% vs PGD-AT {n['strongest'][table[1]][1]:.1f}%, "
                   f"difference {big:+.1f} points (> {100 * SIGNIFICANT:g})"),
        "mma_transfer_below_white_box_at_large_eps": results.claim(
            transfer_gap > 0, value=transfer_gap, paper_value=paper_transfer,
            paper='§3, Table 1 at ε = 0.5: MMA keeps 89.76% under one white-box PGD run, but "when being attacked by '
                  'transfer attacks from the standardly trained model, the MMA trained model\'s robust accuracy '
                  'can be reduced to 10.96%" (PGD "gets stuck in poor local minima")',
            detail=f"MMA at {top:g} (5/3 of PGD-AT's ε; the paper's 0.5): one white-box PGD run "
                   f"{n['white_box_large']:.1f}%, strongest transfer from the standard model "
                   f"{n['transfer_large']:.1f}%, white-box minus transfer {transfer_gap:+.1f} points (> 0)"),
        "clean_acc_maintained": results.claim(
            n["clean_gap"] >= -n["clean_tol"], value=n["clean_gap"], paper_value=_paper_clean_gap(),
            paper='Abstract: MMA improves robustness "while maintaining the SOTA clean accuracy"; Table 1, Natural '
                  'row: MMA 98.74% vs PGD 98.63%',
            detail=f"clean accuracy MMA {n['clean_mma']:.1f}% vs PGD-AT {n['clean_pgd']:.1f}% on {n['n_test']:,} "
                   f"test images: MMA - PGD-AT {n['clean_gap']:+.1f} points (>= -{n['clean_tol']:.1f}, "
                   f"{CLEAN_SE:g} standard errors of the difference: not detectably lower)"),
        "mma_larger_avg_margin": results.claim(
            n["margin_mma"] > n["margin_pgd"], value=n["margin_mma"] - n["margin_pgd"],
            paper="not a statement of the paper: it follows from eq. (3), the average margin MMA maximizes; the "
                  "preprint reports no margins",
            detail=f"average L∞ test margin (PGD-bisection upper bound) MMA {n['margin_mma']:.4f} vs PGD-AT "
                   f"{n['margin_pgd']:.4f}"),
    }


def _l2_claims(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    n = l2_numbers(metrics)
    worst = max(n["lead"].values(), default=float("nan"))
    against = n["boundary"]
    mean_against = float(np.mean(list(against.values())))
    return {
        "l2_mma_close_to_best_pgd": results.claim(
            bool(n["lead"]) and worst <= 100 * L2_CLOSE, value=worst,
            paper='§3, MNIST under ℓ2 (Fig. 3): MMA "is not always better than the best PGD model at a given '
                  'perturbation length, but it provides similar performance compared with the best PGD model at all '
                  'ε\'s" (benchmarked with the Boundary attack)',
            detail=f"best PGD-AT model's lead over {plain(n['mma'])} under {n['curve_attack']} (points) at every "
                   f"attacked curve "
                   f"radius: {_fmt(n['lead'])} (each <= {100 * L2_CLOSE:g}, the book's reading of 'similar')"),
        "l2_mma_beats_pgd_at_large_eps": results.claim(
            n["beats_at_big"] > 0, value=n["beats_at_big"],
            paper='§3, MNIST under ℓ2 (Fig. 3): "the MMA model outperforms PGD models on large perturbations, e.g. '
                  'ε = 5, even when the PGD model is specifically trained on perturbations with that distortion '
                  'level"',
            detail=f"strongest grid attack (Boundary included) at the largest grid radius {n['big']:g}: "
                   + ", ".join(f"{plain(k)} {v:.1f}%" for k, v in n["strongest"].items())
                   + f"; MMA minus the best PGD-AT model {n['beats_at_big']:+.1f} points (> 0)"),
        "l2_boundary_stronger_than_pgd": results.claim(
            all(g <= 0 for g in against.values()) and mean_against < 0, value=mean_against,
            paper='§3, MNIST under ℓ2: the models are benchmarked with the Boundary attack "as we observe that it is '
                  'stronger than the PGD ℓ2 attack"',
            detail="Boundary minus strongest white-box PGD accuracy (points), per model and grid radius: "
                   + ", ".join(f"{k} @ {e:g}: {g:+.1f}" for (k, e), g in against.items())
                   + f" (each <= 0, mean {mean_against:+.1f} < 0)"),
        "l2_mma_larger_avg_margin": results.claim(
            all(n["margins"][b] > n["margins"][a] for a, b in n["pairs"]),
            value=min(n["margins"][b] - n["margins"][a] for a, b in n["pairs"]),
            paper="not a statement of the paper: it follows from eq. (3), the average margin MMA maximizes; the "
                  "preprint reports no margins",
            detail="; ".join(f"average L2 margin {b} {n['margins'][b]:.4f} vs {a} {n['margins'][a]:.4f}"
                             for a, b in n["pairs"])),
    }


def claims(metrics: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The section's claims, from a record's ``metrics`` (JSON form). L∞ (§3, Fig. 3a, Table 1): MMA better at
    every white-box radius, significantly better above PGD-AT's ε, better under the strongest attack at PGD-AT's ε
    (the +2 % headline), robust at 4/3 of it where PGD-AT is cracked, its standard-model transfer accuracy below its
    white-box accuracy at 5/3, clean accuracy maintained, and (not the paper's) a larger average margin. L2 (§3):
    MMA close to the best PGD-AT model at every radius, better than all at the largest, the Boundary attack
    stronger than PGD, and (not the paper's) larger average margins. Where each is required: the preset file."""
    out: dict[str, dict[str, Any]] = {}
    if "linf" in metrics["norms"]:
        out.update(_linf_claims(metrics))
    if "l2" in metrics["norms"]:
        out.update(_l2_claims(metrics))
    if "cifar" in metrics:
        from marginlib.papers.p001_mma import s05_cifar

        out.update(s05_cifar.claims(metrics["cifar"]))
    return out


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers that matter most (accuracies in %, differences in points, MMA minus PGD-AT unless named
    otherwise), from a record's ``metrics`` (JSON form)."""
    out: dict[str, float] = {}
    if "linf" in metrics["norms"]:
        n = linf_numbers(metrics)
        table = n["table"]
        out.update({
            "MMA clean acc (Linf, %)": n["clean_mma"], "PGD-AT clean acc (Linf, %)": n["clean_pgd"],
            "smallest white-box gap, all radii (Linf, points)": min(n["gaps"].values()),
            "white-box gap at PGD-AT's eps (Linf, points)": n["gaps"][min(n["gaps"], key=lambda e: abs(e - n["eps"]))],
            "smallest white-box gap above PGD-AT's eps (Linf, points)": min(n["above"].values(), default=float("nan")),
            "strongest-attack gap at 1x eps (Linf, points)": n["strongest_gap"][table[0]],
            "strongest-attack gap at 4/3 eps (Linf, points)": n["strongest_gap"][table[1]],
            "MMA white-box minus std transfer at 5/3 eps (Linf, points)": n["white_box_large"] - n["transfer_large"],
            "MMA avg margin (Linf)": n["margin_mma"], "PGD-AT avg margin (Linf)": n["margin_pgd"],
        })
    if "l2" in metrics["norms"]:
        n2 = l2_numbers(metrics)
        out.update({"best PGD-AT lead over MMA, largest (L2, points)": max(n2["lead"].values()),
                    "strongest-attack gap at the largest eps (L2, points)": n2["beats_at_big"]})
    return out


# -------------------------------------------------------------------------------------------------- glued sentences

def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def strongest_text(p: Params, grids: Grids, norm: str, name: str) -> str:
    """The strongest attack on ``name`` at the largest grid radius and the accuracy it leaves, beside one white-box
    PGD run (the fewest steps and restarts) on the same images, e.g. "PGD from the same model (20 steps,
    2 starts), 55.0% (one white-box run of 20 steps and 1 start on the same 200 images: 57.5%)"."""
    grid = grids.tables[norm]
    rows = grid[(grid.eps == grid.eps.max()) & grid[name].notna()].sort_values(name, kind="stable")
    row = rows.iloc[0]
    if row["attack"] == "PGD":
        how = f" ({_plural(int(row['steps']), 'step')}, {_plural(int(row['restarts']), 'start')})"
    else:
        how = f" ({_plural(int(row['steps']), 'step')})" if row["attack"] == "BOUNDARY" else ""
    attack = "Boundary" if row["attack"] == "BOUNDARY" else row["attack"]
    source = "the same model" if row["source"] == name else f"the {plain(row['source'])} model"
    ties = int((rows[name] == row[name]).sum()) - 1
    tied = f", tied with {_plural(ties, 'other attack')}" if ties else ""
    steps, starts = min(p.table_steps), min(p.table_restarts)
    single = row["attack"] == "PGD" and row["source"] == name and row["steps"] == steps and row["restarts"] == starts
    white = "" if single else (
        f" (one white-box run of {_plural(steps, 'step')} and {_plural(starts, 'start')} on the same "
        f"{p.setup(norm).n_attack:,} images: {white_box(p, grids, norm, name, row['eps'], strongest=False):.1%})")
    return f"{attack} from {source}{how}, {row[name]:.1%}{tied}{white}"


def _signed(points: float) -> str:
    return f"{points:+.1f} points"


def linf_below_text(n: Mapping[str, Any]) -> str:
    """Fig. 3a's "better at all ε" at and below PGD-AT's radius in this run: MMA minus PGD-AT at each curve radius
    there, and whether MMA is ahead at every one (from :func:`linf_numbers`)."""
    below = n["below"]
    parts = ", ".join(f"{_signed(g)} at ε = {e:.3g}" for e, g in below.items())
    behind = [e for e, g in below.items() if g <= 0]
    verdict = ("MMA is ahead at each of these radii, as Fig. 3a has it" if not behind else
               "MMA is not ahead at ε = " + ", ".join(f"{e:.3g}" for e in behind)
               + ", so the paper's \"better at all ε\" (Fig. 3a) does not hold in this run")
    return (f"At and below PGD-AT's training radius the white-box accuracy of MMA minus PGD-AT is {parts}. {verdict} "
            f"(one standard error of a difference of two accuracies on {n['n_test']:,} test images is about "
            f"{n['clean_tol'] / CLEAN_SE:.1f} points).")


def linf_headline_text(n: Mapping[str, Any]) -> str:
    """The paper's +2 % headline (strongest attack at PGD-AT's radius) and its ε = 0.4 statement, in this run."""
    e0, e1 = n["table"][0], n["table"][1]
    (m0, q0), (m1, q1) = n["strongest"][e0], n["strongest"][e1]
    g0 = m0 - q0
    verdict = ("MMA leads, as in the paper" if g0 > 0 else
               "The two tie, so the paper's lead is not reproduced" if g0 == 0 else
               "PGD-AT leads, so this run reverses the paper's headline")
    return (f"Under the strongest attack of the grid at PGD-AT's radius ({e0:.3g}, the paper's 0.3) MMA keeps "
            f"{m0:.1f}% and PGD-AT {q0:.1f}%, a difference of {_signed(g0)}. {verdict}. At {e1:.3g} (the paper's 0.4) "
            f"MMA keeps {m1:.1f}% and PGD-AT {q1:.1f}% ({_signed(m1 - q1)}).")


def linf_transfer_text(n: Mapping[str, Any]) -> str:
    """MMA's one white-box run against the strongest standard-model transfer at the largest grid radius."""
    w, t = n["white_box_large"], n["transfer_large"]
    verdict = ("so the transfer attack is the stronger one, as in the paper" if t < w else
               "so this grid does not show the paper's drop (the transfer attack is no stronger than one white-box "
               "run)")
    return (f"At {n['table'][-1]:.3g} (the paper's 0.5) MMA keeps {w:.1f}% under one white-box PGD run and {t:.1f}% "
            f"under the strongest attack transferred from the standard model, {verdict}.")


def l2_verdict_text(n: Mapping[str, Any]) -> str:
    """The paper's two L2 statements in this run (from :func:`l2_numbers`)."""
    worst = max(n["lead"].values())
    where = max(n["lead"], key=lambda e: n["lead"][e])
    close = "within" if worst <= 100 * L2_CLOSE else "not within"
    beats = n["beats_at_big"]
    return (f"Against {plain(n['mma'])}, the best PGD-AT model's largest lead under {n['curve_attack']} on the "
            f"curve is "
            f"{_signed(worst)} (at ε = {where:g}), {close} the {100 * L2_CLOSE:g} points the claim allows; under the "
            f"strongest attack at the largest grid radius ({n['big']:.3g}) MMA minus the best PGD-AT model is "
            f"{_signed(beats)}, so MMA {'is' if beats > 0 else 'is not'} better there.")


def metrics_of(p: Params, trained: Trained, curves: Curves, grids: Grids, m: Margins,
               cifar: Any = None) -> dict[str, Any]:
    """The record's metrics (the numbers behind every figure, table, claim and glued number of the page); with
    ``cifar`` (a :class:`~marginlib.papers.p001_mma.s05_cifar.CifarRun`) also ``metrics["cifar"]``."""
    metrics: dict[str, Any] = {
        "source": trained.source, "n_train": trained.n_train, "n_test": p.n_test, "arch": p.arch,
        "norms": list(p.norm_list), "train_seconds": trained.seconds,
        "history": {name: h.to_dict()["rows"] for name, h in trained.histories.items()},
        "pairs": {norm: [list(pair) for pair in p.setup(norm).named_pairs] for norm in p.norm_list},
        "clean_acc": trained.clean_acc,
        "robust_acc": {name: {_curve_key(norm, p.l2_curve_attack): curves[norm][name]} for norm in p.norm_list
                       for name in p.setup(norm).curved},
        "table1": {norm: grid.to_dict(orient="records") for norm, grid in grids.tables.items()},
        "table_eps": {norm: list(p.setup(norm).table) for norm in p.norm_list},
        "avg_margin": m.average, "margins": m.of, "mma_stored_eps_over_dmax": trained.stored,
        "paper_vs_this": paper_comparison(p, trained, grids, m).to_dict(orient="records"),
    }
    if p.l2_curve_attack != "pgd":
        metrics["l2_curve_attack"] = p.l2_curve_attack
    if "l2" in p.norm_list:
        metrics.update({"boundary_acc": grids.boundary, "boundary_distance": grids.boundary_dist,
                        "boundary_vs_pgd": m.boundary_vs_pgd})
        for name in p.setup("l2").robust:
            metrics["robust_acc"][name]["boundary"] = grids.boundary[name]
    if cifar is not None:
        from marginlib.papers.p001_mma import s05_cifar

        metrics["cifar"] = s05_cifar.metrics_of(p, cifar)
    return metrics


def record(p: Params, trained: Trained, curves: Curves, grids: Grids, m: Margins,
           cifar: Any = None) -> dict[str, Any]:
    """``{"metrics", "claims"}`` for :meth:`marginlib.book.results.Run.save`; the claims (:func:`claims`) are
    judged on the metrics as the record stores them (the CIFAR-10 half's too, with ``cifar``)."""
    metrics = metrics_of(p, trained, curves, grids, m, cifar)
    return {"metrics": metrics, "claims": claims(results.jsonable(metrics))}


def _linf_quoted(p: Params, trained: Trained, curves: Curves, grids: Grids, m: Margins,
                 n: Mapping[str, Any]) -> dict[str, object]:
    s = p.setup("linf")
    pgd, mma = s.named_pairs[0]
    above = list(n["above"])
    nearest = min(s.curve, key=lambda e: abs(e - s.table[1]))
    return {
        "pgd_eps_text": f"{p.pgd_eps:g}", "dmax_text": f"{p.mma_dmax:g}", "ratio_text": f"{p.mma_dmax / p.pgd_eps:.2g}",
        "curve_max_text": f"{p.curve_max:g}", "n_attack_text": f"{p.n_attack:,}",
        "table_eps_text": ", ".join(f"{e:.3f}" for e in s.table), "scale_text": f"{p.scale:.3g}",
        "above_lo": f"{above[0]:.3g}" if above else "—", "above_hi": f"{above[-1]:.3g}" if above else "—",
        "gap_min": min(n["above"].values()) if above else float("nan"),
        "gap_max": max(n["above"].values()) if above else float("nan"),
        "frac_dmax": 100 * float((trained.stored[mma] >= 1 - HINGE).double().mean()),
        "margin_mma": m.average[mma], "margin_pgd": m.average[pgd], "margin_std": m.average["std"],
        "pgd_at_43": 100 * curves["linf"][pgd][nearest],
        "clean_mma": n["clean_mma"], "clean_pgd": n["clean_pgd"],
        "mma_strongest_large": strongest_text(p, grids, "linf", mma),
        "pgd_strongest_large": strongest_text(p, grids, "linf", pgd),
        "linf_below_text": linf_below_text(n), "linf_headline_text": linf_headline_text(n),
        "linf_transfer_text": linf_transfer_text(n),
    }


def l2_curve_text(p: Params, trained: Trained, curves: Curves) -> str:
    """The middle L2 pair's white-box accuracy difference at every curve radius, and their clean accuracies."""
    s = p.setup("l2")
    a, b = s.named_pairs[len(s.named_pairs) // 2]
    return ("Between MMA and the PGD-AT model it is paired with, the white-box accuracy differs by "
            + "; ".join(f"{100 * (curves['l2'][b][e] - curves['l2'][a][e]):+.1f} points at ε = {e:g}"
                        for e in s.curve if e > 0)
            + f" ({plain(b)} minus {plain(a)}), and the clean accuracies are "
            + f"{trained.clean_acc[b]:.1%} and {trained.clean_acc[a]:.1%}.")


def boundary_text(p: Params, grids: Grids) -> str:
    """The Boundary attack's accuracies at the L2 grid radii beside the strongest white-box PGD's, per model."""
    s = p.setup("l2")
    left = "; ".join(f"{plain(n)}: " + ", ".join(f"{grids.boundary[n][e]:.0%}" for e in s.table) for n in s.robust)
    white = "; ".join(f"{plain(n)}: " + ", ".join(f"{white_box(p, grids, 'l2', n, e):.0%}" for e in s.table)
                      for n in s.robust)
    return (f"On the first {p.l2_n_attack} test images the Boundary attack leaves the models {left} at the grid "
            f"radii, against {white} under white-box PGD.")


def _l2_quoted(p: Params, trained: Trained, curves: Curves, grids: Grids, m: Margins,
               n: Mapping[str, Any]) -> dict[str, object]:
    s = p.setup("l2")
    a, b = s.named_pairs[len(s.named_pairs) // 2]
    closer = "; ".join(f"{100 * v['frac_boundary_shorter']:.0f}% of the images of {plain(n)} (median length ratio "
                       f"Boundary / PGD {v['median_ratio']:.2f})" for n, v in m.boundary_vs_pgd.items())
    return {
        "l2_models_text": ", ".join(f"PGD-AT at ε = {e:g} against MMA with d_max = {d:g}" for e, d in s.pairs),
        "l2_curve_max_text": f"{p.l2_curve_max:g}", "l2_n_test_text": f"{p.l2_n_test:,}",
        "l2_n_attack_text": f"{p.l2_n_attack:,}", "l2_table_eps_text": ", ".join(f"{e:.3f}" for e in s.table),
        "boundary_steps_text": f"{p.boundary_steps:,}",
        "l2_curve_text": l2_curve_text(p, trained, curves), "l2_verdict_text": l2_verdict_text(n),
        "l2_mma_strongest_large": strongest_text(p, grids, "l2", b),
        "l2_pgd_strongest_large": strongest_text(p, grids, "l2", a),
        "boundary_text": boundary_text(p, grids),
        "l2_frac_dmax": 100 * float((trained.stored[b] >= 1 - HINGE).double().mean()),
        "l2_margin_text": "; ".join(f"{m.average[n]:.3f} for {plain(n)}" for n in s.robust),
        "l2_boundary_margin_text": f"The Boundary attack found a closer adversarial image than PGD for {closer}.",
        "l2_setup_text": f"PGD-AT at ε = {', '.join(f'{e:g}' for e in p.l2_pgd_eps)} against MMA with d_max = "
                         f"{', '.join(f'{d:g}' for d in p.l2_mma_dmax)} (paper: 1, 3, 5 against 2, 4, 6), every "
                         f"radius about {p.l2_scale:.2g} of the paper's.",
    }


def quoted(p: Params, trained: Trained, curves: Curves, grids: Grids, m: Margins,
           cifar: Any = None) -> dict[str, object]:
    """The numbers and sentences the page glues (``{glue:text}`` names), for :func:`marginlib.book.plots.numbers`
    (``cifar_text``: the CIFAR-10 half's, or that this profile does not run it)."""
    from marginlib.papers.p001_mma import s05_cifar

    out: dict[str, object] = {
        "warmup_text": str(p.warmup), "steps_text": str(p.train_steps), "eval_steps_text": str(p.eval_steps),
        "margin_steps_text": str(p.margin_steps), "margin_bisection_text": str(p.margin_bisection),
        "n_train_text": f"{trained.n_train:,} MNIST training images ({trained.source})",
        "epochs_text": str(p.epochs), "restarts_text": " and ".join(str(r) for r in p.table_restarts),
        "n_test_text": f"{p.n_test:,}", "training_text": training_text(p), "l2_curve_attack_text": (
            f"the Boundary attack ({p.boundary_steps:,} steps)" if p.l2_curve_attack == "boundary" else
            f"white-box PGD ({p.eval_steps} steps)"),
        "optimizer_text": (f"Adam at a learning rate of {p.lr:g}" if p.optimizer == "adam" else
                           f"SGD (momentum 0.9) at a learning rate of {p.lr:g}"),
        "select_text": (f"the epoch with the best average AN-PGD margin on {p.n_val:,} held-out training images"
                        if p.select == "val_margin" else "the last epoch"),
    }
    metrics = results.jsonable(metrics_of(p, trained, curves, grids, m, cifar))
    out["cifar_text"] = s05_cifar.summary_text(p, cifar, metrics.get("cifar"))
    if "linf" in p.norm_list:
        out.update(_linf_quoted(p, trained, curves, grids, m, linf_numbers(metrics)))
    if "l2" in p.norm_list:
        out.update(_l2_quoted(p, trained, curves, grids, m, l2_numbers(metrics)))
    return out


def training_text(p: Params) -> str:
    """How this run trains, beside the released code (BorealisAI/mma_training ``config.py``, ``train.py``): the
    optimizer, the ramp, PGD-AT's step, AN-PGD's steps, smallest and largest length, and the model selection."""
    ramp = (f"Both robust methods ramp their radius linearly over the first {p.warmup} epochs (PGD-AT's ε and step, "
            "MMA's d_max and ε_min alike, `marginlib.methods.warmup.RadiusWarmup`); the ramp is this book's addition "
            "for short runs, in neither the paper nor its released code, without which a small model trained "
            "briefly at full radius stays at chance." if p.warmup > 1 else
            "Both robust methods train at their full radius from the first step, as the released code does.")
    step = (f"PGD-AT's ℓ∞ step is {p.pgd_step:g} (Madry et al.'s MNIST setting)" if p.pgd_step > 0 else
            "PGD-AT steps 2.5ε/steps (Madry et al.'s MNIST model: 40 steps of 0.01)")
    released = {"PGD steps during training": (p.train_steps, 40),
                "AN-PGD's smallest ℓ∞ length": (p.mma_eps_min or "d_max/steps", 0.1),
                "AN-PGD's smallest ℓ2 length": (p.l2_mma_eps_min or "d_max/steps", 0.5),
                "AN-PGD's largest length over d_max": (p.eps_max_factor, 1.05)}
    differs = [f"{k} {v!s} (released {r!s})" for k, (v, r) in released.items() if v != r]
    diff = ("; it departs from the released MNIST settings in " + ", ".join(differs) if differs else
            "; these are the released MNIST settings")
    return (f"{ramp} The models train with {p.optimizer.upper() if p.optimizer == 'sgd' else 'Adam'} at a learning "
            f"rate of {p.lr:g}, batch {p.batch_size}, for {p.epochs} epochs (released: Adam at 1e-4 for 100,000 "
            f"steps of 50); {step}. MMA keeps "
            + ("the epoch with the best average AN-PGD length on "
               f"{p.n_val:,} held-out training images, as the released code does" if p.select == "val_margin" else
               "its last epoch (the released code keeps the epoch of best validation margin)")
            + f"{diff}.")
