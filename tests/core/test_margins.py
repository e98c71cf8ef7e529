"""Margin estimators against independent closed forms (numpy), invariances, signs, determinism and bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from marginlib import margins

DUAL_ORD = {"l2": 2, "linf": 1}


def closed_form_margin(weight: np.ndarray, bias: np.ndarray, x: np.ndarray, y: np.ndarray, norm: str) -> np.ndarray:
    """Signed margin of the linear classifier ``x -> W x + b`` in numpy: min over j != y of the distance to the
    hyperplane {f_y = f_j}, signed by f_y - f_j (written independently of marginlib)."""
    logits = x @ weight.T + bias
    rows = np.arange(len(x))
    gaps = logits[rows, y][:, None] - logits                              # (N, K)
    dists = np.linalg.norm(weight[y][:, None, :] - weight[None, :, :], ord=DUAL_ORD[norm], axis=2)
    ratio = np.divide(gaps, dists, out=np.full_like(gaps, np.inf), where=dists > 0)
    ratio[rows, y] = np.inf
    return ratio.min(axis=1)


def as_numpy(model: nn.Sequential) -> tuple[np.ndarray, np.ndarray]:
    linear = model[1]
    return linear.weight.detach().double().numpy(), linear.bias.detach().double().numpy()


def linear_model(d: int, k: int, seed: int) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(d, k))


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> nn.Module:
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return model


@pytest.fixture(scope="module")
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    data = load_digits()
    x = torch.tensor(data.data / 16.0, dtype=torch.float32).view(-1, 1, 8, 8)
    return x[:300], torch.tensor(data.target[:300], dtype=torch.long)


@pytest.fixture(scope="module")
def digits_linear(digits) -> nn.Sequential:
    return train(linear_model(64, 10, seed=1), *digits, steps=60)


@pytest.fixture(scope="module")
def digits_mlp(trained_digits) -> nn.Module:
    """The shared digits MLP (conftest), read only."""
    return trained_digits[0]


def random_case(seed: int):
    """A random 5-class linear model on 3x4 inputs, points in the middle of the box, and labels equal to the
    prediction except for every fourth point, whose label is random (so about a fifth are misclassified)."""
    model = linear_model(12, 5, seed)
    g = torch.Generator().manual_seed(seed)
    x = 0.3 + 0.4 * torch.rand(60, 1, 3, 4, generator=g)
    y = model(x).argmax(1).detach()
    y[::4] = torch.randint(0, 5, (15,), generator=g)
    return model, x, y


@pytest.fixture(params=["random0", "random1", "digits"])
def linear_case(request, digits, digits_linear):
    if request.param == "digits":
        x, y = digits
        return digits_linear, x[:100], y[:100]
    return random_case(int(request.param[-1]))


def truth(model, x, y, norm):
    weight, bias = as_numpy(model)
    return closed_form_margin(weight, bias, x.flatten(1).double().numpy(), y.numpy(), norm)


def assert_rel(estimate: torch.Tensor, expected: np.ndarray, rel: float = 1e-3) -> None:
    np.testing.assert_allclose(estimate.double().numpy(), expected, rtol=rel, atol=1e-6)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_exact_linear_matches_closed_form(linear_case, norm):
    model, x, y = linear_case
    expected = truth(model, x, y, norm)
    assert (expected < 0).any() and (expected > 0).any()  # both signs are exercised
    assert_rel(margins.exact_linear(model, x, y, norm=norm), expected)
    weight, bias = model[1].weight.detach(), model[1].bias.detach()
    assert_rel(margins.exact_linear((weight, bias), x, y, norm=norm), expected)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_effective_matches_closed_form(linear_case, norm):
    model, x, y = linear_case
    assert_rel(margins.effective(model, x, y, norm=norm), truth(model, x, y, norm))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_lipschitz_is_tight_for_linear(linear_case, norm, generator):
    model, x, y = linear_case
    lower = margins.lipschitz_lower_bound(model, x, y, norm=norm, radius=100.0, n_samples=3, n_batches=2,
                                          chunk=50, generator=generator)
    assert_rel(lower, truth(model, x, y, norm))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_lipschitz_caps_at_radius(norm, generator):
    model, x, y = random_case(0)
    expected = truth(model, x, y, norm)
    radius = float(np.median(np.abs(expected)))
    lower = margins.lipschitz_lower_bound(model, x, y, norm=norm, radius=radius, n_samples=2, n_batches=1,
                                          generator=generator)
    assert_rel(lower, np.clip(expected, -radius, radius))


def test_lipschitz_reference_predicted_measures_the_predicted_region(generator):
    model, x, y = random_case(1)
    pred = model(x).argmax(1)
    wrong = (pred != y).numpy()
    by_label = margins.lipschitz_lower_bound(model, x, y, radius=100.0, n_samples=2, n_batches=1, generator=generator)
    by_pred = margins.lipschitz_lower_bound(model, x, y, radius=100.0, n_samples=2, n_batches=1,
                                            reference="predicted", generator=generator)
    expected = np.abs(truth(model, x, pred, "l2")) * np.where(wrong, -1, 1)
    assert wrong.any()
    assert_rel(by_pred, expected)
    assert_rel(by_label[~wrong], expected[~wrong])
    assert not np.allclose(by_label.numpy()[wrong], expected[wrong])


class HalfSquaredNorm(nn.Module):
    """Two logits (0, ||z||^2 / 2): grad(f_1 - f_0) = z, so the Lipschitz constant of f_1 - f_0 on a ball
    around x is the largest dual norm of z over the ball."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        f = 0.5 * z.flatten(1).pow(2).sum(1, keepdim=True)
        return torch.cat([torch.zeros_like(f), f], 1)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_lipschitz_takes_the_max_gradient_over_the_ball_of_each_sample(norm, generator):
    # Distinct samples get distinct constants; chunk=7 makes passes straddle samples.
    x = torch.tensor([[0.1, 0.2], [1.0, -2.0], [3.0, 0.5], [-0.5, 0.0]])
    y = torch.ones(4, dtype=torch.long)
    radius = 1.5
    lower = margins.lipschitz_lower_bound(HalfSquaredNorm(), x, y, radius=radius, norm=norm, n_samples=500,
                                          n_batches=4, chunk=7, generator=generator)
    gap = 0.5 * x.pow(2).sum(1)
    sup = x.norm(dim=1) + radius if norm == "l2" else (x.abs() + radius).sum(1)  # max dual norm of z on the ball
    lipschitz = gap / lower
    assert torch.all(lipschitz <= sup * (1 + 1e-5)) and torch.all(lipschitz >= 0.97 * sup)


def test_lipschitz_bounds_clip_the_samples_into_the_box(generator):
    x = torch.full((3, 4), 0.5)
    y = torch.ones(3, dtype=torch.long)
    kw = dict(radius=2.0, n_samples=64, n_batches=1, generator=generator)
    gap = 0.5 * x.pow(2).sum(1)
    free = gap / margins.lipschitz_lower_bound(HalfSquaredNorm(), x, y, **kw)
    boxed = gap / margins.lipschitz_lower_bound(HalfSquaredNorm(), x, y, bounds=(0.0, 1.0), **kw)
    assert torch.all(boxed <= 2.0 + 1e-6)  # ||z||_2 <= sqrt(4) inside [0, 1]^4
    assert torch.all(free > 2.0)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_binary_one_logit_model(norm, generator):
    torch.manual_seed(3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 1))
    x = torch.rand(30, 6)
    y = torch.randint(0, 2, (30,))
    w, b = model[1].weight.detach().double().numpy()[0], float(model[1].bias.detach())
    f = x.double().numpy() @ w + b
    sign = 2 * y.numpy() - 1
    expected = sign * f / np.linalg.norm(w, ord=DUAL_ORD[norm])
    assert_rel(margins.exact_linear(model, x, y, norm=norm), expected)
    assert_rel(margins.effective(model, x, y, norm=norm), expected)
    assert_rel(margins.lipschitz_lower_bound(model, x, y, norm=norm, radius=100.0, n_samples=2, n_batches=1,
                                             generator=generator), expected)
    assert_rel(margins.logit(model, x, y), sign * f)


def test_logit_is_the_margin_operator(digits, digits_mlp):
    x, y = digits
    logits = digits_mlp(x).detach().numpy()
    rows = np.arange(len(y))
    others = logits.copy()
    others[rows, y.numpy()] = -np.inf
    expected = logits[rows, y.numpy()] - others.max(1)
    np.testing.assert_allclose(margins.logit(digits_mlp, x, y).numpy(), expected, rtol=1e-6, atol=1e-6)


def scaled(model: nn.Module, a: float) -> nn.Module:
    class Scale(nn.Module):
        def forward(self, z):
            return a * z
    return nn.Sequential(model, Scale())


def small_kw(generator_seed: int = 0) -> dict:
    return dict(n_samples=16, n_batches=2, radius=1.0, generator=torch.Generator().manual_seed(generator_seed))


def test_scaling_the_logits_changes_no_distance_estimate(digits, digits_mlp):
    x, y = digits[0][:40], digits[1][:40]
    a = 7.5
    big = scaled(digits_mlp, a)
    for norm in ("l2", "linf"):
        torch.testing.assert_close(margins.effective(big, x, y, norm=norm), margins.effective(digits_mlp, x, y, norm=norm),
                                   rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(margins.lipschitz_lower_bound(big, x, y, norm=norm, **small_kw()),
                                   margins.lipschitz_lower_bound(digits_mlp, x, y, norm=norm, **small_kw()),
                                   rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(margins.logit(big, x, y), a * margins.logit(digits_mlp, x, y), rtol=1e-5, atol=1e-5)


def test_margins_flip_sign_with_misclassification(digits, digits_mlp):
    x, y = digits[0][:60], digits[1][:60]
    y = y.clone()
    y[::3] = (y[::3] + 1) % 10  # mislabel a third of the points
    pred = digits_mlp(x).argmax(1)
    correct = pred == y
    assert (~correct).sum() >= 15
    for estimate in (
        lambda yy: margins.effective(digits_mlp, x, yy),
        lambda yy: margins.lipschitz_lower_bound(digits_mlp, x, yy, **small_kw()),
        lambda yy: margins.lipschitz_lower_bound(digits_mlp, x, yy, reference="predicted", **small_kw()),
        lambda yy: margins.logit(digits_mlp, x, yy),
    ):
        signed = estimate(y)
        assert torch.equal(signed > 0, correct) and torch.equal(signed < 0, ~correct)
        assert torch.all(estimate(pred) > 0)


def test_lipschitz_is_deterministic_given_the_generator(digits, digits_mlp):
    x, y = digits[0][:10], digits[1][:10]
    first = margins.lipschitz_lower_bound(digits_mlp, x, y, **small_kw(5))
    again = margins.lipschitz_lower_bound(digits_mlp, x, y, **small_kw(5))
    other = margins.lipschitz_lower_bound(digits_mlp, x, y, **small_kw(6))
    default = margins.lipschitz_lower_bound(digits_mlp, x, y, n_samples=16, n_batches=2, radius=1.0)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert torch.equal(default, margins.lipschitz_lower_bound(digits_mlp, x, y, **small_kw(0)))


def test_estimators_restore_mode_and_leave_parameter_grads(digits):
    x, y = digits[0][:8], digits[1][:8]
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 10))
    model.train()
    model[4].eval()  # a mixed state must come back as it was
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.25)
    model[1].bias.requires_grad_(False)
    before = [m.training for m in model.modules()]
    for run in (
        lambda: margins.effective(model, x, y),
        lambda: margins.lipschitz_lower_bound(model, x, y, **small_kw()),
        lambda: margins.logit(model, x, y),
    ):
        first = run()
        assert torch.equal(first, run())  # eval mode: dropout is off, so repeated calls agree
        assert [m.training for m in model.modules()] == before
        assert all(torch.equal(p.grad, torch.full_like(p, 0.25)) for p in model.parameters())
        assert [p.requires_grad for p in model.parameters()] == [True, False, True, True]


def test_bad_input_raises_clear_errors():
    model, x, y = random_case(0)
    cases = [
        (lambda: margins.exact_linear(model, x, y, norm="l1"), "norm"),
        (lambda: margins.effective(model, x, y, norm="L2"), "norm"),
        (lambda: margins.lipschitz_lower_bound(model, x, y, radius=0.0), "radius"),
        (lambda: margins.lipschitz_lower_bound(model, x, y, n_samples=0), "n_samples"),
        (lambda: margins.lipschitz_lower_bound(model, x, y, chunk=2.5), "chunk"),
        (lambda: margins.lipschitz_lower_bound(model, x, y, reference="true"), "reference"),
        (lambda: margins.lipschitz_lower_bound(model, x, y, bounds=(1.0, 0.0)), "bounds"),
        (lambda: margins.lipschitz_lower_bound(model, x + 2, y, bounds=(0.0, 1.0)), "bounds"),
        (lambda: margins.effective(model, x, y[:-1]), "y"),
        (lambda: margins.logit(model, x, y.float()), "y"),
        (lambda: margins.effective(model, x[0, 0, 0], y), "x"),
        (lambda: margins.exact_linear(nn.Sequential(nn.Flatten(), nn.Linear(12, 5), nn.Tanh()), x, y), "affine"),
        (lambda: margins.exact_linear((torch.ones(5, 11), torch.ones(5)), x, y), "weight"),
        (lambda: margins.exact_linear("linear", x, y), "model_or_weight"),
    ]
    for call, word in cases:
        with pytest.raises(ValueError, match=word):
            call()


# ---- upper bounds from attacks: DeepFool, PGD bisection, and the bracket -------------------------------------------

def min_perturbation_in_box(model, x, y, norm) -> np.ndarray:
    """Whether the closed-form minimal perturbation (towards the nearest pairwise boundary) keeps x in [0, 1]."""
    weight, bias = as_numpy(model)
    xs, ys = x.flatten(1).double().numpy(), y.numpy()
    rows = np.arange(len(xs))
    logits = xs @ weight.T + bias
    diff = weight[ys][:, None, :] - weight[None, :, :]
    dist = (logits[rows, ys][:, None] - logits) / np.maximum(np.linalg.norm(diff, ord=DUAL_ORD[norm], axis=2), 1e-12)
    dist[rows, ys] = np.inf
    j = np.abs(dist).argmin(1)
    a = diff[rows, j]
    step = a / (a**2).sum(1, keepdims=True) if norm == "l2" else np.sign(a) / np.abs(a).sum(1, keepdims=True)
    moved = xs - 1.01 * (logits[rows, ys] - logits[rows, j])[:, None] * step
    return ((moved >= 0) & (moved <= 1)).all(1)


def runner_up_is_nearest(model, x, y, norm) -> np.ndarray:
    """PGD with the margin loss climbs towards the highest other logit; it reaches the nearest boundary of a
    multi-class linear model when that boundary belongs to the runner-up class."""
    weight, bias = as_numpy(model)
    xs, ys = x.flatten(1).double().numpy(), y.numpy()
    rows = np.arange(len(xs))
    logits = xs @ weight.T + bias
    dist = (logits[rows, ys][:, None] - logits) / np.linalg.norm(weight[ys][:, None] - weight[None], ord=DUAL_ORD[norm], axis=2).clip(1e-12)
    dist[rows, ys] = np.inf
    others = logits.copy()
    others[rows, ys] = -np.inf
    return others.argmax(1) == np.abs(dist).argmin(1)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_margin_matches_closed_form(linear_case, norm):
    model, x, y = linear_case
    expected = truth(model, x, y, norm)
    estimate = margins.deepfool_margin(model, x, y, norm=norm, overshoot=1e-4).double().numpy()
    correct = expected > 0
    np.testing.assert_allclose(estimate[correct], expected[correct], rtol=1e-3)
    # misclassified: DeepFool targeted at the label reaches F_y, no closer than the farthest violated boundary
    # (targeted DeepFool may cycle between classes and give up: inf, no bound)
    assert np.all(np.isfinite(estimate[correct])) and np.isfinite(estimate[~correct]).mean() > 0.75
    assert np.all(estimate[~correct] <= expected[~correct] * (1 - 1e-5))


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_deepfool_and_pgd_margins_are_exact_on_binary_linear_models(norm):
    model, x, y = random_case(0)
    model = linear_model(12, 2, seed=5)
    y = y % 2
    expected = truth(model, x, y, norm)
    inside = min_perturbation_in_box(model, x, y, norm)
    assert inside.sum() >= 20 and (expected[inside] < 0).any()
    assert_rel(margins.deepfool_margin(model, x[inside], y[inside], norm=norm, overshoot=1e-4), expected[inside])
    eps_max = 2 * np.abs(expected).max()
    tol = eps_max / 2**12
    upper = margins.attack_margin(model, x[inside], y[inside], norm=norm, eps_max=float(eps_max), steps=60,
                                  bisection_steps=12).double().numpy()
    assert np.all(np.abs(upper) >= np.abs(expected[inside]) * (1 - 1e-5))
    assert np.all(np.abs(upper) <= np.abs(expected[inside]) + tol)
    assert np.array_equal(np.sign(upper), np.sign(expected[inside]))


@pytest.mark.parametrize("norm", ["l2", "linf"])
@pytest.mark.parametrize("seed", [0, 1])
def test_attack_margin_brackets_closed_form_on_multiclass_linear(seed, norm):
    model, x, y = random_case(seed)
    expected = truth(model, x, y, norm)
    eps_max = 2 * np.abs(expected).max()
    tol = eps_max / 2**12
    upper = margins.attack_margin(model, x, y, norm=norm, eps_max=float(eps_max), steps=60,
                                  bisection_steps=12).double().numpy()
    # an upper bound everywhere (PGD's points are real adversarial images); inf (no bound) only for some
    # misclassified points, whose distance to the true-label region the closed form only bounds from below
    finite = np.isfinite(upper)
    assert np.array_equal(np.sign(upper), np.sign(expected)) and np.all(finite[expected > 0])
    assert np.all(np.abs(upper[finite]) >= np.abs(expected[finite]) * (1 - 1e-5))
    # tight within the bisection tolerance where the closed-form minimizer is a valid image PGD can find
    tight = (expected > 0) & min_perturbation_in_box(model, x, y, norm) & runner_up_is_nearest(model, x, y, norm)
    assert tight.sum() >= 10
    np.testing.assert_array_less(upper[tight], expected[tight] + tol + 1e-6)


def box_linf_distance(weight, bias, x, y) -> np.ndarray:
    """Linf distance from correctly classified x to the nearest pairwise boundary *within [0, 1]^d*, in numpy:
    for a = w_y - w_j the largest decrease of a.delta over ||delta||_inf <= t inside the box is
    sum_i |a_i| min(t, room_i) (room = x_i where a_i > 0, else 1 - x_i); bisect t to meet the gap."""
    logits = x @ weight.T + bias
    rows = np.arange(len(x))
    a = weight[y][:, None, :] - weight[None, :, :]                            # (N, K, d)
    gap = logits[rows, y][:, None] - logits                                   # (N, K)
    room = np.where(a > 0, x[:, None, :], 1 - x[:, None, :])
    lo, hi = np.zeros_like(gap), np.ones_like(gap)
    for _ in range(60):
        mid = (lo + hi) / 2
        reach = (np.abs(a) * np.minimum(mid[..., None], room)).sum(-1) >= gap
        lo, hi = np.where(reach, lo, mid), np.where(reach, mid, hi)
    reachable = (np.abs(a) * room).sum(-1) >= gap
    dist = np.where(reachable, hi, np.inf)
    dist[rows, y] = np.inf
    return dist


def test_attack_margin_matches_box_constrained_truth_on_digits(digits, digits_linear):
    x, y = digits[0][:120], digits[1][:120]
    weight, bias = as_numpy(digits_linear)
    xs = x.flatten(1).double().numpy()
    logits = xs @ weight.T + bias
    correct = logits.argmax(1) == y.numpy()
    dist = box_linf_distance(weight, bias, xs[correct], y.numpy()[correct])
    expected = dist.min(1)
    others = logits[correct].copy()
    others[np.arange(len(others)), y.numpy()[correct]] = -np.inf
    tight = others.argmax(1) == dist.argmin(1)
    eps_max = 0.5
    upper = margins.attack_margin(digits_linear, x[correct], y[correct], norm="linf", eps_max=eps_max, steps=60,
                                  bisection_steps=12).double().numpy()
    r_d = truth(digits_linear, x[correct], y[correct], "linf")
    assert np.all(expected >= r_d * (1 - 1e-6))  # the box only makes the distance longer
    assert np.all(upper >= expected * (1 - 1e-5))
    assert tight.sum() >= 50 and (expected[tight] > r_d[tight] + 1e-3).any()  # the box matters on digits
    np.testing.assert_array_less(upper[tight], expected[tight] + eps_max / 2**12 + 1e-6)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_bracket_orders_lower_below_upper_on_a_trained_mlp(digits, digits_mlp, norm):
    x, y = digits[0][:60], digits[1][:60]
    radius = 2.0 if norm == "l2" else 0.3
    bounds = margins.bracket(digits_mlp, x, y, norm=norm, radius=radius, n_samples=64, n_batches=2, pgd_steps=10,
                             generator=torch.Generator().manual_seed(0))
    correct = digits_mlp(x).argmax(1) == y
    assert correct.float().mean() > 0.9 and torch.isfinite(bounds.upper).all()
    assert torch.all(bounds.lower[correct] <= bounds.upper[correct])
    assert torch.all(bounds.gap >= 0)
    assert torch.equal(bounds.lower > 0, correct) and torch.equal(bounds.upper > 0, correct)
    deepfool = margins.deepfool_margin(digits_mlp, x, y, norm=norm)
    assert torch.all(bounds.upper.abs() <= deepfool.abs())


def test_attack_estimates_are_invariant_to_logit_scale_and_flip_sign(digits, digits_mlp):
    x, y = digits[0][:30], digits[1][:30].clone()
    y[::3] = (y[::3] + 1) % 10
    correct = digits_mlp(x).argmax(1) == y
    big = scaled(digits_mlp, 7.5)
    for estimate in (
        lambda m: margins.deepfool_margin(m, x, y, norm="l2"),
        lambda m: margins.attack_margin(m, x, y, norm="linf", eps_max=0.5, steps=10, bisection_steps=6),
    ):
        plain = estimate(digits_mlp)
        torch.testing.assert_close(estimate(big), plain, rtol=1e-4, atol=1e-6)
        assert torch.equal(plain > 0, correct) and torch.equal(plain < 0, ~correct)


def test_attack_margin_is_deterministic_given_the_generator(digits, digits_mlp):
    x, y = digits[0][:10], digits[1][:10]

    def run(seed):
        return margins.attack_margin(digits_mlp, x, y, norm="l2", eps_max=2.0, steps=5, bisection_steps=4, restarts=2,
                                     random_start=True, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(run(3), run(3))


def test_attack_estimators_restore_mode_and_leave_parameter_grads(digits):
    x, y = digits[0][:8], digits[1][:8]
    torch.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.Dropout(0.5), nn.ReLU(), nn.Linear(16, 10))
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 0.25)
    for run in (
        lambda: margins.deepfool_margin(model, x, y),
        lambda: margins.attack_margin(model, x, y, eps_max=0.5, steps=3, bisection_steps=2),
        lambda: margins.bracket(model, x, y, n_samples=8, n_batches=1, pgd_steps=2, bisection_steps=2),
    ):
        run()
        assert all(m.training for m in model.modules())
        assert all(torch.equal(p.grad, torch.full_like(p, 0.25)) for p in model.parameters())
        assert all(p.requires_grad for p in model.parameters())


def test_attack_estimators_reject_bad_input():
    model, x, y = random_case(0)
    cases = [
        (lambda: margins.deepfool_margin(model, x, y, norm="l1"), "norm"),
        (lambda: margins.attack_margin(model, x, y, eps_max=0.0, steps=5), "eps_max"),
        (lambda: margins.attack_margin(model, x, y, eps_max=torch.zeros(3), steps=5), "eps_max"),
        (lambda: margins.attack_margin(model, x * 3, y, eps_max=0.5, steps=5), "bounds"),
        (lambda: margins.attack_margin(model, x, y, eps_max=0.5, steps=5, bisection_steps=-1), "bisection_steps"),
        (lambda: margins.bracket(model, x, y, norm="l3"), "norm"),
    ]
    for call, word in cases:
        with pytest.raises(ValueError, match=word):
            call()


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_ball_samples_are_uniform(norm, generator):
    # uniform in a d-ball: P(||u|| <= s * R) = s^d (l2); uniform coordinates on [-R, R] (linf)
    u = margins._uniform_ball(20000, torch.Size([3]), 2.0, norm, generator)
    if norm == "l2":
        radii = u.norm(dim=1)
        assert radii.max() <= 2.0 + 1e-6
        assert abs(float((radii <= 2.0 * 0.5 ** (1 / 3)).float().mean()) - 0.5) < 0.02
    else:
        assert u.abs().max() <= 2.0 and abs(float(u.abs().mean()) - 1.0) < 0.02


def _box_reference(weight, bias, x, y, norm):
    """Independent solver of the box-constrained linear margin: scipy's LP (Linf) / SLSQP (L2) per class pair."""
    from scipy.optimize import linprog, minimize

    out = []
    for xi, yi in zip(x.numpy(), y.tolist()):
        f = weight.numpy() @ xi + bias.numpy()
        values = []
        for j in range(len(f)):
            if j == yi:
                continue
            gap = f[yi] - f[j]
            a = np.sign(gap) * (weight[yi] - weight[j]).numpy()
            box = [(-v, 1 - v) for v in xi]
            if norm == "linf":
                d = len(xi)
                rows = [np.r_[a, 0.0]] + [np.r_[s * np.eye(d)[k], -1.0] for k in range(d) for s in (1, -1)]
                res = linprog(np.r_[np.zeros(d), 1.0], A_ub=np.array(rows), b_ub=np.r_[-abs(gap), np.zeros(2 * d)],
                              bounds=box + [(0, None)])
                dist = res.fun if res.status == 0 else np.inf
            else:
                res = minimize(lambda z: z @ z, np.zeros(len(xi)), jac=lambda z: 2 * z, bounds=box, method="SLSQP",
                               constraints=[{"type": "ineq", "fun": lambda z, a=a: -abs(gap) - a @ z, "jac": lambda z, a=a: -a}],
                               options={"ftol": 1e-14, "maxiter": 500})
                dist = np.sqrt(res.fun) if -abs(gap) - a @ res.x > -1e-7 else np.inf
            values.append(np.sign(gap) * dist)
        out.append(min(values))
    return np.array(out)


@pytest.mark.parametrize("norm", ["l2", "linf"])
def test_exact_linear_box_constrained_matches_an_lp_qp_solver(norm):
    gen = torch.Generator().manual_seed(3)
    weight = torch.randn(4, 6, generator=gen, dtype=torch.float64)
    bias = 0.5 * torch.randn(4, generator=gen, dtype=torch.float64)
    x = torch.rand(60, 6, generator=gen, dtype=torch.float64)
    x[:10] = (x[:10] > 0.5).double()  # corners, where the box binds hardest and some pairs are out of reach
    y = torch.randint(0, 4, (60,), generator=gen)
    boxed = margins.exact_linear((weight, bias), x, y, norm=norm, bounds=(0, 1))
    free = margins.exact_linear((weight, bias), x, y, norm=norm)
    expected = _box_reference(weight, bias, x, y, norm)
    finite = np.isfinite(expected)
    assert np.array_equal(np.isfinite(boxed.numpy()), finite)
    np.testing.assert_allclose(boxed.numpy()[finite], expected[finite], rtol=1e-6, atol=1e-8)
    assert bool((torch.sign(boxed) == torch.sign(free)).all())
    assert bool((boxed.abs() >= free.abs() - 1e-12).all()), "the box can only lengthen the way to a boundary"


def test_exact_linear_box_is_inactive_when_the_nearest_boundary_point_is_inside():
    gen = torch.Generator().manual_seed(4)
    weight = torch.randn(3, 8, generator=gen, dtype=torch.float64)
    x = torch.full((5, 8), 0.5, dtype=torch.float64)
    y = (x @ weight.T).argmax(1)
    bias = -(x[0] @ weight.T) + 1e-3 * torch.randn(3, generator=gen, dtype=torch.float64)  # boundaries pass near x
    for norm in ("l2", "linf"):
        torch.testing.assert_close(margins.exact_linear((weight, bias), x, y, norm=norm, bounds=(0, 1)),
                                   margins.exact_linear((weight, bias), x, y, norm=norm))
