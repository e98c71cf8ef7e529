"""Section 06 (paper 002 §3-4, MNIST MLP): marginlib.papers.p002_emr.s06_feedforward at the smoke preset."""
from __future__ import annotations

import dataclasses
import json
import math
import re
import warnings

import matplotlib.pyplot as plt
import pytest
import torch

from marginlib import methods, models, train
from marginlib.book import params
from marginlib.papers.p002_emr import s06_feedforward as s06

from sections import as_stored, checked_headline, preset_params

STEM = "06_emr_feedforward"


def smoke(**overrides: object) -> s06.Params:
    return preset_params(s06, "smoke", **overrides)


@pytest.fixture(scope="module")
def trained() -> tuple[s06.Params, s06.Table1]:
    p = smoke()
    return p, s06.train_table1(p, s06.load_data(p), log=None)


def test_params_refuse_inconsistent_values_before_any_work():
    with pytest.raises(ValueError, match=r"lr_decay_epoch=2 .*epochs=2"):
        smoke(lr_decay_epoch=2)           # the decay would never happen
    with pytest.raises(ValueError, match="weight_decays=.*repeats"):
        smoke(weight_decays=(0.01, 0.01))
    with pytest.raises(ValueError, match="weight_decays"):
        smoke(weight_decays=())
    with pytest.raises(ValueError, match="source.*auto.*full.*offline"):
        smoke(source="cifar")
    assert smoke().hidden == (32, 32)


def test_plan_and_objectives_follow_table1():
    p = smoke()
    rows = s06.plan(p)
    assert [r.name for r in rows] == ["ST", "ST+LSoftmax", "ST+EMR", "ST+Approx-EMR",
                                      "AT", "AT+LSoftmax", "AT+EMR", "AT+Approx-EMR"]
    assert [r.name for r in s06.plan(dataclasses.replace(p, adversarial=False))] == [r.name for r in rows[:4]]
    built = {r.name: s06.training_method(r, p) for r in rows}
    assert isinstance(built["ST"], methods.Standard) and isinstance(built["AT"], methods.PGDAT)
    assert isinstance(built["ST+LSoftmax"], methods.AnnealedLSoftmax)
    at_ls = built["AT+LSoftmax"]
    assert isinstance(at_ls, methods.OnAdversary) and isinstance(at_ls.inner, methods.AnnealedLSoftmax)
    emr, approx, at_emr = built["ST+EMR"], built["ST+Approx-EMR"], built["AT+EMR"]
    assert isinstance(emr, methods.EMR) and isinstance(approx, methods.EMR) and isinstance(at_emr, methods.EMR)
    assert (emr.mode, emr.weight, approx.mode, approx.weight) == ("exact", p.emr_weight, "approx", p.approx_weight)
    assert at_emr.weight == p.at_emr_weight and isinstance(at_emr.base, methods.PGDAT)
    assert [s06.emr_weight(r, p) for r in rows] == [None, None, 0.1, 1.0, None, None, 0.0003, 0.0003]


def test_sigmoid_example_closed_forms():
    """Fig. 1a: |d XE / d w| of the logit alpha (w x0 + b) is alpha (1 - sigmoid) x0 (checked by autograd); the
    effective margin |f(x0)| / |w| does not depend on alpha; every scaled sigmoid crosses 1/2 at the boundary."""
    ex = s06.sigmoid_example()
    alpha = ex.alpha.double()
    w = torch.full_like(alpha, ex.w, requires_grad=True)                   # one copy of w per alpha
    xe = torch.nn.functional.softplus(-alpha * (w * ex.x0 + ex.b))         # XE of the positive class
    (grad,) = torch.autograd.grad(xe.sum(), w)
    torch.testing.assert_close(grad.abs().float(), ex.grad_w, rtol=2e-3, atol=1e-5)   # float32 1 - sigmoid
    assert ex.margin == 1.0
    assert ex.grad_w[0] > 100 * ex.grad_w[-1] > 0             # the gradient vanishes as alpha grows
    boundary = int(torch.argmin((ex.x - (-ex.b / ex.w)).abs()))
    for curve in ex.scaled.values():
        assert curve[boundary].item() == pytest.approx(0.5, abs=1e-6)


def test_record_claims_and_metrics(trained):
    p, t = trained
    out = s06.record(t, s06.sigmoid_example(), p)
    assert set(out) == {"metrics", "claims"}
    metrics, claims = out["metrics"], out["claims"]
    assert set(metrics) == {"source", "n_train", "n_test", "table", "curves", "seconds", "approx_vs_exact", "fig1a"}
    assert (metrics["n_train"], metrics["n_test"]) == (p.n_train, p.n_test)
    assert [row["training"] for row in metrics["table"]] == [r.name for r in s06.plan(p)]
    assert set(metrics["approx_vs_exact"]) == {"ST", "AT"}
    for curve in metrics["curves"].values():
        assert len(curve["train"]) == len(curve["test"]) == p.epochs + 1
    assert set(claims) == set(s06.STATEMENTS)              # smoke trains no CNN: no cnn_* claims, no "cnn" metrics
    assert set(params.spec(STEM).required) == set(s06.STATEMENTS) | set(s06.CNN_STATEMENTS)
    assert set(s06.CNN_CLAIMS) == set(s06.CNN_STATEMENTS)
    assert all(params.spec(STEM).required[name] == ["paper"] for name in s06.CNN_CLAIMS)   # new: paper only
    for name, c in claims.items():
        assert isinstance(c["holds"], bool) and c["detail"] and c["paper"] == s06.STATEMENTS[name]
        assert "required_at" not in c            # the preset file says where (Run.save adds it)
    assert claims["approx_emr_below_emr"]["holds"] == (
        t.get("ST+EMR").numbers["robust_acc"] > t.get("ST+Approx-EMR").numbers["robust_acc"])
    st = [r.numbers["robust_acc"] for r in t.runs if r.row.name == "ST"]
    assert claims["emr_more_robust"]["holds"] == all(t.get("ST+EMR").numbers["robust_acc"] > a for a in st)
    ls = [r.numbers["robust_acc"] for r in t.runs if r.row.name == "ST+LSoftmax"]
    assert claims["emr_more_robust_than_lsoftmax"]["holds"] == all(
        t.get("ST+EMR").numbers["robust_acc"] > a for a in ls)
    # smoke trains one lambda_WD: the weight-decay trend cannot be decided, so it does not hold
    assert not claims["small_wd_smaller_margin"]["holds"] and "cannot hold" in claims["small_wd_smaller_margin"][
        "detail"]
    json.dumps(s06.quoted(t, s06.sigmoid_example(), p))           # the glued values are plain


def test_every_claim_holds_on_the_papers_own_tables_and_the_ledger_shows_its_difference(trained):
    """Each claim, computed from the paper's Tables 1 and 8 exactly as from a run, holds: the claims test what the
    paper reports (no tolerance its tables contradict). The record's ``paper_value`` is that difference."""
    p, t = trained
    paper = s06.decide(s06.facts(s06.paper_table()))
    assert set(paper) == set(s06.STATEMENTS)
    assert all(holds for holds, _ in paper.values()), {k: v for k, v in paper.items() if not v[0]}
    assert paper["approx_emr_below_emr"][1] == pytest.approx(87.56 - 77.09)          # Table 8, MLP, ST
    assert paper["emr_more_robust_than_lsoftmax"][1] == pytest.approx(87.56 - 60.59)  # Table 1 (top)
    assert paper["at_emr_larger_effective_margin"][1] == pytest.approx(3.83 - 1.21)   # Table 1 (bottom), train
    claims = s06.record(t, s06.sigmoid_example(), p)["claims"]
    for name, c in claims.items():
        assert c["paper_value"] == pytest.approx(paper[name][1])


def test_headline_reads_a_record_and_gives_finite_numbers(trained):
    p, t = trained
    metrics = as_stored(s06.record(t, s06.sigmoid_example(), p)["metrics"])
    numbers = checked_headline(s06, metrics)
    assert numbers["ST+EMR robust acc (%)"] == pytest.approx(100 * t.get("ST+EMR").numbers["robust_acc"])
    st_only = {**metrics, "table": [r for r in metrics["table"] if r["training"].startswith("ST")]}
    assert not any(k.startswith("AT") or "AT " in k for k in s06.headline(st_only))   # no AT rows, no AT numbers


def test_quoted_glues_every_name_the_prose_uses(trained):
    p, t = trained
    cells = json.loads(params.find(STEM).read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    used = set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", prose))
    quoted = s06.quoted(t, s06.sigmoid_example(), p)
    assert used and used <= set(quoted)
    overview = (params.find(STEM).parents[1] / "book" / "part3_emr" / "overview.md").read_text()
    across = set(re.findall(rf"\{{glue:text\}}`/notebooks/{STEM}\.ipynb::([A-Za-z0-9_]+)", overview))
    assert across and across <= set(quoted)                       # the part's overview glues from this page
    assert quoted["approx_gap_st"] == pytest.approx(100 * s06.approx_gaps(t)["ST"])
    assert quoted["grad_alpha1"] > quoted["grad_alpha10"]


def test_tables_show_lambdas_unrounded_and_read_the_paper_without_warnings(trained):
    _, t = trained
    shown = s06.table1_frame(t)
    assert list(shown["lambda_emr"]) == ["—", "—", "0.1", "1", "—", "—", "0.0003", "0.0003"]
    assert list(shown["lambda_wd"])[2:4] == ["0.001", "0.001"]
    assert shown.loc[0, "m_test"] == "{:.2f} ± {:.2f}".format(t.runs[0].numbers["eff_margin_test_mean"],
                                                             t.runs[0].numbers["eff_margin_test_std"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        side = s06.paper_vs_book(t)
    assert side.loc[("ST+EMR", 0.001), "robust_acc (paper)"] == 87.56
    assert side.loc[("ST+EMR", 0.001), "robust_acc (book)"] == pytest.approx(
        round(100 * t.get("ST+EMR").numbers["robust_acc"], 2))
    assert math.isnan(side.loc[("ST", 0.1), "clean_acc (book)"])       # a paper row this run skips
    assert list(s06.table8(t).index) == ["ST", "AT"]


def test_figures_redraw_from_returned_data_without_training(trained, monkeypatch):
    _, t = trained

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a figure must not train")

    monkeypatch.setattr(train, "fit", refuse)
    fig = s06.curves_figure(t)
    first, weights, fig2 = fig.axes
    assert len(first.lines) == 8 and len(weights.lines) == 1 and len(fig2.lines) == 12
    assert list(first.lines[2].get_ydata()) == t.get("ST+EMR").curves["test"]
    plt.close(fig)
    st_only = dataclasses.replace(t, runs=[r for r in t.runs if r.row.training == "ST"])
    fig = s06.curves_figure(st_only)
    assert len(fig.axes) == 2
    plt.close(fig)
    fig = s06.figure1a(s06.sigmoid_example())
    assert len(fig.axes[0].lines) == 4 + 2 + 1 and len(fig.axes[1].lines) == 2
    plt.close(fig)


def test_paper_protocols_of_the_mlp_and_the_cnn():
    """The `paper` preset is §3's protocol for both models (Table 1 / Table 2, Table 8), with the AT adversary
    started at the clean point and EMR at the adversarial batch (Algorithm 1); `demo` keeps its choices."""
    p = preset_params(s06, "paper")
    mlp, cnn = s06.mlp_protocol(p), s06.cnn_protocol(p)
    assert (mlp.dataset, mlp.hidden, mlp.epochs, mlp.milestones, mlp.eps, mlp.pgd_steps) == (
        "mnist", (1024,) * 4, 50, (30,), 0.1, 20)
    assert (cnn.dataset, cnn.epochs, cnn.milestones, cnn.lr, cnn.batch_size, cnn.lsoftmax_margin) == (
        "cifar10", 100, (75, 90), 0.01, 100, 1)
    assert (cnn.eps, cnn.pgd_step, cnn.pgd_steps, cnn.at_steps) == (0.031, 0.0078, 10, 10)
    assert cnn.weight_decays == cnn.at_weight_decays == (0.01, 0.001, 0.0001)
    rows = s06.plan(p, cnn)
    assert len(rows) == 2 * (2 * 3 + 2)
    weights = {r.name: s06.emr_weight(r, p, cnn) for r in rows if r.kind in ("emr", "approx")}
    assert weights == {"ST+EMR": 0.01, "ST+Approx-EMR": 30.0, "AT+EMR": 0.001, "AT+Approx-EMR": 0.0003}  # Tables 2, 8
    built = {r.name: s06.training_method(r, p, cnn) for r in rows}
    assert built["AT"].random_start is False and built["AT+EMR"].on == "adversarial"
    assert built["ST+EMR"].on == "clean" and built["ST+LSoftmax"].margin == 1
    assert isinstance(cnn.new_model(0), models.EMRCNN)
    demo = preset_params(s06, "demo")
    assert not demo.cnn and demo.at_random_start and demo.emr_on == "clean"
    at = s06.training_method(s06.Row("AT", "emr", 0.001), demo)
    assert at.on == "clean" and at.base.random_start is True


@pytest.fixture(scope="module")
def cnn_trained() -> tuple[s06.Params, s06.Table1]:
    p = smoke(cnn=True, source="offline", cnn_n_train=8, cnn_n_test=6, cnn_n_curve=3, cnn_epochs=2,
              cnn_milestones=(1,), cnn_weight_decays=(0.001, 0.0001), cnn_at_weight_decays=(0.001,), cnn_at_steps=2,
              cnn_pgd_steps=2)
    t2 = s06.train_table2(p, s06.load_cnn_data(p), log=None)
    assert t2 is not None
    return p, t2


def test_cnn_half_runs_on_the_labelled_standin_and_records_its_claims(trained, cnn_trained):
    p, t = trained
    p2, t2 = cnn_trained
    assert s06.train_table2(p, None, log=None) is None and s06.load_cnn_data(p) is None     # cnn false: nothing
    assert t2.label == "CNN" and "stand-in" in t2.source and t2.pgd_steps == 2
    assert [r.row.name for r in t2.runs] == [r.name for r in s06.plan(p2, s06.cnn_protocol(p2))]
    for r in t2.runs:
        assert len(r.curves["test"]) == p2.cnn_epochs + 1 and 0 <= r.numbers["clean_acc"] <= 1
    out = s06.record(t, s06.sigmoid_example(), p2, t2)
    assert set(out["claims"]) == set(s06.STATEMENTS) | set(s06.CNN_STATEMENTS)
    cnn = out["metrics"]["cnn"]
    assert [row["training"] for row in cnn["table"]] == [r.row.name for r in t2.runs] and cnn["n_train"] == 8
    ledger = s06.decide(s06.facts(cnn["table"]))
    for name, mlp_name in s06.CNN_CLAIMS.items():
        assert out["claims"][name]["holds"] == ledger[mlp_name][0] and out["claims"][name]["detail"].startswith("CNN")
    json.dumps(as_stored(out["metrics"]))
    quoted = s06.quoted(t, s06.sigmoid_example(), p2, t2)
    assert "stand-in" in quoted["cnn_run_text"] and "stand-in" in quoted["cnn_figure_text"]
    assert "not trained" in s06.quoted(t, s06.sigmoid_example(), p)["cnn_figure_text"]
    fig = s06.cnn_figure(t2)
    assert fig.axes[1].get_title().startswith("(c) CNN")          # Fig. 1c: ST at each lambda_WD
    assert len(fig.axes[1].lines) == 2
    plt.close(fig)
    assert list(s06.cnn_frame(t2)["training"]) == [r.row.name for r in t2.runs]
    side = s06.paper_vs_book(t2)
    assert side.loc[("ST+EMR", 0.0005), "robust_acc (paper)"] == 16.37                # Table 2


def test_cnn_without_a_run_shows_the_papers_table2_and_its_claims_hold_there():
    shown = s06.cnn_frame(None)
    assert len(shown) == 14 + 2 and shown["robust_acc"].iloc[6] == 16.37              # Table 2 + Table 8's rows
    fig = s06.cnn_figure(None)
    assert len(fig.axes) == 2 and len(fig.axes[0].patches) == 16
    plt.close(fig)
    paper = s06.decide(s06.facts(s06.paper_table("CNN")))
    assert all(paper[mlp_name][0] for mlp_name in s06.CNN_CLAIMS.values()), paper
    assert paper["emr_more_robust_than_lsoftmax"][1] == pytest.approx(16.37 - 4.90)
