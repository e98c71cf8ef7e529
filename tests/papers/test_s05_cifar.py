"""Section 05's paper-profile additions: the CIFAR-10 half (paper 001 Fig. 3c/d, on the labelled stand-in), the
released code's training options (Adam, validation-margin model selection, AN-PGD's eps_min / 1.05 d_max, Madry's
PGD step) and the paper's L2 protocol (one MMA model against every PGD-AT model, Boundary-attack curves)."""
from __future__ import annotations

import matplotlib
import pytest
import torch

from marginlib import data, methods, models
from marginlib.book import params
from marginlib.papers.p001_mma import s05_cifar as s05c
from marginlib.papers.p001_mma import s05_training as s05

from sections import as_stored

matplotlib.use("Agg")

STEM = "05_mma_training"


def _tiny_cifar(**changes) -> s05.Params:
    base = dict(source="offline", cifar="linf+l2", cifar_arch="cw_cifar", cifar_n_train=20, cifar_n_val=10,
                cifar_n_test=10, cifar_epochs=2, cifar_batch_size=10, cifar_train_steps=2, cifar_curve_points=3,
                cifar_l2_curve_points=3, cifar_eval_steps=2, select="val_margin", n_val=1)
    return s05.Params(**{**base, **changes})


def _metrics(curves: dict, clean: dict, *, n_test: int = 10000) -> dict:
    """A ``metrics["cifar"]`` as a record stores it, for closed-form checks of numbers and claims."""
    return as_stored({"source": "x", "is_standin": False, "n_train": 1, "n_test": n_test, "arch": "a",
                      "norms": ["linf"], "models": {"linf": {"pgd": ["pgd_at_linf_0.03", "pgd_at_linf_0.06"],
                                                             "mma": "mma_linf_0.05"}},
                      "clean_acc": clean, "curves": {"linf": curves}, "best_epoch": {}, "train_seconds": {}})


def test_split_validation_holds_out_disjoint_images_and_none_leaves_the_data():
    d = data.load("mnist", split="train", n=50, source="offline", verbose=False)
    tr, val = s05.split_validation(d, 10, seed=3)
    assert (len(tr), len(val)) == (40, 10)
    rows = {tuple(x.flatten().tolist()) for x in tr.x} & {tuple(x.flatten().tolist()) for x in val.x}
    assert not rows
    same, none = s05.split_validation(d, 0, seed=3)
    assert same is d and none is None
    with pytest.raises(ValueError, match="n_val=50 leaves no training images"):
        s05.split_validation(d, 50, seed=0)


def test_one_mma_model_against_every_pgd_model_as_in_the_papers_l2_comparison():
    p = s05.Params(l2_pgd_eps=(1.0, 3.0, 5.0), l2_mma_dmax=(6.0,), l2_table_eps=(3.0, 4.0, 5.0))
    s = p.setup("l2")
    assert s.named_pairs == [("pgd_at_l2_1.0", "mma_l2_6.0"), ("pgd_at_l2_3.0", "mma_l2_6.0"),
                             ("pgd_at_l2_5.0", "mma_l2_6.0")]
    assert s.robust == ["pgd_at_l2_1.0", "pgd_at_l2_3.0", "pgd_at_l2_5.0", "mma_l2_6.0"]
    assert len([n for n in s05.recipes(p) if n.startswith(("pgd_at_l2", "mma_l2"))]) == 4
    with pytest.raises(ValueError, match="must pair up"):
        s05.Params(l2_pgd_eps=(1.0, 3.0, 5.0), l2_mma_dmax=(2.0, 4.0))


def test_recipes_take_the_released_settings_and_default_to_the_books():
    demo = s05.recipes(s05.Params())                   # full radii: the warm-up's targets (epoch 1 ramps them)
    mma, pgd = demo["mma_linf_0.3"], demo["pgd_at_linf_0.2"]
    assert mma.targets["eps_min"] == pytest.approx(0.3 / 10) and mma.base.eps_max_factor == 1.0
    assert pgd.targets["step_size"] == pytest.approx(2.5 * 0.2 / 10)
    paper = s05.recipes(s05.Params(pgd_eps=0.3, mma_dmax=0.45, train_steps=40, pgd_step=0.01, mma_eps_min=0.1,
                                   l2_mma_eps_min=0.5, eps_max_factor=1.05, warmup=1))
    mma, pgd, l2 = paper["mma_linf_0.45"].base, paper["pgd_at_linf_0.3"].base, paper["mma_l2_3.0"].base
    assert (mma.eps_min, mma.steps, pgd.step_size, pgd.steps, l2.eps_min) == (0.1, 40, 0.01, 40, 0.5)
    assert mma.eps_max == pytest.approx(1.05 * 0.45)
    assert paper["mma_linf_0.45"].epochs == 1          # warmup 1: no ramp


def test_params_refuse_selection_without_held_out_images():
    with pytest.raises(ValueError, match="val_margin.*n_val > 0"):
        s05.Params(select="val_margin", n_val=0)
    with pytest.raises(ValueError, match="cifar"):
        s05.Params(cifar="cifar100")


def test_validation_margin_is_zero_where_misclassified_and_at_most_eps_max():
    torch.manual_seed(0)
    d = data.load("mnist", split="test", n=20, source="offline", verbose=False)
    net = models.build("logreg", generator=torch.Generator().manual_seed(0)).eval()
    score = s05.validation_margin(net, d, norm="linf", eps_init=0.1, eps_max=0.3, steps=3,
                                  generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        correct = (net(d.x).argmax(1) == d.y).double().mean().item()
    assert 0.0 <= score <= 0.3 * correct + 1e-6        # each correct image contributes at most eps_max, others 0


def test_fit_model_keeps_the_epoch_of_best_validation_margin():
    d = data.load("mnist", split="train", n=60, source="offline", verbose=False)
    tr, val = s05.split_validation(d, 20, seed=0)
    net = models.build("logreg", generator=torch.Generator().manual_seed(0))
    method = methods.build("mma", d_max=0.3, steps=2, eps_min=0.05)
    history = s05.fit_model(net, method, tr, val, select=True, norm="linf", eps_init=0.1, steps=2, seed=0,
                            scales=("n_train",), val_scales=("n_val",), epochs=3, batch_size=20, lr=1e-3,
                            optimizer="adam")
    scores = history.column("val_margin")
    assert len(scores) == 3 and history.best_epoch == 1 + max(range(3), key=scores.__getitem__)


def test_cifar_numbers_and_claims_in_closed_form():
    curves = {"pgd_at_linf_0.03": {"0.0": 0.8, "0.03": 0.5, "0.06": 0.2},
              "pgd_at_linf_0.06": {"0.0": 0.7, "0.03": 0.55, "0.06": 0.4},
              "mma_linf_0.05": {"0.0": 0.8, "0.03": 0.52, "0.06": 0.3}}
    clean = {"pgd_at_linf_0.03": 0.8, "pgd_at_linf_0.06": 0.7, "mma_linf_0.05": 0.8}
    cifar = _metrics(curves, clean)
    n = s05c.numbers(cifar)["linf"]
    assert n["matched"] == "pgd_at_linf_0.03" and n["small"] == {0.03: pytest.approx(2.0)}
    assert n["top"] == 0.06 and n["top_gap"] == pytest.approx(10.0) and n["clean_gap"] == pytest.approx(0.0)
    c = s05c.claims(cifar)
    assert {k: v["holds"] for k, v in c.items()} == {
        "cifar_mma_similar_at_small_eps": True, "cifar_mma_better_at_large_eps": True,
        "cifar_larger_pgd_eps_costs_clean_acc": True, "cifar_clean_acc_matched": True}
    curves["mma_linf_0.05"]["0.06"] = 0.1                  # MMA behind at the largest radius
    curves["mma_linf_0.05"]["0.03"] = 0.40                 # and 10 points behind at the small one
    c = s05c.claims(_metrics(curves, clean))
    assert not c["cifar_mma_better_at_large_eps"]["holds"] and not c["cifar_mma_similar_at_small_eps"]["holds"]


def test_cifar_claims_are_required_at_paper_only_and_the_dry_run_is_a_cut():
    s = params.spec(STEM)
    for name in ("cifar_mma_similar_at_small_eps", "cifar_mma_better_at_large_eps",
                 "cifar_larger_pgd_eps_costs_clean_acc"):
        assert s.required[name] == ["paper"]
    assert s.required["cifar_clean_acc_matched"] == []
    assert params.dry_run_problems(s) == []
    assert s.profile("demo")["cifar"] == "none" and s.profile("paper")["cifar"] == "linf+l2"


def test_cifar_half_runs_on_the_labelled_standin_and_records_its_claims():
    p = _tiny_cifar()
    r = s05c.run(p)
    assert r is not None and r.is_standin and set(r.curves) == {"linf", "l2"}
    assert r.n_train == 20 and r.n_test == 10
    assert all(r.best_epoch[name] in (1, 2) for name in r.nets if name.startswith("mma"))
    cifar = as_stored(s05c.metrics_of(p, r))
    assert set(s05c.claims(cifar)) >= {"cifar_mma_similar_at_small_eps", "cifar_mma_better_at_large_eps"}
    for norm in ("linf", "l2"):
        for curve in r.curves[norm].values():
            assert list(curve) == list(s05c.radii(p, norm)) and all(0 <= a <= 1 for a in curve.values())
    assert "stand-in" in s05c.summary_text(p, r, cifar)
    assert "stand-in" in s05c.figure(p, r).axes[0].get_title()
    table = s05c.statements(p, cifar)
    assert table["this run"].str.contains("stand-in").all()
    assert s05c.run(s05.Params()) is None
    assert "does not run the CIFAR-10 half" in s05c.summary_text(s05.Params(), None, None)
    assert (s05c.statements(s05.Params(), None)["this run"] == "—").all()
