"""RadiusWarmup: the linear eps / d_max ramp of adversarial training (paper 001's MNIST schedule)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from marginlib import methods
from marginlib.methods.warmup import RadiusWarmup
from marginlib.train import fit


def test_pgd_at_radius_and_step_ramp_linearly_then_stay():
    base = methods.build("pgd_at", eps=0.3, steps=10)
    ramp = RadiusWarmup(base, epochs=3)
    seen = []
    for epoch in range(1, 6):
        seen.append((base.eps, base.step_size))
        ramp.after_epoch(nn.Identity(), epoch)
    assert [e for e, _ in seen] == pytest.approx([0.1, 0.2, 0.3, 0.3, 0.3])
    assert [s for _, s in seen] == pytest.approx([2.5 * e / 10 for e, _ in seen])


def test_mma_d_max_and_eps_min_scale_together():
    base = methods.build("mma", d_max=0.45, steps=10)
    RadiusWarmup(base, epochs=4)
    assert (base.d_max, base.eps_min) == pytest.approx((0.45 / 4, 0.045 / 4))


def test_one_epoch_warmup_is_the_base_method():
    base = methods.build("pgd_at", eps=0.3)
    RadiusWarmup(base, epochs=1)
    assert base.eps == 0.3


def test_rejects_methods_without_a_radius():
    with pytest.raises(ValueError, match="base"):
        RadiusWarmup(methods.build("standard"), epochs=2)
    with pytest.raises(ValueError, match="epochs"):
        RadiusWarmup(methods.build("pgd_at", eps=0.3), epochs=0)


def test_state_round_trip_resumes_the_ramp():
    ramp = RadiusWarmup(methods.build("pgd_at", eps=0.3), epochs=3)
    ramp.setup(device="cpu", seed=0)
    ramp.after_epoch(nn.Identity(), 1)
    other = RadiusWarmup(methods.build("pgd_at", eps=0.3), epochs=3)
    other.setup(device="cpu", seed=0)
    other.load_state_dict(ramp.state_dict())
    assert other.base.eps == pytest.approx(0.2)


def test_trainer_sees_the_ramp_epoch_by_epoch():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(32, 1, 2, 2, generator=g)
    data = SimpleNamespace(x=x, y=(x.flatten(1).sum(1) > 2).long())
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    ramp = RadiusWarmup(methods.build("mma", d_max=0.2, steps=2), epochs=2)
    history = fit(model, ramp, data, epochs=3, batch_size=16, lr=0.1, progress=False, eval_train=False)
    assert history.column("radius_factor") == pytest.approx([0.5, 1.0, 1.0])
    assert ramp.base.d_max == pytest.approx(0.2)
    assert float(ramp.base.eps.max()) <= 0.2 + 1e-6
