"""Confidence and loss variation (marginlib.papers.p004_ar.confidence): closed forms on linear models, invariants on a tiny CNN."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from marginlib import margins
from marginlib.papers.p004_ar import confidence

from nets import random_linear


def linear_model(generator: torch.Generator) -> nn.Module:
    return random_linear(8, 3, generator, bias="default", dtype=torch.float64)


def test_true_class_log_probability_is_minus_cross_entropy(generator):
    model = linear_model(generator)
    x = torch.rand(7, 1, 2, 4, generator=generator, dtype=torch.float64)
    y = torch.randint(3, (7,), generator=generator)
    logp = confidence.true_class_log_probability(model, x, y, batch_size=3)
    expected = -nn.functional.cross_entropy(model(x), y, reduction="none")
    torch.testing.assert_close(logp, expected.detach())
    assert (logp.exp() <= 1).all() and (logp.exp() > 0).all()


def test_loss_variation_binary_linear_closed_form(generator):
    """Two classes, logits (w.x, 0): the Linf-worst loss lowers the margin by eps * ||w||_1 when the box does not
    bind; CE = softplus(-margin), so the variation is softplus(-(m - eps |w|_1)) - softplus(-m)."""
    w = torch.randn(8, generator=generator, dtype=torch.float64)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 2, bias=False)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.stack([w, torch.zeros_like(w)]))
    x = 0.3 + 0.4 * torch.rand(5, 1, 2, 4, generator=generator, dtype=torch.float64)  # the box never binds
    y = torch.zeros(5, dtype=torch.long)
    eps = [0.05, 0.1]
    out = confidence.loss_variation(model, x, y, eps=eps, steps=5, step_size=0.1)
    margin = x.flatten(1) @ w
    for e in eps:
        soft = nn.functional.softplus
        expected = soft(-(margin - e * w.abs().sum())) - soft(-margin)
        torch.testing.assert_close(out[e], expected, rtol=1e-8, atol=1e-10)


def test_loss_variation_grows_with_eps_and_leaves_model_alone(generator):
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    model.train()
    x = torch.rand(6, 1, 6, 6, generator=generator)
    y = torch.randint(3, (6,), generator=generator)
    out = confidence.loss_variation(model, x, y, eps=[0.02, 0.2], steps=4, batch_size=4)
    assert set(out) == {0.02, 0.2} and out[0.02].shape == (6,)
    assert (out[0.02] >= 0).all() and out[0.2].mean() > out[0.02].mean()
    assert model.training and all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="eps"):
        confidence.loss_variation(model, x, y, eps=[0.0], steps=2)


def test_robust_accuracy_on_correct_counts_only_correct_points(generator):
    model = linear_model(generator)
    x = torch.rand(40, 1, 2, 4, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        pred = model(x).argmax(1)
    y = pred.clone()
    y[:10] = (pred[:10] + 1) % 3  # 10 wrong points must not count
    assert confidence.robust_accuracy_on_correct(model, x, y, eps=1e-9, step_size=1e-9, steps=1) == 1.0
    assert confidence.robust_accuracy_on_correct(model, x, y, eps=1.0, step_size=0.5, steps=10) < 0.5
    assert math.isnan(confidence.robust_accuracy_on_correct(model, x[:10], y[:10], eps=0.1, step_size=0.1, steps=1))


def test_logit_margins_are_margins_logit_in_chunks_and_signed_by_correctness(generator):
    model = linear_model(generator)
    x = torch.rand(9, 1, 2, 4, generator=generator, dtype=torch.float64)
    y = torch.randint(3, (9,), generator=generator)
    out = confidence.logit_margins(model, x, y, batch_size=4)
    logits = model(x).detach()
    others = logits.scatter(1, y[:, None], float("-inf")).amax(1)
    torch.testing.assert_close(out, logits.gather(1, y[:, None]).squeeze(1) - others)
    torch.testing.assert_close(out, margins.logit(model, x, y))
    assert torch.equal(out > 0, logits.argmax(1) == y)
