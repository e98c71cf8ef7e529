"""Paper 000 §4.1-4.2 and App. A: minimum vs. average margin of deep models during SGD training, Figs. 2a-c and 4-7.

Notebook: ``notebooks/02_minavg_deep.ipynb``. Multiclass logistic regression (LR), a one-hidden-layer MLP and the
Carlini-Wagner CNN are trained on MNIST while the Lipschitz lower bound on the margin (paper 000 eq. (3),
:func:`marginlib.papers.p000_minavg.tracking.margin_tracker`) of fixed training and test subsets is recorded at
the paper's epochs (App. A, :mod:`marginlib.papers.p000_minavg.schedule`). The claims are §4.2's second-half
trends: the minimum training margin rises while the average falls.

* :func:`load_data`, :func:`train_models` run the experiment and return its data (:class:`Data`, :class:`ModelRun`);
* :func:`figure_curves` (Figs. 2a-c, 6), :func:`figure_histograms` (Figs. 5, 7), :func:`figure_training` (Fig. 4)
  and :func:`summary_frame` only draw from that data;
* :func:`record` gives the record's metrics and claims, :func:`quoted` the numbers the prose glues.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from marginlib import cost, data, methods, models, train, validate
from marginlib.book import plots
from marginlib.book.results import claim
from marginlib.data import Dataset
from marginlib.papers.p000_minavg import cifar
from marginlib.papers.p000_minavg.schedule import late_epochs, paper_epochs
from marginlib.papers.p000_minavg.tracking import MarginCurves, margin_curves, margin_tracker
from marginlib.stats import trend

NOTEBOOK = "02_minavg_deep"

#: the MNIST models this section trains, with the labels its figures and tables use
LABEL = {"logreg": "LR", "mlp1x1024": "MLP", "cw_mnist": "CNN", "mlp": "MLP"}
#: the claim-name suffix of each MNIST model (``min_margin_increases_<suffix>``); other models use their own name
SHORT = {"logreg": "lr", "mlp1x1024": "mlp", "cw_mnist": "cnn"}
#: the parameter that sets each model's number of epochs (every other model: ``epochs``); CIFAR runs by their key
EPOCHS_FIELD = {"logreg": "epochs_lr", "cw_mnist": "epochs_cnn", "cifar_logreg": "epochs_lr", "cw_cifar": "epochs_cnn"}
#: the logistic-regression runs (margins every epoch, exact with one draw) and the CNN runs (``*_cnn`` budgets)
LINEAR = ("logreg", "cifar_logreg")
CONVNETS = ("cw_mnist", "cw_cifar")
#: a trend holds when the Spearman rank correlation with the epoch exceeds this in magnitude: over the three
#: second-half epochs of the paper's schedule a strictly monotone trend; over six, at most one neighbour swap
TREND = 0.9
#: what each claim tests: paper 000 §4.2 on its six models, shown for MNIST in App. D, Fig. 6 (the profiles where a
#: claim must hold are in ``notebooks/params/02_minavg_deep.yaml``, ``required:``)
PAPER = {"min": '§4.2 and App. D, Fig. 6 (MNIST): "the minimum margin continues increasing"',
         "avg": '§4.2 and App. D, Fig. 6 (MNIST): "the average margin keeps decreasing"'}
#: the CIFAR-10 models' claims: paper 000 §4.2 on the CIFAR half of its six models (Figs. 2a-c)
PAPER_CIFAR = {"min": '§4.2, Figs. 2a-c (CIFAR-10): "the minimum margin continues increasing"',
               "avg": '§4.2, Figs. 2a-c (CIFAR-10): "the average margin keeps decreasing"'}
#: what the CIFAR figures show when the run trains no CIFAR model (the demo)
NOT_RUN = ("CIFAR-10 half not run at this profile (cifar_models is empty); "
           "the paper profile trains it, and the dry run on the labelled stand-in")
#: epochs whose training-margin histograms are drawn per model (Figs. 5 and 7), spread over the recorded ones
HISTOGRAMS_PER_MODEL = 5
#: the fewest recorded second-half epochs a trend is measured on (:func:`marginlib.stats.trend`)
MIN_TREND_EPOCHS = 3


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults); see the cell for each one's meaning."""

    profile: str = "demo"
    source: str = "auto"
    models: tuple[str, ...] = ("logreg", "mlp1x1024", "cw_mnist")
    n_train: int = 4000
    n_test: int = 0
    cifar_models: tuple[str, ...] = ()
    n_train_cifar: int = 0
    epochs: int = 100
    epochs_cnn: int = 20
    epochs_lr: int = 100
    late_records: int = 5
    batch_size: int = 128
    lr: float = 0.01
    momentum: float = 0.9
    n_margin: int = 200
    n_margin_cnn: int = 100
    radius: float = 5.0
    n_samples: int = 32
    n_samples_cnn: int = 4
    n_batches: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse, before any work, models this section cannot label or claim about, and schedules too short for
        the second-half trends of the claims."""
        if not self.models:
            raise ValueError(f"models=() names no model; choose from: {', '.join(LABEL)}")
        for name in self.models:
            validate.choice("models", name, tuple(LABEL))
        cifar.check(self.cifar_models)
        for field in ("n_test", "n_train_cifar"):
            validate.nonnegative(field, getattr(self, field))
        keys = [self.key(name) for name in self.models]
        shared = sorted({k for k in keys if keys.count(k) > 1})
        if shared:
            raise ValueError(f"models={self.models!r}: more than one model would claim under the suffix(es) "
                             f"{shared}; name each model once")
        for field in ("epochs", "epochs_cnn", "epochs_lr"):
            validate.positive(field, getattr(self, field))
        validate.nonnegative("late_records", self.late_records)
        for name in (*self.models, *self.cifar_keys):
            second = self.second_half(name)
            if len(second) < MIN_TREND_EPOCHS:
                raise ValueError(
                    f"{EPOCHS_FIELD.get(name, 'epochs')}={self.n_epochs(name)}, late_records={self.late_records}: "
                    f"{label(name)} would record only {second} in the second half of training; the trend claims need "
                    f"at least {MIN_TREND_EPOCHS} recorded epochs there (more epochs or late_records)")
        if {"cw_mnist", "cw_cifar"} & {*self.models, *self.cifar_models} and self.n_margin_cnn > self.n_margin:
            raise ValueError(f"n_margin_cnn={self.n_margin_cnn} > n_margin={self.n_margin}: the CNN bounds the first "
                             f"n_margin_cnn points of the n_margin-point subsets; choose n_margin_cnn <= n_margin")

    @property
    def cifar_keys(self) -> list[str]:
        """The run keys of the CIFAR-10 models (:data:`marginlib.papers.p000_minavg.cifar.KEY`)."""
        return [cifar.KEY[name] for name in self.cifar_models]

    @staticmethod
    def key(model_name: str) -> str:
        """The claim-name suffix of ``model_name`` (a MNIST model name or a CIFAR run key)."""
        return SHORT.get(model_name) or cifar.SHORT.get(model_name, model_name)

    def n_epochs(self, model_name: str) -> int:
        """Epochs of ``model_name``: ``epochs_lr`` (LR), ``epochs_cnn`` (CNN) or ``epochs``."""
        return int(getattr(self, EPOCHS_FIELD.get(model_name, "epochs")))

    def schedule(self, model_name: str) -> list[int]:
        """The epochs at which margins are recorded: every epoch for LR (paper App. A); otherwise the paper's epochs
        scaled to this run's length plus ``late_records`` evenly spaced second-half epochs (so the second-half
        trends rest on more than three points)."""
        n = self.n_epochs(model_name)
        if model_name in LINEAR:
            return list(range(1, n + 1))
        return sorted(set(paper_epochs(n)) | set(late_epochs(n, self.late_records)))

    def second_half(self, model_name: str) -> list[int]:
        """The recorded epochs the trend claims are measured on: those at or after half the run."""
        return [e for e in self.schedule(model_name) if e >= self.n_epochs(model_name) / 2]

    def draws(self, model_name: str) -> int:
        """Points drawn in the ball per batch: LR's logit differences are linear, so one draw gives their exact
        Lipschitz constant; the CNN, whose bound costs the most, gets ``n_samples_cnn``."""
        if model_name in LINEAR:
            return 1
        return self.n_samples_cnn if model_name in CONVNETS else self.n_samples

    def draw_batches(self, model_name: str) -> int:
        """Batches of draws: one for LR (exact with one draw), ``n_batches`` otherwise."""
        return 1 if model_name in LINEAR else self.n_batches

    def n_points(self, model_name: str) -> int:
        """Points of each fixed subset whose margins are bounded (the CNN: the first ``n_margin_cnn``)."""
        return self.n_margin_cnn if model_name in CONVNETS else self.n_margin

    def tracker_scales(self, model_name: str) -> tuple[str, ...]:
        """The parameters one model's margin bounds scale with (:func:`marginlib.cost.work`): the points and draws;
        for LR (bounded every epoch) the epochs. The MLP and CNN are bounded at the paper's ten epochs, whatever
        their length, so their epochs are not among them."""
        if model_name in LINEAR:
            return ("n_margin", "epochs_lr")
        if model_name in CONVNETS:
            return ("n_margin_cnn", "n_samples_cnn", "n_batches")
        return ("n_margin", "n_samples", "n_batches")

    def training_scales(self, model_name: str) -> tuple[str, str]:
        """The parameters one model's training scales with: its training images and its epochs."""
        return ("n_train_cifar" if model_name in cifar.MODEL else "n_train", EPOCHS_FIELD.get(model_name, "epochs"))


def label(model_name: str) -> str:
    """The label of a MNIST model name or a CIFAR run key in figures and tables."""
    return LABEL.get(model_name) or cifar.LABEL.get(model_name, model_name)


@dataclass(frozen=True)
class Data:
    """The MNIST splits and the fixed margin subsets (indices into them; a model bounds the first
    :meth:`Params.n_points` of each)."""

    train: Dataset
    test: Dataset
    train_idx: torch.Tensor
    test_idx: torch.Tensor


@dataclass(frozen=True)
class ModelRun:
    """One trained model: its training history and the margin curves of the fixed training and test subsets."""

    history: train.History
    train: MarginCurves
    test: MarginCurves


def load_data(p: Params) -> Data:
    """MNIST in [0, 1] (``n_train`` training images, ``n_test`` test images, 0: all) and random subsets of
    ``n_margin`` training and test points drawn with ``seed`` (paper 000 App. A: 500 of each)."""
    train_set = data.load("mnist", split="train", n=p.n_train or None, seed=p.seed, source=p.source)
    test_set = data.load("mnist", split="test", n=p.n_test or None, seed=p.seed, source=p.source)
    return _with_subsets(p, train_set, test_set)


def load_cifar(p: Params) -> Data | None:
    """CIFAR-10 in [0, 1] as :func:`load_data` loads MNIST (``n_train_cifar`` training images, ``n_test`` test
    images; the labelled synthetic stand-in from the offline source), or None when ``cifar_models`` is empty (the
    demo: nothing is loaded)."""
    if not p.cifar_models:
        return None
    train_set = cifar.load(split="train", n=p.n_train_cifar, seed=p.seed, source=p.source)
    test_set = cifar.load(split="test", n=p.n_test, seed=p.seed, source=p.source)
    return _with_subsets(p, train_set, test_set)


def _with_subsets(p: Params, train_set: Dataset, test_set: Dataset) -> Data:
    pick = torch.Generator().manual_seed(p.seed)
    train_idx = torch.randperm(len(train_set), generator=pick)[:p.n_margin]
    test_idx = torch.randperm(len(test_set), generator=pick)[:p.n_margin]
    return Data(train_set, test_set, train_idx, test_idx)


def trackers(p: Params, d: Data, model_name: str) -> dict[str, train.Callback]:
    """The ``fit`` callbacks ``train`` and ``test``: the Lipschitz bound (paper 000 eq. (3), radius ``R``) of the
    first :meth:`Params.n_points` points of each fixed subset, with the same draws at every epoch."""
    n = p.n_points(model_name)
    return {split: _timed(margin_tracker(ds.x[idx[:n]], ds.y[idx[:n]], radius=p.radius, seed=p.seed,
                                         n_samples=p.draws(model_name), n_batches=p.draw_batches(model_name)),
                          p.tracker_scales(model_name))
            for split, ds, idx in (("train", d.train, d.train_idx), ("test", d.test, d.test_idx))}


def _timed(fn: train.Callback, scales: tuple[str, ...]) -> train.Callback:
    """``fn`` with its time counted as :func:`marginlib.cost.work` of ``scales``."""
    def timed(model: torch.nn.Module, epoch: int) -> Any:
        with cost.work(*scales):
            return fn(model, epoch)
    return timed


def train_model(p: Params, d: Data, model_name: str) -> ModelRun:
    """Train ``model_name`` by SGD (Nesterov momentum, paper 000 App. A) on the training split, bounding the margins
    of the fixed subsets at :meth:`Params.schedule`. ``model_name`` is a MNIST model name or a CIFAR run key
    (:data:`marginlib.papers.p000_minavg.cifar.KEY`), which builds the CIFAR-10 model. The training (with its
    per-epoch errors) is work that scales with :meth:`Params.training_scales`, the bounds with
    :meth:`Params.tracker_scales`."""
    model = cifar.build(model_name, seed=p.seed) if model_name in cifar.MODEL else models.build(model_name, seed=p.seed)
    with cost.work(*p.training_scales(model_name)):
        history = train.fit(model, methods.build("standard"), d.train, epochs=p.n_epochs(model_name),
                            batch_size=p.batch_size, lr=p.lr, momentum=p.momentum, nesterov=True,
                            device=train.default_device(), seed=p.seed, eval_data=d.test,
                            callbacks=trackers(p, d, model_name), record_at=p.schedule(model_name), progress=False)
    return ModelRun(history, margin_curves(history.recorded, "train"), margin_curves(history.recorded, "test"))


def train_models(p: Params, d: Data) -> dict[str, ModelRun]:
    """Every model of ``p.models``, in order. The global torch generator (the CNN's dropout) is seeded first."""
    torch.manual_seed(p.seed)
    return {name: train_model(p, d, name) for name in p.models}


def train_cifar(p: Params, d: Data | None) -> dict[str, ModelRun]:
    """Every CIFAR-10 model of ``p.cifar_models`` (keyed by run key), as :func:`train_models`; ``{}`` when
    ``d`` is None (no CIFAR models: the demo)."""
    if d is None:
        return {}
    torch.manual_seed(p.seed)
    return {key: train_model(p, d, key) for key in p.cifar_keys}


def summary_frame(runs: Mapping[str, ModelRun]) -> pd.DataFrame:
    """Per model: epochs, final training and test error, final minimum and average training margin."""
    rows = {}
    for name, r in runs.items():
        last = r.history.rows[-1]
        rows[label(name)] = {"epochs": len(r.history.rows), "train error": last["train_error"],
                             "test error": last["test_error"], "min train margin": r.train.minimum[-1],
                             "avg train margin": r.train.average[-1]}
    return pd.DataFrame.from_dict(rows, orient="index")


def figure_curves(runs: Mapping[str, ModelRun]) -> Figure:
    """Minimum (left) and average (right) margin of the training and test subsets over the epochs, one row per
    model (log-scale epochs for LR). Paper 000, Figs. 2a-c (CIFAR-10) and 6 (MNIST). No runs: a figure saying
    so (:data:`NOT_RUN`)."""
    if not runs:
        return cifar.not_run_figure(NOT_RUN)
    fig, axes = plt.subplots(len(runs), 2, figsize=(10, 3.1 * len(runs)), squeeze=False)
    for row, (name, r) in zip(axes, runs.items()):
        for ax, kind in zip(row, ("minimum", "average")):
            plots.curves(ax, r.train.epochs, {"train": getattr(r.train, kind), "test": getattr(r.test, kind)},
                         xlabel="epoch", ylabel=f"{kind} margin", title=f"{label(name)}: {kind} margin",
                         logx=name in LINEAR)
    fig.tight_layout()
    return fig


def shown_epochs(epochs: Sequence[int], *, count: int = HISTOGRAMS_PER_MODEL) -> list[int]:
    """``count`` of the recorded ``epochs``, evenly spread from first to last (all of them if there are few)."""
    if len(epochs) <= count:
        return list(epochs)
    return [epochs[i] for i in np.linspace(0, len(epochs) - 1, count).round().astype(int)]


def figure_histograms(runs: Mapping[str, ModelRun]) -> Figure:
    """Histograms of the training margins at :func:`shown_epochs` of each model, on shared bins. Paper 000,
    Figs. 5 (CIFAR-10) and 7 (MNIST). No runs: a figure saying so."""
    if not runs:
        return cifar.not_run_figure(NOT_RUN)
    hist = {f"{label(name)}, epoch {e}": r.train.at(e)
            for name, r in runs.items() for e in shown_epochs(r.train.epochs)}
    return plots.histograms(hist, ncols=HISTOGRAMS_PER_MODEL, xlabel="train margin")


def figure_training(runs: Mapping[str, ModelRun]) -> Figure:
    """Training loss, training error and test error over the epochs (log scales). Paper 000, Fig. 4. No runs: a
    figure saying so."""
    if not runs:
        return cifar.not_run_figure(NOT_RUN)
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for name, r in runs.items():
        for ax, column in zip(axes, ("loss", "train_error", "test_error")):
            ax.plot(r.history.epochs, r.history.column(column), label=label(name))
    for ax, title in zip(axes, ("training loss", "training error", "test error")):
        ax.set(xlabel="epoch", ylabel=title.split()[-1], title=title, xscale="log")
        ax.legend(frameon=False)
    axes[0].set_yscale("log")
    fig.tight_layout()
    return fig


def trends(runs: Mapping[str, ModelRun], p: Params) -> dict[str, dict[str, float]]:
    """Per model, the Spearman rank correlations (:func:`marginlib.stats.trend`) of the minimum (``rho_min``) and
    average (``rho_avg``) training margin with the epoch over the second half of training."""
    out = {}
    for name, r in runs.items():
        half = p.n_epochs(name) / 2
        out[name] = {"rho_min": trend(r.train.epochs, r.train.minimum, after=half),
                     "rho_avg": trend(r.train.epochs, r.train.average, after=half)}
    return out


def _model_metrics(r: ModelRun, rho: Mapping[str, float]) -> dict[str, Any]:
    tr, te, h = r.train, r.test, r.history
    return {
        "epochs": tr.epochs,
        "min_margin_train": tr.minimum, "min_margin_test": te.minimum,
        "avg_margin_train": tr.average, "avg_margin_test": te.average,
        "histograms": {"train": {str(e): m for e, m in zip(tr.epochs, tr.margins)},
                       "test": {str(e): m for e, m in zip(te.epochs, te.margins)}},
        "training": {"epoch": h.epochs, "loss": h.column("loss"), "train_error": h.column("train_error"),
                     "test_error": h.column("test_error")},
        "rho_min": rho["rho_min"], "rho_avg": rho["rho_avg"],
    }


def record(runs: Mapping[str, ModelRun], d: Data, p: Params, *, cifar_runs: Mapping[str, ModelRun] | None = None,
           cifar_data: Data | None = None) -> dict[str, Any]:
    """``{"metrics", "claims"}`` of the run. Per model (suffix :meth:`Params.key`; the CIFAR-10 models of
    ``cifar_runs`` too, ``*_cifar_lr`` etc.), paper 000 §4.2: ``min_margin_increases_<model>`` (second-half rank
    correlation of the minimum training margin > :data:`TREND`) and ``avg_margin_decreases_<model>`` (that of the
    average < -:data:`TREND`). ``metrics["cifar"]`` names the CIFAR data (``standin`` true for the synthetic
    stand-in)."""
    runs = {**runs, **(cifar_runs or {})}
    rho = trends(runs, p)
    claims = {}
    for name in runs:
        key, half = p.key(name), p.n_epochs(name) / 2
        for claim_name, holds, kind in ((f"min_margin_increases_{key}", rho[name]["rho_min"] > TREND, "min"),
                                        (f"avg_margin_decreases_{key}", rho[name]["rho_avg"] < -TREND, "avg")):
            value = rho[name][f"rho_{kind}"]
            paper = PAPER_CIFAR[kind] if name in cifar.MODEL else PAPER[kind]
            claims[claim_name] = claim(holds, value=value, paper=f"{label(name)}: {paper}",
                                       detail=f"{label(name)}: Spearman rho of the {kind} train margin over epochs "
                                              f">= {half:g}: {value:.3f} ({'>' if kind == 'min' else '<'} "
                                              f"{TREND if kind == 'min' else -TREND})")
    metrics = {"source": d.train.source, "n_train": len(d.train), "n_test": len(d.test),
               "n_margin": p.n_margin, "n_margin_cnn": p.n_margin_cnn, "lipschitz_samples": p.n_samples * p.n_batches,
               "lipschitz_samples_cnn": p.n_samples_cnn * p.n_batches,
               "models": {name: _model_metrics(r, rho[name]) for name, r in runs.items()}}
    if cifar_data is not None:
        metrics["cifar"] = {"source": cifar_data.train.source, "standin": cifar_data.train.is_standin,
                            "n_train": len(cifar_data.train), "n_test": len(cifar_data.test)}
    return {"metrics": metrics, "claims": claims}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers that matter most in a record's ``metrics`` (the JSON-loaded dict), per model (suffix as in the
    claim names): the second-half rank correlations of the minimum and average training margin (the claims) and the
    final minimum and average training margin."""
    out = {}
    for name, m in metrics["models"].items():
        if name in cifar.MODEL:     # the CIFAR-10 half (paper profile) is in the record, not in the headline
            continue
        key = Params.key(name)
        out[f"rho_min_{key}"] = float(m["rho_min"])
        out[f"rho_avg_{key}"] = float(m["rho_avg"])
        out[f"min_margin_final_{key}"] = float(m["min_margin_train"][-1])
        out[f"avg_margin_final_{key}"] = float(m["avg_margin_train"][-1])
    return out


def quoted(runs: Mapping[str, ModelRun], d: Data, p: Params, *, cifar_runs: Mapping[str, ModelRun] | None = None,
           cifar_data: Data | None = None) -> dict[str, object]:
    """The numbers and settings the prose glues (``deep_*``): the "Paper vs. this book" table, and per model (suffix
    as in the claim names) the second-half rank correlations, the final training error and the first and last
    recorded minimum and average training margins of the second half; ``deep_cifar_text``, the CIFAR-10 half
    (:func:`cifar_text`)."""
    rho = trends(runs, p)
    out: dict[str, object] = {
        "deep_data": f"{len(d.train):,} training images ({d.train.source})",
        "deep_models": ", ".join(label(m) for m in runs),
        "deep_trend": TREND,
        "deep_cifar_text": cifar_text(p, cifar_runs or {}, cifar_data),
    }
    for kind in ("min", "avg"):
        out[f"deep_rho_{kind}"] = ", ".join(f"{label(m)} {rho[m][f'rho_{kind}']:+.2f}" for m in runs)
    out["deep_epochs"] = (f"LR {p.epochs_lr} (margins every epoch); MLP {p.epochs}, margins at "
                          f"{p.schedule('mlp1x1024')}; CNN {p.epochs_cnn}, margins at {p.schedule('cw_mnist')}")
    out["deep_subsets"] = (f"{p.n_margin} train + {p.n_margin} test points ({p.n_margin_cnn} + {p.n_margin_cnn} "
                           f"for the CNN)")
    out["deep_lipschitz"] = (f"R = {p.radius:g}, {p.n_samples} x {p.n_batches} draws per point "
                             f"({p.n_samples_cnn} x {p.n_batches} for the CNN)")
    for name in SHORT:   # the three models of the prose; one this run did not train is "not run"
        key = p.key(name)
        r = next((run for model, run in runs.items() if p.key(model) == key), None)
        if r is None:
            for field in ("rho_min", "rho_avg", "train_error", "min_text", "avg_text"):
                out[f"deep_{field}_{key}"] = f"(no {LABEL[name]} in this run)"
            continue
        model = next(model for model in runs if p.key(model) == key)
        late = [i for i, e in enumerate(r.train.epochs) if e >= p.n_epochs(model) / 2]
        first, last = late[0], late[-1]
        out[f"deep_rho_min_{key}"] = f"{rho[model]['rho_min']:+.2f}"
        out[f"deep_rho_avg_{key}"] = f"{rho[model]['rho_avg']:+.2f}"
        out[f"deep_train_error_{key}"] = f"{r.history.rows[-1]['train_error']:.2%}"
        out[f"deep_min_text_{key}"] = (f"{r.train.minimum[first]:+.3f} at epoch {r.train.epochs[first]} to "
                                       f"{r.train.minimum[last]:+.3f} at epoch {r.train.epochs[last]}")
        out[f"deep_avg_text_{key}"] = (f"{r.train.average[first]:.3f} at epoch {r.train.epochs[first]} to "
                                       f"{r.train.average[last]:.3f} at epoch {r.train.epochs[last]}")
    return out


def cifar_text(p: Params, runs: Mapping[str, ModelRun], d: Data | None) -> str:
    """A sentence on this run's CIFAR-10 half: not run (the demo), or per model the second-half rank correlations of
    the minimum and average training margin, on which data (the stand-in named as such)."""
    if d is None or not runs:
        return ("not run at this profile: the demo trains no CIFAR-10 model (cifar_models is empty); the paper "
                "profile trains all three")
    rho = trends(runs, p)
    where = ("the synthetic CIFAR-10 stand-in, so these numbers test the code, not the paper"
             if d.train.is_standin else d.train.source)
    parts = "; ".join(f"{label(k)}: minimum {rho[k]['rho_min']:+.2f}, average {rho[k]['rho_avg']:+.2f}" for k in runs)
    return f"on {len(d.train):,} training images of {where}, the second-half rank correlations are {parts}"
