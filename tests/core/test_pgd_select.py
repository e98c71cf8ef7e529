"""PGD's choice among its iterates: a fooling point first (attacks), or the largest loss (paper 004, App. B.5)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from marginlib import attacks, models
from marginlib.papers.p004_ar import confidence


def _setup():
    model = models.build("mlp", hidden=(32,), input_size=4, num_classes=10, seed=0).eval()
    x = torch.rand(200, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    return model, x, model(x).argmax(1).detach()  # every point correctly classified, many with a low p_y


def test_objective_selection_returns_the_largest_loss_iterate():
    model, x, y = _setup()
    kw = dict(eps=0.3, step_size=0.1, steps=10, norm="linf")
    first_fooled, largest = attacks.pgd(model, x, y, **kw), attacks.pgd(model, x, y, select="objective", **kw)
    ce = lambda z: F.cross_entropy(model(z), y, reduction="none")
    assert torch.all(ce(largest) >= ce(first_fooled) - 1e-6)  # the same iterates, the larger loss kept
    assert (ce(largest) > ce(first_fooled) + 1e-3).any()      # here the fooling point is not the loss maximum
    with pytest.raises(ValueError, match="select"):
        attacks.pgd(model, x, y, select="loss", **kw)


def test_loss_variation_is_the_largest_loss_change_and_never_negative():
    model, x, y = _setup()
    change = confidence.loss_variation(model, x, y, eps=[0.3], steps=10, step_size=0.1)[0.3]
    x_adv = attacks.pgd(model, x, y, eps=0.3, step_size=0.1, steps=10, norm="linf", select="objective")
    expected = F.cross_entropy(model(x_adv), y, reduction="none") - F.cross_entropy(model(x), y, reduction="none")
    torch.testing.assert_close(change, expected.detach(), rtol=1e-5, atol=1e-6)
    assert torch.all(change >= 0)
