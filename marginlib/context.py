"""Context managers that keep model state unchanged around attacks and estimators (advertorch style)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` (and every submodule) in eval mode; restore each module's previous mode on exit."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, training in modes:
            m.training = training


@contextlib.contextmanager
def no_param_grad(model: nn.Module) -> Iterator[nn.Module]:
    """Turn off ``requires_grad`` on the parameters so attacks differentiate w.r.t. inputs only.

    Parameter ``.grad`` buffers are never touched; ``requires_grad`` flags are restored on exit.
    """
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


@contextlib.contextmanager
def noparamgrad_and_eval(model: nn.Module) -> Iterator[nn.Module]:
    """Both :func:`eval_mode` and :func:`no_param_grad`: the state every attack runs the model in."""
    with eval_mode(model), no_param_grad(model):
        yield model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free model)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


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
