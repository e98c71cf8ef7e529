"""Paper 004 (Wen, Li & Jia), §1.1, §4.1-4.2, App. B.2, B.4.2, B.5, B.6, D.2: how adversarial robustness (AR)
regularizes a network. Notebook: ``notebooks/11_ar_regularization.ipynb``.

One network is trained per AR strength (strength 0 is standard training; PGD adversarial training, App. B.1, or
FGSM, App. B.6) and measured on the clean training and test sets:

* Fig. 3 (§4.1): training and test loss and error and their gaps, test and PGD robust accuracy (App. D.2)
  (:func:`train_strengths`, :func:`figure3`, :func:`strength_table`);
* Fig. 4 (§4.2.1, Definition 3): the logit margins of the test and training sets (:func:`figure4`);
* Fig. 5a-b (§4.2.1): the estimated probability of the true class and the per-sample test loss
  (:func:`figure5ab`);
* Fig. 1a, 5c-d and App. B.2 (§4.2.2): the standard deviation of every layer's singular values, convolutions as
  operators (Sedghi et al.), and App. B.2's sums of the STD falls and rises (:func:`figure1a`,
  :func:`singular_value_table`);
* App. B.5 (Table 1, Fig. 8): the loss variation under Linf PGD (:func:`figure_variation`, :func:`variation_table`);
* App. B.4.2 (Fig. 6): spectral normalization crossed with AR strength (:func:`train_spectral_cross`,
  :func:`figure6`, :func:`cross_table`).

:func:`record` holds the metrics and the claims (each citing the paper's statement it tests; the profiles that
require them are in ``notebooks/params/11_ar_regularization.yaml``), :func:`headline` its key numbers,
:func:`quoted` the numbers and sentences the page glues and :func:`comparison_table` the paper-vs-book table
(App. B.2's sums from ``book/data/paper004_appB2.csv``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor, nn
from torch.nn import functional as F

from marginlib import cost, data, executors, jobs, models, train
from marginlib.book.results import claim
from marginlib.papers import tables
from marginlib.papers.p004_ar import confidence, spectra

NOTEBOOK = "11_ar_regularization"

#: the open interval of the true-class probability counted as an indecisive prediction (Fig. 5a)
INDECISIVE = (0.1, 0.9)
#: edges of the shared margin histogram bins (Fig. 4; recorded as ``margin_hist``)
MARGIN_EDGES = 50
#: the clean numbers of Fig. 3a-b (and of App. B.4.2's Fig. 6), per network
GAP_KEYS = ("train_loss", "test_loss", "loss_gap", "train_err", "test_err", "err_gap")
#: every scalar of Fig. 3, per network
SCALARS = (*GAP_KEYS, "test_acc", "robust_acc")
#: the capacity level of the networks trained without spectral normalization (App. B.4.2)
NO_SN = "no SN"
#: the ``norm`` values: the architecture's own norm layers, batch norm, or none (a ResNet with Fixup init, App. D.3)
NORMS = ("default", "batch", "none")
#: the extra strength series the ``variants`` parameter selects, each the main series with these settings changed
VARIANTS: dict[str, dict[str, str]] = {
    "fgsm": {"method": "fgsm_at"},                                  # App. B.6 (Figs. 9-11, Table 2)
    "resnet110": {"model_name": "resnet110"},                       # App. B.4.1 (Fig. 7, Table 3)
    "cifar100": {"dataset": "cifar100"},                            # §4.1-4.2 (Figs. 3-5, Table 4), App. B.2, B.5
    "cifar100_fgsm": {"dataset": "cifar100", "method": "fgsm_at"},  # App. B.6 on CIFAR-100 (Table 2)
}
#: where the paper states, for each variant, that the main series' findings hold there too
VARIANT_SOURCES = {
    "fgsm": 'App. B.6 (FGSM adversarial training, Figs. 9-11): "all key empirical results have been consistently '
            'observed in NNs trained with FGSM"',
    "resnet110": 'App. B.4.1, Fig. 7 (ResNet-110): "The observed phenomenon is the same with that of ResNet56 '
                 'presented in section 4.1"',
    "cifar100": "§4.1-4.2, Figs. 3-5 and App. B.2, B.5 (CIFAR-100, the same ResNet-56)",
    "cifar100_fgsm": 'App. B.6 on CIFAR-100 (Figs. 9-11, Table 2): "all key empirical results have been '
                     'consistently observed in NNs trained with FGSM"',
}
#: per variant, the main series' claims the paper repeats for it (recorded as ``<variant>_<claim>``), in order
VARIANT_CLAIMS: dict[str, tuple[str, ...]] = {
    "fgsm": ("loss_gap_decreases_with_strength", "test_accuracy_decreases_with_strength", "margins_concentrate",
             "probabilities_move_to_middle", "wrong_predictions_cost_less", "singular_value_std_falls"),
    "resnet110": ("loss_gap_decreases_with_strength", "train_loss_increases_with_strength",
                  "test_accuracy_decreases_with_strength"),
    "cifar100": ("loss_gap_decreases_with_strength", "train_loss_increases_with_strength",
                 "test_accuracy_decreases_with_strength", "err_gap_decreases_with_strength",
                 "test_loss_falls_while_error_rises", "margins_concentrate", "singular_value_std_falls",
                 "std_falls_outweigh_rises", "loss_variation_falls_with_strength"),
    "cifar100_fgsm": ("loss_gap_decreases_with_strength", "test_accuracy_decreases_with_strength",
                      "margins_concentrate", "probabilities_move_to_middle", "wrong_predictions_cost_less",
                      "singular_value_std_falls"),
}


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults; lists as tuples)."""

    profile: str = "demo"
    dataset: str = "mnist"
    source: str = "auto"
    n_train: int = 1000
    n_test: int = 1000
    image_size: int = 16
    model_name: str = "lenet"
    method: str = "pgd_at"
    strengths: tuple[float, ...] = (0.0, 0.1, 0.15, 0.2)
    pgd_steps: int = 5
    pgd_step: float = 0.0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.05
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = ()
    eval_eps: float = 0.1
    eval_steps: int = 10
    variation_eps: tuple[float, ...] = (0.02, 0.05, 0.1)
    variation_steps: int = 10
    sn_targets: tuple[float, ...] = (1.5,)
    sn_strengths: tuple[float, ...] = (0.1, 0.2)
    norm: str = "default"
    augment: bool = False
    variants: tuple[str, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("strengths", "variation_eps", "sn_targets", "sn_strengths"):
            object.__setattr__(self, name, tuple(float(v) for v in getattr(self, name)))
        object.__setattr__(self, "milestones", tuple(int(m) for m in self.milestones))
        if not self.variation_eps or any(e <= 0 for e in self.variation_eps):
            raise ValueError(f"variation_eps={list(self.variation_eps)!r} must list at least one radius > 0 "
                             "(App. B.5's loss variation is measured at each)")
        s = self.strengths
        if len(s) < 3 or any(a >= b for a, b in zip(s, s[1:])) or s[0] < 0:
            raise ValueError(f"strengths={list(s)!r} must list at least three increasing AR strengths >= 0 (the "
                             "trends of Figs. 3-4 are rank correlations over them), e.g. [0.0, 0.1, 0.15, 0.2]")
        if len(set(self.sn_strengths)) < 2 or any(v not in s for v in self.sn_strengths):
            raise ValueError(f"sn_strengths={list(self.sn_strengths)!r} must list at least two of "
                             f"strengths={list(s)}")
        if not self.sn_targets or any(t <= 0 for t in self.sn_targets):
            raise ValueError(f"sn_targets={list(self.sn_targets)!r} must list at least one positive spectral-norm "
                             "target (App. B.4.2), e.g. [1.5]")
        object.__setattr__(self, "variants", tuple(str(v) for v in self.variants))
        if self.norm not in NORMS:
            raise ValueError(f"norm={self.norm!r} must be one of {list(NORMS)}")
        unknown = [v for v in self.variants if v not in VARIANTS]
        if unknown or len(set(self.variants)) < len(self.variants):
            raise ValueError(f"variants={list(self.variants)!r} must name distinct series among {list(VARIANTS)}")
        same = [v for v in self.variants if all(getattr(self, k) == x for k, x in VARIANTS[v].items())]
        if same:
            raise ValueError(f"variants {same} change nothing: the main series already has their settings "
                             f"({', '.join(f'{k}={x}' for v in same for k, x in VARIANTS[v].items())})")
        if self.norm != "default":
            for name in {self.model_name, *(VARIANTS[v].get("model_name", self.model_name) for v in self.variants)}:
                if "norm" not in models.keywords(name):
                    raise ValueError(f"norm={self.norm!r} needs a model with norm layers to choose (a ResNet); "
                                     f"{name!r} has no such option: use norm='default'")

    @property
    def low(self) -> float:
        """The lowest nonzero AR strength: the paper's lowest strength (4/255) is an adversarially trained net."""
        return min(v for v in self.strengths if v > 0)

    @property
    def high(self) -> float:
        """The highest AR strength."""
        return max(self.strengths)

    @property
    def ar_strengths(self) -> tuple[float, ...]:
        """The nonzero strengths: Fig. 3b's accuracy trend is judged over adversarially trained networks."""
        return tuple(v for v in self.strengths if v > 0)

    @property
    def cross_strengths(self) -> tuple[float, ...]:
        """The AR strengths of the App. B.4.2 cross, increasing."""
        return tuple(sorted(set(self.sn_strengths)))

    @property
    def cross_targets(self) -> tuple[float, ...]:
        """The spectral-norm targets of the cross, from the weakest control (largest target) to the strongest."""
        return tuple(sorted(self.sn_targets, reverse=True))

    def variant(self, name: str) -> Params:
        """The parameters of series ``name`` (:data:`VARIANTS`): these, with the variant's settings changed and no
        variants of its own."""
        changes: dict[str, Any] = {**VARIANTS[name], "variants": ()}
        return dataclasses.replace(self, **changes)

    @property
    def eval_step(self) -> float:
        """Step of the robust-accuracy PGD (App. D.2): ``2.5 * eval_eps / eval_steps``."""
        return 2.5 * self.eval_eps / self.eval_steps


@dataclass(frozen=True)
class Network:
    """One trained network's measurements on the clean sets (paper 004 Figs. 1a, 3-5; App. B.5, D.2)."""

    scalars: dict[str, float]            #: :data:`SCALARS`: losses, errors, gaps, test and robust accuracy
    margins_test: Tensor                 #: logit margins (Definition 3) of the test set
    margins_train: Tensor                #: and of the training set
    true_prob: Tensor                    #: ``p_y(x)`` per test point (Fig. 5a)
    test_sample_loss: Tensor             #: ``-log p_y(x)`` per test point (Fig. 5b)
    singular_value_std: list[float]      #: per weight layer (Fig. 1a, 5c-d)
    loss_variation: dict[float, dict[str, float]]  #: attack radius -> mean and std of the loss increase (App. B.5)

    @property
    def gaps(self) -> dict[str, float]:
        """The :data:`GAP_KEYS` subset of :attr:`scalars`."""
        return {k: self.scalars[k] for k in GAP_KEYS}

    @property
    def margin_std(self) -> float:
        """Standard deviation of the test margins: how widely they spread around the boundary (Fig. 4)."""
        return float(self.margins_test.std())

    @property
    def margin_median(self) -> float:
        """Median test margin: where the distribution sits relative to the boundary (Fig. 4's mode moving to zero;
        the median is the location statistic that ranks stably on a thousand points)."""
        return float(self.margins_test.median())

    @property
    def train_margin_median(self) -> float:
        """Median training margin (Fig. 4b-c, App. B.3)."""
        return float(self.margins_train.median())

    @property
    def indecisive(self) -> float:
        """The fraction of test points whose true-class probability lies in :data:`INDECISIVE` (Fig. 5a)."""
        lo, hi = INDECISIVE
        return float(((self.true_prob > lo) & (self.true_prob < hi)).double().mean())

    @property
    def wrong_loss(self) -> float:
        """Mean per-sample test loss over the misclassified test points (negative margin), ``nan`` when there are
        none: what a wrong prediction costs (§4.2.1, Fig. 5b)."""
        wrong = self.margins_test < 0
        return float(self.test_sample_loss[wrong].mean()) if bool(wrong.any()) else float("nan")


@dataclass(frozen=True)
class StrengthRuns:
    """One :class:`Network` per AR strength, and what the record needs about the data and the architecture."""

    strengths: tuple[float, ...]
    networks: dict[float, Network]
    layers: list[str]                    #: ``"1: Conv2d"`` ... one name per weight layer
    source: str
    n_train: int
    n_test: int

    def column(self, key: str, strengths: Sequence[float] | None = None) -> list[float]:
        """Scalar ``key`` (one of :data:`SCALARS`) at every strength (or at ``strengths``), in increasing order."""
        return [self.networks[s].scalars[key] for s in (self.strengths if strengths is None else strengths)]

    def values(self, of: Callable[[Network], float]) -> list[float]:
        """``of(network)`` at every strength, in increasing order."""
        return [of(self.networks[s]) for s in self.strengths]

    def variation(self, eps: float, stat: str) -> list[float]:
        """App. B.5: the ``stat`` (``"mean"`` or ``"std"``) of the loss variation at attack radius ``eps``, per
        strength."""
        return [self.networks[s].loss_variation[eps][stat] for s in self.strengths]

    def std_sums(self, low: float, high: float) -> dict[str, float]:
        """App. B.2's sums of the per-layer singular-value STD falls and rises from strength ``low`` to ``high``."""
        return spectra.std_change_sums(self.networks[low].singular_value_std, self.networks[high].singular_value_std)


@dataclass(frozen=True)
class SpectralCross:
    """App. B.4.2: the clean gaps at each capacity level (``"no SN"``, then ``"SN <target>"`` from the largest
    target to the smallest) and each AR strength of the cross."""

    strengths: tuple[float, ...]
    targets: tuple[float, ...]
    runs: dict[tuple[float, float], dict[str, float]]   #: (target, strength) -> :data:`GAP_KEYS`
    capacity: dict[str, dict[float, dict[str, float]]]  #: level -> strength -> :data:`GAP_KEYS`

    @property
    def strongest(self) -> str:
        """The smallest capacity level: the smallest target."""
        return list(self.capacity)[-1]

    def column(self, level: str, key: str) -> list[float]:
        """``key`` at capacity ``level`` at every AR strength of the cross, in increasing order."""
        return [self.capacity[level][s][key] for s in self.strengths]

    def change(self, level: str, key: str) -> float:
        """How much ``key`` changes at capacity ``level`` from the lowest to the highest AR strength of the cross."""
        by = self.capacity[level]
        return by[self.strengths[-1]][key] - by[self.strengths[0]][key]


# ---------------------------------------------------------------------------------------------------- experiments


def resize(d: data.Dataset, size: int) -> data.Dataset:
    """``d`` with its images resized to ``size x size`` (bilinear, antialiased, clamped to [0, 1]); unchanged when
    they already have that size."""
    if d.x.shape[-1] == size:
        return d
    x = F.interpolate(d.x, size=(size, size), mode="bilinear", antialias=True).clamp(0, 1)
    return dataclasses.replace(d, x=x)


def load_split(*, dataset: str, split: str, n: int, seed: int, source: str, image_size: int,
               verbose: bool = False) -> data.Dataset:
    """``n`` images of ``split`` drawn with ``seed`` at ``image_size`` pixels (:func:`resize`): what a training job
    of the section loads (its data spec calls this). CIFAR-100 has no offline data: with ``source="offline"``
    it is the labelled 100-class stand-in (:func:`marginlib.data.cifar100_standin`), subsampled the same way."""
    if dataset == "cifar100" and source == "offline":
        d = data.cifar100_standin(split=split)
        d = d.subset(data.stratified_subset(d.y, n, seed=seed)) if n < len(d) else d
    else:
        d = data.load(dataset, split=split, n=n, seed=seed, source=source, verbose=verbose)
    return resize(d, image_size)


def data_spec(p: Params, split: str) -> dict[str, Any]:
    """The job data spec of ``split`` (``n_train`` or ``n_test`` images, :func:`load_split`)."""
    return {"call": f"{__name__}:load_split", "dataset": p.dataset, "split": split,
            "n": p.n_train if split == "train" else p.n_test, "seed": p.seed, "source": p.source,
            "image_size": p.image_size}


def load_data(p: Params) -> tuple[data.Dataset, data.Dataset]:
    """The training and test subsets (``n_train``, ``n_test`` drawn with ``seed``) at ``image_size`` pixels."""
    specs = [{k: v for k, v in data_spec(p, split).items() if k != "call"} for split in ("train", "test")]
    return load_split(**specs[0], verbose=True), load_split(**specs[1], verbose=True)


def ar_method(p: Params, eps: float, *, target: float | None = None) -> dict[str, Any]:
    """The spec (:func:`marginlib.methods.build`) of the training objective at AR strength ``eps``: cross-entropy at
    0, else PGD (App. B.1: random start, ``pgd_steps`` steps of ``pgd_step``, default ``2.5 eps / steps``) or FGSM
    (App. B.6) adversarial training; with ``target``, every layer's spectral norm clipped at it after each epoch
    (App. B.4.2)."""
    if eps == 0:
        base: dict[str, Any] = {"name": "standard"}
    elif p.method == "fgsm_at":
        base = {"name": "fgsm_at", "eps": eps}
    else:
        base = {"name": "pgd_at", "eps": eps, "steps": p.pgd_steps, "step_size": p.pgd_step or None}
    return base if target is None else {"name": "spectral", "target": target, "base": base}


def model_spec(p: Params, train_data: data.Dataset) -> dict[str, Any]:
    """``model_name`` for ``train_data``'s channels and classes (the data set's, so a CIFAR-100 subset missing a
    class still gets 100 outputs, App. D.2); ``norm`` passed when it is not ``"default"``."""
    kw: dict[str, Any] = {} if p.norm == "default" else {"norm": p.norm}
    return {"name": p.model_name, "in_channels": int(train_data.x.shape[1]), "input_size": p.image_size,
            "num_classes": max(int(train_data.num_classes), int(train_data.y.max()) + 1), **kw}


def build_model(p: Params, train_data: data.Dataset) -> nn.Module:
    """:func:`model_spec`'s network, its initial weights drawn from ``seed``."""
    return models.build(seed=p.seed, **model_spec(p, train_data))


def job(p: Params, train_data: data.Dataset, eps: float, *, target: float | None = None) -> jobs.Job:
    """The training of :func:`build_model` by SGD (momentum 0.9) with :func:`ar_method` on ``n_train`` images
    (:func:`data_spec`; ``train_data`` gives the model's shape), each batch randomly cropped and flipped with
    ``augment`` (App. D.1, :func:`marginlib.augment.random_crop_flip`), as a cached job."""
    schedule: dict[str, Any] = {"epochs": p.epochs, "batch_size": p.batch_size, "lr": p.lr,
                                "weight_decay": p.weight_decay, "milestones": list(p.milestones)}
    if p.augment:
        schedule["augment"] = "crop_flip"
    return jobs.Job(model=model_spec(p, train_data), method=ar_method(p, eps, target=target),
                    data=data_spec(p, "train"), schedule=schedule, seed=p.seed)


def trained_all(p: Params, train_data: data.Dataset, settings: Sequence[tuple[float, float | None]], *,
                grid: Sequence[str] = ("strengths",)) -> list[nn.Module]:
    """The networks of :func:`job` at each (strength, spectral-norm target) of ``settings``, in eval mode on the
    training device: the jobs not in the cache are submitted together (:func:`marginlib.executors.train_all`).
    The trainings are one :func:`marginlib.cost.work` unit, scaling with ``n_train``, ``epochs`` and the ``grid``
    lists they are repeated over."""
    with cost.work("n_train", "epochs", "image_size^2", *grid):
        done = executors.train_all([job(p, train_data, eps, target=target) for eps, target in settings])
    return [r.model().to(train.default_device()).eval() for r in done]


def trained(p: Params, train_data: data.Dataset, eps: float, *, target: float | None = None,
            grid: Sequence[str] = ("strengths",)) -> nn.Module:
    """The network of :func:`job` at strength ``eps`` (and spectral-norm ``target``): :func:`trained_all` of one."""
    (model,) = trained_all(p, train_data, [(eps, target)], grid=grid)
    return model


def gaps(model: nn.Module, train_data: data.Dataset, test_data: data.Dataset, *,
         grid: Sequence[str] = ("strengths",)) -> dict[str, float]:
    """Paper 004 §4.1, Fig. 3a-b: clean training and test loss and error (:func:`marginlib.train.error_and_loss`)
    and the generalization gaps test minus training."""
    with cost.work("n_train", "image_size^2", *grid):
        tr = train.error_and_loss(model, train_data)
    with cost.work("n_test", "image_size^2", *grid):
        te = train.error_and_loss(model, test_data)
    return {"train_loss": tr["loss"], "test_loss": te["loss"], "loss_gap": te["loss"] - tr["loss"],
            "train_err": tr["error"], "test_err": te["error"], "err_gap": te["error"] - tr["error"]}


def measure(p: Params, model: nn.Module, train_data: data.Dataset, test_data: data.Dataset, *,
            grid: Sequence[str] = ("strengths",)) -> Network:
    """Everything the section reads from one trained network: :func:`gaps` and test accuracy (Fig. 3), PGD
    accuracy on the correctly classified test points (App. D.2, random start from generator ``seed + 1``), the
    logit margins (Fig. 4), the true-class probability and per-sample loss (Fig. 5a-b), the loss variation
    (App. B.5) and the per-layer singular-value STD (Fig. 1a)."""
    clean = gaps(model, train_data, test_data, grid=grid)
    with cost.work("n_test", "image_size^2", *grid):
        logp = confidence.true_class_log_probability(model, test_data.x, test_data.y)
        margins_test = confidence.logit_margins(model, test_data.x, test_data.y)
    with cost.work("n_test", "variation_eps", "image_size^2", *grid):
        variation = confidence.loss_variation(model, test_data.x, test_data.y, eps=p.variation_eps,
                                              steps=p.variation_steps)
    with cost.work("n_test", "image_size^2", *grid):
        robust = confidence.robust_accuracy_on_correct(model, test_data.x, test_data.y, eps=p.eval_eps,
                                                       step_size=p.eval_step, steps=p.eval_steps, random_start=True,
                                                       generator=torch.Generator().manual_seed(p.seed + 1))
    with cost.work("n_train", "image_size^2", *grid):
        margins_train = confidence.logit_margins(model, train_data.x, train_data.y)
    with cost.work("image_size^2", *grid):
        singular_value_std = spectra.singular_value_std(model, train_data.x[:1])
    return Network(
        scalars={**clean, "test_acc": 1 - clean["test_err"], "robust_acc": robust},
        margins_test=margins_test, margins_train=margins_train,
        true_prob=logp.exp(), test_sample_loss=-logp,
        singular_value_std=singular_value_std,
        loss_variation={e: {"mean": float(v.mean()), "std": float(v.std())} for e, v in variation.items()},
    )


def train_strengths(p: Params, train_data: data.Dataset, test_data: data.Dataset, *,
                    standard: Network | None = None, grid: Sequence[str] = ("strengths",)) -> StrengthRuns:
    """Train and :func:`measure` one network per AR strength, in increasing order (paper 004 §4); ``standard``,
    when given, is the strength-0 network's measurement (a series that differs from one already run only in how
    AR is built reuses that series' standard network: plain cross-entropy does not depend on it)."""
    networks: dict[float, Network] = {}
    todo = [s for s in p.strengths if not (s == 0 and standard is not None)]
    for s, model in zip(todo, trained_all(p, train_data, [(s, None) for s in todo], grid=grid)):
        networks[s] = measure(p, model, train_data, test_data, grid=grid)
    if standard is not None and 0 in p.strengths:
        networks[0.0] = standard
    networks = {s: networks[s] for s in p.strengths}
    layers = [f"{i + 1}: {type(layer).__name__}"
              for i, layer in enumerate(models.weight_layers(build_model(p, train_data)))]
    return StrengthRuns(strengths=p.strengths, networks=networks, layers=layers, source=train_data.source,
                        n_train=len(train_data.y), n_test=len(test_data.y))


def train_spectral_cross(p: Params, runs: StrengthRuns, train_data: data.Dataset,
                         test_data: data.Dataset) -> SpectralCross:
    """App. B.4.2: one network per (spectral-norm target, AR strength of the cross), target by target from the
    largest; the networks trained without spectral normalization are ``runs``' (the largest capacity)."""
    grid = ("sn_targets", "sn_strengths")
    settings = [(s, t) for t in p.cross_targets for s in p.cross_strengths]
    cross = {(t, s): gaps(model, train_data, test_data, grid=grid)
             for (s, t), model in zip(settings, trained_all(p, train_data, settings, grid=grid))}
    capacity = {NO_SN: {s: runs.networks[s].gaps for s in p.cross_strengths},
                **{f"SN {t:g}": {s: cross[(t, s)] for s in p.cross_strengths} for t in p.cross_targets}}
    return SpectralCross(strengths=p.cross_strengths, targets=p.cross_targets, runs=cross, capacity=capacity)


def train_variants(p: Params, runs: StrengthRuns, train_data: data.Dataset,
                   test_data: data.Dataset) -> dict[str, StrengthRuns]:
    """One more :class:`StrengthRuns` per name in ``variants``, in order (:data:`VARIANTS`: FGSM adversarial
    training, App. B.6; ResNet-110, App. B.4.1; CIFAR-100, §4): the main series' protocol with the variant's
    settings. A series on the main data set reuses its images; one that changes only ``method`` reuses the standard
    network of the series with its data set and model. Every variant's trainings are submitted together first
    (those a series shares, such as a standard network, train once)."""
    sets = {p.dataset: (train_data, test_data)}
    variants = {name: p.variant(name) for name in p.variants}
    for pv in variants.values():
        if pv.dataset not in sets:
            sets[pv.dataset] = load_data(pv)
    with cost.work("n_train", "epochs", "image_size^2", "strengths", "variants"):
        executors.train_all([job(pv, sets[pv.dataset][0], s) for pv in variants.values() for s in pv.strengths])
    standard = {(p.dataset, p.model_name): runs.networks[runs.strengths[0]]} if runs.strengths[0] == 0 else {}
    out: dict[str, StrengthRuns] = {}
    for name, pv in variants.items():
        tr, te = sets[pv.dataset]
        key = (pv.dataset, pv.model_name)
        out[name] = train_strengths(pv, tr, te, standard=standard.get(key), grid=("strengths", "variants"))
        if out[name].strengths[0] == 0:
            standard.setdefault(key, out[name].networks[0.0])
    return out


# ------------------------------------------------------------------------------------------------ figures, tables


def label(s: float) -> str:
    """The legend name of strength ``s``."""
    return "standard" if s == 0 else f"eps = {s:g}"


def margin_bins(runs: StrengthRuns) -> np.ndarray:
    """:data:`MARGIN_EDGES` edges spanning every test and training margin of every network (Fig. 4)."""
    every = torch.cat([n.margins_test for n in runs.networks.values()]
                      + [n.margins_train for n in runs.networks.values()])
    return np.linspace(float(every.min()), float(every.max()), MARGIN_EDGES)


def figure3(runs: StrengthRuns, p: Params) -> Figure:
    """Paper 004, Fig. 3 / §4.1: (a) losses and their gap, (b) errors and their gap, (c) test and PGD accuracy."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    panels = ((("train_loss", "train loss"), ("test_loss", "test loss"), ("loss_gap", "loss gap (GE gap)")),
              (("train_err", "train error"), ("test_err", "test error"), ("err_gap", "error gap")))
    for ax, series in zip(axes, panels):
        for (key, name), style, color in zip(series, ("o-", "s-", "^--"), ("C0", "C1", "C2")):
            ax.plot(runs.strengths, runs.column(key), style, label=name, color=color)
    axes[2].plot(runs.strengths, runs.column("test_acc"), "o-", label="test accuracy", color="C1")
    axes[2].plot(runs.strengths, runs.column("robust_acc"), "s-",
                 label=f"PGD accuracy ($\\epsilon$ = {p.eval_eps:g})", color="C3")
    for ax, ylabel, title in zip(axes, ("cross-entropy", "error rate", "accuracy"),
                                 ("(a) losses", "(b) error rates", "(c) accuracy")):
        ax.set(xlabel="AR strength $\\epsilon$", ylabel=ylabel, title=title)
        ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def _overlay(ax: Axes, runs: StrengthRuns, values: Mapping[float, Tensor], *, bins: np.ndarray, title: str,
             xlabel: str, logy: bool = False) -> None:
    """One density histogram per strength on shared ``bins``."""
    for i, s in enumerate(runs.strengths):
        ax.hist(np.asarray(values[s]), bins=bins.tolist(), histtype="step", lw=1.4, color=f"C{i}", label=label(s),
                density=True)
    ax.set(title=title, xlabel=xlabel, ylabel="density")
    if logy:
        ax.set_yscale("log")
    ax.legend(frameon=False, fontsize=8)


def figure4(runs: StrengthRuns) -> Figure:
    """Paper 004, Fig. 4 / §4.2.1: the logit margins of (a) the test and (b) the training set, per strength."""
    bins = margin_bins(runs)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharex=True)
    xlabel = "margin $f_y - \\max_{j \\ne y} f_j$"
    for ax, split in zip(axes, ("test", "training")):
        values = {s: n.margins_test if split == "test" else n.margins_train for s, n in runs.networks.items()}
        _overlay(ax, runs, values, bins=bins, title=f"({'a' if split == 'test' else 'b'}) {split} margins",
                 xlabel=xlabel)
        ax.axvline(0, color="0.3", lw=0.8, ls=":")
    fig.tight_layout()
    return fig


def figure5ab(runs: StrengthRuns) -> Figure:
    """Paper 004, Fig. 5a-b / §4.2.1: histograms of (a) the true-class probability and (b) the per-sample test
    loss (log-scale densities)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    _overlay(axes[0], runs, {s: n.true_prob for s, n in runs.networks.items()}, bins=np.linspace(0, 1, 26),
             title="(a) estimated probability of the true class (test)", xlabel="$p_y(x)$", logy=True)
    top = max(float(n.test_sample_loss.max()) for n in runs.networks.values())
    _overlay(axes[1], runs, {s: n.test_sample_loss for s, n in runs.networks.items()},
             bins=np.linspace(0, top, 40), title="(b) per-sample test loss", xlabel="cross-entropy", logy=True)
    fig.tight_layout()
    return fig


def figure1a(runs: StrengthRuns, p: Params) -> Figure:
    """Paper 004, Fig. 1a, 5c-d / §4.2.2: the singular-value STD of each layer at the lowest and the highest AR
    strength (crosses: the first strength, standard training)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    pos = np.arange(len(runs.layers))
    for s, marker, color, ms, name in (
            (p.low, "o", "C0", 8, f"lowest AR strength ($\\epsilon$ = {p.low:g})"),
            (p.high, "o", "C3", 8, f"highest AR strength ($\\epsilon$ = {p.high:g})"),
            (runs.strengths[0], "x", "0.4", 7, "standard training")):
        ax.plot(pos, runs.networks[s].singular_value_std, marker, color=color, ms=ms, label=name)
    ax.set_xticks(pos, runs.layers, rotation=20)
    ax.set(ylabel="STD of singular values", xlabel="layer", yscale="log")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def figure_variation(runs: StrengthRuns, p: Params) -> Figure:
    """Paper 004, App. B.5 (Fig. 8): mean and std over the test set of the largest loss increase PGD finds, per
    attack radius, against the defensive strength."""
    fig, ax = plt.subplots(figsize=(6.2, 3.4))
    for i, e in enumerate(p.variation_eps):
        for stat, style, alpha in (("mean", "o-", 1.0), ("std", "s--", 0.7)):
            ax.plot(runs.strengths, [runs.networks[s].loss_variation[e][stat] for s in runs.strengths], style,
                    color=f"C{i}", alpha=alpha, label=f"{stat}, attack $\\epsilon$ = {e:g}")
    ax.set(xlabel="defensive (AR) strength $\\epsilon$", ylabel="max loss increase", yscale="log")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def figure6(cross: SpectralCross) -> Figure:
    """Paper 004, App. B.4.2, Fig. 6: losses (top) and errors (bottom) and their gaps against the AR strength,
    one column per capacity level."""
    levels = list(cross.capacity)
    fig, axes = plt.subplots(2, len(levels), figsize=(3.7 * len(levels), 6.0), sharey="row", squeeze=False)
    rows = ((GAP_KEYS[:3], "cross-entropy"), (GAP_KEYS[3:], "error rate"))
    for j, level in enumerate(levels):
        for i, (keys, ylabel) in enumerate(rows):
            ax = axes[i, j]
            for key, style, color in zip(keys, ("o-", "s-", "^--"), ("C0", "C1", "C2")):
                ax.plot(cross.strengths, [cross.capacity[level][s][key] for s in cross.strengths], style,
                        color=color, label=key.replace("_", " ").replace("err", "error"))
            ax.set(xlabel="AR strength $\\epsilon$", ylabel=ylabel if j == 0 else None, xticks=cross.strengths)
            ax.legend(frameon=False, fontsize=8)
        axes[0, j].set_title("no spectral normalization" if level == NO_SN else f"spectral norms = {level[3:]}")
    fig.tight_layout()
    return fig


def series_label(p: Params, runs: StrengthRuns) -> str:
    """A series' name: model, data set (marked when it is a synthetic stand-in) and how AR is built, e.g.
    "resnet110 (no norm), cifar10 stand-in, pgd_at"."""
    norm = "" if p.norm == "default" else f" ({'no' if p.norm == 'none' else p.norm} norm)"
    standin = " stand-in" if runs.source in (data.STANDIN_LABEL, data.STANDIN100_LABEL) else ""
    return f"{p.model_name}{norm}, {p.dataset}{standin}, {p.method}"


def figure_variants(runs: StrengthRuns, variants: Mapping[str, StrengthRuns], p: Params) -> Figure:
    """App. B.4.1 (Fig. 7), B.6 (Fig. 9-10) and CIFAR-100 (Figs. 3-4): (a) the loss gap, (b) test accuracy and (c)
    the spread of the test margins against the AR strength, one line per series (the main one first)."""
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
    series = [(series_label(p, runs), runs), *((series_label(p.variant(n), r), r) for n, r in variants.items())]
    for i, (name, r) in enumerate(series):
        style = "o-" if i == 0 else f"{'s^vD<>'[(i - 1) % 6]}--"
        for ax, values in zip(axes, (r.column("loss_gap"), r.column("test_acc"), r.values(lambda n: n.margin_std))):
            ax.plot(r.strengths, values, style, color=f"C{i}", label=name)
    for ax, ylabel, title in zip(axes, ("test - training loss", "test accuracy", "std of test margins"),
                                 ("(a) loss gap", "(b) test accuracy", "(c) margin spread")):
        ax.set(xlabel="AR strength $\\epsilon$", ylabel=ylabel, title=title)
    axes[0].legend(frameon=False, fontsize=7)
    fig.tight_layout()
    return fig


def variant_table(runs: StrengthRuns, variants: Mapping[str, StrengthRuns], p: Params) -> pd.DataFrame:
    """App. B.6 Table 2's and D.2 Tables 3-4's rows (test accuracy, training and test loss, loss gap; error gap and
    PGD accuracy) with the test-margin spread, per series and strength (4 digits); empty without variants."""
    rows: dict[tuple[str, str], dict[str, float]] = {}
    if not variants:
        return pd.DataFrame()
    for name, r in ((f"main: {series_label(p, runs)}", runs),
                    *((f"{n}: {series_label(p.variant(n), v)}", v) for n, v in variants.items())):
        for s in r.strengths:
            sc = r.networks[s].scalars
            rows[(name, label(s))] = {"test_acc": sc["test_acc"], "train_loss": sc["train_loss"],
                                      "test_loss": sc["test_loss"], "loss_gap": sc["loss_gap"],
                                      "err_gap": sc["err_gap"], "robust_acc": sc["robust_acc"],
                                      "test margin std": r.networks[s].margin_std}
    return pd.DataFrame(rows).T.round(4)


def strength_table(runs: StrengthRuns) -> pd.DataFrame:
    """Fig. 3's numbers, the test margins' std and median (Fig. 4), the share of indecisive test predictions
    (Fig. 5a) and the mean test loss of the misclassified points (Fig. 5b), one row per strength (4 digits)."""
    table = pd.DataFrame({label(s): {k: runs.networks[s].scalars[k] for k in SCALARS} for s in runs.strengths}).T
    table["test margin std"] = runs.values(lambda n: n.margin_std)
    table["test margin median"] = runs.values(lambda n: n.margin_median)
    table["indecisive share"] = runs.values(lambda n: n.indecisive)
    table["loss of the errors"] = runs.values(lambda n: n.wrong_loss)
    return table.round(4)


def singular_value_table(runs: StrengthRuns, p: Params) -> pd.DataFrame:
    """Fig. 1a's numbers: the singular-value STD per layer at the lowest and highest AR strength and at the
    first (standard) strength."""
    return pd.DataFrame({name: runs.networks[s].singular_value_std for name, s in
                         (("lowest", p.low), ("highest", p.high), ("standard", runs.strengths[0]))},
                        index=runs.layers).round(4)


def variation_table(runs: StrengthRuns, p: Params) -> pd.DataFrame:
    """App. B.5, Table 1's layout: mean and std of the loss variation per attack radius and strength."""
    return pd.DataFrame({(f"attack {e:g}", stat): {label(s): runs.networks[s].loss_variation[e][stat]
                                                   for s in runs.strengths}
                         for e in p.variation_eps for stat in ("mean", "std")}).round(4)


def cross_table(cross: SpectralCross) -> pd.DataFrame:
    """App. B.4.2's numbers: the clean gaps per (capacity level, AR strength)."""
    return pd.DataFrame({(level, label(s)): {k: by[s][k] for k in GAP_KEYS}
                         for level, by in cross.capacity.items() for s in cross.strengths}).T.round(4)


def _listed(values: Sequence[float], digits: int = 4) -> str:
    return ", ".join(f"{v:.{digits}f}" for v in values)


def _cross_listed(cross: SpectralCross, key: str) -> str:
    return "; ".join(f"{level} " + " -> ".join(f"{by[s][key]:.4f}" for s in cross.strengths)
                     for level, by in cross.capacity.items())


def steps(values: Sequence[float], direction: int) -> bool:
    """Whether ``values`` strictly fall (``direction`` -1) or strictly rise (+1) at every step; a ``nan`` fails."""
    return len(values) >= 2 and all(direction * (b - a) > 0 for a, b in zip(values, values[1:]))


def direction(values: Sequence[float]) -> str:
    """How a series moves with the strength, in words: "falls at every step", "rises at every step", or the sign of
    its change from the first value to the last, "not at every step"."""
    if steps(values, -1):
        return "falls at every step"
    if steps(values, +1):
        return "rises at every step"
    change = values[-1] - values[0]
    return f"{'falls' if change < 0 else 'rises' if change > 0 else 'unchanged'} overall, not at every step"


def _b2(dataset: str) -> dict[str, float]:
    """App. B.2's CIFAR-10 or CIFAR-100 row pair from ``book/data/paper004_appB2.csv``: the sums, the group sizes
    (sum / mean, rounded) and the ratio of the sums."""
    b2 = tables.read("paper004_appB2")
    rows = b2[b2.dataset == dataset].set_index("layer_group")
    falls, rises = rows.iloc[0], rows.iloc[1]
    return {"falls_sum": float(falls.sum_std_difference), "rises_sum": float(rises.sum_std_difference),
            "falls_n": round(falls.sum_std_difference / falls.mean_std_difference),
            "rises_n": round(rises.sum_std_difference / rises.mean_std_difference),
            "ratio": float(falls.sum_std_difference / rises.sum_std_difference)}


def _sum_ratio(sums: Mapping[str, float]) -> float:
    """Sum of the STD falls over the sum of the rises (``inf`` when nothing rises)."""
    return sums["falls_sum"] / sums["rises_sum"] if sums["rises_sum"] > 0 else float("inf")


def comparison_table(runs: StrengthRuns, cross: SpectralCross, p: Params) -> pd.DataFrame:
    """Paper 004 vs this run, as trends (most of the paper's tables lost their numbers); App. B.2's CIFAR-10 sums
    from ``book/data/paper004_appB2.csv``."""
    c10 = _b2("CIFAR-10")
    sums = runs.std_sums(p.low, p.high)
    n_layers = len(runs.layers)
    ar = p.ar_strengths

    def row(values: Sequence[float], digits: int = 4) -> str:
        return f"{direction(values)}: {_listed(values, digits)}"

    frame = [
        ["loss (GE) gap vs strength (Fig. 3a)", "falls (CIFAR-10/100, Tiny-ImageNet)", row(runs.column("loss_gap"))],
        ["training loss vs strength (Fig. 3a)", "rises", row(runs.column("train_loss"))],
        ["test loss vs AR strength (Fig. 3b)", "falls on CIFAR-10/100 while the test error rises (not on "
         "Tiny-ImageNet)", row(runs.column("test_loss", ar))],
        ["test accuracy vs AR strength (Fig. 3b)", "falls", row(runs.column("test_acc", ar))],
        ["error gap vs strength (Fig. 3a)", "rises on CIFAR-10 (App. B.3), falls on CIFAR-100",
         row(runs.column("err_gap"))],
        ["PGD accuracy vs strength (Fig. 1c, 12)", "rises", row(runs.column("robust_acc"))],
        ["test margin std vs strength (Fig. 4)", "falls (concentrates)", row(runs.values(lambda n: n.margin_std), 3)],
        ["median test margin vs strength (Fig. 4)", "moves toward 0 (the mode does)",
         row(runs.values(lambda n: n.margin_median), 3)],
        ["share of test p_y in (0.1, 0.9) vs strength (Fig. 5a)", "rises; the majority stays at the ends",
         row(runs.values(lambda n: n.indecisive), 3)],
        ["mean test loss of the misclassified points vs strength (Fig. 5b)", "falls (less confident errors)",
         row(runs.values(lambda n: n.wrong_loss), 3)],
        ["B.2: sum of STD falls / rises, lowest vs highest strength",
         f"CIFAR-10: {c10['falls_sum']:.4f} / {c10['rises_sum']:.4f} (ResNet-56, 4 vs 16)",
         f"{sums['falls_sum']:.4f} / {sums['rises_sum']:.4f} ({n_layers} layers, {p.low:g} vs {p.high:g})"],
        ["B.2: layers whose STD falls", f"most: {c10['falls_n']} of {c10['falls_n'] + c10['rises_n']} on CIFAR-10",
         f"{sums['falls_n']} of {n_layers}"],
    ]
    for e in p.variation_eps:
        frame.append([f"B.5: loss variation at attack {e:g} vs strength (Fig. 8)", "mean and std fall",
                      "; ".join(f"{stat} {row(runs.variation(e, stat))}" for stat in ("mean", "std"))])
    frame += [
        ["B.4.2: loss gap over the cross's AR strengths (Fig. 6)", "falls at every spectral-norm target",
         _cross_listed(cross, "loss_gap")],
        ["B.4.2: error gap over the cross's AR strengths (Fig. 6)",
         "rises without (or with weak) SN, falls under strong SN", _cross_listed(cross, "err_gap")],
    ]
    return pd.DataFrame(frame, columns=["quantity", "paper 004", "this run"]).set_index("quantity")


# ------------------------------------------------------------------------------------------- record and quotes


def _per_strength(network: Network, bins: np.ndarray) -> dict[str, Any]:
    return {
        **network.scalars,
        "margin_std_test": network.margin_std,
        "margin_median_test": network.margin_median, "margin_median_train": network.train_margin_median,
        "indecisive_test": network.indecisive, "wrong_test_loss": network.wrong_loss,
        "margin_hist": {split: np.histogram(np.asarray(m), bins=bins)[0].tolist()
                        for split, m in (("test", network.margins_test), ("train", network.margins_train))},
        "margins_test": network.margins_test, "margins_train": network.margins_train,
        "true_prob": network.true_prob, "test_sample_loss": network.test_sample_loss,
        "singular_value_std": network.singular_value_std,
        "loss_variation": {str(e): v for e, v in network.loss_variation.items()},
    }


def variant_metrics(runs: StrengthRuns, p: Params) -> dict[str, Any]:
    """What the record keeps of a variant series: its settings and data, and per strength the scalars, the test
    margins' spread and median, the indecisive share, the loss of the errors, the singular-value STDs and the loss
    variation; App. B.2's sums."""
    return {
        "label": series_label(p, runs), "source": runs.source, "standin": runs.source in (
            data.STANDIN_LABEL, data.STANDIN100_LABEL), "n_train": runs.n_train, "n_test": runs.n_test,
        "model": p.model_name, "dataset": p.dataset, "method": p.method, "layers": runs.layers,
        "per_strength": {str(s): {**n.scalars, "margin_std_test": n.margin_std, "margin_median_test": n.margin_median,
                                  "indecisive_test": n.indecisive, "wrong_test_loss": n.wrong_loss,
                                  "singular_value_std": n.singular_value_std,
                                  "loss_variation": {str(e): v for e, v in n.loss_variation.items()}}
                         for s, n in runs.networks.items()},
        "appB2": {"lowest_vs_highest": runs.std_sums(p.low, p.high)},
    }


def metrics(runs: StrengthRuns, cross: SpectralCross, p: Params,
            variants: Mapping[str, StrengthRuns] | None = None) -> dict[str, Any]:
    """Everything the record keeps: per strength the scalars, margins, confidences, spectra and loss variations;
    App. B.2's sums; the App. B.4.2 cross; the variant series (:func:`variant_metrics`)."""
    bins = margin_bins(runs)
    return {
        "source": runs.source, "n_train": runs.n_train, "n_test": runs.n_test, "image_size": p.image_size,
        "model": p.model_name, "norm": p.norm, "augment": p.augment, "method": p.method,
        "strengths": list(runs.strengths),
        "ar_strengths": list(p.ar_strengths),
        "per_strength": {str(s): _per_strength(runs.networks[s], bins) for s in runs.strengths},
        "margin_hist_bins": bins.tolist(),
        "layers": runs.layers,
        "appB2": {"lowest_vs_highest": runs.std_sums(p.low, p.high),
                  "standard_vs_highest": runs.std_sums(runs.strengths[0], p.high)},
        "spectral_cross": {f"{t:g}/{s:g}": v for (t, s), v in cross.runs.items()},
        "spectral_targets": list(cross.targets), "spectral_strengths": list(cross.strengths),
        "spectral_change": {level: {key: cross.change(level, key) for key in ("loss_gap", "err_gap")}
                            for level in cross.capacity},
        "variants": {name: variant_metrics(r, p.variant(name)) for name, r in (variants or {}).items()},
    }


def headline(m: Mapping[str, Any]) -> dict[str, float]:
    """The numbers that matter most in a record's ``metrics`` (JSON-loaded): the loss gap, test loss, test and PGD
    accuracy, margin spread and indecisive share at the ends of the strength range, the share of layers whose
    singular-value STD falls, and the spectral-normalization changes under the strongest target."""
    strengths = [float(s) for s in m["strengths"]]
    ar = [s for s in strengths if s > 0]

    def at(s: float, key: str) -> float:
        return float(m["per_strength"][str(s)][key])

    first, low, high = strengths[0], ar[0], strengths[-1]
    strong = list(m["spectral_change"])[-1]
    b2 = m["appB2"]["lowest_vs_highest"]
    return {
        "loss gap (lowest strength)": at(first, "loss_gap"),
        "loss gap (highest strength)": at(high, "loss_gap"),
        "test loss (lowest AR strength)": at(low, "test_loss"),
        "test loss (highest strength)": at(high, "test_loss"),
        "test accuracy (lowest AR strength)": at(low, "test_acc"),
        "test accuracy (highest strength)": at(high, "test_acc"),
        "PGD accuracy (highest strength)": at(high, "robust_acc"),
        "test margin std (highest strength)": at(high, "margin_std_test"),
        "indecisive share (highest strength)": at(high, "indecisive_test"),
        "layers with falling SV STD (share)": float(b2["falls_n"]) / len(m["layers"]),
        f"loss gap change ({strong})": float(m["spectral_change"][strong]["loss_gap"]),
        f"error gap change ({strong})": float(m["spectral_change"][strong]["err_gap"]),
    }


def _at(strengths: Sequence[float]) -> str:
    return "eps " + ", ".join(f"{s:g}" for s in strengths)


def series_claims(runs: StrengthRuns, p: Params) -> dict[str, dict[str, Any]]:
    """The claims one strength series is checked on (§1.1, §4.1, §4.2.1, §4.2.2, App. B.2, B.3, B.5), each as the
    paper states it: a trend "as AR strength grows" must hold at every step of the strengths. The main series
    records all but ``err_gap_decreases_with_strength`` (CIFAR-100's, App. B.3); a variant those of
    :data:`VARIANT_CLAIMS`."""
    every, ar = runs.strengths, p.ar_strengths
    gap, train_loss, robust = runs.column("loss_gap"), runs.column("train_loss"), runs.column("robust_acc")
    acc, test_loss, test_err = runs.column("test_acc", ar), runs.column("test_loss", ar), runs.column("test_err", ar)
    mstd, median = runs.values(lambda n: n.margin_std), runs.values(lambda n: n.margin_median)
    middle, wrong = runs.values(lambda n: n.indecisive), runs.values(lambda n: n.wrong_loss)
    sums = runs.std_sums(p.low, p.high)
    n_layers = len(runs.layers)
    c10, c100 = _b2("CIFAR-10"), _b2("CIFAR-100")
    ratio, least = _sum_ratio(sums), min(c10["ratio"], c100["ratio"])
    variation = {(e, stat): runs.variation(e, stat)
                 for e in p.variation_eps for stat in ("mean", "std")}
    top = runs.networks[p.high]
    loss_change, err_change = test_loss[-1] - test_loss[0], test_err[-1] - test_err[0]
    err_gap = runs.column("err_gap", ar)
    return {
        "loss_gap_decreases_with_strength": claim(
            steps(gap, -1),
            paper='§4.1, Fig. 3a: "GE gaps (the gaps between training and test losses) decrease as strength of AR '
                  'increase"',
            detail=f"loss gap at {_at(every)}: {_listed(gap)}; must fall at every step"),
        "train_loss_increases_with_strength": claim(
            steps(train_loss, +1),
            paper='§4.1, Fig. 3a: "training losses increase as AR strength increase"',
            detail=f"training loss at {_at(every)}: {_listed(train_loss)}; must rise at every step"),
        "test_accuracy_decreases_with_strength": claim(
            steps(acc, -1),
            paper='§4.1, Fig. 3b: "the end result of AR regularization leads to biased-performing NNs that achieve '
                  'degraded test performance" (test error rises over the AR strengths 4, 8, 16)',
            detail=f"test accuracy at the AR strengths {_at(ar)}: {_listed(acc)} (standard training: "
                   f"{runs.networks[every[0]].scalars['test_acc']:.4f}); must fall at every step"),
        "test_loss_falls_while_error_rises": claim(
            loss_change <= 0 < err_change,
            paper='§4.1, Fig. 3b (CIFAR-10/100): "the test losses show a decreasing trend even when test error '
                  'rates increase"',
            detail=f"over the AR strengths {_at(ar)}: test loss {_listed(test_loss)} (change {loss_change:+.4f}, "
                   f"must not rise), test error {_listed(test_err)} (change {err_change:+.4f}, must rise)",
            value=loss_change),
        "robust_accuracy_increases_with_strength": claim(
            steps(robust, +1),
            paper='§1.1, Fig. 1c: "the increased adversarial robustness of the network, as shown in the increasing '
                  'curve in fig. 1(c)"',
            detail=f"PGD accuracy (eps {p.eval_eps:g}, on the correctly classified test points) at {_at(every)}: "
                   f"{_listed(robust)}; must rise at every step"),
        "margins_concentrate": claim(
            steps(mstd, -1) and steps([abs(v) for v in median], -1),
            paper='§4.2.1, Fig. 4 (and Fig. 1b): "the distributions of margins become more concentrated around zero '
                  'as AR grows. The concentration moves the mode of margin distribution towards zero"',
            detail=f"test margins at {_at(every)}: std {_listed(mstd, 3)} and median {_listed(median, 3)}; both the "
                   "spread and the distance of the median from zero must fall at every step"),
        "probabilities_move_to_middle": claim(
            steps(middle, +1),
            paper='§4.2.1, Fig. 5a: "the estimated probabilities of the target class concentrate more around middle '
                  'values"',
            detail=f"share of test points with {INDECISIVE[0]:g} < p_y < {INDECISIVE[1]:g} at {_at(every)}: "
                   f"{_listed(middle, 3)}; must rise at every step"),
        "most_probabilities_stay_at_the_ends": claim(
            top.indecisive < 0.5,
            paper='§4.2.1, Fig. 5a: "(but the majority of values are still at the ends)"',
            detail=f"share of test points with {INDECISIVE[0]:g} < p_y < {INDECISIVE[1]:g} at eps {p.high:g}: "
                   f"{top.indecisive:.3f}; must stay below one half", value=top.indecisive),
        "wrong_predictions_cost_less": claim(
            steps(wrong, -1),
            paper='§4.1, §4.2.1, Fig. 5b: "less confident wrong predictions are made by NNs thanks to adversarial '
                  'training", which "maps to smaller loss values"',
            detail=f"mean test loss of the misclassified test points at {_at(every)}: {_listed(wrong, 3)}; must fall "
                   "at every step"),
        "singular_value_std_falls": claim(
            sums["falls_n"] > n_layers / 2,
            paper='§4.2.2, Fig. 5c-d: "the standard deviation of singular values associated with a layer of the NN '
                  'trained with AR strength 4 is mostly larger than that of the NN with AR strength 16"',
            detail=f"{sums['falls_n']} of {n_layers} layers have a lower singular-value STD at eps {p.high:g} than "
                   f"at eps {p.low:g}; must be more than half",
            value=sums["falls_n"] / n_layers, paper_value=c10["falls_n"] / (c10["falls_n"] + c10["rises_n"])),
        "std_falls_outweigh_rises": claim(
            ratio >= least,
            paper=f'App. B.2: the summed STD decrease "is a magnitude larger" than the summed STD increase (CIFAR-10 '
                  f'{c10["falls_sum"]:.4f} vs {c10["rises_sum"]:.4f}, CIFAR-100 {c100["falls_sum"]:.4f} vs '
                  f'{c100["rises_sum"]:.4f})',
            detail=f"sum of the STD falls {sums['falls_sum']:.4f}, of the rises {sums['rises_sum']:.4f} (eps "
                   f"{p.low:g} vs {p.high:g}): ratio {ratio:.3g}; must be at least the smaller of the paper's ratios, "
                   f"{least:.3g} (CIFAR-100; CIFAR-10: {c10['ratio']:.3g})",
            value=ratio if np.isfinite(ratio) else None, paper_value=c10["ratio"]),
        "loss_variation_falls_with_strength": claim(
            all(steps(v, -1) for v in variation.values()),
            paper='App. B.5, Fig. 8, Table 1: "the average loss variation decreases with adversarial robustness. The '
                  'standard deviation decreases with network adversarial robustness as well"',
            detail=f"max loss increase under Linf PGD at {_at(every)}: "
                   + "; ".join(f"attack {e:g} {stat} {_listed(v)}" for (e, stat), v in variation.items())
                   + "; every mean and std must fall at every step"),
        "err_gap_decreases_with_strength": claim(
            steps(err_gap, -1),
            paper='§4.1, App. B.3: "the error gap reduces for CIFAR100 and Tiny-ImageNet, but increases for CIFAR10"',
            detail=f"error gap at the AR strengths {_at(ar)}: {_listed(err_gap)}; must fall at every step"),
    }


def claims(runs: StrengthRuns, cross: SpectralCross, p: Params,
           variants: Mapping[str, StrengthRuns] | None = None) -> dict[str, dict[str, Any]]:
    """The claims of paper 004 this section checks: :func:`series_claims` of the main series, App. B.4.2's two
    on the spectral-normalization cross, then per variant (App. B.4.1, B.6, CIFAR-100) the claims the paper
    repeats for it (:data:`VARIANT_CLAIMS`), named ``<variant>_<claim>``."""
    out = {k: c for k, c in series_claims(runs, p).items() if k != "err_gap_decreases_with_strength"}
    out.update(cross_claims(cross))
    for name, series in (variants or {}).items():
        found = series_claims(series, p.variant(name))
        for key in VARIANT_CLAIMS[name]:
            c = found[key]
            out[f"{name}_{key}"] = {**c, "paper": f"{VARIANT_SOURCES[name]}; as in the main series, {c['paper']}",
                                    "detail": f"{series_label(p.variant(name), series)}: {c['detail']}"}
    return out


def cross_claims(cross: SpectralCross) -> dict[str, dict[str, Any]]:
    """App. B.4.2's claims on the spectral-normalization cross (Fig. 6)."""
    lo, hi, strong = cross.strengths[0], cross.strengths[-1], cross.strongest
    return {
        "sn_loss_gap_decreases_with_strength": claim(
            all(steps(cross.column(level, "loss_gap"), -1) for level in cross.capacity),
            paper='App. B.4.2, Fig. 6: as the capacity decreases, "the loss gap keeps a consistent decreasing trend" '
                  "with AR strength",
            detail=f"loss gap at eps {' -> '.join(f'{s:g}' for s in cross.strengths)}: "
                   + _cross_listed(cross, "loss_gap") + "; must fall at every step at every capacity"),
        "sn_error_gap_turns_decreasing": claim(
            cross.change(NO_SN, "err_gap") > 0 > cross.change(strong, "err_gap"),
            paper='App. B.4.2, Fig. 6: "as the capacity of NNs decreases ..., the error gap between training and test '
                  'gradually changes from an increasing trend to a decreasing trend"',
            detail=f"error gap at eps {lo:g} -> {hi:g}: " + _cross_listed(cross, "err_gap")
                   + f"; must rise without SN and fall under {strong}"),
    }


def record(runs: StrengthRuns, cross: SpectralCross, p: Params,
           variants: Mapping[str, StrengthRuns] | None = None) -> dict[str, Any]:
    """``{"metrics": ..., "claims": ...}`` for ``run.save``."""
    return {"metrics": metrics(runs, cross, p, variants), "claims": claims(runs, cross, p, variants)}


def _joined(items: Sequence[str]) -> str:
    """``"a, b and c"``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _series(values: Sequence[float], strengths: Sequence[float], digits: int = 3) -> str:
    """``"0.953, 0.950 and 0.885 at ε = 0.1, 0.15 and 0.2"``."""
    return f"{_joined([f'{v:.{digits}f}' for v in values])} at ε = {_joined([f'{s:g}' for s in strengths])}"


def trend_text(what: str, values: Sequence[float], strengths: Sequence[float], want: int, where: str,
               digits: int = 3) -> str:
    """``what`` per strength and whether it moves as the paper says (``want`` -1: falls, +1: rises) at every
    step, e.g. "The loss gap is 0.270, 0.145 and 0.068 at ε = 0, 0.1 and 0.2: it falls at every step, as the
    paper finds (Fig. 3a)"."""
    said = f"{what} is {_series(values, strengths, digits)}: it "
    if steps(values, want):
        return said + f"{'falls' if want < 0 else 'rises'} at every step, as the paper finds ({where})"
    return said + (f"{direction(values)}, where the paper finds it {'falling' if want < 0 else 'rising'} ({where})")


def paradox_why_text(runs: StrengthRuns, p: Params) -> str:
    """The test loss is the training loss plus the loss gap: how each changes from the lowest AR strength to the
    highest."""
    lo, hi = runs.networks[p.low].scalars, runs.networks[p.high].scalars
    train, gap = hi["train_loss"] - lo["train_loss"], hi["loss_gap"] - lo["loss_gap"]
    return (f"from ε = {p.low:g} to {p.high:g} the training loss changes by {train:+.3f} and the loss gap by "
            f"{gap:+.3f}, so the test loss changes by {train + gap:+.3f}")


def accuracy_text(runs: StrengthRuns, p: Params) -> str:
    """Fig. 3b's test accuracy over the AR strengths in words, and how standard training compares with the
    weakest AR network."""
    acc = runs.column("test_acc", p.ar_strengths)
    first, weak = runs.networks[runs.strengths[0]].scalars["test_acc"], acc[0]
    trend = ("falls at every step, as in the paper" if steps(acc, -1) else
             f"{direction(acc)}, so this run does not show the paper's steady fall")
    versus = ("more accurate than" if weak > first else "less accurate than" if weak < first else "as accurate as")
    return (f"Among the adversarially trained networks test accuracy is {_series(acc, p.ar_strengths)}: it {trend}. "
            f"Standard training reaches {first:.3f}, so the weakest AR network is {versus} standard training")


def robust_text(runs: StrengthRuns, p: Params) -> str:
    """Fig. 1c's robust-accuracy trend in words."""
    robust = runs.column("robust_acc")
    verdict = ("it rises at every step, as Fig. 1c's curve does" if steps(robust, +1) else
               f"it {direction(robust)}, so Fig. 1c's steadily increasing curve is not reproduced here")
    return f"PGD accuracy is {_series(robust, runs.strengths)}: {verdict}"


def paradox_text(runs: StrengthRuns, p: Params) -> str:
    """§4.1's "test loss falls while test error rises" (Fig. 3b), tested over the AR strengths, in words."""
    ar = p.ar_strengths
    loss, err = runs.column("test_loss", ar), runs.column("test_err", ar)
    said = (f"Over the AR strengths the test loss is {_series(loss, ar)}, and the test error "
            f"{_joined([f'{v:.3f}' for v in err])}")
    if loss[-1] - loss[0] <= 0 < err[-1] - err[0]:
        return said + ": the test loss does not rise while the error does, as the paper finds on CIFAR-10/100"
    if loss[-1] > loss[0]:
        return (said + ": here the test loss rises with the strength, so this run does not reproduce the "
                "paper's paradox (on CIFAR-10/100 the test loss falls while the error rises; on Tiny-ImageNet it "
                "does not fall either)")
    return said + ": the test error does not rise, so the paradox has nothing to show here"


def margin_text(runs: StrengthRuns) -> str:
    """Fig. 4's concentration of the test margins in words: their spread and median against the strength."""
    mstd, median = runs.values(lambda n: n.margin_std), runs.values(lambda n: n.margin_median)
    both = steps(mstd, -1) and steps([abs(v) for v in median], -1)
    verdict = ("both fall at every step: the distributions narrow and move toward zero, as in the paper" if both else
               f"the spread {direction(mstd)} and the median {direction([abs(v) for v in median])} in distance from "
               "zero, so the concentration is not steady here")
    return (f"The standard deviation of the test margins is {_series(mstd, runs.strengths, 2)}, their median "
            f"{_listed(median, 2)}; {verdict}")


def train_margin_text(runs: StrengthRuns) -> str:
    """Where the training margins sit at the ends of the strength range (Fig. 4b, App. B.3)."""
    first, top = runs.networks[runs.strengths[0]], runs.networks[runs.strengths[-1]]
    side = "still on its positive side" if top.train_margin_median > 0 else "on its negative side"
    return (f"The median training margin moves from {first.train_margin_median:.2f} to "
            f"{top.train_margin_median:.2f}, {side}")


def middle_text(runs: StrengthRuns) -> str:
    """Fig. 5a's share of indecisive test predictions, against the paper's "the majority is still at the ends"."""
    middle = runs.values(lambda n: n.indecisive)
    trend = "rises at every step" if steps(middle, +1) else direction(middle)
    top = middle[-1]
    ends = ("the majority stays at the ends, as the paper notes" if top < 0.5 else
            "at the highest strength the majority is in the middle, unlike the paper's Fig. 5a, where "
            '"the majority of values are still at the ends"')
    return (f"The share of test points with {INDECISIVE[0]:g} < p_y(x) < {INDECISIVE[1]:g} is "
            f"{', '.join(f'{100 * v:.1f}%' for v in middle)} from the lowest strength to the highest: it {trend}, "
            f"and {ends}")


def wrong_text(runs: StrengthRuns) -> str:
    """What a wrong prediction costs (Fig. 5b): the mean test loss of the misclassified points per strength."""
    wrong = runs.values(lambda n: n.wrong_loss)
    verdict = ("falls at every step, so the errors are made with less confidence" if steps(wrong, -1) else
               f"{direction(wrong)}")
    return f"The mean test loss of a misclassified point is {_series(wrong, runs.strengths, 2)}: it {verdict}"


def variation_text(runs: StrengthRuns, p: Params) -> str:
    """App. B.5's trend in words: at which attack radii the mean and std of the loss variation fall at every step."""
    bad = [f"the {stat} at attack {e:g} ({_listed(runs.variation(e, stat))})"
           for e in p.variation_eps for stat in ("mean", "std")
           if not steps(runs.variation(e, stat), -1)]
    if not bad:
        return ("At every attack radius both the mean and the standard deviation of the loss variation fall at every "
                "step of the strength, as App. B.5 reports")
    return ("Not every series falls at every step, as App. B.5 reports they do: " + "; ".join(bad)
            + " does not")


def sn_err_text(cross: SpectralCross) -> str:
    """App. B.4.2's error-gap turn in words: the changes without SN and under the strongest target."""
    none, strong = cross.change(NO_SN, "err_gap"), cross.change(cross.strongest, "err_gap")
    if none > 0 > strong:
        return ("the error gap rises with AR strength without spectral normalization and falls under it: the turn "
                "the paper reports")
    if none <= 0:
        return ("the uncontrolled network's error gap already falls with AR strength, so there is no rising trend "
                "for spectral normalization to turn: the premise of the paper's second trend is missing here")
    return "the error gap rises without spectral normalization and does not fall under it: no turn"


def variants_text(runs: StrengthRuns, variants: Mapping[str, StrengthRuns], p: Params) -> str:
    """Per variant series, which of the paper's findings repeated for it (:data:`VARIANT_CLAIMS`) hold in this
    run; a one-line note when no variant ran (``variants`` empty, as at ``demo``)."""
    if not variants:
        return ("This run trains no variant series (`variants` is empty, as at `demo`: they need CIFAR and a GPU); "
                "the `paper` profile runs all four, and its dry run runs them on the labelled stand-ins")
    parts = []
    for name, r in variants.items():
        c = series_claims(r, p.variant(name))
        held = [k for k in VARIANT_CLAIMS[name] if c[k]["holds"]]
        failed = [k for k in VARIANT_CLAIMS[name] if not c[k]["holds"]]
        parts.append(f"{series_label(p.variant(name), r)}: {len(held)} of {len(VARIANT_CLAIMS[name])} of the "
                     "paper's findings hold" + (f" (not: {', '.join(f'`{k}`' for k in failed)})" if failed else ""))
    return "; ".join(parts)


def quoted(runs: StrengthRuns, cross: SpectralCross, p: Params,
           variants: Mapping[str, StrengthRuns] | None = None) -> dict[str, object]:
    """The numbers and sentences the page's prose glues, by glue name."""
    first = runs.networks[runs.strengths[0]]
    top = runs.networks[p.high]
    sums = runs.std_sums(p.low, p.high)
    out: dict[str, object] = {}
    for key in ("loss_gap", "test_acc", "robust_acc", "err_gap", "train_loss", "test_loss"):
        out[f"ar_{key}_low"] = first.scalars[key]
        out[f"ar_{key}_high"] = top.scalars[key]
    out.update({
        "ar_high": p.high,
        "ar_mstd_low": first.margin_std, "ar_mstd_high": top.margin_std,
        "ar_middle_low": 100 * first.indecisive, "ar_middle_high": 100 * top.indecisive,
        "sv_falls_n": sums["falls_n"], "sv_layers": len(runs.layers), "sv_falls_sum": sums["falls_sum"],
        "sv_rises_sum": sums["rises_sum"], "sv_low": p.low,
        "gap_text": trend_text("The loss gap", runs.column("loss_gap"), runs.strengths, -1, "Fig. 3a"),
        "train_loss_text": trend_text("The training loss", runs.column("train_loss"), runs.strengths, +1,
                                      "Fig. 3a"),
        "accuracy_text": accuracy_text(runs, p), "robust_text": robust_text(runs, p),
        "paradox_why_text": paradox_why_text(runs, p),
        "paradox_text": paradox_text(runs, p), "margin_text": margin_text(runs),
        "train_margin_text": train_margin_text(runs), "middle_text": middle_text(runs),
        "wrong_text": wrong_text(runs), "variation_text": variation_text(runs, p),
    })
    for key in ("loss_gap", "err_gap"):
        out[f"sn_{key}_change_none"] = cross.change(NO_SN, key)
        out[f"sn_{key}_change_strong"] = cross.change(cross.strongest, key)
    sn_train = [cross.capacity[cross.strongest][s]["train_err"] for s in cross.strengths]
    out.update({"sn_strong": cross.strongest[3:], "sn_low": cross.strengths[0], "sn_high": cross.strengths[-1],
                "sn_err_text": sn_err_text(cross),
                "sn_train_err_text": _series(sn_train, cross.strengths),
                "sn_loss_trend_text": ("falls at every capacity, the paper's first trend (Fig. 6)" if all(
                    steps(cross.column(level, "loss_gap"), -1) for level in cross.capacity)
                    else "does not fall at every capacity, unlike the paper's first trend (Fig. 6)")})
    out["variants_text"] = variants_text(runs, variants or {}, p)
    return out


__all__ = ["GAP_KEYS", "INDECISIVE", "MARGIN_EDGES", "NO_SN", "NOTEBOOK", "SCALARS", "Network", "Params",
           "SpectralCross", "StrengthRuns", "accuracy_text", "ar_method", "claims", "comparison_table", "cross_table",
           "direction", "figure1a", "figure3", "figure4", "figure5ab", "figure6", "figure_variation", "gaps",
           "headline", "label", "load_data",
           "NORMS", "VARIANTS", "VARIANT_CLAIMS", "VARIANT_SOURCES", "build_model", "cross_claims", "figure_variants",
           "series_claims", "series_label", "train_variants", "variant_metrics", "variant_table", "variants_text",
           "margin_bins", "margin_text", "measure", "metrics", "middle_text",
           "paradox_text", "paradox_why_text", "quoted", "record", "resize", "robust_text", "singular_value_table",
           "sn_err_text", "steps", "strength_table", "train_margin_text", "train_spectral_cross", "train_strengths",
           "trained", "trend_text", "variation_table", "variation_text", "wrong_text"]
