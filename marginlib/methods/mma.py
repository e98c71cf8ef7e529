"""Max-margin adversarial (MMA) training, paper 001, Alg. 2.

Each training sample owns a perturbation length ``eps_i`` in a memory indexed by dataset position
(Alg. 2, line 1: initialized to ``eps_min``). On each batch:

* samples the model misclassifies (``B_0``) contribute the clean cross-entropy and their ``eps_i`` is set
  to 0 (released code);
* correctly classified samples (``B_1``) are attacked by AN-PGD (paper 001, Alg. 1) from
  ``max(eps_min, eps_i)``; the length found is stored back (line 8) and the cross-entropy at the
  adversarial example is their loss, but only while ``eps < d_max`` (the hinge at ``d_max``: samples whose
  margin already reaches ``d_max`` are no longer pushed);
* the per-sample losses are averaged over the whole batch (``L_MMA``), and the objective is
  ``(1 - clean_weight) * L_MMA + clean_weight * CE(f(x), y)``, ``clean_weight = 1/3`` as in the authors'
  code (0 gives Alg. 2 exactly).

AN-PGD's own defaults (soft logit margin, 10 bisection steps, step ``2.5 eps / steps``) follow
:func:`marginlib.attacks.an_pgd`.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from marginlib import validate
from marginlib.context import noparamgrad_and_eval
from marginlib.methods.base import Method


class MMA(Method):
    """MMA training (paper 001, Alg. 2); see the module docstring for every convention.

    ``d_max`` is the hinge threshold and AN-PGD's ``eps_max``; ``eps_min`` the initial and minimal length;
    ``steps`` the PGD steps inside AN-PGD; ``eps`` (the memory) is a CPU tensor grown to cover every index seen.
    """

    name = "mma"

    def __init__(self, *, d_max: float, norm: str = "linf", steps: int = 10, eps_min: float | None = None,
                 search_steps: int = 10, clean_weight: float = 1 / 3) -> None:
        super().__init__()
        self.d_max = validate.positive("d_max", d_max)
        self.norm = validate.norm(norm)
        self.steps = validate.positive("steps", steps)
        self.eps_min = d_max / steps if eps_min is None else validate.nonnegative("eps_min", eps_min)
        if self.eps_min > d_max:
            raise ValueError(f"eps_min={eps_min} must be <= d_max={d_max}")
        self.search_steps = search_steps
        self.clean_weight = validate.nonnegative("clean_weight", clean_weight)
        self.eps = torch.zeros(0)

    def _memory(self, index: torch.Tensor) -> torch.Tensor:
        """The stored lengths of ``index`` (growing the memory with ``eps_min`` for unseen positions)."""
        needed = int(index.max()) + 1
        if needed > len(self.eps):
            self.eps = torch.cat([self.eps, torch.full((needed - len(self.eps),), float(self.eps_min))])
        return self.eps[index.cpu()]

    def loss(self, model, x, y, *, index=None):
        from marginlib.attacks import an_pgd

        if index is None:
            raise ValueError("MMA needs index= (the dataset positions of the batch) for its eps memory")
        with noparamgrad_and_eval(model), torch.no_grad():
            correct = model(x).argmax(1) == y
        eps = torch.zeros(len(x), device=x.device)
        x_train = x.clone()
        if correct.any():
            start = self._memory(index)[correct.cpu()].to(x.device).clamp(min=self.eps_min, max=self.d_max)
            x_adv, found = an_pgd(model, x[correct], y[correct], eps_init=start, eps_max=self.d_max, steps=self.steps,
                                  norm=self.norm, search_steps=self.search_steps, generator=self.generator)
            x_train[correct] = x_adv.detach()
            eps[correct] = found.detach().to(eps.dtype)
        self._memory(index)
        self.eps[index.cpu()] = eps.cpu()
        active = ~correct | (eps < self.d_max)
        logits = model(x_train)
        per_sample = F.cross_entropy(logits, y, reduction="none")
        mma = (per_sample * active).mean()
        stats = {"mma": mma.detach(), "eps": eps[correct].mean().detach() if correct.any() else eps.sum(),
                 "active": active.float().mean()}
        if not self.clean_weight:
            return mma, stats
        clean = F.cross_entropy(model(x), y)
        return (1 - self.clean_weight) * mma + self.clean_weight * clean, {**stats, "ce": clean.detach()}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "eps": self.eps.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.eps = state["eps"].cpu().clone()

    def __repr__(self) -> str:
        return f"MMA(d_max={self.d_max}, norm={self.norm!r}, steps={self.steps}, clean_weight={self.clean_weight})"
