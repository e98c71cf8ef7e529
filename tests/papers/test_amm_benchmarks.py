"""The benchmark helpers of sections 09-10 (paper 003 §4.4-4.5): reference/AMM pairs, margins, cost ratios and
seed summaries. The schedules of appendix Table 2 are tested in test_amm_config.py."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from marginlib import margins, models
from marginlib.data import Dataset
from marginlib.papers.p003_amm import benchmarks as bench
from marginlib.papers.p003_amm.config import Schedule


def _data(n: int = 8, side: int = 12, seed: int = 0) -> SimpleNamespace:
    g = torch.Generator().manual_seed(seed)
    return SimpleNamespace(x=torch.rand(n, 1, side, side, generator=g), y=torch.arange(n) % 10)


def test_model_kwargs_pick_the_papers_variants():
    shape = {"num_classes": 100, "in_channels": 3, "input_size": 32}
    assert bench.model_kwargs("LiuNet", "cifar100", **shape)["variant"] == "cifar100"
    assert bench.model_kwargs("LiuNet", "svhn", **{**shape, "num_classes": 10})["variant"] == "cifar10"
    assert bench.model_kwargs("LeNet", "mnist", num_classes=10, in_channels=1, input_size=28)["variant"] == "mnist"
    assert "variant" not in bench.model_kwargs("DenseNet-40", "cifar10", **shape)
    with pytest.raises(ValueError, match="DenseNet-40"):
        bench.model_kwargs("VGG-16", "cifar10", **shape)


def test_error_and_margin_of_an_affine_model_is_the_exact_margin_with_overshoot():
    """DeepFool lands on the nearest boundary of an affine classifier in one step: ||r|| = 1.02 x exact margin."""
    model = models.build("logreg", seed=3, input_size=12).eval()
    data = _data(64)
    exact = margins.exact_linear(model, data.x, data.y)
    got = bench.error_and_margin(model, data, batch_size=16)
    assert got["error"] == pytest.approx(float((exact < 0).float().mean()))
    assert got["margin_points"] == int((exact > 0).sum()) > 0 and got["margin_unreached"] == 0
    assert got["deepfool_margin"] == pytest.approx(1.02 * float(exact[exact > 0].mean()), rel=1e-4)


def test_released_margin_averages_every_image_from_its_prediction():
    """The released code's test margin (5 DeepFool steps from the predicted class, every image): on an affine model
    each point's ||r|| is 1.02 x its distance to the nearest boundary, misclassified points included."""
    model = models.build("logreg", seed=3, input_size=12).eval()
    data = _data(64)
    assert (margins.exact_linear(model, data.x, data.y) < 0).any()
    from_prediction = margins.exact_linear(model, data.x, model(data.x).argmax(1))  # distance to leave that class
    torch.testing.assert_close(bench.released_margin(model, data.x), 1.02 * from_prediction, rtol=1e-4, atol=1e-6)
    got = bench.error_and_margin(model, data, batch_size=16)
    assert got["released_margin"] == pytest.approx(1.02 * float(from_prediction.mean()), rel=1e-4)


def test_imagenet_evaluation_restricts_deepfool_to_the_training_candidates(monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "error_and_margin", lambda model, **kw: seen.append(kw["candidates"]) or {})
    monkeypatch.setattr(bench.train, "fit", lambda *a, **kw: None)
    data = {"train": _data(), "val": _data()}
    bench.finetune_imagenet(models.build("logreg", input_size=12), data, schedule=Schedule(8, 1, 0.01))
    assert seen == [9, 9, 9]  # without it every DeepFool step backpropagates one cotangent per class (999)


def _bn_stats(model: nn.Module) -> list[torch.Tensor]:
    return [t for m in model.modules() if isinstance(m, nn.BatchNorm2d) for t in (m.running_mean, m.weight)]


def test_fine_tuning_pair_freezes_batchnorm_and_adds_the_continued_reference():
    data = _data()
    one = Schedule(8, 1, 0.05)
    pair = bench.train_pair("ResNet-20", data, dataset="mnist", reference=one,
                            amm=Schedule(8, 1, 0.05, scratch=False),
                            model_kw={"in_channels": 1, "num_classes": 10}, seed=0)
    assert list(pair) == ["reference", "reference_continued", "amm"]
    ref = _bn_stats(pair["reference"]["model"])
    for name in ("reference_continued", "amm"):
        model = pair[name]["model"]
        assert all(torch.equal(a, b) for a, b in zip(ref, _bn_stats(model)))  # statistics and scale frozen
        assert all(type(m) is nn.BatchNorm2d for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    conv = lambda n: pair[n]["model"].body[0].weight
    assert not torch.equal(conv("amm"), conv("reference")) and not torch.equal(conv("amm"), conv("reference_continued"))
    assert bench.epoch_time_ratio(pair) > 0


def test_scratch_pair_starts_both_networks_from_the_same_weights():
    data = _data()
    one = Schedule(8, 1, 1e-12)  # a negligible step: both stay at their (shared) initial weights
    pair = bench.train_pair("LeNet", data, dataset="mnist", reference=one, amm=one,
                            model_kw={"in_channels": 1, "num_classes": 10, "input_size": 12, "variant": "cifar"},
                            seed=4)
    assert list(pair) == ["reference", "amm"]
    a, b = pair["reference"]["model"].state_dict(), pair["amm"]["model"].state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_cost_ratios_measure_amm_against_cross_entropy_without_touching_the_model():
    model = models.build("mlp", hidden=(16,), input_size=12, seed=0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    data = _data(20)
    cost = bench.cost_ratios(model, data.x, data.y, repeat=1, warmup=0)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert cost["time_ratio"] == pytest.approx(cost["amm_step_seconds"] / cost["reference_step_seconds"])
    assert cost["time_ratio"] > 1 and cost["memory_ratio"] > 1  # DeepFool's steps add work and saved tensors
    assert cost["reference_saved_bytes"] > 0


def test_summarize_means_and_stds_over_seeds():
    runs = [{"amm": {"error": 0.01, "deepfool_margin": 1.0}}, {"amm": {"error": 0.03, "deepfool_margin": 2.0}}]
    s = bench.summarize(runs)["amm"]
    assert s["error_mean"] == pytest.approx(2.0) and s["error_std"] == pytest.approx(2 ** 0.5)
    assert s["deepfool_margin"] == pytest.approx(1.5) and s["errors"] == pytest.approx([1.0, 3.0])
    assert bench.summarize(runs[:1])["amm"]["error_std"] == 0.0
    assert s["diverged"] == 0 and "curve" not in s and "released_margin" not in s


def test_summarize_runs_leaves_diverged_runs_out_and_averages_curves():
    runs = [{"error": 0.1, "deepfool_margin": 1.0, "released_margin": 0.5, "curve": [0.3, 0.1], "seconds": 2.0},
            None,
            {"error": 0.2, "deepfool_margin": 3.0, "released_margin": 1.5, "curve": [0.5, 0.2], "seconds": 4.0}]
    s = bench.summarize_runs(runs)
    assert s["diverged"] == 1 and s["errors"] == pytest.approx([10.0, 20.0])
    assert s["error_mean"] == pytest.approx(15.0) and s["error_std"] == pytest.approx(50 ** 0.5)
    assert s["deepfool_margin"] == pytest.approx(2.0) and s["released_margin"] == pytest.approx(1.0)
    assert s["curve"] == pytest.approx([0.4, 0.15]) and s["seconds_per_run"] == pytest.approx(3.0)
    none = bench.summarize_runs([None, None], epochs=3)
    assert none["diverged"] == 2 and none["errors"] == [] and len(none["curve"]) == 3
    assert all(v != v for v in (none["error_mean"], none["deepfool_margin"], none["seconds_per_run"], *none["curve"]))
    assert "curve" not in bench.summarize_runs([None])


def test_imagenet_inputs_fail_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="imagenet_weights"):
        bench.load_imagenet_model("resnet18", tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="imagenet_arch"):
        bench.load_imagenet_model("vgg16", tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="imagenet_data"):
        bench.load_imagenet_tensors(tmp_path / "missing.pt")
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    torch.save({"train": {"x": x, "y": torch.tensor([1, 2])}}, tmp_path / "part.pt")
    with pytest.raises(ValueError, match="'val'"):
        bench.load_imagenet_tensors(tmp_path / "part.pt")
    torch.save({"train": {"x": x, "y": torch.tensor([1, 2])}, "val": {"x": x, "y": torch.tensor([0, 3])}},
               tmp_path / "ok.pt")
    loaded = bench.load_imagenet_tensors(tmp_path / "ok.pt")
    assert isinstance(loaded["val"], Dataset) and loaded["val"].split == "val" and len(loaded["train"]) == 2
    torch.testing.assert_close(loaded["val"].x, x.float() / 255)
    assert loaded["train"].y.dtype == torch.long and loaded["train"].num_classes == bench.IMAGENET_CLASSES
