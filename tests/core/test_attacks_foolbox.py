"""The foolbox bridge: same call shape as pgd, per-sample eps, deterministic, model state untouched."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib.attacks import foolbox_attack
from marginlib.attacks.projections import lp_norm

pytest.importorskip("foolbox")


@pytest.fixture
def linear() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random 3-class linear model on 4x4 inputs, 12 inputs in the box's interior, labels, exact L2 margins."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    x = 0.3 + 0.4 * torch.rand(12, 1, 4, 4)
    with torch.no_grad():
        z = model(x)
        y = z.argmax(1)
        w = model[1].weight
        gaps = (z.gather(1, y[:, None]) - z) / (w[y][:, None, :] - w[None]).norm(dim=2)
        margin = gaps.scatter(1, y[:, None], float("inf")).amin(1)
    return model, x, y, margin


def test_fmn_finds_the_linear_margin_and_respects_per_sample_eps(linear):
    model, x, y, margin = linear
    eps = torch.where(torch.arange(len(x)) % 2 == 0, margin * 1.05, margin * 0.9)
    x_adv = foolbox_attack(model, x, y, eps=eps, norm="l2", attack="fmn", steps=100)
    with torch.no_grad():
        fooled = model(x_adv).argmax(1) != y
    assert bool((lp_norm(x_adv - x, "l2") <= eps + 1e-5).all())
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    assert torch.equal(fooled, torch.arange(len(x)) % 2 == 0)  # within 5% of the true margin, never below it


def test_boundary_attack_is_deterministic_and_leaves_state_alone(linear):
    model, x, y, _ = linear
    model.train()
    rng = torch.get_rng_state()
    run = lambda seed: foolbox_attack(model, x, y, eps=2.0, attack="boundary", steps=50,
                                      generator=torch.Generator().manual_seed(seed))
    a, b, c = run(0), run(0), run(1)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training and all(p.grad is None and p.requires_grad for p in model.parameters())
    with torch.no_grad():
        assert float((model(a).argmax(1) != y).float().mean()) > 0.5


def test_bad_choices_name_the_valid_ones(linear):
    model, x, y, _ = linear
    with pytest.raises(ValueError, match="attack='cw'.*'boundary', 'ddn', 'fmn'"):
        foolbox_attack(model, x, y, eps=1.0, attack="cw")
    with pytest.raises(ValueError, match="norm='linf'.*'l2'"):
        foolbox_attack(model, x, y, eps=1.0, norm="linf", attack="boundary")
    with pytest.raises(ValueError, match="eps must be >= 0"):
        foolbox_attack(model, x, y, eps=-1.0, attack="fmn")
