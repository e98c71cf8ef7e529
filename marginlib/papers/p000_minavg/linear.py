"""Binary linear classifiers in closed form: full-batch gradient descent (or minibatch SGD) on the logistic loss and
the hard-margin SVM it converges to in direction (paper 000 §3, Theorem 1, after Soudry et al. 2018). Because
the bias is trained like a weight, that limit is the SVM of the augmented points ``(x, 1)``, which penalizes
the bias (``hard_margin_svm(..., penalize_bias=True)``), not the classical SVM with a free intercept.

For a linear score ``z(x) = w·x + b`` the signed L2 margin is exact (paper 000 §2):
``m(x, y) = s (w·x + b) / ||w||_2`` with ``s = +1`` for label 1 and ``-1`` for label 0, so it is the
distance to the decision hyperplane, positive when ``x`` is classified correctly.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from marginlib import cost, validate


def signed_margins(w: torch.Tensor, b: torch.Tensor | float, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exact signed L2 margins ``s (w·x + b) / ||w||`` of the binary linear classifier (paper 000 §2), in the dtype
    of ``w`` (``x`` is cast to it).

    This is :func:`marginlib.margins.exact_linear` for the one-logit model ``(w[None], b[None])``, written as the
    one matrix-vector product that :func:`logistic_gd` evaluates at every recorded step: ``exact_linear`` reads a
    one-logit model as the two-logit ``(0, f)`` and multiplies by a ``(d, 2)`` matrix, whose rounding differs from
    this product's in the last bits (about 1e-15 on MNIST 0/1 in float64); a test pins the two together.
    """
    s = 2.0 * y.to(w.dtype) - 1.0
    return s * (x.flatten(1).to(w.dtype) @ w + b) / w.norm()


@dataclass
class Trajectory:
    """What :func:`logistic_gd` recorded. Arrays are indexed like ``epochs`` (the recorded epochs)."""

    epochs: np.ndarray
    loss: np.ndarray
    train_error: np.ndarray
    test_error: np.ndarray
    min_margin_train: np.ndarray
    avg_margin_train: np.ndarray
    min_margin_test: np.ndarray
    avg_margin_test: np.ndarray
    histograms: dict[int, dict[str, np.ndarray]]
    weight: torch.Tensor
    bias: torch.Tensor


def log_epochs(epochs: int, *, points: int = 200) -> np.ndarray:
    """About ``points`` distinct epochs from 1 to ``epochs``, evenly spaced in log scale (for log-x plots)."""
    return np.unique(np.round(np.logspace(0, np.log10(epochs), points)).astype(int))


def _start(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor,
           dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
    """What both trainers start from: flattened inputs, the +/-1 labels of the training points, zero weights and
    bias."""
    xtr, xte = x_train.flatten(1).to(dtype), x_test.flatten(1).to(dtype)
    return xtr, xte, 2.0 * y_train.to(dtype) - 1.0, torch.zeros(xtr.shape[1], dtype=dtype), torch.zeros((), dtype=dtype)


def logistic_gd(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    record_epochs: Iterable[int],
    histogram_epochs: Collection[int] = (),
    dtype: torch.dtype = torch.float64,
    record_scales: tuple[str, ...] = (),
) -> Trajectory:
    """Train ``z = w·x + b`` by full-batch gradient descent on the mean logistic loss, from ``w = 0, b = 0``.

    One epoch is one gradient step on all training points (paper 000 §3 / Soudry et al.: gradient descent
    with a small constant step). At each epoch in ``record_epochs`` (1-based, measured *after* that many
    steps) it records the loss, train/test error, and the minimum and average exact signed margin on
    train and test; full margin arrays are kept at ``histogram_epochs``. The recording's time is counted as
    :func:`marginlib.cost.work` of ``record_scales`` (the parameters it scales with; the training steps around it
    are the caller's block).
    """
    validate.positive("epochs", epochs)
    validate.positive("lr", lr)
    _check_binary(y_train, y_test)
    xtr, xte, s_tr, w, b = _start(x_train, y_train, x_test, dtype)
    n = xtr.shape[0]
    rec = _Recorder(xtr, y_train, xte, y_test, record_epochs, histogram_epochs, record_scales)
    for epoch in range(1, epochs + 1):
        sz = s_tr * (xtr @ w + b)
        # d/dz of log(1 + exp(-s z)) = -s * sigmoid(-s z)
        g = -s_tr * torch.sigmoid(-sz) / n
        w = w - lr * (xtr.T @ g)
        b = b - lr * g.sum()
        rec(epoch, w, b)
    return rec.trajectory(w, b)


def logistic_sgd(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    momentum: float = 0.0,
    seed: int = 0,
    record_epochs: Iterable[int],
    histogram_epochs: Collection[int] = (),
    dtype: torch.dtype = torch.float64,
    record_scales: tuple[str, ...] = (),
) -> Trajectory:
    """Train ``z = w·x + b`` by minibatch SGD on the mean logistic loss of each batch, from ``w = 0, b = 0``: paper
    000 App. A's protocol for its logistic-regression models (SGD, learning rate ``lr``, Nesterov momentum
    ``momentum``, batch ``batch_size``; 1,000 epochs there).

    One epoch is one pass over a random permutation of the training points (drawn from a generator seeded with
    ``seed``), in batches of ``batch_size`` (the last one smaller when ``batch_size`` does not divide ``n``).
    Momentum is PyTorch's Nesterov form: ``v <- momentum v + g``, step ``lr (g + momentum v)`` (``momentum = 0``:
    plain SGD). Records exactly as :func:`logistic_gd` (``record_scales`` too), after the last batch of each epoch
    in ``record_epochs``.
    """
    validate.positive("epochs", epochs)
    validate.positive("lr", lr)
    validate.positive("batch_size", batch_size)
    validate.nonnegative("momentum", momentum)
    _check_binary(y_train, y_test)
    xtr, xte, s_tr, w, b = _start(x_train, y_train, x_test, dtype)
    n = xtr.shape[0]
    vw, vb = torch.zeros_like(w), torch.zeros_like(b)
    gen = torch.Generator().manual_seed(seed)
    rec = _Recorder(xtr, y_train, xte, y_test, record_epochs, histogram_epochs, record_scales)
    for epoch in range(1, epochs + 1):
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            xb, sb = xtr[idx], s_tr[idx]
            g = -sb * torch.sigmoid(-sb * (xb @ w + b)) / len(idx)
            gw, gb = xb.T @ g, g.sum()
            vw, vb = momentum * vw + gw, momentum * vb + gb
            w = w - lr * (gw + momentum * vw)
            b = b - lr * (gb + momentum * vb)
        rec(epoch, w, b)
    return rec.trajectory(w, b)


def _check_binary(y_train: torch.Tensor, y_test: torch.Tensor) -> None:
    for name, y in (("y_train", y_train), ("y_test", y_test)):
        if not set(torch.unique(y).tolist()) <= {0, 1}:
            raise ValueError(f"{name} must hold binary labels 0/1")


class _Recorder:
    """What :func:`logistic_gd` and :func:`logistic_sgd` record after an epoch: loss, train/test error and the
    minimum and average exact signed margins at ``record_epochs``; the margin arrays at ``histogram_epochs``."""

    def __init__(self, xtr: torch.Tensor, ytr: torch.Tensor, xte: torch.Tensor, yte: torch.Tensor,
                 record_epochs: Iterable[int], histogram_epochs: Collection[int], scales: tuple[str, ...] = ()):
        self.xtr, self.ytr, self.xte, self.yte = xtr, ytr, xte, yte
        self.scales = scales
        self.histogram_epochs = histogram_epochs
        self.record = set(int(e) for e in record_epochs) | set(int(e) for e in histogram_epochs)
        self.rows: list[tuple[float, ...]] = []
        self.hist: dict[int, dict[str, np.ndarray]] = {}

    def __call__(self, epoch: int, w: torch.Tensor, b: torch.Tensor) -> None:
        if epoch not in self.record:
            return
        with cost.work(*self.scales):
            self._measure(epoch, w, b)

    def _measure(self, epoch: int, w: torch.Tensor, b: torch.Tensor) -> None:
        m_tr, m_te = signed_margins(w, b, self.xtr, self.ytr), signed_margins(w, b, self.xte, self.yte)
        loss = torch.nn.functional.softplus(-m_tr * w.norm()).mean()
        self.rows.append((epoch, float(loss), float((m_tr <= 0).double().mean()), float((m_te <= 0).double().mean()),
                          float(m_tr.min()), float(m_tr.mean()), float(m_te.min()), float(m_te.mean())))
        if epoch in self.histogram_epochs:
            self.hist[epoch] = {"train": m_tr.numpy().copy(), "test": m_te.numpy().copy()}

    def trajectory(self, w: torch.Tensor, b: torch.Tensor) -> Trajectory:
        cols = np.array(self.rows, dtype=float).T if self.rows else np.zeros((8, 0))
        epochs_at, losses, train_error, test_error, min_train, avg_train, min_test, avg_test = cols
        return Trajectory(epochs_at.astype(int), losses, train_error, test_error, min_train, avg_train, min_test,
                          avg_test, histograms=self.hist, weight=w, bias=b)


@dataclass
class SVM:
    """A fitted linear SVM: weight, bias, and its exact signed margins on the training points.
    ``penalize_bias`` records which SVM it is (see :func:`hard_margin_svm`)."""

    weight: torch.Tensor
    bias: float
    train_margins: torch.Tensor
    penalize_bias: bool = False

    @property
    def min_margin(self) -> float:
        return float(self.train_margins.min())


def _augmented_max_margin(z: np.ndarray, s: np.ndarray) -> np.ndarray:
    """The minimum-norm ``v`` with ``s_i v·z_i >= 1`` for all ``i`` (hard-margin SVM through the origin), by
    Lawson & Hanson's least-distance programming: with ``E = [G^T; 1^T]`` (``G`` the rows ``s_i z_i``) and
    ``f = (0, ..., 0, 1)``, solve the nonnegative least squares ``min_{u >= 0} ||E u - f||`` (exact active-set
    NNLS); then ``v = -r[:d] / r[d]`` with ``r = E u - f``. ``r = 0`` means the constraints are infeasible."""
    from scipy.optimize import nnls

    g = s[:, None] * z
    e = np.vstack([g.T, np.ones((1, len(g)))])
    f = np.zeros(e.shape[0])
    f[-1] = 1.0
    u, _ = nnls(e, f, maxiter=50 * e.shape[1])
    r = e @ u - f
    if abs(r[-1]) < 1e-12:
        raise ValueError("the points are not linearly separable through the origin: no hard-margin SVM")
    return -r[:-1] / r[-1]


def hard_margin_svm(x: torch.Tensor, y: torch.Tensor, *, C: float = 1e6, penalize_bias: bool = False) -> SVM:
    """A hard-margin linear SVM of binary labels ``y`` in {0, 1}. Two different SVMs:

    ``penalize_bias=False`` (default): the classical SVM with a *free* intercept, ``min ||w||^2`` subject to
    ``s_i (w·x_i + b) >= 1`` (scikit-learn's ``SVC(kernel="linear")`` with a large ``C``, hard margin in the
    limit). On separable data its minimum signed L2 margin is the largest any linear classifier attains.

    ``penalize_bias=True``: the max-margin separator of the *augmented* points ``(x_i, 1)``, ``min ||w||^2 + b^2``
    subject to the same constraints, solved exactly as a small QP (no ``C``). This is the direction to which
    gradient descent on the logistic loss converges when the bias is trained as one more weight, as
    :func:`logistic_gd` does (Soudry et al. 2018, Theorem 1 of paper 000, applied to ``(x, 1)``). Its minimum
    margin in input space, ``s (w·x + b) / ||w||``, is at most the free-intercept SVM's, and lower whenever the
    free SVM's bias is not the one the norm penalty prefers.
    """
    xf = x.flatten(1).double()
    if not set(torch.unique(y).tolist()) <= {0, 1}:
        raise ValueError("y must hold binary labels 0/1")
    if penalize_bias:
        z = np.hstack([xf.numpy(), np.ones((xf.shape[0], 1))])
        v = _augmented_max_margin(z, 2.0 * y.double().numpy() - 1.0)
        w = torch.tensor(v[:-1], dtype=torch.float64)
        b = float(v[-1])
        return SVM(w, b, signed_margins(w, b, xf, y), penalize_bias=True)
    from sklearn.svm import SVC

    validate.positive("C", C)
    svc = SVC(kernel="linear", C=C, tol=1e-6).fit(xf.numpy(), y.numpy())
    w = torch.tensor(svc.coef_[0], dtype=torch.float64)
    b = float(svc.intercept_[0])
    return SVM(w, b, signed_margins(w, b, xf, y))
