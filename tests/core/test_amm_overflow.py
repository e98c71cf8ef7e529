"""Regression test: a sample the AMM regularizer drops must not poison the gradient (paper 003, eq. (6))."""
import math

import torch

from marginlib import models
from marginlib.attacks import deepfool
from marginlib.methods.amm import AMM


def test_dropped_sample_with_overflowing_exp_leaves_gradient_finite():
    # A misclassified point that one DeepFool step fails to move is dropped, but its R(d ||r||) = exp(d ||r||)
    # overflows; before the fix, where()'s zero gradient times exp's inf made every parameter gradient nan.
    g = torch.Generator().manual_seed(20)
    model = models.build("mlp", hidden=(8,), input_size=(1, 2), num_classes=3, seed=20)
    x = torch.randn(16, 1, 1, 2, generator=g) * 3
    y = torch.randint(3, (16,), generator=g)
    method = AMM(lam=1.0, c=1.0, d=50.0, aggregation="avg", shrinkage="exp", steps=1)

    correct = model(x).argmax(1) == y
    r, fooled = deepfool(model, x, norm="l2", steps=1, overshoot=0.02, target=torch.where(correct, -1, y),
                         return_success=True)
    dropped = ~fooled & ~correct
    assert (method.d * r.flatten(1).norm(dim=1)[dropped] > math.log(torch.finfo(torch.float32).max)).any()

    value, _ = method.regularizer(model, x, y)
    value.backward()
    assert torch.isfinite(value)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    assert any(p.grad.abs().sum() > 0 for p in model.parameters())
