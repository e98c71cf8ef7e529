"""Section 11's presets: the spectral-normalization cross runs at every profile (moves to its Params)."""
from __future__ import annotations

import pytest

from marginlib import models
from marginlib.book import params as notebook
from marginlib.book import results


AR = "notebooks/11_ar_regularization.ipynb"



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
