"""Paper 003's settings written once (config.py): appendix Table 1 equals its CSV, MIN+EXP, the learning-rate decay
at 1/2 and 4/5 of training, and appendix Table 2's rows as schedules."""
from __future__ import annotations

import pytest

from marginlib import methods
from marginlib.papers import tables
from marginlib.papers.p003_amm import config
from marginlib.papers.p003_amm.config import Schedule


def test_appendix_table1_is_the_papers_csv():
    csv = tables.read("paper003_apptable1")
    from_csv = {f"{r.aggregation}+{r.shrinkage}": {"aggregation": r.aggregation.lower(),
                                                   "shrinkage": r.shrinkage.lower(), "lam": float(r["lambda"]),
                                                   "c": float(r.c), "d": float(r.d)} for _, r in csv.iterrows()}
    assert {k: dict(v) for k, v in config.APPENDIX_TABLE1.items()} == from_csv
    assert list(config.CONFIGURATIONS) == list(from_csv)


def test_min_exp_and_the_benchmarks_amm():
    assert dict(config.MIN_EXP) == {"aggregation": "min", "shrinkage": "exp", "lam": 32.0, "c": 2.0, "d": 1.0}
    assert dict(config.BENCHMARK_AMM) == {**config.MIN_EXP, "candidates": 9}
    with pytest.raises(TypeError):
        config.MIN_EXP["lam"] = 1.0  # type: ignore[index]  # written once, read everywhere
    amm = methods.build("amm", **config.BENCHMARK_AMM)
    assert (amm.lam, amm.c, amm.d, amm.aggregation, amm.shrinkage, amm.candidates) == (32.0, 2.0, 1.0, "min", "exp", 9)


def test_decay_milestones_are_half_and_four_fifths():
    table2 = tables.read("paper003_apptable2")
    mnist = table2[table2.dataset == "MNIST"].iloc[0]
    assert config.decay_milestones(int(mnist.epochs)) == tuple(int(m) for m in mnist.milestones.split())  # 50 80
    assert config.decay_milestones(20) == (10, 16)
    assert config.decay_milestones(3) == (1, 2)
    assert config.decay_milestones(2) == (1, 1)  # decayed twice after the first epoch
    assert config.decay_milestones(1) == ()  # a milestone 0 would decay the rate before training starts
    with pytest.raises(ValueError, match="epochs"):
        config.decay_milestones(0)


def test_schedule_validates_and_feeds_the_trainer():
    s = Schedule(128, 400, 0.01, (250, 350), scratch=False)
    assert s.fit_kw() == {"epochs": 400, "batch_size": 128, "lr": 0.01, "milestones": [250, 350], "gamma": 0.1}
    assert Schedule.decaying(100, 20, 0.02) == Schedule(100, 20, 0.02, (10, 16), scratch=True)
    with pytest.raises(ValueError, match="batch_size"):
        Schedule(0, 10, 0.1)


def test_appendix_table2_rows_give_reference_and_amm_schedules():
    ref, amm = config.appendix_table2("CIFAR-10", "ResNet-20")
    assert ref == Schedule(128, 400, 0.01, (250, 350), scratch=True)
    assert amm == Schedule(128, 400, 0.01, (250, 350), scratch=False)  # fine-tuned from the reference
    assert config.appendix_table2("MNIST", "LeNet")[1].scratch  # "Scratch: yes"
    assert config.appendix_table2("ImageNet", "ResNet-18")[1] == Schedule(32, 10, 0.01, (5, 8), scratch=False)
    with pytest.raises(ValueError, match="CIFAR-10/ResNet-20"):
        config.appendix_table2("CIFAR-10", "VGG-16")
