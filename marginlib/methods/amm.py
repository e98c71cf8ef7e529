"""Adversarial margin maximization (AMM, paper 003, §3) and the Elsayed et al. baseline (§4.3.1).

AMM adds ``lambda * L_DD`` to the classification loss (eq. (7)) with, per eq. (6) (the unnormalized form
the paper adopts), ``L_DD = (1/n) [sum_{k in T} R(-c ||r_k||) + sum_{k in F} R(d ||r_k||)]``: ``r_k`` is the
L2 DeepFool perturbation of ``x_k`` (:func:`marginlib.attacks.deepfool`, differentiable), untargeted for
correctly classified samples ``T`` (pushed away from the boundary) and targeted to the true label for
misclassified ones ``F`` (pulled towards it). ``n`` is the batch size. Conventions, each selectable:

* ``aggregation="avg"`` keeps every sample (Deep Defense). ``"min"`` (§3.3.1) keeps a correct sample only when
  its ``||r||`` is the smallest among the batch's correct samples of its class *and* among the
  ``int(min_fraction * n)`` (20% of the batch, at least 1) smallest of the batch's correct samples; the paper
  says only that a misclassified sample's distance should decrease, and the released code
  (``generalization.py``) applies MIN to them too, mirrored: per true class the misclassified sample with the
  *largest* ``||r||``, kept only if it is among the ``int(min_fraction * n)`` largest (``misclassified="largest"``,
  the default). ``misclassified="all"`` keeps every misclassified sample (this book's earlier convention). Only
  samples DeepFool brought across the boundary take part in the ranking, as in the released code.
* ``shrinkage``: ``"lin"`` ``R(t) = t``, ``"exp"`` ``R(t) = exp(t)``, ``"inv"`` ``R(t) = 1 / (1 - t)`` (§3.3.2).
* ``clip_value=50.0``: as the released code (``--clip-val 50``), every EXP and INV term ``lambda * R(.)`` of a
  sample saturates at ``clip_value``, with zero gradient beyond (:func:`shrink` with ``cap = clip_value / lam``);
  for a misclassified sample that is ``||r|| >= log(clip_value / lam) / d`` (EXP) or
  ``(1 - lam / clip_value) / d`` (INV). LIN terms are not capped (nor are they in the release). The paper does
  not mention the cap; without it (``clip_value=None``) EXP of a far misclassified point overflows and INV is
  truncated at ``t <= inv_max`` < 1 instead.
* ``high_order=False`` masks the gradient through the input gradients ``grad f`` (§4.3.1): the penalty uses
  the first-order distance ``|f_k(x) - f_y(x)| / ||grad_x (f_k - f_y)||`` with the denominator detached and
  its value replaced by ``||r||`` (``k``: the class DeepFool ends in for correct samples, the predicted
  class for misclassified ones), so only the logits carry gradient. This is this book's reading of §4.3.1: the
  released code parses ``--no-hograd`` but never uses it.
* DeepFool: ``steps=6`` (u = 6, §4.2; the released code's default is 5, ``--df-train-max-iter 5``), overshoot
  0.02 on the total perturbation; samples DeepFool fails to move across the boundary (or where it finds no
  finite step) are dropped, as in the released code. The regularizer pass runs in eval mode.
* Gradients are clipped at norm 10 (§4.2) through ``max_grad_norm``.
* ``ce_weight`` multiplies the classification term ``L`` of eq. (7); ``ce_weight=0`` trains by the regularizer
  alone, as in the linear toy experiment (§3.3.3).
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import ddp, validate
from marginlib.context import eval_mode
from marginlib.methods.base import Method, Stats

AGGREGATIONS = ("avg", "min")
SHRINKAGES = ("lin", "exp", "inv")
#: Which misclassified samples MIN aggregation keeps: the released code's per-class largest, or all of them.
MISCLASSIFIED = ("largest", "all")


def shrink(t: torch.Tensor, kind: str, *, inv_max: float = 0.9, cap: float | None = None) -> torch.Tensor:
    """The shrinkage function ``R`` of paper 003 §3.3.2. ``cap`` saturates ``exp`` and ``inv`` at ``cap``
    (``min(R(t), cap)``, zero gradient beyond; the released code's ``--clip-val`` is ``lam * cap``); without it
    ``inv`` truncates ``t`` at ``inv_max``. ``lin`` is never capped."""
    if kind == "lin":
        return t
    if kind == "exp":
        return torch.exp(t if cap is None else t.clamp(max=math.log(cap)))
    return 1 / (1 - t.clamp(max=inv_max if cap is None else 1 - 1 / cap))


def min_aggregation_mask(norms: torch.Tensor, y: torch.Tensor, candidates: torch.Tensor, *, batch_size: int,
                         fraction: float = 0.2, largest: bool = False) -> torch.Tensor:
    """Samples the MIN aggregation keeps (paper 003 §3.3.1), a boolean (B,) mask: among ``candidates``, per class
    ``y`` the sample with the smallest ``norms`` (``largest=True``: the largest), kept only if it is also among the
    ``max(1, int(fraction * batch_size))`` smallest (largest) norms of the candidates. Ties go to the earlier
    sample. The released code calls it with the fooled correct samples (smallest) and the fooled misclassified
    ones (largest), ``batch_size`` the whole batch's."""
    if not candidates.any():
        return candidates.clone()
    key = torch.where(candidates, -norms if largest else norms, torch.full_like(norms, math.inf))
    order = key.argsort(stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order), device=order.device)
    class_best = rank.new_full((int(y.max()) + 1,), len(rank)).scatter_reduce(0, y, rank, reduce="amin")
    return candidates & (rank == class_best[y]) & (rank < max(1, int(fraction * batch_size)))


def first_order_distance(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """``|f_k(x) - f_y(x)| / ||grad_x (f_k - f_y)||_2`` per sample with the denominator detached: the linear
    distance whose gradient ignores the curvature of ``f`` (no high-order gradients)."""
    gap = logits.gather(1, k[:, None]).squeeze(1) - logits.gather(1, y[:, None]).squeeze(1)
    (grad,) = torch.autograd.grad(gap.sum(), x, retain_graph=True)
    return gap.abs() / grad.flatten(1).norm(dim=1).clamp_min(1e-12)


class AMM(Method):
    """AMM / Deep Defense regularizer (paper 003, eqs. (6)-(7)); see the module docstring.

    Appendix Table 1's MLP settings of ``(lam, c, d)`` per configuration are written once, in
    ``marginlib.papers.p003_amm.config.APPENDIX_TABLE1`` (MIN+EXP: ``config.MIN_EXP``).
    ``candidates=k`` restricts DeepFool to the ``k`` highest other logits (the released code searches the top 10
    labels, ``--df-num-label 10``: all classes on 10-class data, 9 of 99 on CIFAR-100).
    """

    name = "amm"

    def __init__(self, *, lam: float, c: float, d: float, aggregation: str = "min", shrinkage: str = "exp",
                 misclassified: str = "largest", clip_value: float | None = 50.0, high_order: bool = True,
                 steps: int = 6, overshoot: float = 0.02, min_fraction: float = 0.2, inv_max: float = 0.9,
                 max_grad_norm: float | None = 10.0, ce_weight: float = 1.0, candidates: int | None = None) -> None:
        super().__init__()
        self.candidates = None if candidates is None else validate.positive("candidates", candidates)
        self.lam = validate.nonnegative("lam", lam)
        self.ce_weight = validate.nonnegative("ce_weight", ce_weight)
        self.c = validate.positive("c", c)
        self.d = validate.positive("d", d)
        self.aggregation = validate.choice("aggregation", aggregation, AGGREGATIONS)
        self.shrinkage = validate.choice("shrinkage", shrinkage, SHRINKAGES)
        self.misclassified = validate.choice("misclassified", misclassified, MISCLASSIFIED)
        self.clip_value = None if clip_value is None else validate.positive("clip_value", clip_value)
        self.high_order = high_order
        self.steps = validate.positive("steps", steps)
        self.overshoot = validate.nonnegative("overshoot", overshoot)
        self.min_fraction = validate.positive("min_fraction", min_fraction)
        if not inv_max < 1:
            raise ValueError(f"inv_max must be < 1, got {inv_max!r}")
        self.inv_max = inv_max
        self.max_grad_norm = max_grad_norm

    def cap(self) -> float | None:
        """The bound on ``R`` that makes ``lam * R`` saturate at ``clip_value`` (None: uncapped)."""
        return None if self.clip_value is None or self.lam == 0 else self.clip_value / self.lam

    def keep_mask(self, norms: torch.Tensor, y: torch.Tensor, correct: torch.Tensor,
                  usable: torch.Tensor) -> torch.Tensor:
        """The samples whose term enters ``L_DD``: every ``usable`` one (fooled, finite ``||r||``) under AVG, the
        MIN selection of the module docstring otherwise."""
        if self.aggregation == "avg":
            return usable
        # under DistributedDataParallel the selection is made over the whole batch, gathered from every rank
        (norms, y, correct, usable), mine = ddp.gather_batch(norms, y, correct, usable)
        keep = min_aggregation_mask(norms, y, usable & correct, batch_size=len(y), fraction=self.min_fraction)
        wrong = usable & ~correct
        if self.misclassified == "largest":
            wrong = min_aggregation_mask(norms, y, wrong, largest=True, batch_size=len(y), fraction=self.min_fraction)
        return (keep | wrong)[mine]

    def regularizer(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """``L_DD`` of eq. (6) on the batch (differentiable in the parameters) and its statistics."""
        from marginlib.attacks import deepfool

        x = x.detach().requires_grad_(True)
        with eval_mode(model):
            logits = model(x)
            correct = logits.argmax(1) == y
            target = torch.where(correct, torch.full_like(y, -1), y)
            r, fooled = deepfool(model, x, norm="l2", steps=self.steps, overshoot=self.overshoot, target=target,
                                 candidates=self.candidates, differentiable=self.high_order, return_success=True)
            norms = r.flatten(1).norm(dim=1)
            if not self.high_order:
                with torch.no_grad():
                    k = torch.where(correct, model(x + r).argmax(1), logits.argmax(1))
                linear = first_order_distance(logits, x, y, k)
                norms = norms.detach() + linear - linear.detach()
        finite = torch.isfinite(norms)  # a dead network (zero input gradient) gives DeepFool no direction
        norms = torch.where(finite, norms, torch.zeros_like(norms))
        signed = torch.where(correct, -self.c * norms, self.d * norms)
        keep = self.keep_mask(norms.detach(), y, correct, fooled & finite)
        signed = torch.where(keep, signed, 0.0)  # a dropped sample's exp(d ||r||) may overflow: 0 * inf = nan gradient
        cap = self.cap()
        terms = shrink(signed, self.shrinkage, inv_max=self.inv_max, cap=cap)
        value = torch.where(keep, terms, 0.0).sum() / len(x)   # a mean over the samples (over a rank's share)
        if cap and self.shrinkage != "lin":
            saturated = keep & (terms.detach() >= cap * (1 - 1e-6))
        else:
            saturated = torch.zeros_like(keep)
        stats = {"deepfool_norm": norms[correct].mean().detach() if correct.any() else norms.sum().detach(),
                 "kept": keep.float().mean(), "saturated": saturated.float().mean()}
        return value, stats

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        ce = F.cross_entropy(model(x), y)
        reg, stats = self.regularizer(model, x, y)
        return self.ce_weight * ce + self.reg_scale * self.lam * reg, {"ce": ce.detach(), "l_dd": reg.detach(), **stats}

    def __repr__(self) -> str:
        return (f"AMM(lam={self.lam}, c={self.c}, d={self.d}, aggregation={self.aggregation!r}, "
                f"shrinkage={self.shrinkage!r}, misclassified={self.misclassified!r}, clip_value={self.clip_value}, "
                f"high_order={self.high_order}, steps={self.steps}, ce_weight={self.ce_weight})")


class Elsayed(Method):
    """Elsayed et al. (2018) large-margin baseline as paper 003 §4.3.1 implements it: single-step linearized
    distance to the closest other class, ``d_i = (f_y - f_k) / ||grad_x (f_y - f_k)||_2`` with
    ``k = argmax_{j != y} f_j`` and the denominator detached (no high-order gradients), penalized by the
    threshold hinge ``lam * mean_i max(0, gamma - d_i)``."""

    name = "elsayed"

    def __init__(self, *, lam: float, gamma: float, max_grad_norm: float | None = 10.0) -> None:
        super().__init__()
        self.lam = validate.nonnegative("lam", lam)
        self.gamma = validate.positive("gamma", gamma)
        self.max_grad_norm = max_grad_norm

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        x = x.detach().requires_grad_(True)
        logits = model(x)
        ce = F.cross_entropy(logits, y)
        k = logits.detach().scatter(1, y[:, None], float("-inf")).argmax(1)
        distance = first_order_distance(logits, x, y, k) * torch.where(
            logits.gather(1, y[:, None]).squeeze(1) >= logits.gather(1, k[:, None]).squeeze(1), 1.0, -1.0)
        hinge = (self.gamma - distance).clamp_min(0).mean()
        return ce + self.reg_scale * self.lam * hinge, {"ce": ce.detach(), "hinge": hinge.detach(),
                                                        "linear_distance": distance.mean().detach()}

    def __repr__(self) -> str:
        return f"Elsayed(lam={self.lam}, gamma={self.gamma})"
