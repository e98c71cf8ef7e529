"""Section 08 (paper 003 §3.2-3.3.3, Fig. 1): AMM alone on the 2-D toy data, called directly at the smoke preset."""
import json
import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from marginlib import margins, train
from marginlib.book import params
from marginlib.book.results import repo_root
from marginlib.papers.p000_minavg import linear
from marginlib.papers.p003_amm import amm_linear, config
from marginlib.papers.p003_amm import s08_toy2d as s08

from sections import checked_headline, preset_params

STEM = "08_amm_toy2d"


def _smoke(**overrides):
    return preset_params(s08, "smoke", **overrides)


@pytest.fixture(scope="module")
def section():
    p = _smoke()
    toy = s08.load_data()
    closed = s08.closed_form(toy)
    runs = s08.train_configs(p, toy)
    return p, toy, closed, runs


def test_params_refuse_bad_values_and_derive_the_schedule():
    with pytest.raises(ValueError, match="epochs must be > 0"):
        _smoke(epochs=0)
    with pytest.raises(ValueError, match="max_grad_norm must be >= 0"):
        _smoke(max_grad_norm=-1.0)
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        _smoke(batch_size=0)
    assert _smoke().milestones == [1, 2, 3] and _smoke(epochs=1000).milestones == [250, 500, 750]
    assert _smoke(epochs=1).milestones == []
    assert _smoke().clip == 10.0 and _smoke(max_grad_norm=0.0).clip is None


def test_closed_form_is_orthogonal_to_the_centre_line_and_its_margin_exact(section):
    p, toy, closed, runs = section
    assert closed.angle == pytest.approx(90.0)
    midpoint = (toy.mu0 + toy.mu1) / 2
    assert float(closed.w @ midpoint + closed.b) == pytest.approx(0.0, abs=1e-5)
    # the old two-logit pair (0, w) and paper 000's binary formula give the same minimum margin
    b = torch.tensor(closed.b)
    pair = (torch.stack([torch.zeros_like(closed.w), closed.w]), torch.stack([torch.zeros_like(b), b]))
    assert closed.min_margin == float(margins.exact_linear(pair, toy.train.x, toy.train.y).min())
    assert closed.min_margin == pytest.approx(float(linear.signed_margins(closed.w, b, toy.train.x, toy.train.y).min()),
                                              abs=1e-6)
    assert closed.min_margin < 0 < toy.svm.min_margin == pytest.approx(0.99, abs=0.005)


def test_the_svm_boundary_separates_the_test_set_with_the_largest_margin(section):
    p, toy, closed, runs = section
    svm = s08.evaluate_boundary(toy.svm.weight.float(), torch.tensor(toy.svm.bias, dtype=torch.float32), toy)
    assert svm.test_acc == 1.0 and svm.min_margin == pytest.approx(toy.svm.min_margin, abs=1e-5)
    assert svm.angle == pytest.approx(amm_linear.angle_to_line(toy.svm.weight, toy.centre_line))
    flipped = s08.evaluate_boundary(-svm.w, torch.tensor(-svm.b), toy)
    assert flipped.test_acc == 0.0 and flipped.min_margin < 0
    on_the_right_side = linear.signed_margins(closed.w, torch.tensor(closed.b), toy.test.x, toy.test.y) > 0
    assert closed.test_acc == pytest.approx(float(on_the_right_side.float().mean()))


def test_every_configuration_trains_and_records_its_curve(section):
    p, toy, closed, runs = section
    assert list(runs) == list(s08.ORDER) == ["AVG+LIN", "AVG+INV", "AVG+EXP", "MIN+LIN", "MIN+INV", "MIN+EXP"]
    for name, r in runs.items():
        assert len(r.min_margin_curve) == p.epochs
        assert r.min_margin_curve[-1] == pytest.approx(r.boundary.min_margin, abs=1e-6)
        assert r.setting == dict(config.APPENDIX_TABLE1[name]) and 0 <= r.boundary.test_acc <= 1
    assert len({r.initial_train_acc for r in runs.values()}) == 1   # the same start for every configuration


def test_one_configuration_reruns_identically(section):
    p, toy, closed, runs = section
    again = s08.train_config("MIN+EXP", config.MIN_EXP, p, toy)
    assert again.min_margin_curve == runs["MIN+EXP"].min_margin_curve
    assert torch.equal(again.boundary.w, runs["MIN+EXP"].boundary.w)


def test_record_has_the_claims_and_metrics(section):
    p, toy, closed, runs = section
    out = s08.record(toy, runs, closed)
    assert set(out["claims"]) == {"min_configs_reach_max_margin", "avg_lin_orthogonal_to_centers",
                                  "nonlinear_shrinkage_beats_lin_under_avg",
                                  "nonlinear_shrinkage_improves_margin_under_avg"}
    for c in out["claims"].values():
        assert {"holds", "detail", "paper"} <= set(c) and c["paper"].strip()
    m = out["metrics"]
    assert set(m) == {"source", "n_train", "n_test", "configs", "test_acc", "min_margin",
                      "boundary_angle_to_center_line", "min_margin_curves", "closed_form_avg_lin", "svm_min_margin",
                      "class_centres"}
    assert set(m["configs"]["MIN+EXP"]) == {"test_acc", "min_margin", "boundary_angle_to_center_line", "b", "w",
                                            "aggregation", "shrinkage", "lam", "c", "d", "initial_train_acc"}
    assert m["closed_form_avg_lin"]["boundary_angle_to_center_line"] == closed.angle
    assert out["claims"]["avg_lin_orthogonal_to_centers"]["holds"] == (abs(90 - runs["AVG+LIN"].boundary.angle) < 5)
    # every MIN setting counts, MIN+LIN included (the paper: "the MIN settings")
    lowest = min(runs[n].boundary.min_margin for n in ("MIN+LIN", "MIN+INV", "MIN+EXP"))
    assert out["claims"]["min_configs_reach_max_margin"]["holds"] == (lowest > 0.9)
    assert out["claims"]["min_configs_reach_max_margin"]["value"] == lowest
    assert out["claims"]["min_configs_reach_max_margin"]["paper_value"] == 1.0   # book/data/paper003_quotes.csv


def test_claims_are_strict_and_name_their_failures(section):
    p, toy, closed, runs = section
    tied = {n: r for n, r in runs.items()}
    same = s08.Boundary(w=runs["AVG+LIN"].boundary.w, b=runs["AVG+LIN"].boundary.b,
                        test_acc=runs["AVG+LIN"].boundary.test_acc, min_margin=runs["AVG+LIN"].boundary.min_margin,
                        angle=runs["AVG+LIN"].boundary.angle)
    for n in ("AVG+INV", "AVG+EXP"):
        tied[n] = s08.ConfigRun(n, runs[n].setting, same, runs[n].initial_train_acc, runs[n].min_margin_curve)
    c = s08.claims(tied)
    assert not c["nonlinear_shrinkage_beats_lin_under_avg"]["holds"]          # a tie is not "better"
    assert not c["nonlinear_shrinkage_improves_margin_under_avg"]["holds"]
    assert "does not reproduce" in s08.fig1_text(tied) and "(b)-(c)" in s08.fig1_text(tied)


def test_headline_is_a_dict_of_finite_floats_from_the_metrics(section):
    p, toy, closed, runs = section
    h = checked_headline(s08, s08.record(toy, runs, closed)["metrics"])
    assert h["MIN+LIN min margin"] == runs["MIN+LIN"].boundary.min_margin


def test_every_claim_is_listed_in_the_preset_file(section):
    p, toy, closed, runs = section
    required = params.spec(STEM).required
    assert set(required) == set(s08.record(toy, runs, closed)["claims"])


def test_figure_and_table_are_redrawn_from_the_returned_data(section, monkeypatch):
    p, toy, closed, runs = section
    monkeypatch.setattr(train, "fit", lambda *a, **k: pytest.fail("a figure retrained"))
    fig = s08.figure1(runs, closed, toy)
    assert isinstance(fig, Figure) and len(fig.axes) == 8
    assert fig.axes[0].get_title().startswith("(a) AVG+LIN") and fig.axes[3].get_title().startswith("(g) eq. (12)")
    curves = {line.get_label(): line.get_ydata() for line in fig.axes[7].lines}
    np.testing.assert_array_equal(curves["MIN+EXP"], runs["MIN+EXP"].min_margin_curve)
    table = s08.paper_vs_book(runs, closed)
    assert list(table.index) == [*s08.ORDER, "eq. (12) closed form"]
    assert table.loc["MIN+EXP", "lambda, c, d (App. Table 1)"] == "32, 2, 1"


def test_quoted_numbers_cover_every_glue_name_of_the_page(section):
    p, toy, closed, runs = section
    cells = json.loads((repo_root() / "notebooks" / f"{STEM}.ipynb").read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    q = s08.quoted(toy, runs)
    assert set(re.findall(r"\{glue:text\}`([a-z_0-9]+)", prose)) == set(q)
    assert q["avglin_angle"] == runs["AVG+LIN"].boundary.angle and q["svm_margin"] == toy.svm.min_margin
    assert s08.runs_summary(runs).count("\n") == len(s08.ORDER) - 1 and "centres" in s08.data_summary(toy)
