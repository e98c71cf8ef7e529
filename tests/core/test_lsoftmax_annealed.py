"""L-Softmax with an annealed blending weight (marginlib.methods.lsoftmax_annealed)."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from marginlib import methods, models
from marginlib.methods.lsoftmax_annealed import AnnealedLSoftmax, lsoftmax_lambda


def test_schedule_closed_form():
    assert lsoftmax_lambda(0, base=100.0, gamma=0.1, power=1.0, lam_min=0.0) == 100.0
    assert lsoftmax_lambda(90, base=100.0, gamma=0.1, power=1.0, lam_min=0.0) == pytest.approx(10.0)
    assert lsoftmax_lambda(90, base=100.0, gamma=0.1, power=2.0, lam_min=0.0) == pytest.approx(1.0)
    assert lsoftmax_lambda(10**6, base=100.0, gamma=0.1, power=1.0, lam_min=5.0) == 5.0


def test_after_step_follows_the_schedule_and_the_loss_uses_it(generator):
    model = models.build("mlp", hidden=(8,), input_size=4, seed=0)
    x = torch.rand(6, 1, 4, 4, generator=generator)
    y = torch.randint(0, 10, (6,), generator=generator)
    method = AnnealedLSoftmax(margin=4, base=50.0, gamma=1.0, power=1.0)
    assert method.lam == 50.0
    for _ in range(4):
        method.after_step(model)
    assert method.step == 4 and method.lam == pytest.approx(10.0)
    loss, _ = method.loss(model, x, y)
    fixed, _ = methods.build("lsoftmax", margin=4, lam=10.0).loss(model, x, y)
    torch.testing.assert_close(loss, fixed)
    with torch.no_grad():      # a large lam is (almost) plain bias-free softmax
        plain = F.cross_entropy(model.features(x) @ model.classifier.weight.T, y)
        huge = AnnealedLSoftmax(margin=4, base=1e9).loss(model, x, y)[0]
    torch.testing.assert_close(huge, plain, rtol=1e-4, atol=1e-6)


def test_state_roundtrip_resumes_the_schedule():
    model = models.build("mlp", hidden=(8,), input_size=4, seed=0)
    a = AnnealedLSoftmax(base=100.0, gamma=0.5)
    for _ in range(7):
        a.after_step(model)
    b = AnnealedLSoftmax(base=100.0, gamma=0.5)
    b.load_state_dict(a.state_dict())
    assert (b.step, b.lam) == (7, a.lam)


@pytest.mark.parametrize("kw", [dict(base=-1.0), dict(gamma=-0.1), dict(power=-1.0), dict(lam_min=-1.0),
                                dict(margin=0)])
def test_bad_options_are_named(kw):
    with pytest.raises(ValueError, match=next(iter(kw))):
        AnnealedLSoftmax(**kw)
