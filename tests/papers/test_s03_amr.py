"""Section 03 (paper 000 §4.3, Table 1, Figs. 2d-f) called directly at the smoke preset, without papermill.

Also the preset checks that were ``test_presets_amr.py``: every profile trains an MLP and a CNN (now refused by
``Params.__post_init__`` otherwise), and ``paper`` trains the paper's CNN with its settings."""
from __future__ import annotations

import dataclasses
import json
import re

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from marginlib import models, train
from marginlib.book.results import PROFILES, repo_root
from marginlib.papers.p000_minavg import s03_amr as s03
from marginlib.papers.p000_minavg.schedule import PAPER_SCHEDULE

from sections import checked_headline, preset_params

STEM = "03_amr"


def at(profile: str) -> s03.Params:
    return preset_params(s03, profile)


def glued_names(stem: str) -> set[str]:
    cells = json.loads((repo_root() / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return set(re.findall(r"\{glue:text\}`([^`:]+)", text))


@pytest.fixture(scope="module")
def trained():
    p = at("smoke")
    d = s03.load_data(p)
    return p, d, s03.train_and_evaluate(p, d)


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_runs_an_mlp_and_a_cnn(profile):
    p = at(profile)
    assert "mlp1x1024" in p.models and len(set(p.models) & set(s03.CNNS)) == 1


def test_paper_profile_trains_the_papers_cnn_with_its_settings():
    p = at("paper")
    assert "cw_mnist" in p.models
    assert p.budget("cw_mnist") == {"epochs": 200, "n_margin": 500, "n_samples": 1024}
    assert p.tau("cw_mnist") == 10.0 and p.record_epochs("cw_mnist") == list(PAPER_SCHEDULE)


def test_models_are_library_models():
    assert set(s03.MLPS + s03.CNNS) <= set(models.names())


@pytest.mark.parametrize("change, match", [
    ({"models": ("mlp1x1024",)}, r"models=\('mlp1x1024',\).*one CNN"),
    ({"models": ("mlp1x1024", "small_cnn", "cw_mnist")}, "models=.*one MLP"),
    ({"models": ("mlp1x1024", "vgg")}, "models='vgg'.*small_cnn"),
    ({"methods_compared": ("standard", "amr")}, r"methods_compared=.*\['parseval'\]"),
    ({"methods_compared": ("standard", "parseval", "amr", "trades")}, "methods_compared='trades'"),
    ({"eps": ()}, "eps"),
    ({"eps": (-1.0,)}, "eps must be >= 0"),
    ({"n_eval": 20}, "n_margin/n_margin_cnn=100 > n_eval=20"),
])
def test_params_refuse_inconsistent_values_before_any_work(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(s03.Params(), **change)


def test_derived_settings():
    p = s03.Params()
    assert p.record_epochs("mlp1x1024") == [1, 2, 4, 6, 8, 10, 16, 24, 32, 40]  # App. A scaled to 40 epochs
    assert p.largest == "2"
    amr = p.method("amr", "small_cnn")
    assert (amr.lam, amr.tau, amr.beta) == (p.lam, p.tau_cnn, p.beta)
    released = p.method("amr_logit", "mlp1x1024")
    assert (released.mu, released.tau) == (p.lam, p.tau_mlp)
    assert p.method("parseval", "mlp1x1024").beta == p.parseval_beta


def test_record_has_every_claim_and_the_table(trained):
    p, d, runs = trained
    out = s03.record(runs, d, p)
    claims, metrics = out["claims"], out["metrics"]
    assert list(claims) == [f"amr_{kind}_gt_{other}{at}{s}" for s in ("", "_cnn") for other in ("std", "lcr")
                            for kind, at in (("avg_margin", ""), ("robust", "_at_largest_eps"))]
    assert all("§4.3" in c["paper"] for c in claims.values())
    assert all("LCR" in c["paper"] for name, c in claims.items() if "_lcr" in name)
    # the paper's leads, read from Table 1 (MNIST): MLP AMR - LCR at eps 2, CNN AMR - Std margin (unreadable)
    assert claims["amr_robust_gt_lcr_at_largest_eps"]["paper_value"] == pytest.approx(38.44 - 34.07)
    assert claims["amr_avg_margin_gt_std"]["paper_value"] == pytest.approx(1.41 - 0.80)
    assert "paper_value" not in claims["amr_avg_margin_gt_std_cnn"]
    assert metrics["n_eval"] == p.n_eval and metrics["budget"]["small_cnn"]["epochs"] == p.epochs_cnn
    for model_name, s in (("mlp1x1024", ""), ("small_cnn", "_cnn")):
        table = metrics["table"][model_name]
        assert list(table) == list(p.methods_compared)
        for row in table.values():
            assert list(row["robust_acc"]) == ["0.5", "1", "1.5", "2"]
            assert all(0 <= a <= 1 for a in row["robust_acc"].values()) and 0 <= row["clean_acc"] <= 1
        std, amr = table["standard"], table["amr"]
        assert claims[f"amr_avg_margin_gt_std{s}"]["holds"] == (amr["avg_margin"] > std["avg_margin"])
        assert claims[f"amr_robust_gt_std_at_largest_eps{s}"]["holds"] == (amr["robust_acc"]["2"] > std["robust_acc"]["2"])
        lcr = table["parseval"]
        assert claims[f"amr_avg_margin_gt_lcr{s}"]["holds"] == (amr["avg_margin"] > lcr["avg_margin"])
        assert claims[f"amr_avg_margin_gt_lcr{s}"]["value"] == pytest.approx(amr["avg_margin"] - lcr["avg_margin"])
        assert claims[f"amr_robust_gt_lcr_at_largest_eps{s}"]["holds"] == (amr["robust_acc"]["2"] > lcr["robust_acc"]["2"])
        curves = metrics["curves"][model_name]["amr"]
        assert curves["epochs"] == p.record_epochs(model_name) and curves["avg_margin"][-1] == amr["avg_margin"]


def test_figures_and_tables_redraw_from_returned_data_without_training(trained, monkeypatch):
    p, d, runs = trained

    def no_training(*args, **kwargs):
        raise AssertionError("a figure retrained a model")

    monkeypatch.setattr(train, "fit", no_training)
    for fig in (s03.figure_margin_curves(runs), s03.figure_robust(runs, p)):
        assert isinstance(fig, Figure) and len(fig.axes) == len(p.models)
        assert all(len(ax.get_lines()) == len(p.methods_compared) for ax in fig.axes)
        plt.close(fig)
    table = s03.comparison_frame(runs, p)
    assert table.xs("paper 000", level="source").shape[0] == 6  # paper 000's Table 1, MNIST half
    assert table.xs("this run", level="source").shape[0] == len(p.models) * len(p.methods_compared)
    assert list(table.columns) == ["clean", "eps 0.5", "eps 1", "eps 1.5", "eps 2", "avg margin"]
    assert table.loc[("MLP", "AMR", "paper 000"), "eps 2"] == 38.44
    assert s03.summary_frame(runs).shape == (len(p.models) * len(p.methods_compared), 6)


def test_quoted_numbers_cover_the_prose(trained):
    p, d, runs = trained
    quoted = s03.quoted(runs, p)
    assert glued_names(STEM) <= set(quoted)
    assert quoted["amr_clean_amr_cnn"] == 100 * runs["small_cnn"]["amr"].clean_acc


def test_headline_reads_a_json_loaded_record(trained):
    p, d, runs = trained
    top = checked_headline(s03, s03.record(runs, d, p)["metrics"])
    assert len(top) == 12
    assert top["robust_largest_amr_cnn"] == pytest.approx(100 * runs["small_cnn"]["amr"].robust_acc["2"])
    assert top["avg_margin_lcr"] == pytest.approx(runs["mlp1x1024"]["parseval"].avg_margin)


def test_versus_lcr_names_the_leader_and_the_verdict(trained):
    p, d, runs = trained
    text = s03.versus_lcr(runs["mlp1x1024"], p)
    assert "AMR" in text and "LCR" in text and text.endswith(("as in the paper", "the reverse of the paper",
                                                               "only half of the paper's claim"))


def test_the_part_overview_glues_only_numbers_this_section_quotes(trained):
    overview = (repo_root() / "book" / "part1_minavg" / "overview.md").read_text()
    keys = set(re.findall(rf"\{{glue:text\}}`/notebooks/{STEM}\.ipynb::([a-z_0-9]+)", overview))
    assert keys and keys <= set(s03.quoted(trained[2], trained[0]))


def test_cifar_half_runs_on_the_labelled_standin_with_its_radii_taus_and_claims():
    p = dataclasses.replace(at("smoke"), cifar_models=("logreg", "mlp1x1024", "cw_cifar"), source="offline",
                            n_train_cifar=10, n_test=10, n_eval=4, n_margin=2, n_margin_cnn=1, n_samples_cnn=1,
                            epochs_lr=2, methods_compared=("standard", "parseval", "amr"))
    assert p.tau("cifar_logreg") == p.tau_mlp and p.tau("cifar_mlp1x1024") == p.tau_cifar_mlp
    assert p.tau("cw_cifar") == p.tau_cnn and p.budget("cifar_logreg")["epochs"] == 2
    assert p.budget("logreg")["epochs"] == 2 and dataclasses.replace(p, epochs_lr=0).budget("logreg")["epochs"] == p.epochs
    dc = s03.load_cifar(p)
    assert dc is not None and dc.train.is_standin and len(dc.test) == 10
    cruns = s03.train_cifar(p, dc)
    assert list(cruns) == ["cifar_logreg", "cifar_mlp1x1024", "cw_cifar"]
    assert list(cruns["cw_cifar"]["amr"].robust_acc) == ["0.1", "0.2", "0.3", "0.4"]
    d = s03.load_data(p)
    runs = s03.train_and_evaluate(dataclasses.replace(p, epochs=1, epochs_cnn=1), d)
    rec = s03.record(runs, d, p, cifar_runs=cruns, cifar_data=dc)
    assert {"amr_robust_gt_lcr_at_largest_eps_cifar_cnn", "amr_avg_margin_gt_std_cifar_mlp",
            "amr_avg_margin_gt_std_cifar_lr"} <= set(rec["claims"])
    assert rec["claims"]["amr_avg_margin_gt_std_cifar_cnn"]["paper_value"] == pytest.approx(0.31 - 0.09)
    assert "paper_value" not in rec["claims"]["amr_avg_margin_gt_std_cifar_lr"]     # Table 1 has no LR row
    assert rec["metrics"]["cifar"]["standin"] is True
    frame = s03.cifar_comparison_frame(cruns, p)
    assert ("CNN", "AMR", "this run") in frame.index and ("MLP", "Std", "paper 000") in frame.index
    assert "stand-in" in s03.cifar_text(p, cruns, dc)
    assert isinstance(s03.figure_robust(cruns, p), Figure)
    plt.close("all")


def test_demo_trains_no_cifar_model_and_shows_the_papers_rows():
    p = s03.Params()
    assert s03.load_cifar(p) is None and s03.train_cifar(p, None) == {}
    assert len(s03.cifar_comparison_frame({}, p)) == 6
    assert "not run" in s03.figure_margin_curves({}).axes[0].texts[0].get_text()
    assert s03.cifar_text(p, {}, None).startswith("not run")
    plt.close("all")


def test_released_code_options_default_to_the_paper():
    p = s03.Params()
    assert p.method_lr("amr") == p.lr and dataclasses.replace(p, lr_amr=0.002).method_lr("amr_logit") == 0.002
    assert dataclasses.replace(p, lr_amr=0.002).method_lr("standard") == p.lr
    assert p.method("parseval", "mlp1x1024").mode == "retraction"
    assert dataclasses.replace(p, lcr_mode="penalty").method("parseval", "mlp1x1024").mode == "penalty"
    with pytest.raises(ValueError, match="lcr_mode"):
        s03.Params(lcr_mode="clip")
