"""Section 02 (paper 000 §4.1-4.2, Figs. 2a-c, 4-7) called directly at the smoke preset, without papermill."""
from __future__ import annotations

import dataclasses
import json
import re

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from marginlib import models, train
from marginlib.book.results import repo_root
from marginlib.papers.p000_minavg import s02_deep as s02
from marginlib.papers.p000_minavg.schedule import PAPER_SCHEDULE

from sections import as_stored, checked_headline, preset_params

STEM = "02_minavg_deep"


def smoke() -> s02.Params:
    return preset_params(s02, "smoke")


def glued_names(stem: str) -> set[str]:
    cells = json.loads((repo_root() / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return set(re.findall(r"\{glue:text\}`([^`:]+)", text))


@pytest.fixture(scope="module")
def trained():
    p = smoke()
    d = s02.load_data(p)
    return p, d, s02.train_models(p, d)


def test_schedules_follow_appendix_a():
    paper = s02.Params(epochs=200, late_records=0, epochs_lr=1000)
    assert paper.schedule("mlp1x1024") == list(PAPER_SCHEDULE)
    assert paper.second_half("mlp1x1024") == [120, 160, 200]  # the three points the prose names
    assert paper.schedule("logreg") == list(range(1, 1001))  # LR: margins every epoch
    demo = s02.Params()
    assert demo.second_half("mlp1x1024") == [50, 60, 70, 80, 90, 100]  # "What the demo shows"
    assert (demo.draws("logreg"), demo.draw_batches("logreg")) == (1, 1)  # one draw is exact for LR
    assert (demo.draws("cw_mnist"), demo.n_points("cw_mnist")) == (demo.n_samples_cnn, demo.n_margin_cnn)


@pytest.mark.parametrize("change, match", [
    ({"models": ("vgg",)}, "models='vgg'.*logreg"),
    ({"models": ()}, "models"),
    ({"models": ("mlp", "mlp1x1024")}, "models=.*'mlp'"),
    ({"epochs": 2, "late_records": 0}, "epochs=2, late_records=0"),
    ({"epochs_lr": 3, "models": ("logreg",)}, "epochs_lr=3"),
    ({"n_margin": 50, "n_margin_cnn": 100}, "n_margin_cnn=100 > n_margin=50"),
])
def test_params_refuse_inconsistent_values_before_any_work(change, match):
    with pytest.raises(ValueError, match=match):
        dataclasses.replace(s02.Params(), **change)


def test_models_are_library_models():
    assert set(s02.LABEL) <= set(models.names())


def test_record_has_every_claim_and_the_metrics_of_each_model(trained):
    p, d, runs = trained
    out = s02.record(runs, d, p)
    assert set(out) == {"metrics", "claims"}
    claims = out["claims"]
    assert list(claims) == ["min_margin_increases_lr", "avg_margin_decreases_lr",
                            "min_margin_increases_mlp", "avg_margin_decreases_mlp"]
    assert all("§4.2" in c["paper"] for c in claims.values())
    assert claims["min_margin_increases_mlp"]["paper"].startswith("MLP: ")
    metrics = out["metrics"]
    assert metrics["n_train"] == p.n_train and set(metrics["models"]) == set(p.models)
    for name, m in metrics["models"].items():
        assert m["epochs"] == p.schedule(name)
        assert all(lo <= avg for lo, avg in zip(m["min_margin_train"], m["avg_margin_train"]))
        assert len(m["training"]["loss"]) == p.n_epochs(name)
        assert len(m["histograms"]["train"][str(m["epochs"][-1])]) == p.n_points(name)
        rho = s02.trends(runs, p)[name]
        key = p.key(name)
        assert claims[f"min_margin_increases_{key}"]["holds"] == (rho["rho_min"] > s02.TREND)
        assert claims[f"avg_margin_decreases_{key}"]["holds"] == (rho["rho_avg"] < -s02.TREND)
        assert claims[f"avg_margin_decreases_{key}"]["value"] == rho["rho_avg"]


def test_figures_and_tables_redraw_from_returned_data_without_training(trained, monkeypatch):
    p, d, runs = trained

    def no_training(*args, **kwargs):
        raise AssertionError("a figure retrained a model")

    monkeypatch.setattr(train, "fit", no_training)
    for fig, panels in ((s02.figure_curves(runs), 2 * len(p.models)), (s02.figure_training(runs), 3)):
        assert isinstance(fig, Figure) and len(fig.axes) == panels
        plt.close(fig)
    hist = s02.figure_histograms(runs)
    shown = sum(len(s02.shown_epochs(r.train.epochs)) for r in runs.values())
    assert sum(ax.get_visible() for ax in hist.axes) == shown
    plt.close(hist)
    table = s02.summary_frame(runs)
    assert list(table.index) == ["LR", "MLP"] and table["epochs"].tolist() == [p.epochs_lr, p.epochs]


def test_quoted_numbers_cover_the_prose(trained):
    p, d, runs = trained
    quoted = s02.quoted(runs, d, p)
    assert glued_names(STEM) <= set(quoted)
    assert quoted["deep_models"] == "LR, MLP"
    assert str(p.schedule("mlp1x1024")) in quoted["deep_epochs"]


def test_headline_reads_a_json_loaded_record(trained):
    p, d, runs = trained
    top = checked_headline(s02, s02.record(runs, d, p)["metrics"])
    assert top["rho_avg_mlp"] == s02.trends(runs, p)["mlp1x1024"]["rho_avg"]


def test_quoted_names_a_model_the_run_did_not_train(trained):
    p, d, runs = trained
    quoted = s02.quoted(runs, d, p)
    assert quoted["deep_rho_min_cnn"] == "(no CNN in this run)"
    assert quoted["deep_rho_avg_mlp"] == f"{s02.trends(runs, p)['mlp1x1024']['rho_avg']:+.2f}"


def test_the_part_overview_glues_only_numbers_this_section_quotes(trained):
    overview = (repo_root() / "book" / "part1_minavg" / "overview.md").read_text()
    keys = set(re.findall(rf"\{{glue:text\}}`/notebooks/{STEM}\.ipynb::([a-z_0-9]+)", overview))
    assert keys and keys <= set(s02.quoted(trained[2], trained[1], trained[0]))


def test_cifar_half_runs_on_the_labelled_standin_and_claims_under_cifar_names():
    p = dataclasses.replace(smoke(), models=("logreg",), cifar_models=("logreg", "cw_cifar"), source="offline",
                            n_train=40, n_train_cifar=20, n_test=20, epochs_lr=4, epochs_cnn=4, n_margin=4,
                            n_margin_cnn=1, n_samples_cnn=1)
    d = s02.load_data(p)
    dc = s02.load_cifar(p)
    assert dc is not None and dc.train.is_standin and dc.train.x.shape[1:] == (3, 32, 32) and len(dc.test) == 20
    runs = s02.train_models(p, d)
    cruns = s02.train_cifar(p, dc)
    assert list(cruns) == ["cifar_logreg", "cw_cifar"]
    assert cruns["cifar_logreg"].train.epochs == [1, 2, 3, 4]          # LR: every epoch
    assert len(cruns["cw_cifar"].train.margins[0]) == 1                  # n_margin_cnn points
    rec = s02.record(runs, d, p, cifar_runs=cruns, cifar_data=dc)
    assert {"min_margin_increases_cifar_lr", "avg_margin_decreases_cifar_cnn"} <= set(rec["claims"])
    assert rec["metrics"]["cifar"]["standin"] is True
    assert set(s02.headline(as_stored(rec)["metrics"])) == {
        "rho_min_lr", "rho_avg_lr", "min_margin_final_lr", "avg_margin_final_lr"}   # CIFAR stays out of the headline
    assert "stand-in" in s02.cifar_text(p, cruns, dc)
    assert isinstance(s02.figure_curves(cruns), Figure)
    plt.close("all")


def test_demo_trains_no_cifar_model_and_its_figures_say_so():
    p = s02.Params()
    assert p.cifar_models == () and s02.load_cifar(p) is None and s02.train_cifar(p, None) == {}
    fig = s02.figure_curves({})
    assert "not run" in fig.axes[0].texts[0].get_text()
    assert s02.cifar_text(p, {}, None).startswith("not run")
    plt.close("all")
