"""Frozen batch normalization for AMM fine-tuning (paper 003, §4.4.1-4.4.2).

A DeepFool perturbation, and so AMM's regularizer, must not depend on which samples share a batch, so paper 003
fine-tunes its ResNets and DenseNets with every batch norm frozen "during both training and testing". Used by
:func:`marginlib.papers.p003_amm.benchmarks.train_pair` and ``finetune_imagenet`` (section 10,
``notebooks/10_amm_benchmarks.ipynb``).
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


class FrozenBatchNorm2d(nn.BatchNorm2d):
    """A ``BatchNorm2d`` that always normalizes with its running statistics, in train mode too, and never updates
    them: a fixed per-channel affine map, so each sample's output is independent of the rest of its batch.
    Installed (and removed) by :func:`frozen_batchnorm`; same parameters, buffers and ``state_dict`` keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                        training=False, momentum=0.0, eps=self.eps)


@contextlib.contextmanager
def frozen_batchnorm(model: nn.Module) -> Iterator[nn.Module]:
    """Freeze every ``BatchNorm2d`` of ``model`` "during both training and testing" (paper 003, §4.4.2: AMM's
    ResNets and DenseNets), restoring the layers on exit.

    Inside, each batch norm is a :class:`FrozenBatchNorm2d`: it normalizes with its running mean and variance
    whatever the model's mode, the statistics stay as they are (those of the reference model being fine-tuned),
    and its scale and shift get ``requires_grad=False``, as the released AMM code's ``--ce-freeze-bn
    --freeze-bn`` options do. A batch's DeepFool perturbations, and so AMM's regularizer, then do not depend on
    which samples share the batch (§4.4.1). Outside the context the network in eval mode computes the same
    function, so a model fine-tuned inside is evaluated as usual.
    """
    layers = [m for m in model.modules() if type(m) is nn.BatchNorm2d]
    flags = [(p, p.requires_grad) for m in layers for p in (m.weight, m.bias) if p is not None]
    for m in layers:
        m.__class__ = FrozenBatchNorm2d
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for m in layers:
            m.__class__ = nn.BatchNorm2d
        for p, flag in flags:
            p.requires_grad_(flag)
