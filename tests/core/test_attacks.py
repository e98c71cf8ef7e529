"""Gradient attacks (FGSM, PGD), AN-PGD, DeepFool and the shared guarantees of every attack."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib.attacks import an_pgd, deepfool, fgsm, pgd
from marginlib.attacks.projections import lp_norm

from oracles import linear_minimal_perturbation


@pytest.fixture(scope="module")
def digits_mlp(trained_digits) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The shared digits MLP (conftest) and 200 of its held-out images with labels."""
    model, x, y = trained_digits
    return model, x[:200], y[:200]


@pytest.fixture
def linear_model() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random 5-class linear model on 4x4 inputs (float64) with 32 inputs and their predicted labels."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 5)).double()
    x = torch.rand(32, 1, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        return model, x, model(x).argmax(1)


EPS = {"linf": [0.0, 0.02, 0.05, 0.1, 0.2], "l2": [0.0, 0.25, 0.5, 1.0, 2.0]}


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _pgd(model, x, y, eps, norm, **kw):
    opts = dict(step_size=2.5 * eps / 20, steps=20, norm=norm, random_start=True, generator=_gen())
    return pgd(model, x, y, eps=eps, **{**opts, **kw})


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_eps_zero_returns_clean_inputs(digits_mlp, norm):
    model, x, y = digits_mlp
    for x_adv in (_pgd(model, x, y, 0.0, norm), fgsm(model, x, y, eps=0.0, norm=norm)):
        assert torch.equal(x_adv, x)
        assert _accuracy(model, x_adv, y) == _accuracy(model, x, y)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_robust_accuracy_falls_with_eps_to_chance(digits_mlp, norm):
    model, x, y = digits_mlp
    accs = [_accuracy(model, _pgd(model, x, y, e, norm), y) for e in EPS[norm]]
    assert accs[0] > 0.9
    assert all(b <= a for a, b in zip(accs, accs[1:])), accs
    assert accs[-1] <= 0.1, accs  # chance is 0.1; a strong attack at a large eps does at least as well


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("loss", ["ce", "margin", "soft_margin"])
def test_more_steps_and_restarts_never_help_the_model(digits_mlp, norm, loss):
    model, x, y = digits_mlp
    eps = EPS[norm][2]
    short = _pgd(model, x, y, eps, norm, steps=3, step_size=eps / 4, loss=loss)
    long = _pgd(model, x, y, eps, norm, steps=12, step_size=eps / 4, loss=loss)
    many = _pgd(model, x, y, eps, norm, steps=3, step_size=eps / 4, loss=loss, restarts=4)
    with torch.no_grad():
        fooled = {k: model(v).argmax(1) != y for k, v in {"short": short, "long": long, "many": many}.items()}
    assert bool((fooled["long"] >= fooled["short"]).all()) and bool((fooled["many"] >= fooled["short"]).all())
    assert fooled["long"].sum() > fooled["short"].sum() or fooled["many"].sum() > fooled["short"].sum()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_per_sample_eps_balls_and_box_hold(digits_mlp, norm):
    model, x, y = digits_mlp
    eps = torch.linspace(0.0, EPS[norm][-1], x.shape[0])
    for x_adv in (
        _pgd(model, x, y, eps, norm, step_size=eps / 4),
        fgsm(model, x, y, eps=eps, norm=norm),
        _pgd(model, x, (y + 1) % 10, eps, norm, step_size=eps / 4, targeted=True),
    ):
        assert bool((lp_norm(x_adv - x, norm) <= eps + 1e-6).all())
        assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
    assert bool((lp_norm(fgsm(model, x, y, eps=eps, norm=norm) - x, norm)[1:] > 0).all())


def test_fgsm_linf_is_the_signed_gradient_step_on_a_linear_model(linear_model):
    model, x, y = linear_model
    x = 0.25 + 0.5 * x  # away from the box so no clipping
    w = model[1].weight
    other = model(x).scatter(1, y[:, None], float("-inf")).argmax(1)
    # for the CW margin on a linear model the input gradient is w_j - w_y with j the runner-up
    expected = x + 0.1 * (w[other] - w[y]).sign().view_as(x)
    assert torch.allclose(fgsm(model, x, y, eps=0.1, norm="linf", loss="margin"), expected)


def test_targeted_pgd_reaches_the_target(digits_mlp):
    model, x, y = digits_mlp
    target = (y + 3) % 10
    x_adv = pgd(model, x, target, eps=0.5, step_size=0.05, steps=30, norm="linf", targeted=True, loss="margin")
    with torch.no_grad():
        assert float((model(x_adv).argmax(1) == target).float().mean()) > 0.95


def test_same_generator_same_result_and_global_rng_untouched(digits_mlp):
    model, x, y = digits_mlp
    state = torch.get_rng_state()
    a = _pgd(model, x, y, 0.05, "linf", generator=_gen(1), restarts=2)
    b = _pgd(model, x, y, 0.05, "linf", generator=_gen(1), restarts=2)
    c = _pgd(model, x, y, 0.05, "linf", generator=_gen(2), restarts=2)
    assert torch.equal(a, b) and not torch.equal(a, c)
    ea = an_pgd(model, x, y, eps_init=0.5, eps_max=3.0, steps=5, norm="l2", generator=_gen(1))
    eb = an_pgd(model, x, y, eps_init=0.5, eps_max=3.0, steps=5, norm="l2", generator=_gen(1))
    assert torch.equal(ea[0], eb[0]) and torch.equal(ea[1], eb[1])
    assert torch.equal(torch.get_rng_state(), state)


ATTACKS = {
    "fgsm": lambda m, x, y: fgsm(m, x, y, eps=0.1, norm="linf"),
    "pgd": lambda m, x, y: pgd(m, x, y, eps=0.5, step_size=0.1, steps=3, norm="l2", random_start=True, generator=_gen()),
    "deepfool": lambda m, x, y: deepfool(m, x, norm="linf", steps=3),
    "deepfool_differentiable": lambda m, x, y: deepfool(m, x, steps=3, differentiable=True),
    "an_pgd": lambda m, x, y: an_pgd(m, x, y, eps_init=0.1, eps_max=0.3, steps=3, norm="linf", generator=_gen()),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("training", [True, False])
def test_model_mode_buffers_and_param_grads_unchanged(name, training):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3))
    model.train(training)
    x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,))
    model[5].weight.grad = torch.ones_like(model[5].weight)
    model[1].bias.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    ATTACKS[name](model, x, y)
    assert all(m.training == training for m in model.modules())
    assert torch.equal(model[5].weight.grad, torch.ones_like(model[5].weight))
    assert all(p.grad is None for n, p in model.named_parameters() if n != "5.weight")
    assert [p.requires_grad for p in model.parameters()] == [True, False, True, True, True, True]
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # no BN statistics update


def test_an_pgd_finds_the_margin_of_a_binary_linear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 2)).double()
    x = 0.25 + 0.5 * torch.rand(128, 1, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        model[1].bias -= model(torch.full((1, 1, 8, 8), 0.5, dtype=torch.float64))[0]  # boundary through the centre
        z = model(x)
        y = z.argmax(1)
        dw = model[1].weight[1] - model[1].weight[0]
        margin = (z.gather(1, y[:, None]) - z.gather(1, 1 - y[:, None])).squeeze(1) / dw.norm()
    y[:4] = 1 - y[:4]  # misclassified samples: margin 0
    x_adv, eps = an_pgd(model, x, y, eps_init=0.02, eps_max=0.4, steps=50, norm="l2", search_loss="margin",
                        loss="margin", search_steps=20, generator=_gen())
    assert bool((eps[:4] <= 0.02 * 2.0**-19).all())
    inside = (margin > 0.02) & (margin < 0.4)
    inside[:4] = False
    assert inside.sum() > 50
    # an adversarial point at length eps bounds the margin from above; PGD (random start, 50 steps) turns towards
    # w_j - w_y, the direction of the minimal perturbation, so the bound is within a few percent
    ratio = eps[inside] / margin[inside]
    assert float(ratio.min()) >= 1 - 1e-6 and float(ratio.max()) <= 1.03
    assert torch.allclose(eps[margin >= 0.4], torch.tensor(0.4, dtype=torch.float64))
    assert bool((lp_norm(x_adv - x, "l2") <= eps + 1e-9).all())


def test_an_pgd_respects_per_sample_bounds_and_eps_inc(digits_mlp):
    model, x, y = digits_mlp
    eps_init = torch.full((x.shape[0],), 0.03)
    x_adv, eps = an_pgd(model, x, y, eps_init=eps_init, eps_max=0.3, eps_inc=0.05, steps=10, norm="linf",
                        generator=_gen())
    assert bool((eps <= 0.08 + 1e-7).all()) and bool((eps >= 0).all())
    assert bool((lp_norm(x_adv - x, "linf") <= eps + 1e-6).all())
    assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
    _, eps_step = an_pgd(model, x, y, eps_init=eps_init, eps_max=0.3, eps_inc=0.05, steps=10, norm="linf",
                         final_pgd=False, generator=_gen())
    assert torch.equal(eps, eps_step)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m, x, y: pgd(m, x, y, eps=0.1, step_size=0.1, steps=1, norm="l1"), "norm='l1'.*'linf', 'l2'"),
        (lambda m, x, y: pgd(m, x, y, eps=-0.1, step_size=0.1, steps=1), "eps must be >= 0"),
        (lambda m, x, y: pgd(m, x, y, eps=torch.ones(3), step_size=0.1, steps=1), r"eps must be a number or a tensor of shape \(6,\)"),
        (lambda m, x, y: pgd(m, x, y, eps=0.1, step_size=0.1, steps=1, loss="hinge"), "loss='hinge'.*'ce', 'margin', 'soft_margin'"),
        (lambda m, x, y: pgd(m, x, y, eps=0.1, step_size=0.1, steps=1, restarts=3), "random_start"),
        (lambda m, x, y: pgd(m, x, y[:3], eps=0.1, step_size=0.1, steps=1), "y must be a 1-D tensor of 6 labels"),
        (lambda m, x, y: pgd(m, x, y.float(), eps=0.1, step_size=0.1, steps=1), "dtype torch.long"),
        (lambda m, x, y: fgsm(m, x * 2 + 0.5, y, eps=0.1, norm="linf"), r"x must lie in bounds=\(0.0, 1.0\)"),
        (lambda m, x, y: fgsm(m, x[0, 0, 0], y, eps=0.1, norm="linf"), "shape"),
        (lambda m, x, y: an_pgd(m, x, y, eps_init=0.5, eps_max=0.1, steps=2, norm="linf"), "eps_init must be <= eps_max"),
        (lambda m, x, y: an_pgd(m, x, y, eps_init=0.1, eps_max=0.5, steps=2, norm="linf", search_loss="ce"), "search_loss"),
    ],
)
def test_bad_arguments_raise_clear_errors(call, match):
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with pytest.raises(ValueError, match=match):
        call(model, torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,)))


def test_attacks_run_on_cuda(cuda, digits_mlp):
    model, x, y = digits_mlp
    model, x, y = model.to(cuda), x.to(cuda), y.to(cuda)
    try:
        g = torch.Generator(cuda).manual_seed(0)
        x_adv = pgd(model, x, y, eps=0.1, step_size=0.02, steps=5, norm="linf", random_start=True, generator=g)
        assert x_adv.device.type == "cuda" and _accuracy(model, x_adv, y) < _accuracy(model, x, y)
        r, ok = deepfool(model, x, return_success=True)
        assert r.device.type == "cuda" and float(ok.float().mean()) > 0.99
        _, eps = an_pgd(model, x, y, eps_init=0.05, eps_max=0.3, steps=5, norm="linf", generator=_gen())
        assert eps.device.type == "cuda"
    finally:
        model.cpu()


# ----------------------------------------------------------------------------------------------------- DeepFool


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_is_exact_on_a_linear_model(linear_model, norm):
    model, x, _ = linear_model
    r = deepfool(model, x, norm=norm, overshoot=0.0)
    expected = linear_minimal_perturbation(model, x, norm)
    assert float(((r - expected).flatten(1).norm(dim=1) / expected.flatten(1).norm(dim=1)).max()) < 1e-3
    # overshoot scales the total; the per-step convention agrees here because one step reaches the boundary
    for mode in ("total", "step"):
        r_over = deepfool(model, x, norm=norm, overshoot=0.02, overshoot_mode=mode)
        assert torch.allclose(r_over, 1.02 * expected, rtol=1e-3, atol=1e-9)


def test_deepfool_top_k_candidates_search_only_those_classes(linear_model):
    model, x, _ = linear_model
    with torch.no_grad():
        model[1].weight.mul_(torch.tensor([1.0, 4.0, 0.3, 2.0, 0.5], dtype=torch.float64)[:, None])
        logits = model(x)
    r = deepfool(model, x, overshoot=0.0, candidates=1)
    runner_up = logits.scatter(1, logits.argmax(1, keepdim=True), float("-inf")).argmax(1)
    expected = torch.cat([linear_minimal_perturbation(model, x[i : i + 1], "l2", torch.tensor([int(runner_up[i])]))
                          for i in range(len(x))])
    assert torch.allclose(r, expected, rtol=1e-6, atol=1e-9)
    assert not torch.allclose(r, deepfool(model, x, overshoot=0.0))  # the runner-up is not always the nearest


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_fools_a_trained_mlp_and_stops_just_over_the_boundary(digits_mlp, norm):
    model, x, _ = digits_mlp
    r, success = deepfool(model, x, norm=norm, return_success=True)
    with torch.no_grad():
        pred = model(x).argmax(1)
        crossed = model(x + r).argmax(1) != pred
        short = model(x + 0.9 * r).argmax(1) != pred
    assert float(success.float().mean()) >= 0.99
    assert torch.equal(crossed, success)
    assert float(short.float().mean()) <= 0.1
    assert not r.requires_grad


def test_deepfool_bounds_keep_images_valid(digits_mlp):
    model, x, _ = digits_mlp
    x = torch.cat([x[:100], 0.2 + 0.6 * x[100:]])  # half the digits drawn away from the box's faces
    free = deepfool(model, x)
    r, success = deepfool(model, x, bounds=(0.0, 1.0), return_success=True)
    with torch.no_grad():
        assert torch.equal(model(x + r).argmax(1) != model(x).argmax(1), success)
    assert float((x + r).min()) >= 0.0 and float((x + r).max()) <= 1.0
    # samples whose unbounded path stays inside the box follow the very same path
    inside = ((x + free).flatten(1).amin(1) >= 0) & ((x + free).flatten(1).amax(1) <= 1)
    assert 0 < int(inside.sum()) < len(x)
    assert torch.allclose(r[inside], free[inside], atol=1e-6)
    assert float(success.float().mean()) >= 0.99  # steps that the box clips are lengthened, so it converges


def test_deepfool_target_reaches_the_requested_class(digits_mlp):
    model, x, y = digits_mlp
    with torch.no_grad():
        pred = model(x).argmax(1)
    target = torch.where(torch.arange(len(x)) % 2 == 0, (pred + 1) % 10, torch.full_like(pred, -1))
    r, success = deepfool(model, x, target=target, return_success=True)
    with torch.no_grad():
        new = model(x + r).argmax(1)
    even = target >= 0
    assert float(success.float().mean()) >= 0.99
    assert bool((new[even & success] == target[even & success]).all())
    assert bool((new[~even & success] != pred[~even & success]).all())


@pytest.mark.parametrize("group_norm", [False, True], ids=["mlp", "groupnorm"])
def test_differentiable_deepfool_gradient_matches_finite_differences(group_norm):
    torch.manual_seed(0)
    norm_layer = [nn.Unflatten(1, (1, 5)), nn.GroupNorm(1, 1), nn.Flatten()] if group_norm else []
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), *norm_layer, nn.Tanh(), nn.Linear(5, 3)).double()
    x = torch.rand(4, 1, 2, 3, dtype=torch.float64)
    detached = deepfool(model, x, steps=4)
    torch.testing.assert_close(deepfool(model, x, steps=4, differentiable=True).detach(), detached)

    def objective() -> torch.Tensor:
        return deepfool(model, x, steps=4, differentiable=True).flatten(1).norm(dim=1).sum()

    weight = model[1].weight
    (grad,) = torch.autograd.grad(objective(), weight)
    assert weight.grad is None
    h = 1e-6
    for idx in [(0, 0), (2, 3), (4, 5), (1, 2)]:
        with torch.no_grad():
            weight[idx] += h
            up = objective()
            weight[idx] -= 2 * h
            down = objective()
            weight[idx] += h
        assert float(grad[idx]) == pytest.approx(float((up - down) / (2 * h)), rel=1e-5, abs=1e-8)
    assert float(grad.abs().max()) > 1e-3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"norm": "l1"}, "norm='l1'"),
        ({"overshoot": -0.1}, "overshoot must be >= 0"),
        ({"overshoot_mode": "each"}, "overshoot_mode='each'.*'total', 'step'"),
        ({"target": torch.zeros(3, dtype=torch.long)}, r"target must be a long tensor of shape \(6,\)"),
        ({"candidates": 3}, r"candidates must be in \[1, 2\]"),
        ({"bounds": (0.0, 0.5)}, "x must lie in bounds"),
    ],
)
def test_deepfool_bad_arguments_raise_clear_errors(kwargs, match):
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with pytest.raises(ValueError, match=match):
        deepfool(model, torch.rand(6, 1, 4, 4) * 0.4 + 0.55, **kwargs)


def test_bisect_brackets_each_samples_threshold():
    from marginlib.attacks.bisection import bisect

    threshold = torch.tensor([0.1, 0.5, 0.93])
    lo, hi = bisect(lambda eps: eps >= threshold, torch.zeros(3), torch.ones(3), steps=20)
    assert torch.all(lo < threshold) and torch.all(threshold <= hi) and torch.all(hi - lo <= 2.0 ** -20 + 1e-12)
    same_lo, same_hi = bisect(lambda eps: eps >= threshold, torch.zeros(3), torch.ones(3), steps=0)
    assert torch.equal(same_lo, torch.zeros(3)) and torch.equal(same_hi, torch.ones(3))
