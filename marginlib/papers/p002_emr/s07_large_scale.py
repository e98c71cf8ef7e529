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
import time
from collections.abc import Callable, Iterable, Mapping
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

from marginlib import attacks, data, evaluate, methods, models, timing, train
from marginlib.book.results import claim
from marginlib.methods.base import Method
from marginlib.methods.he import hypersphere
from marginlib.papers import tables

NOTEBOOK = "07_emr_large_scale"

#: claim ``emr_overhead_like_igr``: |EMR step time / IGR step time - 1| <= 25% (Table 10: "EMR and IGR have
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
    downsample: int = 2
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
    aa_version: str = "custom"
    aa_iters: int = 15
    aa_targets: int = 3
    aa_eps_factors: tuple[float, ...] = (0.5, 1.0, 1.5)
    grid_temperatures: tuple[float, ...] = (0.1, 40.0)
    grid_weights: tuple[float, ...] = (0.1, 1.0)
    timing_batch: int = 50
    timing_repeat: int = 3
    timing_rounds: int = 6
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
            late = [m for m in spec.milestones if not 1 <= m <= spec.epochs]
            if late:
                raise ValueError(f"milestones_{spec.key}={list(spec.milestones)}: {late} lie outside "
                                 f"1..epochs_{spec.key}={spec.epochs}, so they would never divide the learning rate")
        if self.mail_burn_in >= self.epochs_mail:
            raise ValueError(f"mail_burn_in={self.mail_burn_in} must be below epochs_mail={self.epochs_mail}: "
                             "MAIL would never reweight, and its rows would be plain AT / TRADES")
        for name in ("aa_eps_factors", "grid_temperatures", "grid_weights"):
            if not getattr(self, name):
                raise ValueError(f"{name} must hold at least one value")
        for name in ("downsample", "timing_batch", "timing_repeat", "timing_rounds", "pgd_long_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")

    @property
    def families(self) -> dict[str, Family]:
        """The five objectives of §5 with their schedules, weight decays and EMR settings (Tables 6-7, App. A)."""
        at, mail = {"step_size": self.at_step}, {"burn_in": self.mail_burn_in, "step_size": self.at_step}
        return {
            "AT": self._family("at", "pgd_at", at, self.wd_at, (self.emr_weight_at, self.emr_t_at), emr_wd=self.wd_emr),
            "TRADES": self._family("trades", "trades", {"beta": self.trades_beta, **at}, self.wd_trades,
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
        """Options of :func:`marginlib.attacks.autoattack`: none for the standard ensemble; APGD-CE and APGD-T with
        ``aa_iters`` iterations and ``aa_targets`` target classes for the custom one."""
        if self.aa_version == "standard":
            return {}
        return {"attacks": ["apgd-ce", "apgd-t"], "n_iter": self.aa_iters, "n_target_classes": self.aa_targets}


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


def _load(p: Params, split: str, n: int) -> data.Dataset:
    d = data.load(p.dataset, split=split, n=n, seed=p.seed, source=p.source)
    if p.downsample > 1:
        d = dataclasses.replace(d, x=F.avg_pool2d(d.x, p.downsample),
                                source=f"{d.source}; {p.downsample}x{p.downsample} average-pooled")
    return d


def load_data(p: Params) -> Splits:
    """``n_train + n_val`` training images split at random (seed ``seed``) into training and validation, and
    ``n_test`` test images; average-pooled by ``downsample``."""
    pool = _load(p, "train", p.n_train + p.n_val)
    order = torch.randperm(len(pool.y), generator=torch.Generator().manual_seed(p.seed))
    return Splits(pool.subset(order[:p.n_train]), pool.subset(order[p.n_train:]), _load(p, "test", p.n_test))


def new_model(p: Params, *, in_channels: int, he: bool = False) -> nn.Module:
    """A fresh ``arch`` network (seed ``seed``), with a hypersphere-embedding head for the HE rows."""
    resnet = {"blocks": list(p.resnet_blocks), "widths": list(p.resnet_widths)}
    kw: dict[str, Any] = resnet if p.arch == "resnet" else {}
    model = models.build(p.arch, in_channels=in_channels, seed=p.seed, **kw)
    return hypersphere(model, scale=p.he_scale) if he else model


# ---------------------------------------------------------------------------------------------------- methods

def objective(p: Params, family: str) -> Method:
    """The adversarial objective of ``family`` (AT, TRADES, MAIL with either, MART), ``at_steps`` PGD steps at
    radius ``eps``."""
    spec = p.families[family]
    return methods.build(spec.method, eps=p.eps, steps=p.at_steps, **spec.options)


def recipe(p: Params, family: str, reg: str, *, weight: float | None = None,
           temperature: float | None = None) -> Method:
    """The method of row ``(family, reg)``: the objective alone or with +IGR, +HE or +EMR (Approx-EMR, eq. (7),
    at the family's lambda_EMR and t unless ``weight`` / ``temperature`` say otherwise; Fig. 6's grid).

    IGR's lambda is put on EMR's per-sample scale: with ``emr_scaling="batch_mean"`` (the authors' code,
    lambda / B^2 per sample) ``igr_weight / batch_size``.
    """
    base = objective(p, family)
    if reg == "IGR":
        igr = p.igr_weight / p.batch_size if p.emr_scaling == "batch_mean" else p.igr_weight
        return methods.build("igr", weight=igr, base=base)
    if reg == "HE":
        return methods.build("he", margin=p.he_margin, base=base)
    if reg == "EMR":
        spec = p.families[family]
        return methods.build("emr", weight=spec.emr_weight if weight is None else weight, mode="approx",
                             temperature=spec.emr_temperature if temperature is None else temperature,
                             scaling=p.emr_scaling, on=p.emr_on, base=base)
    return base


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


def _val_pgd10(p: Params, val: data.Dataset) -> Callable[[nn.Module, int], float]:
    """Validation PGD10 accuracy: the model-selection metric (paper 002, §5.1), as a ``train.fit`` callback."""
    def measure(model: nn.Module, epoch: int) -> float:
        return _pgd_accuracy(p, model, val, steps=10)
    return measure


def train_row(p: Params, splits: Splits, family: str, reg: str, *, weight: float | None = None,
              temperature: float | None = None) -> Trained:
    """Train row ``(family, reg)`` with its schedule, weight decay and (AT, TRADES) validation model selection;
    lambda_EMR is divided with the learning rate (``decay_regularizer``, paper 002 §5.1)."""
    model = new_model(p, in_channels=splits.in_channels, he=reg == "HE")
    method = recipe(p, family, reg, weight=weight, temperature=temperature)
    spec, select = p.families[family], family in SELECTED
    t0 = time.perf_counter()
    history = train.fit(model, method, splits.train if select else splits.train_and_val, epochs=spec.epochs,
                        batch_size=p.batch_size, lr=p.lr, momentum=0.9, weight_decay=p.weight_decay(family, reg),
                        milestones=spec.milestones, gamma=0.1, decay_regularizer=True, seed=p.seed,
                        eval_train=False, progress=False,
                        callbacks={"val_pgd10": _val_pgd10(p, splits.val)} if select else None,
                        early_stopping=train.EarlyStopping("val_pgd10", mode="max") if select else None)
    return Trained(model, history, time.perf_counter() - t0)


def autoattack_accuracy(p: Params, model: nn.Module, test: data.Dataset, *, radius: float,
                        generator: torch.Generator) -> float:
    """AutoAttack (``aa_version``) accuracy at l-inf ``radius`` on ``test``."""
    x_adv = attacks.autoattack(model, test.x, test.y, eps=radius, norm="linf", version=p.aa_version,
                               generator=generator, **p.autoattack_options)
    return evaluate.accuracy(model, x_adv, test.y)


def attack_accuracies(p: Params, model: nn.Module, test: data.Dataset) -> dict[str, float]:
    """Clean, FGSM, PGD10, long-PGD and AutoAttack accuracies on ``test`` (Table 3's columns, in that order)."""
    g = torch.Generator().manual_seed(p.seed)
    return {"clean": evaluate.accuracy(model, test.x, test.y),
            "fgsm": evaluate.accuracy(model, attacks.fgsm(model, test.x, test.y, eps=p.eps), test.y),
            "pgd10": _pgd_accuracy(p, model, test, steps=10),
            p.long_pgd: _pgd_accuracy(p, model, test, steps=p.pgd_long_steps),
            "autoattack": autoattack_accuracy(p, model, test, radius=p.eps, generator=g)}


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
    """Train and attack every row of ``p.rows`` in Table 3's order (paper 002, Tables 3 and 9)."""
    t = Table3({}, {}, {}, {}, {}, p.long_pgd)
    for family, reg in p.rows:
        name = name_of(family, reg)
        row = train_row(p, splits, family, reg)
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
    curves = {name: [t.aa(name) if r == p.eps else
                     autoattack_accuracy(p, t.models[name], splits.test, radius=r,
                                         generator=torch.Generator().manual_seed(p.seed))
                     for r in p.radii] for pair in pairs for name in pair}
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

def grid_fig6(p: Params, splits: Splits, t: Table3) -> pd.DataFrame:
    """PGD10 test accuracy of AT+EMR over ``grid_weights`` x ``grid_temperatures`` (paper 002, Fig. 6); the cell
    of the AT+EMR row's own setting is that row, the others are trained here."""
    grid = pd.DataFrame(index=pd.Index(p.grid_weights, name="lambda_EMR"),
                        columns=pd.Index(p.grid_temperatures, name="t"), dtype=float)
    for w in p.grid_weights:
        for temperature in p.grid_temperatures:
            if (w, temperature) == (p.emr_weight_at, p.emr_t_at):
                grid.loc[w, temperature] = t.robust_acc["AT+EMR"]["pgd10"]
                continue
            row = train_row(p, splits, "AT", "EMR", weight=w, temperature=temperature)
            grid.loc[w, temperature] = _pgd_accuracy(p, row.model, splits.test, steps=10)
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

def _all_gt(t: Table3, pairs: Iterable[tuple[str, str]]) -> bool:
    """Every pair (a, b) with both rows trained has AutoAttack accuracy a > b (and at least one pair has both)."""
    run_pairs = [(a, b) for a, b in pairs if a in t.robust_acc and b in t.robust_acc]
    return bool(run_pairs) and all(t.aa(a) > t.aa(b) for a, b in run_pairs)


def _listed(t: Table3, names: Iterable[str]) -> str:
    return ", ".join(f"{n} {t.aa(n):.3f}" for n in names if n in t.robust_acc)


def claims(p: Params, t: Table3, timing_: Timing) -> dict[str, dict[str, Any]]:
    """Table 10's timing claim (every profile) and Table 3's AutoAttack comparisons (``paper`` only)."""
    overhead = timing_.overhead
    return {
        "emr_overhead_like_igr": claim(
            all(abs(r - 1) <= OVERHEAD for r in overhead.values()), required_at=["smoke", "demo", "paper"],
            detail="; ".join(f"{f}+EMR / {f}+IGR step time {r:.3f} (within {OVERHEAD:.0%} of 1)"
                             for f, r in overhead.items())),
        "emr_beats_at_and_trades": claim(
            _all_gt(t, [("AT+EMR", "AT"), ("TRADES+EMR", "TRADES")]), required_at=["paper"],
            detail=f"AutoAttack: AT+EMR {t.aa('AT+EMR'):.3f} vs AT {t.aa('AT'):.3f}; "
                   f"TRADES+EMR {t.aa('TRADES+EMR'):.3f} vs TRADES {t.aa('TRADES'):.3f} (Table 3)"),
        "emr_beats_igr_and_he": claim(
            _all_gt(t, [("AT+EMR", "AT+IGR"), ("AT+EMR", "AT+HE"), ("TRADES+EMR", "TRADES+IGR"),
                        ("TRADES+EMR", "TRADES+HE")]), required_at=["paper"],
            detail="AutoAttack: " + _listed(t, ("AT+EMR", "AT+IGR", "AT+HE", "TRADES+EMR", "TRADES+IGR",
                                                "TRADES+HE"))),
        "he_pgd_overstates": claim(
            t.gap("AT+HE") > t.gap("AT+EMR"), required_at=["paper"],
            detail=f"PGD{p.pgd_long_steps} - AutoAttack: AT+HE {t.gap('AT+HE'):.3f} vs AT+EMR "
                   f"{t.gap('AT+EMR'):.3f} (Table 3)"),
        "emr_improves_mail_and_mart": claim(
            _all_gt(t, [("AT+MAIL+EMR", "AT+MAIL"), ("TRADES+MAIL+EMR", "TRADES+MAIL"), ("MART+EMR", "MART")]),
            required_at=["paper"],
            detail="AutoAttack: " + _listed(t, ("AT+MAIL", "AT+MAIL+EMR", "TRADES+MAIL", "TRADES+MAIL+EMR", "MART",
                                                "MART+EMR"))),
    }


def record(p: Params, splits: Splits, t: Table3, curves: AACurves, grid: pd.DataFrame,
           timing_: Timing) -> dict[str, Any]:
    """``{"metrics", "claims"}`` of the run, for ``Run.save``."""
    metrics = {
        "source": splits.train.source, "n_train": len(splits.train.y), "n_val": len(splits.val.y),
        "n_test": len(splits.test.y), "robust_acc": t.robust_acc, "clean_acc": t.clean_acc,
        "seconds_per_iter": timing_.seconds_per_iter, "train_seconds": t.train_seconds, "best_epoch": t.best_epoch,
        "autoattack_vs_eps": {"eps": curves.radii, **curves.accuracy},
        "grid": {"temperatures": list(p.grid_temperatures), "weights": list(p.grid_weights),
                 "pgd10": grid.values.tolist()},
        "device": timing_.device,
    }
    return {"metrics": metrics, "claims": claims(p, t, timing_)}


def quoted(p: Params, splits: Splits, t: Table3, grid: pd.DataFrame, timing_: Timing) -> dict[str, object]:
    """The numbers and phrases the page's prose glues (accuracies in percent)."""
    by_t = grid.mean(axis=0)
    values: dict[str, object] = {"aa_" + name.replace("+", "_"): 100 * t.aa(name) for name in QUOTED_ROWS}
    values |= {
        "gap_he": 100 * t.gap("AT+HE"), "gap_emr": 100 * t.gap("AT+EMR"),
        "grid_low_t": 100 * by_t.iloc[0], "grid_high_t": 100 * by_t.iloc[-1],
        "grid_at": 100 * t.robust_acc["AT"]["pgd10"],
        "emr_igr_at": timing_.overhead["AT"], "emr_igr_trades": timing_.overhead["TRADES"],
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
