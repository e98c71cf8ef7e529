"""Input-space margin estimators: exact for linear models, lower bounds, local linearizations and upper bounds.

Every estimator returns a 1-D tensor of *signed* margins, one per sample, under one convention:

- ``m_i > 0``: ``x_i`` is correctly classified and ``m_i`` is (an estimate of) the distance from ``x_i`` to the
  boundary of its true-label region ``F_y = {z : argmax_k f_k(z) = y}``.
- ``m_i < 0``: ``x_i`` is misclassified and ``|m_i|`` is (an estimate of) the distance from ``x_i`` to ``F_y``,
  how far ``x_i`` must move to be classified correctly (the target-the-true-label convention of paper 003, §3.1.2).
- ``m_i = 0``: a tie on the boundary.

The closed-form quotient ``min_{j != y} (f_y - f_j)(x) / ||grad (f_y - f_j)||_q`` follows this convention by itself:
for a misclassified point it equals ``-max_j (f_j - f_y)(x) / ||...||_q``, minus the distance to the farthest
violated pairwise boundary. ``norm`` (``"l2"`` or ``"linf"``) is the norm of the perturbation; weight and gradient
norms are its dual, ``q`` (l2 -> l2, linf -> l1). Distances live in R^d as the papers define them, unless an
estimator takes ``bounds=(lo, hi)`` for the box-constrained distance (PGD-based estimates are always box-constrained,
since the attack returns valid images). A one-logit binary model (output ``(N, 1)``, class 1 iff ``f > 0``) is read
as the two-logit model ``(0, f)``. Estimators run the model in eval mode, restore each module's mode afterwards and
never touch parameter ``.grad``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn
from tqdm import tqdm  # plain text bars: widgets do not survive a static book

from marginlib import attacks, validate
from marginlib.attacks.bisection import bisect
from marginlib.attacks.projections import lp_norm, per_sample
from marginlib.context import noparamgrad_and_eval

REFERENCES = ("label", "predicted")

__all__ = ["Bracket", "TwoLogits", "attack_margin", "bracket", "deepfool_margin", "effective", "exact_linear",
           "lipschitz_lower_bound", "logit"]


class TwoLogits(nn.Module):
    """A one-logit binary classifier (class 1 iff ``f > 0``) read as the two-logit model ``(0, f)``; a model with
    ``K >= 2`` logits passes through. Every margin estimator reads its model this way; wrap a one-logit model in it
    to attack it (the attacks refuse one logit)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out = self.model(x)
        if out.dim() != 2:
            raise ValueError(f"model must return logits of shape (N, K), got {tuple(out.shape)}")
        return torch.cat([torch.zeros_like(out), out], dim=1) if out.shape[1] == 1 else out


def _check(x: Tensor, y: Tensor, norm: str, bounds: tuple[float, float] | None = None) -> None:
    validate.norm(norm)
    validate.batch(x, y, bounds=bounds)
    if bounds is not None and not bounds[0] < bounds[1]:
        raise ValueError(f"bounds must be (lo, hi) with lo < hi, got {bounds!r}")


def _others(ref: Tensor, k: int) -> Tensor:
    """``(N, K-1)`` indices of the classes other than ``ref``, in increasing order."""
    classes = torch.arange(k, device=ref.device).expand(len(ref), k)
    return classes[classes != ref[:, None]].view(len(ref), k - 1)


def _gaps(logits: Tensor, ref: Tensor) -> Tensor:
    """``(N, K-1)`` logit differences ``f_ref - f_j`` for every ``j != ref``."""
    return logits.gather(1, ref[:, None]) - logits.gather(1, _others(ref, logits.shape[1]))


def _dual_norm(g: Tensor, norm: str) -> Tensor:
    """Dual norm over the last axis: l2 for ``norm="l2"``, l1 for ``norm="linf"``."""
    return g.norm(dim=-1) if norm == "l2" else g.abs().sum(dim=-1)


def _quotient(gaps: Tensor, scale: Tensor) -> Tensor:
    """``gaps / scale`` with ``0 / 0 = 0`` (a tie) and ``g / 0 = sign(g) * inf`` (a pair that never crosses)."""
    return torch.where(gaps == 0, torch.zeros_like(gaps), gaps / scale)


def _num_classes(model: nn.Module, x: Tensor) -> int:
    with torch.no_grad():
        return model(x[:1]).shape[1]


def _gap_gradients(model: nn.Module, x: Tensor, ref: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Values ``(N, K-1)`` and flattened input gradients ``(N, K-1, d)`` of ``f_ref - f_j`` for all ``j != ref``.

    One forward pass and one batched backward pass (``autograd.grad(..., is_grads_batched=True)``) over the ``K-1``
    cotangents ``e_ref - e_j``: no Python loop over classes, and the forward pass is not repeated per class.
    """
    n = len(x)
    xs = x.detach().requires_grad_(True)
    others = _others(ref, k)
    rows = torch.arange(n, device=x.device)
    with torch.enable_grad():
        logits = model(xs)
        cotangents = torch.zeros(k - 1, n, k, dtype=logits.dtype, device=logits.device)
        cotangents[:, rows, ref] = 1.0
        cotangents[torch.arange(k - 1, device=x.device)[:, None], rows, others.T] = -1.0
        (grad,) = torch.autograd.grad(logits, xs, cotangents, is_grads_batched=True)
    return _gaps(logits.detach(), ref), grad.flatten(2).transpose(0, 1)


def affine_weights(model_or_weight: nn.Module | tuple[Tensor, Tensor], x: Tensor) -> tuple[Tensor, Tensor]:
    """Weight ``(K, d)`` and bias ``(K,)`` of an affine classifier of the flattened input.

    A module is probed at 0 and at each unit vector, then checked against its logits on ``x`` (a non-affine
    module raises ``ValueError``); a ``(weight, bias)`` tuple is validated and returned.
    """
    d = math.prod(x.shape[1:])
    if isinstance(model_or_weight, nn.Module):
        model = model_or_weight
        probe = torch.cat([torch.zeros(1, d), torch.eye(d)]).to(x).view(d + 1, *x.shape[1:])
        with noparamgrad_and_eval(model), torch.no_grad():
            out, logits = model(probe), model(x)
        if out.dim() != 2:
            raise ValueError(f"model must return logits of shape (N, K), got {tuple(out.shape)}")
        weight, bias = (out[1:] - out[0]).T, out[0]
        affine = x.flatten(1) @ weight.T + bias
        tol = 1e-4 * (1 + float(logits.abs().max()) if logits.numel() else 1.0)
        if not torch.allclose(affine, logits, rtol=0, atol=tol):
            raise ValueError("model_or_weight must be affine in the flattened input "
                             "(e.g. Sequential(Flatten, Linear)); "
                             f"its logits differ from the affine fit by {float((affine - logits).abs().max()):.3g}")
        return weight, bias
    if not (isinstance(model_or_weight, tuple) and len(model_or_weight) == 2):
        raise ValueError("model_or_weight must be an nn.Module or a (weight, bias) tuple of tensors")
    weight, bias = model_or_weight
    if weight.dim() != 2 or weight.shape[1] != d or bias.shape != weight.shape[:1]:
        raise ValueError(f"model_or_weight=(weight, bias) needs weight (K, {d}) and bias (K,), "
                         f"got {tuple(weight.shape)} and {tuple(bias.shape)}")
    return weight.to(x), bias.to(x)


def _box_halfspace_distance(a: Tensor, gap: Tensor, x: Tensor, bounds: tuple[float, float], norm: str) -> Tensor:
    """Smallest ``||delta||`` (``norm``) with ``a . delta <= -gap`` and ``x + delta`` in the box, batched; ``gap >= 0``.

    ``a`` is ``(N, M, d)``, ``gap`` ``(N, M)``, ``x`` ``(N, d)``. Each coordinate lowers ``a . delta`` by at most
    ``|a_k| room_k`` (``room_k`` = distance from ``x_k`` to the box face that ``-sign(a_k)`` points at). With a
    parameter ``tau`` the optimal perturbation is ``|delta_k| = min(tau s_k, room_k)``, ``s_k = 1`` for Linf
    (``||delta||_inf = tau``) and ``s_k = |a_k|`` for L2 (the KKT point ``delta = clip(-tau a)``), so the decrease
    ``h(tau) = sum_k |a_k| min(tau s_k, room_k)`` is piecewise linear and nondecreasing: sorting the breakpoints
    ``room_k / s_k`` gives the exact ``tau`` with ``h(tau) = gap`` (``inf`` when the box cannot reach it).
    """
    x = x[:, None, :]
    room = torch.where(a > 0, x - bounds[0], bounds[1] - x)
    c = a.abs()
    s_ = torch.ones_like(c) if norm == "linf" else c
    breaks = torch.where(s_ > 0, room / s_.clamp_min(torch.finfo(a.dtype).tiny), torch.full_like(room, math.inf))
    breaks, order = breaks.sort(dim=-1)
    cs = (c * s_).gather(-1, order)
    cr = torch.where(s_ > 0, c * room, torch.zeros_like(room)).gather(-1, order)
    below = cr.cumsum(-1) - cr  # sum of c room over coordinates saturated before each breakpoint
    slope = cs.flip(-1).cumsum(-1).flip(-1)  # sum of c s over coordinates not yet saturated
    h_at = below + torch.where(slope > 0, breaks * slope, torch.zeros_like(slope))  # h(breakpoint) from the left
    need = gap[..., None]
    first = (h_at >= need).int().argmax(-1, keepdim=True)  # the segment that reaches ``gap``
    reachable = (h_at >= need).any(-1)
    tau = ((need - below.gather(-1, first)) / slope.gather(-1, first)).squeeze(-1)
    tau = torch.where(gap == 0, torch.zeros_like(tau), tau)
    if norm == "linf":
        dist = tau
    else:
        dist = torch.minimum(tau[..., None] * c, room).norm(dim=-1)
    return torch.where(reachable, dist, torch.full_like(dist, math.inf))


def exact_linear(model_or_weight: nn.Module | tuple[Tensor, Tensor], x: Tensor, y: Tensor, *,
                 norm: str = "l2", bounds: tuple[float, float] | None = None) -> Tensor:
    """Closed-form signed margin of an affine classifier ``f(x) = W vec(x) + b`` (papers 000 §3, 002 eq. (3)).

    ``m = min_{j != y} (f_y - f_j)(x) / ||w_y - w_j||_q`` with ``q`` the dual norm of ``norm``. For a correctly
    classified point this is the exact distance in R^d to the boundary of its region (the region is a polyhedron and
    ``x`` lies inside it). For a misclassified point it is minus the distance to the farthest violated pairwise
    boundary ``{f_y = f_j}``: exact for binary models, a lower bound on the distance to ``F_y`` for K > 2.

    ``bounds=(lo, hi)`` gives the same quantities for perturbations that keep ``x + delta`` in the box: the
    distance to each pairwise half-space intersected with the box, solved exactly (sorted breakpoints, see
    ``_box_halfspace_distance``), ``inf`` where the box never reaches the boundary. It is never smaller than the
    R^d margin and equals it when the nearest boundary point lies inside the box.

    ``model_or_weight`` is either an ``nn.Module`` that is affine in the flattened input (e.g.
    ``Sequential(Flatten(), Linear(d, K))``; its weight and bias are read off by probing it at ``0`` and the unit
    vectors, and its logits on ``x`` are checked against that fit), or an explicit ``(weight (K, d), bias (K,))``.
    One-logit binary models (``K = 1``, class 1 iff ``f > 0``) are read as ``(0, f)``.
    """
    _check(x, y, norm, bounds=bounds)
    weight, bias = affine_weights(model_or_weight, x)
    if weight.shape[0] == 1:
        weight, bias = torch.cat([torch.zeros_like(weight), weight]), torch.cat([torch.zeros_like(bias), bias])
    logits = x.flatten(1) @ weight.T + bias
    gaps = _gaps(logits, y)
    others = _others(y, weight.shape[0])
    if bounds is None:
        pair_norms = _dual_norm(weight[:, None, :] - weight[None, :, :], norm)  # (K, K): ||w_a - w_b||_q
        return _quotient(gaps, pair_norms[y[:, None], others]).amin(dim=1)
    sign = torch.where(gaps < 0, -torch.ones_like(gaps), torch.ones_like(gaps))
    a = sign[..., None] * (weight[y][:, None, :] - weight[others])  # (N, K-1, d), oriented to close each gap
    return (sign * _box_halfspace_distance(a, gaps.abs(), x.flatten(1), bounds, norm)).amin(dim=1)


def effective(model: nn.Module, x: Tensor, y: Tensor, *, norm: str = "l2") -> Tensor:
    """Effective margin, paper 002 eq. (3): ``min_{j != y} (f_y - f_j)(x) / ||grad_x f_y(x) - grad_x f_j(x)||_q``.

    The local linearization of the network at ``x`` (for a piecewise-linear ReLU net, the exact linear piece
    ``W(x) x + b(x)`` that contains ``x``); the paper defines it for ``norm="l2"``, ``norm="linf"`` uses the l1 norm of
    the gradient difference. Exact for affine models. All class gradients come from one batched backward pass.
    """
    _check(x, y, norm)
    model = TwoLogits(model)
    with noparamgrad_and_eval(model):
        gaps, grads = _gap_gradients(model, x, y, _num_classes(model, x))
    return _quotient(gaps, _dual_norm(grads, norm)).amin(dim=1)


def logit(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Margin operator of paper 004 (Definition 3): ``f_y(x) - max_{j != y} f_j(x)``, in logit units (not a
    distance)."""
    validate.batch(x, y, bounds=None)
    model = TwoLogits(model)
    with noparamgrad_and_eval(model), torch.no_grad():
        return _gaps(model(x), y).amin(dim=1)


def _uniform_ball(m: int, shape: torch.Size, radius: float, norm: str, generator: torch.Generator) -> Tensor:
    """``m`` points drawn uniformly from the ``norm`` ball of ``radius`` around 0 in R^d, shaped ``(m, *shape)``.

    l2: a Gaussian direction normalized to the unit sphere, scaled by ``radius * U^(1/d)``; linf: each coordinate
    uniform on ``[-radius, radius]``.
    """
    d = math.prod(shape)
    device = generator.device
    if norm == "l2":
        direction = torch.randn(m, d, generator=generator, device=device)
        direction = direction / direction.norm(dim=1, keepdim=True)
        u = radius * torch.rand(m, 1, generator=generator, device=device) ** (1.0 / d) * direction
    else:
        u = radius * (2 * torch.rand(m, d, generator=generator, device=device) - 1)
    return u.view(m, *shape)


def lipschitz_lower_bound(model: nn.Module, x: Tensor, y: Tensor, *, radius: float = 5.0, n_samples: int = 1024,
                          n_batches: int = 50, norm: str = "l2", reference: str = "label",
                          bounds: tuple[float, float] | None = None, generator: torch.Generator | None = None,
                          chunk: int = 2**14, progress: bool = False) -> Tensor:
    """Lipschitz lower bound on the margin, paper 000 §4.1, eq. (3) (Hein & Andriushchenko, 2017, Thm. 2.1).

    ``m = min_{j != c} min((f_c - f_j)(x) / L_j, radius)``, where ``L_j`` estimates the local Lipschitz constant of
    ``f_c - f_j`` on the ball ``B(x, radius)``: the largest dual norm of ``grad (f_c - f_j)`` over
    ``n_samples * n_batches`` points drawn uniformly in the ``norm`` ball (paper: ``radius=5``, 1024 x 50 points).
    With the exact local constant this is a certified lower bound (tight for linear ``f``); a sampled maximum can
    only underestimate ``L_j``, so the estimate errs upwards on sharply nonlinear models.

    ``reference`` picks the class ``c``: ``"label"`` (default, as in the paper's formula) uses the true label, so a
    misclassified point gets minus a lower bound on its distance to ``F_y`` (see the module docstring);
    ``"predicted"`` uses the predicted class, as the authors' code does, and signs the result by correctness (the
    magnitude of a misclassified point is then a lower bound on the distance to the boundary of the predicted
    region). Sampled points are not clipped to the image box, as in the authors' code; ``bounds=(lo, hi)`` clips them
    into it, which bounds the box-constrained distance instead (the box is convex, so the segment from ``x`` to any
    boundary point inside the box stays inside it). Magnitudes are capped at ``radius``.

    Batching: each pass evaluates at most ``chunk`` gradients (sampled points x ``K-1`` classes) with one forward and
    one backward pass; the points of one pass may belong to several samples of ``x``. ``generator=None`` uses a fresh
    generator seeded with 0 on ``x``'s device, so results are reproducible; ``progress`` shows a tqdm bar.
    """
    _check(x, y, norm, bounds)
    validate.choice("reference", reference, REFERENCES)
    validate.positive("radius", radius)
    for name, value in (("n_samples", n_samples), ("n_batches", n_batches), ("chunk", chunk)):
        if not isinstance(value, int):
            raise ValueError(f"{name} must be a positive int, got {value!r}")
        validate.positive(name, value)
    if generator is None:
        generator = torch.Generator(device=x.device).manual_seed(0)
    model = TwoLogits(model)
    per_sample = n_samples * n_batches
    with noparamgrad_and_eval(model):
        with torch.no_grad():
            logits = model(x)
        k = logits.shape[1]
        ref = y if reference == "label" else logits.argmax(dim=1)
        lipschitz = torch.zeros(len(x), k - 1, device=x.device, dtype=x.dtype)
        step = max(1, chunk // (k - 1))
        for start in tqdm(range(0, len(x) * per_sample, step), disable=not progress, desc="lipschitz", leave=False):
            owner = torch.arange(start, min(start + step, len(x) * per_sample), device=x.device) // per_sample
            points = x[owner] + _uniform_ball(len(owner), x.shape[1:], radius, norm, generator).to(x)
            if bounds is not None:
                points = points.clamp(*bounds)
            _, grads = _gap_gradients(model, points, ref[owner], k)
            lipschitz.scatter_reduce_(0, owner[:, None].expand(-1, k - 1), _dual_norm(grads, norm), "amax")
    margin = _quotient(_gaps(logits, ref), lipschitz).amin(dim=1).clamp(-radius, radius)
    return margin if reference == "label" else torch.where(ref == y, margin, -margin)


def _predicted_correct(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    with noparamgrad_and_eval(model), torch.no_grad():
        return model(x).argmax(dim=1) == y


def _signed(correct: Tensor, magnitude: Tensor) -> Tensor:
    return torch.where(correct, magnitude, -magnitude)


def deepfool_margin(model: nn.Module, x: Tensor, y: Tensor, *, norm: str = "l2", steps: int = 50,
                    overshoot: float = 0.02, candidates: int | None = None,
                    bounds: tuple[float, float] | None = None) -> Tensor:
    """Upper bound on the margin: the norm of the DeepFool perturbation (paper 003, §3.1), signed by correctness.

    A correctly classified point runs untargeted DeepFool (away from its class); a misclassified one runs DeepFool
    targeted at its true label (paper 003, §3.1.2), so its magnitude bounds the distance to ``F_y`` from above. The
    returned magnitude is ``||r||`` of the point ``x + r`` that DeepFool examined, overshoot included (the overshoot
    is applied to the total perturbation, see :func:`marginlib.attacks.deepfool`), and that point is checked to
    reach the required region; samples DeepFool does not bring there within ``steps`` get ``inf`` (no bound found).
    For an affine model one step lands on the nearest boundary: ``||r|| = (1 + overshoot)`` times the exact margin.
    Distances are in R^d; ``bounds=(0, 1)`` clips every iterate to the box and bounds the box-constrained distance.
    """
    _check(x, y, norm, bounds)
    model = TwoLogits(model)
    correct = _predicted_correct(model, x, y)
    target = torch.where(correct, -1, y)
    r = attacks.deepfool(model, x, norm=norm, steps=steps, overshoot=overshoot, target=target,
                         candidates=candidates, bounds=bounds)
    assert isinstance(r, torch.Tensor)   # return_success=False
    reached = _predicted_correct(model, x + r, y) != correct
    magnitude = torch.where(reached, lp_norm(r, norm), torch.full_like(correct, math.inf, dtype=x.dtype))
    return _signed(correct, magnitude)


def attack_margin(model: nn.Module, x: Tensor, y: Tensor, *, norm: str = "linf", eps_max: float | Tensor,
                  steps: int, step_size: float | Tensor | None = None, bisection_steps: int = 10,
                  restarts: int = 1, random_start: bool = False, loss: str = "margin",
                  generator: torch.Generator | None = None) -> Tensor:
    """Upper bound on the margin: the smallest perturbation with which PGD succeeds, by batched bisection on eps.

    Every sample keeps its own interval ``[lo, hi]``, starting at ``[0, eps_max]`` (a number or an ``(N,)`` tensor);
    each round runs PGD (:func:`marginlib.attacks.pgd`, ``loss="margin"``: Carlini-Wagner) on the whole batch at the
    per-sample ``eps = (lo + hi) / 2`` and halves the interval by success. A correctly classified point succeeds when
    it is misclassified; a misclassified point runs PGD targeted at its true label and succeeds when classified
    correctly. The magnitude is the smallest norm ``||x_adv - x||`` over the successful attempts (``<= hi``, within
    ``eps_max / 2**bisection_steps`` of the smallest successful eps), ``inf`` when PGD fails already at ``eps_max``.
    Attacks return images in [0, 1], so this bounds the box-constrained distance, hence the distance in R^d too.
    ``step_size=None`` uses ``2.5 * eps / steps`` per sample (Madry et al.; paper 001's code).
    """
    _check(x, y, norm, bounds=(0.0, 1.0))
    validate.nonnegative("bisection_steps", bisection_steps)
    model = TwoLogits(model)
    correct = _predicted_correct(model, x, y)
    hi = per_sample(eps_max, x, name="eps_max").clone()
    if not bool((hi > 0).all()):
        raise ValueError(f"eps_max must be > 0 (a number or an ({len(x)},) tensor), got {eps_max!r}")
    lo = torch.zeros_like(hi)
    best = torch.full_like(hi, math.inf)

    def step_for(eps: Tensor, group: Tensor) -> float | Tensor:
        if step_size is None:
            return 2.5 * eps / max(steps, 1)
        return step_size[group] if torch.is_tensor(step_size) and step_size.dim() else step_size

    def attempt(eps: Tensor) -> Tensor:
        """Attack every sample at its own ``eps``, keep the smallest successful norms, return the success mask."""
        x_adv = x.clone()
        for group, targeted in ((correct, False), (~correct, True)):
            if group.any():
                x_adv[group] = attacks.pgd(model, x[group], y[group], eps=eps[group],
                                           step_size=step_for(eps[group], group),
                                           steps=steps, norm=norm, restarts=restarts, random_start=random_start,
                                           loss=loss, generator=generator, targeted=targeted)
        success = _predicted_correct(model, x_adv, y) != correct
        best.copy_(torch.where(success, torch.minimum(best, lp_norm(x_adv - x, norm)), best))
        return success

    attempt(hi)
    bisect(attempt, lo, hi, steps=bisection_steps)   # attempt keeps the smallest successful norm in best
    return _signed(correct, best)


class Bracket(NamedTuple):
    """Signed lower and upper bounds on the margin (same convention as every estimator here).

    For a correctly classified point ``0 <= lower <= true margin <= upper``; for a misclassified one the magnitudes
    bracket the distance to the true-label region: ``upper <= true margin <= lower <= 0``.
    """

    lower: Tensor
    upper: Tensor

    @property
    def gap(self) -> Tensor:
        """``|upper| - |lower|`` per sample: the width of the bracket (``inf`` where no attack succeeded)."""
        return self.upper.abs() - self.lower.abs()


def bracket(model: nn.Module, x: Tensor, y: Tensor, *, norm: str = "l2", radius: float = 5.0, n_samples: int = 1024,
            n_batches: int = 50, bounds: tuple[float, float] | None = None, generator: torch.Generator | None = None,
            chunk: int = 2**14, deepfool_steps: int = 50, overshoot: float = 0.02, pgd_steps: int = 20,
            bisection_steps: int = 10, progress: bool = False) -> Bracket:
    """Bracket the margin: lower = :func:`lipschitz_lower_bound` (paper 000 §4.1), upper = the smaller of the
    :func:`deepfool_margin` and :func:`attack_margin` magnitudes (``pgd_steps=0`` skips PGD).

    PGD bisects per sample on ``[0, |DeepFool bound|]`` (on ``[0, radius]`` where DeepFool failed), so it can only
    tighten DeepFool's bound. Every point an attack finds is a valid image (or, for DeepFool without ``bounds``, a
    point of R^d) on the far side of the boundary, so the upper bound holds for the distance in R^d; with
    ``bounds=(0, 1)`` both the Lipschitz samples and DeepFool's iterates stay in the box and the bracket is for the
    box-constrained distance. Randomness (Lipschitz sampling) comes from ``generator``.
    """
    lower = lipschitz_lower_bound(model, x, y, radius=radius, n_samples=n_samples, n_batches=n_batches, norm=norm,
                                  bounds=bounds, generator=generator, chunk=chunk, progress=progress)
    upper = deepfool_margin(model, x, y, norm=norm, steps=deepfool_steps, overshoot=overshoot, bounds=bounds)
    if pgd_steps > 0:
        found = torch.isfinite(upper) & (upper != 0)
        eps_max = torch.where(found, upper.abs(), torch.full_like(upper, radius))
        pgd = attack_margin(model, x, y, norm=norm, eps_max=eps_max, steps=pgd_steps, bisection_steps=bisection_steps)
        upper = torch.where(pgd.abs() < upper.abs(), pgd, upper)
    return Bracket(lower, upper)
