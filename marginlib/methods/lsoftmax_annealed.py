"""L-Softmax with its blending weight annealed over training (Liu et al. 2016, §4), paper 002's baseline.

With a large angular margin (``m = 4``) the L-Softmax target logit ``||w_y|| ||phi|| psi(theta_y)`` is about
``-3 ||w_y|| ||phi||`` at initialization (random features are nearly orthogonal to every class weight: at
``theta = pi / 2``, ``k = 2`` and ``psi = cos(2 pi) - 4 = -3``), far below the other logits, and SGD from scratch
collapses to a constant prediction. Liu et al. therefore train with the blended target
``(lam * cos + psi) / (1 + lam)`` (:func:`marginlib.methods.lsoftmax_logits`) and lower ``lam`` after every
iteration, ``lam_t = max(lam_min, base * (1 + gamma * t) ** -power)`` (their Caffe ``LargeMarginInnerProduct``
layer's schedule; ``t`` counts optimizer steps from 0). Convention: the step counter is part of the method's
state, so a resumed run continues the schedule where it stopped.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from marginlib import validate
from marginlib.methods.lsoftmax import LSoftmax


def lsoftmax_lambda(step: int, *, base: float, gamma: float, power: float, lam_min: float) -> float:
    """The blending weight after ``step`` optimizer steps: ``max(lam_min, base * (1 + gamma * step) ** -power)``."""
    validate.nonnegative("step", step)
    return max(lam_min, base * (1.0 + gamma * step) ** -power)


class AnnealedLSoftmax(LSoftmax):
    """:class:`~marginlib.methods.LSoftmax` whose ``lam`` follows :func:`lsoftmax_lambda` (module docstring).

    ``base``, ``gamma`` (>= 0), ``power`` (>= 0) and ``lam_min`` (>= 0) set the schedule; ``lam`` is
    ``lsoftmax_lambda(0)`` before the first step.
    """

    name = "lsoftmax_annealed"

    def __init__(self, *, margin: int = 4, base: float = 100.0, gamma: float = 0.1, power: float = 1.0,
                 lam_min: float = 0.0) -> None:
        self.schedule = {"base": validate.nonnegative("base", base), "gamma": validate.nonnegative("gamma", gamma),
                         "power": validate.nonnegative("power", power),
                         "lam_min": validate.nonnegative("lam_min", lam_min)}
        self.step = 0
        super().__init__(margin=margin, lam=lsoftmax_lambda(0, **self.schedule))

    def after_step(self, model: nn.Module) -> None:
        self.step += 1
        self.lam = lsoftmax_lambda(self.step, **self.schedule)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "step": self.step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.step = int(state["step"])
        self.lam = lsoftmax_lambda(self.step, **self.schedule)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.schedule.items())
        return f"AnnealedLSoftmax(margin={self.margin}, {args}, step={self.step})"
