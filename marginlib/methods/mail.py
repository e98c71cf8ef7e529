"""MAIL: margin-aware instance reweighting learning (Wang, Liu, Han, Liu, Gong, Niu, Zhou & Sugiyama, "Probabilistic
margins for instance reweighting in adversarial training", NeurIPS 2021; paper 002's ref. [26]), the baseline of
paper 002's Table 3 and Fig. 3 ("AT+MAIL", "TRADES+MAIL", and "+EMR").

* Probabilistic margin at the adversarial example (their ``PM^adv``): ``PM_i = p_{y_i}(x'_i) - max_{j != y_i}
  p_j(x'_i)``, in [-1, 1], negative when ``x'_i`` is misclassified (:func:`probabilistic_margin`).
* Importance weight ``w_i = sigmoid(-gamma * (PM_i - beta))``: large for points near or across the boundary, small
  for safe ones (:func:`mail_weights`). ``normalize="mean"`` (the default) rescales them to mean 1 over the batch,
  ``w_i <- B w_i / sum_k w_k``, so the weighted loss ``(1/B) sum_i w_i l_i`` has the scale of the unweighted one and
  ``gamma -> 0`` gives back AT and TRADES exactly; ``normalize="times3"`` multiplies them by 3 instead, as the
  original MAIL code (QizhouWang/MAIL, ``mail_loss.py``) and paper 002's release (``mail_loss_v2.py``) do for every
  objective (neither normalizes over the batch). Paper 002 does not say which it uses ("the default settings in
  the MAIL loss").
* MAIL-AT: ``(1/B) sum_i w_i CE(f(x'_i), y_i)`` at the PGD example; MAIL-TRADES: ``CE(f(x), y) + beta_T (1/B)
  sum_i w_i KL(p(x_i) || p(x'_i))`` at TRADES' KL adversary.
* Burn-in: while fewer than ``burn_in`` epochs have passed (epochs ``1 .. burn_in``) the model trains unweighted.
  ``burn_in_objective="base"`` (the default) trains the unweighted objective itself (plain AT for MAIL-AT, plain
  TRADES for MAIL-TRADES), as the original MAIL code does (it starts MAIL from a checkpoint of the same
  objective); ``burn_in_objective="at"`` trains plain PGD-AT (cross-entropy at a uniformly started PGD example) for
  either objective, as paper 002's release does: both ``main-AT-MAIL-EMR.py`` and ``main-TRADES-MAIL_EMR.py`` run
  plain PGD-AT while ``epoch <= 74``, i.e. ``burn_in=74`` (100 epochs, LR / 10 at 75 and 90). Paper 002 does not
  state a burn-in.

Conventions: the weights are detached (they select samples; they are not optimized). ``gamma`` (slope) and
``beta`` (bias) are in this module's parametrization, ``sigmoid(-slope * (PM - bias))`` with ``PM`` = true minus
best other probability. The MAIL code defines ``PM`` with the opposite sign and computes ``sigmoid(slope * (PM +
bias))``; that is the same function of the same ``bias``, so its ``bias`` values carry over unchanged.

* :data:`DEFAULTS` (the default) follows paper 002's text (appendix A: "AT-MAIL has a slope of 30 and bias of 0.07.
  TRADES-MAIL has a slope of 5 and bias of 0.05, where beta = 5.0").
* :data:`RELEASED` is what paper 002's released code runs: AT-MAIL with ``bias=-0.07`` (``main-AT-MAIL-EMR.py``,
  run folder ``..._bias_m0.07_...``), so the sign differs from the text; TRADES-MAIL with 0.05 as in the text. At
  ``PM = 0`` the released AT-MAIL weight is ``3 sigmoid(-2.1) = 0.33`` where the text's bias gives
  ``sigmoid(2.1) = 0.89`` before normalization. ``MAIL(..., bias=RELEASED["at"][1], normalize="times3",
  burn_in=74, burn_in_objective="at")`` is the release's AT-MAIL weighting and schedule (not its attack: the
  release's MAIL phase attacks from ``x + 0.001 N(0, I)`` with step 0.007 where this module's MAIL-AT uses a
  uniform start and ``step_size``).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from marginlib import validate
from marginlib.methods.adversarial import PGDAT, kl_adversary, trades_objective
from marginlib.methods.base import Stats

#: paper 002, appendix A (the text): (slope gamma, bias beta) of AT-MAIL and TRADES-MAIL; the default
DEFAULTS = {"at": (30.0, 0.07), "trades": (5.0, 0.05)}
#: paper 002's released code (``main-AT-MAIL-EMR.py``, ``main-TRADES-MAIL_EMR.py``), same parametrization: the
#: AT-MAIL bias is -0.07, the opposite sign of the text's
RELEASED = {"at": (30.0, -0.07), "trades": (5.0, 0.05)}
#: how the weights are scaled: to mean 1 over the batch, or times 3 (the MAIL code's ``weight_assign``)
NORMALIZATIONS = ("mean", "times3")
#: what the burn-in epochs train: the unweighted objective itself, or plain PGD-AT (paper 002's release)
BURN_IN_OBJECTIVES = ("base", "at")


def probabilistic_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``p_y - max_{j != y} p_j`` per sample from ``logits`` (N, K), shape (N,): MAIL's probabilistic margin."""
    p = F.softmax(logits, dim=1)
    true = p.gather(1, y[:, None]).squeeze(1)
    other = p.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return true - other


def _finite(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return value


def mail_weights(pm: torch.Tensor, *, slope: float, bias: float, normalize: str = "mean") -> torch.Tensor:
    """MAIL's importance weights ``sigmoid(-slope * (pm - bias))`` (detached), normalized to mean 1 over the batch
    (``normalize="mean"``) or multiplied by 3 (``normalize="times3"``, the MAIL code's and paper 002's release's)."""
    validate.choice("normalize", normalize, NORMALIZATIONS)
    w = torch.sigmoid(-slope * (pm.detach() - bias))
    if normalize == "times3":
        return 3.0 * w
    return w * (len(w) / w.sum())


class MAIL(PGDAT):
    """MAIL-AT (``objective="at"``) or MAIL-TRADES (``objective="trades"``, with TRADES' ``beta``); see the module
    docstring. ``slope`` and ``bias`` default to paper 002's text for the objective (:data:`DEFAULTS`; the release's
    are :data:`RELEASED`); ``normalize`` is ``"mean"`` or ``"times3"``; ``burn_in`` is the number of epochs trained
    unweighted first, with ``burn_in_objective`` ``"base"`` (the unweighted objective) or ``"at"`` (plain PGD-AT, as
    paper 002's release does for both objectives, for 74 epochs)."""

    name = "mail"

    def __init__(self, *, eps: float, objective: str = "at", slope: float | None = None, bias: float | None = None,
                 beta: float = 5.0, burn_in: int = 0, burn_in_objective: str = "base", normalize: str = "mean",
                 step_size: float | None = None, steps: int = 10, norm: str = "linf") -> None:
        self.objective = validate.choice("objective", objective, tuple(DEFAULTS))
        super().__init__(eps=eps, step_size=step_size, steps=steps, norm=norm, random_start=True)
        default_slope, default_bias = DEFAULTS[self.objective]
        self.slope = _finite("slope", validate.nonnegative("slope", default_slope if slope is None else slope))
        self.bias = _finite("bias", default_bias if bias is None else bias)
        self.normalize = validate.choice("normalize", normalize, NORMALIZATIONS)
        self.beta = validate.nonnegative("beta", beta)
        if not (isinstance(burn_in, int) and not isinstance(burn_in, bool) and burn_in >= 0):
            raise ValueError(f"burn_in must be a nonnegative int (epochs), got {burn_in!r}")
        self.burn_in = burn_in
        self.burn_in_objective = validate.choice("burn_in_objective", burn_in_objective, BURN_IN_OBJECTIVES)
        self.epochs_done = 0

    @property
    def burning_in(self) -> bool:
        """True during the first ``burn_in`` epochs (the weights are 1)."""
        return self.epochs_done < self.burn_in

    @property
    def _at(self) -> bool:
        """True when the batch trains (MAIL-)AT: always for ``objective="at"``; for MAIL-TRADES during a plain-AT
        burn-in (``burn_in_objective="at"``), where the weights are 1."""
        return self.objective == "at" or (self.burning_in and self.burn_in_objective == "at")

    @property
    def shardable(self) -> bool:  # type: ignore[override]
        """``normalize="mean"`` rescales the weights over the batch, which a rank's share does not see."""
        return self.normalize != "mean"

    def weights(self, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch's importance weights (all 1 during the burn-in)."""
        if self.burning_in:
            return torch.ones(len(y), dtype=logits_adv.dtype, device=logits_adv.device)
        return mail_weights(probabilistic_margin(logits_adv.detach(), y), slope=self.slope, bias=self.bias,
                            normalize=self.normalize)

    def adversary(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The PGD example for MAIL-AT, TRADES' KL adversary for MAIL-TRADES (the PGD example during a plain-AT
        burn-in)."""
        if self._at:
            return super().adversary(model, x, y)
        return kl_adversary(model, x, eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm,
                            generator=self.generator)

    def loss_at(self, model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, *,
                index: torch.Tensor | None = None) -> tuple[torch.Tensor, Stats]:
        if self._at:
            logits_adv = model(x_adv)
            w = self.weights(logits_adv, y)
            adv = (w * F.cross_entropy(logits_adv, y, reduction="none")).mean()
            return adv, {"adv_ce": adv.detach(), "weight_max": w.max()}
        logits, logits_adv = model(x), model(x_adv)
        w = self.weights(logits_adv, y)
        loss, stats = trades_objective(F.cross_entropy(logits, y), logits, logits_adv, beta=self.beta, weights=w)
        return loss, {**stats, "weight_max": w.max()}

    def after_epoch(self, model: nn.Module, epoch: int) -> None:
        self.epochs_done = epoch

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.epochs_done = state["epochs_done"]

    def __repr__(self) -> str:
        return (f"MAIL(objective={self.objective!r}, eps={self.eps}, slope={self.slope}, bias={self.bias}, "
                f"normalize={self.normalize!r}, beta={self.beta}, burn_in={self.burn_in}, "
                f"burn_in_objective={self.burn_in_objective!r}, steps={self.steps})")
