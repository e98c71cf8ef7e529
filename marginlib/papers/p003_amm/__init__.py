"""Paper 003, Yan, Guo & Zhang, "Adversarial Margin Maximization (AMM) Networks".

Sections (notebooks): 08_amm_toy2d, 09_amm_mnist, 10_amm_benchmarks.
Section modules: ``s08_toy2d``, ``s09_mnist``, ``s10_benchmarks``.
Helpers: ``amm_linear``, ``benchmarks``, ``config``, ``frozen_bn``, ``label_noise``, ``toy2d``.
"""
