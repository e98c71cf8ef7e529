"""Attack speed, measured in one run on one model and batch (CPU-sized, seconds), every callable timed in turns
(:func:`marginlib.timing.best_times`) so that load or clock changes during the run hit numerator and denominator alike.

- PGD overhead: time of ``pgd`` / (steps x one forward + backward pass w.r.t. the input); everything beyond the
  gradient passes (projection, worst-case bookkeeping, the final evaluation) is overhead. Target <= 1.15.
- DeepFool batching: :func:`marginlib.attacks.deepfool` (only unfinished samples evaluated; on a CPU the candidate
  gradients come from a loop of backward passes through one retained graph, ``deepfool.GRADIENT_METHOD``) vs the
  classic implementation written below, which loops over the classes with one backward pass each (the loop of the
  DeepFool authors' code and of foolbox's, here batched over samples) and steps the whole batch until every sample
  is fooled. Both return the same ``r``. Against the batch-level class loop the target is >= 1: per step both do
  one forward pass, the reference K backward passes over the whole batch and deepfool K - 1 (the differences
  f_j - f_c, j != c) over the unfinished samples only; on a CPU, which is bound by arithmetic rather than by kernel
  launches, that saving is all there is to win (vmapping the classes, ``is_grads_batched``, is slower there).
  Against the authors' structure (one image at a time, one backward pass per class) the target is >= 5x, which
  needs a device where batch-1 work is launch-bound (a GPU); on a CPU, batch-1 passes cost about their FLOPs.
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib.attacks import deepfool, pgd
from marginlib.context import noparamgrad_and_eval
from marginlib.timing import best_times


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU(), nn.Flatten(),
        nn.Linear(32 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10),
    ).eval()


def _forward_backward(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    loss = nn.functional.cross_entropy(model(x), y)
    return torch.autograd.grad(loss, x)[0]


def deepfool_class_loop(model: nn.Module, x: torch.Tensor, *, steps: int = 50, overshoot: float = 0.02) -> torch.Tensor:
    """Reference L2 DeepFool: one backward pass per class (``retain_graph``), batched over samples."""
    with noparamgrad_and_eval(model):
        r_sum = torch.zeros_like(x)
        origin = None
        for _ in range(steps + 1):
            point = (x + (1 + overshoot) * r_sum).requires_grad_(True)
            logits = model(point)
            pred = logits.argmax(1)
            if origin is None:
                origin = pred
            active = pred == origin
            if not bool(active.any()) or _ == steps:
                break
            grads = [torch.autograd.grad(logits[:, k].sum(), point, retain_graph=True)[0]
                     for k in range(logits.shape[1])]
            g = torch.stack(grads, 1)  # (N, K, ...)
            rows = torch.arange(len(x))
            w = (g - g[rows, origin][:, None]).flatten(2)
            f = (logits - logits[rows, origin][:, None]).detach().abs()
            dist = f / w.norm(dim=2).clamp_min(1e-12)
            dist[rows, origin] = float("inf")
            j = dist.argmin(1)
            step = (f[rows, j] / w[rows, j].norm(dim=1).clamp_min(1e-12) ** 2)[:, None] * w[rows, j]
            r_sum = r_sum + torch.where(active[:, None], step, torch.zeros_like(step)).view_as(x)
    return ((1 + overshoot) * r_sum).detach()


def deepfool_image_loop(model: nn.Module, x: torch.Tensor, *, steps: int = 50, overshoot: float = 0.02) -> torch.Tensor:
    """The DeepFool authors' structure: one image at a time, one backward pass per class."""
    return torch.cat([deepfool_class_loop(model, x[i:i + 1], steps=steps, overshoot=overshoot) for i in range(len(x))])


def run() -> list[dict]:
    model = _cnn()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(128, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (128,), generator=gen)
    steps = 20

    def passes():
        with noparamgrad_and_eval(model):
            _forward_backward(model, x, y)

    r_fast = deepfool(model, x)
    r_loop = deepfool_class_loop(model, x)
    assert torch.allclose(r_fast, r_loop, rtol=1e-3, atol=1e-5), "reference and batched DeepFool disagree"
    x_few = x[:32]
    assert torch.allclose(deepfool(model, x_few), deepfool_image_loop(model, x_few), rtol=1e-3, atol=1e-5)
    t = best_times({
        "pass": passes,
        "pgd": lambda: pgd(model, x, y, eps=0.1, step_size=0.01, steps=steps, norm="linf", random_start=True,
                           generator=torch.Generator().manual_seed(0)),
        "deepfool": lambda: deepfool(model, x),
        "class loop": lambda: deepfool_class_loop(model, x),
        "deepfool few": lambda: deepfool(model, x_few),
        "image loop": lambda: deepfool_image_loop(model, x_few),
    }, rounds=5, repeat=2)
    t_pass, t_pgd, t_fast, t_loop, t_few, t_image = (t[k] for k in ("pass", "pgd", "deepfool", "class loop",
                                                                     "deepfool few", "image loop"))
    return [
        {"name": "pgd / (steps x fwd+bwd)", "ratio": t_pgd / (steps * t_pass), "target": 1.15, "better": "lower",
         "detail": f"CNN, batch 128, {steps} steps: {t_pgd * 1e3:.1f} ms vs {t_pass * 1e3:.2f} ms per pass"},
        {"name": "deepfool per-image class loop / batched", "ratio": t_image / t_few, "target": 5.0, "better": "higher",
         "detail": f"CNN, 10 classes, 32 images: {t_image * 1e3:.1f} ms vs {t_few * 1e3:.1f} ms"},
        {"name": "deepfool batch class loop / batched", "ratio": t_loop / t_fast, "target": 1.0, "better": "higher",
         "detail": f"CNN, 10 classes, batch 128: {t_loop * 1e3:.1f} ms vs {t_fast * 1e3:.1f} ms"},
    ]
