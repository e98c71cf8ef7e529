"""Paper 003 §3.2-3.3.3, eqs. (6), (11)-(12), Fig. 1 and appendix Table 1: linear classifiers on the 2-D toy data
trained by the AMM regularizer alone, in the six configurations AVG/MIN x LIN/INV/EXP, and the closed form of
AVG+LIN.

Notebook: ``notebooks/08_amm_toy2d.ipynb``. Reproduces Fig. 1 (one panel per configuration: test points and the
learned boundary), the AVG+LIN minimizer of eq. (12) and the exact minimum training margin after every epoch.

Flow: :func:`load_data` (the toy data of :mod:`marginlib.papers.p003_amm.toy2d`, its class centres and the
hard-margin SVM); :func:`closed_form` (eq. (12)); :func:`train_configs` (every configuration of :data:`ORDER`, in
that order, each the same linear classifier from ``init_seed``, trained by ``methods.build("amm", ...,
ce_weight=0)`` with lambda, c, d from appendix Table 1, :data:`marginlib.papers.p003_amm.config.APPENDIX_TABLE1`:
the values of the paper's MNIST MLP, as it gives none for the toy problem); :func:`figure1` and
:func:`paper_vs_book` render; :func:`record` and :func:`quoted` give the record and the prose's numbers.
Boundaries are ``w·x + b = 0`` with class 1 where ``w·x + b > 0`` (:mod:`marginlib.papers.p003_amm.amm_linear`);
margins are exact (:func:`marginlib.margins.exact_linear`).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import nn

from marginlib import cost, margins, methods, models, train, validate
from marginlib.book.results import claim
from marginlib.data import Dataset
from marginlib.papers.p000_minavg import linear
from marginlib.papers.p003_amm import amm_linear, config, toy2d

NOTEBOOK = "08_amm_toy2d"

#: the configurations in training (and panel) order, as named in appendix Table 1 (``AGGREGATION+SHRINKAGE``)
ORDER = config.CONFIGURATIONS
#: the largest minimum margin the paper quotes for this data, 1 (§3.3.3; ``book/data/paper003_quotes.csv``; the
#: boxes are 1.98 apart, so the exact optimum is 0.99)
OPTIMUM = config.paper_number("toy_largest_margin")
#: claim ``min_configs_reach_max_margin``: "reaches the maximum margin" = above this fraction of :data:`OPTIMUM`
MARGIN_FRACTION = 0.9
#: claim ``avg_lin_orthogonal_to_centers``: the AVG+LIN boundary within this many degrees of orthogonal
ORTHOGONAL_TOL = 5.0
#: the learning rate is multiplied by this after every quarter of training (paper 003 §3.3.3: halved every 250 of
#: its 1000 epochs)
GAMMA = 0.5
#: what paper 003 says of each configuration (Fig. 1 and §3.3.3), for the comparison table
SAID = {
    "AVG+LIN": "boundary roughly orthogonal to the centre line; poor accuracy",
    "AVG+INV": "better boundary and test accuracy than AVG+LIN",
    "AVG+EXP": "better boundary and test accuracy than AVG+LIN",
    "MIN+LIN": "not drawn; one of \"the MIN settings\" (§3.3.3): optimal or near-optimal boundary, margin about 1",
    "MIN+INV": "optimal or near-optimal boundary, margin about 1",
    "MIN+EXP": "optimal or near-optimal boundary, margin about 1",
}


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults)."""

    profile: str = "demo"
    epochs: int = 100
    batch_size: int = 20
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0001
    max_grad_norm: float = 10.0
    init_seed: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "lr"):
            validate.positive(name, getattr(self, name))
        for name in ("momentum", "weight_decay", "max_grad_norm"):
            validate.nonnegative(name, getattr(self, name))

    @property
    def milestones(self) -> list[int]:
        """The epochs after which the learning rate halves: every quarter of ``epochs`` (none that round to 0)."""
        return [self.epochs * q // 4 for q in (1, 2, 3) if self.epochs * q // 4 > 0]

    @property
    def clip(self) -> float | None:
        """AMM's gradient-norm clipping (paper 003 §4.2): ``max_grad_norm``, or ``None`` (off) when it is 0."""
        return self.max_grad_norm if self.max_grad_norm > 0 else None


# --------------------------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class Toy:
    """The toy data (paper 003 §3.3.3), its class centres ``mu0, mu1`` and its hard-margin SVM (the best boundary)."""

    train: Dataset
    test: Dataset
    mu0: torch.Tensor
    mu1: torch.Tensor
    svm: linear.SVM

    @property
    def centre_line(self) -> torch.Tensor:
        """The direction of the line joining the class centres, ``mu1 - mu0``."""
        return self.mu1 - self.mu0


def load_data() -> Toy:
    """The training and test splits (printing their source), the training centres and the free-intercept SVM."""
    train_set, test_set = toy2d.load(split="train"), toy2d.load(split="test")
    mu0, mu1 = amm_linear.class_centres(train_set.x, train_set.y)
    return Toy(train_set, test_set, mu0, mu1, linear.hard_margin_svm(train_set.x, train_set.y))


def data_summary(toy: Toy) -> str:
    """One line: the class centres and the largest minimum margin."""
    return (f"class centres {toy.mu0.numpy().round(3)} and {toy.mu1.numpy().round(3)}; "
            f"largest minimum margin (hard-margin SVM) {toy.svm.min_margin:.4f}")


# ----------------------------------------------------------------------------------------------- boundaries


@dataclass(frozen=True)
class Boundary:
    """A boundary ``w·x + b = 0``: test accuracy, exact minimum training margin and angle (degrees) to the centre
    line (90 = orthogonal)."""

    w: torch.Tensor
    b: float
    test_acc: float
    min_margin: float
    angle: float

    def public(self) -> dict[str, Any]:
        """The numbers of the record (``w`` as a list)."""
        return {"test_acc": self.test_acc, "min_margin": self.min_margin,
                "boundary_angle_to_center_line": self.angle, "b": self.b, "w": self.w.tolist()}


def evaluate_boundary(w: torch.Tensor, b: torch.Tensor, toy: Toy) -> Boundary:
    """Test accuracy, exact minimum training margin (the one-logit model ``(w, b)`` of
    :func:`marginlib.margins.exact_linear`) and angle to the centre line of the boundary ``w·x + b = 0``."""
    predicted = (toy.test.x @ w + b > 0).long()
    return Boundary(w=w, b=float(b), test_acc=float((predicted == toy.test.y).float().mean()),
                    min_margin=float(margins.exact_linear((w[None], b[None]), toy.train.x, toy.train.y).min()),
                    angle=amm_linear.angle_to_line(w, toy.centre_line))


def closed_form(toy: Toy) -> Boundary:
    """The AVG+LIN minimizer of eq. (12), ``w* ∝ sum_{S+} x_k - sum_{S-} x_k``, through the midpoint of the centres."""
    return evaluate_boundary(*amm_linear.avg_lin_solution(toy.train.x, toy.train.y), toy)


def boundary_summary(boundary: Boundary) -> str:
    """One line: test accuracy, minimum margin and angle of ``boundary``."""
    return (f"test acc {boundary.test_acc:.4f}, min margin {boundary.min_margin:+.4f}, "
            f"angle to centre line {boundary.angle:.2f} deg")


# ---------------------------------------------------------------------------------------- training (Fig. 1)


@dataclass(frozen=True)
class ConfigRun:
    """One configuration trained by the regularizer alone: its Table 1 keywords, the learned boundary, the initial
    training accuracy and the exact minimum training margin after every epoch."""

    name: str
    setting: dict[str, Any]
    boundary: Boundary
    initial_train_acc: float
    min_margin_curve: list[float]

    def public(self) -> dict[str, Any]:
        """The numbers of the record (no curve)."""
        return {**self.boundary.public(), **self.setting, "initial_train_acc": self.initial_train_acc}


def _min_margin(x: torch.Tensor, y: torch.Tensor) -> Callable[[nn.Module, int], float]:
    """A :func:`marginlib.train.fit` callback: the exact minimum margin of the model on ``(x, y)``."""

    def measure(model: nn.Module, epoch: int) -> float:
        return float(margins.exact_linear(model, x, y).min())

    return measure


def train_config(name: str, setting: Mapping[str, Any], p: Params, toy: Toy) -> ConfigRun:
    """Train the linear classifier (two logits, PyTorch's default init from ``p.init_seed``) by the AMM regularizer of
    eq. (6) alone (``ce_weight=0``) with ``setting`` (aggregation, shrinkage, ``lam, c, d``): SGD, the learning rate
    halved every quarter, gradients clipped at ``p.clip``; the exact minimum training margin after every epoch."""
    model = models.build("logreg", input_size=(1, 2), num_classes=2, seed=p.init_seed)
    initial_acc = float((model(toy.train.x).argmax(1) == toy.train.y).float().mean())
    method = methods.build("amm", ce_weight=0.0, max_grad_norm=p.clip, **setting)
    with cost.work("epochs"):  # the toy's 400 points are fixed; only the number of epochs varies
        history = train.fit(model, method, toy.train, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr,
                            momentum=p.momentum, weight_decay=p.weight_decay, milestones=p.milestones,
                            gamma=GAMMA, seed=p.seed, eval_train=False,
                            callbacks={"min_margin": _min_margin(toy.train.x, toy.train.y)}, progress=False)
    boundary = evaluate_boundary(*amm_linear.hyperplane(model, toy.train.x), toy)
    return ConfigRun(name, dict(setting), boundary, initial_acc, history.column("min_margin"))


def train_configs(p: Params, toy: Toy) -> dict[str, ConfigRun]:
    """Every configuration of :data:`ORDER`, in that order, with appendix Table 1's lambda, c, d."""
    return {name: train_config(name, config.APPENDIX_TABLE1[name], p, toy) for name in ORDER}


def runs_summary(runs: Mapping[str, ConfigRun]) -> str:
    """One line per configuration (:func:`boundary_summary`)."""
    return "\n".join(f"{name}: {boundary_summary(r.boundary)}" for name, r in runs.items())


def _panel(ax: Axes, boundary: Boundary, title: str, toy: Toy) -> None:
    """One panel of Fig. 1: the test points, the boundary (red) and the line joining the class centres (dotted)."""
    x, y = toy.test.x.numpy(), toy.test.y.numpy()
    for label, marker in ((0, "o"), (1, "s")):
        ax.scatter(x[y == label, 0], x[y == label, 1], s=6, marker=marker, color=f"C{label}", alpha=0.6,
                   label=f"class {label} (test)")
    w = boundary.w.double()
    point = (-boundary.b * w / (w @ w)).tolist()    # the boundary's point nearest the origin; w's normal direction
    ax.axline((point[0], point[1]), (point[0] - float(w[1]), point[1] + float(w[0])), color="red", lw=1.6,
              label="boundary")
    ax.plot(*zip(toy.mu0.numpy(), toy.mu1.numpy()), ls=":", color="0.3", lw=1, label="centre line")
    ax.set(xlim=(-4.5, 4.5), ylim=(-4.5, 4.5), aspect="equal", title=title, xlabel="$x_1$", ylabel="$x_2$")


def figure1(runs: Mapping[str, ConfigRun], closed: Boundary, toy: Toy) -> Figure:
    """Fig. 1: one panel per configuration (a-f), the closed form of eq. (12) (g) and the exact minimum training
    margin after every epoch against the SVM's (h)."""
    fig, axes = plt.subplots(2, 4, figsize=(13, 6.8))
    for i, (name, r) in enumerate(runs.items()):
        _panel(axes[i // 3, i % 3], r.boundary,
               f"({'abcdef'[i]}) {name}\nacc {r.boundary.test_acc:.3f}, min margin {r.boundary.min_margin:+.2f}", toy)
    _panel(axes[0, 3], closed, f"(g) eq. (12), AVG+LIN closed form\nacc {closed.test_acc:.3f}, "
                               f"min margin {closed.min_margin:+.2f}", toy)
    axes[0, 0].legend(loc="lower right", fontsize=7, frameon=True)
    ax = axes[1, 3]
    for name, r in runs.items():
        ax.plot(range(1, len(r.min_margin_curve) + 1), r.min_margin_curve, label=name,
                ls="-" if name.startswith("MIN") else "--")
    ax.axhline(toy.svm.min_margin, color="0.3", lw=1, ls=":", label="max (SVM)")
    ax.set(ylim=(-1.5, 1.2), xlabel="epoch", ylabel="minimum train margin", title="(h) minimum margin during training")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return fig


def _row(hyper: str, said: str, boundary: Boundary) -> dict[str, str]:
    return {"lambda, c, d (App. Table 1)": hyper, "paper (Fig. 1, §3.3.3)": said,
            "test acc": f"{boundary.test_acc:.3f}", "min train margin": f"{boundary.min_margin:+.3f}",
            "angle to centre line": f"{boundary.angle:.1f}"}


def paper_vs_book(runs: Mapping[str, ConfigRun], closed: Boundary) -> pd.DataFrame:
    """What paper 003 says of each configuration (:data:`SAID`) beside this run's numbers, and the closed form."""
    rows = {n: _row(f"{r.setting['lam']:g}, {r.setting['c']:g}, {r.setting['d']:g}", SAID[n], r.boundary)
            for n, r in runs.items()}
    rows["eq. (12) closed form"] = _row("1, 1, 1 (footnote 4)", "orthogonal to the centre line", closed)
    return pd.DataFrame(rows).T


# ------------------------------------------------------------------------------------------- record and prose


#: the configurations the paper's "MIN settings" covers (§3.3.3, Fig. 1d)
MIN_CONFIGS = ("MIN+LIN", "MIN+INV", "MIN+EXP")
#: the nonlinear shrinkages the paper compares with AVG+LIN (Fig. 1b-c)
AVG_NONLINEAR = ("AVG+INV", "AVG+EXP")


def claims(runs: Mapping[str, ConfigRun]) -> dict[str, dict[str, Any]]:
    """The section's claims (paper 003 §3.3.3, Fig. 1): every MIN configuration reaches the maximum margin;
    AVG+LIN is orthogonal to the centre line (eq. (12)); AVG+EXP and AVG+INV beat AVG+LIN in test accuracy and in
    minimum margin (strictly)."""
    margin = {n: runs[n].boundary.min_margin for n in ORDER}
    acc = {n: runs[n].boundary.test_acc for n in ORDER}
    angle = runs["AVG+LIN"].boundary.angle
    off = abs(90.0 - angle)
    lowest = min(MIN_CONFIGS, key=lambda n: margin[n])
    return {
        "min_configs_reach_max_margin": claim(
            all(margin[n] > MARGIN_FRACTION * OPTIMUM for n in MIN_CONFIGS),
            paper='§3.3.3, Fig. 1d: "Optimal (or near optimal) boundaries are obtained in the MIN settings, which '
                  'attains the largest possible margin of 1"',
            detail=", ".join(f"{n} min margin {margin[n]:.4f}" for n in MIN_CONFIGS)
            + f" (each must exceed {MARGIN_FRACTION} x the paper's {OPTIMUM:g})",
            value=margin[lowest], paper_value=OPTIMUM),
        "avg_lin_orthogonal_to_centers": claim(
            off < ORTHOGONAL_TOL,
            paper='§3.3.3, Fig. 1a and eq. (12): with AVG+LIN "the obtained boundary is roughly orthogonal to the '
                  'line connecting (-1.0, -1.0) and (1.0, 1.0)"',
            detail=f"AVG+LIN boundary at {angle:.2f} deg to the centre line "
                   f"({off:.2f} from orthogonal; tolerance {ORTHOGONAL_TOL})",
            value=angle),
        "nonlinear_shrinkage_beats_lin_under_avg": claim(
            all(acc[n] > acc["AVG+LIN"] for n in AVG_NONLINEAR),
            paper='§3.3.3, Fig. 1b-c: "Better generalization ability and thus improved test-set accuracies can be '
                  'obtained in the AVG+EXP and AVG+INV settings" than with AVG+LIN',
            detail=", ".join(f"{n} test acc {acc[n]:.4f}" for n in ("AVG+LIN", *AVG_NONLINEAR))
            + " (each nonlinear one strictly above AVG+LIN)"),
        "nonlinear_shrinkage_improves_margin_under_avg": claim(
            all(margin[n] > margin["AVG+LIN"] for n in AVG_NONLINEAR),
            paper='Fig. 1 caption, (b)-(c): "using our non-linear shrinkage functions, we obtain decision boundaries '
                  'with improved margins ... compared with the linear shrinkage function adopted in AVG+LIN"',
            detail=", ".join(f"{n} min margin {margin[n]:+.4f}" for n in ("AVG+LIN", *AVG_NONLINEAR))
            + " (each nonlinear one strictly above AVG+LIN)"),
    }


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers the claims and the prose compare, from a record's ``metrics``: the AVG+LIN angle, the test
    accuracy of the AVG configurations, the minimum training margin of every configuration and the SVM's."""
    out = {"AVG+LIN angle to centre line (deg)": float(metrics["boundary_angle_to_center_line"]["AVG+LIN"])}
    out.update({f"{n} test acc": float(metrics["test_acc"][n]) for n in ("AVG+LIN", *AVG_NONLINEAR)})
    out.update({f"{n} min margin": float(metrics["min_margin"][n]) for n in ORDER})
    out["SVM min margin (largest possible)"] = float(metrics["svm_min_margin"])
    return out


def record(toy: Toy, runs: Mapping[str, ConfigRun], closed: Boundary) -> dict[str, Any]:
    """``{"metrics", "claims"}`` of the run: every configuration's boundary and curve, the closed form, the SVM."""
    metrics = {
        "source": toy.train.source, "n_train": len(toy.train), "n_test": len(toy.test),
        "configs": {n: r.public() for n, r in runs.items()},
        "test_acc": {n: r.boundary.test_acc for n, r in runs.items()},
        "min_margin": {n: r.boundary.min_margin for n, r in runs.items()},
        "boundary_angle_to_center_line": {n: r.boundary.angle for n, r in runs.items()},
        "min_margin_curves": {n: r.min_margin_curve for n, r in runs.items()},
        "closed_form_avg_lin": closed.public(),
        "svm_min_margin": toy.svm.min_margin,
        "class_centres": [toy.mu0.tolist(), toy.mu1.tolist()],
    }
    return {"metrics": metrics, "claims": claims(runs)}


def fig1_text(runs: Mapping[str, ConfigRun]) -> str:
    """One sentence on whether this run shows what Fig. 1 shows, naming each panel's statement that it does not
    (the claims of :func:`claims`)."""
    c = claims(runs)
    says = {"avg_lin_orthogonal_to_centers": "(a) AVG+LIN orthogonal to the centre line",
            "nonlinear_shrinkage_beats_lin_under_avg": "(b)-(c) a better test accuracy with INV and EXP under AVG",
            "nonlinear_shrinkage_improves_margin_under_avg": "(b)-(c) a larger minimum margin with INV and EXP under "
                                                             "AVG",
            "min_configs_reach_max_margin": "(d) near-optimal margins in every MIN setting"}
    missed = [text for name, text in says.items() if not c[name]["holds"]]
    if not missed:
        return "This run shows what the paper's Fig. 1 shows: " + "; ".join(says.values()) + "."
    return ("This run does not reproduce every panel of the paper's Fig. 1; it contradicts "
            + "; ".join(missed) + " (the numbers above and the claims below).")


def quoted(toy: Toy, runs: Mapping[str, ConfigRun]) -> dict[str, object]:
    """The numbers the prose glues (``{glue:text}``), and :func:`fig1_text`."""
    return {
        "avglin_angle": runs["AVG+LIN"].boundary.angle,
        "avglin_acc": runs["AVG+LIN"].boundary.test_acc,
        "avglin_margin": runs["AVG+LIN"].boundary.min_margin,
        "avginv_acc": runs["AVG+INV"].boundary.test_acc,
        "avgexp_acc": runs["AVG+EXP"].boundary.test_acc,
        "avginv_margin": runs["AVG+INV"].boundary.min_margin,
        "avgexp_margin": runs["AVG+EXP"].boundary.min_margin,
        "mininv_margin": runs["MIN+INV"].boundary.min_margin,
        "minlin_margin": runs["MIN+LIN"].boundary.min_margin,
        "minexp_margin": runs["MIN+EXP"].boundary.min_margin,
        "svm_margin": toy.svm.min_margin,
        "svm_margin2": toy.svm.min_margin,
        "init_acc": runs["AVG+LIN"].initial_train_acc,
        "fig1_text": fig1_text(runs),
    }
