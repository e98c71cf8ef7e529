"""The AutoAttack bridge: tight on linear models, same call shape as pgd, deterministic, model state untouched."""
from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from marginlib.attacks import AUTOATTACK_ATTACKS, autoattack
from marginlib.attacks.projections import lp_norm

pytest.importorskip("pyautoattack")

DUAL = {"linf": 1, "l2": 2}


def linear_case(n_classes: int = 4) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random linear model on 4x4 inputs, 12 inputs in the box's interior and their predicted labels."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, n_classes))
    x = 0.3 + 0.4 * torch.rand(12, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


def exact_margin(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    """min_{j != y} (z_y - z_j) / ||w_y - w_j||_q, q the dual norm (exact while the box does not bind)."""
    with torch.no_grad():
        z, w = model(x), model[1].weight
        gaps = (z.gather(1, y[:, None]) - z) / (w[y][:, None, :] - w[None]).norm(p=DUAL[norm], dim=2)
    return gaps.scatter(1, y[:, None], float("inf")).amin(1)


def fooled(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


@pytest.mark.parametrize("norm, attack", [("linf", "apgd-ce"), ("linf", "apgd-t"), ("l2", "apgd-t")])
def test_fools_exactly_the_points_within_eps_of_the_linear_boundary(norm, attack):
    model, x, y = linear_case()
    margin = exact_margin(model, x, y, norm)
    assert float(margin.max()) < 0.3  # the [0, 1] box never binds, so the linear margin is the true one
    ordered = margin.sort().values
    k = int(((ordered[1:-1] / ordered[:-2]).minimum(ordered[2:] / ordered[1:-1])).argmax()) + 1
    assert float(ordered[k + 1] / ordered[k]) > 1.1 and float(ordered[k] / ordered[k - 1]) > 1.1
    for eps in (1.05 * float(ordered[k]), 0.95 * float(ordered[k])):  # just beyond / just short of one margin
        x_adv = autoattack(model, x, y, eps=eps, norm=norm, version="custom", attacks=[attack], n_iter=20,
                           generator=torch.Generator().manual_seed(0))
        assert torch.equal(fooled(model, x_adv, y), margin < eps)
        assert bool((lp_norm(x_adv - x, norm) <= eps * (1 + 1e-6)).all())
        assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1


def test_standard_version_fools_all_beyond_the_largest_margin_and_none_below_the_smallest():
    model, x, y = linear_case()
    margin = exact_margin(model, x, y, "linf")
    few = {"n_iter": 10, "n_queries": 20}
    none = autoattack(model, x, y, eps=0.9 * float(margin.min()), norm="linf", **few)
    every = autoattack(model, x, y, eps=1.1 * float(margin.max()), norm="linf", **few)
    assert torch.equal(none, x)  # no adversarial example: every point keeps its clean input
    assert bool(fooled(model, every, y).all())


def test_deterministic_and_leaves_model_rng_and_tracer_alone():
    model, x, y = linear_case()
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    rng = torch.get_rng_state()
    run = lambda seed: autoattack(model, x, y, eps=0.3, norm="l2", version="custom", attacks=["apgd-ce"],
                                  n_iter=5, generator=torch.Generator().manual_seed(seed))
    a, b = run(0), run(0)
    outer, tracer = sys.gettrace(), lambda frame, event, arg: None  # e.g. a debugger's or coverage's tracer
    sys.settrace(tracer)
    try:
        c = run(1)
        assert sys.gettrace() is tracer  # AutoAttack's dynamic-defense check clears it; the bridge puts it back
    finally:
        sys.settrace(outer)
    assert torch.equal(a, b) and not torch.equal(a, c)  # the random start follows the generator
    assert torch.equal(torch.get_rng_state(), rng)
    assert model.training
    assert all(p.requires_grad and torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())


def test_eps_zero_returns_the_clean_inputs():
    model, x, y = linear_case()
    assert torch.equal(autoattack(model, x, y, eps=0.0), x)


def test_bad_arguments_name_the_parameter_and_choices():
    model, x, y = linear_case()
    with pytest.raises(ValueError, match="norm='l1'.*'linf', 'l2'"):
        autoattack(model, x, y, eps=0.1, norm="l1")
    with pytest.raises(ValueError, match="version='fast'.*'standard', 'plus', 'rand', 'custom'"):
        autoattack(model, x, y, eps=0.1, version="fast")
    with pytest.raises(ValueError, match="eps must be >= 0"):
        autoattack(model, x, y, eps=-0.1)
    with pytest.raises(ValueError, match="eps must be one number"):
        autoattack(model, x, y, eps=torch.full((12,), 0.1))
    with pytest.raises(ValueError, match="only used with version='custom'"):
        autoattack(model, x, y, eps=0.1, attacks=["apgd-ce"])
    with pytest.raises(ValueError, match="needs attacks="):
        autoattack(model, x, y, eps=0.1, version="custom")
    with pytest.raises(ValueError, match="attacks='pgd'.*'apgd-ce'"):
        autoattack(model, x, y, eps=0.1, version="custom", attacks=["pgd"])
    with pytest.raises(ValueError, match="option='steps'.*'n_iter'"):
        autoattack(model, x, y, eps=0.1, steps=10)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        autoattack(model, x, y, eps=0.1, batch_size=0)
    with pytest.raises(ValueError, match="'apgd-t' needs at least 4 classes; the model has 3"):
        autoattack(*linear_case(n_classes=3), eps=0.1)


class ModeProbe(nn.Module):
    """Identity that records the train/eval mode of every forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.modes: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return x


def test_every_attack_runs_in_eval_mode_without_touching_parameter_grads():
    model, x, y = linear_case()
    probe = ModeProbe()
    wrapped = nn.Sequential(probe, model).train()
    for p in wrapped.parameters():
        p.grad = torch.full_like(p, 7.0)
    autoattack(wrapped, x, y, eps=0.05, norm="linf", version="custom", attacks=list(AUTOATTACK_ATTACKS),
               n_iter=3, n_queries=5, n_restarts=1)
    assert probe.modes and not any(probe.modes)
    assert wrapped.training and probe.training
    assert all(p.requires_grad and torch.equal(p.grad, torch.full_like(p, 7.0)) for p in wrapped.parameters())
