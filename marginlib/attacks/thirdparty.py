"""Bridge to foolbox 3 (Rauber et al.) for the minimum-norm attacks the papers evaluate with.

Paper 001 benchmarks its L2 MNIST models with the decision-based Boundary attack (Brendel et al., 2018; Fig. 3b);
foolbox also provides the gradient-based minimum-norm attacks FMN (L2 and Linf) and DDN (L2), which make strong
upper bounds on the margin. Each runs unbounded (minimal norm), then every sample is held to its own ``eps``:
an adversarial point within ``eps`` is kept, one beyond is projected onto the eps-ball (as foolbox's "clipped"
output does), so the call shape matches :func:`marginlib.attacks.pgd`: ``(model, x, y, *, eps, norm) -> x_adv``.

foolbox is imported on first call only. Its random draws (the Boundary attack's noise initialization) use the
global torch RNG, so the call runs inside ``torch.random.fork_rng`` seeded from ``generator``: the caller's global
RNG state is left as it was, and the same generator gives the same result.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from marginlib import validate
from marginlib.attacks.gradient import check_inputs
from marginlib.attacks.projections import fresh_generator, lp_norm, per_sample, project
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
    check_inputs(x, y, norm=norm)
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
