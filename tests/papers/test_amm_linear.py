"""AMM on linear binary classifiers (paper 003 §3.2-3.3.3): closed form of eq. (12), boundary geometry,
regularizer-alone training (``ce_weight=0``) and a pipeline that accepts points outside [0, 1] (toy2d)."""
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from marginlib import data, margins, methods, models, train
from marginlib.attacks import deepfool
from marginlib.papers.p003_amm import amm_linear, toy2d


def _linear(weight, bias):
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor(weight))
        model.bias.copy_(torch.tensor(bias))
    return model


@pytest.fixture(scope="module")
def toy():
    return toy2d.load(verbose=False)


def test_toy2d_is_the_papers_two_boxes_with_fixed_distinct_splits(toy):
    assert toy.x.shape == (400, 2) and toy.x.dtype == torch.float32 and toy.bounds is None
    assert toy.name == "toy2d" and toy.num_classes == 2 and "paper 003" in toy.source
    for label, ((x0, x1), (y0, y1)) in enumerate(toy2d.BOXES):
        pts = toy.x[toy.y == label]
        assert len(pts) == toy2d.PER_CLASS == 200
        assert (pts[:, 0] >= x0).all() and (pts[:, 0] <= x1).all() and (pts[:, 1] >= y0).all() and (pts[:, 1] <= y1).all()
    assert torch.equal(toy.x, toy2d.load(verbose=False).x)
    assert not torch.equal(toy.x, toy2d.load(split="test", verbose=False).x)
    with pytest.raises(ValueError, match="split='val'.*'train', 'test'"):
        toy2d.load(split="val")


def test_hyperplane_reads_the_logit_difference():
    model = _linear([[1.0, -2.0], [3.0, 0.5]], [0.25, -1.0])
    w, b = amm_linear.hyperplane(model, torch.zeros(4, 2))
    assert torch.allclose(w, torch.tensor([2.0, 2.5])) and float(b) == pytest.approx(-1.25)


def test_avg_lin_solution_minimizes_eq11_over_directions_and_is_orthogonal_to_centres(generator):
    x = torch.randn(60, 2, generator=generator) * torch.tensor([0.3, 2.0]) + torch.tensor([0.5, -0.2])
    y = torch.arange(2).repeat_interleave(30)
    x[y == 1] += torch.tensor([1.0, 1.5])
    w, b = amm_linear.avg_lin_solution(x, y)
    s = 2.0 * y.double() - 1
    # eq. (11) with R(t) = t and ||w|| = 1 is -sum_k s_k (w.x_k + b), for any b (balanced classes)
    objective = lambda w_, b_: float(-(s * (x.double() @ w_.double() + b_)).sum())
    angles = torch.linspace(0, 2 * math.pi, 721, dtype=torch.float64)
    grid = torch.stack([angles.cos(), angles.sin()], 1)
    assert objective(w, b) <= min(objective(v, 0.0) for v in grid) + 1e-5
    assert objective(w, b) == pytest.approx(objective(w, b + 3.0))
    mu0, mu1 = amm_linear.class_centres(x, y)
    assert amm_linear.angle_to_line(w, mu1 - mu0) == pytest.approx(90.0)
    assert float(w @ (mu0 + mu1) / 2 + b) == pytest.approx(0.0, abs=1e-5)  # through the midpoint (convention)


def test_avg_lin_solution_rejects_unbalanced_classes():
    with pytest.raises(ValueError, match="balanced"):
        amm_linear.avg_lin_solution(torch.randn(5, 2), torch.tensor([0, 0, 0, 1, 1]))


def test_angle_to_line_known_values():
    w = torch.tensor([1.0, 0.0])
    assert amm_linear.angle_to_line(w, torch.tensor([1.0, 0.0])) == pytest.approx(90.0)
    assert amm_linear.angle_to_line(w, torch.tensor([0.0, -2.0])) == pytest.approx(0.0)
    assert amm_linear.angle_to_line(w, torch.tensor([1.0, 1.0])) == pytest.approx(45.0)
    with pytest.raises(ValueError, match="nonzero"):
        amm_linear.angle_to_line(w, torch.zeros(2))


@pytest.mark.parametrize("aggregation,shrinkage", [("avg", "lin"), ("min", "exp")])
def test_amm_ce_weight_scales_only_the_classification_term(toy, aggregation, shrinkage):
    model = _linear([[0.3, -0.2], [-0.4, 0.5]], [0.1, -0.1])
    x, y = toy.x[::20], toy.y[::20]
    kw = dict(lam=2.0, c=2.0, d=1.0, aggregation=aggregation, shrinkage=shrinkage)
    alone, _ = methods.build("amm", ce_weight=0.0, **kw).loss(model, x, y)
    reg, _ = methods.build("amm", **kw).regularizer(model, x, y)
    assert float(alone.detach()) == pytest.approx(2.0 * float(reg.detach()))
    both, _ = methods.build("amm", **kw).loss(model, x, y)
    assert float(both.detach()) == pytest.approx(float(F.cross_entropy(model(x), y)) + 2.0 * float(reg.detach()))
    with pytest.raises(ValueError, match="ce_weight"):
        methods.build("amm", ce_weight=-1.0, **kw)


def test_deepfool_on_a_2d_linear_model_is_exact_in_one_step(toy):
    model = _linear([[0.3, -0.2], [-0.4, 0.5]], [0.1, -0.1])
    r, fooled = deepfool(model, toy.x, steps=1, overshoot=0.02, return_success=True)
    w, b = amm_linear.hyperplane(model, toy.x)
    distance = (toy.x @ w + b).abs() / w.norm()
    assert fooled.all()
    assert torch.allclose(r.norm(dim=1), 1.02 * distance, atol=1e-5)


def test_fit_trains_on_points_outside_the_unit_box_and_still_checks_images(toy):
    model = models.build("logreg", input_size=(1, 2), num_classes=2, seed=2)
    method = methods.build("amm", lam=1.0, c=4.0, d=4.0, aggregation="avg", shrinkage="lin", ce_weight=0.0)
    history = train.fit(model, method, toy, epochs=1, batch_size=20, lr=0.1, progress=False, eval_train=False)
    assert len(history.rows) == 1
    images = data.Dataset("mnist", "train", toy.x[:4].view(4, 1, 1, 2), toy.y[:4], "test", 2)  # bounds (0, 1)
    with pytest.raises(ValueError, match="bounds"):
        train.fit(model, method, images, epochs=1, progress=False)


def test_avg_lin_training_converges_to_the_closed_form(toy):
    model = models.build("logreg", input_size=(1, 2), num_classes=2, seed=2)
    method = methods.build("amm", lam=1.0, c=4.0, d=4.0, aggregation="avg", shrinkage="lin", ce_weight=0.0)
    train.fit(model, method, toy, epochs=8, batch_size=20, lr=0.1, weight_decay=1e-4, progress=False,
              eval_train=False)
    w, _ = amm_linear.hyperplane(model, toy.x)
    w_star, _ = amm_linear.avg_lin_solution(toy.x, toy.y)
    assert amm_linear.angle_to_line(w, w_star) > 87.0  # w parallel to w*


def test_min_exp_training_reaches_the_maximum_margin(toy):
    model = models.build("logreg", input_size=(1, 2), num_classes=2, seed=2)
    method = methods.build("amm", lam=32.0, c=2.0, d=1.0, aggregation="min", shrinkage="exp", ce_weight=0.0)
    train.fit(model, method, toy, epochs=12, batch_size=20, lr=0.1, weight_decay=1e-4, milestones=[6, 9],
              gamma=0.5, progress=False, eval_train=False)
    assert float(margins.exact_linear(model, toy.x, toy.y).min()) > 0.9  # the optimum is 0.99
