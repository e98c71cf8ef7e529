"""The training-method interface shared by every objective in :mod:`marginlib.methods`.

A method turns a batch into a scalar loss (plus statistics for the history) and may act on the model
between optimizer steps (Parseval retraction) or epochs (spectral normalization). Methods that add a
regularizer to another objective (EMR on top of PGD-AT, spectral normalization around any method) hold
that objective as ``base`` and delegate to it.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import validate
from marginlib.context import eval_mode
from marginlib.models.base import weight_layers  # noqa: F401  (re-exported for the methods)
from marginlib.rng import Draws, SampleDraws

_MODE_DEPENDENT = (nn.modules.batchnorm._BatchNorm, nn.modules.dropout._DropoutNd)


def mode_free(model: nn.Module) -> bool:
    """True when ``model`` has no batch-norm or dropout layer (train and eval modes then agree)."""
    return not any(isinstance(m, _MODE_DEPENDENT) for m in model.modules())

Stats = dict[str, torch.Tensor]


class Method:
    """Base class: a training objective ``loss(model, x, y, *, index) -> (loss, stats)``.

    ``index`` holds the dataset positions of the batch (for per-sample memories such as MMA's eps).
    ``stats`` maps names to detached scalar tensors; the trainer averages them over the epoch.
    ``reg_scale`` multiplies every regularizer weight; the trainer divides it with the learning rate
    when asked (paper 002 divides lambda_EMR at each LR milestone). ``max_grad_norm``, when set, makes the
    trainer clip the gradient norm before each step (paper 003 clips at 10).

    Random draws (random starts, TRADES' noise) come from ``generator``: a ``torch.Generator`` made by
    :meth:`setup`, which :func:`~marginlib.train.fit` replaces before every batch with draws keyed by the batch's
    dataset positions (:meth:`draw_for`), so that a sample's draws do not depend on its batch or its rank.

    ``shardable`` says whether the loss is a mean of per-sample terms (plus terms of the weights alone), so
    that a batch split over ranks, each rank's share weighted by its size, has the gradient of the whole batch:
    :func:`~marginlib.train.fit` refuses a method without it under DistributedDataParallel.
    """

    name = "method"
    max_grad_norm: float | None = None
    shardable = True

    def __init__(self) -> None:
        self.reg_scale = 1.0
        self.generator: Draws | None = None

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        raise NotImplementedError

    def setup(self, *, device: torch.device | str, seed: int) -> None:
        """Create the method's random generator on ``device`` (the trainer calls this before training)."""
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def draw_for(self, draws: SampleDraws) -> None:
        """Draw the next batch's random numbers from ``draws`` (keyed by its samples; the trainer calls this)."""
        self.generator = draws

    def sync_samples(self, merge: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Replace every memory indexed by dataset position (MMA's eps) with ``merge(memory)``: under
        DistributedDataParallel the trainer calls this after every epoch, and ``merge`` gathers each position from
        the rank that trained it. Methods without such a memory have nothing to do."""

    def set_reg_scale(self, scale: float) -> None:
        self.reg_scale = float(scale)

    def after_step(self, model: nn.Module) -> None:
        """Called after every optimizer step."""

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        """Called after every epoch (1-based) and before evaluation and checkpointing."""

    def state_dict(self) -> dict[str, Any]:
        """Tensors, lists and numbers only, so that checkpoints load with ``weights_only=True``."""
        state: dict[str, Any] = {"reg_scale": self.reg_scale}
        if isinstance(self.generator, torch.Generator):
            state["generator"] = self.generator.get_state()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.reg_scale = state["reg_scale"]
        if "generator" in state and isinstance(self.generator, torch.Generator):
            self.generator.set_state(state["generator"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Extends(Method):
    """A method that adds to another objective ``base``: hooks, generator and state reach the base too."""

    def __init__(self, base: Method | None = None) -> None:
        super().__init__()
        self.base = base if base is not None else Standard()

    def setup(self, *, device: torch.device | str, seed: int) -> None:
        super().setup(device=device, seed=seed)
        self.base.setup(device=device, seed=seed + 1)

    def draw_for(self, draws: SampleDraws) -> None:
        super().draw_for(draws)
        self.base.draw_for(draws.child(1))

    def sync_samples(self, merge: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.base.sync_samples(merge)

    @property
    def shardable(self) -> bool:  # type: ignore[override]
        return self.base.shardable

    def set_reg_scale(self, scale: float) -> None:
        super().set_reg_scale(scale)
        self.base.set_reg_scale(scale)

    @property
    def max_grad_norm(self) -> float | None:  # type: ignore[override]
        return self.base.max_grad_norm

    def after_step(self, model: nn.Module) -> None:
        self.base.after_step(model)

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        self.base.after_epoch(model, epoch)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "base": self.base.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.base.load_state_dict(state["base"])


class Adversarial(Method):
    """A method that trains on adversarial examples: ``loss`` crafts the batch with ``adversary(model, x, y)``
    and hands it to ``loss_at(model, x, x_adv, y)``.

    The split lets a regularizer reuse the very batch the objective trained on (paper 002, Algorithm 1: EMR at
    the adversarial example ``x~_i``, "EMR-adv" in Table 4) without running the attack twice:
    ``Regularized(on="adversarial")`` calls ``adversary`` once and passes the result to ``loss_at``.
    """

    def adversary(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The adversarial batch (detached) this method trains on, drawn with the method's generator."""
        raise NotImplementedError

    def loss_at(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *,
                index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        """The objective given the clean batch ``x`` and its adversarial batch ``x_adv``."""
        raise NotImplementedError

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        return self.loss_at(model, x, self.adversary(model, x, y), y, index=index)


class Regularized(Extends):
    """``base`` objective plus ``weight * mean_i values_i``, where subclasses define the per-sample
    ``values(model, x, logits, y)`` from a forward pass whose input ``x`` requires grad.

    ``on`` chooses the inputs of that pass: ``"clean"`` (default), the batch itself; ``"adversarial"``, the
    adversarial batch the ``base`` trains on (paper 002, Algorithm 1 and Table 4's "EMR-adv"), which needs an
    :class:`Adversarial` base and is crafted once, for both terms.

    ``scaling`` chooses the batch reduction: ``"sample"`` (default), ``weight * (1/B) sum_i values_i`` (paper 002,
    eq. (5)); ``"batch_mean"``, that divided by ``B`` again, which is what differentiating the batch *mean* of the
    weighted logits does in paper 002's released code (``weight / B^2`` per sample).

    The regularizer pass runs the network in eval mode (batch-norm running statistics, no dropout), as
    the released code of papers 002 and 003 does, so each sample's value depends on that sample only.
    When ``base`` is plain cross-entropy and the model has no batch-norm or dropout layer (train and eval
    modes then compute the same function), one forward pass serves both terms.
    """

    stat = "reg"

    def __init__(self, *, weight: float, on: str = "clean", scaling: str = "sample",
                 base: Method | None = None) -> None:
        super().__init__(base)
        self.weight = validate.nonnegative("weight", weight)
        self.scaling = validate.choice("scaling", scaling, ("sample", "batch_mean"))
        self.on = validate.choice("on", on, ("clean", "adversarial"))
        if self.on == "adversarial" and not isinstance(self.base, Adversarial):
            raise ValueError(f"on='adversarial' needs a base that trains on adversarial examples (pgd_at, fgsm_at, "
                             f"trades, mart, mail or he), got base={self.base!r}; use on='clean'")

    def values(self, model: nn.Module, x: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    @property
    def shardable(self) -> bool:  # type: ignore[override]
        """``scaling="batch_mean"`` divides by the batch size, which a rank's share does not know."""
        return self.scaling == "sample" and self.base.shardable

    def reduce(self, values: torch.Tensor) -> torch.Tensor:
        """The batch's penalty from per-sample values: their mean, over ``B`` again for ``scaling="batch_mean"``."""
        return values.mean() / (len(values) if self.scaling == "batch_mean" else 1)

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        if self.on == "adversarial":
            assert isinstance(self.base, Adversarial)   # checked in __init__
            x_adv = self.base.adversary(model, x, y)
            base, stats = self.base.loss_at(model, x, x_adv, y, index=index)
            x = x_adv.detach().requires_grad_(True)
            with eval_mode(model):
                logits = model(x)
        else:
            x = x.detach().requires_grad_(True)
            if type(self.base) is Standard and mode_free(model):
                logits = model(x)
                base = F.cross_entropy(logits, y)
                stats = {"ce": base.detach()}
            else:
                base, stats = self.base.loss(model, x.detach(), y, index=index)
                with eval_mode(model):
                    logits = model(x)
        values = self.values(model, x, logits, y)
        penalty = self.reg_scale * self.weight * self.reduce(values)
        return base + penalty, {**stats, self.stat: values.mean().detach()}


class Standard(Method):
    """Cross-entropy on clean inputs (weight decay lives in the optimizer: :func:`marginlib.optim.sgd`).

    ``max_grad_norm`` clips the gradient norm before each step (paper 003 trains its reference this way, at 10).
    """

    name = "standard"

    def __init__(self, *, max_grad_norm: float | None = None) -> None:
        super().__init__()
        self.max_grad_norm = None if max_grad_norm is None else validate.positive("max_grad_norm", max_grad_norm)

    def __repr__(self) -> str:
        return "Standard()" if self.max_grad_norm is None else f"Standard(max_grad_norm={self.max_grad_norm})"

    def loss(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
             index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        return loss, {"ce": loss.detach()}


def as_matrix(weight: torch.Tensor) -> torch.Tensor:
    """A layer weight as a matrix with one row per output unit: (out, in) or (out, in * kh * kw) for convs."""
    return weight.reshape(weight.shape[0], -1)
