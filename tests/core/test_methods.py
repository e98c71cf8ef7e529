"""Training methods: regularizers on tiny cases with known values, hooks, and short smoke trainings."""
from __future__ import annotations

import copy
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from marginlib import methods
from marginlib.train import fit

from nets import TinyNet, central_points, random_linear


def linear(d: int, k: int, generator: torch.Generator) -> nn.Sequential:
    return random_linear(d, k, generator)


def blobs(n: int = 96, k: int = 3, *, seed: int = 0, spread: float = 0.08) -> SimpleNamespace:
    """``k`` Gaussian blobs in [0, 1]^4 shaped as (n, 1, 2, 2) images."""
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(k, 4, generator=g) * 0.6 + 0.2
    y = torch.arange(n) % k
    x = (centers[y] + spread * torch.randn(n, 4, generator=g)).clamp(0, 1)
    return SimpleNamespace(x=x.view(n, 1, 2, 2), y=y)


# ---------------------------------------------------------------- EMR (paper 002)

def test_exact_emr_on_linear_model_is_sum_of_squared_rows(generator):
    model = linear(6, 4, generator)
    x = torch.rand(5, 6, generator=generator, requires_grad=True)
    values = methods.emr_exact(x, model(x))
    expected = model[1].weight.pow(2).sum()
    torch.testing.assert_close(values, expected.expand(5))


def test_exact_emr_matches_per_class_jacobian_on_mlp(generator):
    model = TinyNet(d=4, h=16, k=5)
    x = torch.rand(3, 4, generator=generator, requires_grad=True)
    jac = torch.stack([torch.autograd.functional.jacobian(model, xi[None]).squeeze() for xi in x.detach()])
    torch.testing.assert_close(methods.emr_exact(x, model(x)), jac.pow(2).flatten(1).sum(1))


def test_approx_emr_limits_in_temperature(generator):
    model = linear(6, 4, generator)
    w = model[1].weight
    x = torch.rand(8, 6, generator=generator, requires_grad=True)
    logits = model(x)
    top = w[logits.argmax(1)].pow(2).sum(1)
    torch.testing.assert_close(methods.emr_approx(x, logits, temperature=1e-4), top)
    mean_row = w.mean(0).pow(2).sum().expand(8)
    torch.testing.assert_close(methods.emr_approx(x, logits, temperature=1e6), mean_row, rtol=1e-4, atol=1e-6)
    middle = methods.emr_approx(x, logits, temperature=1.0)
    p = F.softmax(logits.detach(), 1)
    torch.testing.assert_close(middle, (p @ w).pow(2).sum(1))


@pytest.mark.parametrize(("regularizer", "stat"), [(methods.EMR, "emr"), (methods.IGR, "igr")])
def test_scaling_batch_mean_is_sample_scaling_over_batch(regularizer, stat, generator):
    model = TinyNet()
    x, y = torch.rand(6, 4, generator=generator), torch.randint(0, 3, (6,), generator=generator)
    ce = F.cross_entropy(model(x), y)
    sample, stats = regularizer(weight=2.0).loss(model, x, y)
    batch, _ = regularizer(weight=2.0, scaling="batch_mean").loss(model, x, y)
    torch.testing.assert_close(sample - ce, 2.0 * stats[stat])
    torch.testing.assert_close(batch - ce, (sample - ce) / 6)
    with pytest.raises(ValueError, match="scaling='batch'"):
        regularizer(weight=1.0, scaling="batch")


def test_emr_regularizer_pass_uses_eval_mode_with_batchnorm(generator):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    x, y = torch.rand(6, 4, generator=generator), torch.randint(0, 3, (6,), generator=generator)
    model.train()
    _, stats = methods.EMR(weight=1.0).loss(model, x, y)
    model.eval()
    xe = x.clone().requires_grad_(True)
    expected = methods.emr_exact(xe, model(xe)).mean()
    torch.testing.assert_close(stats["emr"], expected.detach())


# ---------------------------------------------------------------- AMR, Parseval, spectral norm (000, 004)

def test_feature_margin_and_orthogonality_penalty_known_values():
    w = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    phi = torch.tensor([[3.0, 1.0]])
    # scores (3, 2, 4): true class 0 -> 3 - 4 = -1; true class 2 -> 4 - 3 = 1
    torch.testing.assert_close(methods.feature_margin(phi.expand(2, 2), w, torch.tensor([0, 2])),
                               torch.tensor([-1.0, 1.0]))
    model = nn.Sequential(nn.Linear(3, 2, bias=False), nn.Linear(2, 3, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]))
        model[1].weight.copy_(torch.tensor([[0, 1.0], [1.0, 0], [0, 0]]))
    assert float(methods.orthogonality_penalty(model).detach()) == 0.0
    with torch.no_grad():
        model[0].weight.mul_(2)
    assert float(methods.orthogonality_penalty(model).detach()) == pytest.approx(2 * 3.0**2)


def test_amr_loss_is_ce_minus_truncated_margin(generator):
    model = TinyNet()
    x, y = torch.rand(10, 4, generator=generator), torch.randint(0, 3, (10,), generator=generator)
    loss, _ = methods.AMR(lam=0.5, tau=0.01, beta=0.0).loss(model, x, y)
    margin = methods.feature_margin(model.features(x), model.classifier.weight, y)
    expected = F.cross_entropy(model(x), y) - 0.5 * margin.clamp(max=0.01).mean()
    torch.testing.assert_close(loss, expected)


def test_amr_logit_hinge_counts_misclassified_only():
    model = nn.Sequential(nn.Flatten(), nn.Identity())
    logits = torch.tensor([[3.0, 1.0], [0.0, 2.5], [0.0, 9.0]])
    y = torch.tensor([0, 0, 0])
    loss, stats = methods.AMRLogit(mu=1.0, tau=5.0).loss(model, logits, y)
    torch.testing.assert_close(stats["logit_hinge"], torch.tensor((0 + 2.5 + 5.0) / 3))
    torch.testing.assert_close(loss, F.cross_entropy(logits, y) + stats["logit_hinge"])


def _ortho_error(model):
    return sum(float((m.weight @ m.weight.T - torch.eye(m.weight.shape[0])).norm().detach())
               for m in methods.weight_layers(model))


def test_parseval_retraction_reduces_orthogonality_error():
    torch.manual_seed(0)   # the default init otherwise depends on which tests ran before
    model = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 3))
    before = _ortho_error(model)
    errors = [before]
    for _ in range(40):   # small singular values grow by about (1 + beta) per step: 20 were too few for some inits
        methods.parseval_retraction(model, beta=0.1)
        errors.append(_ortho_error(model))
    assert all(b < a for a, b in zip(errors, errors[1:]))
    assert errors[-1] < 0.2 * before


def test_spectral_normalization_kernel_mode_sets_top_singular_value():
    """The reshaped-kernel convention (mode="kernel"); the operator modes are tested in test_spectral_norm.py."""
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4, 5))
    methods.spectral_normalize(model, target=1.7, mode="kernel")
    for sigma in methods.spectral_norms(model):
        assert sigma == pytest.approx(1.7, rel=1e-5)


def test_parseval_penalty_gradient_is_the_closed_form(generator):
    """Released LCR: CE + beta * sum_l 2 ||W W^T - I||^2 (biased layers count twice, as in the release), whose
    gradient is 8 beta W (W^T W - I) per biased layer (4 beta c_l W (W^T W - I) in general)."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2, bias=False))
    x, y = torch.rand(5, 4, generator=generator), torch.randint(0, 2, (5,), generator=generator)
    beta = 0.3
    loss, stats = methods.build("parseval", mode="penalty", beta=beta).loss(model, x, y)
    ce = F.cross_entropy(model(x), y)
    w1, w2 = model[1].weight, model[3].weight
    explicit = 2 * (w1 @ w1.T - torch.eye(3)).pow(2).sum() + (w2 @ w2.T - torch.eye(2)).pow(2).sum()
    torch.testing.assert_close(loss, ce + beta * explicit)
    torch.testing.assert_close(stats["ortho"], explicit.detach())
    g_loss = torch.autograd.grad(loss - ce, (w1, w2))
    closed = (8 * beta * w1 @ (w1.T @ w1 - torch.eye(4)), 4 * beta * w2 @ (w2.T @ w2 - torch.eye(3)))
    for g, c in zip(g_loss, closed):
        torch.testing.assert_close(g, c.detach())


def test_parseval_modes_penalty_does_not_retract_and_retraction_adds_no_loss(generator):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x, y = torch.rand(5, 4, generator=generator), torch.randint(0, 3, (5,), generator=generator)
    before = model[1].weight.detach().clone()
    penalty, retraction = methods.Parseval(beta=0.1, mode="penalty"), methods.Parseval(beta=0.1)
    penalty.after_step(model)
    assert torch.equal(model[1].weight, before)
    loss, stats = retraction.loss(model, x, y)
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y))
    assert "ortho" not in stats and retraction.mode == "retraction"
    assert methods.Parseval().beta == 1e-3   # the book's and the release's value
    with pytest.raises(ValueError, match="mode='constraint'"):
        methods.Parseval(mode="constraint")


# ---------------------------------------------------------------- L-Softmax, IGR

def test_lsoftmax_psi_values():
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 0])
    angles = torch.tensor([math.pi / 3, math.pi / 2, 2 * math.pi / 3])
    phi = 2 * torch.stack([angles.cos(), angles.sin()], 1)
    logits = methods.lsoftmax_logits(phi, w, y, margin=2)
    # psi(pi/3) = cos(2pi/3) = -0.5; psi(pi/2) = -1; psi(2pi/3) = -cos(4pi/3) - 2 = -1.5; times ||phi|| = 2
    torch.testing.assert_close(logits[:, 0], torch.tensor([-1.0, -2.0, -3.0]), atol=1e-5, rtol=0)
    torch.testing.assert_close(logits[:, 1], phi[:, 1])
    torch.testing.assert_close(methods.lsoftmax_logits(phi, w, y, margin=1), phi @ w.T)


def test_igr_penalty_is_squared_loss_gradient(generator):
    model = linear(4, 3, generator)
    x, y = torch.rand(5, 4, generator=generator), torch.randint(0, 3, (5,), generator=generator)
    _, stats = methods.IGR(weight=1.0).loss(model, x, y)
    w = model[1].weight
    p = F.softmax(model(x), 1)
    grads = (p - F.one_hot(y, 3)) @ w  # d CE_i / d x_i for a linear model
    torch.testing.assert_close(stats["igr"], grads.pow(2).sum(1).mean().detach())


# ---------------------------------------------------------------- AMM (paper 003)

def test_amm_avg_lin_on_linear_binary_equals_eq_11(generator):
    model = linear(2, 2, generator)
    x = torch.rand(12, 2, generator=generator)
    logits = model(x)
    y = logits.argmax(1)
    y[:4] = 1 - y[:4]  # four misclassified samples
    amm = methods.AMM(lam=1.0, c=1.0, d=1.0, aggregation="avg", shrinkage="lin", overshoot=1e-6)
    value, _ = amm.regularizer(model, x, y)
    w = model[1].weight[1] - model[1].weight[0]
    b = model[1].bias[1] - model[1].bias[0]
    dist = (x @ w + b).abs() / w.norm()
    correct = logits.argmax(1) == y
    eq11 = (torch.where(correct, -dist, dist)).sum() / len(x)
    torch.testing.assert_close(value, eq11.detach(), rtol=1e-4, atol=1e-6)


def test_amm_without_high_order_gradients_keeps_value_and_differs_in_gradient(generator):
    model = TinyNet(seed=1)
    x, y = torch.rand(16, 4, generator=generator), torch.randint(0, 3, (16,), generator=generator)
    kw = dict(lam=1.0, c=1.0, d=1.0, aggregation="avg", shrinkage="lin")
    full, _ = methods.AMM(**kw).regularizer(model, x, y)
    masked, _ = methods.AMM(**kw, high_order=False).regularizer(model, x, y)
    torch.testing.assert_close(full, masked)
    g_full = torch.autograd.grad(full, model.body[1].weight)[0]
    g_masked = torch.autograd.grad(masked, model.body[1].weight)[0]
    assert not torch.allclose(g_full, g_masked)


# ---------------------------------------------------------------- MMA (paper 001)

def test_mma_eps_memory_updates_per_index(generator):
    model = linear(4, 2, generator)
    x = torch.rand(4, 4, generator=generator)
    y = model(x).argmax(1)
    y[3] = 1 - y[3]  # misclassified -> memory reset to 0
    mma = methods.MMA(d_max=0.5, norm="l2", steps=5, eps_min=0.05)
    mma.setup(device="cpu", seed=0)
    index = torch.tensor([7, 2, 9, 4])
    mma.loss(model, x, y, index=index)
    assert len(mma.eps) == 10
    untouched = torch.tensor([0, 1, 3, 5, 6, 8])
    assert torch.all(mma.eps[untouched] == 0.05)
    assert mma.eps[4] == 0
    w = model[1].weight[1] - model[1].weight[0]
    b = model[1].bias[1] - model[1].bias[0]
    true_margin = ((x[:3] @ w + b).abs() / w.norm()).clamp(max=0.5)
    # AN-PGD's bisection brackets the L2 margin of a linear model from above
    assert torch.all(mma.eps[index[:3]] >= true_margin - 1e-3)
    assert torch.all(mma.eps[index[:3]] != 0.05)
    state = mma.state_dict()
    fresh = methods.MMA(d_max=0.5, norm="l2", steps=5, eps_min=0.05)
    fresh.setup(device="cpu", seed=0)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.eps, mma.eps)


# ---------------------------------------------------------------- interface

def _pgd() -> methods.Method:
    return methods.build("pgd_at", eps=0.1, steps=2)


#: every registered method, with the keyword sets its interface test builds it with (callables give fresh
#: base/attack methods); a test below fails when a registered name has no case here
CASES: dict[str, list] = {
    "standard": [{}, dict(max_grad_norm=1.0)],
    "pgd_at": [dict(eps=0.1, steps=3)],
    "fgsm_at": [dict(eps=0.1)],
    "trades": [dict(eps=0.1, steps=3)],
    "mart": [dict(eps=0.1, steps=3)],
    "mma": [dict(d_max=0.3, steps=3)],
    "amr": [dict(beta=1e-3)],
    "amr_logit": [{}],
    "parseval": [{}],
    "emr": [dict(weight=0.1), lambda: dict(weight=0.1, mode="approx", temperature=2.0, base=_pgd()),
            lambda: dict(weight=0.1, on="adversarial", base=_pgd())],
    "igr": [dict(weight=0.1)],
    "lsoftmax": [dict(margin=2)],
    "lsoftmax_annealed": [dict(margin=2, base=10.0)],
    "on_adversary": [lambda: dict(attack=_pgd(), inner=methods.build("lsoftmax", margin=2))],
    "spectral": [{}],
    "amm": [dict(lam=1.0, c=1.0, d=1.0)],
    "elsayed": [dict(lam=1.0, gamma=0.5)],
    "he": [lambda: dict(base=_pgd())],
    "mail": [dict(eps=0.1, steps=2), dict(eps=0.1, steps=2, objective="trades")],
    "radius_warmup": [lambda: dict(base=_pgd(), epochs=2),
                      lambda: dict(base=methods.build("mma", d_max=0.3, steps=3), epochs=2)],
}
#: methods that need a model prepared for them
PREPARE = {"he": lambda model: methods.hypersphere(model, scale=5.0)}


def test_every_registered_method_has_an_interface_case():
    assert set(CASES) == set(methods.names())


@pytest.mark.parametrize("name,kw", [pytest.param(name, kw, id=f"{name}-{i}")
                                     for name, kws in CASES.items() for i, kw in enumerate(kws)])
def test_every_method_gives_finite_loss_and_leaves_model_state(name, kw, generator):
    model = PREPARE.get(name, lambda m: m)(TinyNet())
    model.eval()
    method = methods.build(name, **(kw() if callable(kw) else kw))
    method.setup(device="cpu", seed=0)
    x, y = torch.rand(6, 1, 2, 2, generator=generator), torch.randint(0, 3, (6,), generator=generator)
    loss, stats = method.loss(model, x, y, index=torch.arange(6))
    assert loss.dim() == 0 and torch.isfinite(loss) and loss.requires_grad
    assert all(torch.isfinite(v) for v in stats.values())
    assert not model.training and all(p.grad is None for p in model.parameters())
    loss.backward()
    assert model.body[1].weight.grad is not None and model.classifier.weight.grad is not None
    restored = methods.build(name, **(kw() if callable(kw) else kw))
    restored.setup(device="cpu", seed=0)
    restored.load_state_dict(method.state_dict())   # every method's state round-trips


def test_build_rejects_unknown_names_and_choices():
    with pytest.raises(ValueError, match="name='nope'.*'emr'"):
        methods.build("nope")
    with pytest.raises(ValueError, match="mode='fast'"):
        methods.build("emr", weight=1.0, mode="fast")
    with pytest.raises(ValueError, match="aggregation='max'"):
        methods.build("amm", lam=1.0, c=1.0, d=1.0, aggregation="max")


# ---------------------------------------------------------------- smoke trainings

def _train(method, *, epochs=12, seed=0, model=None):
    data = blobs()
    model = model or TinyNet(seed=3)
    fit(model, method, data, epochs=epochs, batch_size=32, lr=0.1, seed=seed, progress=False, eval_train=False)
    return model, data


def _mean_feature_margin(model, data):
    with torch.no_grad():
        return float(methods.feature_margin(model.features(data.x), model.classifier.weight, data.y).mean())


def _mean_emr(model, data):
    x = data.x.clone().requires_grad_(True)
    return float(methods.emr_exact(x, model(x)).mean().detach())


def test_amr_raises_average_feature_margin_over_standard():
    standard, data = _train(methods.Standard())
    amr, _ = _train(methods.AMR(lam=1.0, tau=5.0, beta=0.0))
    assert _mean_feature_margin(amr, data) > _mean_feature_margin(standard, data) + 0.1


def test_emr_lowers_effective_weight_norms_over_standard():
    standard, data = _train(methods.Standard())
    exact, _ = _train(methods.EMR(weight=0.5))
    approx, _ = _train(methods.EMR(weight=0.5, mode="approx"))
    assert _mean_emr(exact, data) < 0.8 * _mean_emr(standard, data)
    assert _mean_emr(approx, data) < _mean_emr(standard, data)


def test_parseval_and_spectral_training_control_the_weights():
    standard, _ = _train(methods.Standard())
    parseval, _ = _train(methods.Parseval(beta=0.05))
    penalty, _ = _train(methods.Parseval(beta=0.05, mode="penalty"))
    spectral, _ = _train(methods.SpectralNorm(target=0.8))
    assert methods.orthogonality_penalty(parseval) < methods.orthogonality_penalty(standard)
    assert methods.orthogonality_penalty(penalty) < methods.orthogonality_penalty(standard)
    assert max(methods.spectral_norms(spectral)) <= 0.8 * (1 + 1e-5)   # TinyNet is all Linear: operator = matrix


def test_an_amm_step_raises_the_deepfool_margin_it_rewards():
    """A small gradient step on AMM's regularizer alone (LIN, no cross-entropy) raises the mean DeepFool distance of
    correctly classified samples, to first order, and a step up its gradient lowers it: on a linear model, whose
    boundaries pass near the points, DeepFool's distance is the exact margin. (A 12-epoch training against a standard
    model on 4-pixel blobs used to stand here; DeepFool fooled none of those points, so it compared the norms of
    failed perturbations, and the comparison held by the seed's luck.)"""
    from marginlib.attacks import deepfool

    g = torch.Generator().manual_seed(0)
    model = random_linear(4, 3, g, bias="centred")
    x = central_points(g)
    y = model(x).argmax(1)

    def mean_norm(net):
        r, fooled = deepfool(net, x, steps=6, return_success=True)
        assert bool(fooled.all())
        return float(r.flatten(1).norm(dim=1).mean())

    amm = methods.AMM(lam=1.0, c=1.0, d=1.0, aggregation="avg", shrinkage="lin", ce_weight=0.0)
    before = mean_norm(model)
    for sign in (1.0, -1.0):
        stepped = copy.deepcopy(model)
        loss, stats = amm.loss(stepped, x, y)
        assert float(stats["kept"]) == 1.0
        grads = torch.autograd.grad(loss, list(stepped.parameters()))
        with torch.no_grad():
            for p, grad in zip(stepped.parameters(), grads):
                p -= sign * 1e-3 * grad
        assert (mean_norm(stepped) > before) == (sign > 0), sign


def test_amr_defaults_are_paper_000_table_1_settings():
    amr = methods.AMR()
    assert (amr.lam, amr.tau, amr.beta) == (0.1, 5.0, 1e-3)


# ---------------------------------------------------------------- Standard's gradient clipping

def test_standard_max_grad_norm_reaches_the_trainer_and_clips_each_step():
    assert methods.Standard().max_grad_norm is None
    clipped = methods.build("standard", max_grad_norm=10.0)
    assert clipped.max_grad_norm == 10.0
    assert methods.EMR(weight=0.1, base=clipped).max_grad_norm == 10.0   # Extends reads its base's
    with pytest.raises(ValueError, match="max_grad_norm must be > 0"):
        methods.Standard(max_grad_norm=0.0)
    data = blobs(n=32)
    steps = {}
    for clip in (None, 1e-3):
        model = TinyNet(seed=3)
        before = torch.cat([p.detach().flatten() for p in model.parameters()])
        fit(model, methods.Standard(max_grad_norm=clip), data, epochs=1, batch_size=32, lr=1.0, momentum=0.0,
            seed=0, progress=False, eval_train=False)   # one SGD step of lr 1: the step is the gradient
        steps[clip] = float((torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm())
    assert steps[1e-3] == pytest.approx(1e-3, rel=1e-4)
    assert steps[None] > 0.01


def test_amm_candidates_reach_deepfool_and_all_others_change_nothing():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 10))
    with torch.no_grad():  # classes with large weight rows: the top other logit is often not the nearest boundary
        model[3].weight.mul_(torch.logspace(0, 1.5, 10)[:, None])
    x = torch.rand(128, 1, 4, 4)
    with torch.no_grad():
        y = model(x).argmax(1)
    full, _ = methods.AMM(lam=1.0, c=2.0, d=1.0, aggregation="avg").regularizer(model, x, y)
    same, _ = methods.AMM(lam=1.0, c=2.0, d=1.0, aggregation="avg", candidates=9).regularizer(model, x, y)
    few, _ = methods.AMM(lam=1.0, c=2.0, d=1.0, aggregation="avg", candidates=1).regularizer(model, x, y)
    torch.testing.assert_close(same, full)
    assert not torch.equal(few, full)
    with pytest.raises(ValueError, match="candidates"):
        methods.AMM(lam=1.0, c=2.0, d=1.0, candidates=0)


# ---------------------------------------------------------------- build errors (issue 18 item 14)

def test_build_names_unknown_keywords_and_the_valid_ones():
    with pytest.raises(ValueError, match=r"pgd_at.*unknown keyword\(s\) stepz; valid keywords: eps, step_size, steps, "
                                         r"norm, random_start, clean_weight"):
        methods.build("pgd_at", eps=0.3, stepz=5)
    with pytest.raises(ValueError, match=r"emr.*bar, foo.*weight, mode, temperature"):
        methods.build("emr", weight=0.1, foo=1, bar=2)


def test_build_names_missing_required_keywords():
    with pytest.raises(ValueError, match=r"pgd_at.*missing required keyword\(s\) eps"):
        methods.build("pgd_at", steps=3)


@pytest.mark.parametrize("name, kw", [("emr", {"weight": 0.1}), ("igr", {"weight": 0.1}), ("parseval", {}),
                                      ("spectral", {}), ("he", {})])
def test_build_base_must_be_a_method_not_a_name(name, kw):
    with pytest.raises(ValueError, match=r"base='pgd_at' is a str, not a Method.*base=build\(\"pgd_at\", \.\.\.\)"):
        methods.build(name, base="pgd_at", **kw)
    with pytest.raises(ValueError, match=r"base=.*not a Method"):
        methods.build(name, base=methods.PGDAT, **kw)  # the class, not an instance


def test_build_method_arguments_of_on_adversary_must_be_methods():
    with pytest.raises(ValueError, match=r"attack='pgd_at' is a str.*build\(\"pgd_at\", \.\.\.\)"):
        methods.build("on_adversary", attack="pgd_at", inner=methods.build("standard"))


def test_build_still_takes_methods_numbers_and_none_where_they_belong():
    at = methods.build("pgd_at", eps=0.3)
    assert methods.build("emr", weight=0.1, base=at).base is at
    assert isinstance(methods.build("emr", weight=0.1, base=None).base, methods.Standard)
    assert methods.build("he", base=at).base is at
    assert methods.build("lsoftmax_annealed", base=10.0).schedule["base"] == 10.0  # this base is a number (the blending weight)
    assert isinstance(methods.build("on_adversary", attack=at, inner=methods.build("standard")), methods.OnAdversary)


def test_trades_objective_is_ce_plus_beta_kl_and_weights_reduce_to_it(generator):
    logits, logits_adv = torch.randn(8, 4, generator=generator), torch.randn(8, 4, generator=generator)
    ce = torch.tensor(0.7)
    p = logits.softmax(1)
    kl = (p * (p.log() - logits_adv.log_softmax(1))).sum(1)           # KL(p(x) || p(x')) per sample
    loss, stats = methods.trades_objective(ce, logits, logits_adv, beta=6.0)
    torch.testing.assert_close(loss, ce + 6.0 * kl.mean())
    torch.testing.assert_close(stats["kl"], kl.mean())
    w = torch.rand(8, generator=generator)
    weighted, _ = methods.trades_objective(ce, logits, logits_adv, beta=6.0, weights=w)
    torch.testing.assert_close(weighted, ce + 6.0 * (w * kl).mean())
    ones, _ = methods.trades_objective(ce, logits, logits_adv, beta=6.0, weights=torch.ones(8))
    torch.testing.assert_close(ones, loss)
