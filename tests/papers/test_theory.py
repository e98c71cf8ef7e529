"""Paper 001's theory helpers: the 1-D example of Fig. 2, the exact l2 minimal perturbation, Theorem 2.1."""
import math

import pytest
import torch
from torch.func import grad, vmap

from marginlib import margins
from marginlib.papers.p001_mma import theory


def _points(model, n, seed=1):
    x = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 2 - 1
    with torch.no_grad():
        return x, model(x).argmax(1)


def test_zero_crossing_finds_the_root_of_a_batch():
    roots = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    found = theory.zero_crossing(lambda t: t**3 - roots**3, 0.0, 1.0, steps=50)
    assert torch.allclose(found, roots, atol=1e-12)
    assert (found**3 >= roots**3).all()  # the upper end of the bracket: a point where fn >= 0


def test_fixed_eps_example_is_figure_2():
    eps = 0.8
    curves = theory.fixed_eps_example(eps=eps, margin_before=0.4, margins_after=(0.55, 0.25), loss_after=1.2)
    at_eps = {k: float(f(torch.tensor(eps))) for k, f in curves.items()}
    assert at_eps["La"] == pytest.approx(1.2) and at_eps["Lb"] == pytest.approx(1.2) and at_eps["L0"] > 1.2
    found = {k: float(theory.zero_crossing(f, 0.0, eps)) for k, f in curves.items()}
    assert found == pytest.approx({"L0": 0.4, "La": 0.55, "Lb": 0.25}, abs=1e-12)
    grid = torch.linspace(0, 1, 101)
    assert all((f(grid).diff() > 0).all() for f in curves.values())  # every curve increases: larger is stronger
    with pytest.raises(ValueError, match="loss_after"):
        theory.fixed_eps_example(eps=eps, loss_after=5.0)
    with pytest.raises(ValueError, match="margin_before"):
        theory.fixed_eps_example(eps=eps, margin_before=-0.1)
    with pytest.raises(ValueError, match="margin_before"):
        theory.fixed_eps_example(eps=eps, margin_before=eps)


def test_fixed_eps_example_with_eps_below_the_margins():
    """eps undershooting the margin (the page's "Try this" 1): L(eps) < 0 before and after, the margins above eps."""
    eps = 0.3
    curves = theory.fixed_eps_example(eps=eps, margin_before=0.4, margins_after=(0.5, 0.35), loss_after=-0.5)
    at_eps = {k: float(f(torch.tensor(eps))) for k, f in curves.items()}
    assert at_eps["La"] == pytest.approx(-0.5) and at_eps["Lb"] == pytest.approx(-0.5) and at_eps["L0"] > -0.5
    found = {k: float(theory.zero_crossing(f, eps, 1.0)) for k, f in curves.items()}
    assert found == pytest.approx({"L0": 0.4, "La": 0.5, "Lb": 0.35}, abs=1e-12)
    grid = torch.linspace(0, 1, 101)
    assert all((f(grid).diff() > 0).all() for f in curves.values())
    # an increasing loss that is negative at eps cannot cross zero below eps, and the update must lower L(eps)
    with pytest.raises(ValueError, match=r"margins_after\[1\]=0.25 is out of reach"):
        theory.fixed_eps_example(eps=eps, margins_after=(0.35, 0.25), loss_after=-0.5)
    with pytest.raises(ValueError, match="loss_after must lie in"):
        theory.fixed_eps_example(eps=eps, margins_after=(0.35, 0.25))


def test_minimal_perturbation_of_a_linear_model_is_the_closed_form():
    model = theory.tiny_tanh_mlp(hidden=(), classes=3)
    x, y = _points(model, 12)
    found = theory.minimal_perturbation(model, x, y, radius=4.0)
    assert torch.allclose(found.margin, margins.exact_linear(model, x, y, norm="l2"), atol=1e-10)


def test_minimal_perturbation_of_a_tanh_mlp_is_on_the_boundary_and_closest():
    model = theory.tiny_tanh_mlp(generator=torch.Generator().manual_seed(0))
    x, y = _points(model, 6)
    found = theory.minimal_perturbation(model, x, y)
    assert found.residual.max() < 1e-10
    with torch.no_grad():
        logits = model(x + found.delta)
    assert torch.allclose(logits.gather(1, found.j[:, None]), logits.gather(1, y[:, None]), atol=1e-10)
    assert (logits.argsort(1, descending=True)[:, :2].sort(1).values == torch.stack([y, found.j], 1).sort(1).values).all()
    # no point strictly inside the ball of radius 0.999 * margin is misclassified (dense polar sampling)
    angles = torch.linspace(0, 2 * math.pi, 2000, dtype=torch.float64)
    units = torch.stack([angles.cos(), angles.sin()], 1)
    radii = torch.linspace(0, 0.999, 60, dtype=torch.float64)
    ball = (radii[:, None, None] * units[None]).reshape(-1, 2)
    with torch.no_grad():
        inside = model((x[:, None] + found.margin[:, None, None] * ball[None]).reshape(-1, 2)).argmax(1)
    assert (inside.view(len(x), -1) == y[:, None]).all()


def test_minimal_perturbation_rejects_bad_input():
    model = theory.tiny_tanh_mlp()
    x, y = _points(model, 3)
    with pytest.raises(ValueError, match="correctly classified"):
        theory.minimal_perturbation(model, x, (y + 1) % 3)
    with pytest.raises(ValueError, match="shape"):
        theory.minimal_perturbation(model, torch.zeros(2, 3, dtype=torch.float64), y[:2])
    with pytest.raises(ValueError, match="radius"):
        theory.minimal_perturbation(model, x, y, radius=1e-3)


def test_theorem21_margin_gradient_is_lambda_times_loss_gradient():
    model = theory.tiny_tanh_mlp(hidden=(6, 6), generator=torch.Generator().manual_seed(0))
    x, y = _points(model, 4)
    check = theory.theorem21(model, x, y)
    assert check.margin_grad.shape == check.loss_grad.shape == (4, sum(p.numel() for p in model.parameters()))
    assert (check.lam < 0).all()
    assert (check.cosine > 1 - 1e-9).all()
    assert (check.rel_error < 1e-6).all()
    # the check discriminates: the loss gradient at the clean point (delta = 0) is not parallel to the margin's
    theta, unflatten = theory._flat(model)
    g = theory._pair_loss(model, unflatten)
    j = theory.minimal_perturbation(model, x, y).j
    at_x = vmap(grad(g), in_dims=(None, 0, 0, 0))(theta, x, y, j)
    assert (torch.nn.functional.cosine_similarity(check.margin_grad, -at_x, dim=1) < 0.99).any()
