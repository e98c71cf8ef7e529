"""Paper 000, "Understanding adversarial robustness: the trade-off between minimum and average margin".

Sections (notebooks): 01_minavg_linear, 02_minavg_deep, 03_amr.
Section modules: ``s01_linear``, ``s02_deep``, ``s03_amr``.
Helpers: ``data``, ``linear``, ``schedule``, ``tracking``.
"""
