"""Training methods: every objective the five papers compare, behind one interface (:class:`Method`).

``build(name, **kw)`` constructs one by name; ``names()`` lists them. Methods that extend another objective
take it as ``base=`` (e.g. ``build("emr", weight=0.1, base=build("pgd_at", eps=0.3))`` is AT+EMR, paper 002).

=================  ==============================================================  ==============
name               objective                                                       paper
=================  ==============================================================  ==============
standard           cross-entropy (weight decay lives in the optimizer)             all
pgd_at             PGD adversarial training (Madry et al.)                         001, 002, 004
fgsm_at            FGSM adversarial training                                       004 B.6
trades             TRADES (CE + beta KL)                                           002
mart               MART                                                            002
mma                max-margin adversarial training, Alg. 2                         001
amr                average margin regularizer, eq. (4)                             000
amr_logit          the authors' released logit-space variant of AMR                000 (code)
parseval           LCR: Parseval retraction (Cisse et al.) or released penalty     000
emr                effective margin regularization, eqs. (5) / (7)                 002
igr                input gradient regularization                                   002
lsoftmax           large-margin softmax                                            002
lsoftmax_annealed  L-Softmax with Liu et al.'s annealed blending weight            002
on_adversary       any loss applied to a PGD batch (e.g. AT + L-Softmax)           002
spectral           spectral-norm clipping of each layer operator, every epoch      004 B.4.2
amm                AMM / Deep Defense, eqs. (6)-(7)                                003
elsayed            Elsayed et al. linearized-margin hinge                          003 §4.3.1
he                 hypersphere embedding (AT+HE, TRADES+HE; needs an HEHead)       002
mail               MAIL-AT / MAIL-TRADES (probabilistic-margin reweighting)        002
radius_warmup      pgd_at, fgsm_at, trades, mart or mma, radius ramped linearly    book (001)
=================  ==============================================================  ==============
"""
from __future__ import annotations

import inspect
from typing import Any

from marginlib import validate
from marginlib.methods.adversarial import FGSMAT, MART, PGDAT, TRADES, kl_adversary, trades_objective
from marginlib.methods.amm import AMM, Elsayed, min_aggregation_mask, shrink
from marginlib.methods.amr import AMR, AMRLogit, feature_margin, orthogonality_penalty
from marginlib.methods.base import (
    Adversarial,
    Extends,
    Method,
    Regularized,
    Standard,
    as_matrix,
    mode_free,
    weight_layers,
)
from marginlib.methods.emr import EMR, emr_approx, emr_exact
from marginlib.methods.he import HE, HEHead, he_cross_entropy, hypersphere
from marginlib.methods.igr import IGR
from marginlib.methods.lsoftmax import LSoftmax, lsoftmax_logits
from marginlib.methods.lsoftmax_annealed import AnnealedLSoftmax, lsoftmax_lambda
from marginlib.methods.mail import MAIL, mail_weights, probabilistic_margin
from marginlib.methods.mma import MMA
from marginlib.methods.on_adversary import OnAdversary
from marginlib.methods.parseval import Parseval, parseval_retraction
from marginlib.methods.spectral import SpectralNorm, spectral_normalize, spectral_norms
from marginlib.methods.warmup import RadiusWarmup

_REGISTRY: dict[str, type[Method]] = {
    cls.name: cls for cls in (Standard, PGDAT, FGSMAT, TRADES, MART, MMA, AMR, AMRLogit, Parseval, EMR, IGR,
                              LSoftmax, AnnealedLSoftmax, OnAdversary, SpectralNorm, AMM, Elsayed, RadiusWarmup)
}
_REGISTRY.update({cls.name: cls for cls in (HE, MAIL)})


def names() -> list[str]:
    """The registered method names."""
    return list(_REGISTRY)


def build(name: str, **kw: Any) -> Method:
    """Construct the method ``name`` with keyword options ``kw`` (see each class for its options).

    Raises ``ValueError`` for an unknown name, unknown or missing keywords (listing the valid ones, read from the
    class's ``__init__``), and for an argument that must be a method (``base=``, ``attack=``, ``inner=``) given as
    anything but a :class:`Method` instance, e.g. a name: write ``base=build("pgd_at", eps=...)``.
    """
    cls = _REGISTRY[validate.choice("name", name, _REGISTRY)]
    signature = list(inspect.signature(cls.__init__).parameters.values())[1:]
    params = {p.name: p for p in signature if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    valid = ", ".join(params) or "none"
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature)
    unknown = [] if takes_any else [k for k in kw if k not in params]
    if unknown:
        raise ValueError(f"method {name!r}: unknown keyword(s) {', '.join(sorted(unknown))}; valid keywords: {valid}")
    missing = [k for k, p in params.items() if p.default is p.empty and k not in kw]
    if missing:
        raise ValueError(f"method {name!r}: missing required keyword(s) {', '.join(missing)}; valid keywords: {valid}")
    for key, value in kw.items():
        annotation = str(params[key].annotation) if key in params else ""
        if "Method" not in annotation or isinstance(value, Method) or (value is None and "None" in annotation):
            continue
        example = value if isinstance(value, str) and value in _REGISTRY else "pgd_at"
        what = f"the class {value.__name__}" if isinstance(value, type) else f"a {type(value).__name__}"
        raise ValueError(f"method {name!r}: {key}={value!r} is {what}, not a Method instance; build it first, e.g. "
                         f'{key}=build("{example}", ...)')
    return cls(**kw)


__all__ = [
    "HE", "HEHead", "MAIL", "he_cross_entropy", "hypersphere", "mail_weights", "probabilistic_margin",
    "AMM", "AMR", "Adversarial", "AMRLogit", "AnnealedLSoftmax", "EMR", "Elsayed", "Extends", "FGSMAT", "IGR",
    "LSoftmax", "MART", "MMA", "Method", "OnAdversary", "RadiusWarmup",
    "PGDAT", "Parseval", "Regularized", "SpectralNorm", "Standard", "TRADES", "as_matrix", "build", "emr_approx",
    "emr_exact", "feature_margin", "kl_adversary", "lsoftmax_lambda", "lsoftmax_logits", "min_aggregation_mask",
    "mode_free", "names",
    "orthogonality_penalty", "parseval_retraction", "shrink", "spectral_normalize", "spectral_norms",
    "trades_objective",
    "weight_layers",
]
