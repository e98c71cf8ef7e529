"""DeepFool (Moosavi-Dezfooli et al., 2016), multi-class, L2 and Linf, batched over samples and classes.

Conventions (stated once, here and in the book):

- Untargeted DeepFool moves each sample away from the class the *model predicts* at ``x`` (not the label): for a
  misclassified input it therefore measures the distance to leaving the wrong class. ``target`` asks instead to
  reach a given class (paper 003, §3.1.2: the true label of a misclassified sample); entries ``-1`` stay untargeted.
- Each step linearizes ``f_j - f_c`` around the current point for every candidate class ``j`` and jumps to the
  nearest linearized boundary (paper 003, eqs. (2)-(3), multi-class form): ``r = |f'| / ||w||_q^q * |w|^(q-1) sign(w)``
  with ``w = grad(f_j - f_c)`` and ``q`` the dual norm (L2: ``r = |f'| w / ||w||_2^2``; Linf: ``r = |f'| sign(w) /
  ||w||_1``).
- The candidate gradients of a step (one cotangent per candidate) come from one forward pass and, per device,
  the fastest of three equivalent ways (:data:`GRADIENT_METHOD`, keyed on ``x.device.type``). Measured on a CPU,
  single-threaded (``benchmarks/bench_attacks.py`` CNN, 9 cotangents, forward + gradients): a loop of ``k``
  backward passes through the retained graph (``"loop"``: 82 ms at batch 128, 20 ms at 32, 1.1 ms at 1) beats one
  vmapped backward (``"batched"``, ``autograd.grad(..., is_grads_batched=True)``: 105 / 20 / 0.9 ms) and one
  backward over the batch repeated once per candidate (``"repeat"``: 318 / 33 / 1.5 ms): a CPU is bound by
  arithmetic, not kernel launches, and vmap's batched kernels are slower there. CPUs therefore use the loop;
  other devices (CUDA) keep the vmapped backward, whose point is fewer kernel launches (not re-measured here).
  One exception to the latter: torch (2.13) has no batching rule for GroupNorm's double backward, so with
  ``differentiable=True`` a model containing GroupNorm (LiuNet, paper 003) gets the same gradients from
  ``"repeat"``, as the released AMM code computes them (one extra forward pass per candidate). All three give the
  same gradients (to float rounding) and treat every sample on its own.
- Overshoot is applied to the total perturbation (Deep Defense): the point examined is ``x + (1 + overshoot) * sum
  r_i``.
  ``overshoot_mode="step"`` multiplies each step instead, as the released AMM code does (paper 003).
- Distances are in R^d: by default nothing is clipped, so on a linear model ``r`` is the exact minimal perturbation.
  ``bounds=(0, 1)`` asks for the box. Then the point examined is ``x + clip((1 + overshoot) * sum r_i)``: the steps
  ``r_i`` add up unclipped and the overshoot total is clipped to the box
  (:func:`~marginlib.attacks.projections.clip_to_box`, coordinate-wise),
  as in foolbox 3. Clipping removes a share of every step's progress, so on its own the linearized gap would only
  shrink geometrically and never cross (32 % of a trained digits MLP's correct points stayed unfooled after 1,000
  steps; foolbox fools them all). Therefore a step whose own iterate the box clips (some coordinate of the
  unclipped ``x + total * (sum r_i + step)`` lies outside ``bounds``) is lengthened by :data:`BOX_STEP` ``= 1e-4``
  in the attack's norm (added to its distance ``|f'| / ||w||_q``, along the same direction, before the per-step
  overshoot), the constant foolbox adds to every step. A sample whose iterates all stay inside the box follows
  the unbounded path exactly. ``r`` keeps ``x + r`` a valid image and bounds the box-constrained distance from
  above.
- ``differentiable=True`` keeps the graph (``create_graph=True``): ``||r||`` backpropagates into the weights through
  the input gradients (paper 003, §3.1.1, high-order gradients). Otherwise ``r`` is detached.
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import validate
from marginlib.attacks.projections import clip_to_box, dual, lp_norm
from marginlib.context import eval_mode, noparamgrad_and_eval

OVERSHOOT_MODES = ("total", "step")
GRADIENT_METHODS = ("loop", "batched", "repeat")
#: How each device type computes a step's candidate gradients (module docstring); unlisted devices use "batched".
GRADIENT_METHOD = {"cpu": "loop"}
#: Length (in the attack's norm) added to a step that the box clips (``bounds``; module docstring).
BOX_STEP = 1e-4
_TINY = 1e-12


def _norm_floor(dtype: torch.dtype) -> float:
    """The smallest gradient norm a step divides by: ``1e-12``, or, where ``dtype`` is too narrow for it, the
    fourth root of its smallest normal number, so that the backward of ``gap / ||w||^2`` (which divides by
    ``||w||^4``) stays finite for a saturated network whose input gradient vanishes (float32: ~1e-10)."""
    return max(_TINY, torch.finfo(dtype).tiny ** 0.25)


def _check(
    x: torch.Tensor,
    target: torch.Tensor | None,
    *,
    norm: str,
    steps: int,
    overshoot: float,
    overshoot_mode: str,
    bounds: tuple[float, float] | None,
) -> None:
    validate.norm(norm)
    validate.nonnegative("steps", steps)
    validate.nonnegative("overshoot", overshoot)
    validate.choice("overshoot_mode", overshoot_mode, OVERSHOOT_MODES)
    validate.batch(x, None, bounds=bounds)
    if target is not None and (
        not isinstance(target, torch.Tensor) or target.shape != (x.shape[0],) or target.dtype != torch.long
    ):
        raise ValueError(f"target must be a long tensor of shape ({x.shape[0]},) (-1 = untargeted), got {target!r}")


def _candidates(logits: torch.Tensor, source: torch.Tensor, target: torch.Tensor | None, k: int | None) -> torch.Tensor:
    """``(N, m)`` candidate classes: the ``k`` highest other logits at ``x`` (all others when ``k`` is None),
    or the target repeated ``m`` times for targeted rows."""
    n_classes = logits.shape[1]
    m = n_classes - 1 if k is None else k
    if not 1 <= m <= n_classes - 1:
        raise ValueError(f"candidates must be in [1, {n_classes - 1}] for {n_classes} classes, got {k}")
    cand = logits.scatter(1, source[:, None], float("-inf")).topk(m, dim=1).indices
    if target is not None:
        cand = torch.where((target >= 0)[:, None], target[:, None].expand_as(cand), cand)
    return cand


def _candidate_gradients(
    model: nn.Module, logits: torch.Tensor, point: torch.Tensor, cot: torch.Tensor, *, create_graph: bool,
    method: str | None = None,
) -> torch.Tensor:
    """``(m, N, ...)`` input gradients of ``cot[k] . logits`` for every cotangent row ``k``, computed by ``method``
    (default: :data:`GRADIENT_METHOD` for ``point``'s device; see the module docstring)."""
    if method is None:
        method = GRADIENT_METHOD.get(point.device.type, "batched")
    if method not in GRADIENT_METHODS:
        raise ValueError(f"method must be one of {GRADIENT_METHODS}, got {method!r}")
    m = cot.shape[0]
    if method == "batched" and create_graph and any(isinstance(module, nn.GroupNorm) for module in model.modules()):
        method = "repeat"  # no vmap rule for GroupNorm's double backward
    if method == "loop":
        return torch.stack([
            torch.autograd.grad(logits, point, cot[k], retain_graph=create_graph or k < m - 1,
                                create_graph=create_graph)[0]
            for k in range(m)
        ])
    if method == "repeat":
        repeated = point.repeat(m, *([1] * (point.dim() - 1)))
        (w,) = torch.autograd.grad(model(repeated), repeated, cot.flatten(0, 1), create_graph=create_graph)
        return w.view(m, *point.shape)
    (w,) = torch.autograd.grad(logits, point, cot, is_grads_batched=True, create_graph=create_graph)
    return w


def _step(
    model: nn.Module, logits: torch.Tensor, point: torch.Tensor, source: torch.Tensor, cand: torch.Tensor, *, norm: str,
    create_graph: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The DeepFool step to the nearest linearized boundary among ``cand``, and the unit-norm (in ``norm``)
    direction it points along (for :data:`BOX_STEP`)."""
    n, m = cand.shape
    rows = torch.arange(n, device=cand.device)
    cot = torch.zeros(m, n, logits.shape[1], dtype=logits.dtype, device=logits.device)
    cot[torch.arange(m, device=cand.device)[:, None], rows, cand.T] = 1.0
    cot[:, rows, source] -= 1.0
    w = _candidate_gradients(model, logits, point, cot, create_graph=create_graph)  # (m, N, ...)
    gap = (logits.gather(1, cand) - logits.gather(1, source[:, None])).abs()  # (N, m)
    w_norm = lp_norm(w.flatten(0, 1), dual(norm)).view(m, n).T.clamp_min(_norm_floor(w.dtype))  # (N, m)
    best = (gap / w_norm).argmin(1)
    w_best = w[best, rows]
    gap_best = gap[rows, best]
    col = (-1, *([1] * (point.dim() - 1)))
    if norm == "l2":
        scale = gap_best / w_norm[rows, best] ** 2
        direction = w_best
        unit = w_best / w_norm[rows, best].view(col)
    else:
        scale = gap_best / w_norm[rows, best]
        direction = w_best.sign()
        unit = direction
    return scale.view(col) * direction, unit


def _delta(x: torch.Tensor, delta: torch.Tensor, bounds: tuple[float, float] | None) -> torch.Tensor:
    return delta if bounds is None else clip_to_box(x, delta, bounds)


def deepfool(
    model: nn.Module,
    x: torch.Tensor,
    *,
    norm: str = "l2",
    steps: int = 50,
    overshoot: float = 0.02,
    target: torch.Tensor | None = None,
    candidates: int | None = None,
    overshoot_mode: str = "total",
    bounds: tuple[float, float] | None = None,
    differentiable: bool = False,
    return_success: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """DeepFool perturbation ``r`` with ``x + r`` on or just over the decision boundary (paper 003, §3.1).

    :param norm: ``"l2"`` or ``"linf"``; the perturbation minimizes this norm at each linearized step.
    :param steps: at most this many steps; a sample stops as soon as it is fooled (prediction != its class at ``x``,
        or == its target).
    :param overshoot: factor ``1 + overshoot`` on the total perturbation (or on each step, ``overshoot_mode="step"``).
    :param target: optional ``(N,)`` long target classes; ``-1`` keeps that sample untargeted.
    :param candidates: restrict the untargeted search to the ``k`` classes with the highest logits at ``x``.
    :param bounds: ``None`` (distances in R^d) or a box such as ``(0, 1)``: every iterate is clipped to it, and a
        step that the box clips is lengthened by :data:`BOX_STEP` (module docstring) so that the attack converges.
    :param differentiable: keep the autograd graph so that a loss on ``r`` reaches the model's weights.
    :param return_success: also return the ``(N,)`` boolean mask of samples that ``x + r`` fools.

    Returns ``r`` with ``x``'s shape, or ``(r, success)``. The model runs in eval mode; its mode and parameter
    ``.grad`` are left as they were. Costs per step one forward pass and the gradients of ``k`` cotangents
    (:data:`GRADIENT_METHOD`), on the unfinished samples only; each sample's ``r`` is independent of the rest of
    its batch.
    """
    _check(x, target, norm=norm, steps=steps, overshoot=overshoot, overshoot_mode=overshoot_mode, bounds=bounds)
    validate.same_dtype(model, x)
    total = 1.0 + overshoot if overshoot_mode == "total" else 1.0
    per_step = 1.0 + overshoot if overshoot_mode == "step" else 1.0
    state = eval_mode(model) if differentiable else noparamgrad_and_eval(model)
    base = x if differentiable else x.detach()
    col = (-1, *([1] * (x.dim() - 1)))  # a per-sample value broadcast over the sample's entries
    with state, torch.enable_grad():
        r_sum = torch.zeros_like(base)
        done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for t in range(steps + 1):
            idx = (~done).nonzero().squeeze(1)  # only unfinished samples are evaluated and stepped
            point = base[idx] + _delta(base[idx], total * r_sum[idx], bounds)
            if not point.requires_grad:
                point = point.detach().requires_grad_(True)
            logits = model(point)
            pred = logits.argmax(1)
            if t == 0:
                origin = pred.detach()
                cand = _candidates(logits.detach(), origin, target, candidates)
                targeted = torch.zeros_like(done) if target is None else target >= 0
            hit = torch.where(targeted[idx], pred == cand[idx, 0], pred != origin[idx])
            done[idx] = hit
            if t == steps or bool(hit.all()):
                break
            if bool(hit.float().mean() > 1 / (2 * cand.shape[1] + 1)):
                # The fooled samples need no step: evaluating the rest again costs one forward pass of them, less
                # than the k backward passes (about 2 forward passes each) saved on the fooled ones.
                live = ~hit
                idx, hit = idx[live], hit[live]
                point = point[live] if differentiable else point[live].detach().requires_grad_(True)
                logits = model(point)
                pred = logits.argmax(1)
            source = torch.where(targeted[idx], pred, origin[idx])
            r, unit = _step(model, logits, point, source, cand[idx], norm=norm, create_graph=differentiable)
            if bounds is not None:  # lengthen the steps that the box clips (module docstring)
                reach = (base[idx] + total * (r_sum[idx] + per_step * r)).detach().flatten(1)
                clipped = ((reach < bounds[0]) | (reach > bounds[1])).any(1)
                r = torch.where(clipped.view(col), r + BOX_STEP * unit, r)
            r = torch.where(hit.view(col), torch.zeros_like(r), per_step * r)
            r_sum = r_sum.index_add(0, idx, r)
        delta = _delta(base, total * r_sum, bounds)
    r_out = delta if differentiable else delta.detach()
    return (r_out, done.detach()) if return_success else r_out
