"""Section 03's presets: AMR runs an MLP and a CNN at every profile (moves to its Params)."""
from __future__ import annotations

import pytest

from marginlib import models
from marginlib.book import params as notebook
from marginlib.book import results


AMR = "notebooks/03_amr.ipynb"


@pytest.mark.parametrize("profile", results.PROFILES)
def test_amr_runs_an_mlp_and_a_cnn_at_every_profile(profile):
    p = notebook.resolve(AMR, profile)
    assert "mlp1x1024" in p["models"] and len(set(p["models"]) & {"small_cnn", "cw_mnist"}) == 1
    assert set(p["models"]) <= set(models.names())


def test_amr_paper_profile_trains_the_papers_cnn_with_its_settings():
    p = notebook.resolve(AMR, "paper")
    assert "cw_mnist" in p["models"]
    assert (p["epochs_cnn"], p["tau_cnn"], p["n_margin_cnn"], p["n_samples_cnn"]) == (200, 10.0, 500, 1024)
