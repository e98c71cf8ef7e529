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

#: how a weight-decay coefficient ``lam`` is meant: ``"half"``, the penalty ``lam / 2 * ||theta||^2`` (PyTorch's
#: ``weight_decay=lam``, whose gradient is ``lam * theta``); ``"full"``, the penalty ``lam * ||theta||^2`` added to
#: the loss (paper 002 §3's lambda_WD), whose gradient is ``2 lam theta``
WD_FORMS = ("half", "full")


def pytorch_weight_decay(lam: float, *, form: str = "half") -> float:
    """PyTorch's ``weight_decay`` that applies the penalty ``lam`` means under ``form`` (:data:`WD_FORMS`):
    ``lam`` for ``"half"`` (``lam / 2 * ||theta||^2``), ``2 * lam`` for ``"full"`` (``lam * ||theta||^2``)."""
    validate.choice("wd_form", form, WD_FORMS)
    validate.nonnegative("weight_decay", lam)
    return 2.0 * lam if form == "full" else float(lam)


def sgd(model: nn.Module, *, lr: float, momentum: float = 0.9, nesterov: bool = False,
        weight_decay: float = 0.0, wd_form: str = "half") -> torch.optim.SGD:
    """SGD over every parameter of ``model``.

    Weight decay is PyTorch's coupled L2 decay: the update adds ``d * theta`` to the gradient, i.e. it minimizes
    ``loss + d / 2 * ||theta||^2``, with ``d = pytorch_weight_decay(weight_decay, form=wd_form)``. With the default
    ``wd_form="half"``, ``d = weight_decay`` (the form of SGD's ``weight_decay`` hyperparameter in PyTorch and Caffe,
    and of paper 002's released large-scale code). ``wd_form="full"`` reads ``weight_decay`` as the coefficient of
    ``weight_decay * ||theta||^2`` added to the loss, as paper 002 §3 defines lambda_WD ("the squared L2 norm of all
    parameters is added to the loss"), and passes ``d = 2 * weight_decay``. The two differ by a factor of 2, so
    which one a paper's quoted value means has to be read from the paper or its code; nothing here assumes one for
    every paper.
    """
    validate.positive("lr", lr)
    validate.nonnegative("momentum", momentum)
    decay = pytorch_weight_decay(weight_decay, form=wd_form)
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs momentum > 0")
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, nesterov=nesterov,
                           weight_decay=decay)


def multistep(epoch: int, *, milestones: Sequence[int] = (), gamma: float = 0.1) -> float:
    """Factor applied to the initial learning rate during ``epoch`` (1-based).

    The rate is multiplied by ``gamma`` once for every milestone ``m`` with ``m < epoch``: "divide by 10
    at epoch 30" (``milestones=[30]``) trains epochs 1-30 at the initial rate and epochs 31- at a tenth,
    as ``torch.optim.lr_scheduler.MultiStepLR`` stepped once per epoch does.
    """
    validate.positive("epoch", epoch)
    validate.positive("gamma", gamma)
    return float(gamma ** sum(1 for m in milestones if m < epoch))
