"""marginlib.cost: exclusive work blocks and the linear scale-up of a dry run to the full run."""
import time

import pytest

from marginlib import cost


@pytest.fixture(autouse=True)
def _fresh():
    cost.reset()
    yield
    cost.reset()


def test_nested_blocks_are_exclusive():
    with cost.work("n_train", "epochs"):
        time.sleep(0.02)
        with cost.work("n_test"):
            time.sleep(0.05)
    got = cost.ledger()
    assert set(got) == {("epochs", "n_train"), ("n_test",)}
    assert 0.045 <= got[("n_test",)] < 0.2
    assert 0.015 <= got[("epochs", "n_train")] < 0.045   # the inner 0.05 s is not counted again


def test_estimate_scales_each_unit_by_its_sizes_and_counts_the_rest_once():
    run = {"n_train": 100, "epochs": 2, "n_test": 50, "grid": [1, 2], "lr": 0.1}
    full = {"n_train": 1000, "epochs": 20, "n_test": 500, "grid": [1, 2, 3, 4], "lr": 0.1}
    measured = {("epochs", "n_train"): 3.0, ("grid", "n_test"): 1.0, ("lr",): 0.5}
    est = cost.estimate(run=run, full=full, total_seconds=6.0, measured=measured)
    by = {tuple(u["scales"]): u for u in est["units"]}
    assert by[()]["seconds"] == pytest.approx(1.5) and by[()]["factor"] == 1.0
    assert by[("epochs", "n_train")]["factor"] == pytest.approx(100.0)
    assert by[("grid", "n_test")]["factor"] == pytest.approx(20.0)      # 10x images, 2x the grid's length
    assert by[("lr",)]["factor"] == 1.0                                 # not cut: counted once
    assert est["seconds"] == pytest.approx(1.5 + 300 + 20 + 0.5)


def test_a_full_run_estimates_itself():
    p = {"n_train": 10, "epochs": 3}
    est = cost.estimate(run=p, full=p, total_seconds=2.0, measured={("epochs", "n_train"): 1.5})
    assert est["seconds"] == pytest.approx(2.0)


@pytest.mark.parametrize("run, full", [({"k": "a"}, {"k": "b"}), ({"k": 0}, {"k": 3}), ({"k": True}, {"k": False})])
def test_scales_that_are_not_sizes_are_refused(run, full):
    with pytest.raises(ValueError, match="cannot scale by parameter 'k'"):
        cost.ratio("k", run=run, full=full)


def test_scales_must_be_names():
    with pytest.raises(ValueError, match="scales"):
        with cost.work(""):
            pass


def test_a_scale_can_be_a_power_of_its_parameter():
    run, full = {"image_size": 8, "n_test": 10}, {"image_size": 32, "n_test": 100}
    est = cost.estimate(run=run, full=full, total_seconds=2.0, measured={("image_size^2", "n_test"): 1.0})
    assert est["units"][1]["factor"] == pytest.approx(16 * 10)          # 16x the pixels, 10x the images
    assert cost.factor("image_size", run=run, full=full) == pytest.approx(4.0)


@pytest.mark.parametrize("scale", ["image_size^", "image_size^0", "image_size^x", "^2"])
def test_a_malformed_power_is_refused_when_the_block_opens(scale):
    with pytest.raises(ValueError, match="name\\^k with k a positive integer"):
        with cost.work(scale):
            pass
