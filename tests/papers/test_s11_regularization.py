"""Section 11 (paper 004, AR as a regularizer): Params checks, the smoke experiment run directly, figures redrawn
from the returned data, and the claims on hand-made results with known trends."""
from __future__ import annotations

import dataclasses
import json
import re

import pytest
import torch
from matplotlib import pyplot as plt
from matplotlib.figure import Figure

from marginlib import data, evaluate
from marginlib.book import params
from marginlib.book.results import PROFILES, jsonable
from marginlib.papers.p004_ar import s11_regularization as s11

from sections import checked_headline, preset_params

STEM = s11.NOTEBOOK


def preset(profile: str, **overrides: object) -> s11.Params:
    return preset_params(s11, profile, **overrides)


@pytest.fixture(scope="module")
def smoke() -> tuple[s11.Params, data.Dataset, data.Dataset, s11.StrengthRuns, s11.SpectralCross]:
    p = preset("smoke")
    torch.set_num_threads(1)
    train_data, test_data = s11.load_data(p)
    runs = s11.train_strengths(p, train_data, test_data)
    cross = s11.train_spectral_cross(p, runs, train_data, test_data)
    return p, train_data, test_data, runs, cross


# ------------------------------------------------------------------------------------------------------- Params


@pytest.mark.parametrize("profile", PROFILES)
def test_spectral_cross_runs_at_every_profile_on_trained_strengths(profile):
    p = preset(profile)
    assert p.sn_targets and all(t > 0 for t in p.sn_targets)
    assert len(p.cross_strengths) >= 2 and set(p.cross_strengths) <= set(p.strengths)


def test_spectral_cross_at_paper_uses_the_papers_targets_and_ar_strengths():
    p = preset("paper")
    assert p.cross_targets == (5.0, 3.0, 1.0)
    assert p.cross_strengths == pytest.approx((4 / 255, 8 / 255, 16 / 255))


@pytest.mark.parametrize(("overrides", "names"), [
    ({"sn_strengths": (0.1, 0.3)}, "sn_strengths"),
    ({"sn_strengths": (0.1,)}, "sn_strengths"),
    ({"sn_strengths": (0.1, 0.1)}, "sn_strengths"),
    ({"sn_targets": ()}, "sn_targets"),
    ({"sn_targets": (1.0, -1.0)}, "sn_targets"),
    ({"strengths": (0.0, 0.2), "sn_strengths": (0.0, 0.2)}, "strengths"),
    ({"strengths": (0.0, 0.2, 0.1)}, "strengths"),
    ({"strengths": (-0.1, 0.1, 0.2)}, "strengths"),
])
def test_params_refuse_inconsistent_values_naming_the_parameter(overrides, names):
    with pytest.raises(ValueError, match=names):
        preset("demo", **overrides)


def test_params_derive_the_strength_levels_and_normalize_numbers():
    p = s11.Params(strengths=(0, 0.1, 0.2, 0.4), sn_strengths=(0.4, 0.1), sn_targets=(1, 3), milestones=(5,))
    assert p.strengths == (0.0, 0.1, 0.2, 0.4) and all(isinstance(s, float) for s in p.strengths)
    assert (p.low, p.high, p.ar_strengths) == (0.1, 0.4, (0.1, 0.2, 0.4))
    assert p.cross_strengths == (0.1, 0.4) and p.cross_targets == (3.0, 1.0)
    assert p.eval_step == pytest.approx(2.5 * p.eval_eps / p.eval_steps)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.seed = 1  # type: ignore[misc]


def test_resize_keeps_pixel_range_and_skips_matching_sizes(generator):
    d = data.Dataset(name="t", split="train", x=torch.rand(3, 1, 28, 28, generator=generator),
                     y=torch.zeros(3, dtype=torch.long), source="test", num_classes=10)
    small = s11.resize(d, 16)
    assert small.x.shape == (3, 1, 16, 16) and 0 <= float(small.x.min()) and float(small.x.max()) <= 1
    assert s11.resize(d, 28) is d


# ------------------------------------------------------------------------------------------- smoke experiment


def test_smoke_measurements_are_consistent(smoke):
    p, train_data, test_data, runs, cross = smoke
    assert runs.strengths == p.strengths and set(runs.networks) == set(p.strengths)
    assert runs.layers == ["1: Conv2d", "2: Conv2d", "3: Linear", "4: Linear"]
    model = s11.trained(p, train_data, p.strengths[0])
    net = s11.measure(p, model, train_data, test_data)
    assert net.scalars == runs.networks[p.strengths[0]].scalars, "training and measuring are deterministic"
    assert net.scalars["test_acc"] == pytest.approx(evaluate.accuracy(model, test_data.x, test_data.y))
    assert net.scalars["loss_gap"] == net.scalars["test_loss"] - net.scalars["train_loss"]
    assert net.scalars["err_gap"] == net.scalars["test_err"] - net.scalars["train_err"]
    hits = evaluate.correct(model, test_data.x, test_data.y)
    assert torch.equal(net.margins_test > 0, hits), "a positive logit margin is a correct prediction"
    torch.testing.assert_close(net.true_prob, (-net.test_sample_loss).exp())
    assert len(net.singular_value_std) == len(runs.layers) and set(net.loss_variation) == set(p.variation_eps)
    assert list(cross.capacity) == [s11.NO_SN, "SN 1"] and set(cross.runs) == {(1.0, 0.1), (1.0, 0.2)}
    assert cross.capacity[s11.NO_SN][0.1] == runs.networks[0.1].gaps


def test_smoke_record_has_the_claims_and_metrics_and_serializes(smoke):
    p, _, test_data, runs, cross = smoke
    out = s11.record(runs, cross, p)
    assert set(out) == {"metrics", "claims"}
    claims = out["claims"]
    required = params.spec(STEM).required
    variant_claims = [f"{v}_{k}" for v, keys in s11.VARIANT_CLAIMS.items() for k in keys]
    assert list(claims) == [k for k in required if k not in variant_claims], "listed in required:, in order"
    assert list(required)[-len(variant_claims):] == variant_claims, "the variants' claims close the block, in order"
    assert all(c["paper"].strip() and c["detail"] for c in claims.values())
    assert required["test_loss_falls_while_error_rises"] == ["paper"], "the paradox is the paper's, not demo's"
    assert all("paper" in profiles for profiles in required.values()), "every claim is a statement of the paper"
    assert not any("smoke" in profiles for profiles in required.values())
    m = out["metrics"]
    assert {"source", "per_strength", "margin_hist_bins", "layers", "appB2", "spectral_cross",
            "spectral_change"} <= set(m)
    one = m["per_strength"]["0.1"]
    assert sum(one["margin_hist"]["test"]) == len(test_data.y) == m["n_test"]
    assert set(one["loss_variation"]) == {"0.05"} and set(m["spectral_cross"]) == {"1/0.1", "1/0.2"}
    json.dumps(jsonable(out))


def test_headline_reads_a_json_record_and_returns_finite_floats(smoke):
    p, _, _, runs, cross = smoke
    head = checked_headline(s11, s11.metrics(runs, cross, p))
    assert head["loss gap (highest strength)"] == runs.networks[p.high].scalars["loss_gap"]
    assert head["test loss (lowest AR strength)"] == runs.networks[p.low].scalars["test_loss"]


def test_quoted_glues_every_name_the_page_uses(smoke):
    p, _, _, runs, cross = smoke
    quoted = s11.quoted(runs, cross, p)
    cells = json.loads((params.find(STEM)).read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", prose))
    assert used <= set(quoted), used - set(quoted)
    assert quoted["sn_strong"] == "1" and quoted["ar_high"] == p.high


def test_figures_and_tables_redraw_from_returned_data_without_training(smoke, monkeypatch):
    p, _, _, runs, cross = smoke

    def no_training(*args: object, **kw: object) -> None:
        raise AssertionError("a figure retrained a network")

    monkeypatch.setattr(s11, "trained", no_training)
    monkeypatch.setattr(s11.train, "fit", no_training)
    figures = [s11.figure3(runs, p), s11.figure4(runs), s11.figure5ab(runs), s11.figure1a(runs, p),
               s11.figure_variation(runs, p), s11.figure6(cross)]
    assert all(isinstance(f, Figure) for f in figures)
    assert len(figures[5].axes) == 2 * len(cross.capacity)
    for f in figures:
        plt.close(f)
    assert list(s11.strength_table(runs).index) == ["standard", "eps = 0.1", "eps = 0.15", "eps = 0.2"]
    assert s11.singular_value_table(runs, p).shape == (4, 3)
    assert s11.variation_table(runs, p).shape == (4, 2)
    assert s11.cross_table(cross).shape == (4, 6)
    table = s11.comparison_table(runs, cross, p)
    assert "CIFAR-10: 4.7465 / 0.4372" in table.loc["B.2: sum of STD falls / rises, lowest vs highest strength",
                                                   "paper 004"]


# ------------------------------------------------------------------------------------- claims on known results


def fake_runs(strengths: tuple[float, ...], loss_gap: list[float], test_acc: list[float],
              margin_scale: list[float], stds: list[list[float]], *, rising: list[float], middle: list[int],
              falling: list[float], median: list[float] | None = None, robust: list[float] | None = None,
              variation: list[float] | None = None) -> s11.StrengthRuns:
    """Known results: ``rising`` is the training loss and the PGD accuracy, ``middle`` the number of the 11 test
    points with p_y = 0.5 (the rest at 0.95), ``falling`` the loss of the misclassified points and the loss
    variation (``robust`` and ``variation`` replace them there); the test margins are ``scale * (base + 0.5)`` (median ``scale / 2``, the lowest three negative)
    unless ``median`` fixes it."""
    networks = {}
    base = torch.linspace(-1, 1, 11)
    for i, s in enumerate(strengths):
        gap, acc, scale, std = loss_gap[i], test_acc[i], margin_scale[i], stds[i]
        scalars = {"train_loss": rising[i], "test_loss": rising[i] + gap, "loss_gap": gap, "train_err": 0.0,
                   "test_err": 1 - acc, "err_gap": 1 - acc, "test_acc": acc,
                   "robust_acc": (rising if robust is None else robust)[i]}
        margins = scale * base + (scale / 2 if median is None else median[i])
        prob = torch.full((11,), 0.95)
        prob[:middle[i]] = 0.5
        var = (falling if variation is None else variation)[i]
        networks[s] = s11.Network(scalars=scalars, margins_test=margins, margins_train=margins + 1, true_prob=prob,
                                  test_sample_loss=torch.full((11,), falling[i]), singular_value_std=std,
                                  loss_variation={0.05: {"mean": var, "std": var / 2}})
    return s11.StrengthRuns(strengths=strengths, networks=networks, layers=["1: Linear", "2: Linear", "3: Linear"],
                            source="fake", n_train=10, n_test=11)


def fake_cross(no_sn: tuple[float, float], sn: tuple[float, float], err: tuple[float, float], *,
               no_sn_err: tuple[float, float] = (0.0, 0.0),
               strengths: tuple[float, float] = (0.1, 0.2)) -> s11.SpectralCross:
    lo, hi = strengths

    def gaps(loss_gap: float, err_gap: float) -> dict[str, float]:
        return {"train_loss": 0.0, "test_loss": loss_gap, "loss_gap": loss_gap, "train_err": 0.0,
                "test_err": err_gap, "err_gap": err_gap}

    capacity = {s11.NO_SN: {lo: gaps(no_sn[0], no_sn_err[0]), hi: gaps(no_sn[1], no_sn_err[1])},
                "SN 1": {lo: gaps(sn[0], err[0]), hi: gaps(sn[1], err[1])}}
    runs = {(1.0, s): capacity["SN 1"][s] for s in strengths}
    return s11.SpectralCross(strengths=strengths, targets=(1.0,), runs=runs, capacity=capacity)


P = s11.Params(strengths=(0.0, 0.1, 0.15, 0.2), sn_strengths=(0.1, 0.2), sn_targets=(1.0,), variation_eps=(0.05,))
FALLING = {"loss_gap": [0.4, 0.3, 0.2, 0.1], "test_acc": [0.8, 0.9, 0.85, 0.8], "margin_scale": [4.0, 3.0, 2.0, 1.0],
           "stds": [[1, 1, 1], [1.0, 2.0, 3.0], [1, 1, 1], [0.5, 1.0, 3.1]], "rising": [0.1, 0.2, 0.3, 0.4],
           "middle": [1, 2, 3, 4], "falling": [4.0, 3.0, 2.0, 1.0]}


def test_claims_follow_the_trends_of_known_results():
    p = P
    falling = fake_runs(p.strengths, **FALLING)
    cross = fake_cross((0.3, 0.1), (0.05, 0.01), (0.02, -0.03), no_sn_err=(0.01, 0.03))
    claims = s11.claims(falling, cross, p)
    assert all(c["holds"] for c in claims.values()), {k: c["detail"] for k, c in claims.items() if not c["holds"]}
    assert "2 of 3 layers" in claims["singular_value_std_falls"]["detail"]
    assert claims["singular_value_std_falls"]["paper_value"] == pytest.approx(41 / 55), "from paper004_appB2.csv"
    assert claims["std_falls_outweigh_rises"]["paper_value"] == pytest.approx(4.7465 / 0.4372)
    assert "4.7465 vs 0.4372" in claims["std_falls_outweigh_rises"]["paper"]
    assert cross.change("SN 1", "err_gap") == pytest.approx(-0.05)
    sums = falling.std_sums(0.1, 0.2)
    assert (sums["falls_n"], sums["falls_sum"], sums["rises_n"]) == (2, 1.5, 1)
    assert sums["rises_sum"] == pytest.approx(0.1)

    rising = fake_runs(p.strengths, [0.1, 0.2, 0.3, 0.4], [0.8, 0.8, 0.9, 0.95], [1.0, 2.0, 3.0, 4.0],
                       [[1, 1, 1], [1.0, 1.0, 1.0], [1, 1, 1], [2.0, 2.0, 0.5]], rising=[0.4, 0.3, 0.2, 0.1],
                       middle=[9, 8, 7, 6], falling=[1.0, 2.0, 3.0, 4.0])
    flat = fake_cross((0.1, 0.2), (0.05, 0.01), (0.0, 0.0))
    claims = s11.claims(rising, flat, p)
    assert not any(c["holds"] for c in claims.values()), [k for k, c in claims.items() if c["holds"]]
    quoted = s11.quoted(rising, flat, p)
    assert quoted["ar_loss_gap_low"] == 0.1 and quoted["ar_loss_gap_high"] == 0.4
    assert quoted["ar_middle_low"] == pytest.approx(900 / 11) and quoted["sn_loss_gap_change_none"] == pytest.approx(0.1)


@pytest.mark.parametrize(("name", "changes"), [
    # the loss gap falls overall and its Spearman correlation is -0.8, but it rises from 0.1 to 0.15 (and with it
    # the test loss, which rises over the AR strengths too: the paradox fails with it)
    ("loss_gap_decreases_with_strength", {"loss_gap": [0.4, 0.2, 0.3, 0.1], "rising": [0.1, 0.2, 0.3, 0.31]}),
    # a tie among the AR strengths is not a fall
    ("test_accuracy_decreases_with_strength", {"test_acc": [0.8, 0.9, 0.9, 0.8]}),
    ("robust_accuracy_increases_with_strength", {"robust": [0.1, 0.3, 0.3, 0.4]}),
    ("wrong_predictions_cost_less", {"falling": [4.0, 3.0, 3.5, 1.0], "variation": [4.0, 3.0, 2.0, 1.0]}),
    ("loss_variation_falls_with_strength", {"variation": [4.0, 3.0, 3.0, 1.0]}),
    ("probabilities_move_to_middle", {"middle": [1, 3, 2, 4]}),
])
def test_trend_claims_need_a_step_in_the_papers_direction_at_every_strength(name, changes):
    runs = fake_runs(P.strengths, **{**FALLING, **changes})
    claims = s11.claims(runs, fake_cross((0.3, 0.1), (0.05, 0.01), (0.02, -0.03), no_sn_err=(0.01, 0.03)), P)
    failed = [k for k, c in claims.items() if not c["holds"]]
    assert name in failed and set(failed) <= {name, "test_loss_falls_while_error_rises"}, failed


def test_margins_concentrate_needs_them_to_move_toward_zero_not_only_to_narrow():
    # the spread falls at every step but the distributions sit ever further from the boundary
    runs = fake_runs(P.strengths, **FALLING, median=[1.0, 2.0, 3.0, 4.0])
    claims = s11.claims(runs, fake_cross((0.3, 0.1), (0.05, 0.01), (0.02, -0.03), no_sn_err=(0.01, 0.03)), P)
    assert not claims["margins_concentrate"]["holds"]
    assert "median 1.000, 2.000, 3.000, 4.000" in claims["margins_concentrate"]["detail"]


def test_paradox_holds_only_when_the_test_loss_does_not_rise_while_the_error_does():
    # FALLING: test loss constant 0.5 over the AR strengths while the error rises: "falls or stays flat" holds
    runs = fake_runs(P.strengths, **FALLING)
    cross = fake_cross((0.3, 0.1), (0.05, 0.01), (0.02, -0.03), no_sn_err=(0.01, 0.03))
    assert s11.claims(runs, cross, P)["test_loss_falls_while_error_rises"]["holds"]
    assert "as the paper finds" in s11.paradox_text(runs, P)
    up = fake_runs(P.strengths, **{**FALLING, "rising": [0.1, 0.2, 0.35, 0.6]})
    claim = s11.claims(up, cross, P)["test_loss_falls_while_error_rises"]
    assert not claim["holds"] and claim["value"] == pytest.approx(0.6 + 0.1 - 0.2 - 0.3)
    assert "does not reproduce" in s11.paradox_text(up, P)
    assert "test loss changes by +0.200" in s11.paradox_why_text(up, P)


def test_error_gap_turn_needs_a_rising_gap_to_turn():
    runs = fake_runs(P.strengths, **FALLING)
    # both fall, the controlled one by more: the premise (a rising uncontrolled error gap) is missing
    cross = fake_cross((0.3, 0.1), (0.05, 0.01), (0.02, -0.03), no_sn_err=(0.03, 0.01))
    assert not s11.claims(runs, cross, P)["sn_error_gap_turns_decreasing"]["holds"]
    assert "premise" in s11.sn_err_text(cross)


def test_direction_words():
    assert s11.direction([3, 2, 1]) == "falls at every step"
    assert s11.direction([1, 2, 3]) == "rises at every step"
    assert s11.direction([1, 3, 2]) == "rises overall, not at every step"
    assert not s11.steps([1.0, float("nan")], -1) and not s11.steps([1.0], -1)


def test_claims_with_two_ar_strengths_decide_on_their_one_step():
    """The page's "gentle strengths" exercise runs [0.0, 0.02, 0.05]: two AR strengths, one step."""
    p = s11.Params(strengths=(0.0, 0.02, 0.05), sn_strengths=(0.02, 0.05), sn_targets=(1.0,), variation_eps=(0.05,))
    runs = fake_runs(p.strengths, [0.3, 0.2, 0.1], [0.8, 0.9, 0.85], [3.0, 2.0, 1.0], [[1, 1, 1]] * 3,
                     rising=[0.1, 0.2, 0.3], middle=[1, 2, 3], falling=[3.0, 2.0, 1.0])
    cross = fake_cross((0.3, 0.1), (0.05, 0.01), (0.0, 0.0), strengths=(0.02, 0.05))
    claims = s11.claims(runs, cross, p)
    assert claims["test_accuracy_decreases_with_strength"]["holds"]
    assert claims["loss_gap_decreases_with_strength"]["holds"]
    assert "ε = 0.02 and 0.05" in s11.accuracy_text(runs, p)


# ------------------------------------------------------------------- paper protocol: Fixup, augmentation, variants


def test_paper_preset_is_the_papers_protocol_and_its_dry_run_only_cuts_sizes():
    p = preset("paper")
    assert (p.model_name, p.norm, p.augment, p.dataset) == ("resnet56", "none", True, "cifar10")
    assert p.variants == ("fgsm", "resnet110", "cifar100", "cifar100_fgsm")
    assert params.dry_run_problems(params.spec(STEM)) == []
    dry = s11.Params(**params.as_fields(params.spec(STEM).profile("paper", dry_run=True)))
    assert (dry.model_name, dry.norm, dry.augment, dry.pgd_steps) == ("resnet56", "none", True, 10)
    assert {"fgsm", "resnet110", "cifar100"} <= set(dry.variants), "every variant code path runs in the dry run"


def test_demo_runs_no_variant_without_augmentation_and_with_the_architectures_norm():
    p = preset("demo")
    assert (p.norm, p.augment, p.variants) == ("default", False, ())


@pytest.mark.parametrize(("overrides", "names"), [
    ({"variants": ("fgsm", "svhn")}, "variants"),
    ({"variants": ("fgsm", "fgsm")}, "variants"),
    ({"variants": ("fgsm",), "method": "fgsm_at"}, "change nothing"),
    ({"norm": "layer"}, "norm"),
    ({"norm": "none"}, "norm"),          # the demo LeNet has no norm layers to leave out
])
def test_params_refuse_unknown_or_empty_variants_and_norms(overrides, names):
    with pytest.raises(ValueError, match=names):
        preset("demo", **overrides)


def test_a_variant_is_the_main_series_with_its_settings_changed():
    p = preset("paper")
    v = p.variant("cifar100_fgsm")
    assert (v.dataset, v.method, v.model_name, v.variants) == ("cifar100", "fgsm_at", "resnet56", ())
    assert dataclasses.replace(v, dataset=p.dataset, method=p.method, variants=p.variants) == p
    assert p.variant("resnet110").model_name == "resnet110" and p.variant("resnet110").norm == "none"


def test_cifar100_standin_is_labelled_seeded_and_has_every_class():
    a, b = data.cifar100_standin(split="train"), data.cifar100_standin(split="train")
    test = data.cifar100_standin(split="test")
    assert a.is_standin and a.num_classes == 100 and a.x.shape == (2000, 3, 32, 32)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, test.x) and torch.equal(a.y.bincount(), torch.full((100,), 20))
    assert 0 <= float(a.x.min()) and float(a.x.max()) <= 1 and "NOT real CIFAR-100" in a.source
    assert not data.cifar_standin(split="train").x[:1].equal(a.x[:1])


def test_cifar100_variant_loads_the_standin_offline_and_builds_a_100_class_fixup_resnet():
    p = preset("paper", source="offline", n_train=6, n_test=5, image_size=16).variant("cifar100")
    train_data, test_data = s11.load_data(p)
    assert (len(train_data), len(test_data), train_data.x.shape[-1]) == (6, 5, 16) and train_data.is_standin
    model = s11.build_model(p, train_data)
    assert model(train_data.x).shape == (6, 100), "100 outputs even when the subset lacks classes (App. D.2)"
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), "Fixup: no batch norm (D.3)"
    assert float(model.classifier.weight.detach().abs().sum()) == 0, "Fixup starts the classifier at zero"
    assert "stand-in" in s11.series_label(p, s11.StrengthRuns((), {}, [], train_data.source, 6, 5))


def test_training_jobs_crop_and_flip_only_when_asked():
    p = preset("smoke")
    d = data.Dataset("t", "train", torch.rand(4, 1, 16, 16), torch.arange(4), "test", 10)
    assert "augment" not in s11.job(p, d, 0.0).schedule
    assert s11.job(dataclasses.replace(p, augment=True), d, 0.0).schedule["augment"] == "crop_flip"
    job = s11.job(p, d, p.high, target=1.0)
    assert job.method == {"name": "spectral", "target": 1.0, "base": {"name": "pgd_at", "eps": p.high,
                                                                        "steps": p.pgd_steps,
                                                                        "step_size": p.pgd_step or None}}
    assert job.data["call"] == "marginlib.papers.p004_ar.s11_regularization:load_split"
    assert job.model["in_channels"] == 1 and job.model["num_classes"] == 10


def test_variants_reuse_the_standard_network_and_record_their_claims(smoke):
    p, train_data, test_data, runs, cross = smoke
    pv = dataclasses.replace(p, variants=("fgsm",))
    extra = s11.train_variants(pv, runs, train_data, test_data)
    assert list(extra) == ["fgsm"] and extra["fgsm"].networks[0.0] is runs.networks[0.0]
    assert extra["fgsm"].networks[p.high].scalars != runs.networks[p.high].scalars, "FGSM trains other networks"
    out = s11.record(runs, cross, pv, extra)
    names = [f"fgsm_{k}" for k in s11.VARIANT_CLAIMS["fgsm"]]
    assert [k for k in out["claims"] if k.startswith("fgsm_")] == names
    assert set(names) <= set(params.spec(STEM).required)
    assert all("App. B.6" in out["claims"][k]["paper"] for k in names)
    assert out["metrics"]["variants"]["fgsm"]["method"] == "fgsm_at"
    json.dumps(jsonable(out))
    table = s11.variant_table(runs, extra, pv)
    assert len(table) == 2 * len(p.strengths) and "loss_gap" in table.columns
    assert s11.variant_table(runs, {}, p).empty
    fig = s11.figure_variants(runs, extra, pv)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 2
    plt.close(fig)
    assert "of the paper's findings hold" in s11.variants_text(runs, extra, pv)
    assert "no variant" in s11.variants_text(runs, {}, p)


def test_cifar100_error_gap_claim_needs_a_fall_at_every_ar_step():
    runs = fake_runs(P.strengths, **FALLING)
    c = s11.series_claims(runs, P)["err_gap_decreases_with_strength"]
    assert not c["holds"], "FALLING's error gap (1 - accuracy) rises from 0.15 to 0.2"
    assert "err_gap_decreases_with_strength" not in s11.claims(runs, fake_cross((0.3, 0.1), (0.05, 0.01),
                                                                                (0.02, -0.03)), P)
