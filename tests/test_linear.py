"""Paper 000 §3: gradient descent on logistic regression vs the hard-margin SVM, on separable data."""
from __future__ import annotations

import torch

from marginlib import analysis, data, linear, margins


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


def test_gradient_descent_min_margin_rises_toward_svm_and_average_falls():
    x, y = separable(n=200, d=8)
    svm = linear.hard_margin_svm(x, y)
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


def test_mnist01_offline_is_separable():
    train = data.load("mnist01", verbose=False, source="offline")
    assert (linear.hard_margin_svm(train.x, train.y).train_margins > 0).all()


def test_trend_is_rank_based_and_validates():
    import pytest

    assert analysis.trend([1, 2, 3, 4], [1, 10, 11, 100]) == 1.0
    assert analysis.trend([1, 2, 3, 4], [4, 3, 2, 1], after=2) == -1.0
    with pytest.raises(ValueError, match="at least 3"):
        analysis.trend([1, 2, 3], [1, 2, 3], after=3)
