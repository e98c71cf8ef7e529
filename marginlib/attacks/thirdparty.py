"""Bridges to the third-party attacks the papers evaluate with: foolbox 3 (Rauber et al.) and AutoAttack.

:func:`autoattack` runs AutoAttack (Croce & Hein, 2020), the ensemble paper 002 reports robust accuracy with,
through the ``pyautoattack`` package (imported on first call only).

Paper 001 benchmarks its L2 MNIST models with the decision-based Boundary attack (Brendel et al., 2018; Fig. 3b);
foolbox also provides the gradient-based minimum-norm attacks FMN (L2 and Linf) and DDN (L2), which make strong
upper bounds on the margin. Each runs unbounded (minimal norm), then every sample is held to its own ``eps``:
an adversarial point within ``eps`` is kept, one beyond is projected onto the eps-ball (as foolbox's "clipped"
output does), so the call shape matches :func:`marginlib.attacks.pgd`: ``(model, x, y, *, eps, norm) -> x_adv``.
As upper bounds on the margin they differ: on a random 10-class linear model (exact L2 margins known) foolbox 3.3.4's
unbounded FMN returned about 2.2x the margin whatever its ``steps`` (10 to 1000), DDN (100 steps) about 1.3x; PGD
bisection (:func:`marginlib.margins.attack_margin`) is tighter than both. Prefer DDN for L2 margin upper bounds.

foolbox is imported on first call only. Its random draws (the Boundary attack's noise initialization) use the
global torch RNG, so the call runs inside ``torch.random.fork_rng`` seeded from ``generator``: the caller's global
RNG state is left as it was, and the same generator gives the same result.
"""
from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn

from marginlib import validate
from marginlib.attacks.gradient import check_inputs
from marginlib.attacks.projections import (
    clip_to_box,
    fresh_generator,
    lp_norm,
    per_sample,
    project,
)
from marginlib.context import noparamgrad_and_eval

#: (attack name, norm) -> foolbox class name.
FOOLBOX_ATTACKS: dict[tuple[str, str], str] = {
    ("boundary", "l2"): "BoundaryAttack",
    ("fmn", "l2"): "L2FMNAttack",
    ("fmn", "linf"): "LInfFMNAttack",
    ("ddn", "l2"): "DDNAttack",
}


def foolbox_attack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float | torch.Tensor,
    norm: str = "l2",
    attack: str = "boundary",
    generator: torch.Generator | None = None,
    **options: Any,
) -> torch.Tensor:
    """Run the foolbox minimum-norm ``attack`` (``"boundary"``, ``"fmn"`` or ``"ddn"``) and return images in [0, 1]
    within ``eps`` (number or per-sample tensor) of ``x``; ``options`` go to the foolbox attack's constructor
    (e.g. ``steps=``). Raises ``ImportError`` with the install line when foolbox is missing."""
    check_inputs(x, y, norm=norm, model=model)
    names = sorted({name for name, _ in FOOLBOX_ATTACKS})
    validate.choice("attack", attack, names)
    norms = [n for a, n in FOOLBOX_ATTACKS if a == attack]
    validate.norm(norm, choices=norms)
    eps_t = per_sample(eps, x, name="eps")
    try:
        import foolbox
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("foolbox_attack needs foolbox 3: pip install 'foolbox>=3.3'") from err
    seed = int(torch.randint(2**62, (1,), generator=fresh_generator(generator)))
    devices = [x.device] if x.device.type == "cuda" else []
    with noparamgrad_and_eval(model), torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        fmodel = foolbox.PyTorchModel(model, bounds=(0.0, 1.0), device=x.device)
        runner = getattr(foolbox.attacks, FOOLBOX_ATTACKS[(attack, norm)])(**options)
        raw, _, _ = runner(fmodel, x.detach(), y, epsilons=None)
    delta = raw.detach() - x
    within = lp_norm(delta, norm) <= eps_t
    return torch.where(within.view(-1, *([1] * (x.dim() - 1))), raw.detach(), x + project(delta, eps_t, norm))


#: AutoAttack's attacks (Croce & Hein, 2020): APGD on cross-entropy / DLR, targeted APGD-DLR, FAB, targeted FAB, Square.
AUTOATTACK_ATTACKS = ("apgd-ce", "apgd-dlr", "apgd-t", "fab", "fab-t", "square")
#: AutoAttack versions: the four-attack ``"standard"`` ensemble, ``"plus"`` (all six, more restarts), ``"rand"``
#: (APGD-CE and APGD-DLR with 20-sample EOT, for randomized defenses), or ``"custom"`` (the ``attacks`` given).
AUTOATTACK_VERSIONS = ("standard", "plus", "rand", "custom")
#: Hyperparameters ``autoattack`` accepts as ``options``; each is set on every sub-attack that has it.
AUTOATTACK_OPTIONS = ("n_iter", "n_restarts", "n_queries", "n_target_classes", "eot_iter", "p_init")
#: The fewest classes each attack's loss needs: DLR divides by z_(1) - z_(3); its targeted form uses z_(4).
_MIN_CLASSES = {"apgd-dlr": 3, "apgd-t": 4, "fab-t": 2}


def autoattack(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    norm: str = "linf",
    version: str = "standard",
    attacks: list[str] | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = 250,
    **options: Any,
) -> torch.Tensor:
    """AutoAttack (Croce & Hein, ICML 2020), the evaluation paper 002 reports, through the ``pyautoattack`` package:
    return images in [0, 1] within ``eps`` (one number for the batch) of ``x`` in ``norm``.

    Each attack of ``version`` runs on the points still classified correctly; a point keeps the first adversarial
    example found, and the clean input when none is. ``version="custom"`` runs ``attacks`` (a list from
    :data:`AUTOATTACK_ATTACKS`) in order. ``options`` (names in :data:`AUTOATTACK_OPTIONS`, e.g. ``n_iter=10``)
    override the version's hyperparameters on every sub-attack that has them; for APGD a new ``n_iter`` also
    rescales its step-size checkpoints (0.22, 0.06 and 0.03 of ``n_iter``, APGD's Sec. 3.2). Targeted attacks aim
    at no more than the ``n_classes - 1`` other classes (AutoAttack's 9 on 10-class data).

    The package seeds the global torch RNG from its ``seed``; that seed is drawn from ``generator`` and the run
    happens inside ``torch.random.fork_rng``, so the caller's RNG is untouched and the same generator gives the same
    result. AutoAttack's sanity checks (randomized or dynamic defense, probabilities instead of logits) are logged
    as warnings on the ``"auto-attack"`` logger; the tracer its dynamic-defense check clears (``sys.settrace``) is
    put back. Raises ``ImportError`` with the install line when ``pyautoattack`` is missing.
    """
    check_inputs(x, y, norm=norm, model=model)
    validate.choice("version", version, AUTOATTACK_VERSIONS)
    if isinstance(eps, torch.Tensor) and eps.numel() != 1:
        raise ValueError(f"eps must be one number for autoattack (AutoAttack has no per-sample radius), got shape "
                         f"{tuple(eps.shape)}")
    eps = float(validate.nonnegative("eps", float(eps)))
    validate.positive("batch_size", batch_size)
    for name in options:
        validate.choice("option", name, AUTOATTACK_OPTIONS)
    if version == "custom":
        if not attacks:
            raise ValueError("version='custom' needs attacks=[...], a list from " + ", ".join(AUTOATTACK_ATTACKS))
        for name in attacks:
            validate.choice("attacks", name, AUTOATTACK_ATTACKS)
    elif attacks is not None:
        raise ValueError(f"attacks={attacks!r} is only used with version='custom' (version={version!r} fixes them)")
    if eps == 0 or len(x) == 0:
        return x.detach().clone()
    try:
        import pyautoattack
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("autoattack needs pyautoattack: pip install 'pyautoattack>=0.2'") from err
    seed = int(torch.randint(2**62, (1,), generator=fresh_generator(generator)))
    devices = [x.device] if x.device.type == "cuda" else []
    tracer = sys.gettrace()
    with noparamgrad_and_eval(model), torch.random.fork_rng(devices=devices):
        with torch.no_grad():
            n_classes = model(x[:1]).shape[-1]
        runner = pyautoattack.AutoAttack(model, attacks=attacks, device=x.device, eps=eps,
                                         norm={"linf": "Linf", "l2": "L2"}[norm], seed=seed, version=version)
        _configure(runner, n_classes, options)
        try:
            raw, _ = runner.run_standard_evaluation(x.detach(), y, batch_size=int(batch_size))
        finally:
            sys.settrace(tracer)
    eps_t = per_sample(eps, x, name="eps")
    return x + clip_to_box(x, project(raw.detach().to(x.dtype) - x, eps_t, norm))


def _configure(runner: Any, n_classes: int, options: dict[str, Any]) -> None:
    """Apply ``options`` to ``runner``'s sub-attacks, cap the targeted attacks' target classes at ``n_classes - 1``,
    and check every attack to run has enough classes."""
    for name in runner.attacks_to_run:
        if n_classes < _MIN_CLASSES.get(name, 2):
            raise ValueError(f"AutoAttack's {name!r} needs at least {_MIN_CLASSES[name]} classes; the model has "
                             f"{n_classes} (use version='custom' with attacks from 'apgd-ce', 'fab', 'square')")
    subs = (runner.apgd, runner.apgd_targeted, runner.fab, runner.square)
    for sub in subs:
        for name, value in options.items():
            if hasattr(sub, name):
                setattr(sub, name, value)
        if hasattr(sub, "n_target_classes"):
            sub.n_target_classes = min(sub.n_target_classes, n_classes - 1)
    if "n_iter" in options:
        for apgd in (runner.apgd, runner.apgd_targeted):
            n = apgd.n_iter_orig = apgd.n_iter
            apgd.n_iter_2, apgd.n_iter_min, apgd.size_decr = (max(int(f * n), 1) for f in (0.22, 0.06, 0.03))
