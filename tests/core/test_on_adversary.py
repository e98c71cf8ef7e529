"""An objective evaluated at adversarial examples (marginlib.methods.on_adversary)."""
from __future__ import annotations

import pytest
import torch

from marginlib import attacks, methods, models
from marginlib.methods.lsoftmax_annealed import AnnealedLSoftmax
from marginlib.methods.on_adversary import OnAdversary


def batch(generator):
    return torch.rand(8, 1, 4, 4, generator=generator), torch.randint(0, 10, (8,), generator=generator)


def test_loss_is_the_inner_loss_at_the_pgd_point(generator):
    model = models.build("mlp", hidden=(8,), input_size=4, seed=0)
    torch.nn.init.zeros_(model.classifier.bias)  # L-Softmax is bias-free: its loss zeroes the bias (Liu et al.)
    x, y = batch(generator)
    method = OnAdversary(attack=methods.build("pgd_at", eps=0.1, step_size=0.05, steps=3, random_start=False),
                         inner=methods.build("lsoftmax", margin=2))
    method.setup(device="cpu", seed=0)
    x_adv = attacks.pgd(model, x, y, eps=0.1, step_size=0.05, steps=3, norm="linf")
    assert not torch.equal(x_adv, x)
    want, _ = methods.build("lsoftmax", margin=2).loss(model, x_adv, y)
    got, _ = method.loss(model, x, y)
    torch.testing.assert_close(got, want)


def test_zero_radius_is_the_clean_loss(generator):
    model = models.build("mlp", hidden=(8,), input_size=4, seed=0)
    x, y = batch(generator)
    method = OnAdversary(attack=methods.build("pgd_at", eps=0.0, steps=2), inner=methods.build("standard"))
    method.setup(device="cpu", seed=0)
    torch.testing.assert_close(method.loss(model, x, y)[0], methods.build("standard").loss(model, x, y)[0])


def test_hooks_reach_the_inner_method_and_state_roundtrips():
    model = models.build("mlp", hidden=(8,), input_size=4, seed=0)
    make = lambda: OnAdversary(attack=methods.build("pgd_at", eps=0.1), inner=AnnealedLSoftmax(base=10.0))  # noqa: E731
    a, b = make(), make()
    a.setup(device="cpu", seed=0)
    b.setup(device="cpu", seed=1)
    a.after_step(model)
    a.after_step(model)
    assert a.inner.step == 2 and a.inner.lam < 10.0
    b.load_state_dict(a.state_dict())
    assert (b.inner.step, b.inner.lam) == (2, a.inner.lam)
    assert torch.equal(b.attack.generator.get_state(), a.attack.generator.get_state())


def test_attack_without_adversary_is_rejected():
    with pytest.raises(ValueError, match="attack"):
        OnAdversary(attack=methods.build("standard"), inner=methods.build("standard"))
