"""Paper 004, "Towards Understanding the Regularization of Adversarial Robustness on Neural Networks".

Sections (notebooks): 11_ar_regularization.
Section modules: ``s11_regularization``.
Helpers: ``confidence``, ``spectra``.
"""
