"""Paper 003's paper profiles (issue 16): sections 08-10's dry runs are cuts of their paper presets, the presets
state the paper's numbers, and the size and length parameters the dry runs cut (09's ``grid_images``, 10's
``images_per_50k`` / ``epochs_per_400`` / ``crop`` / ``source`` / ``amm_*``) do what they say and leave the
demo untouched."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from marginlib.book import params
from marginlib.papers.p003_amm import config
from marginlib.papers.p003_amm import s09_mnist as s09
from marginlib.papers.p003_amm import s10_benchmarks as s10
from marginlib.papers.p003_amm.config import Schedule

from sections import preset_params

STEMS = ("08_amm_toy2d", "09_amm_mnist", "10_amm_benchmarks")


@pytest.mark.parametrize("stem", STEMS)
def test_dry_run_is_a_cut_of_the_paper_preset(stem: str) -> None:
    assert params.dry_run_problems(params.spec(stem)) == []


def test_09_paper_preset_is_the_papers_protocol() -> None:
    p = preset_params(s09, "paper")
    assert (p.n_train, p.n_test, p.hidden, p.epochs, p.batch_size, p.lr, p.seeds) == (60000, 10000, 800, 100, 100,
                                                                                      0.005, 5)
    assert p.fewer_sizes == list(range(5000, 60001, 5000))          # §4.3.2: {5k, 10k, 15k, ..., 60k}
    assert p.noisy_sizes == list(range(0, 55001, 5000))             # §4.3.3: {0k, 5k, ..., 55k}
    assert p.schedule.milestones == (50, 80)                        # appendix Table 2


def test_09_grid_images_scales_both_grids_and_keeps_the_claims_anchors() -> None:
    p = preset_params(s09, "smoke")
    assert p.fewer_sizes == list(p.sample_sizes)                    # 1: the lists as given
    dry = params.spec("09_amm_mnist").profile("paper", dry_run=True)
    q = s09.Params(**{k: tuple(v) if isinstance(v, list) else v for k, v in dry.items()})
    assert q.fewer_sizes == [40, 110, 120] and q.noisy_sizes == [0, 10]
    assert q.fewer_sizes[-1] == q.n_train                           # the largest size reuses the main runs
    assert q.n_train - q.scaled(55000) in q.noisy_sizes             # 55k random labels, scaled
    with pytest.raises(ValueError, match="grid_images"):
        dataclasses.replace(p, grid_images=0)
    with pytest.raises(ValueError, match="at most n_train=200"):
        dataclasses.replace(p, noisy_clean=(100,), grid_images=240000)  # 400 correct labels of 200 images


def test_10_shortened_schedules_keep_their_shape() -> None:
    ref = Schedule(128, 400, 0.01, (250, 350), scratch=True)
    assert s10.shortened(ref, 1.0) is ref
    assert s10.shortened(ref, 0.1) == Schedule(128, 40, 0.01, (25, 35), scratch=True)
    assert s10.shortened(ref, 0.0025) == Schedule(128, 1, 0.01, (), scratch=True)   # at least one epoch
    p = dataclasses.replace(s10.Params(), schedule="paper", epochs_per_400=200)
    assert p.schedules("cifar10", "NIN")[1] == Schedule(100, 200, 0.005, (125, 175), scratch=False)
    with pytest.raises(ValueError, match="epochs_per_400=800"):
        dataclasses.replace(p, epochs_per_400=800)


def test_10_sizes_amm_options_and_crops() -> None:
    demo = s10.Params()
    assert demo.sizes("mnist") == (1500, None)                      # demo: n_train / n_test as before
    assert demo.amm_options == {**config.BENCHMARK_AMM}             # demo: the MLP's MIN+EXP, as before
    assert demo.augment("cifar10") is s10.bench.AUGMENTATIONS["cifar10"] and demo.augment("mnist") is None
    cut = dataclasses.replace(demo, images_per_50k=100)
    assert cut.sizes("cifar10") == (100, 20) and cut.sizes("svhn") == (1209, 52)
    assert dataclasses.replace(demo, amm_lam=8.0).amm_options["lam"] == 8.0
    text = dataclasses.replace(demo, crop="resize36")
    x = torch.rand(4, 3, 32, 32)
    out = text.augment("cifar10")(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and not torch.equal(out, x)
    assert preset_params(s10, "paper").crop == "resize36"           # §4.1.2, the paper's text


def test_10_offline_source_admits_the_labelled_standin_at_paper() -> None:
    p = dataclasses.replace(s10.Params(), profile="paper", datasets=("cifar10", "cifar100"), source="offline",
                            images_per_50k=100)
    loaded = s10.load_data(p)
    train_set, test_set = loaded.sets["cifar10"]
    assert train_set.is_standin and (len(train_set), len(test_set)) == (100, 20)
    assert "cifar100" in loaded.missing and "cifar10" not in loaded.missing
