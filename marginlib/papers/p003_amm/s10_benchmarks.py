"""Paper 003 §4.1-4.2 and §4.4-4.5: reference networks against AMM (MIN+EXP) on image benchmarks, ImageNet
fine-tuning, and what AMM costs.

Notebook: ``notebooks/10_amm_benchmarks.ipynb``. Reproduces Tables 4-6 (LeNet, NIN, LiuNet, ResNet-20/56 and
DenseNet-40 on CIFAR-10, CIFAR-100 and SVHN with appendix Table 2's schedules,
:func:`marginlib.papers.p003_amm.config.appendix_table2`), the MNIST LeNet rows of Table 3 (the demo's pair),
Table 7 (fine-tuning a user-supplied pretrained ImageNet model) and §4.5's cost ratios. AMM is
:data:`marginlib.papers.p003_amm.config.BENCHMARK_AMM` everywhere; the training and evaluation helpers are
:mod:`marginlib.papers.p003_amm.benchmarks`.

Flow: :func:`load_data`; :func:`train_benchmarks` (per data set and architecture, :meth:`Params.schedules`, one
:func:`~marginlib.papers.p003_amm.benchmarks.train_pair` per seed, the pair's errors and margins, then the cost of
the first seed's pair); :func:`run_imagenet`; :func:`figure_pairs`, :func:`cost_frame`, :func:`imagenet_frame` and
:func:`paper_table` render; :func:`record` and :func:`quoted` give the record and the prose's numbers.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from marginlib import data, validate
from marginlib.augment import random_crop_flip
from marginlib.book.results import claim
from marginlib.cost import work
from marginlib.data import Dataset
from marginlib.papers import tables
from marginlib.papers.p003_amm import benchmarks as bench
from marginlib.papers.p003_amm import config
from marginlib.train import History

NOTEBOOK = "10_amm_benchmarks"

#: claim ``cost_in_paper_range``: §4.5 reports "6-14x more wall clock time per epoch" (GPUs) ...
PAPER_TIME_RATIO = (config.paper_number("cost_time_low"), config.paper_number("cost_time_high"))
#: ... "and 2-4x GPU memory" of cross-entropy training (``book/data/paper003_quotes.csv``)
PAPER_MEMORY_RATIO = (config.paper_number("cost_memory_low"), config.paper_number("cost_memory_high"))
#: the torchvision ImageNet architectures -> their names in appendix Table 2 and Table 7
IMAGENET_NAMES = {"resnet18": "ResNet-18", "resnet50": "ResNet-50"}
#: the methods of a pair, as the figure labels them
METHODS = {"reference": "reference", "reference_continued": "reference, continued", "amm": "AMM (MIN+EXP)"}
COLORS = dict(zip(METHODS, plt.get_cmap("tab10").colors))  # type: ignore[attr-defined]
#: the paper's tables beside this run's: (source, data set, ``book/data`` table)
PAPER_TABLES = (("Table 3", "MNIST", "paper003_table3"), ("Table 4", "CIFAR-10", "paper003_table4"),
                ("Table 5", "CIFAR-100", "paper003_table5"), ("Table 6", "SVHN", "paper003_table6"),
                ("Table 7", "ImageNet", "paper003_table7"))
NO_RESULT = ("—", "—", "—")
#: the training and test images of each data set at the paper's scale (§4.1: MNIST 60k/10k, CIFAR 50k/10k, SVHN
#: ~604k train+extra / 26,032 test), which ``images_per_50k`` scales (CIFAR-10's stand-in counts as CIFAR-10)
PAPER_SIZES = {"mnist": (60000, 10000), "cifar10": (50000, 10000), "cifar100": (50000, 10000),
               "svhn": (604388, 26032)}
#: ``crop``: the released code's 32x32 crops of the 4-pixel zero-padded image, or the text's (§4.1.2) 32x32 crops of
#: the image resized to 36x36
CROPS = ("pad4", "resize36")
#: the columns of the cost table (§4.5)
COST_COLUMNS = ("time per epoch (trainer)", "time per step", "memory saved for backward", "AMM step (s)",
                "reference step (s)")

Summary = dict[str, Any]


@dataclass(frozen=True)
class Params:
    """The notebook's parameters cell (same names, order and defaults; lists as tuples)."""

    profile: str = "demo"
    datasets: tuple[str, ...] = ("mnist",)
    architectures: tuple[str, ...] = ("LeNet",)
    schedule: str = "demo"
    n_train: int = 1500
    n_test: int = 0
    batch_size: int = 100
    ref_epochs: int = 20
    ref_lr: float = 0.02
    amm_epochs: int = 3
    amm_lr: float = 0.005
    amm_scratch: bool = False
    seeds: int = 1
    seed: int = 0
    margin_points: int = 500
    cost_repeat: int = 1
    imagenet_arch: str = "resnet18"
    imagenet_weights: str = ""
    imagenet_data: str = ""
    amm_lam: float = 32.0
    amm_c: float = 2.0
    amm_d: float = 1.0
    crop: str = "pad4"
    source: str = "auto"
    images_per_50k: int = 50000
    epochs_per_400: int = 400

    def __post_init__(self) -> None:
        bad = sorted(set(self.architectures) - set(bench.ARCHITECTURES) | set(self.datasets) - set(bench.DATASETS))
        if bad:
            raise ValueError(f"unknown names {bad}: architectures among {list(bench.ARCHITECTURES)}, "
                             f"datasets among {list(bench.DATASETS)}")
        for name in ("datasets", "architectures"):
            if not getattr(self, name):
                raise ValueError(f"{name} is empty: name at least one (the claims compare the pairs trained)")
        validate.choice("schedule", self.schedule, ("demo", "paper"))
        validate.choice("imagenet_arch", self.imagenet_arch, bench.IMAGENET_ARCHITECTURES)
        validate.choice("crop", self.crop, CROPS)
        validate.choice("source", self.source, data.SOURCES)
        for name in ("amm_lam", "amm_c", "amm_d", "images_per_50k", "epochs_per_400"):
            validate.positive(name, getattr(self, name))
        for name, whole in (("images_per_50k", 50000), ("epochs_per_400", 400)):
            if getattr(self, name) > whole:
                raise ValueError(f"{name}={getattr(self, name)!r}: a cut of the paper's sizes, at most {whole}")
        for name in ("batch_size", "ref_epochs", "ref_lr", "amm_epochs", "amm_lr", "seeds", "cost_repeat"):
            validate.positive(name, getattr(self, name))
        for name in ("n_train", "n_test", "margin_points"):
            validate.nonnegative(name, getattr(self, name))
        if bool(self.imagenet_weights) != bool(self.imagenet_data):
            raise ValueError(f"imagenet_weights={self.imagenet_weights!r}, imagenet_data={self.imagenet_data!r}: "
                             "the ImageNet fine-tuning needs both paths (or neither, to skip it)")

    @property
    def seed_range(self) -> range:
        """The seeds of each pair: ``seed, ..., seed + seeds - 1``."""
        return range(self.seed, self.seed + self.seeds)

    @property
    def amm_options(self) -> dict[str, Any]:
        """AMM's keywords (:data:`marginlib.papers.p003_amm.config.BENCHMARK_AMM` with ``amm_lam, amm_c, amm_d``)."""
        return {**config.BENCHMARK_AMM, "lam": self.amm_lam, "c": self.amm_c, "d": self.amm_d}

    def schedules(self, dataset: str, architecture: str) -> tuple[config.Schedule, config.Schedule]:
        """(reference, AMM) schedules: the demo's for every pair (x0.1 after 1/2 and 4/5 of each run's epochs), or
        appendix Table 2's row for the pair (``schedule="paper"``); both cut to ``epochs_per_400 / 400`` of their
        epochs (:func:`shortened`)."""
        if self.schedule == "demo":
            pair = (config.Schedule.decaying(self.batch_size, self.ref_epochs, self.ref_lr),
                    config.Schedule.decaying(self.batch_size, self.amm_epochs, self.amm_lr, scratch=self.amm_scratch))
        else:
            pair = config.appendix_table2(bench.DATASETS[dataset], architecture)
        fraction = self.epochs_per_400 / 400
        return (shortened(pair[0], fraction), shortened(pair[1], fraction))

    def augment(self, dataset: str) -> Any:
        """The training augmentation of ``dataset`` (:data:`~marginlib.papers.p003_amm.benchmarks.AUGMENTATIONS`,
        the released code's crops) or, with ``crop="resize36"``, the text's crops of the resized image."""
        base = bench.AUGMENTATIONS[dataset]
        if base is None or self.crop == "pad4":
            return base
        return partial(random_crop_flip, resize=36, padding=0, flip=dataset != "svhn")

    def sizes(self, dataset: str) -> tuple[int | None, int | None]:
        """The ``n`` of :func:`marginlib.data.load` for the training and the test set: ``n_train`` / ``n_test``
        (0: all), or with ``images_per_50k`` below 50000 that many per 50,000 of the paper's sizes
        (:data:`PAPER_SIZES`: CIFAR's 50k training images become ``images_per_50k``)."""
        if self.images_per_50k == 50000:
            return self.n_train or None, self.n_test or None
        n_train, n_test = (max(1, int(round(self.images_per_50k * n / 50000))) for n in PAPER_SIZES[dataset])
        return n_train, n_test


def shortened(schedule: config.Schedule, fraction: float) -> config.Schedule:
    """``schedule`` with its epochs and milestones times ``fraction`` (rounded, at least one epoch; milestones that
    fall outside the run are dropped): the same shape, shorter; ``fraction`` 1 returns it unchanged."""
    if fraction == 1:
        return schedule
    epochs = max(1, int(round(schedule.epochs * fraction)))
    milestones = tuple(m for m in (int(round(m * fraction)) for m in schedule.milestones) if 0 < m < epochs)
    return dataclasses.replace(schedule, epochs=epochs, milestones=milestones)


# ----------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Loaded:
    """``sets[dataset] = (train, test)`` for every data set that could be loaded; ``missing[dataset]`` says why
    one was skipped (no files under ``$MARGINLIB_DATA``, or only CIFAR-10's stand-in at ``paper``)."""

    sets: dict[str, tuple[Dataset, Dataset]]
    missing: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        """One line per data set: its sizes and source, or why it was skipped."""
        return "\n".join([f"{name}: {len(tr)} training and {len(te)} test images ({tr.source})"
                          for name, (tr, te) in self.sets.items()]
                         + [f"skipped {need}" for need in self.missing.values()])


def load_data(p: Params) -> Loaded:
    """Each of ``datasets`` (class-stratified ``n_train`` / ``n_test`` subsets, 0: all), the training split the
    paper's schedule uses (SVHN: ``train+extra``, §4.1.2) at ``schedule="paper"``."""
    missing: dict[str, str] = {}
    sets: dict[str, tuple[Dataset, Dataset]] = {}
    for name in p.datasets:
        split = bench.PAPER_TRAIN_SPLITS[name] if p.schedule == "paper" else "train"
        try:
            train_full = data.load(name, split=split, verbose=False, source=p.source)
        except (FileNotFoundError, ValueError) as err:  # cifar100 and svhn have no offline data
            missing[name] = str(err)
            continue
        if train_full.is_standin and p.profile == "paper" and p.source != "offline":
            missing[name] = (f"{name}: only the synthetic stand-in is available; put the full data set under "
                             "$MARGINLIB_DATA")
            continue
        n_train, n_test = p.sizes(name)
        train_set = data.load(name, split=split, n=n_train, source=p.source)  # a class-stratified subset (seed 0)
        test_set = data.load(name, split="test", n=n_test, source=p.source)
        sets[name] = (train_set, test_set)
    return Loaded(sets, missing)


# ------------------------------------------------------------------------------------------------ training


@dataclass(frozen=True)
class Benchmarks:
    """Per pair key ``"<architecture> (<data set>)"``: ``rows[key][method]`` (error and margins over seeds,
    :func:`~marginlib.papers.p003_amm.benchmarks.summarize`), ``cost[key]`` (§4.5 ratios of the first seed's
    pair) and ``histories[key][method]`` (the first seed's training histories)."""

    rows: dict[str, dict[str, Summary]]
    cost: dict[str, dict[str, float]]
    histories: dict[str, dict[str, History]]

    @property
    def first(self) -> str | None:
        """The first pair's key (the one the figure's panel (a) and the prose describe)."""
        return next(iter(self.rows), None)


#: the parameters a pair's training scales with (:func:`marginlib.cost.work`; CIFAR-100 and SVHN, which a dry run
#: cannot load, counted as CIFAR-10-sized) ...
WORK_TRAIN = ("datasets", "architectures", "seeds", "images_per_50k", "epochs_per_400")
#: ... and its evaluation on the test set
WORK_TEST = ("datasets", "architectures", "seeds", "images_per_50k")


def pair_key(dataset: str, architecture: str) -> str:
    return f"{architecture} ({bench.DATASETS[dataset]})"


def train_benchmarks(p: Params, loaded: Loaded) -> Benchmarks:
    """Tables 3-6 (§4.4): for every data set and architecture, ``seeds`` reference/AMM pairs (the seeds of
    :attr:`Params.seed_range`: initialization, batch order and augmentation; the data subsets are fixed), each
    evaluated on the test set, then AMM's cost on a training batch of the first seed's reference (§4.5)."""
    rows: dict[str, dict[str, Summary]] = {}
    cost: dict[str, dict[str, float]] = {}
    histories: dict[str, dict[str, History]] = {}
    for name, (train_set, test_set) in loaded.sets.items():
        c, side = train_set.x.shape[1], train_set.x.shape[-1]
        mean = train_set.x.mean(dim=(0, 2, 3)).tolist()
        for arch in p.architectures:
            key = pair_key(name, arch)
            ref_s, amm_s = p.schedules(name, arch)
            model_kw = dict(bench.model_kwargs(arch, name, num_classes=int(train_set.y.max()) + 1, in_channels=c,
                                               input_size=side), mean=mean)
            per_seed = []
            for seed in p.seed_range:
                with work(*WORK_TRAIN):
                    pair = bench.train_pair(arch, train_set, dataset=name, reference=ref_s, amm=amm_s,
                                            amm_options=p.amm_options, model_kw=model_kw, seed=seed,
                                            eval_data=test_set, augment=p.augment(name))
                with work(*WORK_TEST):
                    per_seed.append({m: bench.error_and_margin(run["model"], test_set,
                                                               margin_points=p.margin_points or None)
                                     for m, run in pair.items()})
                if seed == p.seed:
                    histories[key] = {m: run["history"] for m, run in pair.items()}
                    first = pair
            rows[key] = bench.summarize(per_seed)
            xb, yb = train_set.x[:ref_s.batch_size], train_set.y[:ref_s.batch_size]
            with work("datasets", "architectures", "cost_repeat"):
                ratios = bench.cost_ratios(first["reference"]["model"], xb, yb, amm_options=p.amm_options,
                                           repeat=p.cost_repeat)
            cost[key] = {**ratios, "epoch_time_ratio": bench.epoch_time_ratio(first)}
    return Benchmarks(rows, cost, histories)


def report(b: Benchmarks) -> str:
    """One line per method of each pair (error, both margins) and one with the pair's cost ratios."""
    lines = []
    for key, row in b.rows.items():
        lines += [f"{key:28s} {m:20s} error {r['error_mean']:.2f} +- {r['error_std']:.2f} %, "
                  f"mean DeepFool test margin {r['deepfool_margin']:.3f} (released code's {r['released_margin']:.3f})"
                  for m, r in row.items()]
        k = b.cost[key]
        lines.append(f"{key:28s} AMM cost: {k['epoch_time_ratio']:.0f}x time per epoch (trainer), "
                     f"{k['time_ratio']:.0f}x per step, {k['memory_ratio']:.1f}x memory saved for backward")
    return "\n".join(lines)


def run_imagenet(p: Params) -> dict[str, dict[str, float]]:
    """Table 7 (§4.4.5): fine-tune the user-supplied ImageNet model with AMM and with cross-entropy for appendix
    Table 2's schedule of its architecture, batch norms frozen; ``{}`` when no ImageNet paths are given."""
    if not p.imagenet_weights:
        return {}
    net = bench.load_imagenet_model(p.imagenet_arch, p.imagenet_weights)
    tensors = bench.load_imagenet_tensors(p.imagenet_data)
    _, schedule = config.appendix_table2("ImageNet", IMAGENET_NAMES[p.imagenet_arch])
    return bench.finetune_imagenet(net, tensors, schedule=schedule, margin_points=p.margin_points or None)


# ------------------------------------------------------------------------------------------------ figures


def figure_pairs(b: Benchmarks) -> Figure:
    """Reference vs. AMM: (a) the first pair's test error during training (the fine-tuning runs start where the
    reference ended), (b) each pair's final test error and (c) its mean DeepFool test margin."""
    keys = list(b.rows)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    if keys:
        hist = b.histories[keys[0]]
        n_ref = len(hist["reference"].rows)
        for m, h in hist.items():
            start = 0 if m == "reference" else n_ref
            e = np.arange(start + 1, start + len(h.rows) + 1)
            axes[0].plot(e, np.array(h.column("test_error")) * 100, marker="o" if len(e) < 6 else None, ms=3,
                         color=COLORS[m], label=METHODS[m])
        axes[0].set(xlabel="epoch", ylabel="test error (%)", title=f"(a) {keys[0]}",
                    ylim=(0, 3 * max(r["error_mean"] for r in b.rows[keys[0]].values())))
        axes[0].legend(frameon=False, fontsize=8)
        width = 0.8 / 3
        for i, m in enumerate(METHODS):
            xs = [j + (i - 1) * width for j, k in enumerate(keys) if m in b.rows[k]]
            got = [b.rows[k][m] for k in keys if m in b.rows[k]]
            axes[1].bar(xs, [r["error_mean"] for r in got], width, yerr=[r["error_std"] for r in got],
                        color=COLORS[m], label=METHODS[m])
            bars = axes[2].bar(xs, [r["deepfool_margin"] for r in got], width, color=COLORS[m], label=METHODS[m])
            axes[2].bar_label(bars, fmt="%.3f", fontsize=8)
            axes[1].bar_label(axes[1].containers[-1], fmt="%.2f", fontsize=8)
        for ax, label, title in ((axes[1], "test error (%)", "(b) test error"),
                                 (axes[2], "mean DeepFool test margin (L2)", "(c) DeepFool margin")):
            ax.set_xticks(range(len(keys)), keys, rotation=15 if len(keys) > 2 else 0, fontsize=8)
            ax.set(ylabel=label, title=title)
        axes[1].legend(frameon=False, fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _range(bounds: tuple[float, float]) -> str:
    return f"{bounds[0]:g}-{bounds[1]:g}"


def cost_frame(b: Benchmarks) -> pd.DataFrame:
    """§4.5: AMM's time per epoch and per step and its memory saved for backward, as multiples of cross-entropy
    training, per pair, beside the paper's GPU figures."""
    rows = {k: dict(zip(COST_COLUMNS, (f"{v['epoch_time_ratio']:.1f}x", f"{v['time_ratio']:.1f}x",
                                       f"{v['memory_ratio']:.1f}x", f"{v['amm_step_seconds']:.2f}",
                                       f"{v['reference_step_seconds']:.3f}")))
            for k, v in b.cost.items()}
    rows["paper 003, §4.5 (GPU)"] = dict(zip(COST_COLUMNS, (f"{_range(PAPER_TIME_RATIO)}x", "—",
                                                             f"{_range(PAPER_MEMORY_RATIO)}x (GPU memory)", "—", "—")))
    return pd.DataFrame(rows).T


def imagenet_frame(imagenet: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Table 7's fine-tuning results (top-1 error, margins) per model, or a line saying it was skipped."""
    if not imagenet:
        return pd.DataFrame({"ImageNet fine-tuning": ["skipped: no imagenet_weights given"]})
    return pd.DataFrame(imagenet).T


# ------------------------------------------------------------------------------------------ record, tables


def _references(row: Mapping[str, Summary]) -> list[Summary]:
    """The references AMM is compared with: as first trained and, when AMM fine-tuned, trained on as long."""
    return [row[m] for m in ("reference", "reference_continued") if m in row]


def _describe(key: str, row: Mapping[str, Summary], quantity: str) -> str:
    return f"{key}: AMM {row['amm'][quantity]:.3f} vs reference " + " / ".join(
        f"{ref[quantity]:.3f}" for ref in _references(row))


def _in_range(value: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _per_method(rows: Mapping[str, Mapping[str, Summary]], quantity: str) -> dict[str, dict[str, float]]:
    return {k: {m: v[quantity] for m, v in r.items()} for k, r in rows.items()}


def _paper_row(key: str, method: str) -> Any:
    """The paper's row (Tables 3-6) of the pair ``key`` (``"<architecture> (<data set>)"``) for ``method``
    ("Reference" or "AMM"), or ``None`` when the paper has none."""
    for _, dataset, name in PAPER_TABLES[:4]:
        t = tables.read(name)
        for _, r in t[t.method == method].iterrows():
            if key == f"{r.architecture} ({dataset})":
                return r
    return None


def _first_pair_values(b: Benchmarks, quantity: str, column: str) -> dict[str, float]:
    """``value`` / ``paper_value`` of a claim: AMM's ``quantity`` in the first pair and the paper's ``column`` of
    the same pair, when the paper has the pair."""
    key = b.first
    if key is None:
        return {}
    out = {"value": b.rows[key]["amm"][quantity]}
    row = _paper_row(key, "AMM")
    if row is not None and pd.notna(row[column]):
        out["paper_value"] = float(row[column])
    return out


def claims(b: Benchmarks) -> dict[str, dict[str, Any]]:
    """The claims of Tables 3-7 (AMM lowers the error and raises the mean margin, the released code's definition,
    of every pair, strictly, against both references) and §4.5 (the cost ratios, informational)."""
    rows, cost = b.rows, b.cost
    lower = {k: all(r["amm"]["error_mean"] < ref["error_mean"] for ref in _references(r)) for k, r in rows.items()}
    larger = {k: all(r["amm"]["released_margin"] > ref["released_margin"] for ref in _references(r))
              for k, r in rows.items()}
    in_range = {k: _in_range(v["epoch_time_ratio"], PAPER_TIME_RATIO)
                and _in_range(v["memory_ratio"], PAPER_MEMORY_RATIO) for k, v in cost.items()}
    (t_lo, t_hi), (m_lo, m_hi) = PAPER_TIME_RATIO, PAPER_MEMORY_RATIO
    return {
        "amm_lowers_error": claim(
            bool(rows) and all(lower.values()),
            paper="Tables 3-6: AMM (MIN+EXP) has a lower test error than the reference network for every "
                  "architecture on MNIST, CIFAR-10, CIFAR-100 and SVHN (e.g. MNIST LeNet 0.87 to 0.56 %)",
            detail="test error (%) " + "; ".join(_describe(k, r, "error_mean") for k, r in rows.items()),
            **_first_pair_values(b, "error_mean", "error_mean")),
        "amm_raises_margin": claim(
            bool(rows) and all(larger.values()),
            paper='Tables 3-6, "Margin": AMM raises the mean DeepFool test margin of every architecture on every '
                  "data set (e.g. MNIST LeNet 1.07 to 2.21)",
            detail="mean DeepFool test margin, the released code's definition: "
                   + "; ".join(_describe(k, r, "released_margin") for k, r in rows.items())
                   + " (this book's: " + "; ".join(_describe(k, r, "deepfool_margin") for k, r in rows.items())
                   + ")",
            **_first_pair_values(b, "released_margin", "margin")),
        "cost_in_paper_range": claim(
            bool(cost) and all(in_range.values()),
            paper='§4.5: AMM "usually requires 6-14x more wall clock time per epoch and 2-4x GPU memory than the '
                  'natural cross-entropy training" (GPU figures)',
            detail="; ".join(f"{k}: {v['epoch_time_ratio']:.1f}x time per epoch, {v['memory_ratio']:.1f}x memory "
                             f"(paper: {t_lo:g}-{t_hi:g}x, {m_lo:g}-{m_hi:g}x on GPUs)" for k, v in cost.items())),
    }


def record(b: Benchmarks, loaded: Loaded, imagenet: Mapping[str, Mapping[str, float]], p: Params) -> dict[str, Any]:
    """The section's metrics and :func:`claims`."""
    rows, cost = b.rows, b.cost
    metrics = {
        "sources": {name: ts.source for name, (ts, _) in loaded.sets.items()},
        "n_train": {name: len(ts) for name, (ts, _) in loaded.sets.items()},
        "n_test": {name: len(te) for name, (_, te) in loaded.sets.items()},
        "skipped_datasets": loaded.missing,
        **{name: _per_method(rows, key) for name, key in (("error", "error_mean"), ("error_std", "error_std"),
                                                            ("deepfool_margin", "deepfool_margin"),
                                                            ("released_margin", "released_margin"))},
        "time_ratio": {k: v["epoch_time_ratio"] for k, v in cost.items()},
        "step_time_ratio": {k: v["time_ratio"] for k, v in cost.items()},
        "memory_ratio": {k: v["memory_ratio"] for k, v in cost.items()},
        "cost": cost,
        "curves": {k: {m: h.column("test_error") for m, h in hs.items()} for k, hs in b.histories.items()},
        "seconds_per_epoch": {k: {m: float(np.mean(h.column("seconds"))) for m, h in hs.items()}
                              for k, hs in b.histories.items()},
        "imagenet": dict(imagenet),
    }
    return {"metrics": metrics, "claims": claims(b)}


def headline(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers the claims and the prose compare, from a record's ``metrics``, for the first pair: the test
    error and the two mean DeepFool margins of AMM and of the reference (trained on as long when AMM fine-tunes),
    and AMM's time per epoch and memory over cross-entropy training's."""
    err = metrics["error"]
    if not err:
        return {}
    key = next(iter(err))
    ref = "reference_continued" if "reference_continued" in err[key] else "reference"

    def num(v: Any) -> float:
        return float("nan") if v is None else float(v)

    out = {}
    for method, label in ((ref, "reference"), ("amm", "AMM")):
        out[f"{label} error (%)"] = num(err[key][method])
        out[f"{label} margin (released code's)"] = num(metrics["released_margin"][key][method])
        out[f"{label} margin (book's)"] = num(metrics["deepfool_margin"][key][method])
    out["AMM time per epoch / reference's"] = num(metrics["time_ratio"][key])
    out["AMM memory / reference's"] = num(metrics["memory_ratio"][key])
    return out


def quoted(b: Benchmarks) -> dict[str, object]:
    """The numbers the prose glues, all of the first pair: errors and margins (the released code's definition;
    ``*_book``: this book's) of AMM, of the reference trained on as long (``ref_*``) and as first trained
    (``first_ref_*``), its name, its cost ratios and AMM's seconds per training step; and a sentence on whether
    the pair shows the paper's two effects."""
    key = b.first
    row = b.rows.get(key, {}) if key is not None else {}
    ref = row.get("reference_continued", row.get("reference", {}))
    amm, first_ref = row.get("amm", {}), row.get("reference", {})
    cost = b.cost.get(key, {}) if key is not None else {}
    nan = float("nan")
    c = claims(b)
    shown = [w for w, n in (("a lower test error", "amm_lowers_error"), ("a larger margin", "amm_raises_margin"))
             if c[n]["holds"]]
    missed = [w for w, n in (("a lower test error", "amm_lowers_error"), ("a larger margin", "amm_raises_margin"))
              if not c[n]["holds"]]
    if not missed:
        verdict = "In this run AMM shows both of the paper's effects: a lower test error and a larger margin."
    elif not shown:
        verdict = ("In this run AMM shows neither of the paper's effects: it reaches neither a lower test error nor "
                   "a larger margin than both references.")
    else:
        verdict = (f"In this run AMM shows {shown[0]} but not {missed[0]}, against both references; the paper "
                   "reports both.")
    return {"ref_err": ref.get("error_mean", nan), "amm_err": amm.get("error_mean", nan),
            "ref_margin": ref.get("released_margin", nan), "amm_margin": amm.get("released_margin", nan),
            "ref_margin_book": ref.get("deepfool_margin", nan), "amm_margin_book": amm.get("deepfool_margin", nan),
            "first_ref_err": first_ref.get("error_mean", nan),
            "first_ref_margin": first_ref.get("released_margin", nan),
            "pair_name": key or "—",
            "epoch_ratio": cost.get("epoch_time_ratio", nan),
            "step_ratio": cost.get("time_ratio", nan), "memory_ratio": cost.get("memory_ratio", nan),
            "amm_step_seconds": cost.get("amm_step_seconds", nan), "verdict_text": verdict}


def _ours(b: Benchmarks, dataset: str, architecture: str, method: str) -> tuple[str, str, str]:
    row = b.rows.get(f"{architecture} ({dataset})", {})
    got = row.get("reference_continued", row.get("reference")) if method == "reference" else row.get(method)
    if got is None:
        return NO_RESULT
    return (f"{got['error_mean']:.2f} ± {got['error_std']:.2f}", f"{got['released_margin']:.3f}",
            f"{got['deepfool_margin']:.3f}")


def _imagenet_ours(imagenet: Mapping[str, Mapping[str, float]], architecture: str, method: str,
                   p: Params) -> tuple[str, str, str]:
    got = imagenet.get("reference_continued" if method == "reference" else "amm") if imagenet else None
    if got is None or architecture.lower().replace("-", "") != p.imagenet_arch:
        return NO_RESULT
    return f"{got['error'] * 100:.2f}", f"{got['released_margin']:.3f}", f"{got['deepfool_margin']:.3f}"


def paper_table(b: Benchmarks, imagenet: Mapping[str, Mapping[str, float]], p: Params) -> pd.DataFrame:
    """Paper 003's Tables 3 (LeNet rows), 4-7 and §4.5 beside this run's error and both margins; "reference" is
    the reference trained on for AMM's epochs when AMM fine-tunes; "—" where this profile did not train the row."""
    table = []
    for source, dataset, name in PAPER_TABLES:
        t = tables.read(name)
        for _, r in t[t.method.isin(["Reference", "AMM"])].iterrows():
            if source == "Table 3" and r.architecture != "LeNet":
                continue  # the MLP and LiuNet rows belong to the previous section
            method = "reference" if r.method == "Reference" else "amm"
            paper_err = f"{r.error_mean:.2f}" + (f" ± {r.error_std:.2f}" if pd.notna(r.error_std) else "")
            mine = (_imagenet_ours(imagenet, r.architecture, method, p) if source == "Table 7"
                    else _ours(b, dataset, r.architecture, method))
            table.append((source, f"{dataset}, {r.architecture}", r.method, paper_err, f"{r.margin:.2f}", *mine))
    q = quoted(b)
    table.append(("§4.5", "cost of AMM", "time per epoch / memory",
                  f"{_range(PAPER_TIME_RATIO)}x / {_range(PAPER_MEMORY_RATIO)}x", "—",
                  f"{q['epoch_ratio']:.0f}x / {q['memory_ratio']:.1f}x", "—", "—"))
    return pd.DataFrame(table, columns=["source", "data, model", "method", "paper error (%)", "paper margin",
                                        "this run error (%)", "this run margin (released code's)",
                                        "this run margin (book's)"]).set_index(["source", "data, model", "method"])
