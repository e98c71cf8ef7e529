"""L-Softmax trains and evaluates the same bias-free layer (Liu et al.'s layer has no bias)."""
import pytest
import torch
from torch.nn import functional as F

from marginlib import methods, models, train
from marginlib.methods.lsoftmax_annealed import AnnealedLSoftmax
from marginlib.methods.on_adversary import OnAdversary


class _Data:
    def __init__(self, x, y):
        self.x, self.y = x, y


def _setup(seed=0):
    model = models.build("mlp", hidden=(16,), in_channels=1, input_size=6, seed=seed)
    g = torch.Generator().manual_seed(seed)
    x, y = torch.rand(40, 1, 6, 6, generator=g), torch.arange(40) % 10
    return model, x, y


@pytest.mark.parametrize("lam", [0.0, 5.0])
def test_lsoftmax_margin_one_trains_on_the_logits_model_gives(lam):
    """At m = 1 the L-Softmax loss is the cross-entropy of model(x), the function evaluated later (the
    classifier's nonzero initial bias is removed, not silently kept for evaluation only)."""
    model, x, y = _setup()
    assert model.classifier.bias.abs().max() > 0
    method = methods.build("lsoftmax", margin=1, lam=lam)
    loss, _ = method.loss(model, x, y)
    torch.testing.assert_close(loss, F.cross_entropy(model(x), y))
    logits = methods.lsoftmax_logits(model.features(x), model.classifier.weight, y, margin=1, lam=lam)
    torch.testing.assert_close(logits, model(x))


@pytest.mark.parametrize("make", [lambda: methods.build("lsoftmax", margin=4, lam=2.0),
                                  lambda: AnnealedLSoftmax(margin=4, base=10.0),
                                  lambda: OnAdversary(attack=methods.build("pgd_at", eps=0.05, steps=2),
                                                      inner=methods.build("lsoftmax", margin=2, lam=1.0))])
def test_lsoftmax_bias_stays_zero_through_training_with_weight_decay(make):
    model, x, y = _setup(1)
    train.fit(model, make(), _Data(x, y), epochs=2, batch_size=20, lr=0.1, weight_decay=0.01, eval_train=False,
              progress=False, seed=0)
    assert model.classifier.bias.abs().max().item() == 0.0
    # the trained model's logits are the bias-free inner products L-Softmax's non-target logits use
    torch.testing.assert_close(model(x), model.features(x) @ model.classifier.weight.T)
