"""Training-step cost of the margin regularizers relative to a standard step (issue 4's speed targets).

All ratios are measured in one run on the same model and batch: paper 002's MNIST setting scaled to a CPU
(an MLP 784-1024-1024-10, batch 100; compute-bound, so per-call Python overhead does not dominate).
One step = forward, loss, backward and SGD update.
"""
from __future__ import annotations

import functools

import torch
from torch import nn

from marginlib import methods, timing

K_STEPS = 5


def _setup():
    gen = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))
    x = torch.rand(100, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (100,), generator=gen)
    return model, x, y


_step_time = functools.partial(timing.step_seconds, repeat=10, warmup=2)


def run() -> list[dict]:
    model, x, y = _setup()
    standard = _step_time(methods.Standard(), model, x, y)
    exact = _step_time(methods.EMR(weight=0.1), model, x, y)
    approx = _step_time(methods.EMR(weight=0.1, mode="approx"), model, x, y)
    pgd = _step_time(methods.PGDAT(eps=0.1, steps=K_STEPS), model, x, y)
    detail = f"MLP 784-1024-1024-10, batch 100, standard step {standard * 1e3:.2f} ms"
    return [
        {"name": "exact EMR step / standard step (10 classes)", "ratio": exact / standard, "target": 3.0,
         "better": "lower", "detail": detail},
        {"name": "Approx-EMR step / standard step", "ratio": approx / standard, "target": 1.5, "better": "lower",
         "detail": detail},
        {"name": f"PGD-AT step (k={K_STEPS}) / ((k+1) standard steps)", "ratio": pgd / ((K_STEPS + 1) * standard),
         "target": 1.2, "better": "lower", "detail": detail},
    ]
