"""Paper 000's CIFAR-10 half (§4, App. A-C): the three CIFAR models and their data, shared by sections 02
(:mod:`marginlib.papers.p000_minavg.s02_deep`: Figs. 2a-c, 4 and 5) and 03 (:mod:`marginlib.papers.p000_minavg.s03_amr`:
Figs. 2d-f and Table 1's CIFAR rows).

The CIFAR models are App. A's "CIFAR-LR" (multiclass logistic regression on the 3,072 pixels), "CIFAR-MLP" (one
hidden layer of 1,024 ReLU units) and "CIFAR-CNN" (the Carlini-Wagner CIFAR network, ``cw_cifar``). A section names
them by the model names ``logreg``, ``mlp1x1024`` and ``cw_cifar`` in its ``cifar_models`` parameter, and keys their
runs by :data:`KEY` (so that the MNIST and the CIFAR LR do not share a name). Without the CIFAR-10 files the offline
source gives :func:`marginlib.data.cifar_standin`, a labelled synthetic stand-in, and every output says so.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from marginlib import data, models, validate
from marginlib.data import Dataset
from marginlib.models.base import Net

#: the model names a ``cifar_models`` parameter may hold
MODELS = ("logreg", "mlp1x1024", "cw_cifar")
#: model name -> the key of its run in a section's runs, record and claim names
KEY = {"logreg": "cifar_logreg", "mlp1x1024": "cifar_mlp1x1024", "cw_cifar": "cw_cifar"}
#: run key -> label in figures and tables (App. A's names)
LABEL = {"cifar_logreg": "CIFAR-LR", "cifar_mlp1x1024": "CIFAR-MLP", "cw_cifar": "CIFAR-CNN"}
#: run key -> claim-name suffix
SHORT = {"cifar_logreg": "cifar_lr", "cifar_mlp1x1024": "cifar_mlp", "cw_cifar": "cifar_cnn"}
#: run key -> the model name it builds
MODEL = {key: name for name, key in KEY.items()}


def check(models_: tuple[str, ...]) -> None:
    """Refuse a ``cifar_models`` value naming an unknown model or one model twice."""
    for name in models_:
        validate.choice("cifar_models", name, MODELS)
    if len(set(models_)) != len(models_):
        raise ValueError(f"cifar_models={models_!r}: name each model once")


def build(key: str, *, seed: int) -> Net:
    """The CIFAR-10 model of run key ``key`` (32x32x3 inputs, 10 classes), initialized with ``seed``."""
    name = MODEL[validate.choice("key", key, tuple(MODEL))]
    if name == "cw_cifar":
        return models.build(name, seed=seed)
    return models.build(name, seed=seed, in_channels=3, input_size=32)


def load(*, split: str, n: int, seed: int, source: str) -> Dataset:
    """CIFAR-10 ``split`` in [0, 1] from ``source`` (``n`` images drawn with ``seed``, 0: all). The ``offline``
    source (and ``auto`` without the files) gives the labelled synthetic stand-in (``is_standin``)."""
    return data.load("cifar10", split=split, n=n or None, seed=seed, source=source)


def not_run_figure(text: str) -> Figure:
    """A small figure that says, in ``text``, why its experiment did not run at this profile."""
    fig, ax = plt.subplots(figsize=(8, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return fig
