"""Paper 003 §4.4-4.5 (Tables 4-7, appendix Table 2): reference networks against AMM (MIN+EXP) on image benchmarks,
and the measured cost of AMM. Used by sections 09 (:mod:`marginlib.papers.p003_amm.s09_mnist`, the MLP's
evaluation and seed summaries) and 10 (:mod:`marginlib.papers.p003_amm.s10_benchmarks`,
``notebooks/10_amm_benchmarks.ipynb``).

The protocol (§4.2, appendix Table 2, :class:`marginlib.papers.p003_amm.config.Schedule`): SGD with momentum 0.9
and weight decay 1e-4, gradients clipped at norm 10, a multistep learning rate, training batches augmented as the
released code does (:data:`AUGMENTATIONS`); a reference network is trained from scratch with cross-entropy, and the
AMM network (:data:`marginlib.papers.p003_amm.config.BENCHMARK_AMM`) is either trained from scratch with the same
schedule (appendix Table 2 "Scratch: yes": the LeNets and the MLP) or fine-tuned from the trained reference ("no":
NIN, LiuNet, the ResNets and DenseNet, and the ImageNet models). Fine-tuned ResNets and DenseNets run with every
batch norm frozen (§4.4.2, :func:`marginlib.papers.p003_amm.frozen_bn.frozen_batchnorm`); LiuNet uses GroupNorm
(:class:`marginlib.models.LiuNet`). When AMM fine-tunes, the reference is also trained on for the same epochs with
cross-entropy alone (``"reference_continued"``), so that AMM is compared with a network that had the same number
of updates (the paper compares with the reference as first trained).

Evaluation (§4.4): test error and two mean DeepFool test margins (:func:`error_and_margin`): this book's
(:func:`marginlib.margins.deepfool_margin`, the norm of the DeepFool perturbation of each correctly classified test
point) and the released code's (:func:`released_margin`, 5 iterations from the prediction, every test image); over
seeds, :func:`summarize`. Cost (§4.5: "6-14x more wall clock time per epoch and 2-4x GPU memory"):
:func:`cost_ratios` times one training step of each method with :func:`marginlib.timing.step_seconds` and measures
the bytes autograd saves for backward with :func:`marginlib.timing.saved_bytes`.
"""
from __future__ import annotations

import copy
import os
import pathlib
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch import nn

from marginlib import attacks, data, evaluate, margins, methods, models, timing, train, validate
from marginlib.augment import random_crop_flip
from marginlib.context import model_device
from marginlib.papers.p003_amm.config import BENCHMARK_AMM, Schedule
from marginlib.papers.p003_amm.frozen_bn import frozen_batchnorm

#: Paper 003's architecture names (Tables 4-6) -> :func:`marginlib.models.build` names.
ARCHITECTURES = {"MLP": "mlp2x800", "LeNet": "lenet", "NIN": "nin", "LiuNet": "liunet", "ResNet-20": "resnet20",
                 "ResNet-56": "resnet56", "DenseNet-40": "densenet40"}
#: :func:`marginlib.data.load` names -> the paper's dataset names (appendix Table 2, Tables 3-6).
DATASETS = {"mnist": "MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "svhn": "SVHN"}
#: The :func:`marginlib.data.load` split each data set trains on with the paper's schedules (§4.1.2: SVHN's ~604k
#: training images are its ``train`` and ``extra`` sets; every other data set trains on ``train``).
PAPER_TRAIN_SPLITS = {"mnist": "train", "cifar10": "train", "cifar100": "train", "svhn": "train+extra"}
#: Training augmentation per data set, as paper 003's released code applies it: random 32x32 crops of the images
#: zero-padded by 4 with horizontal flips on CIFAR, the crops without flips on SVHN, none on MNIST (§4.1.1). The
#: text (§4.1.2) resizes to 36x36 and crops 32x32 instead: ``partial(random_crop_flip, resize=36, padding=0)``.
AUGMENTATIONS: dict[str, train.Augment | None] = {
    "mnist": None, "cifar10": random_crop_flip, "cifar100": random_crop_flip,
    "svhn": partial(random_crop_flip, flip=False)}
#: The margins :func:`summarize` averages over seeds.
MARGINS = ("deepfool_margin", "released_margin")


def model_kwargs(architecture: str, dataset: str, *, num_classes: int, in_channels: int,
                 input_size: int) -> dict[str, Any]:
    """Keywords of :func:`marginlib.models.build` for a paper-003 ``architecture`` (a key of :data:`ARCHITECTURES`)
    on ``dataset``: the data's shape, and LiuNet's per-dataset variant (Liu et al.'s CIFAR-100 net is wider)."""
    validate.choice("architecture", architecture, ARCHITECTURES)
    validate.choice("dataset", dataset, DATASETS)
    kw: dict[str, Any] = {"in_channels": in_channels, "num_classes": num_classes, "input_size": input_size}
    if architecture == "LiuNet":
        kw["variant"] = {"mnist": "mnist", "cifar100": "cifar100"}.get(dataset, "cifar10")
    if architecture == "LeNet":
        kw["variant"] = "mnist" if in_channels == 1 else "cifar"
    return kw


def reference_method(*, max_grad_norm: float | None = 10.0) -> methods.Method:
    """Cross-entropy alone with the paper's gradient clipping at norm 10 (§4.2; the released code clips every run,
    the reference's ``lambda = 0`` runs included)."""
    return methods.build("standard", max_grad_norm=max_grad_norm)


def train_pair(architecture: str, train_set: data.Dataset, *, dataset: str, reference: Schedule, amm: Schedule,
               amm_options: Mapping[str, Any] = BENCHMARK_AMM, model_kw: Mapping[str, Any] | None = None, seed: int = 0,
               weight_decay: float = 1e-4, max_grad_norm: float | None = 10.0, eval_data: data.Dataset | None = None,
               augment: train.Augment | None = None, device: torch.device | str | None = None,
               progress: bool = False) -> dict[str, dict[str, Any]]:
    """Train the reference network and its AMM counterpart (paper 003 §4.2, §4.4) and return, per method name
    (``"reference"``, ``"amm"`` and, when AMM fine-tunes, ``"reference_continued"``), ``{"model", "history"}``.

    ``reference`` and ``amm`` are the two schedules; ``amm.scratch`` says whether AMM starts from a fresh network
    (the same initial weights as the reference, ``seed``) or from the trained reference. A fine-tuned network with
    batch norms trains inside :func:`~marginlib.papers.p003_amm.frozen_bn.frozen_batchnorm`, and so does
    ``"reference_continued"``, the reference trained on with cross-entropy for AMM's schedule (the control for the
    extra updates). ``model_kw`` goes to :func:`marginlib.models.build` (data shape, ``mean``/``std``); ``augment``
    (e.g. ``AUGMENTATIONS[dataset]``) augments the training batches of every run (:func:`marginlib.train.fit`).
    """
    name = ARCHITECTURES[validate.choice("architecture", architecture, ARCHITECTURES)]
    validate.choice("dataset", dataset, DATASETS)
    common: dict[str, Any] = {"weight_decay": weight_decay, "device": device, "eval_train": False,
                              "eval_data": eval_data, "augment": augment, "progress": progress}
    build = lambda: models.build(name, seed=seed, **dict(model_kw or {}))
    ref_model = build()
    out = {"reference": {"model": ref_model, "history": train.fit(
        ref_model, reference_method(max_grad_norm=max_grad_norm), train_set, seed=seed, **reference.fit_kw(),
        **common)}}
    amm_method = methods.build("amm", **{**dict(amm_options), "max_grad_norm": max_grad_norm})
    if amm.scratch:
        amm_model = build()
        out["amm"] = {"model": amm_model, "history": train.fit(amm_model, amm_method, train_set, seed=seed,
                                                               **amm.fit_kw(), **common)}
        return out
    for method_name, method in (("reference_continued", reference_method(max_grad_norm=max_grad_norm)),
                                ("amm", amm_method)):
        model = copy.deepcopy(ref_model)
        with frozen_batchnorm(model):
            history = train.fit(model, method, train_set, seed=seed + 1, **amm.fit_kw(), **common)
        out[method_name] = {"model": model, "history": history}
    return out


def released_margin(model: nn.Module, x: torch.Tensor, *, steps: int = 5, candidates: int = 9,
                    overshoot: float = 0.02) -> torch.Tensor:
    """Per-image ``||r||`` as paper 003's released code measures the "margin" it reports (``generalization.py``,
    ``test()``, ``--df-test-max-iter 5``, ``--df-num-label 10``): L2 DeepFool, untargeted from the *predicted*
    class, ``steps`` iterations over the ``candidates`` highest other logits (fewer when the model has fewer
    classes), overshoot included; the released code averages it over every test image, misclassified ones and ones
    DeepFool leaves unmoved within ``steps`` included (their partial perturbation counts)."""
    with torch.no_grad():
        k = model(x[:1]).shape[1]
    r = attacks.deepfool(model, x, norm="l2", steps=steps, overshoot=overshoot, candidates=min(candidates, k - 1))
    assert isinstance(r, torch.Tensor)
    return r.flatten(1).norm(dim=1)


def error_and_margin(model: nn.Module, test_set: data.Dataset, *, margin_points: int | None = None,
                     batch_size: int = 500, candidates: int | None = None) -> dict[str, float]:
    """Test error (fraction) on ``test_set`` and two mean DeepFool test margins over the first ``margin_points``
    test images (all when ``None``):

    * ``deepfool_margin``, this book's (:func:`marginlib.margins.deepfool_margin`): the L2 DeepFool perturbation
      norm, 50 iterations over ``candidates`` other classes (all when ``None``), averaged over the correctly
      classified points; points DeepFool does not move within its iterations are left out of the mean and counted
      in ``margin_unreached``;
    * ``released_margin``, the released code's (:func:`released_margin`: 5 iterations, the top 9 other classes,
      every image), the quantity behind the paper's Tables 3-7 "Margin" column.

    On 10-class data the candidates are all classes either way; on CIFAR-100 the book's default searches all 99,
    the released code 9, so only ``released_margin`` is comparable with Table 5. ImageNet needs ``candidates``
    (every class costs one gradient tensor per image).
    """
    error = train.error_and_loss(model, test_set, batch_size=batch_size)["error"]
    n = len(test_set.y) if margin_points is None else min(margin_points, len(test_set.y))
    device = model_device(model)
    x, y = test_set.x[:n], test_set.y[:n]
    signed = evaluate.batched(partial(margins.deepfool_margin, model, candidates=candidates), x, y,
                              batch_size=batch_size, device=device)
    released = evaluate.batched(partial(released_margin, model), x, batch_size=batch_size, device=device)
    assert isinstance(signed, torch.Tensor) and isinstance(released, torch.Tensor)
    correct = signed > 0
    reached = correct & torch.isfinite(signed)
    return {"error": float(error), "deepfool_margin": float(signed[reached].mean()) if reached.any() else float("nan"),
            "released_margin": float(released.mean()), "margin_points": int(correct.sum()),
            "margin_unreached": int((correct & ~reached).sum())}


def cost_ratios(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, amm_options: Mapping[str, Any] = BENCHMARK_AMM,
                repeat: int = 3, warmup: int = 1) -> dict[str, float]:
    """AMM's cost relative to cross-entropy training on one batch ``(x, y)`` (paper 003 §4.5): best-of-``repeat``
    seconds of one SGD step each (:func:`marginlib.timing.step_seconds`) and the bytes autograd saves for backward
    in one loss evaluation (:func:`marginlib.timing.saved_bytes`), with their ratios. ``model`` is not changed."""
    ref, amm = reference_method(), methods.build("amm", **dict(amm_options))
    device = model_device(model)
    x, y = x.to(device), y.to(device)
    seconds = {k: timing.step_seconds(m, model, x, y, repeat=repeat, warmup=warmup) for k, m in (("reference", ref),
                                                                                                  ("amm", amm))}
    saved = {k: timing.saved_bytes(m, model, x, y) for k, m in (("reference", ref), ("amm", amm))}
    return {"reference_step_seconds": seconds["reference"], "amm_step_seconds": seconds["amm"],
            "time_ratio": seconds["amm"] / seconds["reference"], "reference_saved_bytes": saved["reference"],
            "amm_saved_bytes": saved["amm"], "memory_ratio": saved["amm"] / saved["reference"]}


def epoch_time_ratio(pair: Mapping[str, Mapping[str, Any]]) -> float:
    """Mean seconds per AMM epoch over mean seconds per cross-entropy epoch, from the trainer's histories (the
    control ``"reference_continued"`` when AMM fine-tuned, so both ran on the same network and data)."""
    ref = pair.get("reference_continued", pair["reference"])["history"].column("seconds")
    amm = pair["amm"]["history"].column("seconds")
    return (sum(amm) / len(amm)) / (sum(ref) / len(ref))


IMAGENET_ARCHITECTURES = ("resnet18", "resnet50")
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _existing(parameter: str, path: str | os.PathLike) -> pathlib.Path:
    p = pathlib.Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{parameter}={str(path)!r}: no such file")
    return p


def load_imagenet_model(architecture: str, weights: str | os.PathLike) -> nn.Module:
    """A user-supplied pretrained ImageNet classifier for AMM fine-tuning (paper 003 §4.4.5, Table 7).

    ``architecture`` is a torchvision name among :data:`IMAGENET_ARCHITECTURES` (paper 003 also fine-tunes SENet-50,
    which torchvision lacks) and ``weights`` a file holding its ``state_dict`` (loaded with ``weights_only=True``),
    e.g. torchvision's published ResNet-18/50 weights, which the paper's Table 7 references match. The network gets
    ImageNet's normalization as its first layer, so it takes ``[0, 1]`` pixels like every model of the book.
    torchvision is imported here only. Raises ``FileNotFoundError`` naming ``weights`` when the file is missing.
    """
    validate.choice("imagenet_arch", architecture, IMAGENET_ARCHITECTURES)
    path = _existing("imagenet_weights", weights)
    import torchvision

    net = getattr(torchvision.models, architecture)(weights=None)
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return nn.Sequential(models.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD, channels=3), net)


#: ImageNet's number of classes (the labels of user-supplied tensors are its class indices)
IMAGENET_CLASSES = 1000


def load_imagenet_tensors(path: str | os.PathLike) -> dict[str, data.Dataset]:
    """Preprocessed ImageNet images for fine-tuning: a ``torch.save`` d dict ``{"train": {"x", "y"}, "val": {"x",
    "y"}}`` with ``x`` uint8 ``(N, 3, 224, 224)`` (already cropped/resized as paper 003 §4.1.3 says) and ``y`` long
    class indices, as two :class:`marginlib.data.Dataset` (``"imagenet"``, :data:`IMAGENET_CLASSES` classes, pixels
    in ``[0, 1]``). The trainer holds its data in memory, so this is a subset of ImageNet of the user's choosing; the
    paper's full 1.28M images need a streaming loader (not in :mod:`marginlib.train`). Raises ``FileNotFoundError``
    naming ``imagenet_data`` when the file is missing and ``ValueError`` when a split is missing."""
    state = torch.load(_existing("imagenet_data", path), map_location="cpu", weights_only=True)
    out = {}
    for split in ("train", "val"):
        if split not in state or not {"x", "y"} <= set(state[split]):
            raise ValueError(f"imagenet_data={str(path)!r} needs a {split!r} entry with 'x' and 'y'")
        x = state[split]["x"]
        out[split] = data.Dataset("imagenet", split, (x.float() / 255) if x.dtype == torch.uint8 else x.float(),
                                  state[split]["y"].long(), f"user-supplied ImageNet tensors ({path})",
                                  IMAGENET_CLASSES)
    return out


def finetune_imagenet(model: nn.Module, tensors: Mapping[str, data.Dataset], *, schedule: Schedule,
                      amm_options: Mapping[str, Any] = BENCHMARK_AMM, seed: int = 0, margin_points: int | None = None,
                      device: torch.device | str | None = None, progress: bool = False) -> dict[str, dict[str, float]]:
    """Paper 003 §4.4.5 (Table 7): fine-tune a pretrained ImageNet ``model`` with AMM (MIN+EXP) and with
    cross-entropy alone for ``schedule`` (appendix Table 2: batch 32, 10 epochs, lr 0.01, x0.1 at epochs 5 and 8
    for ResNets), batch norms frozen, and return top-1 error and mean DeepFool margin on ``data["val"]`` for
    ``"reference"`` (the model as supplied), ``"reference_continued"`` and ``"amm"``; ``tensors`` as
    :func:`load_imagenet_tensors` returns them."""
    measure = partial(error_and_margin, test_set=tensors["val"], margin_points=margin_points, batch_size=64,
                      candidates=amm_options.get("candidates", BENCHMARK_AMM["candidates"]))
    out = {"reference": measure(model)}
    common: dict[str, Any] = {"weight_decay": 1e-4, "device": device, "eval_train": False, "progress": progress,
                              "seed": seed}
    for name, method in (("reference_continued", reference_method()),
                         ("amm", methods.build("amm", **{**dict(amm_options), "max_grad_norm": 10.0}))):
        tuned = copy.deepcopy(model)
        with frozen_batchnorm(tuned):
            train.fit(tuned, method, tensors["train"], **schedule.fit_kw(), **common)
        out[name] = measure(tuned)
    return out


def summarize_runs(runs: Sequence[Mapping[str, Any] | None], *, epochs: int | None = None) -> dict[str, Any]:
    """One method's runs over seeds (paper 003 reports mean and std over five, Tables 1-3): ``error_mean`` and
    ``error_std`` (ddof 1; 0 for one run) of ``error`` in %, the per-seed ``errors`` (%), the means of the
    :data:`MARGINS` the runs have and, when they have them, the mean test-error ``curve`` (per epoch) and the mean
    ``seconds`` as ``seconds_per_run``. A ``None`` run diverged: it is counted in ``diverged`` and left out of
    the means; when every run diverged the numbers are NaN (the curve ``epochs`` NaNs when given)."""
    done = [r for r in runs if r is not None]
    diverged = len(runs) - len(done)
    if not done:
        nan = float("nan")
        empty = {"error_mean": nan, "error_std": nan, **dict.fromkeys(MARGINS, nan), "errors": [], "diverged": diverged}
        return empty if epochs is None else {**empty, "curve": [nan] * epochs, "seconds_per_run": nan}
    errors = np.array([r["error"] for r in done]) * 100
    out: dict[str, Any] = {"error_mean": float(errors.mean()),
                           "error_std": float(errors.std(ddof=1)) if len(errors) > 1 else 0.0,
                           **{k: float(np.mean([r[k] for r in done])) for k in MARGINS if k in done[0]},
                           "errors": errors.tolist(), "diverged": diverged}
    if "curve" in done[0]:
        out["curve"] = np.mean([r["curve"] for r in done], axis=0).tolist()
    if "seconds" in done[0]:
        out["seconds_per_run"] = float(np.mean([r["seconds"] for r in done]))
    return out


def summarize(pairs: Sequence[Mapping[str, Mapping[str, Any] | None]]) -> dict[str, dict[str, Any]]:
    """:func:`summarize_runs` per method over seeds; ``pairs`` holds one ``{method: error_and_margin(...)}`` per
    seed (the methods of the first seed's)."""
    return {method: summarize_runs([p[method] for p in pairs]) for method in pairs[0]}
