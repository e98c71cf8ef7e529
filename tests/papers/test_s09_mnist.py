"""Section 09 (paper 003 §4.1-4.3, MNIST MLP): marginlib.papers.p003_amm.s09_mnist at the smoke preset."""
from __future__ import annotations

import dataclasses
import json
import math
import re

import matplotlib.pyplot as plt
import pytest

from marginlib import methods
from marginlib.book.results import repo_root
from marginlib.papers.p003_amm import config
from marginlib.papers.p003_amm import s09_mnist as s09

from sections import preset_params

STEM = "09_amm_mnist"


def smoke(**overrides: object) -> s09.Params:
    return preset_params(s09, "smoke", **overrides)


@pytest.fixture(scope="module")
def trained() -> tuple[s09.Params, s09.Data, dict, s09.Sweeps]:
    p = smoke()
    d = s09.load_data(p)
    runs = s09.train_runs(p, d)
    return p, d, runs, s09.train_sweeps(p, d, runs)


def _glued(stem: str) -> set[str]:
    cells = json.loads((repo_root() / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))


def test_params_refuse_inconsistent_values_before_any_work():
    with pytest.raises(ValueError, match="configs='six'.*'core', 'all'"):
        smoke(configs="six")
    with pytest.raises(ValueError, match="architectures='vgg'.*'lenet', 'liunet'"):
        smoke(architectures=("vgg",))
    with pytest.raises(ValueError, match="noisy_clean=.*n_train=200"):
        smoke(noisy_clean=(100, 300))          # more correct labels than training images
    with pytest.raises(ValueError, match="seeds"):
        smoke(seeds=0)
    assert smoke(n_train=0, noisy_clean=(55000,)).noisy_clean == (55000,)   # 0: every image, size known later


def test_configurations_schedule_and_objectives_follow_the_paper():
    p = smoke()
    assert p.trained == ["reference", "MIN+EXP", "MIN+EXP w/o high order", "elsayed"]
    everything = dataclasses.replace(p, configs="all")
    assert everything.table1 == ["reference", *config.CONFIGURATIONS]
    assert everything.trained[-2:] == ["MIN+EXP w/o high order", "elsayed"] and len(everything.trained) == 9
    assert p.schedule.fit_kw()["milestones"] == [1, 1] and s09.Params().schedule.milestones == (10, 16)
    assert list(p.seed_range) == [0] and list(smoke(seed=3, seeds=2).seed_range) == [3, 4]
    ref, amm, noho = (s09.method(n, p) for n in ("reference", "MIN+EXP", "MIN+EXP w/o high order"))
    assert isinstance(ref, methods.Standard) and ref.max_grad_norm == 10.0
    assert (amm.lam, amm.c, amm.d, amm.high_order, amm.candidates) == (32.0, 2.0, 1.0, True, None)
    assert (noho.lam, noho.high_order) == (32.0, False)
    avg_lin = s09.method("AVG+LIN", p)
    assert (avg_lin.aggregation, avg_lin.shrinkage, avg_lin.lam, avg_lin.c, avg_lin.d) == ("avg", "lin", 1.0, 4.0, 4.0)
    els = s09.method("elsayed", p)
    assert (els.lam, els.gamma) == (p.elsayed_lam, p.elsayed_gamma)
    with pytest.raises(ValueError, match="MIN\\+EXP"):
        s09.method("MAX+EXP", p)


def test_runs_summaries_and_record(trained):
    p, d, runs, sweeps = trained
    assert list(runs) == p.trained
    assert (len(d.train), len(d.test), d.n_margin) == (200, 200, 50)
    for r in runs.values():
        assert r["diverged"] == 0 and len(r["errors"]) == p.seeds and len(r["curve"]) == p.epochs
        # the error of the evaluation is the trainer's last test error (same model, same test set)
        assert r["error_mean"] == pytest.approx(100 * r["curve"][-1], abs=1e-9)
        assert r["deepfool_margin"] > 0 and r["released_margin"] > 0
    out = s09.record(runs, sweeps, d, p)
    claims = out["claims"]
    assert set(claims) == {"amm_min_exp_beats_reference", "amm_larger_margin", "high_order_gradients_help"}
    assert claims["high_order_gradients_help"]["required_at"] == ["paper"]
    assert claims["amm_larger_margin"]["holds"] == (runs["MIN+EXP"]["deepfool_margin"]
                                                    > runs["reference"]["deepfool_margin"])
    m = out["metrics"]
    assert set(m) == {"source", "n_train", "n_test", "n_margin", "error", "deepfool_margin", "released_margin",
                      "curves", "seconds_per_run", "diverged_runs", "fewer_samples", "noisy_labels", "architectures"}
    assert m["fewer_samples"]["sizes"] == [100, 200] and m["noisy_labels"] == {"clean": [], **{n: [] for n in
                                                                                              s09.COMPETITORS}}
    assert m["fewer_samples"]["MIN+EXP"][1] == runs["MIN+EXP"]["error_mean"]
    json.dumps(out["metrics"])


def test_sweeps_reuse_the_main_runs_and_train_the_smaller_sets(trained):
    p, d, runs, sweeps = trained
    for name in s09.COMPETITORS:
        small, full = sweeps.fewer[name]
        assert full is runs[name]          # 200 images: the main training set, not retrained
        assert small is not runs[name] and len(small["curve"]) == p.epochs
    assert sweeps.architectures == {}


def test_quoted_numbers_cover_every_glue_name_of_the_prose(trained):
    p, d, runs, sweeps = trained
    q = s09.quoted(runs)
    assert _glued(STEM) <= set(q)
    assert q["minexp_err"] == q["minexp_err2"] == runs["MIN+EXP"]["error_mean"]
    assert q["cost_ratio"] == runs["MIN+EXP"]["seconds_per_run"] / runs["reference"]["seconds_per_run"]


def test_figures_are_drawn_from_returned_data_without_training(trained):
    p, d, runs, sweeps = trained
    fig = s09.figure_curves(runs, p)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == len(p.table1) and len(fig.axes[1].lines) == 4
    plt.close(fig)
    fake = {name: {"error_mean": 1.0, "error_std": 0.1} for name in s09.COMPETITORS}
    redrawn = s09.figure_data(s09.Sweeps({n: [fake[n]] * 2 for n in fake}, {n: [] for n in fake}, {}),
                              dataclasses.replace(p, sample_sizes=(10, 20)))
    assert len(redrawn.axes[0].lines) == 4 and "not run" in redrawn.axes[1].texts[0].get_text()
    plt.close(redrawn)


def test_paper_table_sets_the_papers_rows_beside_this_run(trained):
    p, d, runs, sweeps = trained
    t = s09.paper_table(runs, sweeps)
    assert t.loc[("Table 1", "reference"), "paper error (%)"] == "1.79 ± 0.06"
    assert t.loc[("Table 1", "MIN+EXP"), "this run error (%)"].startswith(f"{runs['MIN+EXP']['error_mean']:.2f}")
    assert t.loc[("Table 1", "AVG+LIN"), "this run error (%)"] == "—"       # not trained at configs="core"
    assert t.loc[("Table 3", "AMM, LeNet"), "this run error (%)"] == "—"    # architectures=() at smoke
    assert not any(isinstance(v, float) and math.isnan(v) for v in t.to_numpy().ravel())
