"""Training sets with corrupted labels (paper 003, §4.3.3, Fig. 5)."""
from __future__ import annotations

import dataclasses

import torch

from marginlib import validate
from marginlib.data import Dataset


def randomize_labels(y: torch.Tensor, n_noisy: int, *, num_classes: int, generator: torch.Generator) -> torch.Tensor:
    """A copy of the labels ``y`` in which ``n_noisy`` samples, chosen uniformly without replacement, get a label
    drawn uniformly from ``{0, ..., num_classes - 1}`` (paper 003, §4.3.3: "we substitute random integers in [0, 9]
    for their ground-truth labels"; a random label may coincide with the true one, as in the paper)."""
    validate.nonnegative("n_noisy", n_noisy)
    validate.positive("num_classes", num_classes)
    if n_noisy > len(y):
        raise ValueError(f"n_noisy must be at most the number of samples ({len(y)}), got {n_noisy!r}")
    index = torch.randperm(len(y), generator=generator)[:n_noisy]
    noisy = y.clone()
    noisy[index] = torch.randint(num_classes, (n_noisy,), generator=generator).to(y.dtype)
    return noisy


def with_random_labels(data: Dataset, n_clean: int, *, seed: int = 0) -> Dataset:
    """``data`` (a :class:`marginlib.data.Dataset`) keeping ``n_clean`` original labels and random labels on the
    other ``len(data) - n_clean`` samples (the training partitions of paper 003, §4.3.3)."""
    validate.nonnegative("n_clean", n_clean)
    if n_clean > len(data):
        raise ValueError(f"n_clean must be at most the number of samples ({len(data)}), got {n_clean!r}")
    y = randomize_labels(data.y, len(data) - n_clean, num_classes=data.num_classes,
                         generator=torch.Generator().manual_seed(seed))
    return dataclasses.replace(data, y=y)
