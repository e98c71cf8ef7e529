"""AMM (paper 003) against its released code (ZiangYan/amm.pytorch, ``generalization.py``): the ``--clip-val``
saturation of every EXP/INV term, MIN aggregation of correct *and* misclassified samples with the 20%-of-batch
threshold, and exact values on a two-class linear model, where DeepFool's ``||r||`` is the exact distance."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from torch import nn

from marginlib import methods

CONFIGS = list(itertools.product(methods.amm.AGGREGATIONS, methods.amm.SHRINKAGES))


def two_class_linear(w: tuple[float, float], b: float) -> nn.Sequential:
    """Logits ``(0, w.x + b)``: class 1 where ``w.x + b > 0``; the L2 distance to the boundary is exact."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0, 0.0], list(w)]))
        model[1].bias.copy_(torch.tensor([0.0, b]))
    return model


def release_min_keep(norms: np.ndarray, y: np.ndarray, correct: np.ndarray, fooled: np.ndarray) -> set[int]:
    """A line-by-line transcription of the released MIN selection (generalization.py, the ``aggregation == 'min'``
    branches for ``pos_index`` and ``neg_index``), returning batch indices."""
    kept: set[int] = set()
    num_top = max(1, int(len(y) * 0.2))
    for group, largest in ((np.flatnonzero(correct), False), (np.flatnonzero(~correct), True)):
        group = group[fooled[group]]
        if group.size == 0:
            continue
        r, labels = norms[group], y[group]
        sort_idx = np.argsort(r, kind="stable")
        per_class = []
        for label in np.unique(labels):
            members = np.flatnonzero(labels == label)
            per_class.append(members[r[members].argmax() if largest else r[members].argmin()])
        top = sort_idx[-num_top:] if largest else sort_idx[:num_top]
        kept.update(group[np.intersect1d(per_class, top)].tolist())
    return kept


@pytest.mark.parametrize("seed", range(8))
def test_min_mask_matches_the_released_selection(seed):
    g = np.random.default_rng(seed)
    n = int(g.integers(5, 120))
    norms = g.random(n) * 3
    y = g.integers(0, 10, n)
    correct = g.random(n) < g.uniform(0.2, 1.0)
    fooled = g.random(n) < 0.9
    t = lambda a: torch.as_tensor(a)
    usable = t(fooled)
    keep = methods.AMM(lam=1.0, c=1.0, d=1.0).keep_mask(t(norms), t(y), t(correct), usable)
    assert set(keep.nonzero().flatten().tolist()) == release_min_keep(norms, y, correct, fooled)


def test_min_threshold_is_a_fifth_of_the_batch():
    # Paper 003 §3.3.1: "top 20% smallest in this batch". A batch of 100 with 60 correct samples, one class each,
    # norms increasing: the 20 smallest of the batch -> the 20 first correct ones; the old rule (a fifth of the
    # *correct* samples) kept 12.
    norms = torch.arange(100, dtype=torch.float32)
    y = torch.arange(100)
    correct = torch.arange(100) < 60
    mask = methods.min_aggregation_mask(norms, y, correct, batch_size=100)
    assert mask.nonzero().flatten().tolist() == list(range(20))
    fooled_only = correct & (torch.arange(100) % 2 == 0)  # unfooled correct samples take no rank
    mask = methods.min_aggregation_mask(norms, y, fooled_only, batch_size=100)
    assert mask.nonzero().flatten().tolist() == list(range(0, 40, 2))


def test_min_keeps_one_misclassified_sample_per_class_unless_asked_for_all():
    model = two_class_linear((1.0, 0.0), 0.0)
    x = torch.tensor([[-0.5, 0.0], [-2.0, 0.0], [-1.0, 0.3], [0.7, 0.0], [0.1, 0.0]])
    y = torch.ones(5, dtype=torch.long)  # the first three are misclassified, at distances 0.5, 2.0, 1.0
    kw = dict(lam=1.0, c=1.0, d=1.0, aggregation="min", shrinkage="lin", overshoot=1e-6)
    released, _ = methods.AMM(**kw).regularizer(model, x, y)
    everyone, _ = methods.AMM(**kw, misclassified="all").regularizer(model, x, y)
    # 'largest': the farthest misclassified (2.0) and the nearest correct (0.1, pushed away with -c);
    # 'all': every misclassified sample and still the nearest correct one.
    torch.testing.assert_close(released, torch.tensor((2.0 - 0.1) / 5), rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(everyone, torch.tensor((0.5 + 2.0 + 1.0 - 0.1) / 5), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("shrinkage", ["exp", "inv"])
def test_terms_saturate_at_clip_value_with_zero_gradient(shrinkage):
    lam, c, d, clip = 4.0, 1.0, 2.0, 50.0
    model = two_class_linear((1.0, 0.0), 0.0)
    distances = torch.tensor([0.1, 0.3, 1.5, 40.0])  # misclassified points at these distances
    x = torch.stack([-distances, torch.zeros(4)], dim=1)
    y = torch.ones(4, dtype=torch.long)
    method = methods.AMM(lam=lam, c=c, d=d, aggregation="avg", shrinkage=shrinkage, overshoot=1e-6,
                         clip_value=clip)
    value, stats = method.regularizer(model, x, y)
    raw = torch.exp(d * distances) if shrinkage == "exp" else 1 / (1 - d * distances)
    raw = torch.where(d * distances < 1, raw, math.inf) if shrinkage == "inv" else raw
    expected = torch.minimum(lam * raw, torch.tensor(clip)) / lam
    torch.testing.assert_close(value, expected.mean(), rtol=1e-5, atol=1e-6)
    saturated = lam * raw >= clip
    assert stats["saturated"] == pytest.approx(saturated.float().mean().item())
    # Only the unsaturated points pull on the bias: ||r_k|| = distance_k - b, so d(lam R)/db = 0 where saturated.
    value.backward()
    per_point = torch.autograd.functional.jacobian(
        lambda b: methods.shrink(d * (distances - b), shrinkage, cap=clip / lam), torch.tensor(0.0))
    assert torch.all(per_point[saturated] == 0) and torch.all(per_point[~saturated] < 0)
    torch.testing.assert_close(model[1].bias.grad[1], per_point.mean(), rtol=1e-4, atol=1e-6)


def test_without_a_cap_the_closed_forms_are_unchanged():
    t = torch.tensor([-1.0, 0.0, 0.5, 2.0])
    torch.testing.assert_close(methods.shrink(t, "exp", cap=None), t.exp())
    torch.testing.assert_close(methods.shrink(t, "inv", cap=None, inv_max=0.9), torch.tensor([0.5, 1.0, 2.0, 10.0]))
    torch.testing.assert_close(methods.shrink(t, "exp", cap=2.0), t.exp().clamp(max=2.0))
    torch.testing.assert_close(methods.shrink(t, "inv", cap=4.0), torch.tensor([0.5, 1.0, 2.0, 4.0]))
    torch.testing.assert_close(methods.shrink(t, "lin", cap=0.1), t)


@pytest.mark.parametrize(("aggregation", "shrinkage"), CONFIGS)
@pytest.mark.parametrize("seed", range(16))   # seed 11 saturates the tanh: some input gradients vanish exactly
def test_far_misclassified_points_give_finite_loss_and_gradients(aggregation, shrinkage, seed):
    # exp(d ||r||) of a misclassified point 200 away from its class overflows float32 unless capped, and a
    # saturated tanh gives DeepFool a zero gradient, whose gap / ||w||^2 must still back-propagate finitely.
    g = torch.Generator().manual_seed(3)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 3))
    x = torch.randn(24, 8, generator=g)
    x[:6] *= 400.0
    y = torch.randint(3, (24,), generator=g)
    method = methods.AMM(lam=32.0, c=2.0, d=1.0, aggregation=aggregation, shrinkage=shrinkage)
    loss, stats = method.loss(model, x, y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())
    if shrinkage != "lin":
        assert loss.item() <= torch.nn.functional.cross_entropy(model(x), y).item() + 50.0 + 1e-4


def test_amm_options_are_validated():
    with pytest.raises(ValueError, match="misclassified"):
        methods.AMM(lam=1.0, c=1.0, d=1.0, misclassified="smallest")
    with pytest.raises(ValueError, match="clip_value"):
        methods.AMM(lam=1.0, c=1.0, d=1.0, clip_value=0.0)
