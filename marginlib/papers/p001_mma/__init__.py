"""Paper 001, Ding et al., "Max-Margin Adversarial (MMA) Training".

Sections (notebooks): 04_mma_margins, 05_mma_training.
Section modules: ``s04_margins``, ``s05_training``.
Helpers: ``boundary``, ``theory``, ``transfer``.
"""
