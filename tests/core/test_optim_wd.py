"""The weight-decay convention of marginlib.optim.sgd: PyTorch's lam / 2 ||theta||^2, or lam ||theta||^2 (paper 002 §3)."""
import pytest
import torch
from torch import nn

from marginlib.optim import pytorch_weight_decay, sgd


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([0.5, -2.0, 3.0]))


def _loss(theta):
    return (theta[0] - 1.0) ** 2 + theta[1] * theta[2]


@pytest.mark.parametrize("form,factor", [("full", 1.0), ("half", 0.5)])
def test_sgd_step_is_the_gradient_of_the_stated_penalty(form, factor):
    """One SGD step (no momentum) with weight_decay=lam equals theta - lr * grad(loss + factor * lam * ||theta||^2):
    factor 1 for wd_form="full" (paper 002 §3's lambda_WD), 1/2 for "half" (PyTorch's weight_decay)."""
    lam, lr = 0.3, 0.1
    model = _Tiny()
    theta0 = model.theta.detach().clone()
    opt = sgd(model, lr=lr, momentum=0.0, weight_decay=lam, wd_form=form)
    opt.zero_grad()
    _loss(model.theta).backward()
    opt.step()
    t = theta0.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_loss(t) + factor * lam * (t ** 2).sum(), t)
    torch.testing.assert_close(model.theta.detach(), theta0 - lr * grad)
    # closed form of the decay part: 2 lam theta ("full") or lam theta ("half")
    loss_grad = torch.tensor([2 * (theta0[0] - 1.0), theta0[2], theta0[1]])
    torch.testing.assert_close(model.theta.detach(), theta0 - lr * (loss_grad + 2 * factor * lam * theta0))


def test_pytorch_weight_decay_conversion_and_validation():
    assert pytorch_weight_decay(1e-3) == 1e-3
    assert pytorch_weight_decay(1e-3, form="full") == 2e-3
    opt = sgd(_Tiny(), lr=0.1, weight_decay=5e-4, wd_form="full")
    assert opt.param_groups[0]["weight_decay"] == pytest.approx(1e-3)
    assert sgd(_Tiny(), lr=0.1, weight_decay=5e-4).param_groups[0]["weight_decay"] == 5e-4
    with pytest.raises(ValueError, match="wd_form"):
        sgd(_Tiny(), lr=0.1, weight_decay=1e-3, wd_form="l2")
    with pytest.raises(ValueError, match="weight_decay"):
        pytorch_weight_decay(-1.0, form="full")
