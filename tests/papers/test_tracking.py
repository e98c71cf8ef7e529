"""Tests of marginlib.papers.p000_minavg.tracking (paper 000 §4.1, eq. (3)): margin tracking during training, and of
the App. A epoch schedule shared by sections 02 and 03."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from marginlib import margins, methods, train
from marginlib.data import Dataset
from marginlib.papers.p000_minavg import schedule
from marginlib.papers.p000_minavg.tracking import margin_curves, margin_tracker

from nets import central_points, random_linear


def linear_model(generator: torch.Generator, k: int = 3) -> nn.Module:
    return random_linear(4, k, generator, bias="centred")


def test_margin_tracker_is_exact_for_linear_models_and_repeatable(generator):
    model = linear_model(generator)
    x = central_points(generator, 16)
    y = torch.randint(0, 3, (16,), generator=generator)
    track = margin_tracker(x, y, n_samples=3, n_batches=2, seed=5)
    assert torch.allclose(track(model, 1), margins.exact_linear(model, x, y), atol=1e-5)
    relu = nn.Sequential(nn.Flatten(), nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 3))
    assert torch.equal(track(relu, 1), track(relu, 2))  # the same draws at every epoch
    other = margin_tracker(x, y, n_samples=3, n_batches=2, seed=6)
    assert not torch.equal(track(relu, 1), other(relu, 1))  # ... and they depend on the seed


def test_margin_curves_summarize_fit_records(generator):
    x = central_points(generator, 40)
    y = torch.randint(0, 3, (40,), generator=generator)
    data = Dataset("toy", "train", x, y, "test", 3)
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))
    track = margin_tracker(x[:10], y[:10], n_samples=4, n_batches=1)
    history = train.fit(model, methods.build("standard"), data, epochs=4, batch_size=8, lr=0.1, device="cpu",
                        callbacks={"m": track}, record_at=[0, 2, 4], progress=False, eval_train=False)
    curves = margin_curves(history.recorded, "m")
    assert curves.epochs == [0, 2, 4]
    for e, lo, avg in zip(curves.epochs, curves.minimum, curves.average):
        raw = history.recorded[e]["m"].double()
        assert lo == pytest.approx(float(raw.min())) and avg == pytest.approx(float(raw.mean()))
        assert curves.at(e).shape == (10,)
    with pytest.raises(ValueError, match="epoch"):
        curves.at(3)
    with pytest.raises(ValueError, match="'m'"):
        margin_curves(history.recorded, "missing")


def test_paper_schedule_scales_with_the_run_length():
    assert schedule.paper_epochs(200) == list(schedule.PAPER_SCHEDULE)  # App. A as printed
    assert schedule.paper_epochs(100) == [1, 5, 10, 15, 20, 25, 40, 60, 80, 100]
    assert schedule.paper_epochs(2) == [1, 2]  # early epochs collapse onto epoch 1, never 0
    assert schedule.late_epochs(100, 5) == [50, 60, 70, 80, 90]
    assert schedule.late_epochs(100, 0) == []
    with pytest.raises(ValueError, match="n_epochs"):
        schedule.paper_epochs(0)
