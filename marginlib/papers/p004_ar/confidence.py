"""How confident a network's predictions are, and how much perturbations change that (paper 004, §4.2.1, App. B.5).

* :func:`true_class_log_probability` gives ``log p_y(x)`` per sample: its exponential is the "estimated probability"
  of the true class (Fig. 5a) and its negative the per-sample cross-entropy loss (Fig. 5b).
* :func:`logit_margins` gives the logit margin of Definition 3 per sample (Fig. 4).
* :func:`loss_variation` gives, per sample and per Linf radius, the largest increase of the cross-entropy loss
  that PGD finds within the ball (App. B.5, "maximal loss variation"; Table 1 reports its mean and std).
* :func:`robust_accuracy_on_correct` is App. D.2's robust accuracy: PGD is run only on the test points the model
  classifies correctly, and the fraction that stays correct is reported.

Models run in eval mode and are left in their previous mode with parameter gradients untouched.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from marginlib import evaluate, margins, validate
from marginlib.context import model_device, noparamgrad_and_eval

__all__ = ["logit_margins", "loss_variation", "robust_accuracy_on_correct", "true_class_log_probability"]


@torch.no_grad()
def true_class_log_probability(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> Tensor:
    """``log softmax(f(x))_y`` per sample (1-D, on the CPU): ``exp`` of it is the estimated probability of the true
    class, ``-`` it the per-sample cross-entropy loss (paper 004, §4.2.1, Fig. 5a-b)."""
    validate.batch(x, y, bounds=None)
    with noparamgrad_and_eval(model):
        logp = evaluate.batched(lambda xb, yb: F.log_softmax(model(xb), dim=1).gather(1, yb[:, None]).squeeze(1),
                                x, y, batch_size=batch_size, device=model_device(model))
    assert isinstance(logp, Tensor)
    return logp


def logit_margins(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> Tensor:
    """Paper 004, Definition 3 (Fig. 4): the logit margin ``f_y(x) - max_{j != y} f_j(x)`` of every sample
    (:func:`marginlib.margins.logit`, run in chunks of ``batch_size`` on the model's device; 1-D, on the CPU)."""
    out = evaluate.batched(lambda xb, yb: margins.logit(model, xb, yb), x, y, batch_size=batch_size,
                           device=model_device(model))
    assert isinstance(out, Tensor)
    return out


def loss_variation(model: nn.Module, x: Tensor, y: Tensor, *, eps: Sequence[float], steps: int,
                   step_size: float | None = None, random_start: bool = False,
                   generator: torch.Generator | None = None, batch_size: int = 500) -> dict[float, Tensor]:
    """Paper 004, App. B.5: ``{eps: CE(f(x_adv), y) - CE(f(x), y)}`` per sample (1-D, on the CPU), with ``x_adv``
    the Linf PGD point (``steps`` steps of ``step_size``, default ``2.5 * eps / steps``) that maximizes the loss
    within radius ``eps`` of ``x``: PGD keeps the iterate of largest cross-entropy (``select="objective"``), not a
    misclassifying one of smaller loss. PGD's maximum is a lower bound on the true one; without a random start it is
    never negative because ``x`` itself is PGD's first iterate. All radii are attacked in one batched run (the batch
    is repeated once per radius with a per-sample eps); ``batch_size`` counts original samples."""
    radii = [validate.positive("eps", float(e)) for e in eps]
    changes = []
    for xb, yb, x_adv in evaluate.pgd_at_radii(model, x, y, eps=radii, norm="linf", steps=steps, step_size=step_size,
                                               random_start=random_start, generator=generator, batch_size=batch_size,
                                               select="objective"):
        with noparamgrad_and_eval(model), torch.no_grad():
            clean = F.cross_entropy(model(xb), yb, reduction="none")
            adv = F.cross_entropy(model(x_adv.flatten(0, 1)), yb.repeat(len(radii)), reduction="none")
            changes.append((adv.view(len(radii), len(yb)) - clean).cpu())
    return dict(zip(radii, torch.cat(changes, dim=1)))


def robust_accuracy_on_correct(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, step_size: float, steps: int,
                               random_start: bool = False, generator: torch.Generator | None = None,
                               batch_size: int = 1000) -> float:
    """Paper 004, App. D.2: the fraction of the correctly classified points of ``(x, y)`` that Linf PGD (``steps``
    steps of ``step_size`` within ``eps``) does not turn into errors (:func:`marginlib.evaluate.robust_accuracy`
    on that subset). ``nan`` when the model classifies no point correctly."""
    validate.batch(x, y, bounds=(0.0, 1.0))
    keep = evaluate.correct(model, x, y, batch_size=batch_size)
    if not keep.any():
        return float("nan")
    result = evaluate.robust_accuracy(model, x[keep], y[keep], eps=[eps], norm="linf", step_size=step_size,
                                      steps=steps, random_start=random_start, generator=generator,
                                      batch_size=batch_size)
    return result[float(eps)]
