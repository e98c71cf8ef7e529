"""The five papers: one package per paper, one module per book section.

A section module ``marginlib.papers.pNNN_<paper>.sNN_<topic>`` holds everything its notebook runs: a frozen
``Params`` dataclass whose fields and defaults are the notebook's parameters cell (cross-parameter checks in
``__post_init__``), functions that run the experiments and return data, functions that only draw a figure or a
table from that data, and ``record(...) -> {"metrics", "claims"}``. The notebook is prose over these calls.

Paper-specific helpers live beside the sections they serve (``p000_minavg.linear``, ``p001_mma.theory`` ...).
Papers import the core library; the core never imports a paper.
"""
from __future__ import annotations

import importlib
from types import ModuleType

PAPERS = {
    "p000_minavg": "Understanding adversarial robustness: the trade-off between minimum and average margin",
    "p001_mma": "Ding et al., Max-Margin Adversarial (MMA) Training",
    "p002_emr": "Liu & Chan, Effective Margin Regularization (EMR)",
    "p003_amm": "Yan, Guo & Zhang, Adversarial Margin Maximization (AMM) Networks",
    "p004_ar": "Towards Understanding the Regularization of Adversarial Robustness on Neural Networks",
}

#: notebook stem -> its section module
SECTIONS = {
    "01_minavg_linear": "marginlib.papers.p000_minavg.s01_linear",
    "02_minavg_deep": "marginlib.papers.p000_minavg.s02_deep",
    "03_amr": "marginlib.papers.p000_minavg.s03_amr",
    "04_mma_margins": "marginlib.papers.p001_mma.s04_margins",
    "05_mma_training": "marginlib.papers.p001_mma.s05_training",
    "06_emr_feedforward": "marginlib.papers.p002_emr.s06_feedforward",
    "07_emr_large_scale": "marginlib.papers.p002_emr.s07_large_scale",
    "08_amm_toy2d": "marginlib.papers.p003_amm.s08_toy2d",
    "09_amm_mnist": "marginlib.papers.p003_amm.s09_mnist",
    "10_amm_benchmarks": "marginlib.papers.p003_amm.s10_benchmarks",
    "11_ar_regularization": "marginlib.papers.p004_ar.s11_regularization",
}


def section(stem: str) -> ModuleType:
    """The section module of notebook ``stem`` (``"07_emr_large_scale"``)."""
    if stem not in SECTIONS:
        raise ValueError(f"notebook={stem!r} has no section module; choose one of: {', '.join(SECTIONS)}")
    return importlib.import_module(SECTIONS[stem])
