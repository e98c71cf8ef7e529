"""Effective margins of correctly classified points and paper 002's Table 1 row (p002_emr.effective_margins)."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from marginlib import evaluate, methods, models, train
from marginlib.papers.p002_emr import effective_margins


def affine(d: int = 6, k: int = 4, seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k)).double()


def numpy_margin(weight: np.ndarray, bias: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """l2 distance to the nearest pairwise hyperplane of an affine classifier, written independently (numpy)."""
    logits = x @ weight.T + bias
    rows = np.arange(len(x))
    gaps = logits[rows, y][:, None] - logits
    dists = np.linalg.norm(weight[y][:, None, :] - weight[None, :, :], axis=2)
    ratio = np.where(dists > 0, gaps / np.where(dists > 0, dists, 1), np.inf)
    ratio[rows, y] = np.inf
    return ratio.min(axis=1)


def test_correct_effective_is_the_exact_margin_of_correct_points_only(generator):
    model = affine()
    x = torch.rand(40, 6, generator=generator, dtype=torch.float64)
    y = torch.randint(0, 4, (40,), generator=generator)
    with torch.no_grad():
        correct = (model(x).argmax(1) == y).numpy()
    assert 0 < correct.sum() < len(y)           # both kinds of point are present
    got = effective_margins.correct_effective(model, x, y, batch_size=7)   # chunks of uneven size
    w, b = model[1].weight.detach().numpy(), model[1].bias.detach().numpy()
    want = numpy_margin(w, b, x.numpy(), y.numpy())[correct]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10)
    assert (got > 0).all()


def test_correct_effective_is_invariant_to_logit_scaling(generator):
    """Fig. 1a of paper 002: scaling the logits by alpha changes the loss but not the effective margin."""
    model = affine()
    x = torch.rand(30, 6, generator=generator, dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    before = effective_margins.correct_effective(model, x, y)
    with torch.no_grad():
        model[1].weight.mul_(5.0)
        model[1].bias.mul_(5.0)
    torch.testing.assert_close(effective_margins.correct_effective(model, x, y), before)


def test_correct_effective_empty_and_summary():
    model = affine()
    x = torch.zeros(3, 6, dtype=torch.float64)
    with torch.no_grad():
        wrong = (model(x).argmax(1) + 1) % 4
    assert effective_margins.correct_effective(model, x, wrong).numel() == 0
    mean, std = effective_margins.summary(torch.empty(0))
    assert math.isnan(mean) and math.isnan(std)
    assert effective_margins.summary(torch.tensor([2.0])) == (2.0, 0.0)
    assert effective_margins.summary(torch.tensor([1.0, 3.0])) == pytest.approx((2.0, math.sqrt(2.0)))


def test_correct_effective_leaves_model_untouched(generator):
    model = models.build("mlp", hidden=(8,), input_size=4, seed=0)
    model.train()
    x = torch.rand(10, 1, 4, 4, generator=generator)
    y = torch.randint(0, 10, (10,), generator=generator)
    effective_margins.correct_effective(model, x, y)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_tracker_records_the_mean_at_every_epoch(generator):
    x = torch.rand(60, 1, 4, 4, generator=generator)
    y = (x.flatten(1).mean(1) > 0.5).long()
    data = SimpleNamespace(x=x, y=y)
    model = models.build("mlp", hidden=(8,), input_size=4, num_classes=2, seed=0)
    history = train.fit(model, methods.build("standard"), data, epochs=2, lr=0.1, progress=False,
                        callbacks={"m": effective_margins.effective_tracker(x, y)})
    assert sorted(history.recorded) == [0, 1, 2]
    assert history.recorded[2]["m"] == pytest.approx(effective_margins.summary(
        effective_margins.correct_effective(model, x, y))[0])
    assert [row["m"] for row in history.rows] == [history.recorded[e]["m"] for e in (1, 2)]


def test_table_row_matches_its_parts(generator):
    x = torch.rand(50, 1, 4, 4, generator=generator)
    y = torch.randint(0, 3, (50,), generator=generator)
    data = SimpleNamespace(x=x, y=y)
    model = models.build("mlp", hidden=(16,), input_size=4, num_classes=3, seed=1)
    row = effective_margins.table_row(model, data, data, eps=0.1, step_size=0.01, steps=5)
    assert row["clean_acc"] == evaluate.accuracy(model, x, y)
    assert row["robust_acc"] <= row["clean_acc"]
    assert row["eff_margin_train_mean"] == row["eff_margin_test_mean"]
    assert (row["eff_margin_test_mean"], row["eff_margin_test_std"]) == pytest.approx(
        effective_margins.summary(effective_margins.correct_effective(model, x, y)))
