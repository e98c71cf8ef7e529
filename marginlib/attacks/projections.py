"""Norm balls in pixel space, per sample: norms, steepest-ascent steps, projections and random starts.

Every radius is a per-sample tensor of shape ``(N,)`` (a scalar is broadcast), so attacks can give each sample
its own eps (MMA training, paper 001, Alg. 2). Perturbations have the input's shape ``(N, ...)``.
"""
from __future__ import annotations

import math
from typing import overload

import torch

from marginlib import rng, validate
from marginlib.rng import Draws

_TINY = 1e-12


def per_sample(value: float | torch.Tensor, x: torch.Tensor, *, name: str) -> torch.Tensor:
    """``value`` (a number, 0-d or ``(N,)`` tensor, all >= 0) as an ``(N,)`` tensor on ``x``'s device and dtype."""
    t = torch.as_tensor(value, dtype=x.dtype, device=x.device)
    if t.dim() == 0:
        t = t.expand(x.shape[0])
    elif t.shape != (x.shape[0],):
        raise ValueError(f"{name} must be a number or a tensor of shape ({x.shape[0]},), got shape {tuple(t.shape)}")
    validate.nonnegative(name, t)
    return t


def _col(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape an ``(N,)`` tensor to broadcast against ``x`` of shape ``(N, ...)``."""
    return t.view(-1, *([1] * (x.dim() - 1)))


def lp_norm(v: torch.Tensor, norm: str) -> torch.Tensor:
    """Per-sample norm of ``v`` flattened: ``'linf'`` (max abs), ``'l2'``, or ``'l1'``."""
    flat = v.flatten(1)
    if norm == "linf":
        return flat.abs().amax(1)
    if norm == "l1":
        return flat.abs().sum(1)
    return flat.norm(dim=1)


def dual(norm: str) -> str:
    """The dual norm: ``linf`` <-> ``l1``, ``l2`` <-> ``l2``."""
    return {"linf": "l1", "l1": "linf", "l2": "l2"}[norm]


def ascent_step(grad: torch.Tensor, step_size: torch.Tensor, norm: str) -> torch.Tensor:
    """Steepest-ascent step of length ``step_size`` (per sample) in ``norm``: ``sign(g)`` for Linf, ``g/||g||_2``
    for L2 (a zero gradient gives a zero step)."""
    if norm == "linf":
        direction = grad.sign()
    else:
        direction = grad / _col(lp_norm(grad, "l2").clamp_min(_TINY), grad)
    return _col(step_size, grad) * direction


def project(delta: torch.Tensor, eps: torch.Tensor, norm: str) -> torch.Tensor:
    """Euclidean projection of each ``delta[i]`` onto the ``norm`` ball of radius ``eps[i]``."""
    if norm == "linf":
        e = _col(eps, delta)
        return torch.maximum(torch.minimum(delta, e), -e)
    scale = (eps / lp_norm(delta, "l2").clamp_min(_TINY)).clamp(max=1.0)
    return delta * _col(scale, delta)


def linf_box(x: torch.Tensor, eps: torch.Tensor,
             bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel ``(lower, upper)`` limits of the Linf ball of radius ``eps[i]`` intersected with ``bounds``.

    For ``x`` in the box, clamping to these limits equals projecting onto the ball and then clipping to the box,
    in one pass: an attack computes them once and clamps every iterate.
    """
    e = _col(eps, x)
    return (x - e).clamp_min(bounds[0]), (x + e).clamp_max(bounds[1])


def clip_to_box(x: torch.Tensor, delta: torch.Tensor, bounds: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """The perturbation that keeps ``x + delta`` inside ``bounds``. For ``x`` in the box it only shrinks
    ``|delta|`` coordinate-wise, so every Lp constraint that held still holds."""
    return (x + delta).clamp(*bounds) - x


def projected_ascent(
    x: torch.Tensor, x_adv: torch.Tensor, grad: torch.Tensor, *, eps: torch.Tensor, step_size: torch.Tensor, norm: str,
    box: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """One projected ascent step from ``x_adv``: step, project onto the eps-ball around ``x``, clip to [0, 1].

    For Linf the projection and the clipping are one clamp to ``box = linf_box(x, eps)`` (compute it once per attack).
    """
    if norm == "linf":
        lower, upper = linf_box(x, eps) if box is None else box
        return torch.clamp(x_adv + ascent_step(grad, step_size, norm), lower, upper)
    delta = project(x_adv - x + ascent_step(grad, step_size, norm), eps, norm)
    return x + clip_to_box(x, delta)


def random_start(x: torch.Tensor, eps: torch.Tensor, norm: str, generator: Draws) -> torch.Tensor:
    """A perturbation drawn uniformly from the ``norm`` ball of radius ``eps[i]`` around each sample.

    Linf: i.i.d. uniform in ``[-eps, eps]`` per pixel (Madry et al.). L2: uniform in the ball, a Gaussian direction
    times ``eps * U^(1/d)``. Numbers come from ``generator`` (a ``torch.Generator``, drawn on its device and moved to
    ``x``'s, or the trainer's per-sample :class:`~marginlib.rng.SampleDraws`).
    """
    n, d = x.shape[0], math.prod(x.shape[1:])
    if norm == "linf":
        u = rng.uniform(x.shape, generator, device=x.device, dtype=x.dtype)
        return (2 * u - 1) * _col(eps, x)
    g = rng.normal(x.shape, generator, device=x.device, dtype=x.dtype)
    radius = rng.uniform((n,), generator, device=x.device, dtype=x.dtype) ** (1.0 / d) * eps
    return g * _col(radius / lp_norm(g, "l2").clamp_min(_TINY), x)


@overload
def fresh_generator(generator: torch.Generator | None) -> torch.Generator: ...
@overload
def fresh_generator(generator: Draws | None) -> Draws: ...
def fresh_generator(generator: Draws | None) -> Draws:
    """``generator``, or a new non-deterministically seeded CPU generator: the global RNG is never touched."""
    if generator is not None:
        return generator
    g = torch.Generator()
    g.seed()
    return g
