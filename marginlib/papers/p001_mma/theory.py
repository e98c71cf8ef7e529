"""Paper 001's theory made checkable: the 1-D example of Fig. 2 and Theorem 2.1 on a tiny smooth model.

Conventions (paper 001, §1.1): the loss is the logit margin loss
``L(delta) = max_{j != y} f_j(x + delta) - f_y(x + delta)`` (:func:`marginlib.attacks.losses.margin`; negative while
``x + delta`` is classified correctly); the margin ``d = ||delta*||`` is the length of the minimal
perturbation with ``L(delta*) = 0`` (eq. (1)). Theorem 2.1 is checked for the l2 norm, the case its proof covers
(``||delta||`` is C^2 away from 0), in float64.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.func import functional_call, grad, jacfwd, vmap

from marginlib import validate
from marginlib.attacks import losses
from marginlib.attacks.bisection import bisect

__all__ = ["ExpCurve", "MinimalPerturbation", "Theorem21", "fixed_eps_example", "minimal_perturbation", "theorem21",
           "tiny_tanh_mlp", "zero_crossing"]


def zero_crossing(fn: Callable[[Tensor], Tensor], lo: Tensor | float, hi: Tensor | float, *, steps: int = 60) -> Tensor:
    """Zero crossing of an increasing function by batched bisection (paper 001, Alg. 1 footnote 4).

    The bracket update and the returned end are those of the line search in :func:`marginlib.attacks.an_pgd`
    (``search_result="upper"``), here for any function of the perturbation length rather than a model's loss.
    ``fn`` maps a tensor of points to values of the same shape with ``fn(lo) < 0 <= fn(hi)`` elementwise; returns the
    upper end of the final bracket (a point where ``fn >= 0``), within ``(hi - lo) / 2**steps`` of the crossing.
    """
    low, high = torch.broadcast_tensors(torch.as_tensor(lo, dtype=torch.float64),
                                        torch.as_tensor(hi, dtype=torch.float64))
    return bisect(lambda mid: fn(mid) >= 0, low, high, steps=steps)[1]


@dataclass(frozen=True)
class ExpCurve:
    """An increasing 1-D loss ``L(delta) = exp(rate * (delta - margin)) - 1``: zero exactly at ``delta = margin``."""

    margin: float
    rate: float

    def __call__(self, delta: Tensor) -> Tensor:
        return torch.expm1(self.rate * (torch.as_tensor(delta, dtype=torch.float64) - self.margin))


def fixed_eps_example(*, eps: float = 0.8, margin_before: float = 0.4, rate_before: float = 3.0,
                      margins_after: tuple[float, float] = (0.55, 0.25),
                      loss_after: float = 1.2) -> dict[str, ExpCurve]:
    """The imaginary 1-D example of paper 001, §1.2 and Fig. 2, from explicit curves.

    ``L0`` is the loss before an update; ``La`` and ``Lb`` are two possible losses after it. Both take the same,
    lower, value ``loss_after`` at the training radius ``eps`` (so a fixed-eps adversarial-training step cannot tell
    them apart), yet ``La`` crosses zero at ``margins_after[0]`` and ``Lb`` at ``margins_after[1]`` (Fig. 2: later
    and earlier than ``L0``). Each curve's rate is solved from its value at ``eps``.

    ``eps`` may overshoot the margins (Fig. 2: every margin below ``eps``, ``L(eps) > 0``) or undershoot them (every
    margin above ``eps``, ``-1 < loss_after < L0(eps) < 0``): every curve must increase (a larger perturbation is a
    stronger one), so a margin after the update lies below ``eps`` exactly when ``loss_after > 0``.
    """
    validate.positive("eps", eps)
    named = (("margin_before", margin_before), *zip(("margins_after[0]", "margins_after[1]"), margins_after))
    for name, value in named:
        if not (value > 0 and value != eps):
            raise ValueError(f"{name} must be > 0 and differ from eps={eps}, got {value!r}")
    before = ExpCurve(margin_before, validate.positive("rate_before", rate_before))
    at_eps = float(before(torch.tensor(eps)))
    if not -1 < loss_after < at_eps:
        raise ValueError(f"loss_after must lie in (-1, L0(eps)={at_eps:.4g}) so the update lowers the loss at eps "
                         f"(and L = exp(.) - 1 can reach it), got {loss_after!r}")
    for i, m in enumerate(margins_after):
        if (m < eps) != (loss_after > 0):
            side = "below" if loss_after > 0 else "above"
            raise ValueError(f"margins_after[{i}]={m!r} is out of reach: an increasing loss with "
                             f"L(eps={eps}) = loss_after={loss_after!r} crosses zero {side} eps")
    after = [ExpCurve(m, math.log1p(loss_after) / (eps - m)) for m in margins_after]
    return {"L0": before, "La": after[0], "Lb": after[1]}


def tiny_tanh_mlp(*, inputs: int = 2, hidden: Sequence[int] = (16, 16), classes: int = 3,
                  generator: torch.Generator | None = None) -> nn.Sequential:
    """A small smooth (tanh) MLP ``R^inputs -> R^classes`` in float64, for Theorem 2.1's C^2 assumption.

    Weights are drawn from ``N(0, 1/fan_in)`` with ``generator`` (biases ``N(0, 0.25)``), so the model is nonlinear
    at the scale of the unit box.
    """
    widths = [inputs, *hidden, classes]
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths, widths[1:]):
        linear = nn.Linear(n_in, n_out, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(n_out, n_in, generator=gen, dtype=torch.float64) / math.sqrt(n_in))
            linear.bias.copy_(0.5 * torch.randn(n_out, generator=gen, dtype=torch.float64))
        layers += [linear, nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def _flat(model: nn.Module) -> tuple[Tensor, Callable[[Tensor], dict[str, Tensor]]]:
    """The model's parameters as one float64 vector and the map from such a vector back to a parameter dict."""
    names, shapes = zip(*[(n, p.shape) for n, p in model.named_parameters()])
    sizes = [math.prod(s) for s in shapes]
    theta = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()

    def unflatten(vector: Tensor) -> dict[str, Tensor]:
        return {n: v.view(s) for n, v, s in zip(names, vector.split(sizes), shapes)}

    return theta, unflatten


def _pair_loss(model: nn.Module, unflatten: Callable[[Tensor], dict[str, Tensor]]) -> Callable[..., Tensor]:
    """``g(theta, x, y, j) = f_j(x) - f_y(x)`` for one sample: the active piece of the logit margin loss."""

    def g(theta: Tensor, x: Tensor, y: Tensor, j: Tensor) -> Tensor:
        logits = functional_call(model, unflatten(theta), (x[None],))[0]
        return logits.gather(0, j[None])[0] - logits.gather(0, y[None])[0]

    return g


class MinimalPerturbation(NamedTuple):
    """The l2 minimal perturbation of eq. (1): ``delta`` (N, d), its multiplier ``lam`` (N,), the active class ``j``
    (N,) with ``f_j = f_y`` at ``x + delta``, the margin ``||delta||`` and the KKT residual (N,)."""

    delta: Tensor
    lam: Tensor
    j: Tensor
    margin: Tensor
    residual: Tensor


def _kkt(g: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """First-order conditions of ``min ||delta||_2 s.t. g(delta) = 0`` (paper 001, eq. (7)) in ``z = (delta, lam)``."""

    def kkt(z: Tensor, theta: Tensor, x: Tensor, y: Tensor, j: Tensor) -> Tensor:
        delta, lam = z[:-1], z[-1]
        slope, value = torch.func.grad_and_value(lambda d: g(theta, x + d, y, j))(delta)
        return torch.cat([delta / delta.norm() + lam * slope, value[None]])

    return kkt


def _newton(kkt: Callable[..., Tensor], z: Tensor, args: tuple[Tensor, ...], steps: int) -> tuple[Tensor, Tensor]:
    """Batched Newton iterations on the KKT system; returns the solution and the residual norm per row."""
    residual_fn = vmap(kkt)
    jacobian_fn = vmap(jacfwd(kkt))
    for _ in range(steps):
        z = z - torch.linalg.solve(jacobian_fn(z, *args), residual_fn(z, *args))
    return z, residual_fn(z, *args).norm(dim=1)


def _runner_up(logits: Tensor, y: Tensor) -> Tensor:
    """The class ``j != y`` with the largest logit: the class active in the logit margin loss
    (:func:`marginlib.attacks.losses.margin`)."""
    return logits.scatter(1, y[:, None], -math.inf).argmax(1)


def minimal_perturbation(model: nn.Module, x: Tensor, y: Tensor, *, radius: float = 2.0, rays: int = 360,
                         radii: int = 200, newton_steps: int = 25) -> MinimalPerturbation:
    """The exact l2 minimal perturbation (paper 001, eq. (1)) of a 2-D input, to machine precision.

    A global search first: along ``rays`` directions, the first of ``radii`` radii in ``(0, radius]`` where the logit
    margin loss turns nonnegative; the closest such point over all rays starts Newton's method on the first-order
    conditions (eq. (7)) with the class ``j`` active there. Every point of ``x`` must be correctly classified and have
    a boundary within ``radius``. Runs in float64; batched over samples.
    """
    validate.batch(x, y, bounds=None)
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"x must have shape (N, 2) (the global search is over 2-D directions), got {tuple(x.shape)}")
    validate.positive("radius", radius)
    x = x.double()
    angles = torch.arange(rays, dtype=torch.float64) * (2 * math.pi / rays)
    units = torch.stack([angles.cos(), angles.sin()], dim=1)                       # (R, 2)
    lengths = torch.arange(1, radii + 1, dtype=torch.float64) * (radius / radii)   # (S,)
    with torch.no_grad():
        points = x[:, None, None, :] + lengths[None, None, :, None] * units[None, :, None, :]   # (N, R, S, 2)
        loss = losses.margin(model(points.reshape(-1, 2)), y[:, None, None].expand(points.shape[:3]).reshape(-1))
        loss = loss.view(points.shape[:3])
        if bool((losses.margin(model(x), y) >= 0).any()):
            raise ValueError("every point of x must be correctly classified (its margin is 0 otherwise)")
        crossed = loss >= 0
        first = torch.where(crossed.any(dim=2), crossed.double().argmax(dim=2), radii)   # (N, R) first crossing
        ray = first.argmin(dim=1)
        if bool((first.gather(1, ray[:, None])[:, 0] == radii).any()):
            raise ValueError(f"some points have no decision boundary within radius={radius}; increase radius")
        delta0 = lengths[first.gather(1, ray[:, None])[:, 0]][:, None] * units[ray]
        j = _runner_up(model(x + delta0), y)
    theta, unflatten = _flat(model)
    g = _pair_loss(model, unflatten)
    slope = vmap(grad(lambda d, x_, y_, j_: g(theta, x_ + d, y_, j_)))(delta0, x, y, j)
    lam0 = -(delta0 / delta0.norm(dim=1, keepdim=True) * slope).sum(1) / (slope * slope).sum(1)
    thetas = theta.expand(len(x), -1)
    z, residual = _newton(_kkt(g), torch.cat([delta0, lam0[:, None]], dim=1), (thetas, x, y, j), newton_steps)
    delta = z[:, :-1]
    return MinimalPerturbation(delta, z[:, -1], j, delta.norm(dim=1), residual)


class Theorem21(NamedTuple):
    """Theorem 2.1, checked per sample: the finite-difference gradient of the exact margin ``margin_grad`` (N, P),
    the gradient ``loss_grad`` (N, P) of the loss ``L(delta*, theta)`` w.r.t. the parameters, the multiplier
    ``lam`` (N,), their ``cosine`` (N,) (between ``margin_grad`` and ``-loss_grad``: ``lam < 0``) and the relative error
    of eq. (10), ``||margin_grad - lam * loss_grad|| / ||margin_grad||`` (N,)."""

    margin_grad: Tensor
    loss_grad: Tensor
    lam: Tensor
    cosine: Tensor
    rel_error: Tensor


def theorem21(model: nn.Module, x: Tensor, y: Tensor, *, h: float = 1e-6, newton_steps: int = 25,
              **search: Any) -> Theorem21:
    """Check paper 001, Theorem 2.1 (eq. (10)): ``grad_theta d = lam* dL(delta*, theta)/dtheta``.

    The margin ``d(theta) = ||delta*(theta)||`` is computed exactly (:func:`minimal_perturbation`) at ``theta`` and at
    every ``theta +- h e_i`` (each solve warm-started from ``delta*(theta)``, all ``2 P N`` solves in one batched
    Newton run), giving the central-difference gradient; the loss gradient at ``delta*`` comes from autograd.
    ``search`` is passed to :func:`minimal_perturbation` (``radius``, ``rays``, ``radii``).
    """
    validate.positive("h", h)
    base = minimal_perturbation(model, x, y, newton_steps=newton_steps, **search)
    theta, unflatten = _flat(model)
    g = _pair_loss(model, unflatten)
    x, n, p = x.double(), len(x), len(theta)
    steps = h * torch.eye(p, dtype=torch.float64)
    thetas = torch.cat([theta + steps, theta - steps])                    # (2P, P)
    rep = lambda t: t.repeat_interleave(2 * p, dim=0)                       # noqa: E731  sample-major, then theta
    z0 = torch.cat([base.delta, base.lam[:, None]], dim=1)
    z, _ = _newton(_kkt(g), rep(z0), (thetas.repeat(n, 1), rep(x), rep(y), rep(base.j)), newton_steps)
    margins = z[:, :-1].norm(dim=1).view(n, 2, p)
    margin_grad = (margins[:, 0] - margins[:, 1]) / (2 * h)
    loss_grad = vmap(grad(g), in_dims=(None, 0, 0, 0))(theta, x + base.delta, y, base.j)
    cosine = torch.nn.functional.cosine_similarity(margin_grad, -loss_grad, dim=1)
    rel_error = (margin_grad - base.lam[:, None] * loss_grad).norm(dim=1) / margin_grad.norm(dim=1)
    return Theorem21(margin_grad, loss_grad, base.lam, cosine, rel_error)
