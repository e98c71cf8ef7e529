"""A linear warm-up of an adversarial method's radius: this book's addition, for short CPU-scale runs. Neither paper
001 nor its released code (BorealisAI/mma_training) ramps anything: the release trains MMA at the full ``d_max`` from
the first step, and Madry et al.'s MNIST configuration uses a fixed eps = 0.3 (40 steps of 0.01).

:class:`RadiusWarmup` wraps a method and, at epoch ``e`` (1-based), multiplies each of the base method's radius
attributes by ``min(1, e / epochs)``: for PGD-AT (and FGSM-AT, TRADES, MART) ``eps`` and ``step_size``, for MMA
``d_max`` and ``eps_min`` (so AN-PGD's range and start shrink together, and MMA's stored lengths are clipped to the
current ``eps_max_factor * d_max``). Scaling the step with the radius keeps PGD's ``step = 2.5 eps / steps``
convention. The factor for the next epoch is set by the trainer's ``after_epoch`` hook, and the epoch is part of the
state, so a resumed run continues the ramp where it stopped.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from marginlib import validate
from marginlib.methods.base import Extends, Method, Stats

#: The attributes that scale with the radius, by method name.
RADII: dict[str, tuple[str, ...]] = {
    "pgd_at": ("eps", "step_size"), "fgsm_at": ("eps", "step_size"), "trades": ("eps", "step_size"),
    "mart": ("eps", "step_size"), "mma": ("d_max", "eps_min"),
}


class RadiusWarmup(Extends):
    """``base`` with its radius ramped linearly from ``1 / epochs`` of its value at epoch 1 to the full value at
    epoch ``epochs`` (and after); ``epochs=1`` leaves ``base`` unchanged. Only the methods of :data:`RADII`."""

    name = "radius_warmup"

    def __init__(self, base: Method, *, epochs: int) -> None:
        super().__init__(base)
        validate.choice("base", base.name, RADII)
        self.epochs = validate.positive("epochs", epochs)
        self.targets = {attr: float(getattr(base, attr)) for attr in RADII[base.name]}
        self.epoch = 1
        self._apply()

    def factor(self, epoch: int) -> float:
        """The radius multiplier at ``epoch`` (1-based)."""
        return min(1.0, epoch / self.epochs)

    def _apply(self) -> None:
        for attr, target in self.targets.items():
            setattr(self.base, attr, target * self.factor(self.epoch))

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        loss, stats = self.base.loss(model, x, y, index=index)
        return loss, {**stats, "radius_factor": loss.new_tensor(self.factor(self.epoch)).detach()}

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        super().after_epoch(model, epoch)
        self.epoch = epoch + 1
        self._apply()

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.epoch = int(state["epoch"])
        self._apply()

    def __repr__(self) -> str:
        return f"RadiusWarmup({self.base!r}, epochs={self.epochs})"

