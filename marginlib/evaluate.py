"""Evaluation of trained models: clean and PGD robust accuracy over a range of eps.

* :func:`accuracy` and :func:`robust_accuracy` give the columns of paper 000's Table 1 (clean accuracy; L2 PGD robust
  accuracy at several eps). All radii are attacked in one batched PGD run: the batch is repeated once per eps and
  each copy gets its own radius (``marginlib.attacks.pgd`` takes a per-sample eps).

Conventions: accuracies are fractions in [0, 1]; a sample counts as robust at ``eps`` when the PGD iterate it ends
with is still classified correctly (a misclassified clean point is never robust); ``eps = 0`` is clean accuracy.
Models are evaluated in eval mode and left in their previous mode, with parameter gradients untouched.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import Tensor, nn

from marginlib import attacks, validate
from marginlib.context import model_device, noparamgrad_and_eval

__all__ = ["accuracy", "batched", "correct", "pgd_at_radii", "robust_accuracy"]


def batched(fn: Callable[..., Tensor | tuple[Tensor, ...]], *tensors: Tensor, batch_size: int,
            device: torch.device | str | None = None) -> Tensor | tuple[Tensor, ...]:
    """``fn`` applied to consecutive chunks of ``batch_size`` rows of ``tensors`` (each chunk moved to ``device``),
    its outputs concatenated along the first dimension on the CPU.

    The one loop behind every "run this over a large set on the model's device" in the library (adv-lib's
    ``run_attack``): ``batched(lambda xb, yb: model(xb).argmax(1) == yb, x, y, batch_size=500, device=dev)``.
    ``fn`` may return a tensor or a tuple of tensors (then a tuple comes back). Gradients are as ``fn`` makes
    them: wrap the call in ``torch.no_grad()`` for evaluation.
    """
    validate.positive("batch_size", batch_size)
    if not tensors:
        raise ValueError("batched needs at least one tensor to split")
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError(f"batched: tensors of different lengths {[len(t) for t in tensors]}")
    outputs: list[Tensor | tuple[Tensor, ...]] = []
    for chunk in zip(*(t.split(batch_size) for t in tensors)):
        out = fn(*(c.to(device) if device is not None else c for c in chunk))
        outputs.append(tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu())
    if isinstance(outputs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outputs))
    return torch.cat([o for o in outputs if isinstance(o, Tensor)])


@torch.no_grad()
def correct(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> Tensor:
    """Boolean mask (on the CPU) of the points of ``(x, y)`` that ``model`` (eval mode) classifies correctly."""
    validate.batch(x, y, bounds=None)
    validate.positive("batch_size", batch_size)
    with noparamgrad_and_eval(model):
        hits = batched(lambda xb, yb: model(xb).argmax(1) == yb, x, y, batch_size=batch_size,
                       device=model_device(model))
    assert isinstance(hits, Tensor)
    return hits


def accuracy(model: nn.Module, x: Tensor, y: Tensor, *, batch_size: int = 1000) -> float:
    """Clean accuracy of ``model`` (eval mode) on ``(x, y)``, a fraction in [0, 1]."""
    return int(correct(model, x, y, batch_size=batch_size).sum()) / len(y)


def at_radii(attack: Callable[[Tensor, Tensor, Tensor], Tensor], model: nn.Module, x: Tensor, y: Tensor, *,
             eps: Sequence[float], batch_size: int = 1000) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """Any attack at several radii in one run per batch: yields ``(xb, yb, x_adv)`` with ``x_adv`` of shape
    ``(len(eps), len(xb), ...)``, the attacked batch at each radius.

    Each batch of ``batch_size`` samples (on the model's device) is repeated once per radius and attacked by one
    call ``attack(xs, ys, radius)`` with the per-sample radius ``radius`` (shape ``(len(eps) * len(xb),)``), so
    ``len(eps)`` radii cost one attack on ``len(eps)`` times the batch.
    """
    validate.batch(x, y, bounds=(0.0, 1.0))
    validate.positive("batch_size", batch_size)
    radii = [float(e) for e in eps]
    if not radii:
        raise ValueError("eps must hold at least one radius")
    for e in radii:
        validate.nonnegative("eps", e)
    device = model_device(model)
    k = len(radii)
    for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
        xb, yb = xb.to(device), yb.to(device)
        xs, ys = xb.repeat(k, *([1] * (xb.dim() - 1))), yb.repeat(k)
        radius = torch.tensor(radii, dtype=xb.dtype, device=device).repeat_interleave(len(yb))
        yield xb, yb, attack(xs, ys, radius).view(k, *xb.shape)


def pgd_at_radii(model: nn.Module, x: Tensor, y: Tensor, *, eps: Sequence[float], norm: str, steps: int,
                 step_size: float | None = None, random_start: bool = False, restarts: int = 1,
                 generator: torch.Generator | None = None, batch_size: int = 1000,
                 select: str = "fooled") -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """PGD at several radii in one run per batch (``at_radii``): yields ``(xb, yb, x_adv)`` with ``x_adv`` of
    shape ``(len(eps), len(xb), ...)``, the attacked batch at each radius.

    One :func:`marginlib.attacks.pgd` call per batch with a per-sample eps (cross-entropy loss, ``restarts``
    starts of ``steps`` steps of ``step_size``, default ``2.5 * eps / steps`` as in paper 001's released code; the
    attack keeps each sample's worst iterate by ``select``, see :func:`marginlib.attacks.pgd`).
    """
    validate.norm(norm)
    validate.positive("steps", steps)

    def attack(xs: Tensor, ys: Tensor, radius: Tensor) -> Tensor:
        step = radius * 2.5 / steps if step_size is None else step_size
        return attacks.pgd(model, xs, ys, eps=radius, step_size=step, steps=steps, norm=norm,
                           random_start=random_start, restarts=restarts, generator=generator, select=select)

    yield from at_radii(attack, model, x, y, eps=eps, batch_size=batch_size)


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, *, eps: Sequence[float], norm: str = "l2",
                    step_size: float, steps: int, random_start: bool = False,
                    generator: torch.Generator | None = None, batch_size: int = 1000) -> dict[float, float]:
    """PGD robust accuracy at every radius in ``eps``: ``{eps: fraction of (x, y) still correct}``.

    Paper 000, Table 1 (L2 PGD, step 0.01, 1,000 iterations). All radii are attacked together
    (:func:`pgd_at_radii`); ``batch_size`` counts original samples.
    """
    radii = [float(e) for e in eps]
    correct = torch.zeros(len(radii), dtype=torch.long)
    for _xb, yb, x_adv in pgd_at_radii(model, x, y, eps=radii, norm=norm, steps=steps, step_size=step_size,
                                      random_start=random_start, generator=generator, batch_size=batch_size):
        with noparamgrad_and_eval(model), torch.no_grad():
            hit = model(x_adv.flatten(0, 1)).argmax(1).view(len(radii), len(yb)) == yb
        correct += hit.sum(1).cpu()
    return {e: int(c) / len(y) for e, c in zip(radii, correct)}
