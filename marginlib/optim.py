"""Optimizer and learning-rate schedule used by every training run in the book.

All five papers train with SGD with momentum (paper 000 adds Nesterov) and a multistep schedule that
divides the learning rate at fixed epochs; paper 002 divides its regularizer weight lambda_EMR at the
same epochs. The schedule is a pure function of the epoch, so a resumed run needs no scheduler state.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from marginlib import validate


def sgd(model: nn.Module, *, lr: float, momentum: float = 0.9, nesterov: bool = False,
        weight_decay: float = 0.0) -> torch.optim.SGD:
    """SGD over every parameter of ``model``.

    ``weight_decay`` is PyTorch's coupled L2 decay: the update adds ``weight_decay * theta`` to the
    gradient, i.e. it minimizes ``loss + weight_decay / 2 * ||theta||^2`` (papers 000-004 all use this form).
    """
    validate.positive("lr", lr)
    validate.nonnegative("momentum", momentum)
    validate.nonnegative("weight_decay", weight_decay)
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                           weight_decay=weight_decay)


def multistep(epoch: int, *, milestones: Sequence[int] = (), gamma: float = 0.1) -> float:
    """Factor applied to the initial learning rate during ``epoch`` (1-based).

    The rate is multiplied by ``gamma`` once for every milestone ``m`` with ``m < epoch``: "divide by 10
    at epoch 30" (``milestones=[30]``) trains epochs 1-30 at the initial rate and epochs 31- at a tenth,
    as ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per epoch does.
    """
    validate.positive("epoch", epoch)
    validate.positive("gamma", gamma)
    return float(gamma ** sum(1 for m in milestones if m < epoch))
