"""Paper 002, Liu & Chan, "Effective Margin Regularization (EMR)".

Sections (notebooks): 06_emr_feedforward, 07_emr_large_scale.
Section modules: ``s06_feedforward``, ``s07_large_scale``.
Helpers: ``effective_margins``.
"""
