"""Paper 000 §4.3 and App. A: the Average Margin Regularizer (AMR, eq. (4)) vs. standard training and LCR
(Parseval networks), Table 1 (MNIST) and Figs. 2d-f.

Notebook: ``notebooks/03_amr.ipynb``. An MLP and a CNN are trained on MNIST by every method of
``methods_compared`` (the same data, initialization, epochs and batch order per model); each is measured by clean
accuracy, L2 PGD robust accuracy at several radii (:func:`marginlib.evaluate.robust_accuracy`) and the average
Lipschitz-bound margin of a fixed test subset (paper 000 eq. (3), tracked during training at the paper's epochs,
:mod:`marginlib.papers.p000_minavg.tracking`, :mod:`marginlib.papers.p000_minavg.schedule`).

* :func:`load_data`, :func:`train_and_evaluate` run the experiment and return its data (:class:`MethodRun` per
  model and method);
* :func:`figure_margin_curves` (Figs. 2d-f), :func:`figure_robust` (Table 1 as curves), :func:`summary_frame` and
  :func:`comparison_frame` (Table 1 beside the paper's, ``book/data/paper000_table1_mnist.csv``) only draw;
* :func:`record` gives the record's metrics and claims, :func:`quoted` the numbers the prose glues.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from marginlib import cost, data, evaluate, methods, models, train, validate
from marginlib.book.results import claim
from marginlib.data import Dataset
from marginlib.methods import Method
from marginlib.papers import tables
from marginlib.papers.p000_minavg import cifar
from marginlib.papers.p000_minavg.schedule import paper_epochs
from marginlib.papers.p000_minavg.tracking import margin_curves, margin_tracker

NOTEBOOK = "03_amr"

#: the paper's Carlini-Wagner CNN and the book's CPU-sized stand-in: AMR truncation ``tau_cnn``, claims ``*_cnn``
CNNS = ("cw_mnist", "small_cnn")
#: the non-convolutional models: AMR truncation ``tau_mlp``, claims without a suffix
MLPS = ("logreg", "mlp1x1024")
LABEL = {"mlp1x1024": "MLP", "cw_mnist": "CNN", "small_cnn": "small CNN"}
METHOD_LABEL = {"standard": "Std", "parseval": "LCR", "amr": "AMR", "amr_logit": "AMR (released code)"}
#: the methods the claims and the prose compare (``methods_compared`` must hold them)
REQUIRED_METHODS = ("standard", "parseval", "amr")
#: method -> the short name of its glued numbers (``amr_rob_<short>``, ``amr_clean_<short>``)
QUOTED = {"standard": "std", "parseval": "lcr", "amr": "amr"}
#: what each claim tests, by the method AMR is compared with (paper 000 §4.3 and Table 1); the profiles where a claim
#: must hold are in ``notebooks/params/03_amr.yaml`` (``required:``)
PAPER = {
    ("standard", "avg"): '§4.3, Figs. 2d-f, Table 1: "models trained by (4) have much larger average margin than '
                         'models trained by standard training"',
    ("standard", "robust"): '§4.3, Table 1: "our regularizer has higher robust accuracy, compared to standard '
                            'training" (tested at the largest radius; Table 1: eps = 2)',
    ("parseval", "avg"): '§4.3, Table 1, AMR against LCR: "our regularizer has both higher average margin as well as '
                         'higher robust accuracy, especially for large eps"',
    ("parseval", "robust"): '§4.3, Table 1, AMR against LCR: "our regularizer has both higher average margin as well '
                            'as higher robust accuracy, especially for large eps" (tested at the largest radius)',
}
#: the claim-name part of each compared method
VERSUS = {"standard": "std", "parseval": "lcr"}
#: the paper's Table 1 (MNIST) in book/data
PAPER_TABLE = "paper000_table1_mnist"
#: the paper's Table 1 (CIFAR-10 rows) in book/data
PAPER_TABLE_CIFAR = "paper000_table1_cifar"
#: the LCR variants of the ``lcr_mode`` parameter: Cisse et al.'s Parseval retraction (paper App. A: "we follow the
#: method proposed by Cisse et al.") and the released code's orthogonality penalty added to the loss
LCR_MODES = ("retraction", "penalty")
#: what the CIFAR figures and tables show when the run trains no CIFAR model (the demo)
NOT_RUN = ("CIFAR-10 half not run at this profile (cifar_models is empty); "
           "the paper profile trains it, and the dry run on the labelled stand-in")


def label(model_name: str) -> str:
    """The label of ``model_name`` in figures and tables (its name if it has none)."""
    return LABEL.get(model_name, model_name)


def suffix(model_name: str) -> str:
    """The claim and glue suffix of ``model_name``: ``_cnn`` for a CNN, none for the MLP; a CIFAR run key's
    ``_cifar_lr``, ``_cifar_mlp`` or ``_cifar_cnn``."""
    if model_name in cifar.SHORT:
        return "_" + cifar.SHORT[model_name]
    return "_cnn" if model_name in CNNS else ""


def label_any(model_name: str) -> str:
    """The label of a MNIST model name or a CIFAR run key."""
    return cifar.LABEL.get(model_name) or label(model_name)


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults); see the cell for each one's meaning."""

    profile: str = "demo"
    source: str = "auto"
    models: tuple[str, ...] = ("mlp1x1024", "small_cnn")
    methods_compared: tuple[str, ...] = ("standard", "parseval", "amr", "amr_logit")
    n_train: int = 4000
    cifar_models: tuple[str, ...] = ()
    n_train_cifar: int = 0
    n_test: int = 0
    epochs: int = 40
    epochs_cnn: int = 20
    epochs_lr: int = 0
    batch_size: int = 128
    lr: float = 0.01
    lr_amr: float = 0.0
    momentum: float = 0.9
    lam: float = 0.1
    beta: float = 0.001
    parseval_beta: float = 0.001
    lcr_mode: str = "retraction"
    tau_mlp: float = 5.0
    tau_cnn: float = 10.0
    tau_cifar_mlp: float = 10.0
    eps: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    cifar_eps: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4)
    pgd_steps: int = 50
    pgd_step_size: float = 0.05
    pgd_random_start: bool = False
    n_eval: int = 300
    n_margin: int = 100
    n_margin_cnn: int = 50
    radius: float = 5.0
    n_samples: int = 32
    n_samples_cnn: int = 8
    n_batches: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse, before any work: models without an AMR truncation here, anything but one MLP and one CNN (the
        claims, their names and the prose compare the two), a comparison without the methods the claims name,
        no radius, and margin subsets larger than the attacked test subset they are taken from."""
        for name in self.models:
            validate.choice("models", name, (*MLPS, *CNNS))
        cnns = [m for m in self.models if m in CNNS]
        if len(cnns) != 1 or len(self.models) != 2:
            raise ValueError(f"models={self.models!r}: section 03 trains one MLP (one of {', '.join(MLPS)}) and one "
                             f"CNN (one of {', '.join(CNNS)}); its claims (suffix _cnn for the CNN) and prose compare "
                             f"them")
        for name in self.methods_compared:
            validate.choice("methods_compared", name, tuple(METHOD_LABEL))
        missing = [m for m in REQUIRED_METHODS if m not in self.methods_compared]
        if missing:
            raise ValueError(f"methods_compared={self.methods_compared!r} must include {missing}: the claims and the "
                             f"text compare them")
        cifar.check(self.cifar_models)
        validate.choice("lcr_mode", self.lcr_mode, LCR_MODES)
        for field in ("n_train_cifar", "n_test", "epochs_lr", "lr_amr"):
            validate.nonnegative(field, getattr(self, field))
        for field in ("eps", "cifar_eps"):
            if not getattr(self, field):
                raise ValueError(f"{field}=() holds no radius; give at least one L2 radius")
            for e in getattr(self, field):
                validate.nonnegative(field, e)
        largest = max(self.budget(m)["n_margin"] for m in self.models)
        if self.n_eval and largest > self.n_eval:
            raise ValueError(f"n_margin/n_margin_cnn={largest} > n_eval={self.n_eval}: the margin subsets are the "
                             f"first points of the attacked test subset; choose them <= n_eval (or n_eval=0: all)")

    @property
    def cifar_keys(self) -> list[str]:
        """The run keys of the CIFAR-10 models (:data:`marginlib.papers.p000_minavg.cifar.KEY`)."""
        return [cifar.KEY[name] for name in self.cifar_models]

    def budget(self, model_name: str) -> dict[str, int]:
        """Epochs, margin points and Lipschitz draws per batch of ``model_name`` (a MNIST model or a CIFAR run
        key): every method of a model shares them. Logistic regression trains ``epochs_lr`` epochs when that is
        set (App. A: 1,000), else ``epochs``."""
        if model_name in CNNS or model_name == "cw_cifar":
            return {"epochs": self.epochs_cnn, "n_margin": self.n_margin_cnn, "n_samples": self.n_samples_cnn}
        epochs = self.epochs_lr if model_name in ("logreg", "cifar_logreg") and self.epochs_lr else self.epochs
        return {"epochs": epochs, "n_margin": self.n_margin, "n_samples": self.n_samples}

    def scales(self, model_name: str) -> dict[str, tuple[str, ...]]:
        """The parameters the work on ``model_name`` scales with (:func:`marginlib.cost.work`): its training
        (images, epochs), its margin bounds (points, draws; tracked at the paper's epochs, whatever the run's
        length) and its attack (attacked images, PGD steps)."""
        cnn = model_name in CNNS or model_name == "cw_cifar"
        linear = model_name in ("logreg", "cifar_logreg") and self.epochs_lr
        epochs = "epochs_cnn" if cnn else "epochs_lr" if linear else "epochs"
        images = "n_train_cifar" if model_name in cifar.MODEL else "n_train"
        bound = ("n_margin_cnn", "n_samples_cnn", "n_batches") if cnn else ("n_margin", "n_samples", "n_batches")
        return {"train": (images, epochs), "bound": bound, "attack": ("n_eval", "pgd_steps")}

    def radii(self, model_name: str) -> tuple[float, ...]:
        """The L2 radii ``model_name`` is attacked at: Table 1's CIFAR radii for a CIFAR run key, else ``eps``."""
        return self.cifar_eps if model_name in cifar.MODEL else self.eps

    def record_epochs(self, model_name: str) -> list[int]:
        """The epochs at which the average margin is tracked: the paper's (App. A) scaled to the model's epochs."""
        return paper_epochs(self.budget(model_name)["epochs"])

    def tau(self, model_name: str) -> float:
        """The AMR truncation of ``model_name``: ``tau_cnn`` for a CNN, ``tau_cifar_mlp`` for the CIFAR MLP,
        ``tau_mlp`` otherwise (App. A: LR and MNIST-MLP 5, MNIST-CNN 10, CIFAR-LR 5, CIFAR-MLP and CIFAR-CNN 10)."""
        if model_name in CNNS or model_name == "cw_cifar":
            return self.tau_cnn
        return self.tau_cifar_mlp if model_name == "cifar_mlp1x1024" else self.tau_mlp

    def method_lr(self, name: str) -> float:
        """The learning rate of method ``name``: ``lr_amr`` for the two AMRs when set (the released train.sh:
        0.002), else ``lr`` (App. A: 0.01 for every model)."""
        return self.lr_amr if name in ("amr", "amr_logit") and self.lr_amr else self.lr

    def method(self, name: str, model_name: str) -> Method:
        """The training objective ``name`` for ``model_name``: plain cross-entropy, LCR (the Parseval retraction of
        step ``parseval_beta``), AMR (paper 000 eq. (4): ``lam``, ``tau``, ``beta``) or the released code's AMR
        (hinge on the logit margin, weight ``mu = lam``)."""
        options: dict[str, dict[str, Any]] = {
            "standard": {}, "parseval": {"beta": self.parseval_beta, "mode": self.lcr_mode},
            "amr": {"lam": self.lam, "tau": self.tau(model_name), "beta": self.beta},
            "amr_logit": {"mu": self.lam, "tau": self.tau(model_name), "beta": self.beta}}
        return methods.build(name, **options[name])

    @property
    def largest(self) -> str:
        """The largest radius as the robust-accuracy keys write it (``f"{eps:g}"``)."""
        return f"{max(self.eps):g}"

    def largest_of(self, model_name: str) -> str:
        """The largest radius of ``model_name`` (:meth:`radii`) as the robust-accuracy keys write it."""
        return f"{max(self.radii(model_name)):g}"


@dataclass(frozen=True)
class Data:
    """The MNIST splits and the attacked test subset (``eval_idx``; its first points are the margin subsets)."""

    train: Dataset
    test: Dataset
    eval_idx: torch.Tensor


@dataclass(frozen=True)
class MethodRun:
    """One model trained by one method: clean accuracy (whole test split), PGD robust accuracy per radius (keys
    ``f"{eps:g}"``), the final average margin, and the average margin at the tracked epochs."""

    clean_acc: float
    robust_acc: dict[str, float]
    avg_margin: float
    epochs: list[int]
    avg_margins: list[float]


def load_data(p: Params) -> Data:
    """MNIST in [0, 1] (``n_train`` training images, ``n_test`` test images, 0: all) and a random test subset of
    ``n_eval`` points drawn with ``seed`` (0: all of them)."""
    train_set = data.load("mnist", split="train", n=p.n_train or None, seed=p.seed, source=p.source)
    test_set = data.load("mnist", split="test", n=p.n_test or None, seed=p.seed, source=p.source)
    return _with_eval(p, train_set, test_set)


def load_cifar(p: Params) -> Data | None:
    """CIFAR-10 as :func:`load_data` loads MNIST (``n_train_cifar`` training images; the labelled synthetic
    stand-in from the offline source), or None when ``cifar_models`` is empty (the demo: nothing is loaded)."""
    if not p.cifar_models:
        return None
    return _with_eval(p, cifar.load(split="train", n=p.n_train_cifar, seed=p.seed, source=p.source),
                      cifar.load(split="test", n=p.n_test, seed=p.seed, source=p.source))


def _with_eval(p: Params, train_set: Dataset, test_set: Dataset) -> Data:
    pick = torch.Generator().manual_seed(p.seed)
    eval_idx = torch.randperm(len(test_set), generator=pick)[: (p.n_eval or len(test_set))]
    return Data(train_set, test_set, eval_idx)


def tracker(p: Params, d: Data, model_name: str) -> train.Callback:
    """The ``fit`` callback bounding the margins (paper 000 eq. (3)) of the first ``n_margin`` attacked test points,
    with the same draws at every epoch and for every method."""
    b = p.budget(model_name)
    idx = d.eval_idx[:b["n_margin"]]
    fn = margin_tracker(d.test.x[idx], d.test.y[idx], radius=p.radius, n_samples=b["n_samples"],
                        n_batches=p.n_batches, seed=p.seed)
    scales = p.scales(model_name)["bound"]

    def timed(model: torch.nn.Module, epoch: int) -> Any:
        with cost.work(*scales):
            return fn(model, epoch)
    return timed


def train_one(p: Params, d: Data, model_name: str, method_name: str) -> MethodRun:
    """Train ``model_name`` by ``method_name`` (SGD with Nesterov momentum, paper 000 App. A), then measure it: L2 PGD
    on the attacked subset (all radii in one batched attack, cross-entropy, from the clean point unless
    ``pgd_random_start``) and clean accuracy. ``model_name`` may be a CIFAR run key (the CIFAR-10 model, attacked at
    ``cifar_eps``). Each part is :func:`marginlib.cost.work` of :meth:`Params.scales`."""
    device = train.default_device()
    model = cifar.build(model_name, seed=p.seed) if model_name in cifar.MODEL else models.build(model_name, seed=p.seed)
    scales = p.scales(model_name)
    with cost.work(*scales["train"]):
        history = train.fit(model, p.method(method_name, model_name), d.train, epochs=p.budget(model_name)["epochs"],
                            batch_size=p.batch_size, lr=p.method_lr(method_name), momentum=p.momentum, nesterov=True,
                            device=device, seed=p.seed, eval_train=False,
                            callbacks={"margin": tracker(p, d, model_name)}, record_at=p.record_epochs(model_name),
                            progress=False)
    margin = margin_curves(history.recorded, "margin")
    with cost.work(*scales["attack"]):
        gen = torch.Generator(device=device).manual_seed(p.seed) if p.pgd_random_start else None
        robust = evaluate.robust_accuracy(model, d.test.x[d.eval_idx].to(device), d.test.y[d.eval_idx].to(device),
                                          eps=p.radii(model_name), norm="l2", step_size=p.pgd_step_size,
                                          steps=p.pgd_steps, random_start=p.pgd_random_start, generator=gen)
    with cost.work("n_test"):
        clean = evaluate.accuracy(model, d.test.x, d.test.y)
    return MethodRun(clean_acc=clean,
                     robust_acc={f"{e:g}": a for e, a in robust.items()}, avg_margin=margin.average[-1],
                     epochs=margin.epochs, avg_margins=margin.average)


def train_and_evaluate(p: Params, d: Data) -> dict[str, dict[str, MethodRun]]:
    """``{model: {method: MethodRun}}`` for every model and method of ``p``, models outermost."""
    return {model_name: {name: train_one(p, d, model_name, name) for name in p.methods_compared}
            for model_name in p.models}


def train_cifar(p: Params, d: Data | None) -> dict[str, dict[str, MethodRun]]:
    """``{run key: {method: MethodRun}}`` for every CIFAR-10 model of ``p.cifar_models``; ``{}`` when ``d`` is None
    (no CIFAR models: the demo)."""
    if d is None:
        return {}
    return {key: {name: train_one(p, d, key, name) for name in p.methods_compared} for key in p.cifar_keys}


def _run_rows(runs: Mapping[str, Mapping[str, MethodRun]]) -> list[dict[str, Any]]:
    """This run's rows of Table 1 (accuracies in %)."""
    return [{"model": label(model_name), "method": METHOD_LABEL[name], "source": "this run",
             "clean": 100 * r.clean_acc, **{f"eps {float(e):g}": 100 * a for e, a in r.robust_acc.items()},
             "avg margin": r.avg_margin}
            for model_name, by_method in runs.items() for name, r in by_method.items()]


def summary_frame(runs: Mapping[str, Mapping[str, MethodRun]]) -> pd.DataFrame:
    """Clean and robust accuracy (%) and average margin of every model and method of this run."""
    return pd.DataFrame(_run_rows(runs)).drop(columns="source").set_index(["model", "method"]).round(2)


def comparison_frame(runs: Mapping[str, Mapping[str, MethodRun]], p: Params) -> pd.DataFrame:
    """Paper 000's Table 1 (MNIST; accuracies in %; :data:`PAPER_TABLE`) beside this run, rounded to 2 decimals."""
    rows = [{"model": row["model"], "method": row["method"], "source": "paper 000", "clean": row["clean_acc"],
             **{f"eps {e:g}": row.get(f"robust_acc_eps{e:.1f}") for e in p.eps}, "avg margin": row["avg_margin"]}
            for _, row in tables.read(PAPER_TABLE).iterrows()]
    return pd.DataFrame(rows + _run_rows(runs)).set_index(["model", "method", "source"]).sort_index().round(2)


def _panels(n: int) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.5), squeeze=False)
    return fig, axes[0]


def figure_margin_curves(runs: Mapping[str, Mapping[str, MethodRun]]) -> Figure:
    """Average margin of the fixed test subset over the tracked epochs, one panel per model, one line per method.
    Paper 000, Figs. 2d-f. No runs: a figure saying so."""
    if not runs:
        return cifar.not_run_figure(NOT_RUN)
    fig, axes = _panels(len(runs))
    for ax, (model_name, by_method) in zip(axes, runs.items()):
        for name, r in by_method.items():
            ax.plot(r.epochs, r.avg_margins, marker="o", ms=3, label=METHOD_LABEL[name])
        ax.set(xlabel="epoch", ylabel="average margin (test)", title=label_any(model_name))
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def figure_robust(runs: Mapping[str, Mapping[str, MethodRun]], p: Params) -> Figure:
    """Accuracy under L2 PGD over the radius (eps = 0: clean accuracy), one panel per model. Paper 000, Table 1 as
    curves. No runs: a figure saying so."""
    if not runs:
        return cifar.not_run_figure(NOT_RUN)
    fig, axes = _panels(len(runs))
    for ax, (model_name, by_method) in zip(axes, runs.items()):
        for name, r in by_method.items():
            ax.plot([0.0, *p.radii(model_name)], [r.clean_acc, *r.robust_acc.values()], marker="o", ms=3,
                    label=METHOD_LABEL[name])
        ax.set(xlabel="L2 radius eps", ylabel="accuracy under PGD", title=label_any(model_name), ylim=(0, 1.02))
        ax.legend(frameon=False)
    fig.tight_layout()
    return fig


def _paper_gap(model_name: str, column: str, other: str) -> float | None:
    """Paper 000's Table 1 (MNIST, :data:`PAPER_TABLE`): AMR's ``column`` minus that of method ``other`` for the
    row of ``model_name`` (the paper's CNN rows for either CNN); None where a cell is unreadable or missing."""
    if model_name == "cifar_logreg":    # Table 1 has no LR rows
        return None
    table = tables.read(PAPER_TABLE_CIFAR if model_name in cifar.MODEL else PAPER_TABLE)
    cnn = model_name in CNNS or model_name == "cw_cifar"
    rows = table[table["model"] == ("CNN" if cnn else "MLP")].set_index("method")
    if column not in rows.columns:
        return None
    values = rows[column].astype(float)
    gap = float(values["AMR"] - values[METHOD_LABEL[other]])
    return gap if np.isfinite(gap) else None


def record(runs: Mapping[str, Mapping[str, MethodRun]], d: Data, p: Params, *,
           cifar_runs: Mapping[str, Mapping[str, MethodRun]] | None = None,
           cifar_data: Data | None = None) -> dict[str, Any]:
    """``{"metrics", "claims"}`` of the run. Per model (suffix ``_cnn`` for the CNN) and for each of standard
    training (``std``) and LCR (``lcr``), paper 000 §4.3 / Table 1: ``amr_avg_margin_gt_<method>`` (AMR's average
    test margin exceeds the method's) and ``amr_robust_gt_<method>_at_largest_eps`` (so does its PGD robust accuracy
    at the largest radius). Each claim's value is AMR's lead (margin; robust accuracy in points), beside the
    paper's lead in Table 1. The CIFAR-10 runs of ``cifar_runs`` claim the same under their suffixes (``_cifar_mlp``,
    ``_cifar_cnn``, ``_cifar_lr``; Table 1's CIFAR rows, Figs. 2d-f); ``metrics["cifar"]`` names their data."""
    claims = {}
    mnist = dict(runs)
    runs = {**runs, **(cifar_runs or {})}
    for model_name, by_method in runs.items():
        largest = p.largest_of(model_name)
        column = f"robust_acc_eps{max(p.radii(model_name)):.1f}"
        amr, s, name = by_method["amr"], suffix(model_name), label_any(model_name)
        for other, short in VERSUS.items():
            rival, who = by_method[other], METHOD_LABEL[other]
            claims[f"amr_avg_margin_gt_{short}{s}"] = claim(
                amr.avg_margin > rival.avg_margin, paper=f"{name}: {PAPER[(other, 'avg')]}",
                value=amr.avg_margin - rival.avg_margin, paper_value=_paper_gap(model_name, "avg_margin", other),
                detail=f"{name}: average margin AMR {amr.avg_margin:.3f} vs {who} {rival.avg_margin:.3f}")
            claims[f"amr_robust_gt_{short}_at_largest_eps{s}"] = claim(
                amr.robust_acc[largest] > rival.robust_acc[largest], paper=f"{name}: {PAPER[(other, 'robust')]}",
                value=100 * (amr.robust_acc[largest] - rival.robust_acc[largest]),
                paper_value=_paper_gap(model_name, column, other),
                detail=f"{name}: robust accuracy at eps {largest}: AMR {amr.robust_acc[largest]:.3f} "
                       f"vs {who} {rival.robust_acc[largest]:.3f}")
    metrics = {"source": d.train.source, "n_train": len(d.train), "n_eval": len(d.eval_idx),
               "budget": {m: p.budget(m) for m in mnist}, "eps": p.eps,
               "table": {m: {name: {"clean_acc": r.clean_acc, "robust_acc": r.robust_acc, "avg_margin": r.avg_margin}
                             for name, r in by_method.items()} for m, by_method in runs.items()},
               "curves": {m: {name: {"epochs": r.epochs, "avg_margin": r.avg_margins} for name, r in by_method.items()}
                          for m, by_method in runs.items()}}
    if cifar_data is not None:
        metrics["cifar"] = {"source": cifar_data.train.source, "standin": cifar_data.train.is_standin,
                            "n_train": len(cifar_data.train), "n_eval": len(cifar_data.eval_idx),
                            "eps": p.cifar_eps, "budget": {m: p.budget(m) for m in cifar_runs or {}}}
    return {"metrics": metrics, "claims": claims}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers that matter most in a record's ``metrics`` (the JSON-loaded dict): per model (suffix ``_cnn`` for
    the CNN), the average test margin and the robust accuracy (%) at the largest radius of Std, LCR and AMR."""
    largest = f"{max(metrics['eps']):g}"
    out = {}
    for model_name, by_method in metrics["table"].items():
        if model_name in cifar.MODEL:    # the CIFAR-10 half (paper profile) is in the record, not in the headline
            continue
        for name, short in QUOTED.items():
            out[f"avg_margin_{short}{suffix(model_name)}"] = float(by_method[name]["avg_margin"])
            out[f"robust_largest_{short}{suffix(model_name)}"] = 100 * float(by_method[name]["robust_acc"][largest])
    return out


def versus_lcr(by_method: Mapping[str, MethodRun], p: Params) -> str:
    """A sentence on one model of this run: which of AMR and LCR is ahead in average margin and in robust accuracy at
    the largest radius, with the numbers, and whether that agrees with the paper (AMR ahead in both)."""
    amr, lcr, largest = by_method["amr"], by_method["parseval"], p.largest
    margin = "AMR" if amr.avg_margin > lcr.avg_margin else "LCR"
    robust = "AMR" if amr.robust_acc[largest] > lcr.robust_acc[largest] else "LCR"
    verdict = {("AMR", "AMR"): "as in the paper", ("LCR", "LCR"): "the reverse of the paper"}.get(
        (margin, robust), "only half of the paper's claim")
    return (f"{margin} has the larger average margin (AMR {amr.avg_margin:.3f}, LCR {lcr.avg_margin:.3f}) and {robust} "
            f"the higher robust accuracy at radius {largest} (AMR {100 * amr.robust_acc[largest]:.1f}%, LCR "
            f"{100 * lcr.robust_acc[largest]:.1f}%): {verdict}")


def quoted(runs: Mapping[str, Mapping[str, MethodRun]], p: Params, *,
           cifar_runs: Mapping[str, Mapping[str, MethodRun]] | None = None,
           cifar_data: Data | None = None) -> dict[str, object]:
    """The numbers the prose glues: ``amr_rob_<method><suffix>`` (robust accuracy at the largest radius, %),
    ``amr_clean_<method><suffix>`` (clean accuracy, %) and ``amr_avg_<method><suffix>`` (average test margin) for
    Std, LCR and AMR, and ``amr_vs_lcr<suffix>`` (:func:`versus_lcr`)."""
    out: dict[str, object] = {}
    for model_name, by_method in runs.items():
        s = suffix(model_name)
        for name, short in QUOTED.items():
            out[f"amr_rob_{short}{s}"] = 100 * by_method[name].robust_acc[p.largest]
            out[f"amr_clean_{short}{s}"] = 100 * by_method[name].clean_acc
            out[f"amr_avg_{short}{s}"] = by_method[name].avg_margin
        out[f"amr_vs_lcr{s}"] = versus_lcr(by_method, p)
    out["amr_largest"] = p.largest
    out["amr_cifar_text"] = cifar_text(p, cifar_runs or {}, cifar_data)
    return out


def cifar_comparison_frame(runs: Mapping[str, Mapping[str, MethodRun]], p: Params) -> pd.DataFrame:
    """Paper 000's Table 1, CIFAR-10 rows (:data:`PAPER_TABLE_CIFAR`; accuracies in %), beside this run's CIFAR-10 MLP
    and CNN rows when it trained them (at demo: the paper's rows alone)."""
    rows = [{"model": row["model"], "method": row["method"], "source": "paper 000", "clean": row["clean_acc"],
             **{f"eps {e:g}": row.get(f"robust_acc_eps{e:.1f}") for e in p.cifar_eps}, "avg margin": row["avg_margin"]}
            for _, row in tables.read(PAPER_TABLE_CIFAR).iterrows()]
    for key, by_method in runs.items():
        if key == "cifar_logreg":
            continue
        for name, r in by_method.items():
            rows.append({"model": "CNN" if key == "cw_cifar" else "MLP", "method": METHOD_LABEL[name],
                         "source": "this run", "clean": 100 * r.clean_acc,
                         **{f"eps {float(e):g}": 100 * a for e, a in r.robust_acc.items()}, "avg margin": r.avg_margin})
    return pd.DataFrame(rows).set_index(["model", "method", "source"]).sort_index().round(2)


def cifar_text(p: Params, runs: Mapping[str, Mapping[str, MethodRun]], d: Data | None) -> str:
    """A sentence on this run's CIFAR-10 half: not run (the demo), or per model AMR against standard training and
    LCR (:func:`versus_lcr`'s numbers), on which data (the stand-in named as such)."""
    if d is None or not runs:
        return ("not run at this profile: the demo trains no CIFAR-10 model (cifar_models is empty), so the table "
                "below holds the paper's rows only")
    where = ("the synthetic CIFAR-10 stand-in, so these numbers test the code, not the paper"
             if d.train.is_standin else d.train.source)
    parts = []
    for key, by_method in runs.items():
        big = p.largest_of(key)
        amr, std, lcr = by_method["amr"], by_method["standard"], by_method["parseval"]
        parts.append(f"{label_any(key)}: average margin AMR {amr.avg_margin:.3f}, Std {std.avg_margin:.3f}, LCR "
                     f"{lcr.avg_margin:.3f}; robust accuracy at radius {big} AMR {100 * amr.robust_acc[big]:.1f}%, "
                     f"Std {100 * std.robust_acc[big]:.1f}%, LCR {100 * lcr.robust_acc[big]:.1f}%")
    return f"trained on {len(d.train):,} images of {where}: " + "; ".join(parts)
