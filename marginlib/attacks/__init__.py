"""Adversarial attacks: FGSM, PGD, DeepFool, AN-PGD (paper 001, Alg. 1) and bridges to foolbox and AutoAttack.

Every attack runs the model in eval mode with parameter gradients off, restores its mode, leaves parameter
``.grad`` untouched, takes tensors on the model's device, and validates its arguments. Gradient attacks return
images in [0, 1]; DeepFool returns a perturbation measured in R^d unless ``bounds=(0, 1)`` is asked for.
"""
from __future__ import annotations

from marginlib.attacks.anpgd import an_pgd
from marginlib.attacks.deepfool import deepfool
from marginlib.attacks.gradient import fgsm, pgd
from marginlib.attacks.losses import LOSSES
from marginlib.attacks.thirdparty import (
    AUTOATTACK_ATTACKS,
    FOOLBOX_ATTACKS,
    autoattack,
    foolbox_attack,
)

__all__ = [
    "AUTOATTACK_ATTACKS", "FOOLBOX_ATTACKS", "LOSSES", "an_pgd", "autoattack", "deepfool", "fgsm", "foolbox_attack",
    "pgd",
]
