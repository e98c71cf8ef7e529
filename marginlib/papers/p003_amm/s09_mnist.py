"""Paper 003 §3.3.3 and §4.1-4.3 on an MNIST MLP: aggregation x shrinkage, high-order gradients, the Elsayed et al.
baseline, fewer samples and noisy labels.

Notebook: ``notebooks/09_amm_mnist.ipynb``. Reproduces Table 1 and Fig. 2 (the reference MLP against the six
aggregation x shrinkage configurations of §3.3 with appendix Table 1's ``lambda, c, d``,
:data:`marginlib.papers.p003_amm.config.APPENDIX_TABLE1`), Table 2 and Fig. 3 (AMM MIN+EXP with and without
high-order gradients, §3.1 and §4.3.1, and the Elsayed et al. hinge), Fig. 4 (fewer training samples), Fig. 5
(noisy labels, §4.3.3) and the MLP / LeNet / LiuNet rows of Table 3, every model evaluated by its test error and
its two mean DeepFool test margins (:func:`marginlib.papers.p003_amm.benchmarks.error_and_margin`), with mean and
std over seeds (:func:`marginlib.papers.p003_amm.benchmarks.summarize_runs`).

Flow: :func:`load_data`; :func:`train_runs` (the configurations of :attr:`Params.trained`, in that order, each over
the seeds :attr:`Params.seed_range`, one model per :func:`train_one`); :func:`train_sweeps` (Figs. 4-5 and Table 3
after them); :func:`figure_curves`, :func:`figure_data` and :func:`paper_table` render; :func:`record` and
:func:`quoted` give the record and the prose's numbers.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from marginlib import data, methods, models, train, validate
from marginlib.book.results import claim
from marginlib.data import Dataset
from marginlib.methods import Method
from marginlib.papers import tables
from marginlib.papers.p003_amm import benchmarks, config, label_noise

NOTEBOOK = "09_amm_mnist"

#: the reference MLP: cross-entropy with the paper's gradient clipping (§4.2)
REFERENCE = "reference"
#: AMM MIN+EXP with the gradient through the input gradients masked (§4.3.1, Table 2)
NO_HIGH_ORDER = "MIN+EXP w/o high order"
#: the Elsayed et al. (2018) linearized-margin hinge (§4.3.1, Fig. 3)
ELSAYED = "elsayed"
#: the methods of Table 2 / Fig. 3, Fig. 4 and Fig. 5, in this order
COMPETITORS = (REFERENCE, ELSAYED, NO_HIGH_ORDER, "MIN+EXP")
#: the extra architectures Table 3 compares with the MLP (``models.build`` names)
ARCHITECTURES = ("lenet", "liunet")
#: Table 3's architecture names -> ours
TABLE3_ARCHITECTURES = {"MLP (800)": "mlp", "LeNet": "lenet", "LiuNet": "liunet"}
#: one colour per method in both figures
COLORS = dict(zip((REFERENCE, "MIN+EXP", NO_HIGH_ORDER, ELSAYED, "AVG+LIN", "AVG+INV", "AVG+EXP", "MIN+LIN",
                   "MIN+INV"), plt.get_cmap("tab10").colors))  # type: ignore[attr-defined]
#: the summary keys kept per architecture in the record (Table 3)
ARCH_KEYS = ("error_mean", "error_std", "deepfool_margin", "released_margin")

Summary = dict[str, Any]


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults; lists as tuples)."""

    profile: str = "demo"
    n_train: int = 2000
    n_test: int = 0
    hidden: int = 256
    epochs: int = 20
    batch_size: int = 100
    lr: float = 0.02
    weight_decay: float = 0.0001
    seeds: int = 1
    seed: int = 0
    configs: str = "core"
    elsayed_lam: float = 10.0
    elsayed_gamma: float = 0.5
    margin_points: int = 500
    sample_sizes: tuple[int, ...] = (500, 1000, 2000)
    noisy_clean: tuple[int, ...] = ()
    architectures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        validate.choice("configs", self.configs, ("core", "all"))
        for name in ("hidden", "epochs", "batch_size", "seeds"):
            validate.positive(name, getattr(self, name))
        for name in ("n_train", "n_test", "margin_points"):
            validate.nonnegative(name, getattr(self, name))
        for arch in self.architectures:
            validate.choice("architectures", arch, ARCHITECTURES)
        for size in self.sample_sizes:
            validate.positive("sample_sizes", size)
        for n_clean in self.noisy_clean:
            validate.nonnegative("noisy_clean", n_clean)
            if self.n_train and n_clean > self.n_train:
                raise ValueError(f"noisy_clean={self.noisy_clean!r}: each entry is a number of correctly labelled "
                                 f"training images, at most n_train={self.n_train}")

    @property
    def table1(self) -> list[str]:
        """The rows of Table 1 trained: the reference and MIN+EXP (``configs="core"``) or all six configurations."""
        return [REFERENCE] + (list(config.CONFIGURATIONS) if self.configs == "all" else ["MIN+EXP"])

    @property
    def trained(self) -> list[str]:
        """Every configuration trained on the main training set, in training order (Table 1, then Table 2)."""
        return list(dict.fromkeys([*self.table1, NO_HIGH_ORDER, ELSAYED]))

    @property
    def seed_range(self) -> range:
        """The seeds of each configuration: ``seed, ..., seed + seeds - 1``."""
        return range(self.seed, self.seed + self.seeds)

    @property
    def schedule(self) -> config.Schedule:
        """Every method's schedule: x0.1 after half and four fifths of training (paper: epochs 50 and 80 of 100)."""
        return config.Schedule.decaying(self.batch_size, self.epochs, self.lr)


def method(name: str, p: Params) -> Method:
    """The training objective of configuration ``name``: the clipped cross-entropy reference, AMM with appendix
    Table 1's settings (eq. (7)), MIN+EXP without high-order gradients, or the Elsayed et al. hinge."""
    if name == REFERENCE:
        return benchmarks.reference_method()
    if name == ELSAYED:
        return methods.build("elsayed", lam=p.elsayed_lam, gamma=p.elsayed_gamma)
    if name == NO_HIGH_ORDER:
        return methods.build("amm", **config.MIN_EXP, high_order=False)
    return methods.build("amm", **config.APPENDIX_TABLE1[validate.choice("name", name, config.CONFIGURATIONS)])


# ----------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Data:
    """The MNIST sets of the section: ``full`` (every training image, for Fig. 4's subsets), ``train`` (the
    class-stratified ``n_train`` subset), ``test``, the first ``n_margin`` test images carry DeepFool margins, and
    ``mean``, the mean training pixel the models subtract (§4.1.1)."""

    full: Dataset
    train: Dataset
    test: Dataset
    n_margin: int
    mean: float

    def describe(self) -> str:
        return (f"{len(self.train)} training and {len(self.test)} test images ({self.train.source}); "
                f"DeepFool margins on {self.n_margin} test images")


def load_data(p: Params) -> Data:
    """MNIST with the paper's pre-processing (§4.1.1): pixels in [0, 1], the mean training pixel subtracted inside
    the model; ``n_train`` / ``n_test`` 0 keep every image."""
    full = data.load("mnist", split="train", verbose=False)
    train_set = data.load("mnist", split="train", n=p.n_train or None)  # a class-stratified subset (seed 0)
    test_set = data.load("mnist", split="test", n=p.n_test or None)
    return Data(full, train_set, test_set, n_margin=min(p.margin_points or len(test_set), len(test_set)),
                mean=float(train_set.x.mean()))


# ------------------------------------------------------------------------------------------------ training


def train_one(p: Params, d: Data, name: str, seed: int, *, train_data: Dataset | None = None,
              arch: str = "mlp") -> dict[str, Any] | None:
    """Train one model of configuration ``name`` from ``seed`` (SGD, momentum 0.9, :attr:`Params.schedule`, §4.2)
    on ``train_data`` (default: the main training set) and return its
    :func:`~marginlib.papers.p003_amm.benchmarks.error_and_margin` with the test-error ``curve`` per epoch and the
    training ``seconds``; ``None`` when it diverged (reported, and left out of the means)."""
    size: dict[str, Any] = {"hidden": (p.hidden, p.hidden)} if arch == "mlp" else {}
    model = models.build(arch, mean=d.mean, seed=seed, **size)
    try:
        history = train.fit(model, method(name, p), train_data if train_data is not None else d.train,
                            **p.schedule.fit_kw(), weight_decay=p.weight_decay, seed=seed, eval_train=False,
                            eval_data=d.test, progress=False)
    except FloatingPointError as error:  # reported and left out of the mean, never hidden
        print(f"{name} (seed {seed}) diverged: {error}")
        return None
    return {**benchmarks.error_and_margin(model, d.test, margin_points=d.n_margin),
            "curve": history.column("test_error"), "seconds": sum(history.column("seconds"))}


def train_config(p: Params, d: Data, name: str, *, train_data: Dataset | None = None,
                 arch: str = "mlp") -> Summary:
    """:func:`train_one` at every seed of :attr:`Params.seed_range`, summarized (mean and std over seeds)."""
    runs = [train_one(p, d, name, s, train_data=train_data, arch=arch) for s in p.seed_range]
    return benchmarks.summarize_runs(runs, epochs=p.epochs)


def train_runs(p: Params, d: Data) -> dict[str, Summary]:
    """Tables 1-2, Figs. 2-3: every configuration of :attr:`Params.trained` on the main training set."""
    return {name: train_config(p, d, name) for name in p.trained}


def runs_text(runs: Mapping[str, Summary], p: Params) -> str:
    """One line per configuration: error, both margins, seconds per run, diverged runs."""
    return "\n".join(
        f"{name:24s} error {r['error_mean']:.2f} +- {r['error_std']:.2f} %, "
        f"DeepFool test margin {r['deepfool_margin']:.3f} (released code's {r['released_margin']:.3f}), "
        f"{r['seconds_per_run']:.0f} s per run"
        + (f", {r['diverged']} of {p.seeds} runs diverged" if r["diverged"] else "") for name, r in runs.items())


@dataclass(frozen=True)
class Sweeps:
    """Fig. 4 (``fewer[name]``: one summary per ``sample_sizes``), Fig. 5 (``noisy[name]``: one per
    ``noisy_clean``) and Table 3 (``architectures[arch][name]`` for the reference and MIN+EXP)."""

    fewer: dict[str, list[Summary]]
    noisy: dict[str, list[Summary]]
    architectures: dict[str, dict[str, Summary]]


def _sweep(p: Params, d: Data, runs: Mapping[str, Summary], values: Sequence[int],
           make_data: Callable[[int], Dataset], *, reuse: int | None = None) -> dict[str, list[Summary]]:
    """Summaries of :data:`COMPETITORS` per value; the value ``reuse`` is the main training set (runs reused)."""
    out: dict[str, list[Summary]] = {name: [] for name in COMPETITORS}
    for v in values:
        train_data = None if v == reuse else make_data(v)
        for name in COMPETITORS:
            out[name].append(runs[name] if train_data is None else train_config(p, d, name, train_data=train_data))
    return out


def train_sweeps(p: Params, d: Data, runs: Mapping[str, Summary]) -> Sweeps:
    """Fig. 4 (class-stratified subsets of the full training set, seed 0), Fig. 5 (``n_clean`` correct labels,
    the rest random, §4.3.3) and Table 3's other architectures, in this order."""
    fewer = _sweep(p, d, runs, p.sample_sizes,
                   lambda n: d.full.subset(data.stratified_subset(d.full.y, n, seed=0)), reuse=len(d.train))
    noisy = _sweep(p, d, runs, p.noisy_clean, lambda n: label_noise.with_random_labels(d.train, n, seed=0))
    archs = {arch: {name: train_config(p, d, name, arch=arch) for name in (REFERENCE, "MIN+EXP")}
             for arch in p.architectures}
    return Sweeps(fewer, noisy, archs)


# ------------------------------------------------------------------------------------------------ figures


def _curves_panel(ax: Axes, runs: Mapping[str, Summary], names: Sequence[str], title: str, epochs: int) -> None:
    for name in names:
        ax.plot(range(1, epochs + 1), np.array(runs[name]["curve"]) * 100, label=name, color=COLORS[name])
    final = max(runs[name]["curve"][-1] for name in names) * 100
    ax.set(xlabel="epoch", ylabel="test error (%)", title=title, ylim=(0, 2.5 * final))
    ax.legend(frameon=False, fontsize=8)


def figure_curves(runs: Mapping[str, Summary], p: Params) -> Figure:
    """Figs. 2-3: test error during training, (a) Table 1's configurations, (b) Table 2's and Elsayed et al."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    _curves_panel(axes[0], runs, p.table1, "(a) aggregation x shrinkage (Fig. 2)", p.epochs)
    _curves_panel(axes[1], runs, [REFERENCE, ELSAYED, NO_HIGH_ORDER, "MIN+EXP"],
                  "(b) high-order gradients and Elsayed et al. (Fig. 3)", p.epochs)
    fig.tight_layout()
    return fig


def _sweep_panel(ax: Axes, values: Sequence[int], results: Mapping[str, list[Summary]], xlabel: str,
                 title: str) -> None:
    if values:
        for name in COMPETITORS:
            m = np.array([r["error_mean"] for r in results[name]])
            s = np.array([r["error_std"] for r in results[name]])
            ax.plot(values, m, marker="o", label=name, color=COLORS[name])
            ax.fill_between(values, m - s, m + s, alpha=0.2, color=COLORS[name])
        ax.legend(frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "not run at this profile\n(run the paper profile)", ha="center", va="center",
                transform=ax.transAxes)
        ax.set(xticks=[], yticks=[])
    ax.set(xlabel=xlabel, ylabel="test error (%)", title=title)


def figure_data(sweeps: Sweeps, p: Params) -> Figure:
    """Figs. 4-5: test error against (a) the training-set size, (b) the number of correct labels (mean +- std)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    _sweep_panel(axes[0], p.sample_sizes, sweeps.fewer, "training images", "(a) fewer training samples (Fig. 4)")
    _sweep_panel(axes[1], p.noisy_clean, sweeps.noisy, "correctly labelled training images",
                 "(b) noisy labels (Fig. 5)")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------ record, tables


def record(runs: Mapping[str, Summary], sweeps: Sweeps, d: Data, p: Params) -> dict[str, Any]:
    """The section's metrics and the paper's three MLP claims (Tables 1-2)."""
    ref, amm, noho = runs[REFERENCE], runs["MIN+EXP"], runs[NO_HIGH_ORDER]
    claims = {
        "amm_min_exp_beats_reference": claim(
            amm["error_mean"] < ref["error_mean"], required_at=["demo", "paper"],
            detail=f"test error MIN+EXP {amm['error_mean']:.2f}% vs reference {ref['error_mean']:.2f}%"),
        "amm_larger_margin": claim(
            amm["deepfool_margin"] > ref["deepfool_margin"], required_at=["demo", "paper"],
            detail=f"mean DeepFool test margin MIN+EXP {amm['deepfool_margin']:.3f} vs reference "
                   f"{ref['deepfool_margin']:.3f}"),
        "high_order_gradients_help": claim(
            amm["error_mean"] < noho["error_mean"], required_at=["paper"],
            detail=f"test error with {amm['error_mean']:.2f}% vs without {noho['error_mean']:.2f}% high-order "
                   f"gradients (diverged runs, left out: {amm['diverged']} with, {noho['diverged']} without)"),
    }
    metrics = {
        "source": d.train.source, "n_train": len(d.train), "n_test": len(d.test), "n_margin": d.n_margin,
        "error": {n: {"mean": r["error_mean"], "std": r["error_std"]} for n, r in runs.items()},
        "deepfool_margin": {n: r["deepfool_margin"] for n, r in runs.items()},
        "released_margin": {n: r["released_margin"] for n, r in runs.items()},
        "curves": {n: r["curve"] for n, r in runs.items()},
        "seconds_per_run": {n: r["seconds_per_run"] for n, r in runs.items()},
        "diverged_runs": {n: r["diverged"] for n, r in runs.items()},
        "fewer_samples": {"sizes": list(p.sample_sizes),
                          **{n: [r["error_mean"] for r in v] for n, v in sweeps.fewer.items()}},
        "noisy_labels": {"clean": list(p.noisy_clean),
                         **{n: [r["error_mean"] for r in v] for n, v in sweeps.noisy.items()}},
        "architectures": {a: {n: {k: r[k] for k in ARCH_KEYS} for n, r in v.items()}
                          for a, v in sweeps.architectures.items()},
    }
    return {"metrics": metrics, "claims": claims}


def quoted(runs: Mapping[str, Summary]) -> dict[str, object]:
    """The numbers the prose glues: errors and margins of the reference, MIN+EXP (twice: two paragraphs quote
    it), MIN+EXP without high-order gradients and Elsayed et al.; AMM's training time over the reference's."""
    ref, amm, noho, els = runs[REFERENCE], runs["MIN+EXP"], runs[NO_HIGH_ORDER], runs[ELSAYED]
    return {"ref_err": ref["error_mean"], "minexp_err": amm["error_mean"], "minexp_err2": amm["error_mean"],
            "noho_err": noho["error_mean"], "elsayed_err": els["error_mean"],
            "ref_margin": ref["deepfool_margin"], "minexp_margin": amm["deepfool_margin"],
            "minexp_margin2": amm["deepfool_margin"], "noho_margin": noho["deepfool_margin"],
            "elsayed_margin": els["deepfool_margin"],
            "cost_ratio": amm["seconds_per_run"] / ref["seconds_per_run"]}


def _ours(runs: Mapping[str, Summary], sweeps: Sweeps, name: str, arch: str = "mlp") -> tuple[str, str, str]:
    r = runs.get(name) if arch == "mlp" else sweeps.architectures.get(arch, {}).get(name)
    if r is None:
        return "—", "—", "—"
    return f"{r['error_mean']:.2f} ± {r['error_std']:.2f}", f"{r['released_margin']:.3f}", f"{r['deepfool_margin']:.3f}"


def paper_table(runs: Mapping[str, Summary], sweeps: Sweeps) -> pd.DataFrame:
    """Paper 003's Tables 1-3 (``book/data``) beside this run's error and both margins; "—" where not trained."""
    t1, t2, t3 = (tables.read(f"paper003_table{i}") for i in (1, 2, 3))
    rows = []
    for _, r in t1.iterrows():
        name = REFERENCE if r.method == "baseline" else f"{r.aggregation}+{r.shrinkage}"
        rows.append(("Table 1", name, f"{r.error_mean:.2f} ± {r.error_std:.2f}", "—", *_ours(runs, sweeps, name)))
    table2 = {"Reference": REFERENCE, "AMM w/o high order gradients": NO_HIGH_ORDER,
              "AMM w/ high order gradients": "MIN+EXP"}
    for _, r in t2.iterrows():
        rows.append(("Table 2", r.model, f"{r.error_mean:.2f} ± {r.error_std:.2f}", "—",
                     *_ours(runs, sweeps, table2[r.model])))
    rows.append(("Table 2 / Fig. 3", "Elsayed et al. (ours: single step, hinge)", "above 1.46 (Fig. 3)", "—",
                 *_ours(runs, sweeps, ELSAYED)))
    for _, r in t3[t3.method.isin(["Reference", "AMM"])].iterrows():
        name = REFERENCE if r.method == "Reference" else "MIN+EXP"
        rows.append(("Table 3", f"{r.method}, {r.architecture}", f"{r.error_mean:.2f} ± {r.error_std:.2f}",
                     f"{r.margin:.2f}", *_ours(runs, sweeps, name, TABLE3_ARCHITECTURES[r.architecture])))
    return pd.DataFrame(rows, columns=["source", "row", "paper error (%)", "paper margin", "this run error (%)",
                                       "this run margin (released code's)", "this run margin (book's)"]
                        ).set_index(["source", "row"])
