"""Every section module's ``Params`` is its notebook's parameters cell, and builds at every profile."""
from __future__ import annotations

import dataclasses

import pytest

from marginlib import papers
from marginlib.book import params
from marginlib.book.results import PROFILES

STEMS = list(papers.SECTIONS)


def _plain(value):
    return tuple(value) if isinstance(value, list) else value


def test_every_book_notebook_has_a_section_module():
    assert {p.stem for p in params.toc_notebooks()} == set(STEMS)


@pytest.mark.parametrize("stem", STEMS)
def test_section_module_names_its_notebook_and_paper(stem):
    module = papers.section(stem)
    assert module.NOTEBOOK == stem
    assert module.__doc__ and f"notebooks/{stem}.ipynb" in module.__doc__, "the docstring names its notebook"
    assert dataclasses.is_dataclass(module.Params) and module.Params.__dataclass_params__.frozen
    for name in ("record",):
        assert callable(getattr(module, name, None)), f"{stem} has no {name}()"


@pytest.mark.parametrize("stem", STEMS)
def test_params_fields_and_defaults_equal_the_parameters_cell(stem):
    spec = params.spec(stem)
    defaults = {f.name: f.default if f.default is not dataclasses.MISSING else f.default_factory()
                for f in dataclasses.fields(papers.section(stem).Params)}
    assert list(defaults) == list(spec.defaults), "same names, same order"
    assert defaults == {k: _plain(v) for k, v in spec.defaults.items()}


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("stem", STEMS)
def test_params_build_at_every_profile(stem, profile):
    values = params.resolve(stem, profile)
    p = papers.section(stem).Params(**{k: _plain(v) for k, v in values.items()})
    assert p.profile == profile


def test_unknown_section_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="notebook='nope'.*01_minavg_linear"):
        papers.section("nope")


def test_section_params_applies_the_preset_and_overrides_and_refuses_unknown_names():
    p = params.section_params("09_amm_mnist", "smoke", seeds=2)
    smoke = params.resolve("09_amm_mnist", "smoke")
    assert p.profile == "smoke" and p.seeds == 2 and p.n_train == smoke["n_train"]
    assert isinstance(p.architectures, tuple)
    with pytest.raises(ValueError, match="unknown parameter.*nope"):
        params.section_params("09_amm_mnist", "smoke", nope=1)


@pytest.mark.parametrize(("stem", "name"), [("10_amm_benchmarks", "datasets"), ("10_amm_benchmarks", "architectures"),
                                            ("11_ar_regularization", "variation_eps"),
                                            ("05_mma_training", "l2_table_eps")])
def test_empty_lists_that_leave_nothing_to_run_are_refused_before_any_work(stem, name):
    """``-p models "[]"`` failed deep in the plotting code (issue 18 item 11)."""
    with pytest.raises(ValueError, match=name):
        params.section_params(stem, "demo", **{name: []})
