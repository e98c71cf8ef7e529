"""Paper 002 §5 (Liu & Chan, effective margin regularization at scale): Tables 3, 4, 9 and 10, Figs. 3 and 6,
Algorithm 1. Notebook: ``notebooks/07_emr_large_scale.ipynb``.

Approx-EMR (paper 002, eq. (7), Algorithm 1) added to adversarial training objectives and compared with the
regularizers and objectives of §5, all built from :mod:`marginlib.methods`:

- the rows of Tables 3 and 9: AT and TRADES, each plain and with +IGR, +HE and +EMR; AT+MAIL, TRADES+MAIL and
  MART, each plain and with +EMR (:func:`train_table3`), every one scored by clean accuracy, FGSM, PGD10, a long
  PGD (the paper's PGD100) and AutoAttack (:func:`attack_accuracies`);
- Fig. 3: AutoAttack accuracy against the radius for the MAIL rows with and without EMR (:func:`aa_vs_eps`,
  drawn by :func:`figure3`);
- Fig. 6: AT+EMR over a grid of temperatures ``t`` and weights ``lambda_EMR`` (:func:`grid_fig6`, :func:`figure6`);
- Table 10: seconds per SGD iteration of each AT / TRADES method (:func:`timing_table10`,
  :func:`table10_frame`);
- Table 4 (EMR at the clean or the adversarial batch) is the parameter ``emr_on``, one variant per run.

Conventions (paper 002 §5.1): the AT and TRADES rows train on ``n_train`` images and keep the epoch with the best
validation PGD10 accuracy; the MAIL and MART rows train on the training and validation images together and keep
the final epoch. Every PGD evaluation is l-inf without random start. Accuracies are fractions in [0, 1];
figures, tables and quoted numbers show percentages.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.figure
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import nn
from torch.nn import functional as F

from marginlib import attacks, cost, data, evaluate, executors, jobs, models, timing, train, validate
from marginlib.book.results import claim
from marginlib.methods.base import Method
from marginlib.methods.he import hypersphere
from marginlib.papers import tables

NOTEBOOK = "07_emr_large_scale"

#: claim ``emr_overhead_like_igr``: ``|EMR step time / IGR step time - 1| <= 25%`` (Table 10: "EMR and IGR have
#: approximately the same computational time"; 3.22 s vs 3.21 s per iteration in the paper)
OVERHEAD = 0.25

#: the adversarial objectives of §5 (row prefixes) and the regularizers each is trained with, in Table 3's order
REGULARIZERS: dict[str, tuple[str, ...]] = {
    "AT": ("", "IGR", "HE", "EMR"), "TRADES": ("", "IGR", "HE", "EMR"),
    "AT+MAIL": ("", "EMR"), "TRADES+MAIL": ("", "EMR"), "MART": ("", "EMR"),
}
#: families whose model is selected on the validation set (paper 002 §5.1); the others keep the final epoch
SELECTED = ("AT", "TRADES")
#: the families of Table 10 (every regularizer timed, whether or not its row is trained)
TIMED = ("AT", "TRADES")
#: each dataset's images: pixels a side (``image_size`` pools them by a whole factor)
NATIVE_SIZE = {"mnist": 28, "cifar10": 32}
#: the pairs (baseline, +EMR) of Fig. 3
FIG3_PAIRS = (("AT+MAIL", "AT+MAIL+EMR"), ("TRADES+MAIL", "TRADES+MAIL+EMR"))
#: rows the page quotes and Table 3's claims compare (AutoAttack accuracies, the HE gap, Fig. 6's baseline):
#: they cannot be skipped
QUOTED_ROWS = ("AT", "AT+IGR", "AT+HE", "AT+EMR", "TRADES", "TRADES+EMR")


def name_of(family: str, reg: str) -> str:
    """The Table 3 row name of ``family`` with regularizer ``reg`` (``""`` for none): ``"AT+EMR"``."""
    return family + (f"+{reg}" if reg else "")


#: every Table 3 row as ``(family, regularizer)``, in the table's order
ROWS: tuple[tuple[str, str], ...] = tuple((f, r) for f, regs in REGULARIZERS.items() for r in regs)
ROW_NAMES: tuple[str, ...] = tuple(name_of(f, r) for f, r in ROWS)


@dataclass(frozen=True)
class Family:
    """One adversarial objective of §5 with its schedule and the settings of its rows.

    ``method`` and ``options`` build the objective (:func:`objective` adds ``eps`` and ``steps``);
    ``weight_decay`` is lambda_WD of the plain and +IGR rows, ``emr_weight_decay`` that of +EMR (Tables 6-7);
    ``emr_weight`` and ``emr_temperature`` are its +EMR row's lambda_EMR and t; ``key`` names its schedule's
    parameters (``epochs_<key>``, ``milestones_<key>``).
    """

    key: str
    method: str
    options: Mapping[str, object]
    epochs: int
    milestones: tuple[int, ...]
    weight_decay: float
    emr_weight_decay: float
    emr_weight: float
    emr_temperature: float


@dataclass(frozen=True)
class Params:
    """The parameters cell of ``notebooks/07_emr_large_scale.ipynb`` (same names, order and defaults; presets in
    ``notebooks/params/07_emr_large_scale.yaml``). :attr:`families` groups the per-objective settings."""

    profile: str = "demo"
    dataset: str = "mnist"
    source: str = "auto"
    n_train: int = 1000
    n_val: int = 100
    n_test: int = 200
    image_size: int = 14
    arch: str = "resnet"
    resnet_blocks: tuple[int, ...] = (1, 1, 1)
    resnet_widths: tuple[int, ...] = (8, 16, 32)
    batch_size: int = 50
    lr: float = 0.05
    epochs_at: int = 8
    milestones_at: tuple[int, ...] = (6,)
    epochs_trades: int = 8
    milestones_trades: tuple[int, ...] = (6,)
    epochs_mail: int = 8
    milestones_mail: tuple[int, ...] = (6,)
    epochs_mart: int = 8
    milestones_mart: tuple[int, ...] = (6,)
    wd_at: float = 0.001
    wd_emr: float = 0.0005
    wd_he: float = 0.0005
    wd_trades: float = 0.0005
    wd_mail: float = 0.0002
    wd_mart: float = 0.0005
    eps: float = 0.1
    at_steps: int = 2
    at_step: float = 0.05
    mart_step: float = 0.05
    trades_beta: float = 12.0
    mail_trades_beta: float = 5.0
    mart_beta: float = 6.0
    mail_burn_in: int = 2
    igr_weight: float = 1.0
    he_scale: float = 15.0
    he_margin: float = 0.2
    emr_scaling: str = "batch_mean"
    emr_on: str = "clean"
    emr_weight_at: float = 0.1
    emr_t_at: float = 40.0
    emr_weight_trades: float = 0.3
    emr_t_trades: float = 0.1
    emr_weight_mail_at: float = 1.0
    emr_t_mail_at: float = 1.0
    emr_weight_mail_trades: float = 3.0
    emr_t_mail_trades: float = 1.0
    emr_weight_mart: float = 1.0
    emr_t_mart: float = 1.0
    eval_step: float = 0.025
    pgd_long_steps: int = 50
    pgd_steps: int = 10
    aa_version: str = "custom"
    aa_iters: int = 15
    aa_targets: int = 3
    aa_eps_factors: tuple[float, ...] = (0.5, 1.0, 1.5)
    grid_temperatures: tuple[float, ...] = (0.1, 40.0)
    grid_weights: tuple[float, ...] = (0.1, 1.0)
    timing_batch: int = 50
    timing_repeat: int = 3
    timing_rounds: int = 6
    augment: bool = False
    trades_attack: str = "kl"
    mail_normalize: str = "mean"
    mail_burn_in_objective: str = "base"
    grid_arch: str = ""
    skip: tuple[str, ...] = ("TRADES+IGR", "TRADES+HE")
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.skip) - set(ROW_NAMES))
        if unknown:
            raise ValueError(f"skip: unknown rows {unknown}; valid: {list(ROW_NAMES)}")
        quoted = [name for name in QUOTED_ROWS if name in self.skip]
        if quoted:
            raise ValueError(f"skip: rows {quoted} are quoted by the page and compared by Table 3's claims; "
                             f"skip only rows among {[n for n in ROW_NAMES if n not in QUOTED_ROWS]}")
        if all(any(name in self.skip for name in pair) for pair in FIG3_PAIRS):
            raise ValueError(f"skip: Fig. 3 needs both rows of at least one of the pairs {list(FIG3_PAIRS)}")
        for spec in self.families.values():
            if any(m < 1 for m in spec.milestones) or list(spec.milestones) != sorted(spec.milestones):
                raise ValueError(f"milestones_{spec.key}={list(spec.milestones)} must be increasing epochs >= 1 (one "
                                 f"after epochs_{spec.key}={spec.epochs} never divides the learning rate, as in a "
                                 "dry run, which cuts the epochs and keeps the paper's milestones)")
        if self.mail_burn_in >= self.epochs_mail:
            raise ValueError(f"mail_burn_in={self.mail_burn_in} must be below epochs_mail={self.epochs_mail}: "
                             "MAIL would never reweight, and its rows would be plain AT / TRADES")
        for name in ("aa_eps_factors", "grid_temperatures", "grid_weights"):
            if not getattr(self, name):
                raise ValueError(f"{name} must hold at least one value")
        if self.dataset not in NATIVE_SIZE:
            raise ValueError(f"dataset={self.dataset!r}: valid: {list(NATIVE_SIZE)}")
        native = NATIVE_SIZE[self.dataset]
        if self.image_size < 1 or native % self.image_size:
            raise ValueError(f"image_size={self.image_size!r}: {self.dataset} images ({native}x{native}) are "
                             f"average-pooled by a whole factor; valid: "
                             f"{[native // k for k in range(1, native + 1) if native % k == 0]}")
        for name in ("timing_batch", "timing_repeat", "timing_rounds", "pgd_long_steps", "pgd_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def families(self) -> dict[str, Family]:
        """The five objectives of §5 with their schedules, weight decays and EMR settings (Tables 6-7, App. A)."""
        at = {"step_size": self.at_step}
        mail: dict[str, object] = {"burn_in": self.mail_burn_in, "step_size": self.at_step}
        mail |= {k: v for k, v in (("normalize", self.mail_normalize),
                                   ("burn_in_objective", self.mail_burn_in_objective)) if v not in ("mean", "base")}
        trades = {"beta": self.trades_beta, **at, **({"attack": "ce"} if self.trades_attack == "ce" else {})}
        return {
            "AT": self._family("at", "pgd_at", at, self.wd_at, (self.emr_weight_at, self.emr_t_at), emr_wd=self.wd_emr),
            "TRADES": self._family("trades", "trades", trades, self.wd_trades,
                                   (self.emr_weight_trades, self.emr_t_trades)),
            "AT+MAIL": self._family("mail", "mail", {"objective": "at", **mail}, self.wd_mail,
                                    (self.emr_weight_mail_at, self.emr_t_mail_at)),
            "TRADES+MAIL": self._family("mail", "mail", {"objective": "trades", "beta": self.mail_trades_beta, **mail},
                                        self.wd_mail, (self.emr_weight_mail_trades, self.emr_t_mail_trades)),
            "MART": self._family("mart", "mart", {"beta": self.mart_beta, "step_size": self.mart_step}, self.wd_mart,
                                 (self.emr_weight_mart, self.emr_t_mart)),
        }

    def _family(self, key: str, method: str, options: Mapping[str, object], wd: float, emr: tuple[float, float], *,
                emr_wd: float | None = None) -> Family:
        """A :class:`Family` on the schedule ``epochs_<key>`` / ``milestones_<key>``; +EMR's lambda_WD is ``wd``
        unless ``emr_wd`` is given."""
        epochs, milestones = getattr(self, f"epochs_{key}"), getattr(self, f"milestones_{key}")
        return Family(key, method, options, epochs, tuple(milestones), wd, wd if emr_wd is None else emr_wd, *emr)

    @property
    def rows(self) -> list[tuple[str, str]]:
        """The Table 3 rows this run trains: :data:`ROWS` less ``skip``."""
        return [(f, r) for f, r in ROWS if name_of(f, r) not in self.skip]

    def weight_decay(self, family: str, reg: str) -> float:
        """lambda_WD of row ``(family, reg)``: ``wd_he`` for +HE (the HE code's default), the family's EMR weight
        decay for +EMR, its own otherwise (+IGR shares it; Tables 6-7)."""
        spec = self.families[family]
        return self.wd_he if reg == "HE" else spec.emr_weight_decay if reg == "EMR" else spec.weight_decay

    @property
    def long_pgd(self) -> str:
        """The key of the long PGD (the paper's PGD100): ``"pgd<pgd_long_steps>"``."""
        return f"pgd{self.pgd_long_steps}"

    @property
    def radii(self) -> list[float]:
        """Fig. 3's AutoAttack radii: ``aa_eps_factors`` times ``eps``."""
        return [f * self.eps for f in self.aa_eps_factors]

    @property
    def autoattack_options(self) -> dict[str, Any]:
        """Options of :func:`marginlib.attacks.autoattack`: none for the standard ensemble at its own lengths
        (``aa_iters = 100``, ``aa_targets = 9``), else those a dry run cuts (APGD's and FAB's iterations, Square's
        5,000 queries scaled by ``aa_iters / 100``, the targeted attacks' classes); APGD-CE and APGD-T with
        ``aa_iters`` iterations and ``aa_targets`` target classes for the custom one."""
        if self.aa_version == "standard":
            cut = {"n_iter": self.aa_iters, "n_queries": self.aa_iters * STANDARD_AA_QUERIES // STANDARD_AA_ITERS,
                   "n_target_classes": self.aa_targets}
            own = {"n_iter": STANDARD_AA_ITERS, "n_queries": STANDARD_AA_QUERIES,
                   "n_target_classes": STANDARD_AA_TARGETS}
            return {k: v for k, v in cut.items() if v != own[k]}
        return {"attacks": ["apgd-ce", "apgd-t"], "n_iter": self.aa_iters, "n_target_classes": self.aa_targets}


#: the standard AutoAttack ensemble's own lengths: APGD's and FAB's iterations, Square's queries
STANDARD_AA_ITERS, STANDARD_AA_QUERIES, STANDARD_AA_TARGETS = 100, 5000, 9


# ---------------------------------------------------------------------------------------------------- data, model

@dataclass(frozen=True)
class Splits:
    """Training, validation (model selection, §5.1) and test images."""

    train: data.Dataset
    val: data.Dataset
    test: data.Dataset

    @property
    def train_and_val(self) -> data.Dataset:
        """Training and validation images together: what the rows without model selection train on."""
        return dataclasses.replace(self.train, x=torch.cat([self.train.x, self.val.x]),
                                   y=torch.cat([self.train.y, self.val.y]))

    @property
    def in_channels(self) -> int:
        return int(self.train.x.shape[1])

    def describe(self) -> str:
        return (f"train {len(self.train.y)}, validation {len(self.val.y)}, test {len(self.test.y)}, "
                f"images {tuple(self.train.x.shape[1:])}")


def _load(*, dataset: str, split: str, n: int, seed: int, source: str, image_size: int,
          verbose: bool = False) -> data.Dataset:
    d = data.load(dataset, split=split, n=n, seed=seed, source=source, verbose=verbose)
    factor = d.x.shape[-1] // image_size
    if factor * image_size != d.x.shape[-1]:
        raise ValueError(f"image_size={image_size}: {d.source} images are {d.x.shape[-1]} pixels a side, not a "
                         "whole multiple of it")
    if factor > 1:
        d = dataclasses.replace(d, x=F.avg_pool2d(d.x, factor),
                                source=f"{d.source}; {factor}x{factor} average-pooled to {image_size}x{image_size}")
    return d


@functools.lru_cache(maxsize=2)
def _pool_split(*, dataset: str, n_train: int, n_val: int, seed: int, source: str,
                image_size: int) -> tuple[data.Dataset, data.Dataset]:
    """``n_train + n_val`` training images split at random (seed ``seed``) into training and validation (kept for
    the next call: every job of the section loads one of its parts)."""
    pool = _load(dataset=dataset, split="train", n=n_train + n_val, seed=seed, source=source, image_size=image_size,
                 verbose=True)
    order = torch.randperm(len(pool.y), generator=torch.Generator().manual_seed(seed))
    return pool.subset(order[:n_train]), pool.subset(order[n_train:])


PARTS = ("train", "val", "train_and_val")


def load_part(*, part: str, **pool: Any) -> data.Dataset:
    """One part of :func:`_pool_split`'s training pool (``"train"``, ``"val"`` or ``"train_and_val"``): what a
    training job of the section loads (its data specs call this)."""
    train_set, val = _pool_split(**pool)
    return {"train": train_set, "val": val, "train_and_val": Splits(train_set, val, val).train_and_val}[
        validate.choice("part", part, PARTS)]


def data_spec(p: Params, part: str) -> dict[str, Any]:
    """The job data spec of ``part`` of the training pool (:func:`load_part`; the test images are no job's)."""
    return {"call": f"{__name__}:load_part", "part": part, "dataset": p.dataset, "n_train": p.n_train,
            "n_val": p.n_val, "seed": p.seed, "source": p.source, "image_size": p.image_size}


def load_data(p: Params) -> Splits:
    """``n_train + n_val`` training images split at random (seed ``seed``) into training and validation, and
    ``n_test`` test images; average-pooled to ``image_size`` pixels a side."""
    pool = {k: v for k, v in data_spec(p, "train").items() if k not in ("call", "part")}
    train_set, val = _pool_split(**pool)
    return Splits(train_set, val, _load(dataset=p.dataset, split="test", n=p.n_test, seed=p.seed, source=p.source,
                                        image_size=p.image_size, verbose=True))


def build_network(*, seed: int, arch: str, in_channels: int, he_scale: float | None = None,
                  **options: Any) -> nn.Module:
    """A fresh ``arch`` network from ``seed`` (``options`` to :func:`marginlib.models.build`), with a
    hypersphere-embedding head of scale ``he_scale`` when given (the HE rows)."""
    model = models.build(arch, in_channels=in_channels, seed=seed, **options)
    return hypersphere(model, scale=he_scale) if he_scale is not None else model


def model_spec(p: Params, *, in_channels: int, he: bool = False, arch: str | None = None) -> dict[str, Any]:
    """The job model spec (:func:`build_network`) of the rows' ``arch`` (or the ``arch`` given: Fig. 6's
    ``grid_arch``), with a hypersphere-embedding head for the HE rows."""
    arch = arch or p.arch
    resnet = {"blocks": list(p.resnet_blocks), "widths": list(p.resnet_widths)}
    return {"call": f"{__name__}:build_network", "arch": arch, "in_channels": in_channels,
            **(resnet if arch == "resnet" else {}), **({"he_scale": p.he_scale} if he else {})}


def new_model(p: Params, *, in_channels: int, he: bool = False, arch: str | None = None) -> nn.Module:
    """A fresh network of :func:`model_spec` from seed ``seed``."""
    spec = {k: v for k, v in model_spec(p, in_channels=in_channels, he=he, arch=arch).items() if k != "call"}
    return build_network(seed=p.seed, **spec)


# ---------------------------------------------------------------------------------------------------- methods

def objective_spec(p: Params, family: str) -> dict[str, Any]:
    """The spec (:func:`marginlib.methods.build`) of ``family``'s adversarial objective (AT, TRADES, MAIL with
    either, MART), ``at_steps`` PGD steps at radius ``eps``."""
    spec = p.families[family]
    return {"name": spec.method, "eps": p.eps, "steps": p.at_steps, **spec.options}


def objective(p: Params, family: str) -> Method:
    """The adversarial objective of ``family`` (:func:`objective_spec`)."""
    return jobs.build_method(objective_spec(p, family))


def recipe_spec(p: Params, family: str, reg: str, *, weight: float | None = None,
                temperature: float | None = None) -> dict[str, Any]:
    """The spec of row ``(family, reg)``'s method: the objective alone or with +IGR, +HE or +EMR (Approx-EMR,
    eq. (7), at the family's lambda_EMR and t unless ``weight`` / ``temperature`` say otherwise; Fig. 6's grid).

    IGR's lambda is put on EMR's per-sample scale: with ``emr_scaling="batch_mean"`` (the authors' code,
    lambda / B^2 per sample) ``igr_weight / batch_size``.
    """
    base = objective_spec(p, family)
    if reg == "IGR":
        igr = p.igr_weight / p.batch_size if p.emr_scaling == "batch_mean" else p.igr_weight
        return {"name": "igr", "weight": igr, "base": base}
    if reg == "HE":
        return {"name": "he", "margin": p.he_margin, "base": base}
    if reg == "EMR":
        spec = p.families[family]
        return {"name": "emr", "weight": spec.emr_weight if weight is None else weight, "mode": "approx",
                "temperature": spec.emr_temperature if temperature is None else temperature,
                "scaling": p.emr_scaling, "on": p.emr_on, "base": base}
    return base


def recipe(p: Params, family: str, reg: str, *, weight: float | None = None,
           temperature: float | None = None) -> Method:
    """The method of row ``(family, reg)`` (:func:`recipe_spec`)."""
    return jobs.build_method(recipe_spec(p, family, reg, weight=weight, temperature=temperature))


# ---------------------------------------------------------------------------------------------------- Table 3

@dataclass(frozen=True)
class Trained:
    """One trained row: the model (best validation epoch for AT / TRADES), its history and training seconds."""

    model: nn.Module
    history: train.History
    seconds: float


def _pgd_accuracy(p: Params, model: nn.Module, d: data.Dataset, *, steps: int) -> float:
    return evaluate.robust_accuracy(model, d.x, d.y, eps=[p.eps], norm="linf", step_size=p.eval_step,
                                    steps=steps)[p.eps]


def _pgd10_accuracy(p: Params, model: nn.Module, d: data.Dataset, size: str, *scales: str) -> float:
    """Table 3's PGD10 accuracy (``pgd_steps`` iterations, 10 at paper) on ``d``: a cost unit of its own, scaled by
    ``size`` (the images' parameter), its iterations and ``scales``, because a dry run cuts the iterations."""
    with cost.work(size, "pgd_steps", "image_size^2", *scales):
        return _pgd_accuracy(p, model, d, steps=p.pgd_steps)


def row_job(p: Params, splits: Splits, family: str, reg: str, *, weight: float | None = None,
            temperature: float | None = None, arch: str | None = None, scales: tuple[str, ...] = ()) -> jobs.Job:
    """Row ``(family, reg)``'s training as a cached job: its schedule and weight decay; lambda_EMR divided with the
    learning rate (``decay_regularizer``, paper 002 §5.1); every training batch randomly cropped and flipped with
    ``augment`` (the authors' scripts); AT and TRADES train on the training split and keep the epoch of best
    validation PGD10 accuracy (``pgd_steps`` iterations, §5.1; a cost unit scaling with ``n_val`` and the epochs),
    the others on training and validation images together. ``arch`` overrides the network (Fig. 6), ``scales``
    names the grid lists the caller loops over (:func:`marginlib.cost.work`)."""
    spec, select = p.families[family], family in SELECTED
    schedule: dict[str, Any] = {"epochs": spec.epochs, "batch_size": p.batch_size, "lr": p.lr, "momentum": 0.9,
                                "weight_decay": p.weight_decay(family, reg), "milestones": list(spec.milestones),
                                "gamma": 0.1, "decay_regularizer": True}
    if p.augment:
        schedule["augment"] = "crop_flip"
    selection = {"metric": jobs.ROBUST_METRIC, "mode": "max",
                 "attack": {"eps": p.eps, "norm": "linf", "steps": p.pgd_steps, "step_size": p.eval_step},
                 "scales": ["n_val", "pgd_steps", "image_size^2", f"epochs_{spec.key}", *scales]}
    return jobs.Job(model=model_spec(p, in_channels=splits.in_channels, he=reg == "HE", arch=arch),
                    method=recipe_spec(p, family, reg, weight=weight, temperature=temperature),
                    data=data_spec(p, "train" if select else "train_and_val"), schedule=schedule, seed=p.seed,
                    select=selection if select else None, eval_data=data_spec(p, "val") if select else None,
                    eval_train=False)


def train_rows(p: Params, rows: list[tuple[str, jobs.Job]], *, scales: tuple[str, ...] = ()) -> list[Trained]:
    """The trained rows of ``(family, job)`` pairs (:func:`row_job`), each with the selected epoch's weights when
    it selects one. On a cluster every job is submitted at once. The trainings of each family are one
    :func:`marginlib.cost.work` unit (the images, the family's epochs, ``at_steps`` and ``scales``): the families
    have different schedules."""
    if executors.chosen() != "local":
        executors.train_all([job for _, job in rows])
    epochs = {family: f"epochs_{p.families[family].key}" for family, _ in rows}
    for key in dict.fromkeys(epochs.values()):
        with cost.work("n_train", key, "at_steps", "image_size^2", *scales):
            executors.train_all([job for family, job in rows if epochs[family] == key])
    device = train.default_device()
    return [Trained(r.model("selected" if r.job.select else "final").to(device), r.history, r.info["seconds"])
            for r in executors.train_all([job for _, job in rows])]


def autoattack_accuracy(p: Params, model: nn.Module, test: data.Dataset, *, radius: float,
                        generator: torch.Generator, scales: tuple[str, ...] = ()) -> float:
    """AutoAttack (``aa_version``) accuracy at l-inf ``radius`` on ``test``: a cost unit of its own, scaled by its
    length ``aa_iters`` (and ``scales``, the grid the caller loops over), because a dry run cuts it."""
    with cost.work("n_test", "aa_iters", "aa_targets", "image_size^2", *scales):
        x_adv = attacks.autoattack(model, test.x, test.y, eps=radius, norm="linf", version=p.aa_version,
                                   generator=generator, **p.autoattack_options)
        return evaluate.accuracy(model, x_adv, test.y)


def attack_accuracies(p: Params, model: nn.Module, test: data.Dataset) -> dict[str, float]:
    """Clean, FGSM, PGD10, long-PGD and AutoAttack accuracies on ``test`` (Table 3's columns, in that order)."""
    g = torch.Generator().manual_seed(p.seed)
    with cost.work("n_test", "image_size^2"):
        return _attack_accuracies(p, model, test, g)


def _attack_accuracies(p: Params, model: nn.Module, test: data.Dataset, g: torch.Generator) -> dict[str, float]:
    return {"clean": evaluate.accuracy(model, test.x, test.y),
            "fgsm": evaluate.accuracy(model, attacks.fgsm(model, test.x, test.y, eps=p.eps), test.y),
            "pgd10": _pgd10_accuracy(p, model, test, "n_test"),
            p.long_pgd: _long_pgd_accuracy(p, model, test),
            "autoattack": autoattack_accuracy(p, model, test, radius=p.eps, generator=g)}


def _long_pgd_accuracy(p: Params, model: nn.Module, test: data.Dataset) -> float:
    """The long PGD's accuracy (PGD100 at paper): a cost unit of its own, scaled by its iterations, because a dry
    run cuts them."""
    with cost.work("n_test", "pgd_long_steps", "image_size^2"):
        return _pgd_accuracy(p, model, test, steps=p.pgd_long_steps)


@dataclass(frozen=True)
class Table3:
    """The trained rows of Table 3 (by row name) and their accuracies: ``clean_acc[name]`` and
    ``robust_acc[name][attack]`` for FGSM, PGD10, the long PGD (``long_pgd``) and AutoAttack, in that order."""

    models: dict[str, nn.Module]
    clean_acc: dict[str, float]
    robust_acc: dict[str, dict[str, float]]
    train_seconds: dict[str, float]
    best_epoch: dict[str, int | None]
    long_pgd: str

    def aa(self, name: str) -> float:
        """AutoAttack accuracy of row ``name``."""
        return self.robust_acc[name]["autoattack"]

    def gap(self, name: str) -> float:
        """Long-PGD minus AutoAttack accuracy of row ``name``: how much PGD overstates its robustness."""
        return self.robust_acc[name][self.long_pgd] - self.aa(name)

    def frame(self) -> pd.DataFrame:
        """One row per trained model: clean accuracy and every attack's, as fractions."""
        return pd.DataFrame({name: {"clean": self.clean_acc[name], **self.robust_acc[name]}
                             for name in self.robust_acc}).T


def train_table3(p: Params, splits: Splits, *, verbose: bool = False) -> Table3:
    """Train every row of ``p.rows`` (:func:`train_rows`), then attack each in Table 3's order (paper 002, Tables 3
    and 9)."""
    t = Table3({}, {}, {}, {}, {}, p.long_pgd)
    trained = train_rows(p, [(family, row_job(p, splits, family, reg)) for family, reg in p.rows])
    for (family, reg), row in zip(p.rows, trained):
        name = name_of(family, reg)
        accs = attack_accuracies(p, row.model, splits.test)
        t.models[name], t.clean_acc[name], t.robust_acc[name] = row.model, accs.pop("clean"), accs
        t.train_seconds[name], t.best_epoch[name] = row.seconds, row.history.best_epoch
        if verbose:
            print(f"{name:18s} clean {t.clean_acc[name]:.3f}  " + "  ".join(f"{k} {v:.3f}" for k, v in accs.items())
                  + f"  (best epoch {row.history.best_epoch}, {row.seconds:.0f} s)")
    return t


def table3_frame(t: Table3) -> pd.DataFrame:
    """Table 3 / 9 as this run measured it: accuracies in percent."""
    return (100 * t.frame()).round(2)


def comparison_frame(t: Table3) -> pd.DataFrame:
    """The paper's Table 3 (WRN-34-10) and Table 9 (ResNet-18) beside this run's rows, in percent (the long PGD
    in the ``pgd100`` column)."""
    cols = ["clean_acc", "fgsm", "pgd10", "pgd100", "autoattack"]
    ours = 100 * t.frame().rename(columns={"clean": "clean_acc", t.long_pgd: "pgd100"})[cols]
    t3 = tables.read("paper002_table3").set_index("method")[cols]
    t9 = tables.read("paper002_table9").set_index("method")[["clean_acc", "pgd10", "autoattack"]]
    return pd.concat({"paper, WRN-34-10 (Table 3)": t3, "paper, ResNet-18 (Table 9)": t9, "this book": ours},
                     axis=1).round(2)


# ---------------------------------------------------------------------------------------------------- Fig. 3

@dataclass(frozen=True)
class AACurves:
    """Fig. 3's data: AutoAttack accuracy at each of ``radii`` for both rows of each pair in ``pairs``."""

    radii: list[float]
    pairs: list[tuple[str, str]]
    accuracy: dict[str, list[float]]


def aa_vs_eps(p: Params, splits: Splits, t: Table3) -> AACurves:
    """AutoAttack accuracy against the radius for the trained MAIL pairs (paper 002, Fig. 3); at ``eps`` itself
    Table 3's value, elsewhere a new attack (generator seeded ``seed`` at every radius)."""
    pairs = [pair for pair in FIG3_PAIRS if all(name in t.models for name in pair)]

    def at_radius(name: str, r: float) -> float:
        if r == p.eps:
            return t.aa(name)
        return autoattack_accuracy(p, t.models[name], splits.test, radius=r,
                                   generator=torch.Generator().manual_seed(p.seed), scales=("aa_eps_factors",))

    curves = {name: [at_radius(name, r) for r in p.radii] for pair in pairs for name in pair}
    return AACurves(p.radii, pairs, curves)


def figure3(c: AACurves) -> matplotlib.figure.Figure:
    """Fig. 3: one panel per pair, accuracy (left axis) and the EMR model's accuracy over the baseline's (right)."""
    fig, axes = plt.subplots(1, len(c.pairs), figsize=(4.6 * len(c.pairs), 3.5), squeeze=False)
    for ax, (base_name, emr_name) in zip(axes[0], c.pairs):
        ax.plot(c.radii, 100 * np.array(c.accuracy[base_name]), "o-", label=base_name)
        ax.plot(c.radii, 100 * np.array(c.accuracy[emr_name]), "s-", label=emr_name)
        ax.set(xlabel="$\\epsilon$ ($\\ell_\\infty$)", ylabel="AutoAttack accuracy (%)", title=f"{base_name} vs +EMR")
        right = ax.twinx()
        rel = [e / b if b > 0 else np.nan for e, b in zip(c.accuracy[emr_name], c.accuracy[base_name])]
        right.plot(c.radii, rel, color="0.4", ls=":", marker=".", label="EMR / baseline")
        right.axhline(1.0, color="0.6", lw=0.8)
        right.set_ylabel("relative accuracy (EMR / baseline)")
        right.grid(False)
        ax.legend(frameon=False, fontsize=8, loc="center left")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------- Fig. 6

def grid_network(p: Params) -> str:
    """The network Fig. 6's grid is trained on: ``grid_arch``, or the rows' ``arch`` when it is empty."""
    return p.grid_arch or p.arch


def grid_fig6(p: Params, splits: Splits, t: Table3) -> pd.DataFrame:
    """PGD10 test accuracy of AT+EMR over ``grid_weights`` x ``grid_temperatures`` (paper 002, Fig. 6) on
    :func:`grid_network` (the paper's: ResNet-18); on the rows' network the cell of the AT+EMR row's own setting is
    that row, every other cell is trained here."""
    grid = pd.DataFrame(index=pd.Index(p.grid_weights, name="lambda_EMR"),
                        columns=pd.Index(p.grid_temperatures, name="t"), dtype=float)
    arch, scales = grid_network(p), ("grid_temperatures", "grid_weights")
    cells = [(w, temperature) for w in p.grid_weights for temperature in p.grid_temperatures
             if not ((w, temperature) == (p.emr_weight_at, p.emr_t_at) and arch == p.arch)]
    if len(cells) < len(p.grid_weights) * len(p.grid_temperatures):
        grid.loc[p.emr_weight_at, p.emr_t_at] = t.robust_acc["AT+EMR"]["pgd10"]
    todo = [("AT", row_job(p, splits, "AT", "EMR", weight=w, temperature=temperature, arch=arch, scales=scales))
            for w, temperature in cells]
    for (w, temperature), row in zip(cells, train_rows(p, todo, scales=scales)):
        grid.loc[w, temperature] = _pgd10_accuracy(p, row.model, splits.test, "n_test", *scales)
    return grid


def figure6(grid: pd.DataFrame) -> matplotlib.figure.Figure:
    """Fig. 6: the grid as a heat map of PGD10 accuracy (%)."""
    fig, ax = plt.subplots(figsize=(1.6 + 1.2 * grid.shape[1], 1.2 + 0.8 * grid.shape[0]))
    sns.heatmap(100 * grid.astype(float), annot=True, fmt=".1f", cmap="viridis", ax=ax,
                cbar_kws={"label": "PGD10 accuracy (%)"})
    ax.set(xlabel="temperature $t$", ylabel="$\\lambda_{EMR}$", title="AT+EMR")
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------------------------------- Table 10

@dataclass(frozen=True)
class Timing:
    """Table 10's data: best seconds per SGD step of each method, the device, batch and steps measured."""

    seconds_per_iter: dict[str, float]
    device: str
    device_name: str | None
    batch: int
    steps: int

    @property
    def overhead(self) -> dict[str, float]:
        """EMR step time over IGR step time, for AT and TRADES (Table 10: about 1)."""
        return {f: self.seconds_per_iter[f"{f}+EMR"] / self.seconds_per_iter[f"{f}+IGR"] for f in TIMED}


def timing_table10(p: Params, splits: Splits) -> Timing:
    """Seconds of one SGD step (attack, forward, loss, backward, update) of every AT / TRADES method on the same
    batch and starting weights (paper 002, Table 10): the best of ``timing_repeat`` steps, over
    ``timing_rounds`` rounds that visit every method in turn (so a burst of load hits all alike)."""
    batch = splits.train.subset(torch.arange(min(p.timing_batch, len(splits.train.y))))
    device = train.default_device()
    xb, yb = batch.x.to(device), batch.y.to(device)
    timed = {name_of(f, r): (recipe(p, f, r), new_model(p, in_channels=splits.in_channels, he=r == "HE").to(device))
             for f in TIMED for r in REGULARIZERS[f]}
    seconds = {name: float("inf") for name in timed}
    with cost.work("timing_rounds", "timing_repeat", "timing_batch", "at_steps", "image_size^2"):
        for _ in range(p.timing_rounds):
            for name, (method, model) in timed.items():
                step = timing.step_seconds(method, model, xb, yb, repeat=p.timing_repeat, warmup=1, seed=p.seed)
                seconds[name] = min(seconds[name], step)
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else None
    return Timing(seconds, str(device), device_name, len(batch.y), p.timing_rounds * p.timing_repeat)


def table10_frame(timing_: Timing) -> pd.DataFrame:
    """Table 10: this machine's seconds per step and their ratio to AT, beside the paper's (V100, WRN-34-10)."""
    paper = tables.read("paper002_table10")
    paper["method"] = [t + ("" if r == "standard" else f"+{r}") for t, r in zip(paper.training, paper.regularizer)]
    paper = paper.set_index("method")
    seconds = timing_.seconds_per_iter
    frame = pd.DataFrame({"seconds (book)": seconds})
    frame["/ AT (book)"] = frame["seconds (book)"] / seconds["AT"]
    frame["seconds (paper)"] = paper.seconds_per_iter
    frame["/ AT (paper)"] = paper.seconds_per_iter / paper.seconds_per_iter["AT"]
    return frame.round(3)


# ---------------------------------------------------------------------------------------------------- record

#: the (EMR row, compared row) pairs of each claim on Table 3's AutoAttack accuracies
PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "emr_beats_at_and_trades": (("AT+EMR", "AT"), ("TRADES+EMR", "TRADES")),
    "emr_beats_igr_and_he": (("AT+EMR", "AT+IGR"), ("AT+EMR", "AT+HE"), ("TRADES+EMR", "TRADES+IGR"),
                             ("TRADES+EMR", "TRADES+HE")),
    "emr_improves_mail_and_mart": (("AT+MAIL+EMR", "AT+MAIL"), ("TRADES+MAIL+EMR", "TRADES+MAIL"),
                                   ("MART+EMR", "MART")),
}

#: each claim's statement in the paper, with where it is (``paper=`` of the record)
STATEMENTS = {
    "emr_overhead_like_igr":
        'App., Table 10: "EMR and IGR have approximately the same computational time" (3.22 s vs 3.21 s per '
        f'iteration for AT, 3.67 s vs 3.67 s for TRADES; "approximately": within {OVERHEAD:.0%}, the book\'s '
        'tolerance)',
    "emr_slower_than_he":
        'App., Table 10: EMR and IGR take a time "that is longer than HE, since the loss requires an extra '
        'backpropagation" (3.22 s vs 2.75 s for AT, 3.67 s vs 3.32 s for TRADES)',
    "emr_beats_at_and_trades":
        '§5.2, Table 3: EMR improves AutoAttack accuracy over AT (52.20 vs 50.31) and TRADES (52.73 vs 52.19); '
        'abstract: "EMR outperforms basic adversarial training, TRADES"',
    "emr_beats_igr_and_he":
        '§5.2, Table 3: "EMR achieves the best result", for AT (52.20 vs IGR 50.42, HE 51.88) and TRADES (52.73 vs '
        'IGR 52.41, HE 51.49) under AutoAttack',
    "he_pgd_overstates":
        '§5.2, Table 3: "HE has the best robust accuracy under PGD attack, but it is easily attacked by '
        'AutoAttack" (AT+HE: PGD100 59.80, AutoAttack 51.88; AT+EMR: 54.62, 52.20)',
    "emr_improves_mail_and_mart":
        '§5.2, Table 3: EMR gives "a substantial improvement in adversarial robustness" to AT-MAIL (46.25 vs '
        '45.07), TRADES-MAIL (53.29 vs 51.97) and MART (52.16 vs 51.40) under AutoAttack',
    "emr_improves_mail_at_every_eps":
        '§5.2, Fig. 3: "Our EMR always improves the robustness of MAIL across a large ε range" (AutoAttack '
        'accuracy against ε, AT-MAIL and TRADES-MAIL)',
    "large_t_better_in_at":
        '§5.3 and App., Fig. 6: "In AT, selecting a large temperature generally improves the performance" '
        '(PGD10 accuracy of AT+EMR over the t x λ_EMR grid; ResNet-18 in the paper)',
}


def _aa_table(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each row's AutoAttack and long-PGD accuracy (``"autoattack"``, ``"long"``) from a record's metrics."""
    long_key = metrics.get("long_pgd") or next(
        (k for k in next(iter(metrics["robust_acc"].values()), {}) if k.startswith("pgd") and k != "pgd10"), "pgd10")
    return {name: {"autoattack": float(accs["autoattack"]), "long": float(accs[long_key])}
            for name, accs in metrics["robust_acc"].items()}


def _paper_aa_table() -> dict[str, dict[str, float]]:
    """The same from the paper's Table 3 (PGD100 as the long PGD), as fractions."""
    t3 = tables.read("paper002_table3").set_index("method")
    return {str(name): {"autoattack": row.autoattack / 100, "long": row.pgd100 / 100} for name, row in t3.iterrows()}


def _paper_seconds() -> dict[str, float]:
    """Table 10's seconds per iteration by row name (``"AT+EMR"``)."""
    t10 = tables.read("paper002_table10")
    return {t + ("" if r == "standard" else f"+{r}"): float(s)
            for t, r, s in zip(t10.training, t10.regularizer, t10.seconds_per_iter)}


def _min_gain(aa: dict[str, dict[str, float]], pairs: Iterable[tuple[str, str]],
              names: Iterable[str] | None = None) -> float:
    """The smallest AutoAttack difference a - b over ``pairs`` whose rows are in ``aa`` (and in ``names``, when
    given: the rows a run trained), NaN when none is."""
    have = set(aa) if names is None else set(aa) & set(names)
    gains = [aa[a]["autoattack"] - aa[b]["autoattack"] for a, b in pairs if a in have and b in have]
    return min(gains) if gains else float("nan")


def _overhead(seconds: dict[str, float], over: str) -> dict[str, float]:
    """EMR's step time over ``over``'s (``"IGR"``, ``"HE"``) for AT and TRADES."""
    return {f: seconds[f"{f}+EMR"] / seconds[f"{f}+{over}"] for f in TIMED}


def _fig3_gain(curves: dict[str, Any]) -> float:
    """The smallest AutoAttack difference +EMR minus baseline over Fig. 3's radii and pairs (NaN without a pair)."""
    gains = [e - b for base, emr in FIG3_PAIRS if base in curves and emr in curves
             for e, b in zip(curves[emr], curves[base])]
    return min(gains) if gains else float("nan")


def _grid_gain(grid: dict[str, Any]) -> tuple[float, float, float]:
    """Fig. 6: mean PGD10 accuracy over lambda_EMR at the largest and at the smallest temperature, and their
    difference (NaN with a single temperature)."""
    temps = list(grid["temperatures"])
    values = np.asarray(grid["pgd10"], dtype=float).mean(axis=0)
    if len(set(temps)) < 2:
        return float("nan"), float("nan"), float("nan")
    hi, lo = values[int(np.argmax(temps))], values[int(np.argmin(temps))]
    return float(hi), float(lo), float(hi - lo)


def decide(metrics: dict[str, Any]) -> dict[str, tuple[bool, float]]:
    """Each claim from a record's ``metrics``: whether it holds and the number it decides on (AutoAttack
    differences in points; step-time ratios); NaN (rows or grid cells the run lacks) never holds."""
    aa, seconds = _aa_table(metrics), metrics["seconds_per_iter"]
    igr, he = _overhead(seconds, "IGR"), _overhead(seconds, "HE")
    worst = max(igr.values(), key=lambda r: abs(r - 1))
    gaps = {n: aa[n]["long"] - aa[n]["autoattack"] for n in ("AT+HE", "AT+EMR")}
    out = {
        "emr_overhead_like_igr": (all(abs(r - 1) <= OVERHEAD for r in igr.values()), worst),
        "emr_slower_than_he": (all(r > 1 for r in he.values()), min(he.values())),
        "he_pgd_overstates": (gaps["AT+HE"] > gaps["AT+EMR"], 100 * (gaps["AT+HE"] - gaps["AT+EMR"])),
    }
    for name, pairs in PAIRS.items():
        gain = _min_gain(aa, pairs)
        out[name] = (gain > 0, 100 * gain)
    fig3 = _fig3_gain(metrics["autoattack_vs_eps"])
    out["emr_improves_mail_at_every_eps"] = (fig3 > 0, 100 * fig3)
    grid = _grid_gain(metrics["grid"])[2]
    out["large_t_better_in_at"] = (grid > 0, 100 * grid)
    return {name: out[name] for name in STATEMENTS}


def paper_values(metrics: dict[str, Any]) -> dict[str, float | None]:
    """The paper's number for each claim's :func:`decide` quantity, from ``book/data`` over the same rows as the
    run (None where no table holds it: Figs. 3 and 6)."""
    aa, seconds = _paper_aa_table(), _paper_seconds()
    igr, he = _overhead(seconds, "IGR"), _overhead(seconds, "HE")
    gaps = {n: aa[n]["long"] - aa[n]["autoattack"] for n in ("AT+HE", "AT+EMR")}
    out: dict[str, float | None] = {
        "emr_overhead_like_igr": max(igr.values(), key=lambda r: abs(r - 1)),
        "emr_slower_than_he": min(he.values()),
        "he_pgd_overstates": 100 * (gaps["AT+HE"] - gaps["AT+EMR"]),
        "emr_improves_mail_at_every_eps": None, "large_t_better_in_at": None,
    }
    for name, pairs in PAIRS.items():
        out[name] = 100 * _min_gain(aa, pairs, names=metrics["robust_acc"])
    return {name: None if v is None or not np.isfinite(v) else round(float(v), 6) for name, v in out.items()}


def _listed(aa: dict[str, dict[str, float]], names: Iterable[str]) -> str:
    return ", ".join(f"{n} {aa[n]['autoattack']:.3f}" for n in names if n in aa)


def details(metrics: dict[str, Any]) -> dict[str, str]:
    """This run's numbers behind each claim (``detail=`` of the record)."""
    aa, seconds = _aa_table(metrics), metrics["seconds_per_iter"]
    long_name = (metrics.get("long_pgd") or "long PGD").upper()
    hi, lo, _ = _grid_gain(metrics["grid"])
    curves = metrics["autoattack_vs_eps"]
    pair_text = "; ".join(
        f"{base} {', '.join(f'{v:.3f}' for v in curves[base])} vs +EMR {', '.join(f'{v:.3f}' for v in curves[emr])}"
        for base, emr in FIG3_PAIRS if base in curves and emr in curves)
    return {
        "emr_overhead_like_igr": "; ".join(f"{f}+EMR / {f}+IGR step time {r:.3f} (within {OVERHEAD:.0%} of 1)"
                                           for f, r in _overhead(seconds, "IGR").items()),
        "emr_slower_than_he": "; ".join(f"{f}+EMR / {f}+HE step time {r:.3f} (above 1)"
                                        for f, r in _overhead(seconds, "HE").items()),
        "emr_beats_at_and_trades": "AutoAttack: " + _listed(aa, ("AT+EMR", "AT", "TRADES+EMR", "TRADES")),
        "emr_beats_igr_and_he": "AutoAttack: " + _listed(aa, ("AT+EMR", "AT+IGR", "AT+HE", "TRADES+EMR",
                                                               "TRADES+IGR", "TRADES+HE"))
                                + " (pairs with both rows trained)",
        "he_pgd_overstates": f"{long_name} - AutoAttack: AT+HE {aa['AT+HE']['long'] - aa['AT+HE']['autoattack']:.3f} "
                             f"vs AT+EMR {aa['AT+EMR']['long'] - aa['AT+EMR']['autoattack']:.3f}",
        "emr_improves_mail_and_mart": "AutoAttack: " + _listed(aa, ("AT+MAIL", "AT+MAIL+EMR", "TRADES+MAIL",
                                                                     "TRADES+MAIL+EMR", "MART", "MART+EMR")),
        "emr_improves_mail_at_every_eps": (f"AutoAttack at eps {', '.join(f'{e:g}' for e in curves['eps'])}: "
                                           + (pair_text or "no MAIL pair trained")),
        "large_t_better_in_at": (f"AT+EMR PGD10 accuracy, mean over lambda_EMR {metrics['grid']['weights']}: "
                                 f"{hi:.3f} at the largest t vs {lo:.3f} at the smallest "
                                 f"(t = {metrics['grid']['temperatures']})"),
    }


def claims_of(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The section's claims (:data:`STATEMENTS`) from a record's ``metrics``, each with the paper's number for the
    same quantity beside this run's."""
    text, paper = details(metrics), paper_values(metrics)
    return {name: claim(holds, detail=text[name], paper=STATEMENTS[name],
                        value=value if np.isfinite(value) else None, paper_value=paper[name])
            for name, (holds, value) in decide(metrics).items()}


def record(p: Params, splits: Splits, t: Table3, curves: AACurves, grid: pd.DataFrame,
           timing_: Timing) -> dict[str, Any]:
    """``{"metrics", "claims"}`` of the run, for ``Run.save``."""
    metrics = {
        "source": splits.train.source, "n_train": len(splits.train.y), "n_val": len(splits.val.y),
        "n_test": len(splits.test.y), "robust_acc": t.robust_acc, "clean_acc": t.clean_acc,
        "long_pgd": t.long_pgd,
        "seconds_per_iter": timing_.seconds_per_iter, "train_seconds": t.train_seconds, "best_epoch": t.best_epoch,
        "autoattack_vs_eps": {"eps": curves.radii, **curves.accuracy},
        "grid": {"temperatures": list(p.grid_temperatures), "weights": list(p.grid_weights),
                 "pgd10": grid.values.tolist()},
        "device": timing_.device,
    }
    return {"metrics": metrics, "claims": claims_of(metrics)}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers the claims and the prose compare, from a record's ``metrics``: AutoAttack accuracy (%) of AT,
    TRADES and their +IGR / +HE / +EMR rows, the long-PGD minus AutoAttack gap (points) of AT+HE and AT+EMR, EMR's
    step time over IGR's, and Fig. 6's temperature effect (only the finite ones)."""
    aa = _aa_table(metrics)
    values = {f"{name} AutoAttack (%)": 100 * aa[name]["autoattack"]
              for name in ("AT", "AT+IGR", "AT+HE", "AT+EMR", "TRADES", "TRADES+EMR") if name in aa}
    values |= {f"{name} PGD-long - AutoAttack (points)": 100 * (aa[name]["long"] - aa[name]["autoattack"])
               for name in ("AT+HE", "AT+EMR") if name in aa}
    values |= {f"{f}+EMR / {f}+IGR step time": r for f, r in _overhead(metrics["seconds_per_iter"], "IGR").items()}
    values["Fig. 6 PGD10, largest t - smallest t (points)"] = 100 * _grid_gain(metrics["grid"])[2]
    return {k: float(v) for k, v in values.items() if np.isfinite(v)}


def _gain_text(aa: dict[str, dict[str, float]], pairs: Iterable[tuple[str, str]]) -> str:
    """``"AT+EMR 61.5% vs AT 65.5% (-4.0 points)"`` for each pair with both rows."""
    return "; ".join(f"{a} {100 * aa[a]['autoattack']:.1f}% vs {b} {100 * aa[b]['autoattack']:.1f}% "
                     f"({100 * (aa[a]['autoattack'] - aa[b]['autoattack']):+.1f} points)"
                     for a, b in pairs if a in aa and b in aa)


def _he_text(t: Table3) -> str:
    """Whether AT+HE is the most robust AT row under every attack here, and whether PGD overstates it more than
    AT+EMR (Table 3's pattern)."""
    at_rows = [n for n in t.robust_acc if n.split("+")[0] == "AT" and "MAIL" not in n]
    attacks_ = list(t.robust_acc["AT+HE"])
    best_everywhere = all(t.robust_acc["AT+HE"][a] >= max(t.robust_acc[n][a] for n in at_rows) for a in attacks_)
    best_pgd = t.robust_acc["AT+HE"][t.long_pgd] >= max(t.robust_acc[n][t.long_pgd] for n in at_rows)
    if best_everywhere:
        first = "AT+HE is the most robust AT model under every attack, AutoAttack included"
    elif best_pgd:
        first = "AT+HE is the most robust AT model under the long PGD but not under every attack"
    else:
        first = "AT+HE is not the most robust AT model under the long PGD"
    overstated = t.gap("AT+HE") > t.gap("AT+EMR")
    second = ("its PGD-AutoAttack gap is larger than AT+EMR's, as in Table 3" if overstated else
              "its PGD-AutoAttack gap is no larger than AT+EMR's, unlike Table 3")
    return f"{first}, and {second}"


def quoted(p: Params, splits: Splits, t: Table3, grid: pd.DataFrame, timing_: Timing) -> dict[str, object]:
    """The numbers and phrases the page's prose glues (accuracies in percent)."""
    by_t = grid.mean(axis=0)
    aa = {name: {"autoattack": t.aa(name)} for name in t.robust_acc}
    paper_aa = _paper_aa_table()
    emr_pairs = [pair for name in ("emr_beats_at_and_trades", "emr_improves_mail_and_mart") for pair in PAIRS[name]]
    overhead = timing_.overhead
    timing_holds = all(abs(r - 1) <= OVERHEAD for r in overhead.values())
    diff = _grid_gain({"temperatures": list(p.grid_temperatures), "pgd10": grid.values.tolist()})[2]
    values: dict[str, object] = {"aa_" + name.replace("+", "_"): 100 * t.aa(name) for name in QUOTED_ROWS}
    values |= {
        "gap_he": 100 * t.gap("AT+HE"), "gap_emr": 100 * t.gap("AT+EMR"),
        "grid_low_t": 100 * by_t.iloc[0], "grid_high_t": 100 * by_t.iloc[-1],
        "grid_at": 100 * t.robust_acc["AT"]["pgd10"],
        "grid_text": ("the largest temperature is better on average, as Fig. 6 reports" if diff > 0 else
                      "the largest temperature is not better on average, unlike Fig. 6" if np.isfinite(diff) else
                      "a single temperature cannot show Fig. 6's trend"),
        "emr_igr_at": overhead["AT"], "emr_igr_trades": overhead["TRADES"],
        "emr_igr_text": f"{overhead['AT']:.2f} (AT) and {overhead['TRADES']:.2f} (TRADES)",
        "timing_text": (f"both within {OVERHEAD:.0%} of 1, so `emr_overhead_like_igr` holds here" if timing_holds
                        else f"not both within {OVERHEAD:.0%} of 1, so `emr_overhead_like_igr` fails here"),
        "emr_rows_text": _gain_text(aa, emr_pairs),
        "paper_gains_text": ", ".join(f"{100 * (paper_aa[a]['autoattack'] - paper_aa[b]['autoattack']):+.2f} ({b})"
                                      for a, b in emr_pairs),
        "he_text": _he_text(t),
        "image_points": 100 / len(splits.test.y),
        "device_text": timing_.device + (f" ({timing_.device_name})" if timing_.device_name else ""),
        "data_text": f"{len(splits.train.y):,} training and {len(splits.val.y):,} validation images "
                     f"({splits.train.source}), {len(splits.test.y):,} test images",
        "arch_text": (f"blocks {list(p.resnet_blocks)} and widths {list(p.resnet_widths)}" if p.arch == "resnet"
                      else p.arch),
        "epochs_text": f"{p.epochs_at} (AT), {p.epochs_trades} (TRADES), {p.epochs_mail} (MAIL), "
                       f"{p.epochs_mart} (MART)",
        "batch_text": str(p.batch_size), "lr_text": f"{p.lr:g}", "eps_text": f"{p.eps:g}",
        "at_steps_text": str(p.at_steps), "pgd_long_text": str(p.pgd_long_steps),
        "n_test_text": f"{len(splits.test.y):,}", "aa_iters_text": str(p.aa_iters),
        "aa_targets_text": str(p.aa_targets), "skip_text": ", ".join(p.skip) or "none",
        "emr_on_text": {"clean": "EMR-clean", "adversarial": "EMR-adv"}[p.emr_on],
        "timing_batch_text": str(timing_.batch), "timing_n_text": str(timing_.steps),
        "overhead_text": f"{OVERHEAD:.0%}",
        "grid_arch_text": (f"trained on {grid_network(p)}, as Fig. 6 (ResNet-18)" if grid_network(p) == "resnet18"
                           else f"trained on the network of the rows above ({grid_network(p)}), not Fig. 6's "
                                "ResNet-18"),
        "augment_text": ("every training batch is randomly cropped (padding 4) and flipped, as in the authors' "
                         "scripts" if p.augment else "no data augmentation"),
        "trades_attack_text": ("the KL attack of Zhang et al." if p.trades_attack == "kl" else
                               "the cross-entropy PGD of AT, as in the authors' TRADES+EMR script"),
        "mail_text": (f"{p.mail_burn_in} burn-in epochs of "
                      + ("plain PGD-AT" if p.mail_burn_in_objective == "at" else "the unweighted objective")
                      + ", then weights " + ("times 3" if p.mail_normalize == "times3" else "normalized to mean 1")),
        "wd_mart_text": f"{p.wd_mart:g}",
        "data_source_text": splits.train.source,
    }
    return values


def rows_frame(p: Params) -> pd.DataFrame:
    """The rows this run trains and their recipes: objective, epochs, milestones, lambda_WD, EMR's lambda and t,
    and whether the model is selected on the validation set (§5.1) or kept at the final epoch."""
    rows: dict[str, dict[str, object]] = {}
    for family, reg in p.rows:
        spec = p.families[family]
        rows[name_of(family, reg)] = {
            "objective": spec.method, "regularizer": reg or "—", "epochs": spec.epochs,
            "milestones": list(spec.milestones), "lambda_WD": p.weight_decay(family, reg),
            "lambda_EMR": spec.emr_weight if reg == "EMR" else "—",
            "t": spec.emr_temperature if reg == "EMR" else "—",
            "model selection": "best val PGD10" if family in SELECTED else "final epoch"}
    return pd.DataFrame(rows).T
