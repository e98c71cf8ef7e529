"""Section 01 (paper 000 §3, Figs. 1 and 3): logistic regression by gradient descent against the SVM, called
directly at the smoke preset."""
import json
import re

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from marginlib import margins
from marginlib.book.results import repo_root
from marginlib.papers.p000_minavg import linear
from marginlib.papers.p000_minavg import s01_linear as s01

from sections import checked_headline, preset_params

STEM = "01_minavg_linear"


def _smoke(**overrides):
    return preset_params(s01, "smoke", **overrides)


@pytest.fixture(scope="module")
def section():
    p = _smoke()
    d = s01.load_data(p)
    refs = s01.fit_svms(p, d)
    traj = s01.train_gd(p, d)
    return p, d, refs, traj


def test_params_refuse_bad_values_before_any_work():
    with pytest.raises(ValueError, match=r"dataset='mnist'.*'mnist01'"):
        _smoke(dataset="mnist")
    with pytest.raises(ValueError, match=r"source='web'.*'auto', 'full', 'offline'"):
        _smoke(source="web")
    with pytest.raises(ValueError, match="epochs must be > 0"):
        _smoke(epochs=0)
    with pytest.raises(ValueError, match=r"epochs=20, record_points=4 record 1 epoch.*min_margin_increases"):
        _smoke(epochs=20, record_points=4)
    with pytest.raises(ValueError, match=r"epochs=11, record_points=40 record 2 epoch.*avg_margin_decreases"):
        _smoke(epochs=11)


def test_derived_epochs():
    p = _smoke()
    assert p.record_epochs[0] == 1 and p.record_epochs[-1] == p.epochs == 300
    assert np.all(np.diff(p.record_epochs) > 0) and len(p.record_epochs) <= p.record_points
    assert p.histogram_epochs == [1, 4, 17, 72, 300] and p.late == 150.0


def test_svms_are_the_references(section):
    p, d, refs, traj = section
    assert refs.svm.penalize_bias and not refs.free.penalize_bias
    assert 0 < refs.svm.min_margin <= refs.free.min_margin      # the free SVM maximizes the input-space min margin
    assert traj.min_margin_train[-1] <= refs.svm.min_margin + 1e-9   # GD approaches the GD limit from below
    torch.testing.assert_close(refs.test_margins, linear.signed_margins(refs.svm.weight, refs.svm.bias, d.test.x,
                                                                        d.test.y))
    assert refs.test_error == float((refs.test_margins <= 0).double().mean())
    assert s01.svm_ratio(traj, refs) == pytest.approx(traj.min_margin_train[-1] / refs.svm.min_margin)


def test_recorded_margins_are_the_exact_linear_margins_of_the_final_classifier(section):
    """The trajectory's margins are paper 000 §2's formula, the binary case of margins.exact_linear."""
    p, d, refs, traj = section
    final = traj.histograms[p.epochs]["train"]
    ours = linear.signed_margins(traj.weight, traj.bias, d.train.x, d.train.y)
    assert np.array_equal(final, ours.numpy())
    core = margins.exact_linear((traj.weight[None], traj.bias[None]), d.train.x.flatten(1).double(), d.train.y)
    torch.testing.assert_close(ours, core, rtol=0, atol=1e-12)
    assert traj.min_margin_train[-1] == float(ours.min()) and traj.avg_margin_train[-1] == float(ours.mean())


def test_record_has_the_claims_and_metrics(section):
    p, d, refs, traj = section
    out = s01.record(p, d, refs, traj)
    assert set(out) == {"metrics", "claims"}
    assert set(out["claims"]) == {"min_margin_increases", "avg_margin_decreases", "approaches_svm"}
    for c in out["claims"].values():
        assert c["paper"].startswith("§3, Fig. 1") and c["detail"]
    assert "(> 0.7)" in out["claims"]["approaches_svm"]["detail"]
    assert out["claims"]["approaches_svm"]["value"] == pytest.approx(s01.svm_ratio(traj, refs))
    m = out["metrics"]
    assert set(m) == {"source", "n_train", "n_test", "epochs", "loss", "train_error", "test_error", "min_margin",
                      "avg_margin", "svm_min_margin", "svm_avg_margin", "svm_free_min_margin", "svm_ratio",
                      "rho_min", "rho_avg", "histograms"}
    assert (m["rho_min"], m["rho_avg"]) == s01.trends(p, traj)
    assert list(m["histograms"]) == [str(e) for e in p.histogram_epochs] + ["svm"]
    assert m["n_train"] == len(d.train) and "digits 0 and 1" in m["source"]
    assert traj.train_error[-1] == 0   # separable data, 300 steps at lr 1


def test_figures_are_redrawn_from_the_returned_data(section, monkeypatch):
    p, d, refs, traj = section
    monkeypatch.setattr(linear, "logistic_gd", lambda *a, **k: pytest.fail("a figure retrained"))
    fig = s01.figure1(traj, refs)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    np.testing.assert_array_equal(fig.axes[0].lines[0].get_ydata(), traj.min_margin_train)
    np.testing.assert_array_equal(fig.axes[1].lines[1].get_ydata(), traj.avg_margin_test)
    hist = s01.figure1c(traj, refs)
    titles = [ax.get_title() for ax in hist.axes if ax.get_visible()]
    assert titles == [f"epoch {e}" for e in p.histogram_epochs] + ["SVM"]
    fig3 = s01.figure3(traj)
    assert [ax.get_title() for ax in fig3.axes] == ["training loss", "training error", "test error"]
    assert fig3.axes[0].get_yscale() == "log"


def test_quoted_numbers_cover_every_glue_name_of_the_page(section):
    p, d, refs, traj = section
    cells = json.loads((repo_root() / "notebooks" / f"{STEM}.ipynb").read_text())["cells"]
    prose = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    glued = set(re.findall(r"\{glue:text\}`([a-z_0-9]+)", prose))
    q = s01.quoted(p, d, refs, traj)
    assert glued == set(q)
    assert q["n_epochs"] == "300" and q["early_epochs"] == s01.EARLY and q["svm_ratio"] == s01.svm_ratio(traj, refs)
    assert "after" in s01.gd_summary(p, refs, traj) and "free-intercept" in s01.svm_summary(refs)


def test_headline_reads_a_json_loaded_record(section):
    p, d, refs, traj = section
    top = checked_headline(s01, s01.record(p, d, refs, traj)["metrics"])
    assert top["svm_ratio"] == pytest.approx(s01.svm_ratio(traj, refs))


def test_seed_zero_keeps_the_split_and_another_draws_one_of_the_same_sizes(section):
    p, d, refs, traj = section
    assert _smoke().seed == 0
    other = s01.load_data(_smoke(seed=3))
    assert (len(other.train), len(other.test)) == (len(d.train), len(d.test))
    assert "seed 3" in other.train.source
    pooled = torch.cat([d.train.x, d.test.x]).flatten(1)
    drawn = torch.cat([other.train.x, other.test.x]).flatten(1)
    assert sorted(map(tuple, pooled[:, ::97].tolist())) == sorted(map(tuple, drawn[:, ::97].tolist()))
    assert not torch.equal(other.train.x, d.train.x)
    assert torch.equal(s01.load_data(_smoke(seed=3)).train.x, other.train.x)   # the same seed, the same draw
    with pytest.raises(ValueError, match="seed must be >= 0"):
        _smoke(seed=-1)


def test_the_part_overview_glues_only_numbers_this_section_quotes(section):
    overview = (repo_root() / "book" / "part1_minavg" / "overview.md").read_text()
    keys = set(re.findall(rf"\{{glue:text\}}`/notebooks/{STEM}\.ipynb::([a-z_0-9]+)", overview))
    assert keys and keys <= set(s01.quoted(*section))
