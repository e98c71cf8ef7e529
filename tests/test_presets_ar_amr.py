"""Presets of 11_ar_regularization's spectral-normalization cross (paper 004 App. B.4.2) and of 03_amr's CNN
(paper 000 §4.3), checked without executing the notebooks: the notebooks refuse inconsistent values at run time,
this catches them when a preset is edited."""
from __future__ import annotations

import pytest

from marginlib import models, notebook, results

AR = "notebooks/11_ar_regularization.ipynb"
AMR = "notebooks/03_amr.ipynb"


@pytest.mark.parametrize("profile", results.PROFILES)
def test_spectral_cross_runs_at_every_profile_on_trained_strengths(profile):
    p = notebook.resolve(AR, profile)
    assert p["sn_targets"] and all(t > 0 for t in p["sn_targets"])
    cross = {float(s) for s in p["sn_strengths"]}
    assert len(cross) >= 2 and cross <= {float(s) for s in p["strengths"]}


def test_spectral_cross_at_paper_uses_the_papers_targets_and_ar_strengths():
    p = notebook.resolve(AR, "paper")
    assert sorted(p["sn_targets"]) == [1.0, 3.0, 5.0]
    assert sorted(p["sn_strengths"]) == pytest.approx([4 / 255, 8 / 255, 16 / 255])


@pytest.mark.parametrize("profile", results.PROFILES)
def test_amr_runs_an_mlp_and_a_cnn_at_every_profile(profile):
    p = notebook.resolve(AMR, profile)
    assert "mlp1x1024" in p["models"] and len(set(p["models"]) & {"small_cnn", "cw_mnist"}) == 1
    assert set(p["models"]) <= set(models.names())


def test_amr_paper_profile_trains_the_papers_cnn_with_its_settings():
    p = notebook.resolve(AMR, "paper")
    assert "cw_mnist" in p["models"]
    assert (p["epochs_cnn"], p["tau_cnn"], p["n_margin_cnn"], p["n_samples_cnn"]) == (200, 10.0, 500, 1024)
