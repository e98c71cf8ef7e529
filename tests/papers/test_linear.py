"""Paper 000 §3: gradient descent on logistic regression vs the hard-margin SVM, on separable data."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from marginlib import data, margins
from marginlib import stats as analysis
from marginlib.papers.p000_minavg import data as p000_data
from marginlib.papers.p000_minavg import linear


def separable(n=60, d=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, d, generator=g, dtype=torch.float64)
    w = torch.randn(d, generator=g, dtype=torch.float64)
    score = (x - 0.5) @ w
    keep = score.abs() > 0.05
    return x[keep], (score[keep] > 0).long()


def test_signed_margins_match_the_margin_estimator():
    x, y = separable()
    w = torch.randn(x.shape[1], dtype=torch.float64)
    b = torch.tensor(0.3, dtype=torch.float64)
    ours = linear.signed_margins(w, b, x, y)
    theirs = margins.exact_linear((w[None], b[None]), x, y)  # one-logit binary model
    torch.testing.assert_close(ours, theirs.to(ours.dtype))


def test_svm_has_the_largest_minimum_margin():
    x, y = separable()
    svm = linear.hard_margin_svm(x, y)
    assert svm.min_margin > 0
    for seed in range(5):
        w = torch.randn(x.shape[1], generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        assert linear.signed_margins(w, 0.0, x, y).min() <= svm.min_margin + 1e-9


def test_bias_penalized_svm_closed_form():
    """Points 1 (label 1) and -100 (label 0). With the bias penalized, min w^2 + b^2 s.t. w + b >= 1 and
    100 w - b >= 1 has only the first constraint active: w = b = 1/2, boundary at x = -1, margins 2 and 99.
    The free-intercept SVM puts the boundary midway, at -49.5: margins 50.5 and 50.5."""
    x = torch.tensor([[1.0], [-100.0]], dtype=torch.float64)
    y = torch.tensor([1, 0])
    pen = linear.hard_margin_svm(x, y, penalize_bias=True)
    torch.testing.assert_close(pen.weight, torch.tensor([0.5], dtype=torch.float64))
    assert pen.bias == pytest.approx(0.5) and pen.penalize_bias
    torch.testing.assert_close(pen.train_margins, torch.tensor([2.0, 99.0], dtype=torch.float64))
    free = linear.hard_margin_svm(x, y)
    assert not free.penalize_bias
    assert free.min_margin == pytest.approx(50.5, rel=1e-4)
    assert -free.bias / float(free.weight[0]) == pytest.approx(-49.5, rel=1e-4)
    # gradient descent with a trained bias heads for the bias-penalized separator, not the free one
    traj = linear.logistic_gd(x, y, x, y, epochs=20000, lr=0.01, record_epochs=[20000])
    assert 1.8 < traj.min_margin_train[-1] <= 2.0


def test_bias_penalized_svm_solves_its_qp():
    """Against a generic solver of min ||v||^2 s.t. s_i v.(x_i, 1) >= 1, and no worse than random directions."""
    from scipy.optimize import LinearConstraint, minimize

    x, y = separable(n=40, d=3)
    pen = linear.hard_margin_svm(x, y, penalize_bias=True)
    z = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], 1).numpy()
    s = (2.0 * y.double() - 1.0).numpy()
    ref = minimize(lambda v: v @ v, x0=np.zeros(4), jac=lambda v: 2 * v, hess=lambda v: 2 * np.eye(4),
                   method="trust-constr", constraints=[LinearConstraint(s[:, None] * z, 1, np.inf)],
                   options={"gtol": 1e-12, "xtol": 1e-14, "maxiter": 5000})
    assert ref.success
    v = np.append(pen.weight.numpy(), pen.bias)
    np.testing.assert_allclose(v, ref.x, rtol=1e-5, atol=1e-5)
    assert (s * (z @ v)).min() == pytest.approx(1.0, abs=1e-9)
    free = linear.hard_margin_svm(x, y)
    assert pen.min_margin <= free.min_margin + 1e-6   # the free SVM maximizes the input-space min margin


def test_bias_penalized_and_free_svms_differ_on_mnist01():
    """On the offline 0/1 digits (Fig. 1's data) the two references differ: the GD limit has a smaller margin."""
    train = p000_data.mnist01(verbose=False, source="offline")
    pen = linear.hard_margin_svm(train.x, train.y, penalize_bias=True)
    free = linear.hard_margin_svm(train.x, train.y)
    assert 0 < pen.min_margin < 0.99 * free.min_margin
    assert (pen.train_margins > 0).all()


def test_gradient_descent_min_margin_rises_toward_svm_and_average_falls():
    x, y = separable(n=200, d=8)
    svm = linear.hard_margin_svm(x, y, penalize_bias=True)   # the GD limit (bias trained as a weight)
    epochs = 4000
    rec = linear.log_epochs(epochs, points=60)
    traj = linear.logistic_gd(x, y, x, y, epochs=epochs, lr=5.0, record_epochs=rec, histogram_epochs=[1, epochs])
    assert traj.train_error[-1] == 0
    assert analysis.trend(traj.epochs, traj.min_margin_train, after=epochs / 2) > 0.9
    assert traj.min_margin_train[-1] <= svm.min_margin + 1e-9
    assert traj.min_margin_train[-1] > 0.5 * svm.min_margin
    assert traj.loss[-1] < traj.loss[0]
    assert set(traj.histograms) == {1, epochs}
    torch.testing.assert_close(torch.as_tensor(traj.histograms[epochs]["train"]).min().item(), traj.min_margin_train[-1])


def test_mnist01_keeps_the_zeros_and_ones_of_mnist_and_passes_the_source_options(monkeypatch):
    seen = {}

    def fake_load(name, **kw):
        seen.update(name=name, **kw)
        return data.Dataset("mnist", kw["split"], torch.rand(20, 1, 28, 28), torch.arange(20) % 10,
                            "full MNIST, IDX files in /x", 10)

    monkeypatch.setattr(data, "load", fake_load)
    binary = p000_data.mnist01(split="test", root="/x", source="full", verbose=False)
    assert seen == {"name": "mnist", "split": "test", "root": "/x", "download": False, "source": "full",
                    "verbose": False}
    assert binary.y.tolist() == [0, 1, 0, 1] and binary.num_classes == 2 and binary.name == "mnist01"
    assert binary.split == "test" and binary.source == "full MNIST, IDX files in /x, digits 0 and 1"
    assert binary.bounds == (0.0, 1.0) and binary.x.shape == (4, 1, 28, 28)


def test_mnist01_offline_is_separable():
    train = p000_data.mnist01(verbose=False, source="offline")
    assert (linear.hard_margin_svm(train.x, train.y).train_margins > 0).all()


def test_trend_is_rank_based_and_validates():
    import pytest

    assert analysis.trend([1, 2, 3, 4], [1, 10, 11, 100]) == 1.0
    assert analysis.trend([1, 2, 3, 4], [4, 3, 2, 1], after=2) == -1.0
    with pytest.raises(ValueError, match="at least 3"):
        analysis.trend([1, 2, 3], [1, 2, 3], after=3)


def test_sgd_with_one_batch_and_no_momentum_is_gradient_descent():
    x, y = separable()
    gd = linear.logistic_gd(x, y, x, y, epochs=50, lr=0.5, record_epochs=[10, 50])
    sgd = linear.logistic_sgd(x, y, x, y, epochs=50, lr=0.5, batch_size=len(y), momentum=0.0, record_epochs=[10, 50])
    np.testing.assert_array_equal(sgd.epochs, [10, 50])
    torch.testing.assert_close(sgd.weight, gd.weight)
    np.testing.assert_allclose(sgd.min_margin_train, gd.min_margin_train, rtol=1e-10)


def test_sgd_matches_torch_nesterov_sgd_on_the_same_batches():
    x, y = separable(n=50)
    epochs, lr, batch, mom, seed = 3, 0.1, 16, 0.9, 4
    ours = linear.logistic_sgd(x, y, x, y, epochs=epochs, lr=lr, batch_size=batch, momentum=mom, seed=seed,
                               record_epochs=[epochs])
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([w, b], lr=lr, momentum=mom, nesterov=True)
    gen = torch.Generator().manual_seed(seed)
    s = 2.0 * y.double() - 1.0
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(batch):
            opt.zero_grad()
            torch.nn.functional.softplus(-s[idx] * (x[idx] @ w + b)).mean().backward()
            opt.step()
    torch.testing.assert_close(ours.weight, w.detach())
    torch.testing.assert_close(ours.bias, b.detach())


def test_subset_keeps_n_images_in_order_and_all_when_n_is_zero():
    ds = data.Dataset("mnist01", "train", torch.rand(10, 1, 2, 2), torch.arange(10) % 2, "t", 2)
    assert p000_data.subset(ds, 0, seed=0) is ds and p000_data.subset(ds, 10, seed=0) is ds
    part = p000_data.subset(ds, 4, seed=1)
    assert len(part) == 4 and "4 of them" in part.source
    rows = [int(torch.nonzero((ds.x == xi).all(dim=(1, 2, 3)))[0]) for xi in part.x]
    assert rows == sorted(rows)
