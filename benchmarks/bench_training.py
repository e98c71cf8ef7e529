"""Training-step cost of the margin regularizers relative to a standard step (issue 4's speed targets).

All ratios are measured in one run on the same model and batch: paper 002's MNIST setting scaled to a CPU
(an MLP 784-1024-1024-10, batch 100; compute-bound, so per-call Python overhead does not dominate).
One step = forward, loss, backward and SGD update.

The arithmetic floor of each ratio (multiply-accumulates per sample, counted by :func:`_macs` for this MLP) shows
which targets a compute-bound CPU can reach: exact EMR needs the ``K`` effective-weight rows (``K`` backward passes
of the network's matrices) and their double backward (twice that again), about 12.7x a standard step's arithmetic
for ``K = 10``; Approx-EMR needs one extra backward and its double backward, about 2.2x. Batching the ``K`` rows
into one pass removes the per-class launch and Python overhead (what a GPU is bound by at this size), not the
arithmetic, so on this machine the targets of <= 3 and <= 1.5 are below the floor.
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
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                          nn.Linear(1024, 10))
    x = torch.rand(100, 1, 28, 28, generator=gen)
    y = torch.randint(0, 10, (100,), generator=gen)
    return model, x, y


_step_time = functools.partial(timing.step_seconds, repeat=10, warmup=2)
WIDTHS = (784, 1024, 1024, 10)


def _macs(widths: tuple[int, ...] = WIDTHS) -> dict[str, float]:
    """Multiply-accumulates per sample of one step, by method, for an MLP with these layer widths (ReLU)."""
    layers = list(zip(widths[:-1], widths[1:]))
    forward = sum(a * b for a, b in layers)
    input_grads = sum(a * b for a, b in layers[1:])  # the first layer's input gradient is not needed
    standard = forward + input_grads + forward  # forward, activation gradients, weight gradients
    k = widths[-1]
    rows = k * forward  # K vector-Jacobian products down to the input
    exact = standard + rows + 2 * rows  # ... and their double backward (gradients w.r.t. vectors and weights)
    approx = standard + forward + 2 * forward  # one extra vector-Jacobian product and its double backward
    return {"standard": standard, "exact": exact, "approx": approx}


def run() -> list[dict]:
    model, x, y = _setup()
    standard = _step_time(methods.Standard(), model, x, y)
    exact = _step_time(methods.EMR(weight=0.1), model, x, y)
    approx = _step_time(methods.EMR(weight=0.1, mode="approx"), model, x, y)
    pgd = _step_time(methods.PGDAT(eps=0.1, steps=K_STEPS), model, x, y)
    detail = f"MLP 784-1024-1024-10, batch 100, standard step {standard * 1e3:.2f} ms"
    macs = _macs()
    floor = {name: macs[name] / macs["standard"] for name in ("exact", "approx")}
    return [
        {"name": "exact EMR step / standard step (10 classes)", "ratio": exact / standard, "target": 3.0,
         "better": "lower", "detail": f"{detail}; arithmetic floor {floor['exact']:.1f}x"},
        {"name": "Approx-EMR step / standard step", "ratio": approx / standard, "target": 1.5, "better": "lower",
         "detail": f"{detail}; arithmetic floor {floor['approx']:.1f}x"},
        {"name": f"PGD-AT step (k={K_STEPS}) / ((k+1) standard steps)", "ratio": pgd / ((K_STEPS + 1) * standard),
         "target": 1.2, "better": "lower", "detail": detail},
    ]
