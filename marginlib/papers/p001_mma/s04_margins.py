"""Paper 001 (Ding et al., MMA training), §1.2 and §2.1-2.2: Fig. 2, Theorem 2.1 and the AN-PGD attack (Alg. 1).

The section behind ``notebooks/04_mma_margins.ipynb``. Three experiments, each a function that returns data and a
function that only draws it:

* Fig. 2 (§1.2): :func:`fixed_eps` builds the 1-D example (:func:`theory.fixed_eps_example`) and finds each curve's
  margin by bisection; :func:`fig2_frame` and :func:`figure2` show it.
* Theorem 2.1 (eq. (10)): :func:`check_theorem21` compares the finite-difference gradient of the exact l2 margin of
  a tiny tanh network with ``lambda*`` times the loss gradient at ``delta*`` (:func:`theory.theorem21`);
  :func:`theorem21_frame` and :func:`figure_theorem21` show it.
* AN-PGD's margin estimate (Alg. 1, :func:`marginlib.attacks.an_pgd`), bisecting on the paper's logit margin loss
  ``L`` and on the released code's soft margin: :func:`run_linear` against the exact margins of a logistic
  regression (:func:`marginlib.margins.exact_linear`), :func:`run_mlp` inside the margin bracket of a ReLU MLP
  (:func:`marginlib.margins.bracket`); :func:`linear_table`, :func:`figure_linear`, :func:`mlp_table` and
  :func:`figure_mlp` show them.

:func:`record` gives the results record's metrics and claims, :func:`quoted` the numbers the page's prose glues.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn

from marginlib import attacks, cost, data, evaluate, margins, methods, models, train, validate
from marginlib.book.results import PROFILES, claim
from marginlib.papers.p001_mma import theory

NOTEBOOK = "04_mma_margins"

PARALLEL = 0.99  # claim margin_gradient_parallel: smallest cosine of Theorem 2.1's two gradients (from the issue)
MATCH = 0.01     # claim anpgd_matches_exact_linear: AN-PGD's median |relative error| vs the exact linear margin
TOL = 1e-6       # slack when placing AN-PGD's MLP estimates in the bracket [lower, upper]
EPS_1D = 0.8     # Fig. 2: the training radius of the 1-D example (twice the margin before the update)
DELTA_MAX = 1.0  # Fig. 2: the 1-D example's range of perturbations (the figure's x axis); margins lie below it

#: AN-PGD's search loss, by the name the page uses: the paper's Alg. 1 bisects on L, the released code on soft L
SEARCHES = {"paper (L)": "margin", "released (soft L)": "soft_margin"}
INNER = "pixels in [0.25, 0.75]"  # MNIST mapped into the box's interior: the exact minimizer is a valid image
RAW = "raw MNIST [0, 1]"          # MNIST as loaded: the image box binds


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults); see the cell's comments."""

    profile: str = "demo"
    source: str = "auto"
    n_train: int = 2000
    n_eval: int = 200
    epochs: int = 5
    lr: float = 0.05
    mlp_hidden: int = 256
    norm: str = "linf"
    eps_init: float = 0.05
    eps_max: float = 0.5
    anpgd_steps: int = 20
    search_steps: int = 20
    tiny_hidden: int = 16
    n_theorem: int = 12
    fd_step: float = 0.000001
    lipschitz_samples: int = 256
    lipschitz_batches: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        validate.choice("profile", self.profile, PROFILES)
        validate.choice("source", self.source, data.SOURCES)
        validate.norm(self.norm)
        for name in ("n_train", "n_eval", "epochs", "lr", "mlp_hidden", "eps_init", "anpgd_steps", "tiny_hidden",
                     "n_theorem", "fd_step", "lipschitz_samples", "lipschitz_batches"):
            validate.positive(name, getattr(self, name))
        validate.nonnegative("search_steps", self.search_steps)
        if not self.eps_init <= self.eps_max:
            raise ValueError(f"eps_init={self.eps_init!r} must be <= eps_max={self.eps_max!r}: AN-PGD (Alg. 1) "
                             "searches [0, eps_init] or [eps_init, eps_max]")

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded ``seed + offset`` (0: model weights, 1: Theorem 2.1's points, 2: AN-PGD's
        random starts, 3: the bracket's Lipschitz samples)."""
        return torch.Generator().manual_seed(self.seed + offset)


# --- Fig. 2 (§1.2): fixed-radius training need not raise the margin ------------------------------------------------

@dataclass(frozen=True)
class FixedEps:
    """Fig. 2's example: the training radius ``eps``, the curves ``L0``, ``La``, ``Lb``, each curve's margin (its
    zero crossing, by bisection) and its loss at ``eps``."""

    eps: float
    curves: dict[str, theory.ExpCurve]
    margins: dict[str, float]
    loss_at_eps: dict[str, float]


def _margin_1d(curve: theory.ExpCurve, eps: float) -> float:
    """The zero crossing of ``curve``, bracketed as AN-PGD brackets it (paper 001, Alg. 1): in ``[0, eps]`` when
    ``L(eps) >= 0`` (``eps`` overshoots the margin), otherwise in ``[eps, DELTA_MAX]``."""
    lo, hi = (0.0, eps) if float(curve(torch.tensor(eps))) >= 0 else (eps, DELTA_MAX)
    return float(theory.zero_crossing(curve, lo, hi))


def fixed_eps(*, eps: float = EPS_1D, margin_before: float = 0.4, margins_after: tuple[float, float] = (0.55, 0.25),
              loss_after: float = 1.2) -> FixedEps:
    """Paper 001, Fig. 2 from explicit curves (:func:`theory.fixed_eps_example`, same options): both updated losses
    equal ``loss_after`` at ``eps``, yet their margins differ. Margins must lie below :data:`DELTA_MAX`."""
    for name, value in (("margin_before", margin_before), ("margins_after", max(margins_after))):
        if not value < DELTA_MAX:
            raise ValueError(f"{name}={value!r}: the 1-D example's margins must lie below DELTA_MAX={DELTA_MAX}")
    curves = theory.fixed_eps_example(eps=eps, margin_before=margin_before, margins_after=margins_after,
                                      loss_after=loss_after)
    found = {name: _margin_1d(curve, eps) for name, curve in curves.items()}
    at_eps = {name: float(curve(torch.tensor(eps))) for name, curve in curves.items()}
    return FixedEps(eps, curves, found, at_eps)


def fig2_frame(f: FixedEps) -> pd.DataFrame:
    """Each curve's margin ``delta*`` and its loss at ``eps`` (the two numbers Fig. 2 contrasts)."""
    return pd.DataFrame({"margin delta*": f.margins, "loss at eps": f.loss_at_eps})


def figure2(f: FixedEps) -> Figure:
    """Paper 001, Fig. 2: the three losses over the perturbation, their zero crossings and the training radius."""
    style = {"L0": ("$L_0$ (before)", "0.25", "-", (-40, 10)), "La": (r"$L_\alpha$ (after)", "C0", "-.", (-5, 10)),
             "Lb": (r"$L_\beta$ (after)", "C3", "--", (-12, -18))}
    grid = torch.linspace(0, DELTA_MAX, 401)
    fig, ax = plt.subplots(figsize=(6.2, 3.6))
    for name, curve in f.curves.items():
        label, color, ls, offset = style[name]
        ax.plot(grid, curve(grid), color=color, ls=ls, label=label)
        ax.plot([f.margins[name]], [0], "o", color=color)
        ax.annotate(f"$\\delta^*$ = {f.margins[name]:.2f}", (f.margins[name], 0), textcoords="offset points",
                    xytext=offset, color=color, fontsize=9)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axvline(f.eps, color="0.3", ls=":", lw=1.2)
    ax.text(f.eps + 0.01, -0.7, r"$\epsilon$", fontsize=11)
    ax.plot([f.eps, f.eps], [f.loss_at_eps["La"], f.loss_at_eps["L0"]], color="0.3", lw=2, alpha=0.4)
    ax.set(xlabel=r"perturbation $\delta$", ylabel=r"loss $L(\delta)$", ylim=(-1.1, 3.0), xlim=(0, DELTA_MAX))
    ax.legend(frameon=False, loc="upper left")
    fig.tight_layout()
    return fig


# --- Theorem 2.1 (eq. (10)): the margin's gradient ----------------------------------------------------------------

@dataclass(frozen=True)
class Theorem21Run:
    """Theorem 2.1 checked on a tiny tanh network: the model, its points ``x`` (labelled by the model), the check
    (:class:`theory.Theorem21`) and the exact minimal perturbations (:class:`theory.MinimalPerturbation`)."""

    model: nn.Module
    x: Tensor
    y: Tensor
    check: theory.Theorem21
    exact: theory.MinimalPerturbation

    @property
    def n_params(self) -> int:
        return int(self.check.margin_grad.shape[1])

    @property
    def min_cosine(self) -> float:
        return float(self.check.cosine.min())

    @property
    def max_rel_error(self) -> float:
        return float(self.check.rel_error.max())


#: radii of the exact minimal-perturbation search of :func:`check_theorem21`, tried in turn until every point has a
#: decision boundary within it (the search's grid spacing grows with the radius; Newton's method then refines)
SEARCH_RADII = (2.0, 4.0, 8.0, 16.0)


def check_theorem21(p: Params) -> Theorem21Run:
    """Paper 001, Theorem 2.1 (eq. (10)) at ``n_theorem`` points of ``[-1, 1]^2``, each labelled by a random
    ``R^2 -> R^3`` network with two tanh layers of ``tiny_hidden`` units (so correctly classified), by central
    differences of step ``fd_step`` on every weight (:func:`theory.theorem21`). The exact search runs within the
    first radius of :data:`SEARCH_RADII` inside which every point has a decision boundary."""
    tiny = theory.tiny_tanh_mlp(hidden=(p.tiny_hidden, p.tiny_hidden), classes=3, generator=p.generator())
    x = torch.rand(p.n_theorem, 2, generator=p.generator(1), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        y = tiny(x).argmax(1)
    for radius in SEARCH_RADII:   # a random net can leave a point's class region wide: search farther
        try:
            with cost.work("n_theorem"):
                check = theory.theorem21(tiny, x, y, h=p.fd_step, radius=radius)
        except ValueError as err:
            if "no decision boundary" not in str(err) or radius == SEARCH_RADII[-1]:
                raise
            continue
        return Theorem21Run(tiny, x, y, check, theory.minimal_perturbation(tiny, x, y, radius=radius))
    raise AssertionError("unreachable")


def theorem21_frame(t: Theorem21Run) -> pd.DataFrame:
    """One row: weights, points, the smallest cosine of the two gradients and the largest error of eq. (10)."""
    return pd.DataFrame({"weights": [t.n_params], "points": [len(t.x)],
                         "min cosine(grad d, -dL/dtheta)": [t.min_cosine],
                         "max relative error of eq. (10)": [t.max_rel_error]}, index=["Theorem 2.1"])


def figure_theorem21(t: Theorem21Run) -> Figure:
    """(a) The network's decision regions, the points, their minimal perturbations and margin circles; (b) every
    component of the finite-difference margin gradient against ``lambda*`` times the loss gradient."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 4.2))
    ax = axes[0]
    u = torch.linspace(-1.6, 1.6, 300, dtype=torch.float64)
    gx, gy = torch.meshgrid(u, u, indexing="xy")
    with torch.no_grad():
        region = t.model(torch.stack([gx.flatten(), gy.flatten()], 1)).argmax(1).view(gx.shape)
    ax.contourf(gx, gy, region, levels=[-0.5, 0.5, 1.5, 2.5], colors=["C0", "C1", "C2"], alpha=0.18)
    ax.contour(gx, gy, region, levels=[0.5, 1.5], colors="0.3", linewidths=1)
    for point, radius in zip(t.x, t.exact.margin):
        ax.add_patch(plt.Circle(point.tolist(), float(radius), fill=False, ls=":", lw=0.8, color="0.4"))
    ax.scatter(t.x[:, 0], t.x[:, 1], c=[f"C{int(c)}" for c in t.y], edgecolor="k", s=28, zorder=3)
    ax.quiver(t.x[:, 0], t.x[:, 1], t.exact.delta[:, 0], t.exact.delta[:, 1], angles="xy", scale_units="xy",
              scale=1, width=0.004, color="k", zorder=4)
    ax.set(xlim=(-1.6, 1.6), ylim=(-1.6, 1.6), aspect="equal", xlabel="$x_1$", ylabel="$x_2$",
           title="(a) minimal perturbations $\\delta^*$")
    ax = axes[1]
    a = (t.check.lam[:, None] * t.check.loss_grad).flatten().numpy()
    b = t.check.margin_grad.flatten().numpy()
    ax.scatter(a, b, s=5, alpha=0.5)
    lim = float(np.abs(np.r_[a, b]).max()) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="0.3", ls="--", lw=1)
    ax.set(xlabel="$\\lambda^*\\, \\partial L(\\delta^*, \\theta) / \\partial\\theta_k$ (autograd)",
           ylabel="$\\partial d_\\theta / \\partial\\theta_k$ (finite differences)",
           title="(b) Theorem 2.1, every weight and point")
    fig.tight_layout()
    return fig


# --- AN-PGD's margin estimate (Alg. 1) ------------------------------------------------------------------------------

class Splits(NamedTuple):
    """The MNIST training and test sets of the AN-PGD comparisons."""

    train: data.Dataset
    test: data.Dataset


class Estimate(NamedTuple):
    """One AN-PGD run: the per-sample margin estimate (the length found) and whether its point is misclassified."""

    anpgd: Tensor
    fooled: Tensor


@dataclass(frozen=True)
class LinearRun:
    """AN-PGD against the exact margins of a linear model: exact margins, estimates, misclassified AN-PGD points."""

    exact: Tensor
    anpgd: Tensor
    fooled: Tensor

    @property
    def rel_error(self) -> Tensor:
        """Signed relative error of the estimate, ``(anpgd - exact) / exact``."""
        return (self.anpgd - self.exact) / self.exact


@dataclass(frozen=True)
class MLPRun:
    """AN-PGD on the MLP: the margin bracket of the correctly classified test points and one estimate per search
    loss (keys of :data:`SEARCHES`)."""

    bracket: margins.Bracket
    runs: dict[str, Estimate]


def load_data(p: Params) -> Splits:
    """``n_train`` MNIST training and ``n_eval`` test images from ``source``."""
    return Splits(data.load("mnist", split="train", n=p.n_train, seed=p.seed, source=p.source),
                  data.load("mnist", split="test", n=p.n_eval, seed=p.seed, source=p.source))


def inner_box(d: data.Dataset) -> data.Dataset:
    """``d`` with its pixels mapped affinely from ``[0, 1]`` into ``[0.25, 0.75]``."""
    return dataclasses.replace(d, x=0.25 + 0.5 * d.x)


def fitted(name: str, train_data: data.Dataset, p: Params, **kw: Any) -> nn.Module:
    """Model ``name`` (keywords ``kw``) trained with cross-entropy for ``epochs`` epochs of SGD at ``lr``, in eval
    mode."""
    model = models.build(name, generator=p.generator(), **kw)
    with cost.work("n_train", "epochs"):
        train.fit(model, methods.build("standard"), train_data, epochs=p.epochs, lr=p.lr, seed=p.seed,
                  progress=False, eval_train=False)
    return model.eval()


def correct_only(model: nn.Module, d: data.Dataset) -> tuple[Tensor, Tensor]:
    """The points of ``d`` that ``model`` classifies correctly (their margins are positive)."""
    keep = evaluate.correct(model, d.x, d.y)
    return d.x[keep], d.y[keep]


def anpgd_margin(model: nn.Module, x: Tensor, y: Tensor, search: str, p: Params) -> Estimate:
    """AN-PGD (paper 001, Alg. 1) with PGD and bisection on the loss ``search``: the length found per sample and
    whether the point it returns is misclassified."""
    with cost.work("n_eval"):
        x_adv, eps = attacks.an_pgd(model, x, y, eps_init=p.eps_init, eps_max=p.eps_max, steps=p.anpgd_steps,
                                    norm=p.norm, search_steps=p.search_steps, loss=search, search_loss=search,
                                    generator=p.generator(2))
    return Estimate(eps, ~evaluate.correct(model, x_adv, y))


def run_linear(p: Params, d: Splits) -> dict[tuple[str, str], LinearRun]:
    """A logistic regression on MNIST in ``[0.25, 0.75]`` and on raw MNIST; on each, the exact margins of its
    correctly classified test points (§4: AN-PGD is "exact ... e.g. linear models") and AN-PGD's estimates with
    both search losses. Keys: ``(data name, search name)``."""
    runs = {}
    for data_name, (tr, te) in {INNER: (inner_box(d.train), inner_box(d.test)), RAW: (d.train, d.test)}.items():
        model = fitted("logreg", tr, p)
        x, y = correct_only(model, te)
        exact = margins.exact_linear(model, x, y, norm=p.norm)
        for search_name, search in SEARCHES.items():
            estimate = anpgd_margin(model, x, y, search, p)
            runs[(data_name, search_name)] = LinearRun(exact, estimate.anpgd, estimate.fooled)
    return runs


def linear_table(runs: dict[tuple[str, str], LinearRun]) -> pd.DataFrame:
    """One row per (data, search loss): points, median exact margin, median absolute relative error of AN-PGD and the
    fraction of AN-PGD points misclassified."""
    rows = {f"{d} / {s}": {"points": len(r.exact), "median exact margin": float(r.exact.median()),
                           "median rel. error": float(r.rel_error.median()),
                           "median |rel. error|": float(r.rel_error.abs().median()),
                           "AN-PGD point misclassified": float(r.fooled.double().mean())}
            for (d, s), r in runs.items()}
    return pd.DataFrame(rows).T


def figure_linear(runs: dict[tuple[str, str], LinearRun], p: Params) -> Figure:
    """AN-PGD's estimate against the exact linear margin: inner box with each search loss, and raw MNIST."""
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6), sharey=False)
    for ax, key in zip(axes, [(INNER, "paper (L)"), (INNER, "released (soft L)"), (RAW, "paper (L)")]):
        r = runs[key]
        ax.scatter(r.exact, r.anpgd, s=9, alpha=0.6, c=np.where(r.fooled, "C0", "C3"))
        top = float(torch.cat([r.exact, r.anpgd]).max()) * 1.05
        ax.plot([0, top], [0, top], ls="--", color="0.3", lw=1)
        ax.set(xlabel=f"exact margin ({p.norm}, exact_linear)", ylabel="AN-PGD estimate", title=f"{key[0]}\n{key[1]}",
               xlim=(0, top), ylim=(0, top))
    fig.tight_layout()
    return fig


def run_mlp(p: Params, d: Splits) -> MLPRun:
    """A one-hidden-layer ReLU MLP on raw MNIST; the margin bracket of its correctly classified test points
    (:func:`marginlib.margins.bracket`, in the image box) and AN-PGD's estimates with both search losses."""
    mlp = fitted("mlp", d.train, p, hidden=(p.mlp_hidden,))
    x, y = correct_only(mlp, d.test)
    with cost.work("n_eval", "lipschitz_samples", "lipschitz_batches"):
        br = margins.bracket(mlp, x, y, norm=p.norm, bounds=(0.0, 1.0), n_samples=p.lipschitz_samples,
                             n_batches=p.lipschitz_batches, generator=p.generator(3))
    return MLPRun(br, {name: anpgd_margin(mlp, x, y, search, p) for name, search in SEARCHES.items()})


def mlp_table(m: MLPRun) -> pd.DataFrame:
    """One row per search loss: where AN-PGD's estimates fall in the bracket (within :data:`TOL`), their relative
    difference to the upper bound and the fraction of AN-PGD points misclassified."""
    br = m.bracket
    rows = {}
    for name, r in m.runs.items():
        rel_upper = (r.anpgd - br.upper) / br.upper
        rows[name] = {"points": len(br.upper), "above lower bound": float((r.anpgd >= br.lower - TOL).double().mean()),
                      "at or below upper bound": float((r.anpgd <= br.upper + TOL).double().mean()),
                      "median rel. diff. to upper": float(rel_upper.median()),
                      "median |rel. diff.| to upper": float(rel_upper.abs().median()),
                      "AN-PGD point misclassified": float(r.fooled.double().mean())}
    return pd.DataFrame(rows).T


def bracket_summary(m: MLPRun) -> str:
    """The bracket's median lower and upper bounds, as one line."""
    lower, upper = float(m.bracket.lower.median()), float(m.bracket.upper.median())
    return f"bracket: median lower {lower:.4f}, median upper {upper:.4f}"


def figure_mlp(m: MLPRun, p: Params) -> Figure:
    """AN-PGD's MLP estimates for both search losses inside the bracket, points sorted by the upper bound."""
    br = m.bracket
    order = torch.argsort(br.upper)
    pos = np.arange(len(order))
    fig, ax = plt.subplots(figsize=(9, 3.6))
    ax.fill_between(pos, br.lower[order], br.upper[order], color="0.8", step="mid", label="bracket [lower, upper]")
    for (name, r), color, marker in zip(m.runs.items(), ("C0", "C3"), ("o", "x")):
        ax.scatter(pos, r.anpgd[order], s=8, color=color, marker=marker, label=f"AN-PGD, {name}")
    ax.set(xlabel="test point (sorted by upper bound)", ylabel=f"margin ({p.norm})")
    ax.legend(frameon=False)
    fig.tight_layout()
    return fig


# --- the record and the prose's numbers -----------------------------------------------------------------------------

def _exact_median(runs: dict[tuple[str, str], LinearRun]) -> tuple[Tensor, float]:
    """AN-PGD's relative errors (bisection on L) against the exact margins in the inner box, and the median of their
    absolute values."""
    rel = runs[(INNER, "paper (L)")].rel_error
    return rel, float(rel.abs().median())


def record(d: Splits, fig2: FixedEps, t21: Theorem21Run, linear: dict[tuple[str, str], LinearRun], mlp: MLPRun,
           p: Params) -> dict[str, Any]:
    """The section's record: ``{"metrics": ..., "claims": ...}`` (claims ``margin_gradient_parallel``, Theorem 2.1,
    and ``anpgd_matches_exact_linear``, §4's "exact ... linear models"; where each is required: the preset file)."""
    rel_linear, linear_median = _exact_median(linear)
    metrics = {
        "source": d.train.source, "n_train": len(d.train), "n_eval": len(d.test),
        "fig2": {"eps": fig2.eps, "margins": fig2.margins, "loss_at_eps": fig2.loss_at_eps},
        "theorem21_cosine": t21.min_cosine,
        "theorem21": {"cosine": t21.check.cosine, "rel_error": t21.check.rel_error, "lam": t21.check.lam,
                      "n_params": t21.n_params, "margins": t21.exact.margin},
        "anpgd_linear": {f"{name} / {search}": {"exact": r.exact, "anpgd": r.anpgd, "fooled": r.fooled}
                         for (name, search), r in linear.items()},
        "anpgd_linear_table": linear_table(linear).to_dict(orient="index"),
        "anpgd_rel_error_linear_median": linear_median,
        "anpgd_mlp": {name: {"anpgd": r.anpgd, "fooled": r.fooled} for name, r in mlp.runs.items()},
        "anpgd_mlp_table": mlp_table(mlp).to_dict(orient="index"),
        "bracket": {"lower": mlp.bracket.lower, "upper": mlp.bracket.upper},
    }
    claims = {
        "margin_gradient_parallel": claim(
            t21.min_cosine > PARALLEL, value=t21.min_cosine,
            paper="Theorem 2.1, eq. (10) (App. A.1): the margin's gradient is parallel to the loss gradient at the "
                  "minimal perturbation, grad d = lambda* dL(delta*, theta)/dtheta (checked here for the l2 norm on a "
                  "C^2 tanh network)",
            detail=f"min cosine over {p.n_theorem} points and {t21.n_params} weights: {t21.min_cosine:.8f} "
                   f"(> {PARALLEL}); largest relative error of eq. (10) {t21.max_rel_error:.1e}"),
        "anpgd_matches_exact_linear": claim(
            linear_median < MATCH, value=linear_median,
            paper='§4: "MMA\'s margin estimation is exact when the minimal length perturbation delta* can be solved, '
                  'which is not only satisfied by linear models" (AN-PGD, Alg. 1, bisecting on L)',
            detail=f"median |relative error| of AN-PGD (bisection on L) vs exact_linear, {len(rel_linear)} points: "
                   f"{linear_median:.2e} (< {MATCH})"),
    }
    return {"metrics": metrics, "claims": claims}


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers that matter most, from a record's ``metrics`` (JSON form): Theorem 2.1's agreement, AN-PGD's
    errors against the exact linear margins (both bisection losses; %) and its place in the MLP's bracket (%)."""
    lin, mlp = metrics["anpgd_linear_table"], metrics["anpgd_mlp_table"]
    soft, raw = f"{INNER} / released (soft L)", f"{RAW} / paper (L)"
    hard = mlp["paper (L)"]
    return {
        "Theorem 2.1 min cosine": float(metrics["theorem21_cosine"]),
        "Theorem 2.1 max rel. error": float(max(metrics["theorem21"]["rel_error"])),
        "AN-PGD median |rel. error|, linear (L, %)": 100 * float(metrics["anpgd_rel_error_linear_median"]),
        "AN-PGD median rel. error, linear (soft L, %)": 100 * float(lin[soft]["median rel. error"]),
        "AN-PGD median rel. error, raw MNIST linear (L, %)": 100 * float(lin[raw]["median rel. error"]),
        "AN-PGD median |rel. diff.| to MLP upper bound (L, %)": 100 * float(hard["median |rel. diff.| to upper"]),
        "AN-PGD above MLP lower bound (L, %)": 100 * float(hard["above lower bound"]),
        "AN-PGD median rel. diff. to MLP upper bound (soft L, %)":
            100 * float(mlp["released (soft L)"]["median rel. diff. to upper"]),
        "1-D margins after the update, L_alpha": float(metrics["fig2"]["margins"]["La"]),
        "1-D margins after the update, L_beta": float(metrics["fig2"]["margins"]["Lb"]),
    }


def quoted(d: Splits, fig2: FixedEps, t21: Theorem21Run, linear: dict[tuple[str, str], LinearRun], mlp: MLPRun,
           p: Params) -> dict[str, object]:
    """The numbers the page's prose glues, by glue name (percentages as numbers in [0, 100])."""
    rel_linear, linear_median = _exact_median(linear)
    soft, raw = linear[(INNER, "released (soft L)")], linear[(RAW, "paper (L)")]
    rows = mlp_table(mlp).to_dict(orient="index")
    return {
        "m1d_0": fig2.margins["L0"], "m1d_a": fig2.margins["La"], "m1d_b": fig2.margins["Lb"],
        "theorem21_cosine": t21.min_cosine, "theorem21_relerr": f"{t21.max_rel_error:.1e}",
        "n_params": f"{t21.n_params:,}", "n_theorem": p.n_theorem,
        "anpgd_linear_median": 100 * linear_median,
        "anpgd_soft_fooled": 100 * float(soft.fooled.double().mean()),
        "anpgd_soft_median": 100 * float(soft.rel_error.median()),
        "anpgd_raw_median": 100 * float(raw.rel_error.median()),
        "anpgd_linear_within": 100 * float((rel_linear.abs() < MATCH).double().mean()),
        "mlp_rel_upper": 100 * rows["paper (L)"]["median |rel. diff.| to upper"],
        "mlp_above_lower": 100 * rows["paper (L)"]["above lower bound"],
        "mlp_above_upper": 100 * (1 - rows["paper (L)"]["at or below upper bound"]),
        "mlp_soft_rel_upper": 100 * rows["released (soft L)"]["median rel. diff. to upper"],
        "mlp_soft_fooled": 100 * rows["released (soft L)"]["AN-PGD point misclassified"],
        "n_epochs": p.epochs,
        "n_train_text": f"{len(d.train):,} MNIST training images ({d.train.source})",
        "anpgd_steps_text": str(p.anpgd_steps),
        "search_steps_text": str(p.search_steps),
    }
