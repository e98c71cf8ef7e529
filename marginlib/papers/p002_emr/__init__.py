"""Paper 002, Liu & Chan, "Effective Margin Regularization (EMR)".

Sections (notebooks): 06_emr_feedforward, 07_emr_large_scale.
"""
