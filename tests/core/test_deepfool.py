"""DeepFool in the box (convergence against foolbox 3), batch independence, and the per-device gradient methods."""
from __future__ import annotations

import importlib

import pytest
import torch
from torch import nn

from marginlib.attacks import deepfool

from oracles import linear_minimal_perturbation

deepfool_module = importlib.import_module("marginlib.attacks.deepfool")


@pytest.fixture(scope="module")
def digits(trained_digits) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The shared digits MLP (conftest) and its correctly classified held-out images (554 of 597) with labels."""
    model, x, y = trained_digits
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    return model, x[correct], y[correct]


def _norms(r: torch.Tensor, norm: str) -> torch.Tensor:
    flat = r.flatten(1)
    return flat.norm(dim=1) if norm == "l2" else flat.abs().amax(1)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_boxed_deepfool_fools_every_point_like_foolbox(digits, norm):
    """Clipping to the box used to stall a third of the points for ever (the linearized gap only shrank); foolbox's
    DeepFool, which lengthens each step by 1e-4, fools them all. The book's must too, at foolbox's distances."""
    fb = pytest.importorskip("foolbox")
    model, x, y = digits
    r, success = deepfool(model, x, norm=norm, steps=50, bounds=(0.0, 1.0), return_success=True)
    assert float((x + r).min()) >= 0.0 and float((x + r).max()) <= 1.0
    with torch.no_grad():
        assert torch.equal(model(x + r).argmax(1) != y, success)
    assert float(success.float().mean()) >= 0.99

    attack = (fb.attacks.L2DeepFoolAttack if norm == "l2" else fb.attacks.LinfDeepFoolAttack)(steps=50, overshoot=0.02)
    _, x_fb, fooled_fb = attack(fb.PyTorchModel(model, bounds=(0, 1)), x, y, epsilons=None)
    both = success & fooled_fb
    assert float(both.float().mean()) >= 0.99
    ratio = float(_norms(r, norm)[both].median() / _norms(x_fb - x, norm)[both].median())
    assert ratio == pytest.approx(1.0, abs=0.05)


def test_boxed_deepfool_converges_in_a_few_steps_where_the_box_clips(digits):
    model, x, _ = digits
    _, success = deepfool(model, x, steps=20, bounds=(0.0, 1.0), return_success=True)
    assert float(success.float().mean()) >= 0.99
    # the box clips nearly every digit (many pixels sit at 0 or 1), so this is not the unbounded path
    free = deepfool(model, x, steps=20)
    outside = ((x + free).flatten(1).amin(1) < 0) | ((x + free).flatten(1).amax(1) > 1)
    assert float(outside.float().mean()) > 0.9


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("bounds", [None, (0.0, 1.0)], ids=["free", "box"])
def test_deepfool_result_does_not_depend_on_the_rest_of_the_batch(digits, norm, bounds):
    model, x, _ = digits
    x = x[:64]
    with torch.no_grad():
        pred = model(x).argmax(1)
    target = torch.where(torch.arange(64) % 3 == 0, (pred + 1) % 10, torch.full_like(pred, -1))
    perm = torch.randperm(64, generator=torch.Generator().manual_seed(1))
    for kwargs in ({}, {"candidates": 3}, {"target": target}):
        def run(idx: torch.Tensor) -> torch.Tensor:
            extra = {"target": target[idx]} if "target" in kwargs else kwargs
            return deepfool(model, x[idx], norm=norm, bounds=bounds, **extra)

        alone = torch.cat([run(torch.tensor([i])) for i in range(20)])
        in_batch = run(torch.arange(64))[:20]
        shuffled = torch.empty_like(x)
        shuffled[perm] = run(perm)
        torch.testing.assert_close(in_batch, alone, rtol=0, atol=1e-5)
        torch.testing.assert_close(shuffled[:20], alone, rtol=0, atol=1e-5)


def test_bounds_leave_a_path_inside_the_box_exact(monkeypatch):
    """A linear model whose boundaries lie well inside the box: with or without ``bounds`` the one-step answer is
    the exact distance (no BOX_STEP added, since the box never clips), and ``bounds=None`` stays exact whichever
    gradient method runs."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).double()
    x = 0.45 + 0.1 * torch.rand(32, 1, 4, 4, dtype=torch.float64)
    expected = linear_minimal_perturbation(model, x, "l2")
    assert float((x + 1.02 * expected).amin()) > 0 and float((x + 1.02 * expected).amax()) < 1
    for method in deepfool_module.GRADIENT_METHODS:
        monkeypatch.setitem(deepfool_module.GRADIENT_METHOD, "cpu", method)
        torch.testing.assert_close(deepfool(model, x, steps=1, overshoot=0.02), 1.02 * expected, rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(deepfool(model, x, steps=1, overshoot=0.02, bounds=(0.0, 1.0)), 1.02 * expected,
                                   rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("group_norm", [False, True], ids=["cnn", "groupnorm"])
def test_every_gradient_method_gives_the_same_deepfool_and_gradient(monkeypatch, group_norm):
    """The per-device choice of how the candidate gradients are computed changes nothing but the time, in the
    detached and in the differentiable (double backward) path, GroupNorm included."""
    torch.manual_seed(0)
    norm_layer = [nn.GroupNorm(2, 4)] if group_norm else []
    model = nn.Sequential(nn.Conv2d(1, 4, 3), *norm_layer, nn.Tanh(), nn.Flatten(), nn.Linear(4 * 4 * 4, 5)).double()
    x = torch.rand(6, 1, 6, 6, dtype=torch.float64)
    results = {}
    for method in deepfool_module.GRADIENT_METHODS:
        monkeypatch.setitem(deepfool_module.GRADIENT_METHOD, "cpu", method)
        detached = deepfool(model, x, steps=4)
        r = deepfool(model, x, steps=4, differentiable=True)
        (grad,) = torch.autograd.grad(r.flatten(1).norm(dim=1).sum(), model[0].weight)
        results[method] = (detached, r.detach(), grad)
    ref = results["batched"]
    for method, got in results.items():
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=lambda m: f"{method}: {m}")
    assert float(ref[2].abs().max()) > 1e-3


def test_cpu_uses_the_class_loop():
    """Measured in the module docstring: on a CPU the loop over cotangents is the fastest of the three."""
    assert deepfool_module.GRADIENT_METHOD["cpu"] == "loop"
