"""Paper 001, Ding et al., "Max-Margin Adversarial (MMA) Training".

Sections (notebooks): 04_mma_margins, 05_mma_training.
"""
