"""The trainer: schedule, history, callbacks, early stopping, NaN detection, checkpoints and exact resume."""
from __future__ import annotations

from functools import partial
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from marginlib import methods
from marginlib.augment import random_crop_flip
from marginlib.optim import multistep
from marginlib.train import CHECKPOINT, EarlyStopping, fit, load_checkpoint


def data(n: int = 64, *, seed: int = 0) -> SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = (0.5 + (y[:, None] - 0.5) * 0.3 + 0.1 * torch.randn(n, 4, generator=g)).clamp(0, 1)
    return SimpleNamespace(x=x.view(n, 1, 2, 2), y=y)


def model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 2))


KW = dict(epochs=5, batch_size=16, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3, milestones=[2, 4],
          gamma=0.5, seed=3, progress=False, device="cpu")


def test_multistep_schedule():
    assert [multistep(e, milestones=[30], gamma=0.1) for e in (1, 30, 31, 60)] == [1.0, 1.0, 0.1, 0.1]
    assert multistep(5, milestones=[2, 4], gamma=0.5) == 0.25


def test_fit_records_history_schedule_and_callbacks():
    train, test = data(), data(seed=1)
    seen = []

    def norm(m, epoch):
        seen.append((epoch, m.training))
        return float(m[1].weight.detach().norm())

    history = fit(model(), methods.Standard(), train, eval_data=test, callbacks={"w": norm}, record_at=[0, 1, 5],
                  **KW)
    assert history.epochs == [1, 2, 3, 4, 5]
    assert history.column("lr") == pytest.approx([0.05, 0.05, 0.025, 0.025, 0.0125])
    assert sorted(history.recorded) == [0, 1, 5] and seen == [(0, False), (1, False), (5, False)]
    assert "w" in history.rows[0] and "w" not in history.rows[1]
    assert history.rows[-1]["train_error"] < 0.5 and 0 <= history.rows[-1]["test_error"] <= 1
    assert history.rows[-1]["loss"] < history.rows[0]["loss"]


def test_regularizer_weight_follows_learning_rate_when_asked():
    method = methods.EMR(weight=1.0, mode="approx")
    fit(model(), method, data(), decay_regularizer=True, **KW)
    assert method.reg_scale == 0.25 and method.base.reg_scale == 0.25


@pytest.mark.parametrize("augment", [None, partial(random_crop_flip, padding=1)], ids=["plain", "augmented"])
def test_resume_after_kill_matches_uninterrupted_run(tmp_path, augment):
    train = data()
    reference = model()
    kw = {**KW, "augment": augment}
    full = fit(reference, methods.PGDAT(eps=0.05, steps=2, norm="l2"), train, **kw)

    class Killed(Exception):
        pass

    def kill(m, epoch):
        if epoch == 3:
            raise Killed

    with pytest.raises(Killed):
        fit(model(), methods.PGDAT(eps=0.05, steps=2, norm="l2"), train, checkpoint_dir=tmp_path,
            callbacks={"kill": kill}, record_at=[3], **kw)
    state = load_checkpoint(tmp_path / CHECKPOINT)
    assert state["epoch"] == 2 and not (tmp_path / (CHECKPOINT + ".tmp")).exists()
    resumed = model(seed=123)  # different initialization: the checkpoint must overwrite it
    history = fit(resumed, methods.PGDAT(eps=0.05, steps=2, norm="l2"), train, checkpoint_dir=tmp_path, **kw)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    assert history.column("loss") == full.column("loss")


def test_augment_transforms_every_training_batch_with_draws_keyed_by_epoch_and_sample():
    train = data()
    seen = []

    def identity(x, draws):
        seen.append((x.shape[0], draws.seed, sorted(draws.index.tolist())))
        return x

    plain = model()  # model() also seeds the global RNG that dropout draws from
    fit(plain, methods.Standard(), train, **KW)
    observed = model()
    history = fit(observed, methods.Standard(), train, augment=identity, **KW)
    assert [b for b, _, _ in seen] == [16] * 4 * KW["epochs"], "every batch of every epoch, on the training data only"
    seeds = [s for _, s, _ in seen]
    assert len(set(seeds)) == KW["epochs"] and seeds[:4] == [seeds[0]] * 4, "one stream per epoch"
    for e in range(KW["epochs"]):
        assert sorted(i for _, _, rows in seen[4 * e: 4 * e + 4] for i in rows) == list(range(64)), "keyed by sample"
    for a, b in zip(plain.state_dict().values(), observed.state_dict().values()):
        assert torch.equal(a, b), "the hook's draws must not disturb shuffling or dropout"
    augmented = model()
    fit(augmented, methods.Standard(), train, augment=partial(random_crop_flip, padding=1), **KW)
    assert not torch.equal(plain[1].weight, augmented[1].weight)
    assert "train_error" in history.rows[-1]


def test_resume_restores_mma_eps_memory(tmp_path):
    train = data(32)
    first = methods.MMA(d_max=0.3, norm="l2", steps=2)
    fit(model(), first, train, checkpoint_dir=tmp_path, **{**KW, "epochs": 1})
    second = methods.MMA(d_max=0.3, norm="l2", steps=2)
    fit(model(), second, train, checkpoint_dir=tmp_path, **{**KW, "epochs": 1})  # already done: loads only
    assert len(second.eps) == 32 and torch.equal(second.eps, first.eps)


def test_nonfinite_loss_names_epoch_and_batch():
    class Explode(methods.Standard):
        calls = 0

        def loss(self, model, x, y, *, index=None):
            loss, stats = super().loss(model, x, y, index=index)
            Explode.calls += 1
            return (loss * float("nan") if Explode.calls == 6 else loss), stats

    with pytest.raises(FloatingPointError, match="epoch 2, batch 1"):
        fit(model(), Explode(), data(), **KW)


def test_early_stopping_restores_best_epoch():
    values = iter([0.5, 0.9, 0.7, 0.6, 0.8, 0.1])
    snapshots = {}

    def score(m, epoch):
        snapshots[epoch] = m[1].weight.detach().clone()
        return next(values)

    net = model()
    history = fit(net, methods.Standard(), data(), callbacks={"val": score},
                  early_stopping=EarlyStopping(metric="val", mode="max", patience=2), **{**KW, "epochs": 10})
    assert history.best_epoch == 1 and history.stopped_early and history.epochs == [1, 2, 3]
    assert torch.equal(net[1].weight, snapshots[1]) and net.training


def test_fit_on_cuda(cuda):
    net = model()
    fit(net, methods.Standard(), data(), **{**KW, "device": cuda, "epochs": 1})
    assert next(net.parameters()).device.type == "cuda"


def _numpy_callbacks():
    """Callbacks returning NumPy and torch scalars, a 0-d array and a margin tensor (issue 18 item 7)."""
    import numpy as np

    return {"norm64": lambda m, e: np.float64(m[1].weight.detach().norm().item()),
            "sum0d": lambda m, e: np.array(m[1].weight.detach().sum().item(), dtype=np.float32),
            "count": lambda m, e: np.int64(e),
            "flag": lambda m, e: np.bool_(e % 2 == 0),
            "t0": lambda m, e: m[1].weight.detach().abs().max(),
            "margins": lambda m, e: m[1].weight.detach().abs().sum(1)[:3]}


def _same_history(a, b):
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(a.rows) == strip(b.rows)
    assert sorted(a.recorded) == sorted(b.recorded)
    for e in a.recorded:
        assert a.recorded[e].keys() == b.recorded[e].keys()
        for k, v in a.recorded[e].items():
            w = b.recorded[e][k]
            assert type(v) is type(w) and (torch.equal(v, w) if isinstance(v, torch.Tensor) else v == w), (e, k)
    assert (a.best_epoch, a.stopped_early) == (b.best_epoch, b.stopped_early)


def test_numpy_valued_callbacks_checkpoint_and_resume_exactly(tmp_path):
    train = data()
    kw = {**KW, "epochs": 3}
    reference = model()
    full = fit(reference, methods.Standard(), train, callbacks=_numpy_callbacks(), **kw)
    fit(model(), methods.Standard(), train, callbacks=_numpy_callbacks(), checkpoint_dir=tmp_path,
        **{**kw, "epochs": 2})
    load_checkpoint(tmp_path / CHECKPOINT)  # what resuming does: it must not refuse the history
    resumed = model(seed=123)
    history = fit(resumed, methods.Standard(), train, callbacks=_numpy_callbacks(), checkpoint_dir=tmp_path, **kw)
    for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    _same_history(history, full)
    recorded = full.recorded[3]
    assert type(recorded["norm64"]) is float and type(recorded["sum0d"]) is float
    assert type(recorded["count"]) is int and recorded["count"] == 3 and type(recorded["flag"]) is bool
    assert type(recorded["t0"]) is float and recorded["margins"].shape == (3,)
    row = full.rows[-1]
    assert {"norm64", "sum0d", "count", "flag", "t0"} <= set(row) and "margins" not in row
    assert all(type(v) in (int, float) for v in row.values())


def test_callback_returning_something_unstorable_is_named():
    with pytest.raises(TypeError, match=r"callback 'bad' returned a SimpleNamespace.*epoch 0"):
        fit(model(), methods.Standard(), data(), callbacks={"ok": lambda m, e: 1.0, "bad": lambda m, e: SimpleNamespace()},
            **{**KW, "epochs": 1})


def _dropout_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def test_fit_seeds_dropout_from_seed_and_leaves_the_global_generator_alone():
    data = SimpleNamespace(x=torch.rand(40, 1, 2, 2, generator=torch.Generator().manual_seed(1)),
                           y=torch.randint(0, 3, (40,), generator=torch.Generator().manual_seed(2)))
    weights = []
    for global_seed in (123, 456):                       # different global states before training
        model = _dropout_net()
        torch.manual_seed(global_seed)
        before = torch.get_rng_state()
        fit(model, methods.build("standard"), data, epochs=2, batch_size=10, lr=0.1, seed=7, progress=False,
            eval_train=False, device="cpu")
        assert torch.equal(torch.get_rng_state(), before)   # fit draws from its own fork
        weights.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))
    other = _dropout_net()
    fit(other, methods.build("standard"), data, epochs=2, batch_size=10, lr=0.1, seed=8, progress=False,
        eval_train=False, device="cpu")
    assert not all(torch.equal(a, b) for a, b in zip(weights[0], other.parameters()))


def test_corrupted_checkpoint_is_refused_naming_the_file(tmp_path):
    """Flipped bytes inside the weights used to load silently (issue 18 item 8)."""
    train = data()
    fit(model(), methods.Standard(), train, checkpoint_dir=tmp_path, **{**KW, "epochs": 1})
    path = tmp_path / CHECKPOINT
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle:middle + 64] = bytes(b ^ 0xFF for b in raw[middle:middle + 64])
    path.write_bytes(bytes(raw))
    with pytest.raises(RuntimeError, match=f"checkpoint {path}.*corrupted.*delete it"):
        fit(model(), methods.Standard(), train, checkpoint_dir=tmp_path, **KW)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(RuntimeError, match="unreadable or corrupted"):
        load_checkpoint(path)


@pytest.mark.parametrize("change", [{"lr": 0.5}, {"batch_size": 8}, {"seed": 4}], ids=["lr", "batch", "seed"])
def test_checkpoint_of_another_configuration_is_refused(tmp_path, change):
    train = data()
    fit(model(), methods.Standard(), train, checkpoint_dir=tmp_path, **{**KW, "epochs": 1})
    with pytest.raises(ValueError, match=f"another training configuration.*{next(iter(change))}"):
        fit(model(), methods.Standard(), train, checkpoint_dir=tmp_path, **{**KW, **change})


def test_checkpoint_of_other_data_or_method_is_refused_and_more_epochs_resume(tmp_path):
    train = data()
    fit(model(), methods.Standard(), train, checkpoint_dir=tmp_path, **{**KW, "epochs": 1})
    with pytest.raises(ValueError, match="data"):
        fit(model(), methods.Standard(), data(32), checkpoint_dir=tmp_path, **KW)
    with pytest.raises(ValueError, match="method"):
        fit(model(), methods.PGDAT(eps=0.05, steps=2, norm="l2"), train, checkpoint_dir=tmp_path, **KW)
    history = fit(model(), methods.Standard(), train, checkpoint_dir=tmp_path, **{**KW, "epochs": 2})
    assert [r["epoch"] for r in history.rows] == [1, 2]


def test_checkpoint_dir_that_is_a_file_is_refused_before_training(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(NotADirectoryError, match="checkpoint_dir"):
        fit(model(), methods.Standard(), data(), checkpoint_dir=target / "sub", **KW)


def test_automatic_checkpoints_resume_a_killed_run_and_keep_runs_apart(tmp_path, monkeypatch):
    """With MARGINLIB_CHECKPOINTS set (the paper profile), every fit checkpoints into a folder named by its
    configuration, epochs and initial weights: a killed run resumes, a finished one loads, others do not mix."""
    from marginlib.train import CHECKPOINTS_ENV

    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path))
    train = data()
    reference = model()
    fit(reference, methods.Standard(), train, **KW)
    assert len(list(tmp_path.iterdir())) == 1

    class Killed(Exception):
        pass

    def kill(m, epoch):
        if epoch == 3:
            raise Killed

    monkeypatch.setenv(CHECKPOINTS_ENV, str(tmp_path / "second"))
    with pytest.raises(Killed):
        fit(model(), methods.Standard(), train, callbacks={"kill": kill}, record_at=[3], **KW)
    resumed = model()
    history = fit(resumed, methods.Standard(), train, **KW)
    assert [r["epoch"] for r in history.rows] == [1, 2, 3, 4, 5]
    assert all(torch.equal(a, b) for a, b in zip(reference.state_dict().values(), resumed.state_dict().values()))
    fit(model(seed=9), methods.Standard(), train, **KW)                 # another initialization: its own folder
    fit(model(), methods.Standard(), train, **{**KW, "epochs": 4})      # other epochs: its own folder
    assert len(list((tmp_path / "second").iterdir())) == 3


def test_early_stopping_on_a_metric_that_is_never_recorded_is_refused():
    """It used to train on and silently never select (issue 18 item 14)."""
    with pytest.raises(ValueError, match="needs eval_data"):
        fit(model(), methods.Standard(), data(), early_stopping=EarlyStopping(metric="test_error"), **KW)
    with pytest.raises(ValueError, match="'val_acc', which is neither a column.*train_error"):
        fit(model(), methods.Standard(), data(), early_stopping=EarlyStopping(metric="val_acc"), **KW)


def test_every_random_stream_of_an_epoch_has_its_own_seed():
    from marginlib.train import _epoch_seed

    # shuffling, augmentation, dropout and the method's draws (streams 0-3) once shared seeds: 0 with 2, 1 with 3
    seeds = [_epoch_seed(s, e, stream=k) for s in range(4) for e in range(1, 60) for k in range(4)]
    assert len(set(seeds)) == len(seeds)
