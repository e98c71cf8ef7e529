"""Section 10 (paper 003 §4.4-4.5, image benchmarks and the cost of AMM): marginlib.papers.p003_amm.s10_benchmarks
at the smoke preset."""
from __future__ import annotations

import dataclasses
import json
import os
import re

import matplotlib.pyplot as plt
import pytest

from marginlib.book import params
from marginlib.book.results import repo_root
from marginlib.papers.p003_amm import s10_benchmarks as s10
from marginlib.papers.p003_amm.config import Schedule

from sections import checked_headline, preset_params

STEM = "10_amm_benchmarks"


def smoke(**overrides: object) -> s10.Params:
    return preset_params(s10, "smoke", **overrides)


@pytest.fixture(scope="module")
def trained() -> tuple[s10.Params, s10.Loaded, s10.Benchmarks]:
    p = smoke()
    loaded = s10.load_data(p)
    return p, loaded, s10.train_benchmarks(p, loaded)


def _glued(stem: str) -> set[str]:
    cells = json.loads((repo_root() / "notebooks" / f"{stem}.ipynb").read_text())["cells"]
    text = "".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    return set(re.findall(r"\{glue:text\}`([A-Za-z0-9_]+)", text))


def test_params_refuse_unknown_names_and_half_given_imagenet_paths():
    with pytest.raises(ValueError, match=r"unknown names \['VGG-16'\]: architectures among .*DenseNet-40"):
        smoke(architectures=("LeNet", "VGG-16"))
    with pytest.raises(ValueError, match=r"unknown names \['imagenet'\].*datasets among .*svhn"):
        smoke(datasets=("imagenet",))
    with pytest.raises(ValueError, match="imagenet_weights='w.pt', imagenet_data=''.*both"):
        smoke(imagenet_weights="w.pt")
    with pytest.raises(ValueError, match="schedule='long'"):
        smoke(schedule="long")


def test_schedules_demo_and_appendix_table2():
    p = s10.Params()
    assert p.schedules("mnist", "LeNet") == (Schedule(100, 20, 0.02, (10, 16), scratch=True),
                                             Schedule(100, 3, 0.005, (1, 2), scratch=False))
    assert smoke().schedules("mnist", "LeNet")[0].milestones == ()   # one epoch: no decay
    paper = dataclasses.replace(p, schedule="paper")
    ref, amm = paper.schedules("cifar10", "ResNet-20")
    assert (ref.batch_size, ref.epochs, ref.lr, ref.milestones, amm.scratch) == (128, 400, 0.01, (250, 350), False)
    assert paper.schedules("svhn", "LeNet")[1] == Schedule(100, 100, 0.005, (50, 80), scratch=True)


@pytest.mark.skipif(bool(os.environ.get("MARGINLIB_DATA")), reason="CIFAR-100 files may be present")
def test_missing_data_sets_are_skipped_with_the_reason():
    loaded = s10.load_data(smoke(datasets=("cifar100",)))
    assert loaded.sets == {} and "cifar100" in loaded.missing
    assert loaded.describe().startswith("skipped ")


def test_record_claims_and_metrics(trained):
    p, loaded, b = trained
    key = "LeNet (MNIST)"
    assert list(b.rows) == [key] and b.first == key
    assert list(b.rows[key]) == ["reference", "reference_continued", "amm"]   # AMM fine-tunes at demo/smoke
    assert set(b.cost[key]) >= {"time_ratio", "memory_ratio", "epoch_time_ratio", "amm_saved_bytes"}
    out = s10.record(b, loaded, {}, p)
    claims = out["claims"]
    assert set(claims) == {"amm_lowers_error", "amm_raises_margin", "cost_in_paper_range"}
    for c in claims.values():
        assert c["paper"].strip() and isinstance(c["detail"], str)
    row = b.rows[key]
    larger = all(row["amm"]["released_margin"] > row[m]["released_margin"] for m in ("reference", "reference_continued"))
    assert claims["amm_raises_margin"]["holds"] == larger
    # beside the paper's MNIST LeNet row of Table 3 (book/data)
    assert claims["amm_raises_margin"]["paper_value"] == 2.21 and claims["amm_lowers_error"]["paper_value"] == 0.56
    assert claims["amm_raises_margin"]["value"] == row["amm"]["released_margin"]
    m = out["metrics"]
    assert m["n_train"] == {"mnist": 40} and m["n_test"] == {"mnist": 50} and m["skipped_datasets"] == {}
    assert m["error"][key] == {k: v["error_mean"] for k, v in row.items()}
    assert m["curves"][key]["amm"] == b.histories[key]["amm"].column("test_error")
    assert m["time_ratio"][key] == b.cost[key]["epoch_time_ratio"] and m["imagenet"] == {}
    json.dumps(m)


def test_quoted_numbers_cover_every_glue_name_of_the_prose(trained):
    p, loaded, b = trained
    q = s10.quoted(b)
    assert _glued(STEM) == set(q)
    assert q["pair_name"] == "LeNet (MNIST)"
    row = b.rows["LeNet (MNIST)"]
    assert row["reference_continued"]["deepfool_margin"] != row["reference"]["deepfool_margin"]
    # the prose's "reference" is the one trained on as long as AMM; "first_ref" the reference as first trained
    assert (q["ref_err"], q["ref_margin"]) == (row["reference_continued"]["error_mean"],
                                               row["reference_continued"]["released_margin"])
    assert q["first_ref_margin"] == row["reference"]["released_margin"]
    assert q["ref_margin_book"] == row["reference_continued"]["deepfool_margin"]
    assert q["verdict_text"].startswith("In this run AMM shows")
    empty = s10.quoted(s10.Benchmarks({}, {}, {}))
    assert empty["pair_name"] == "—" and empty["amm_err"] != empty["amm_err"]   # NaN when no pair was trained


def test_figures_and_tables_are_drawn_from_returned_data_without_training(trained):
    p, loaded, b = trained
    fig = s10.figure_pairs(b)
    assert len(fig.axes) == 3 and len(fig.axes[0].lines) == 3 and fig.axes[0].get_title() == "(a) LeNet (MNIST)"
    plt.close(fig)
    plt.close(s10.figure_pairs(s10.Benchmarks({}, {}, {})))   # every data set skipped: empty panels, no error
    cost = s10.cost_frame(b)
    assert list(cost.index) == ["LeNet (MNIST)", "paper 003, §4.5 (GPU)"] and list(cost.columns) == list(s10.COST_COLUMNS)
    assert list(s10.cost_frame(s10.Benchmarks({}, {}, {})).index) == ["paper 003, §4.5 (GPU)"]
    assert "skipped" in s10.imagenet_frame({}).iloc[0, 0] and s10.run_imagenet(p) == {}
    t = s10.paper_table(b, {}, p)
    mine = t.loc[("Table 3", "MNIST, LeNet", "AMM"), "this run error (%)"]
    assert mine.startswith(f"{b.rows['LeNet (MNIST)']['amm']['error_mean']:.2f}")
    assert t.loc[("Table 4", "CIFAR-10, ResNet-20", "AMM"), "this run error (%)"] == "—"
    assert t.loc[("Table 7", "ImageNet, ResNet-18", "AMM"), "paper error (%)"] == "29.94"


def test_the_seed_parameter_sets_the_first_seed():
    assert list(smoke().seed_range) == [0] and list(smoke(seed=3, seeds=2).seed_range) == [3, 4]


def test_headline_is_a_dict_of_finite_floats_from_the_metrics(trained):
    p, loaded, b = trained
    h = checked_headline(s10, s10.record(b, loaded, {}, p)["metrics"])
    assert h["AMM error (%)"] == b.rows["LeNet (MNIST)"]["amm"]["error_mean"]


def test_every_claim_is_listed_in_the_preset_file(trained):
    p, loaded, b = trained
    required = params.spec(STEM).required
    assert set(required) == set(s10.record(b, loaded, {}, p)["claims"])
    assert required["amm_raises_margin"] == ["paper"]   # selected after six schedules: not required at demo
