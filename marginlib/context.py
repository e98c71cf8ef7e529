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


def unwrap(model: nn.Module) -> nn.Module:
    """The network inside a ``DistributedDataParallel`` wrapper (the model itself when it is not wrapped)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(model, nn.parallel.DistributedDataParallel) and isinstance(inner, nn.Module) else model


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's first parameter or buffer (CPU for a parameter-free model)."""
    for parameter in model.parameters():
        return parameter.device
    for buffer in model.buffers():
        return buffer.device
    return torch.device("cpu")

