"""Paper 001 §3, Fig. 3c/d: MMA against PGD adversarial training on CIFAR-10, under L∞ (PGD-AT at 8/255 and 16/255)
and L2 (PGD-AT at 0.5 and 1.5), one MMA model per norm; white-box PGD robust accuracy against the perturbation
length. Part of notebooks/05_mma_training.ipynb; runs only when the parameter ``cifar`` selects a norm (the
``paper`` profile and its dry run; ``none`` at demo).

The paper's statements (§3, "CIFAR10"): when an MMA model and a PGD-AT model have similar clean accuracy (L∞: PGD
8/255 against MMA; L2: PGD 0.5 against MMA), "they have similar robust accuracy for small perturbation lengths, and
MMA training outperforms PGD training when perturbation length becomes larger"; a PGD-AT model trained at a larger
radius can be more robust in "a certain band of ε", "at the cost of losing clean accuracy". The preprint gives no
training settings and no CIFAR-10 numbers in its text (the values are only in Fig. 3c/d); the settings below are the
released code's (BorealisAI/mma_training ``config.py``, ``train.py``, ``run_cifar10_training.sh``), and the MMA
radii the release's smallest (L∞ 12/255, L2 1.0), the preprint naming none.

Conventions: every model starts from the same initialization (``Generator(seed)``) and data order; the models
train per norm, every PGD-AT model and then the MMA model. Training draws augmentation (pad-4 crop and flip, the
released code's Madry et al. transform) per epoch from the seed; the curves draw their random starts from a
generator seeded ``seed + 6``, one per model. Accuracies are fractions in [0, 1].
"""
from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from marginlib import augment, cost, data, evaluate, methods, models
from marginlib.book import results
from marginlib.papers import tables
from marginlib.papers.p001_mma.s05_training import (
    L2_CLOSE,
    SYMBOL,
    Params,
    _eps_min,
    fit_model,
    label,
    plain,
    radius_of,
    split_validation,
)
from marginlib.papers.p001_mma.transfer import accuracy_under_attack

__all__ = ["CifarRun", "claims", "figure", "load", "metrics_of", "names", "numbers", "radii", "recipes", "run", "show",
           "statements", "summary_text"]

#: the paper's radii of each norm, as a reader would write them (for labels)
PIXELS = 255


@dataclass(frozen=True)
class CifarRun:
    """The CIFAR-10 half: the trained models (eval mode), their clean accuracy on the curve images, the curves
    ``{norm: {model: {eps: acc}}}``, the selected epoch of each MMA model, training seconds and the data."""

    nets: dict[str, nn.Module]
    clean_acc: dict[str, float]
    curves: dict[str, dict[str, dict[float, float]]]
    best_epoch: dict[str, int | None]
    seconds: dict[str, float]
    source: str
    is_standin: bool
    n_train: int
    n_test: int


def norms(p: Params) -> tuple[str, ...]:
    """The CIFAR-10 norms to run (empty for ``cifar="none"``)."""
    return () if p.cifar == "none" else tuple(p.cifar.split("+"))


def names(p: Params, norm: str) -> tuple[list[str], str]:
    """``(PGD-AT models, MMA model)`` of ``norm``, e.g. ``(["pgd_at_linf_0.031373", ...], "mma_linf_0.047059")``;
    the first PGD-AT model is the one the paper matches with MMA on clean accuracy."""
    pgd = p.cifar_pgd_eps if norm == "linf" else p.cifar_l2_pgd_eps
    dmax = p.cifar_mma_dmax if norm == "linf" else p.cifar_l2_mma_dmax
    return [f"pgd_at_{norm}_{float(e)}" for e in pgd], f"mma_{norm}_{float(dmax)}"


def radii(p: Params, norm: str) -> tuple[float, ...]:
    """The curve radii of ``norm``: evenly spaced from 0 to ``cifar_curve_max`` / ``cifar_l2_curve_max``."""
    top, points = ((p.cifar_curve_max, p.cifar_curve_points) if norm == "linf" else
                   (p.cifar_l2_curve_max, p.cifar_l2_curve_points))
    return tuple(round(float(e), 6) for e in np.linspace(0.0, top, points))


def recipes(p: Params) -> dict[str, methods.Method]:
    """PGD-AT at each radius and MMA (Alg. 2) per selected norm, with the released CIFAR-10 settings:
    ``cifar_train_steps`` PGD steps of 2.5 eps / steps, AN-PGD from ``cifar_eps_min`` / ``cifar_l2_eps_min`` up to
    ``eps_max_factor * d_max``; no radius warm-up (the release has none)."""
    out: dict[str, methods.Method] = {}
    for norm in norms(p):
        pgds, mma = names(p, norm)
        for name in pgds:
            out[name] = methods.build("pgd_at", eps=radius_of(name), steps=p.cifar_train_steps, norm=norm)
        eps_min = _eps_min(p.cifar_eps_min if norm == "linf" else p.cifar_l2_eps_min)
        out[mma] = methods.build("mma", d_max=radius_of(mma), steps=p.cifar_train_steps, norm=norm, eps_min=eps_min,
                                 eps_max_factor=p.eps_max_factor)
    return out


def _model_list(name: str) -> tuple[str, ...]:
    """The parameter listing the PGD-AT models of ``name``'s norm, as a cost scale (a dry run may train fewer: each
    one measured then stands for ``len(paper list) / len(run list)`` of them)."""
    if not name.startswith("pgd_at"):
        return ()
    return ("cifar_pgd_eps",) if "_linf_" in name else ("cifar_l2_pgd_eps",)


def load(p: Params) -> tuple[data.Dataset, data.Dataset]:
    """CIFAR-10 ``(train, test)``: ``cifar_n_train + cifar_n_val`` training images (the labelled stand-in with
    ``source="offline"``) and ``cifar_n_test`` test images."""
    train_data = data.load("cifar10", split="train", n=p.cifar_n_train + p.cifar_n_val, seed=p.seed, source=p.source)
    test_data = data.load("cifar10", split="test", n=p.cifar_n_test, seed=p.seed, source=p.source)
    return train_data, test_data


def run(p: Params) -> CifarRun | None:
    """Train and attack the CIFAR-10 models of :func:`recipes` (None when ``cifar="none"``): SGD (momentum 0.9,
    ``cifar_lr``, weight decay ``cifar_weight_decay``, the rate times ``cifar_gamma`` at the fractions
    ``cifar_milestones`` of ``cifar_epochs``), batch ``cifar_batch_size``, pad-4 crop and flip; with
    ``select="val_margin"`` each MMA model keeps its epoch of best average AN-PGD margin on ``cifar_n_val``
    held-out images. Then white-box PGD (``cifar_eval_steps`` steps) at every curve radius (Fig. 3c/d)."""
    if not norms(p):
        return None
    train_all, test_data = load(p)
    train_data, val = split_validation(train_all, p.cifar_n_val, seed=p.seed)
    milestones = [max(1, round(f * p.cifar_epochs)) for f in p.cifar_milestones]
    nets: dict[str, nn.Module] = {}
    best: dict[str, int | None] = {}
    seconds: dict[str, float] = {}
    for name, method in recipes(p).items():
        norm = name.split("_")[-2]
        t0 = time.perf_counter()
        nets[name] = models.build(p.cifar_arch, generator=p.generator())
        history = fit_model(
            nets[name], method, train_data, val, select=p.select == "val_margin" and name.startswith("mma"),
            norm=norm, eps_init=radius_of(names(p, norm)[0][0]), steps=p.cifar_train_steps, seed=p.seed,
            scales=("cifar_n_train", "cifar_epochs", *_model_list(name)), val_scales=("cifar_n_val", "cifar_epochs"),
            epochs=p.cifar_epochs, batch_size=p.cifar_batch_size, lr=p.cifar_lr, milestones=milestones,
            gamma=p.cifar_gamma, weight_decay=p.cifar_weight_decay, augment=augment.random_crop_flip)
        nets[name].eval()
        best[name] = history.best_epoch
        seconds[name] = time.perf_counter() - t0
    x, y = test_data.x, test_data.y
    clean = {name: evaluate.accuracy(net, x, y) for name, net in nets.items()}
    curves: dict[str, dict[str, dict[float, float]]] = {}
    for norm in norms(p):
        pgds, mma = names(p, norm)
        attacked = [e for e in radii(p, norm) if e > 0]
        points = "cifar_curve_points" if norm == "linf" else "cifar_l2_curve_points"
        curves[norm] = {}
        for name in [*pgds, mma]:
            with cost.work("cifar_n_test", points, "cifar_eval_steps", *_model_list(name)):
                accs = accuracy_under_attack(nets[name], {name: nets[name]}, x, y, eps=attacked, norm=norm,
                                             steps=p.cifar_eval_steps, generator=p.generator(6))[name]
            curves[norm][name] = {0.0: clean[name], **accs}
    return CifarRun(nets, clean, curves, best, seconds, train_all.source, bool(getattr(train_all, "is_standin", False)),
                    len(train_data), len(y))


# ------------------------------------------------------------------------------------------- metrics and claims

def metrics_of(p: Params, r: CifarRun) -> dict[str, Any]:
    """The record's ``metrics["cifar"]``: data, models per norm, clean accuracies, curves, selected epochs."""
    return {"source": r.source, "is_standin": r.is_standin, "n_train": r.n_train, "n_test": r.n_test,
            "arch": p.cifar_arch, "norms": list(norms(p)),
            "models": {norm: {"pgd": names(p, norm)[0], "mma": names(p, norm)[1]} for norm in norms(p)},
            "clean_acc": r.clean_acc, "curves": r.curves, "best_epoch": r.best_epoch, "train_seconds": r.seconds}


def numbers(cifar: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per norm (from ``metrics["cifar"]`` as JSON holds it), in points: MMA minus the clean-accuracy-matched PGD-AT
    model (the first) at the small radii (at most that model's eps; the smallest attacked radius where the curve has
    none) and at the largest radius, the clean accuracies and the standard error of a difference of two."""
    out: dict[str, dict[str, Any]] = {}
    n = int(cifar["n_test"])
    for norm in cifar["norms"]:
        pgds, mma = cifar["models"][norm]["pgd"], cifar["models"][norm]["mma"]
        curve = {name: {float(k): float(v) for k, v in cifar["curves"][norm][name].items()} for name in [*pgds, mma]}
        matched = pgds[0]
        attacked = sorted(e for e in curve[mma] if e > 0)
        small = [e for e in attacked if e <= radius_of(matched) + 1e-9] or attacked[:1]
        gaps = {e: 100 * (curve[mma][e] - curve[matched][e]) for e in attacked}
        clean = {name: float(cifar["clean_acc"][name]) for name in [*pgds, mma]}
        ca, cb = clean[matched], clean[mma]
        out[norm] = {"pgds": pgds, "mma": mma, "matched": matched, "gaps": gaps,
                     "small": {e: gaps[e] for e in small}, "top": attacked[-1], "top_gap": gaps[attacked[-1]],
                     "clean": {k: 100 * v for k, v in clean.items()},
                     "clean_gap": 100 * (cb - ca), "clean_se": 100 * math.sqrt((ca * (1 - ca) + cb * (1 - cb)) / n)}
    return out


def _fmt(gaps: Mapping[float, float]) -> str:
    return ", ".join(f"{e:.4g}: {g:+.1f}" for e, g in gaps.items())


def claims(cifar: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The CIFAR-10 claims (§3, Fig. 3c/d), over the norms run: at matched clean accuracy MMA is similar (within
    :data:`~marginlib.papers.p001_mma.s05_training.L2_CLOSE`) at small radii and better at the largest; the PGD-AT
    model trained at the larger radius has the lower clean accuracy; and the premise, clean accuracies matched
    (informational)."""
    n = numbers(cifar)
    standin = " (labelled CIFAR-10 stand-in, not CIFAR-10)" if cifar.get("is_standin") else ""
    similar = max(abs(g) for v in n.values() for g in v["small"].values())
    better = min(v["top_gap"] for v in n.values())
    cost_gap = min(v["clean"][v["pgds"][0]] - v["clean"][v["pgds"][-1]] for v in n.values())
    matched = max(abs(v["clean_gap"]) / max(v["clean_se"], 1e-9) for v in n.values())
    where = "§3, CIFAR10 (Fig. 3c/d)"
    return {
        "cifar_mma_similar_at_small_eps": results.claim(
            similar <= 100 * L2_CLOSE, value=similar,
            paper=f'{where}: at similar clean accuracy (ℓ∞: PGD 8/255 vs MMA; ℓ2: PGD 0.5 vs MMA) "they have '
                  'similar robust accuracy for small perturbation lengths"',
            detail="; ".join(f"{norm}: MMA - {plain(v['matched'])} (points) at radii <= its eps: {_fmt(v['small'])}"
                             for norm, v in n.items())
                   + f" (each within ±{100 * L2_CLOSE:g}, the book's reading of 'similar'){standin}"),
        "cifar_mma_better_at_large_eps": results.claim(
            better > 0, value=better,
            paper=f'{where}: "MMA training outperforms PGD training when perturbation length becomes larger"',
            detail="; ".join(f"{norm}: MMA - {plain(v['matched'])} at the largest radius {v['top']:.4g}: "
                             f"{v['top_gap']:+.1f} points" for norm, v in n.items()) + f" (each > 0){standin}"),
        "cifar_larger_pgd_eps_costs_clean_acc": results.claim(
            cost_gap > 0, value=cost_gap,
            paper=f'{where}: models trained with larger PGD attacks may be more robust in "a certain band of ε, '
                  'but this is at the cost of losing clean accuracy"',
            detail="; ".join(f"{norm}: clean accuracy {plain(v['pgds'][0])} {v['clean'][v['pgds'][0]]:.1f}% vs "
                             f"{plain(v['pgds'][-1])} {v['clean'][v['pgds'][-1]]:.1f}%" for norm, v in n.items())
                   + f" (the smaller radius's higher){standin}"),
        "cifar_clean_acc_matched": results.claim(
            matched <= 2.0, value=matched,
            paper=f"{where}: the premise of the comparison, MMA and the matched PGD model at similar clean accuracy",
            detail="; ".join(f"{norm}: MMA - {plain(v['matched'])} clean {v['clean_gap']:+.1f} points "
                             f"({v['clean_se']:.1f} points one standard error)" for norm, v in n.items())
                   + f" (within 2 standard errors){standin}"),
    }


# ------------------------------------------------------------------------------------------- figure and text

def figure(p: Params, r: CifarRun) -> Figure:
    """Fig. 3c/d: white-box PGD robust accuracy against the radius per norm, dotted at each training radius."""
    ns = norms(p)
    fig, axes = plt.subplots(1, len(ns), figsize=(5.2 * len(ns), 3.9))
    axes = np.atleast_1d(axes)
    data_name = "CIFAR-10 stand-in (not CIFAR-10)" if r.is_standin else "CIFAR-10"
    for ax, norm, letter in zip(axes, ns, "cd" if len(ns) == 2 else ("c" if ns[0] == "linf" else "d")):
        pgds, mma = names(p, norm)
        shades = plt.get_cmap("Reds")(np.linspace(0.5, 0.9, len(pgds)))
        for name, color in [*zip(pgds, shades), (mma, "C0")]:
            eps = sorted(r.curves[norm][name])
            ax.plot(eps, [r.curves[norm][name][e] for e in eps], "o-", ms=4, color=color, label=label(name))
            ax.axvline(radius_of(name), color=color, ls=":", lw=1)
        ax.set(xlabel=f"${SYMBOL[norm]}$ perturbation length $\\epsilon$", ylabel="robust accuracy (white-box PGD)",
               ylim=(-0.02, 1.02), title=f"({letter}) {data_name}, ${SYMBOL[norm]}$")
        ax.legend(frameon=False, loc="upper right", fontsize=8)
    fig.tight_layout()
    return fig


def summary_text(p: Params, r: CifarRun | None, cifar: Mapping[str, Any] | None) -> str:
    """One glued paragraph: what the CIFAR-10 half ran and found, or that this profile does not run it."""
    if r is None or cifar is None:
        return ("This profile does not run the CIFAR-10 half (parameter `cifar` is `none`; the paper profile and "
                "its dry run select it): the paper's CIFAR-10 results are only curves (Fig. 3c/d), whose "
                "statements the table below quotes.")
    data_name = ("the labelled CIFAR-10 stand-in (synthetic images, not CIFAR-10; these numbers say nothing about "
                 "the paper's)" if r.is_standin else "CIFAR-10")
    parts = []
    for norm, v in numbers(cifar).items():
        parts.append(f"under {norm} MMA ({plain(v['mma'])}) minus {plain(v['matched'])} is "
                     f"{v['clean_gap']:+.1f} points clean, {_fmt(v['small'])} at the small radii and "
                     f"{v['top_gap']:+.1f} at the largest ({v['top']:.4g})")
    return (f"On {data_name}, {r.n_train:,} training and {r.n_test:,} test images, {p.cifar_arch}, "
            + "; ".join(parts) + ".")


def statements(p: Params, cifar: Mapping[str, Any] | None) -> pd.DataFrame:
    """What the paper states about CIFAR-10 (``book/data/paper001_cifar.csv``; the values are only in Fig. 3c/d)
    beside this run's number for each statement (— where the half did not run)."""
    paper = tables.read("paper001_cifar")
    here: dict[str, str] = {}
    if cifar is not None:
        n = numbers(cifar)
        here = {
            "models": "; ".join(f"{norm}: " + ", ".join(plain(m) for m in [*v["pgds"], v["mma"]])
                                for norm, v in n.items()),
            "similar_small_eps": "; ".join(f"{norm}: {_fmt(v['small'])}" for norm, v in n.items()),
            "better_large_eps": "; ".join(f"{norm}: {v['top_gap']:+.1f} points at {v['top']:.4g}"
                                          for norm, v in n.items()),
            "clean_cost": "; ".join(f"{norm}: " + ", ".join(f"{plain(m)} {v['clean'][m]:.1f}%" for m in v["pgds"])
                                    for norm, v in n.items()),
        }
        if cifar.get("is_standin"):
            here = {k: f"{v} (stand-in data)" for k, v in here.items()}
    paper["this run"] = [here.get(k, "—") for k in paper["id"]]
    return paper.set_index("id")


def show(p: Params, r: CifarRun | None) -> None:
    """Display :func:`figure` (nothing when the CIFAR-10 half did not run) and close it."""
    if r is None:
        return
    from IPython.display import display

    fig = figure(p, r)
    display(fig)
    plt.close(fig)
