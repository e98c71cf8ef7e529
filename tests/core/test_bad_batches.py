"""Batches that are not data: NaN or infinite inputs are refused with a clear error before any work, and an empty
batch gives empty results of the right shape, for every attack and margin (issue 18, items 3 and 12)."""
from __future__ import annotations

import pytest
import torch

from marginlib import attacks, margins, models

MODEL = models.build("mlp", hidden=(8,), input_size=4, seed=0).eval()
LINEAR = models.build("logreg", input_size=4, seed=0).eval()
_gen = lambda: torch.Generator().manual_seed(0)
CALLS = {
    "pgd": lambda x, y: attacks.pgd(MODEL, x, y, eps=0.1, step_size=0.05, steps=2),
    "pgd random start": lambda x, y: attacks.pgd(MODEL, x, y, eps=0.1, step_size=0.05, steps=2, random_start=True,
                                                 generator=_gen()),
    "fgsm": lambda x, y: attacks.fgsm(MODEL, x, y, eps=0.1),
    "an_pgd": lambda x, y: attacks.an_pgd(MODEL, x, y, eps_init=0.1, eps_max=0.3, steps=2, norm="linf",
                                          generator=_gen())[0],
    "deepfool": lambda x, y: attacks.deepfool(MODEL, x),
    "exact_linear": lambda x, y: margins.exact_linear(LINEAR, x, y),
    "effective": lambda x, y: margins.effective(MODEL, x, y),
    "logit": lambda x, y: margins.logit(MODEL, x, y),
    "deepfool_margin": lambda x, y: margins.deepfool_margin(MODEL, x, y),
    "lipschitz_lower_bound": lambda x, y: margins.lipschitz_lower_bound(MODEL, x, y, radius=1.0, n_samples=4,
                                                                        n_batches=1, generator=_gen()),
    "attack_margin": lambda x, y: margins.attack_margin(MODEL, x, y, eps_max=0.3, steps=2),
}


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_refused(name, bad):
    x = torch.rand(3, 1, 4, 4, generator=_gen())
    x[1, 0, 2, 2] = bad
    with pytest.raises(ValueError, match="x must be finite: 1 of its 48 entries"):
        CALLS[name](x, torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("name", sorted(CALLS))
def test_an_empty_batch_gives_empty_results(name):
    out = CALLS[name](torch.rand(0, 1, 4, 4), torch.zeros(0, dtype=torch.long))
    assert out.shape[0] == 0 and out.shape in {(0,), (0, 1, 4, 4)}


def test_attacks_refuse_one_logit_models_and_labels_out_of_range(generator):
    """pgd on a one-logit model was a silent no-op; out-of-range labels gave torch internals' errors (item 14)."""
    one = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 1))
    x = torch.rand(3, 1, 2, 2, generator=generator)
    y = torch.tensor([0, 1, 1])
    with pytest.raises(ValueError, match=r"logits of shape \(3, 1\).*TwoLogits"):
        attacks.pgd(one, x, y, eps=0.1, step_size=0.05, steps=2)
    x_adv = attacks.pgd(margins.TwoLogits(one), x, y, eps=0.1, step_size=0.05, steps=2, norm="l2")
    assert x_adv.shape == x.shape
    three = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    with pytest.raises(ValueError, match=r"labels range over 0..7, outside the model's classes 0..2"):
        attacks.fgsm(three, x, torch.tensor([0, 7, 1]), eps=0.1)


def test_attacks_name_a_dtype_mismatch_between_inputs_and_model(generator):
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))          # float32
    x = torch.rand(3, 1, 2, 2, generator=generator, dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    for attack in (lambda: attacks.pgd(model, x, y, eps=0.1, step_size=0.05, steps=2),
                   lambda: attacks.fgsm(model, x, y, eps=0.1),
                   lambda: attacks.deepfool(model, x, steps=2),
                   lambda: attacks.an_pgd(model, x, y, eps_init=0.1, eps_max=0.3, steps=2, norm="l2")):
        with pytest.raises(ValueError, match=r"x is torch.float64 but the model's parameters are torch.float32"):
            attack()
