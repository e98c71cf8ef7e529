"""White-box and transfer accuracy grids (paper 001, Table 1) against closed forms on linear models."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib.papers.p001_mma.transfer import accuracy_under_attack, attack_table

from nets import random_linear

EPS = [0.0, 0.05, 0.1, 0.2]


def linear(seed: int) -> nn.Module:
    return random_linear(16, 2, torch.Generator().manual_seed(seed), bias="zero").eval()


@pytest.fixture
def batch(generator):
    x = torch.rand(64, 1, 4, 4, generator=generator)
    with torch.no_grad():
        y = linear(0)(x).argmax(1)
    return x, y


def exact_linf_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> float:
    """Two-class linear model: the worst point of the Linf ball within [0, 1] moves each pixel against its weight."""
    w = model[1].weight
    sign = torch.where(y[:, None] == 0, 1.0, -1.0) * (w[0] - w[1])  # gradient of the correct-class gap
    worst = (x.flatten(1) - eps * sign.sign()).clamp(0, 1)
    with torch.no_grad():
        return float((model(worst.view_as(x)).argmax(1) == y).double().mean())


@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
def test_white_box_matches_the_exact_worst_case_of_a_linear_model(batch, attack, generator):
    x, y = batch
    model = linear(0)
    acc = accuracy_under_attack(model, {"m": model}, x, y, eps=EPS, attack=attack, steps=20, generator=generator)
    assert acc["m"][0.0] == 1.0
    for e in EPS:
        assert acc["m"][e] == pytest.approx(exact_linf_accuracy(model, x, y, e))
    assert acc["m"][0.2] < 0.5  # the radii are large enough for the check to bite


def test_transfer_from_another_model_is_weaker_than_white_box(batch, generator):
    x, y = batch
    target, other = linear(0), linear(1)
    white = accuracy_under_attack(target, {"t": target}, x, y, eps=EPS, steps=20, generator=generator)["t"]
    transfer = accuracy_under_attack(other, {"t": target}, x, y, eps=EPS, steps=20, generator=generator)["t"]
    assert all(transfer[e] >= white[e] for e in EPS)
    assert any(transfer[e] > white[e] for e in EPS)


def test_batching_does_not_change_results(batch):
    x, y = batch
    model = linear(0)
    run = lambda bs: accuracy_under_attack(model, {"m": model}, x, y, eps=EPS, steps=5, batch_size=bs,  # noqa: E731
                                           generator=torch.Generator().manual_seed(3))
    assert run(7) == run(64)


def test_table_rows_cover_the_grid_and_white_box_rows_agree(batch):
    x, y = batch
    a, b = linear(0), linear(1)
    rows = attack_table({"A": a, "B": b}, {"A": a, "B": b}, x, y, eps=[0.1, 0.2], steps=(5, 10), restarts=(1, 2))
    assert len(rows) == 2 * (1 + 2 * 2) * 2
    fgsm_a = [r for r in rows if r["attack"] == "FGSM" and r["source"] == "A"]
    assert [r["A"] for r in fgsm_a] == pytest.approx([exact_linf_accuracy(a, x, y, e) for e in (0.1, 0.2)])
    assert {r["steps"] for r in rows} == {None, 5, 10}


def test_rejects_bad_arguments(batch):
    x, y = batch
    model = linear(0)
    with pytest.raises(ValueError, match="attack"):
        accuracy_under_attack(model, {"m": model}, x, y, eps=EPS, attack="cw")
    with pytest.raises(ValueError, match="targets"):
        accuracy_under_attack(model, {}, x, y, eps=EPS)
    with pytest.raises(ValueError, match="eps"):
        accuracy_under_attack(model, {"m": model}, x, y, eps=[])
