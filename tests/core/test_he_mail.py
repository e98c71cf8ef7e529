"""Hypersphere embedding (Pang et al. 2020) and MAIL (Wang et al. 2021), paper 002's Table 3 baselines."""
import math

import pytest
import torch
from torch.nn import functional as F

from marginlib import methods, models, train
from marginlib.methods.he import HE, HEHead, he_cross_entropy, hypersphere
from marginlib.methods.mail import MAIL, mail_weights, probabilistic_margin


def _mlp(seed: int = 0):
    return models.build("mlp", hidden=(32,), in_channels=1, input_size=6, seed=seed)


def _blobs(n: int = 120, seed: int = 0):
    """Three separable classes in [0, 1]^(1x6x6): each class brightens its own band of pixels."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.3 * torch.rand(n, 1, 6, 6, generator=g)
    for k in range(3):
        x[y == k, :, 2 * k:2 * k + 2, :] += 0.6
    return x.clamp(0, 1), y


class _Data:
    def __init__(self, x, y):
        self.x, self.y = x, y


def test_he_head_logits_are_scaled_cosines_bounded_by_s():
    model = hypersphere(_mlp(), scale=15.0)
    x, _ = _blobs(20)
    logits = model(x)
    assert isinstance(model.classifier, HEHead)
    assert logits.abs().max() <= 15.0 + 1e-5
    f = model.features(x)
    manual = 15.0 * (f / f.norm(dim=1, keepdim=True)) @ (model.classifier.weight / model.classifier.weight.norm(dim=1, keepdim=True)).T
    torch.testing.assert_close(logits, manual)
    # weight normalization: rescaling a class row or the features changes nothing
    with torch.no_grad():
        model.classifier.weight[1] *= 7.0
    torch.testing.assert_close(model(x), logits)
    torch.testing.assert_close(model.classifier(3.0 * f), logits)


def test_hypersphere_keeps_the_class_directions_and_rejects_other_models():
    model = _mlp(1)
    w = model.classifier.weight.detach().clone()
    hypersphere(model, scale=2.0)
    torch.testing.assert_close(model.classifier.weight.detach(), w)
    assert model.classifier.scale == 2.0
    with pytest.raises(ValueError, match="HEHead|nn.Linear"):
        hypersphere(torch.nn.Linear(3, 2))


def test_margin_lowers_the_true_logit_by_exactly_s_m():
    logits = torch.tensor([[3.0, 1.0, -2.0], [0.5, 0.5, 4.0]])
    y = torch.tensor([0, 2])
    s, m = 15.0, 0.2
    loss = he_cross_entropy(logits, y, scale=s, margin=m)
    rows = [[3.0 - s * m, 1.0, -2.0], [0.5, 0.5, 4.0 - s * m]]          # true logit lowered by s * m
    expected = -sum(math.log(math.exp(r[t]) / sum(math.exp(v) for v in r)) for r, t in zip(rows, (0, 2))) / 2
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert he_cross_entropy(logits, y, scale=s, margin=0.0).item() == pytest.approx(F.cross_entropy(logits, y).item())


def test_he_needs_an_he_head_and_a_supported_base():
    x, y = _blobs(8)
    method = HE(base=methods.build("pgd_at", eps=0.1, steps=2))
    method.setup(device="cpu", seed=0)
    with pytest.raises(ValueError, match="HEHead"):
        method.loss(_mlp(), x, y)
    with pytest.raises(ValueError, match="pgd_at, fgsm_at or trades"):
        HE(base=methods.build("standard"))


def _cos_gap(model, x, y):
    cos = model.classifier.cosines(model.features(x))
    other = cos.scatter(1, y[:, None], -2.0).amax(1)
    return (cos.gather(1, y[:, None]).squeeze(1) - other).mean().item()


@pytest.mark.parametrize("base", ["pgd_at", "trades"])
def test_he_margin_widens_the_angular_gap(base):
    """Training with margin m pushes the true-class cosine further above the others than m = 0 does."""
    x, y = _blobs()
    gaps = {}
    for m in (0.0, 0.5):
        model = hypersphere(_mlp(2), scale=5.0)
        adversary = methods.build(base, eps=0.02, steps=2)
        train.fit(model, HE(base=adversary, margin=m), _Data(x, y), epochs=15, batch_size=40, lr=0.1,
                  eval_train=False, progress=False, seed=0)
        gaps[m] = _cos_gap(model, x, y)
    assert gaps[0.5] > gaps[0.0] + 0.05


def test_probabilistic_margin_known_values():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.2], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]))
    pm = probabilistic_margin(logits, torch.tensor([0, 2, 2]))
    torch.testing.assert_close(pm, torch.tensor([0.2, -0.3, 0.7]))


def test_mail_weights_normalize_to_mean_one_and_fall_with_the_margin():
    pm = torch.tensor([-0.8, -0.1, 0.05, 0.3, 0.9])
    w = mail_weights(pm, slope=30.0, bias=0.07)
    assert w.mean().item() == pytest.approx(1.0)
    assert bool((w[1:] < w[:-1]).all())
    raw = torch.sigmoid(-30.0 * (pm - 0.07))
    torch.testing.assert_close(w, raw * len(pm) / raw.sum())
    torch.testing.assert_close(mail_weights(pm, slope=0.0, bias=0.07), torch.ones(5))


@pytest.mark.parametrize("objective,plain", [("at", "pgd_at"), ("trades", "trades")])
def test_mail_with_zero_slope_is_its_unweighted_objective(objective, plain):
    x, y = _blobs(16)
    model = _mlp(3)
    mail = MAIL(eps=0.05, objective=objective, slope=0.0, steps=3, beta=6.0)
    ref = methods.build(plain, eps=0.05, steps=3, **({"beta": 6.0} if plain == "trades" else {}))
    mail.setup(device="cpu", seed=5)
    ref.setup(device="cpu", seed=5)
    torch.testing.assert_close(mail.loss(model, x, y)[0], ref.loss(model, x, y)[0])


def test_mail_burn_in_then_reweighting():
    x, y = _blobs(16)
    model = _mlp(4)
    mail = MAIL(eps=0.05, burn_in=2)
    mail.setup(device="cpu", seed=0)
    logits = model(x)
    torch.testing.assert_close(mail.weights(logits, y), torch.ones(16))
    mail.after_epoch(model, 2)
    w = mail.weights(logits, y)
    torch.testing.assert_close(w, mail_weights(probabilistic_margin(logits, y), slope=30.0, bias=0.07))
    assert mail.state_dict()["epochs_done"] == 2
    with pytest.raises(ValueError, match="objective"):
        MAIL(eps=0.1, objective="mart")


def test_mail_step_favours_the_least_safe_point():
    """One SGD step of MAIL-AT lowers the loss of the batch's one misclassified point more than AT's step does, and
    that of the safe points less (eps = 0 isolates the reweighting from the attack)."""
    x, y = _blobs(30)
    y = y.clone()
    y[0] = 1                                        # a class-0 image labelled 1: the one point with PM < 0
    after = {}
    for name, method in {"at": methods.build("pgd_at", eps=0.0, steps=1), "mail": MAIL(eps=0.0, steps=1)}.items():
        model = _mlp(5)
        method.setup(device="cpu", seed=0)
        before = F.cross_entropy(model(x), y, reduction="none").detach()
        assert probabilistic_margin(model(x), y)[0] == probabilistic_margin(model(x), y).min()
        loss, _ = method.loss(model, x, y)
        grads = torch.autograd.grad(loss, list(model.parameters()))
        with torch.no_grad():
            for p, g in zip(model.parameters(), grads):
                p -= 0.5 * g
        after[name] = before - F.cross_entropy(model(x), y, reduction="none").detach()
    assert after["mail"][0] > after["at"][0] > 0
    assert after["mail"][1:].mean() < after["at"][1:].mean()


@pytest.mark.parametrize("base", ["mail", "mart"])
def test_emr_composes_with_mail_and_mart(base):
    x, y = _blobs(30)
    inner = MAIL(eps=0.05, steps=2, burn_in=1) if base == "mail" else methods.build("mart", eps=0.05, steps=2)
    method = methods.build("emr", weight=0.1, mode="approx", temperature=1.0, base=inner)
    history = train.fit(_mlp(6), method, _Data(x, y), epochs=2, batch_size=15, lr=0.05, eval_train=False,
                        progress=False)
    assert "emr" in history.rows[-1]
    if base == "mail":
        assert inner.epochs_done == 2


def _released_weight_assign(logits, y, *, bias, slope):
    """The weighting of paper 002's release (``mail_loss_v2.weight_assign``), rewritten here for comparison:
    PM = (second-best probability) - (true probability), weight = 3 sigmoid(slope (PM + bias))."""
    p = logits.softmax(1)
    true = p.gather(1, y[:, None]).squeeze(1)
    other = p.scatter(1, y[:, None], -1.0).amax(1)
    return 3.0 * torch.sigmoid(slope * ((other - true) + bias))


def test_mail_default_bias_is_the_papers_text_and_the_release_is_named():
    """Paper 002, App. A: AT-MAIL slope 30, bias 0.07; TRADES-MAIL slope 5, bias 0.05. The release: AT bias -0.07."""
    from marginlib.methods.mail import DEFAULTS, RELEASED

    assert DEFAULTS == {"at": (30.0, 0.07), "trades": (5.0, 0.05)}
    assert RELEASED == {"at": (30.0, -0.07), "trades": (5.0, 0.05)}
    at, trades = MAIL(eps=0.1), MAIL(eps=0.1, objective="trades")
    assert (at.slope, at.bias, at.normalize, at.burn_in_objective) == (30.0, 0.07, "mean", "base")
    assert (trades.slope, trades.bias) == (5.0, 0.05)


@pytest.mark.parametrize("bias", [0.07, -0.07])
def test_mail_weight_at_zero_margin_is_the_closed_form(bias):
    """At PM = 0 the unnormalized weight is sigmoid(-gamma (0 - beta)) = sigmoid(gamma beta): 0.891 for the text's
    +0.07, 0.109 for the release's -0.07 (gamma = 30); times 3 with normalize="times3"."""
    logits = torch.tensor([[2.0, 2.0, -1.0], [0.3, 1.0, 1.0], [3.0, 0.0, -1.0]])
    y = torch.tensor([1, 2, 0])                          # rows 0 and 1: the true class ties the best other, PM = 0
    pm = probabilistic_margin(logits, y)
    assert pm[0].item() == 0.0 and pm[1].item() == 0.0 and pm[2].item() > 0.5
    closed = 1.0 / (1.0 + math.exp(-30.0 * bias))
    method = MAIL(eps=0.1, bias=bias, normalize="times3")
    w = method.weights(logits, y)
    assert w[0].item() == pytest.approx(3 * closed, rel=1e-6) and w[1].item() == pytest.approx(3 * closed, rel=1e-6)
    mean = MAIL(eps=0.1, bias=bias).weights(logits, y)   # mean-1 normalization keeps the ratios
    assert mean.mean().item() == pytest.approx(1.0)
    torch.testing.assert_close(mean, w * (3 / w.sum()))


def test_mail_release_option_reproduces_its_weights():
    """bias=RELEASED['at'] with normalize='times3' gives the release's AT-MAIL weights: 3 sigmoid(-2.1) = 0.33 at PM = 0,
    and on random logits the release's formula (its PM has the opposite sign) exactly; the text's bias gives 0.89
    before normalization."""
    from marginlib.methods.mail import RELEASED

    slope, bias = RELEASED["at"]
    released = MAIL(eps=0.1, bias=bias, normalize="times3")
    tie = torch.tensor([[1.0, 1.0, 0.0]])
    assert released.weights(tie, torch.tensor([0])).item() == pytest.approx(3 / (1 + math.exp(2.1)), rel=1e-6)
    assert round(released.weights(tie, torch.tensor([0])).item(), 2) == 0.33
    text = mail_weights(torch.zeros(1), slope=30.0, bias=0.07, normalize="times3").item() / 3
    assert round(text, 2) == 0.89
    g = torch.Generator().manual_seed(0)
    logits, y = 3 * torch.randn(64, 10, generator=g), torch.randint(0, 10, (64,), generator=g)
    torch.testing.assert_close(released.weights(logits, y), _released_weight_assign(logits, y, bias=bias, slope=slope))
    trades = MAIL(eps=0.1, objective="trades", normalize="times3")   # TRADES-MAIL: text and release agree
    torch.testing.assert_close(trades.weights(logits, y), _released_weight_assign(logits, y, bias=0.05, slope=5.0))


def test_mail_rejects_bad_bias_normalize_and_burn_in_objective():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="bias"):
            MAIL(eps=0.1, bias=bad)
    with pytest.raises(ValueError, match="slope"):
        MAIL(eps=0.1, slope=float("inf"))
    with pytest.raises(ValueError, match="normalize"):
        MAIL(eps=0.1, normalize="sum")
    with pytest.raises(ValueError, match="normalize"):
        mail_weights(torch.zeros(2), slope=1.0, bias=0.0, normalize="none")
    with pytest.raises(ValueError, match="burn_in_objective"):
        MAIL(eps=0.1, burn_in_objective="trades")
    with pytest.raises(ValueError, match="burn_in"):
        MAIL(eps=0.1, burn_in=True)


def test_mail_trades_released_burn_in_is_plain_pgd_at():
    """burn_in_objective='at': MAIL-TRADES trains plain PGD-AT (uniform start) during the burn-in, as the release does
    for epochs 1-74; afterwards it is MAIL-TRADES. The default burn-in trains plain TRADES."""
    x, y = _blobs(16)
    model = _mlp(7)
    mail = MAIL(eps=0.05, objective="trades", steps=3, burn_in=2, burn_in_objective="at")
    at = methods.build("pgd_at", eps=0.05, steps=3)
    trades = methods.build("trades", eps=0.05, steps=3, beta=5.0)
    default = MAIL(eps=0.05, objective="trades", steps=3, burn_in=2)
    for m in (mail, at, trades, default):
        m.setup(device="cpu", seed=3)
    torch.testing.assert_close(mail.loss(model, x, y)[0], at.loss(model, x, y)[0])
    torch.testing.assert_close(default.loss(model, x, y)[0], trades.loss(model, x, y)[0])
    mail.after_epoch(model, 2)
    after = MAIL(eps=0.05, objective="trades", steps=3)
    mail.setup(device="cpu", seed=4)
    after.setup(device="cpu", seed=4)
    torch.testing.assert_close(mail.loss(model, x, y)[0], after.loss(model, x, y)[0])
