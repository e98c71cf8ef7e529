"""Any objective evaluated at adversarial examples: adversarial training with a loss other than cross-entropy.

Paper 002 (§3, Table 1 bottom) trains "AT+L-Softmax": the PGD adversary of Madry et al. (it maximizes the plain
cross-entropy, eq. (6)) and the L-Softmax loss on the adversarial batch. Convention: the adversary is the
``attack`` method's ``adversary(model, x, y)`` (e.g. :class:`~marginlib.methods.PGDAT`), run with ``attack``'s
generator; every other hook (steps, epochs, state) belongs to ``inner``.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from marginlib.methods.base import Method, Stats
from marginlib.rng import SampleDraws


class OnAdversary(Method):
    """``inner.loss`` at ``attack.adversary(model, x, y)`` instead of at ``x``."""

    name = "on_adversary"

    def __init__(self, *, attack: Method, inner: Method) -> None:
        super().__init__()
        if not callable(getattr(attack, "adversary", None)):
            raise ValueError(f"attack must be a method with an adversary(model, x, y), e.g. pgd_at; got {attack!r}")
        self.attack: Any = attack   # any method with an adversary(model, x, y) (checked above)
        self.inner = inner

    def setup(self, *, device: torch.device | str, seed: int) -> None:
        self.attack.setup(device=device, seed=seed)
        self.inner.setup(device=device, seed=seed)

    def draw_for(self, draws: SampleDraws) -> None:
        self.attack.draw_for(draws)
        self.inner.draw_for(draws.child(1))

    def sync_samples(self, merge: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.attack.sync_samples(merge)
        self.inner.sync_samples(merge)

    @property
    def shardable(self) -> bool:  # type: ignore[override]
        return bool(self.attack.shardable) and self.inner.shardable

    def set_reg_scale(self, scale: float) -> None:
        self.inner.set_reg_scale(scale)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        return self.inner.loss(model, self.attack.adversary(model, x, y), y, index=index)

    def after_step(self, model: nn.Module) -> None:
        self.inner.after_step(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        self.inner.after_epoch(model, epoch)

    def state_dict(self) -> dict[str, Any]:
        return {"attack": self.attack.state_dict(), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.attack.load_state_dict(state["attack"])
        self.inner.load_state_dict(state["inner"])

    def __repr__(self) -> str:
        return f"OnAdversary(attack={self.attack!r}, inner={self.inner!r})"
