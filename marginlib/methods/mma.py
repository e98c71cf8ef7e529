"""Max-margin adversarial (MMA) training, paper 001, Alg. 2.

Each training sample owns a perturbation length ``eps_i`` in a memory indexed by dataset position
(Alg. 2, line 1: initialized to ``eps_min``). On each batch:

* samples the model misclassifies (``B_0``) contribute the clean cross-entropy and their ``eps_i`` is set
  to 0 (released code);
* correctly classified samples (``B_1``) are attacked by AN-PGD (paper 001, Alg. 1) from
  ``max(eps_min, eps_i)`` (clipped to AN-PGD's ``eps_max``); the length found is stored back (line 8) and the
  cross-entropy at the adversarial example is their loss, but only while ``eps < d_max`` (the hinge at ``d_max``,
  from the released code: samples whose margin already reaches ``d_max`` are no longer pushed);
* the per-sample losses are averaged over the whole batch (``L_MMA``), and the objective is
  ``(1 - clean_weight) * L_MMA + clean_weight * CE(f(x), y)``, ``clean_weight = 1/3`` as in the authors'
  code. ``clean_weight=0`` drops the clean term; what remains is still the released variant, not Alg. 2 as printed:
  the hinge at ``d_max`` stays (Alg. 2 has none), and so do the cross-entropy at the AN-PGD point as the loss whose
  gradient stands for the margin's, and AN-PGD's soft-margin search.

AN-PGD's own defaults (soft logit margin as PGD and search loss, 10 bisection steps, step ``2.5 eps / steps``, the
branch and the bisection on the same loss) follow :func:`marginlib.attacks.an_pgd`.

Options and the released code's choices (BorealisAI/mma_training: ``config.py``, ``train.py``, ``trainer.py``):

* ``steps``, the PGD steps inside AN-PGD: default 10 (the release's CIFAR-10 value); the released MNIST
  configuration uses 40.
* ``eps_min``, the initial and smallest length: default ``d_max / steps`` (this book's choice; the paper gives no
  value); the release uses 0.1 for L-inf MNIST and 0.5 for L2 MNIST (``attack_mineps``; 0.5 also for L2 CIFAR-10).
* ``eps_max_factor``: AN-PGD searches up to ``eps_max_factor * d_max``. Default 1 (the paper's Alg. 2 names one
  ``eps_max``); the release uses 1.05 (``attack_maxeps = hinge_maxeps * 1.05``), so lengths up to ``1.05 d_max``
  are stored and the hinge ``eps < d_max`` drops those samples.
* ``search_result``: ``"upper"`` (default) or ``"midpoint"`` (the release), passed to AN-PGD.
* ``final_pgd``: ``True`` (default, Alg. 1 line 8) or ``False`` (the release: the point ``x + eps u`` on the search
  line, which the release moreover leaves unclipped to ``[0, 1]``; here it is always a valid image).
* ``split``: how ``B_0`` and ``B_1`` are told apart on the clean logits. ``"argmax"`` (default, Alg. 2 line 4:
  "predictions") or ``"soft_margin"`` (the release: correct iff the soft logit margin is ``< 0``, so that a point
  still top-1 correct with ``p_y <= 1/2`` counts as wrong).

Named, not options: the release trains with Adam (lr 1e-4, batch 50, 100k steps on MNIST) and keeps the checkpoint
with the best validation average AN-PGD margin on 5k held-out training images; this book's trainer and model
selection are its own.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import rng, validate
from marginlib.attacks import losses
from marginlib.attacks.anpgd import SEARCH_RESULTS
from marginlib.context import noparamgrad_and_eval
from marginlib.methods.base import Method, Stats

SPLITS = ("argmax", "soft_margin")


class MMA(Method):
    """MMA training (paper 001, Alg. 2); see the module docstring for every convention and option.

    ``d_max`` is the hinge threshold and, times ``eps_max_factor``, AN-PGD's ``eps_max``; ``eps_min`` the initial
    and minimal length; ``steps`` the PGD steps inside AN-PGD; ``eps`` (the memory) is a CPU tensor grown to cover
    every index seen.
    """

    name = "mma"

    def __init__(self, *, d_max: float, norm: str = "linf", steps: int = 10, eps_min: float | None = None,
                 search_steps: int = 10, clean_weight: float = 1 / 3, eps_max_factor: float = 1.0,
                 search_result: str = "upper", final_pgd: bool = True, split: str = "argmax") -> None:
        super().__init__()
        self.d_max = validate.positive("d_max", d_max)
        self.norm = validate.norm(norm)
        self.steps = validate.positive("steps", steps)
        self.eps_min = d_max / steps if eps_min is None else validate.nonnegative("eps_min", eps_min)
        self.eps_max_factor = validate.positive("eps_max_factor", eps_max_factor)
        if self.eps_min > self.eps_max_factor * d_max:
            raise ValueError(f"eps_min={eps_min} must be <= eps_max_factor * d_max = {self.eps_max_factor * d_max}")
        self.search_steps = search_steps
        self.clean_weight = validate.nonnegative("clean_weight", clean_weight)
        self.search_result = validate.choice("search_result", search_result, SEARCH_RESULTS)
        self.final_pgd = bool(final_pgd)
        self.split = validate.choice("split", split, SPLITS)
        self.eps = torch.zeros(0)

    @property
    def eps_max(self) -> float:
        """AN-PGD's largest length, ``eps_max_factor * d_max`` (follows ``d_max`` under a radius warm-up)."""
        return self.eps_max_factor * self.d_max

    def _memory(self, index: torch.Tensor) -> torch.Tensor:
        """The stored lengths of ``index`` (growing the memory with ``eps_min`` for unseen positions)."""
        needed = int(index.max()) + 1
        if needed > len(self.eps):
            self.eps = torch.cat([self.eps, torch.full((needed - len(self.eps),), float(self.eps_min))])
        return self.eps[index.cpu()]

    def _correct(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``B_1``: top-1 correct (``split="argmax"``) or soft logit margin < 0 (``split="soft_margin"``)."""
        if self.split == "argmax":
            return logits.argmax(1) == y
        return losses.soft_margin(logits, y) < 0

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        from marginlib.attacks import an_pgd

        if index is None:
            raise ValueError("MMA needs index= (the dataset positions of the batch) for its eps memory")
        with noparamgrad_and_eval(model), torch.no_grad():
            correct = self._correct(model(x), y)
        eps = torch.zeros(len(x), device=x.device)
        x_train = x.clone()
        if correct.any():
            start = self._memory(index)[correct.cpu()].to(x.device, x.dtype).clamp(min=self.eps_min, max=self.eps_max)
            x_adv, found = an_pgd(model, x[correct], y[correct], eps_init=start, eps_max=self.eps_max,
                                  steps=self.steps, norm=self.norm, search_steps=self.search_steps,
                                  search_result=self.search_result, final_pgd=self.final_pgd,
                                  generator=rng.subset(self.generator, correct))
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

    def sync_samples(self, merge: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Under DistributedDataParallel each rank updates the lengths of its share of each batch; after every epoch
        the trainer's ``merge`` gives every rank the whole memory (each position from the rank that trained it)."""
        self.eps = merge(self.eps)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "eps": self.eps.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.eps = state["eps"].cpu().clone()

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v, default in (
            ("eps_max_factor", self.eps_max_factor, 1.0), ("search_result", self.search_result, "upper"),
            ("final_pgd", self.final_pgd, True), ("split", self.split, "argmax")) if v != default)
        return (f"MMA(d_max={self.d_max}, norm={self.norm!r}, steps={self.steps}, clean_weight={self.clean_weight}"
                f"{extra})")
