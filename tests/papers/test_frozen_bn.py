"""Frozen batch norm for AMM fine-tuning (paper 003 §4.4.2): fixed statistics and affine map inside the context,
ordinary batch norms again outside."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from marginlib import methods, models, train
from marginlib.papers.p003_amm.frozen_bn import FrozenBatchNorm2d, frozen_batchnorm


def _x(n: int, c: int = 3, side: int = 32, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed))


def _with_running_stats(name: str, **kw) -> nn.Module:
    """A model whose batch norms hold non-trivial running statistics (a few train-mode forwards)."""
    model = models.build(name, seed=0, **kw)
    with torch.no_grad():
        for s in range(3):
            model(_x(16, seed=10 + s) * 0.5 + 0.25 * s)
    return model


def _bn_params(model: nn.Module) -> list[torch.Tensor]:
    return [t for m in model.modules() if isinstance(m, nn.BatchNorm2d)
            for t in (m.weight, m.bias, m.running_mean, m.running_var)]


@pytest.mark.parametrize("name,kw", [("resnet20", {}), ("densenet", {"depth": 10, "growth": 4})])
def test_frozen_batchnorm_keeps_statistics_and_affine_fixed_through_training(name, kw):
    model = _with_running_stats(name, **kw)
    x, y = _x(20, seed=1), torch.arange(20) % 10
    d = SimpleNamespace(x=x, y=y)
    before = [t.clone() for t in _bn_params(model)]
    others = {n: p.clone() for n, p in model.named_parameters()}
    with frozen_batchnorm(model):
        assert all(type(m) is FrozenBatchNorm2d for m in model.modules() if isinstance(m, nn.BatchNorm2d))
        # in train mode too, a sample's output does not depend on its batch
        model.train()
        torch.testing.assert_close(model(x[:1]), model(x)[:1], rtol=1e-5, atol=1e-6)
        train.fit(model, methods.build("standard"), d, epochs=1, batch_size=10, lr=0.1, progress=False,
                  eval_train=False, device="cpu")
    after = _bn_params(model)
    assert all(torch.equal(a, b) for a, b in zip(before, after))
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, others[n])]
    assert changed  # the convolutions and the classifier did train
    # on exit the layers are ordinary batch norms again, trainable, and a train-mode forward moves their statistics
    assert all(type(m) is nn.BatchNorm2d for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(p.requires_grad for p in model.parameters())
    model.train()
    with torch.no_grad():
        model(x)
    assert not all(torch.equal(a, b) for a, b in zip(before, _bn_params(model)))


def test_unfrozen_training_step_moves_the_batchnorm_statistics():
    """Control for the test above: the same step without the context changes running stats and BN affine."""
    model = _with_running_stats("resnet20")
    before = [t.clone() for t in _bn_params(model)]
    d = SimpleNamespace(x=_x(20, seed=1), y=torch.arange(20) % 10)
    train.fit(model, methods.build("standard"), d, epochs=1, batch_size=10, lr=0.1, progress=False,
              eval_train=False, device="cpu")
    after = _bn_params(model)
    assert not torch.equal(before[2], after[2])  # running mean of the first BN
    assert not torch.equal(before[0], after[0])  # its scale


def test_frozen_model_computes_the_eval_mode_function():
    model = _with_running_stats("densenet", depth=10, growth=4)
    x = _x(4, seed=3)
    with torch.no_grad():
        reference = model.eval()(x)
        with frozen_batchnorm(model):
            frozen = model.train()(x)
    torch.testing.assert_close(frozen, reference)
