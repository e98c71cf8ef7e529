"""Paper 004's singular-value summaries (marginlib.papers.p004_ar.spectra)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib import spectrum
from marginlib.papers.p004_ar import spectra


def test_singular_value_std_is_the_population_std_of_each_layers_values(generator):
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * 6 * 6, 5)).double()
    x = torch.rand(2, 1, 6, 6, generator=generator, dtype=torch.float64)
    values = spectrum.layer_singular_values(model, x)
    assert spectra.singular_value_std(model, x) == pytest.approx([float(v.std(correction=0)) for v in values])


def test_std_change_sums():
    out = spectra.std_change_sums([1.0, 0.5, 2.0, 0.1], [0.5, 0.7, 1.0, 0.1])
    assert out["falls_n"] == 2 and out["falls_sum"] == pytest.approx(1.5) and out["falls_mean"] == pytest.approx(0.75)
    assert out["rises_n"] == 1 and out["rises_sum"] == pytest.approx(0.2)
    assert spectra.std_change_sums([1.0], [1.0])["rises_mean"] == 0.0
    with pytest.raises(ValueError, match="one STD per layer"):
        spectra.std_change_sums([1.0], [1.0, 2.0])
