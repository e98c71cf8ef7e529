"""Tests of marginlib.evaluate: accuracies against closed-form linear margins."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib import attacks, evaluate, margins

from nets import central_points, random_linear


def linear_model(generator: torch.Generator, k: int = 3) -> nn.Module:
    return random_linear(4, k, generator, bias="centred")


def test_accuracy_counts_argmax_hits(generator):
    model = linear_model(generator)
    x = central_points(generator)
    y = torch.randint(0, 3, (64,), generator=generator)
    expected = float((model(x).argmax(1) == y).double().mean())
    assert evaluate.accuracy(model, x, y, batch_size=7) == pytest.approx(expected)


def test_robust_accuracy_matches_exact_linear_margins(generator):
    # for an affine binary classifier, L2 PGD on CE walks straight to the boundary: a point survives radius eps
    # exactly when its margin exceeds eps (points in the box centre, radii too small for clipping to matter)
    model = linear_model(generator, k=2)
    x = central_points(generator)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:8] = 1 - y[:8]  # some misclassified points: never robust
    m = margins.exact_linear(model, x, y)
    radii = [0.0, 0.01, 0.02, 0.04]
    robust = evaluate.robust_accuracy(model, x, y, eps=radii, step_size=0.002, steps=60, batch_size=20)
    for e in radii:
        assert robust[e] == pytest.approx(float((m > e).double().mean())), e
    assert robust[0.0] == pytest.approx(evaluate.accuracy(model, x, y))
    assert robust[0.04] < robust[0.0]  # the radii do bite on this data


def test_robust_accuracy_equals_one_attack_per_radius(generator):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    x = central_points(generator, 30)
    y = torch.randint(0, 3, (30,), generator=generator)
    radii = [0.05, 0.3]
    batched = evaluate.robust_accuracy(model, x, y, eps=radii, step_size=0.05, steps=10, batch_size=11)
    for e in radii:
        x_adv = attacks.pgd(model, x, y, eps=e, step_size=0.05, steps=10, norm="l2")
        assert batched[e] == pytest.approx(evaluate.accuracy(model, x_adv, y))


def test_robust_accuracy_keeps_model_state(generator):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.Dropout(0.5))
    model.train()
    model[1].weight.grad = torch.ones_like(model[1].weight)
    x = central_points(generator, 10)
    y = torch.zeros(10, dtype=torch.long)
    evaluate.robust_accuracy(model, x, y, eps=[0.1], step_size=0.05, steps=3)
    assert model.training and model[2].training
    assert torch.equal(model[1].weight.grad, torch.ones_like(model[1].weight))


@pytest.mark.parametrize("kw, match", [({"eps": []}, "eps"), ({"eps": [-0.1]}, "eps"),
                                       ({"eps": [0.1], "norm": "l3"}, "norm"), ({"eps": [0.1], "batch_size": 0}, "batch_size")])
def test_robust_accuracy_rejects_bad_arguments(generator, kw, match):
    model = linear_model(generator)
    x = central_points(generator, 4)
    with pytest.raises(ValueError, match=match):
        evaluate.robust_accuracy(model, x, torch.zeros(4, dtype=torch.long), step_size=0.1, steps=2, **kw)


def test_batched_concatenates_chunks_on_the_cpu_and_refuses_bad_input():
    x, y = torch.arange(10.0).view(10, 1), torch.arange(10)
    seen = []
    out = evaluate.batched(lambda xb, yb: (seen.append(len(xb)), xb[:, 0] + yb)[1], x, y, batch_size=4)
    assert seen == [4, 4, 2] and torch.equal(out, 2 * torch.arange(10.0))
    a, b = evaluate.batched(lambda xb: (xb, -xb), x, batch_size=3)
    assert torch.equal(a, x) and torch.equal(b, -x)
    with pytest.raises(ValueError, match="different lengths"):
        evaluate.batched(lambda a, b: a, x, y[:5], batch_size=4)
    with pytest.raises(ValueError, match="batch_size"):
        evaluate.batched(lambda a: a, x, batch_size=0)
    assert evaluate.batched(lambda a: a[:, 0] * 2, x[:0], batch_size=4).shape == (0,)   # one empty chunk
