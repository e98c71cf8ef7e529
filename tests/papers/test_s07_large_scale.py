"""Section 07 (paper 002 §5): the section module run directly at the smoke preset, without papermill."""
from __future__ import annotations

import dataclasses
import json
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from marginlib.book import params
from marginlib.book.results import PROFILES
from marginlib.papers import tables
from marginlib.papers.p002_emr import s07_large_scale as s07

from sections import checked_headline, preset_params

STEM = "07_emr_large_scale"


def _params(profile: str = "smoke", **overrides) -> s07.Params:
    return preset_params(s07, profile, **overrides)


@pytest.fixture(scope="module")
def section():
    """The whole section at smoke: Table 3, Fig. 3, Fig. 6 and Table 10 (a few seconds on 2 cores)."""
    p = _params()
    splits = s07.load_data(p)
    t3 = s07.train_table3(p, splits)
    curves = s07.aa_vs_eps(p, splits, t3)
    grid = s07.grid_fig6(p, splits, t3)
    timing = s07.timing_table10(p, splits)
    return p, splits, t3, curves, grid, timing


def test_families_group_the_flat_parameters_in_one_place():
    p = _params("paper")
    assert [f.epochs for f in p.families.values()] == [100, 130, 100, 100, 90]
    assert p.families["TRADES"].milestones == (60, 120)
    assert p.families["AT"].options == {"step_size": p.at_step}
    # MAIL as the release runs it (paper 002 is silent): 74 epochs of plain AT, then the MAIL code's weights x 3
    assert p.families["TRADES+MAIL"].options == {"objective": "trades", "beta": 5.0, "burn_in": 74,
                                                 "step_size": p.at_step, "normalize": "times3",
                                                 "burn_in_objective": "at"}
    assert _params("demo").families["AT+MAIL"].options == {"objective": "at", "burn_in": 2, "step_size": 0.05}
    assert (p.families["AT"].emr_weight, p.families["TRADES"].emr_temperature) == (1.0, 1.0)   # Table 7


def test_weight_decay_of_each_row_follows_tables_6_and_7():
    p = _params("demo")
    expected = {("AT", ""): p.wd_at, ("AT", "IGR"): p.wd_at, ("AT", "HE"): p.wd_he, ("AT", "EMR"): p.wd_emr,
                ("TRADES", ""): p.wd_trades, ("TRADES", "HE"): p.wd_he, ("TRADES", "EMR"): p.wd_trades,
                ("AT+MAIL", "EMR"): p.wd_mail, ("TRADES+MAIL", ""): p.wd_mail, ("MART", "EMR"): p.wd_mart}
    assert {row: p.weight_decay(*row) for row in expected} == expected


def test_recipe_puts_igr_on_emrs_per_sample_scale_and_overrides_emr_for_the_grid():
    p = _params()
    assert s07.recipe(p, "AT", "IGR").weight == pytest.approx(p.igr_weight / p.batch_size)
    assert s07.recipe(dataclasses.replace(p, emr_scaling="sample"), "AT", "IGR").weight == p.igr_weight
    emr = s07.recipe(p, "TRADES", "EMR")
    assert (emr.weight, emr.temperature, emr.mode, emr.on) == (p.emr_weight_trades, p.emr_t_trades, "approx", "clean")
    assert s07.recipe(p, "AT", "EMR", weight=0.7, temperature=2.0).temperature == 2.0
    assert s07.ROW_NAMES[:4] == ("AT", "AT+IGR", "AT+HE", "AT+EMR")
    assert [s07.name_of(f, r) for f, r in p.rows] == [n for n in s07.ROW_NAMES if n not in p.skip]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"skip": ("AT+FOO",)}, r"skip: unknown rows \['AT\+FOO'\]; valid: \['AT', 'AT\+IGR'"),
    ({"skip": ("AT+HE",)}, r"skip: rows \['AT\+HE'\] are quoted"),
    ({"skip": ("AT+MAIL", "TRADES+MAIL+EMR")}, r"skip: Fig. 3 needs both rows"),
    ({"milestones_trades": (0,)}, r"milestones_trades=\[0\] must be increasing epochs >= 1"),
    ({"milestones_at": (3, 2)}, r"milestones_at=\[3, 2\] must be increasing"),
    ({"mail_burn_in": 1}, r"mail_burn_in=1 must be below epochs_mail=1"),
    ({"grid_weights": ()}, r"grid_weights must hold at least one value"),
    ({"image_size": 10}, r"image_size=10: mnist images \(28x28\) .* valid: \[28, 14, 7, 4, 2, 1\]"),
    ({"image_size": 0}, r"image_size=0: .* valid:"),
    ({"dataset": "svhn"}, r"dataset='svhn': valid: \['mnist', 'cifar10'\]"),
])
def test_params_refuse_inconsistent_values_before_any_work(overrides, message):
    with pytest.raises(ValueError, match=message):
        _params(**overrides)


@pytest.mark.parametrize(("dataset", "size"), [("mnist", 14), ("mnist", 28), ("cifar10", 16)])
def test_images_are_pooled_to_image_size(dataset, size):
    p = _params(dataset=dataset, source="offline", image_size=size, n_train=4, n_val=2, n_test=2)
    splits = s07.load_data(p)
    assert {tuple(d.x.shape[-2:]) for d in (splits.train, splits.val, splits.test)} == {(size, size)}


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_trains_the_rows_the_page_quotes(profile):
    p = _params(profile)
    assert set(s07.QUOTED_ROWS) <= {s07.name_of(f, r) for f, r in p.rows}
    assert len(s07.rows_frame(p)) == len(p.rows)


def test_record_has_the_metrics_and_claims_of_the_page(section):
    p, splits, t3, curves, grid, timing = section
    out = s07.record(p, splits, t3, curves, grid, timing)
    metrics, claims = out["metrics"], out["claims"]
    names = [s07.name_of(f, r) for f, r in p.rows]
    assert list(metrics["clean_acc"]) == names and list(metrics["robust_acc"]) == names
    assert all(list(accs) == ["fgsm", "pgd10", "pgd3", "autoattack"] for accs in metrics["robust_acc"].values())
    assert all(0 <= a <= 1 for accs in metrics["robust_acc"].values() for a in accs.values())
    # AT / TRADES keep their best validation epoch; MAIL and MART the last one (paper 002 §5.1)
    assert {n: e is not None for n, e in metrics["best_epoch"].items()} == {
        n: n.split("+")[0] in s07.SELECTED and "MAIL" not in n for n in names}
    assert (metrics["n_train"], metrics["n_val"], metrics["n_test"]) == (p.n_train, p.n_val, p.n_test)
    assert set(metrics["seconds_per_iter"]) == {s07.name_of(f, r) for f in s07.TIMED for r in s07.REGULARIZERS[f]}
    # Fig. 3 at eps is Table 3's AutoAttack; the smoke grid's one cell is the AT+EMR row itself (not retrained)
    assert metrics["autoattack_vs_eps"]["eps"] == [p.eps, 2 * p.eps]
    assert metrics["autoattack_vs_eps"]["AT+MAIL"][0] == t3.aa("AT+MAIL")
    assert metrics["grid"]["pgd10"] == [[t3.robust_acc["AT+EMR"]["pgd10"]]]
    assert set(claims) == set(s07.STATEMENTS) == set(params.spec(STEM).required)
    assert all(profiles == ["paper"] for profiles in params.spec(STEM).required.values())   # timing too: flaky
    for name, c in claims.items():
        assert isinstance(c["holds"], bool) and c["detail"] and c["paper"] == s07.STATEMENTS[name]
        assert "required_at" not in c
    beats = t3.aa("AT+EMR") > t3.aa("AT") and t3.aa("TRADES+EMR") > t3.aa("TRADES")
    assert claims["emr_beats_at_and_trades"]["holds"] == beats
    assert claims["he_pgd_overstates"]["detail"].startswith("PGD3 - AutoAttack: AT+HE")
    assert metrics["long_pgd"] == "pgd3"
    # the smoke grid has one temperature: Fig. 6's trend cannot be decided, so it does not hold
    assert not claims["large_t_better_in_at"]["holds"] and "value" not in claims["large_t_better_in_at"]
    assert claims["emr_overhead_like_igr"]["paper_value"] == pytest.approx(3.22 / 3.21)
    json.dumps(metrics)   # a plain record


def test_every_table_claim_holds_on_the_papers_own_numbers():
    """Table 3 and Table 10 read as a record's metrics: every claim they decide holds (the claims test what the
    paper reports); Figs. 3 and 6 have no table, so those two are left out."""
    t3 = tables.read("paper002_table3").set_index("method")
    t10 = tables.read("paper002_table10")
    metrics = {
        "robust_acc": {str(n): {"fgsm": r.fgsm / 100, "pgd10": r.pgd10 / 100, "pgd100": r.pgd100 / 100,
                                "autoattack": r.autoattack / 100} for n, r in t3.iterrows()},
        "long_pgd": "pgd100",
        "seconds_per_iter": {t + ("" if r == "standard" else f"+{r}"): s
                             for t, r, s in zip(t10.training, t10.regularizer, t10.seconds_per_iter)},
        "autoattack_vs_eps": {"eps": [0.031]}, "grid": {"temperatures": [1.0], "weights": [1.0], "pgd10": [[0.5]]},
    }
    decided = s07.decide(metrics)
    figures = {"emr_improves_mail_at_every_eps", "large_t_better_in_at"}
    assert all(holds for name, (holds, _) in decided.items() if name not in figures), decided
    paper = s07.paper_values(metrics)
    for name, (_, value) in decided.items():
        if name not in figures:
            assert paper[name] == pytest.approx(value)
    assert paper["emr_beats_at_and_trades"] == pytest.approx(52.73 - 52.19)      # TRADES, the smaller gain


def test_headline_reads_a_record_and_gives_finite_numbers(section):
    p, splits, t3, curves, grid, timing = section
    numbers = checked_headline(s07, s07.record(p, splits, t3, curves, grid, timing)["metrics"])
    assert numbers["AT+EMR AutoAttack (%)"] == pytest.approx(100 * t3.aa("AT+EMR"))


def test_quoted_glues_every_name_the_prose_uses(section):
    p, splits, t3, curves, grid, timing = section
    cells = json.loads(params.find(STEM).read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", prose))
    values = s07.quoted(p, splits, t3, grid, timing)
    assert used <= set(values)
    overview = (params.find(STEM).parents[1] / "book" / "part3_emr" / "overview.md").read_text()
    across = set(re.findall(rf"\{{glue:text\}}`/notebooks/{STEM}\.ipynb::([A-Za-z0-9_]+)", overview))
    assert across and across <= set(values)                       # the part's overview glues from this page
    assert values["aa_AT_EMR"] == 100 * t3.aa("AT+EMR")
    assert values["arch_text"] == "blocks [1, 1, 1] and widths [4, 8, 16]"
    assert values["skip_text"] == "TRADES+IGR, TRADES+HE" and values["timing_n_text"] == "12"


def test_figures_and_tables_redraw_from_returned_data_without_training():
    curves = s07.AACurves([0.1, 0.2], [("AT+MAIL", "AT+MAIL+EMR")], {"AT+MAIL": [0.5, 0.0],
                                                                      "AT+MAIL+EMR": [0.6, 0.1]})
    fig = s07.figure3(curves)
    left, right = fig.axes
    assert [line.get_label() for line in left.lines] == ["AT+MAIL", "AT+MAIL+EMR"]
    assert list(right.lines[0].get_ydata()) == pytest.approx([1.2, float("nan")], nan_ok=True)   # 0.1 / 0 -> NaN
    plt.close(fig)
    grid = pd.DataFrame([[0.1, 0.2], [0.3, 0.4]], index=pd.Index([0.1, 1.0], name="lambda_EMR"),
                        columns=pd.Index([0.1, 40.0], name="t"))
    plt.close(s07.figure6(grid))
    names = [s07.name_of(f, r) for f in s07.TIMED for r in s07.REGULARIZERS[f]]
    timing = s07.Timing({n: 1.0 + i for i, n in enumerate(names)}, "cpu", None, 50, 12)
    frame = s07.table10_frame(timing)
    assert list(frame.index) == names and list(frame["/ AT (book)"]) == [1.0 + i for i in range(8)]
    assert frame.loc["AT+EMR", "seconds (paper)"] == 3.22   # Table 10, WRN-34-10 on a V100
    assert timing.overhead == {"AT": 4.0 / 2.0, "TRADES": 8.0 / 6.0}


def test_comparison_frame_puts_the_long_pgd_in_the_pgd100_column(section):
    _, _, t3, *_ = section
    frame = s07.comparison_frame(t3)
    assert frame.loc["AT+HE", ("this book", "pgd100")] == round(100 * t3.robust_acc["AT+HE"]["pgd3"], 2)
    assert frame.loc["AT", ("paper, WRN-34-10 (Table 3)", "autoattack")] == 50.31


def test_paper_protocol_choices_follow_the_paper_or_the_release():
    """The `paper` preset: crop/flip augmentation (every released script), Fig. 6 on ResNet-18 (App. B), TRADES with
    the KL attack (the paper's "TRADES PGD"; the release's CE attack is an option), MART's official weight decay;
    `demo` keeps the earlier choices."""
    paper, demo = _params("paper"), _params("demo")
    assert (paper.augment, paper.grid_arch, paper.trades_attack, paper.wd_mart) == (True, "resnet18", "kl", 0.0007)
    assert (demo.augment, demo.grid_arch, demo.trades_attack, demo.wd_mart) == (False, "", "kl", 0.0005)
    assert s07.grid_network(paper) == "resnet18" and s07.grid_network(demo) == demo.arch
    # milestones past the (cut) epochs are kept: the dry run cuts the epochs, not the schedule
    assert _params("paper", epochs_at=1).families["AT"].milestones == (60, 90)
    assert s07.recipe(paper, "TRADES", "").attack == "kl"
    ce = s07.recipe(_params("paper", trades_attack="ce"), "TRADES", "EMR").base
    assert ce.attack == "ce" and "attack='ce'" in repr(ce)


def test_trades_ce_attack_is_the_at_attack():
    """TRADES(attack="ce") perturbs with PGDAT's cross-entropy PGD (same generator, same point), inside the ball;
    the default KL attack finds another point."""
    import torch

    from marginlib import methods, models

    torch.manual_seed(0)
    model = models.build("mlp", in_channels=1, input_size=4, hidden=(8,), num_classes=3, seed=0)
    x, y = torch.rand(6, 1, 4, 4), torch.randint(0, 3, (6,))
    kw = {"eps": 0.1, "step_size": 0.03, "steps": 4}
    ce, at, kl = (methods.build("trades", beta=6.0, attack="ce", **kw), methods.build("pgd_at", **kw),
                  methods.build("trades", beta=6.0, **kw))
    for m in (ce, at, kl):
        m.setup(device="cpu", seed=3)
    x_ce, x_at, x_kl = ce.adversary(model, x, y), at.adversary(model, x, y), kl.adversary(model, x, y)
    assert torch.equal(x_ce, x_at)
    assert float((x_ce - x).abs().max()) <= 0.1 + 1e-6 and not torch.equal(x_ce, x_kl)
    with pytest.raises(ValueError, match="attack"):
        methods.build("trades", eps=0.1, attack="pgd")
