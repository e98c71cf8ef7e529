"""Lipschitz lower bound (paper 000 §4.1) throughput vs bare batched input-gradient computations.

Every side evaluates the same number of input gradients (sampled points x (K-1) class differences) on the same
MNIST-sized MLP, in passes of the same size; a ratio is bare time / estimator time. Two baselines:

- one gradient per batch row (``autograd.grad(model(xs).sum(), xs)`` over ``points * (K-1)`` rows): raw autograd
  throughput, which the estimator beats because its ``K-1`` gradients per point share one forward pass;
- the same shared-forward computation with nothing else (one forward, one backward batched over ``K-1``
  cotangents): what the estimator keeps of it after sampling the balls, forming the class differences, taking
  dual norms and reducing the per-sample maxima.
"""
from __future__ import annotations

import torch
from torch import nn

from marginlib import margins
from marginlib.timing import best_time


def run() -> list[dict]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                          nn.Linear(256, 10))
    x = torch.rand(4, 1, 28, 28)
    y = torch.randint(0, 10, (4,))
    n_samples, n_batches, chunk = 512, 4, 2**13
    k = 10
    points = len(x) * n_samples * n_batches
    evaluations = points * (k - 1)
    rows = (chunk // (k - 1)) * (k - 1)
    passes = -(-points // (chunk // (k - 1)))

    def estimator() -> None:
        margins.lipschitz_lower_bound(model, x, y, n_samples=n_samples, n_batches=n_batches, chunk=chunk,
                                      generator=torch.Generator().manual_seed(0))

    batch = torch.rand(rows, 1, 28, 28)

    def bare() -> None:
        for _ in range(passes):
            xs = batch.clone().requires_grad_(True)
            torch.autograd.grad(model(xs).sum(), xs)

    centers = torch.rand(rows // (k - 1), 1, 28, 28)
    cotangents = torch.eye(k)[: k - 1, None, :].expand(k - 1, len(centers), k)

    def bare_shared_forward() -> None:
        for _ in range(passes):
            xs = centers.clone().requires_grad_(True)
            torch.autograd.grad(model(xs), xs, cotangents, is_grads_batched=True)

    t_est = best_time(estimator, repeat=3)
    where = f"({evaluations:,} per run, MLP 784-256-256-10, {passes} passes of {rows} gradients)"
    rows_out = []
    for name, baseline in (("per-row gradient", bare), ("shared-forward batched gradient", bare_shared_forward)):
        t_bare = best_time(baseline, repeat=3)
        rows_out.append({
            "name": f"lipschitz estimator / bare {name} throughput",
            "ratio": t_bare / t_est,
            "target": 0.8,
            "better": "higher",
            "detail": f"{evaluations / t_est:,.0f} vs {evaluations / t_bare:,.0f} gradient evaluations/s {where}",
        })
    return rows_out
