"""Paper 003, Yan, Guo & Zhang, "Adversarial Margin Maximization (AMM) Networks".

Sections (notebooks): 08_amm_toy2d, 09_amm_mnist, 10_amm_benchmarks.
"""
