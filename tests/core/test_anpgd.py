"""AN-PGD (paper 001, Alg. 1) branches and bisects on one and the same search loss, as the released code does, and
its options (``search_result``; MMA's ``eps_max_factor``, ``split``, ``final_pgd``) change what they should.

Linear models make every reference exact: the logit margin's distance is closed form (``exact_linear``), and along a
fixed direction the soft logit margin is convex, so it crosses zero at most once on the way out of a point where it is
negative; that crossing is found here by an independent float64 bisection.
"""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from marginlib import margins, methods
from marginlib.attacks import an_pgd, losses

STEPS = 20  # bisection steps in the linear-model tests: resolution (interval) * 2**-20


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def soft_linear() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A random 10-class linear model on 8x8 inputs in [0.25, 0.75] (float64), scaled so that its soft logit margin is
    often >= 0 at points that are still top-1 correct (p_y <= 1/2), like section 04's MNIST logistic regression.
    Returns the model and the points with soft margin < 0 at x itself, with their predicted labels."""
    g = _gen(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10)).double()
    with torch.no_grad():
        model[1].weight.copy_(2 * torch.randn(10, 64, generator=g, dtype=torch.float64))
        model[1].bias.copy_(-0.5 * model[1].weight.sum(1))  # the classes meet near the box's centre
    x = 0.25 + 0.5 * torch.rand(400, 1, 8, 8, generator=g, dtype=torch.float64)
    with torch.no_grad():
        z = model(x)
        y = z.argmax(1)
        keep = losses.soft_margin(z, y) < 0
    return model.eval(), x[keep], y[keep]


def _crossing(model, x, y, u, top, loss=losses.soft_margin, steps=60):
    """The zero crossing of ``loss(x + eta u)`` on ``[0, top]`` (``top`` where there is none), by float64 bisection;
    exact for a loss that is convex along ``u`` and negative at ``eta = 0``."""
    lo, hi = torch.zeros(len(x), dtype=x.dtype), torch.full((len(x),), float(top), dtype=x.dtype)
    with torch.no_grad():
        fooled_top = loss(model(x + top * u), y) >= 0
        for _ in range(steps):
            mid = (lo + hi) / 2
            fooled = loss(model(x + mid.view(-1, 1, 1, 1) * u), y) >= 0
            lo, hi = torch.where(fooled, lo, mid), torch.where(fooled, mid, hi)
    return torch.where(fooled_top, hi, torch.full_like(hi, float(top)))


# eps_init is near the 30th percentile of the exact margins (L-inf 0.0086, L2 0.054): most points need the up-search
RADII = {"linf": (0.008, 0.2), "l2": (0.05, 0.2)}


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_soft_search_is_not_stuck_at_eps_init_and_finds_the_soft_crossing(soft_linear, norm):
    """Before the fix (branch on argmax, bisect on the soft margin) 31 % of these radii (both norms) stuck at
    eps_init; the released rule, branching on the soft margin itself, leaves none stuck."""
    model, x, y = soft_linear
    eps_init, eps_max = RADII[norm]
    assert len(x) > 200
    x_adv, eps = an_pgd(model, x, y, eps_init=eps_init, eps_max=eps_max, steps=20, norm=norm, search_steps=STEPS,
                        final_pgd=False, generator=_gen(1))
    stuck = (eps - eps_init).abs() <= 1e-3 * eps_init
    assert float(stuck.double().mean()) < 0.02
    # the estimate is the soft margin's zero crossing along the first PGD's direction, to the bisection's resolution
    assert bool((eps > 0).all())
    u = (x_adv - x) / eps.view(-1, 1, 1, 1)  # x + eps u stays inside [0.25 - 0.2, 0.75 + 0.2]: no clipping
    crossing = _crossing(model, x, y, u, eps_max)
    assert torch.allclose(eps, crossing, rtol=0, atol=eps_max * 2.0**-STEPS * 1.01)
    # along u the hard margin L <= soft margin crosses later, and never before the exact margin: the soft estimate
    # lies below a length that bounds the margin from above
    exact = margins.exact_linear(model, x, y, norm=norm)
    hard = _crossing(model, x, y, u, eps_max, loss=losses.margin)
    assert bool((hard >= torch.minimum(exact, torch.tensor(eps_max, dtype=x.dtype)) * (1 - 1e-6)).all())
    assert bool((eps <= hard + eps_max * 2.0**-STEPS).all())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_hard_search_approaches_the_exact_margin(soft_linear, norm):
    """With the paper's search loss L (the hard logit margin) the estimate bounds the exact margin from above and is
    within a few percent of it (section 04 measures 0.0 % / 1.7 % median on MNIST)."""
    model, x, y = soft_linear
    eps_init, eps_max = RADII[norm]
    _, eps = an_pgd(model, x, y, eps_init=eps_init, eps_max=eps_max, steps=20, norm=norm, search_steps=STEPS,
                    loss="margin", search_loss="margin", generator=_gen(1))
    exact = margins.exact_linear(model, x, y, norm=norm)
    inside = exact < eps_max
    rel = (eps[inside] - exact[inside]) / exact[inside]
    assert float(rel.min()) >= -1e-6 and float(rel.median()) < 0.03
    assert float(((eps - eps_init).abs() <= 1e-3 * eps_init).double().mean()) < 0.02


def _one_dim(x1: float = 0.5) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """Three classes on one pixel: z_0 = 0, z_1 = z_2 = 5 (x - 0.5) - 1. At x = 0.5 the label 0 wins with soft margin
    log 2 - 1 < 0; moving x up by eta raises z_1 = z_2 = 5 eta - 1, so the soft margin crosses 0 at
    eta = (1 - log 2) / 5 = 0.0614 and the hard margin at eta = 0.2."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(1, 3)).double()
    with torch.no_grad():
        model[1].weight.copy_(torch.tensor([[0.0], [5.0], [5.0]], dtype=torch.float64))
        model[1].bias.copy_(torch.tensor([0.0, -3.5, -3.5], dtype=torch.float64))
    x = torch.full((4, 1, 1, 1), x1, dtype=torch.float64)
    return model.eval(), x, torch.zeros(4, dtype=torch.long)


SOFT_CROSSING, HARD_CROSSING = (1 - math.log(2)) / 5, 0.2


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_top1_correct_but_soft_margin_positive_searches_downwards(norm):
    """At eps_init = 0.1 the first PGD reaches z_1 = z_2 = -0.5: still top-1 correct, soft margin log 2 - 0.5 > 0.
    The soft search must bisect [0, 0.1] down to 0.0614; before the fix it searched [0.1, 0.4], found the soft
    margin positive everywhere and returned eps_init."""
    model, x, y = _one_dim()
    with torch.no_grad():
        probe = model(x + 0.1)
    assert bool((probe.argmax(1) == y).all()) and bool((losses.soft_margin(probe, y) >= 0).all())
    _, eps = an_pgd(model, x, y, eps_init=0.1, eps_max=0.4, steps=10, norm=norm, search_steps=STEPS,
                    generator=_gen())
    assert torch.allclose(eps, torch.full_like(eps, SOFT_CROSSING), rtol=0, atol=0.1 * 2.0**-STEPS)
    _, eps_hard = an_pgd(model, x, y, eps_init=0.1, eps_max=0.4, steps=10, norm=norm, search_steps=STEPS,
                         search_loss="margin", generator=_gen())
    assert torch.allclose(eps_hard, torch.full_like(eps, HARD_CROSSING), rtol=0, atol=0.3 * 2.0**-STEPS)


def test_midpoint_result_lies_inside_the_final_bracket():
    model, x, y = _one_dim()
    kw = dict(eps_init=0.1, eps_max=0.4, steps=10, norm="linf", search_steps=STEPS, final_pgd=False)
    _, upper = an_pgd(model, x, y, **kw, generator=_gen())
    _, mid = an_pgd(model, x, y, **kw, search_result="midpoint", generator=_gen())
    width = 0.1 * 2.0**-STEPS  # the down-bracket [0, 0.1] halved STEPS times
    assert torch.allclose(mid, upper - width / 2, rtol=0, atol=1e-15)
    assert bool(((mid > SOFT_CROSSING - width) & (mid < SOFT_CROSSING + width)).all())
    with pytest.raises(ValueError, match="search_result"):
        an_pgd(model, x, y, **kw, search_result="lower")


def _released_search(f, eps_init, eps_max, steps):
    """The released ``bisection_search`` rule, re-stated: the bracket starts as [eps_init, eps_max] or [0, eps_init]
    by the sign of the search loss at eps_init, each step evaluates the midpoint, and the last midpoint is returned
    (its loss is computed but not used)."""
    lo, hi = torch.zeros_like(eps_max), eps_max.clone()
    eta, loss = eps_init.clone(), f(eps_init)
    for _ in range(steps):
        below = loss < 0
        lo = torch.where(below, torch.maximum(lo, eta), lo)
        hi = torch.where(below, hi, torch.minimum(hi, eta))
        eta = (lo + hi) / 2
        loss = f(eta)
    return eta


def test_midpoint_with_one_step_fewer_is_the_released_bisection(soft_linear):
    model, x, y = soft_linear
    eps_init, eps_max = RADII["linf"]
    x_adv, eps = an_pgd(model, x, y, eps_init=eps_init, eps_max=eps_max, steps=20, norm="linf", search_steps=9,
                        search_result="midpoint", final_pgd=False, generator=_gen(1))
    u = (x_adv - x) / eps.view(-1, 1, 1, 1)
    with torch.no_grad():
        def f(eta):
            return losses.soft_margin(model(x + eta.view(-1, 1, 1, 1) * u), y)

        released = _released_search(f, torch.full_like(eps, eps_init), torch.full_like(eps, eps_max), 10)
    assert torch.allclose(eps, released, rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------------------------------- MMA


def test_mma_stores_the_consistent_search_result():
    model, x, y = _one_dim()
    mma = methods.MMA(d_max=0.4, norm="linf", steps=10, eps_min=0.1, clean_weight=0.0)
    mma.setup(device="cpu", seed=0)
    mma.loss(model, x, y, index=torch.arange(4))
    # before the fix the stored radius was eps_min = 0.1 (stuck); 10 search steps resolve [0, 0.1] to 1e-4
    assert torch.allclose(mma.eps.double(), torch.full((4,), SOFT_CROSSING, dtype=torch.float64), rtol=0,
                          atol=0.1 * 2.0**-10 + 1e-7)


def test_mma_eps_max_factor_caps_the_search_at_a_multiple_of_d_max():
    model, x, y = _one_dim()
    with torch.no_grad():
        model[1].weight.mul_(0.01)  # nowhere adversarial within the box: AN-PGD returns the top of its interval
    for factor in (1.0, 1.05):
        mma = methods.MMA(d_max=0.4, norm="linf", steps=5, eps_min=0.1, eps_max_factor=factor)
        mma.setup(device="cpu", seed=0)
        for _ in range(2):  # the second call starts from the stored 1.05 d_max, above d_max
            _, stats = mma.loss(model, x, y, index=torch.arange(4))
            assert torch.allclose(mma.eps, torch.full((4,), 0.4 * factor), atol=1e-6)
            assert float(stats["active"]) == 0.0  # the hinge at d_max drops them either way
    assert mma.eps_max == pytest.approx(0.42)
    with pytest.raises(ValueError, match="eps_min"):
        methods.MMA(d_max=0.4, eps_min=0.5, eps_max_factor=1.2)  # 0.5 > 0.48
    methods.MMA(d_max=0.4, eps_min=0.41, eps_max_factor=1.05)  # 0.41 <= 0.42 is allowed


def test_mma_split_on_the_soft_margin_counts_low_confidence_points_as_wrong():
    model, x, y = _one_dim(0.58)  # z_1 = z_2 = -0.6: top-1 correct, soft margin log 2 - 0.6 > 0
    for split, zero in (("argmax", False), ("soft_margin", True)):
        mma = methods.MMA(d_max=0.4, norm="linf", steps=5, eps_min=0.1, split=split)
        mma.setup(device="cpu", seed=0)
        mma.loss(model, x, y, index=torch.arange(4))
        # argmax: attacked, the soft search goes down to ~0 (soft margin >= 0 at x); soft_margin: B_0, reset to 0
        assert bool((mma.eps == 0).all()) == zero
        assert bool((mma.eps <= 0.1 * 2.0**-10 + 1e-7).all())
    with pytest.raises(ValueError, match="split"):
        methods.MMA(d_max=0.4, split="ce")


def test_mma_passes_search_result_and_final_pgd_to_an_pgd():
    model, x, y = _one_dim()
    found = {}
    for result in ("upper", "midpoint"):
        mma = methods.MMA(d_max=0.4, norm="linf", steps=10, eps_min=0.1, search_steps=10, search_result=result,
                          final_pgd=False)
        mma.setup(device="cpu", seed=0)
        mma.loss(model, x, y, index=torch.arange(4))
        found[result] = mma.eps.clone()
    assert torch.allclose(found["midpoint"], found["upper"] - 0.1 * 2.0**-11, rtol=0, atol=1e-7)
    assert "search_result='midpoint'" in repr(mma) and "final_pgd=False" in repr(mma)
