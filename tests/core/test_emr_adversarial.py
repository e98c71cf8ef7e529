"""EMR / IGR at the adversarial batch (paper 002, Algorithm 1 and Table 4's "EMR-adv"), and the clean default."""
from __future__ import annotations

import copy
from collections import Counter

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import marginlib.attacks
from marginlib import methods, models
from marginlib.context import eval_mode
from marginlib.methods import adversarial as adversarial_module
from marginlib.methods import mail as mail_module
from marginlib.methods.base import Adversarial
from marginlib.methods.he import hypersphere

EPS, STEPS = 0.1, 2

#: every base with an adversary: name -> factory (fresh, unseeded)
BASES = {
    "pgd_at": lambda: methods.PGDAT(eps=EPS, steps=STEPS),
    "fgsm_at": lambda: methods.FGSMAT(eps=EPS),
    "trades": lambda: methods.TRADES(eps=EPS, steps=STEPS),
    "mart": lambda: methods.MART(eps=EPS, steps=STEPS),
    "mail_at": lambda: methods.MAIL(eps=EPS, steps=STEPS, objective="at"),
    "mail_trades": lambda: methods.MAIL(eps=EPS, steps=STEPS, objective="trades"),
    "he_at": lambda: methods.HE(base=methods.PGDAT(eps=EPS, steps=STEPS)),
    "he_trades": lambda: methods.HE(base=methods.TRADES(eps=EPS, steps=STEPS)),
}


def _resnet(base_name: str = "") -> nn.Module:
    """A small ResNet with batch norm (train and eval modes differ), with an HE head for the HE bases."""
    model = models.build("resnet", in_channels=1, blocks=[1], widths=[4], seed=1)
    return hypersphere(model) if base_name.startswith("he") else model


def _batch(n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(n, 1, 6, 6, generator=g), torch.randint(0, 10, (n,), generator=g)


def _emr_values(model: nn.Module, x: torch.Tensor, *, mode: str, temperature: float) -> torch.Tensor:
    with eval_mode(model):
        x = x.detach().clone().requires_grad_(True)
        logits = model(x)
        if mode == "exact":
            return methods.emr_exact(x, logits)
        return methods.emr_approx(x, logits, temperature=temperature)


@pytest.mark.parametrize("mode", ["exact", "approx"])
@pytest.mark.parametrize("base_name", BASES)
def test_emr_adv_is_emr_at_the_base_methods_adversarial_batch(base_name, mode):
    model = _resnet(base_name)
    twin = copy.deepcopy(model)   # same weights and batch-norm statistics, for the recomputation
    x, y = _batch()
    emr = methods.EMR(weight=0.7, mode=mode, temperature=2.0, on="adversarial", base=BASES[base_name]())
    emr.setup(device="cpu", seed=5)
    loss, stats = emr.loss(model, x, y)

    base = BASES[base_name]()
    base.setup(device="cpu", seed=6)   # Extends.setup seeds the base with seed + 1
    x_adv = base.adversary(twin, x, y)
    base_loss, base_stats = base.loss_at(twin, x, x_adv, y)
    values = _emr_values(twin, x_adv, mode=mode, temperature=2.0)

    assert (x_adv - x).abs().amax() > 0.5 * EPS   # the adversary moved the batch
    torch.testing.assert_close(stats["emr"], values.mean().detach())
    torch.testing.assert_close(loss, base_loss + 0.7 * values.mean())
    assert {k: v for k, v in stats.items() if k != "emr"}.keys() == base_stats.keys()
    clean = _emr_values(twin, x, mode=mode, temperature=2.0)
    assert not torch.allclose(values, clean)   # the option changes what is penalized


def _count_attacks(monkeypatch) -> Counter:
    """Count every call of the attacks the adversarial methods use to craft their batch."""
    calls: Counter = Counter()

    def count(module, name):
        original = getattr(module, name)

        def counted(*args, **kwargs):
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)

    for module, name in ((marginlib.attacks, "pgd"), (marginlib.attacks, "fgsm"),
                         (adversarial_module, "kl_adversary"), (mail_module, "kl_adversary")):
        count(module, name)
    return calls


@pytest.mark.parametrize("on", ["adversarial", "clean"])
@pytest.mark.parametrize("base_name", BASES)
def test_regularized_crafts_one_adversarial_batch_per_step(base_name, on, monkeypatch):
    calls = _count_attacks(monkeypatch)
    model = _resnet(base_name)
    x, y = _batch()
    for reg in (methods.EMR(weight=0.5, mode="approx", on=on, base=BASES[base_name]()),
                methods.IGR(weight=0.5, on=on, base=BASES[base_name]())):
        reg.setup(device="cpu", seed=0)
        calls.clear()
        reg.loss(model, x, y)
        assert sum(calls.values()) == 1, dict(calls)
        reg.loss(model, x, y)
        assert sum(calls.values()) == 2, dict(calls)


def test_igr_adv_on_linear_model_is_squared_loss_gradient_at_the_pgd_example(generator):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.randn(3, 4, generator=generator))
        model[1].bias.copy_(torch.randn(3, generator=generator))
    x, y = torch.rand(6, 4, generator=generator), torch.randint(0, 3, (6,), generator=generator)
    igr = methods.IGR(weight=1.0, on="adversarial", base=methods.PGDAT(eps=EPS, steps=3))
    igr.setup(device="cpu", seed=2)
    _, stats = igr.loss(model, x, y)
    pgd = methods.PGDAT(eps=EPS, steps=3)
    pgd.setup(device="cpu", seed=3)
    x_adv = pgd.adversary(model, x, y)
    p = F.softmax(model(x_adv), 1)
    grads = (p - F.one_hot(y, 3)) @ model[1].weight   # d CE_i / d x_i of a linear model, at x_adv
    torch.testing.assert_close(stats["igr"], grads.pow(2).sum(1).mean().detach())


@pytest.mark.parametrize("base", [None, methods.Standard(), methods.MMA(d_max=0.3), methods.AMR(),
                                  methods.OnAdversary(attack=methods.PGDAT(eps=EPS), inner=methods.Standard())])
@pytest.mark.parametrize("cls", [methods.EMR, methods.IGR])
def test_on_adversarial_needs_a_base_with_an_adversary(cls, base):
    with pytest.raises(ValueError, match=r"on='adversarial' needs a base .*pgd_at.*use on='clean'"):
        cls(weight=1.0, on="adversarial", base=base)


def test_on_rejects_unknown_values():
    with pytest.raises(ValueError, match=r"on='both' is not valid; choose one of: 'clean', 'adversarial'"):
        methods.EMR(weight=1.0, on="both", base=methods.PGDAT(eps=EPS))


def test_every_adversarial_training_method_is_adversarial():
    for name, make in BASES.items():
        assert isinstance(make(), Adversarial), name
    assert methods.EMR(weight=1.0).on == "clean" and methods.IGR(weight=1.0).on == "clean"


# ---------------------------------------------------------------- the clean default is unchanged

def _previous_regularized_loss(reg, model, x, y):
    """``Regularized.loss`` before ``on=`` existed (commit 0b25f26), verbatim but for the reduction, inlined."""
    x = x.detach().requires_grad_(True)
    if type(reg.base) is methods.Standard and methods.mode_free(model):
        logits = model(x)
        base = F.cross_entropy(logits, y)
        stats = {"ce": base.detach()}
    else:
        base, stats = reg.base.loss(model, x.detach(), y, index=None)
        with eval_mode(model):
            logits = model(x)
    values = reg.values(model, x, logits, y)
    reduced = values.mean() / (len(values) if reg.scaling == "batch_mean" else 1)
    return base + reg.reg_scale * reg.weight * reduced, {**stats, reg.stat: values.mean().detach()}


REGULARIZED = {
    "emr": lambda base: methods.EMR(weight=0.3, base=base),
    "emr_approx_batch_mean": lambda base: methods.EMR(weight=0.3, mode="approx", temperature=2.0,
                                                      scaling="batch_mean", base=base),
    "igr": lambda base: methods.IGR(weight=0.3, base=base),
}


@pytest.mark.parametrize("reg_name", REGULARIZED)
@pytest.mark.parametrize("base_name", [None, "pgd_at", "trades", "mail_trades", "he_trades"])
def test_clean_default_matches_the_previous_code_path_bit_for_bit(reg_name, base_name):
    model = _resnet(base_name or "") if base_name else models.build("mlp", hidden=(16,), in_channels=1,
                                                                     input_size=6, seed=1)
    twin = copy.deepcopy(model)
    x, y = _batch()
    regs = [REGULARIZED[reg_name](BASES[base_name]() if base_name else None) for _ in range(2)]
    for reg in regs:
        reg.setup(device="cpu", seed=5)
    loss, stats = regs[0].loss(model, x, y)
    old_loss, old_stats = _previous_regularized_loss(regs[1], twin, x, y)
    assert torch.equal(loss, old_loss)
    assert stats.keys() == old_stats.keys() and all(torch.equal(stats[k], old_stats[k]) for k in stats)
    grads = torch.autograd.grad(loss, list(model.parameters()))
    old_grads = torch.autograd.grad(old_loss, list(twin.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(grads, old_grads))
    if base_name:
        assert torch.equal(regs[0].base.generator.get_state(), regs[1].base.generator.get_state())


#: losses on ``_resnet`` and ``_batch`` (seed 5) computed with commit 0b25f26, before the adversarial methods were
#: split into ``adversary`` + ``loss_at``
PREVIOUS_LOSSES = {
    "pgd_at": 2.5923986434936523, "fgsm_at": 2.5897903442382812, "trades": 2.55271053314209,
    "mart": 2.7426340579986572, "mail_at": 2.6056432723999023, "mail_trades": 2.5519208908081055,
    "he_at": 18.44167709350586, "he_trades": 18.669715881347656,
}


@pytest.mark.parametrize("base_name", BASES)
def test_adversarial_methods_give_the_losses_of_the_previous_code(base_name):
    method = BASES[base_name]()
    method.setup(device="cpu", seed=5)
    x, y = _batch()
    loss, _ = method.loss(_resnet(base_name), x, y)
    assert loss.item() == pytest.approx(PREVIOUS_LOSSES[base_name], rel=1e-5)
