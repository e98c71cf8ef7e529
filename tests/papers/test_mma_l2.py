"""Section 05's L2 half: robust accuracy and margin upper bounds from one run of a minimum-norm attack
(paper 001 §3: the Boundary attack on the L2 MNIST models), checked against exact margins of linear models."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from marginlib.papers.p001_mma.boundary import minimum_norm_accuracy, nearest_other_label

pytest.importorskip("foolbox")

EPS = [0.0, 0.02, 0.05, 0.08]


@pytest.fixture
def linear() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random 3-class linear model on 4x4 inputs, 16 inputs in the box's interior, their predicted labels and
    exact L2 margins (the distance to the nearest other-class half-space; smaller than the distance to the box)."""
    g = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(3, 16, generator=g))
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))        # the classes split the box's centre
    x = 0.3 + 0.4 * torch.rand(16, 1, 4, 4, generator=g)
    with torch.no_grad():
        z = model(x)
        y = z.argmax(1)
        w = model[1].weight
        gaps = (z.gather(1, y[:, None]) - z) / (w[y][:, None, :] - w[None]).norm(dim=2)
        margin = gaps.scatter(1, y[:, None], math.inf).amin(1)
    assert len(y.unique()) == 3 and float(margin.max()) < 0.3
    return model.eval(), x, y, margin


def test_ddn_distances_are_the_exact_margins_and_give_every_radius(linear):
    model, x, y, margin = linear
    assert float(margin.max()) > EPS[-1] > float(margin.min())  # the radii split the points
    acc, dist = minimum_norm_accuracy(model, x, y, eps=EPS, attack="ddn", steps=200)
    assert torch.all(dist >= margin * (1 - 1e-4))                # never below the true margin
    assert torch.all(dist <= margin * 1.2)                       # DDN gets close on a linear model
    assert acc == {e: float((dist > e).double().mean()) for e in EPS}
    assert acc[0.0] == 1.0 and acc[EPS[-1]] < 1.0


def test_boundary_attack_gives_upper_bounds_and_misclassified_points_count_zero(linear):
    model, x, y, margin = linear
    y = y.clone()
    y[:3] = (y[:3] + 1) % 3                                      # three points now misclassified
    def run(seed):
        return minimum_norm_accuracy(model, x, y, eps=EPS, steps=1000, generator=torch.Generator().manual_seed(seed))

    (acc, dist), (acc2, dist2) = run(0), run(0)
    assert torch.equal(dist, dist2) and acc == acc2              # seeded: the same run twice
    assert torch.equal(dist[:3], torch.zeros(3))
    assert acc[0.0] == 13 / 16
    assert torch.all(dist[3:] >= margin[3:] * (1 - 1e-4))       # a found adversarial point bounds the margin
    assert torch.all(torch.isfinite(dist[3:]))
    assert float((dist[3:] / margin[3:]).median()) < 2.0         # and the decision-based walk gets closer than 2x


@pytest.mark.parametrize("attack", ["boundary", "ddn"])
def test_a_point_that_cannot_be_fooled_has_infinite_distance(attack):
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3)).eval()
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].bias.copy_(torch.tensor([1.0, 0.0, 0.0]))     # class 0 everywhere: no start, no gradient
    x = torch.rand(4, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 0, 1, 2])
    acc, dist = minimum_norm_accuracy(model, x, y, eps=[0.0, 10.0], attack=attack, steps=10)
    assert dist.tolist() == [math.inf, math.inf, 0.0, 0.0]
    assert acc == {0.0: 0.5, 10.0: 0.5}


def test_boundary_starts_from_the_nearest_image_labelled_otherwise():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2)).eval()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]]))
        model[1].bias.copy_(torch.tensor([-0.5, 0.5]))           # class 0 iff the first pixel > 0.5
    x = torch.tensor([[0.9, 0, 0, 0], [0.8, 0, 0, 0], [0.1, 0, 0, 0], [0.3, 0, 0, 0]]).view(4, 1, 2, 2)
    y = torch.tensor([0, 0, 1, 0])                               # predicted 0, 0, 1, 1: the last is misclassified
    with torch.no_grad():
        pred = model(x).argmax(1)
    start, found = nearest_other_label(x, y, pred)
    assert found.all()
    assert torch.equal(start, x[[3, 3, 1, 3]])                   # nearest labelled 1, 1, 0; itself when misclassified
    _, found = nearest_other_label(x[:2], y[:2], pred[:2])       # both labelled 0: no start for either
    assert not found.any()


def test_rejects_bad_arguments(linear):
    model, x, y, _ = linear
    with pytest.raises(ValueError, match="eps must hold at least one radius"):
        minimum_norm_accuracy(model, x, y, eps=[])
    with pytest.raises(ValueError, match="eps"):
        minimum_norm_accuracy(model, x, y, eps=[-1.0])
    with pytest.raises(ValueError, match="attack='cw'"):
        minimum_norm_accuracy(model, x, y, eps=EPS, attack="cw")
