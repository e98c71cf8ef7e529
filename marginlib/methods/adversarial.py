"""Adversarial training objectives: PGD-AT (Madry et al.), FGSM-AT (paper 004, B.6), TRADES (Zhang et al.)
and MART (Wang et al.), the baselines of papers 001, 002 and 004.

Conventions: adversarial examples are crafted with the model in eval mode and parameter gradients off
(:mod:`marginlib.attacks`' contract), then the loss is taken in train mode with clean and adversarial
batches passed separately (so batch-norm statistics are never pooled across them, as in the authors' code);
images stay in [0, 1]; every ``eps`` is in pixel units. Random starts draw from the method's ``generator`` (in
training, draws keyed by sample that the trainer sets: :mod:`marginlib.rng`).
Every method here is an :class:`~marginlib.methods.base.Adversarial`: ``adversary(model, x, y)`` crafts the batch
and ``loss_at(model, x, x_adv, y)`` is the objective at it, so a regularizer can reuse that batch (EMR-adv).
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import rng, validate
from marginlib.attacks.projections import fresh_generator, linf_box, per_sample, projected_ascent
from marginlib.context import noparamgrad_and_eval
from marginlib.methods.base import Adversarial, Stats
from marginlib.rng import Draws


class PGDAT(Adversarial):
    """PGD adversarial training (Madry et al. 2018): cross-entropy at ``pgd(x, y; eps, step_size, steps)``.

    ``clean_weight`` mixes in the clean loss: ``(1 - w) * CE(x_adv) + w * CE(x)`` (0 = Madry's objective).
    """

    name = "pgd_at"

    def __init__(self, *, eps: float, step_size: float | None = None, steps: int = 10, norm: str = "linf",
                 random_start: bool = True, clean_weight: float = 0.0) -> None:
        super().__init__()
        self.eps = validate.nonnegative("eps", eps)
        self.steps = validate.positive("steps", steps)
        self.step_size = step_size if step_size is not None else 2.5 * eps / steps
        self.norm = validate.norm(norm)
        self.random_start = random_start
        self.clean_weight = validate.nonnegative("clean_weight", clean_weight)

    def adversary(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from marginlib.attacks import pgd

        return pgd(model, x, y, eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm,
                   random_start=self.random_start, generator=self.generator).detach()

    def loss_at(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *,
                index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        if self.clean_weight:
            logits_adv, logits = model(x_adv), model(x)
            adv, clean = F.cross_entropy(logits_adv, y), F.cross_entropy(logits, y)
            loss = (1 - self.clean_weight) * adv + self.clean_weight * clean
            return loss, {"adv_ce": adv.detach(), "ce": clean.detach()}
        logits_adv = model(x_adv)
        adv = F.cross_entropy(logits_adv, y)
        return adv, {"adv_ce": adv.detach(), "adv_error": (logits_adv.argmax(1) != y).float().mean().detach()}

    def __repr__(self) -> str:
        return f"PGDAT(eps={self.eps}, step_size={self.step_size}, steps={self.steps}, norm={self.norm!r})"


class FGSMAT(PGDAT):
    """FGSM adversarial training (paper 004, B.6): cross-entropy at the single-step ``fgsm(x, y; eps)``."""

    name = "fgsm_at"

    def __init__(self, *, eps: float, norm: str = "linf", clean_weight: float = 0.0) -> None:
        super().__init__(eps=eps, step_size=eps, steps=1, norm=norm, random_start=False, clean_weight=clean_weight)

    def adversary(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        from marginlib.attacks import fgsm

        return fgsm(model, x, y, eps=self.eps, norm=self.norm).detach()

    def __repr__(self) -> str:
        return f"FGSMAT(eps={self.eps}, norm={self.norm!r})"


def kl_adversary(model: nn.Module, x: torch.Tensor, *, eps: float, step_size: float, steps: int, norm: str,
                 generator: Draws | None = None, init_std: float = 0.001) -> torch.Tensor:
    """TRADES' inner maximization: PGD on ``KL(p(x) || p(x'))`` from ``x + init_std * N(0, I)``
    (Zhang et al. 2019, Alg. 1), projected onto the ``eps`` ball and [0, 1]."""
    with noparamgrad_and_eval(model):
        p_clean = F.softmax(model(x), dim=1).detach()
        noise = rng.normal(x.shape, fresh_generator(generator), device=x.device, dtype=x.dtype)
        x_adv = (x + init_std * noise).clamp(0, 1)
        eps_t, step_t = per_sample(eps, x, name="eps"), per_sample(step_size, x, name="step_size")
        box = linf_box(x, eps_t) if norm == "linf" else None
        for _ in range(steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), dim=1), p_clean, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = projected_ascent(x, x_adv.detach(), grad, eps=eps_t, step_size=step_t, norm=norm, box=box)
    return x_adv.detach()


def trades_objective(ce: torch.Tensor, logits: torch.Tensor, logits_adv: torch.Tensor, *, beta: float,
                     weights: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
    """TRADES' objective (Zhang et al. 2019, eq. (5)) given its natural loss ``ce``: ``ce + beta * KL(p(x) || p(x'))``
    with the KL averaged over the batch, or, given per-sample ``weights``, their weighted mean (MAIL-TRADES,
    paper 002 appendix A). The one TRADES objective behind :class:`TRADES`, HE's TRADES+HE and MAIL-TRADES."""
    log_q, p = F.log_softmax(logits_adv, dim=1), F.softmax(logits, dim=1)
    if weights is None:
        kl = F.kl_div(log_q, p, reduction="batchmean")
    else:
        kl = (weights * F.kl_div(log_q, p, reduction="none").sum(1)).mean()
    return ce + beta * kl, {"ce": ce.detach(), "kl": kl.detach()}


#: what TRADES' inner maximization attacks: its KL term (Zhang et al.), or the cross-entropy with a uniformly started
#: PGD, the AT attack (paper 002's released ``main-TRADES-EMR.py`` perturbs with that attack)
TRADES_ATTACKS = ("kl", "ce")


class TRADES(Adversarial):
    """TRADES (Zhang et al. 2019, eq. (5)): ``CE(f(x), y) + beta * KL(p(x) || p(x'))``, the KL averaged over
    the batch, ``x'`` from :func:`kl_adversary` (``attack="kl"``, the default) or, with ``attack="ce"``, from
    the cross-entropy PGD of :class:`PGDAT` (uniform random start)."""

    name = "trades"

    def __init__(self, *, eps: float, beta: float = 6.0, step_size: float | None = None, steps: int = 10,
                 norm: str = "linf", attack: str = "kl") -> None:
        super().__init__()
        self.eps = validate.nonnegative("eps", eps)
        self.beta = validate.nonnegative("beta", beta)
        self.steps = validate.positive("steps", steps)
        self.step_size = step_size if step_size is not None else 2.5 * eps / steps
        self.norm = validate.norm(norm)
        self.attack = validate.choice("attack", attack, TRADES_ATTACKS)

    def adversary(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.attack == "ce":
            from marginlib.attacks import pgd

            return pgd(model, x, y, eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm,
                       random_start=True, generator=self.generator).detach()
        return kl_adversary(model, x, eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm,
                            generator=self.generator)

    def loss_at(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *,
                index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        logits, logits_adv = model(x), model(x_adv)
        return trades_objective(F.cross_entropy(logits, y), logits, logits_adv, beta=self.beta)

    def __repr__(self) -> str:
        attack = "" if self.attack == "kl" else f", attack={self.attack!r}"
        return f"TRADES(eps={self.eps}, beta={self.beta}, steps={self.steps}, norm={self.norm!r}{attack})"


class MART(PGDAT):
    """MART (Wang et al. 2020, eq. (9)): boosted cross-entropy at the PGD example
    ``-log p_y(x') - log(1 - max_{k != y} p_k(x'))`` plus ``beta * KL(p(x) || p(x')) * (1 - p_y(x))``."""

    name = "mart"

    def __init__(self, *, eps: float, beta: float = 6.0, step_size: float | None = None, steps: int = 10,
                 norm: str = "linf") -> None:
        super().__init__(eps=eps, step_size=step_size, steps=steps, norm=norm, random_start=True)
        self.beta = validate.nonnegative("beta", beta)

    def loss_at(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *,
                index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        logits, logits_adv = model(x), model(x_adv)
        p_adv, p = F.softmax(logits_adv, dim=1), F.softmax(logits, dim=1)
        other = p_adv.scatter(1, y[:, None], 0.0).amax(dim=1)
        bce = F.cross_entropy(logits_adv, y) - torch.log1p(-other.clamp(max=1 - 1e-12)).mean()
        kl = (p * (torch.log(p.clamp_min(1e-12)) - F.log_softmax(logits_adv, dim=1))).sum(1)
        weighted = (kl * (1 - p.gather(1, y[:, None]).squeeze(1))).mean()
        return bce + self.beta * weighted, {"bce": bce.detach(), "kl": weighted.detach()}

    def __repr__(self) -> str:
        return f"MART(eps={self.eps}, beta={self.beta}, steps={self.steps}, norm={self.norm!r})"
