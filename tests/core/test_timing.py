"""marginlib.timing: best-of-k wall time, one SGD step of a method, and the memory autograd saves for backward."""
from __future__ import annotations

import time

import pytest
import torch
from torch import nn

from marginlib import methods, timing


def _mlp(width: int = 32) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, width), nn.ReLU(), nn.Linear(width, 10))


def _batch(n: int):
    gen = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=gen), torch.randint(0, 10, (n,), generator=gen)


def test_best_time_is_the_minimum_over_repeats():
    delays = iter([0.05, 0.03, 0.001, 0.04])
    assert timing.best_time(lambda: time.sleep(next(delays)), repeat=3, warmup=1) < 0.02


@pytest.mark.parametrize("kw", [{"repeat": 0}, {"warmup": -1}])
def test_best_time_rejects_bad_counts(kw):
    with pytest.raises(ValueError, match="repeat"):
        timing.best_time(lambda: None, **kw)


def test_step_seconds_leaves_the_model_untouched():
    model = _mlp().eval()
    before = [p.detach().clone() for p in model.parameters()]
    x, y = _batch(16)
    assert timing.step_seconds(methods.Standard(), model, x, y, repeat=2) > 0
    assert not model.training
    assert all(torch.equal(a, b) and p.grad is None for a, b, p in zip(before, model.parameters(), model.parameters()))


def test_saved_bytes_scale_with_the_batch_and_the_hidden_layer():
    x, y = _batch(64)
    small = timing.saved_bytes(methods.Standard(), _mlp(32), x[:32].clone(), y[:32].clone())
    assert timing.saved_bytes(methods.Standard(), _mlp(32), x, y) == pytest.approx(2 * small, rel=0.05)
    # The flattened input (64 x 64 floats) is saved by the first layer and the hidden activation by the second.
    assert small >= 32 * 64 * 4 + 32 * 32 * 4


def test_saved_bytes_count_kept_graphs_not_freed_ones():
    x, y = _batch(32)
    model = _mlp()
    standard = timing.saved_bytes(methods.Standard(), model, x, y)
    # PGD's inner graphs are freed step by step: its peak is one standard graph (on the adversarial batch).
    assert timing.saved_bytes(methods.PGDAT(eps=0.1, steps=5), model, x, y) == pytest.approx(standard, rel=0.05)
    # Exact EMR keeps the graph of ten input gradients for its backward: far more than a standard step.
    assert timing.saved_bytes(methods.EMR(weight=0.1), model, x, y) > 3 * standard


def test_best_times_visits_every_callable_each_round_and_keeps_minima():
    calls = []
    delays = {"a": iter([0.03, 0.02, 0.001, 0.02]), "b": iter([0.01] * 4)}

    def make(name):
        return lambda: (calls.append(name), time.sleep(next(delays[name])))

    best = timing.best_times({"a": make("a"), "b": make("b")}, rounds=3, repeat=1, warmup=1)
    assert calls == ["a", "a", "b", "b", "a", "b", "a", "b"]  # warm-up + first round, then the rounds in turn
    assert best["a"] < 0.008 and 0.009 < best["b"] < 0.03
    with pytest.raises(ValueError, match="rounds"):
        timing.best_times({"a": lambda: None}, rounds=0)
