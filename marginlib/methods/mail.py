"""MAIL: margin-aware instance reweighting learning (Wang, Liu, Han, Liu, Gong, Niu, Zhou & Sugiyama, "Probabilistic
margins for instance reweighting in adversarial training", NeurIPS 2021; paper 002's ref. [26]), the baseline of
paper 002's Table 3 and Fig. 3 ("AT+MAIL", "TRADES+MAIL", and "+EMR").

* Probabilistic margin at the adversarial example (their ``PM^adv``): ``PM_i = p_{y_i}(x'_i) - max_{j != y_i}
  p_j(x'_i)``, in [-1, 1], negative when ``x'_i`` is misclassified (:func:`probabilistic_margin`).
* Importance weight ``w_i = sigmoid(-gamma * (PM_i - beta))``: large for points near or across the boundary, small
  for safe ones; normalized over the batch to mean 1, ``w_i <- B w_i / sum_k w_k`` (:func:`mail_weights`), so the
  weighted loss ``(1/B) sum_i w_i l_i`` has the scale of the unweighted one.
* MAIL-AT: ``(1/B) sum_i w_i CE(f(x'_i), y_i)`` at the PGD example; MAIL-TRADES: ``CE(f(x), y) + beta_T (1/B)
  sum_i w_i KL(p(x_i) || p(x'_i))`` at TRADES' KL adversary. Before ``burn_in`` epochs have passed the weights are 1
  (plain AT / TRADES), as in the authors' code.

Conventions: the weights are detached (they select samples; they are not optimized). ``gamma`` and ``beta`` are
paper 002's (appendix A: "AT-MAIL has a slope of 30 and bias of 0.07. TRADES-MAIL has a slope of 5 and bias of
0.05, where beta = 5.0"); in the authors' code the weight is ``sigmoid(slope * (-PM + bias))``, the same function.
Their MAIL-AT normalizes the weights over the batch as here; their MAIL-TRADES multiplies them by 3 instead; this
module normalizes both, so that ``gamma -> 0`` gives back AT and TRADES exactly.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from marginlib import validate
from marginlib.methods.adversarial import PGDAT, kl_adversary

#: paper 002, appendix A: (slope gamma, bias beta) of AT-MAIL and TRADES-MAIL
DEFAULTS = {"at": (30.0, 0.07), "trades": (5.0, 0.05)}


def probabilistic_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``p_y - max_{j != y} p_j`` per sample from ``logits`` (N, K), shape (N,): MAIL's probabilistic margin."""
    p = F.softmax(logits, dim=1)
    true = p.gather(1, y[:, None]).squeeze(1)
    other = p.scatter(1, y[:, None], float("-inf")).amax(dim=1)
    return true - other


def mail_weights(pm: torch.Tensor, *, slope: float, bias: float) -> torch.Tensor:
    """MAIL's importance weights ``sigmoid(-slope * (pm - bias))``, normalized to mean 1 over the batch (detached)."""
    w = torch.sigmoid(-slope * (pm.detach() - bias))
    return w * (len(w) / w.sum())


class MAIL(PGDAT):
    """MAIL-AT (``objective="at"``) or MAIL-TRADES (``objective="trades"``, with TRADES' ``beta``); see the module
    docstring. ``slope`` and ``bias`` default to paper 002's values for the objective; ``burn_in`` is the number of
    epochs trained unweighted first."""

    name = "mail"

    def __init__(self, *, eps: float, objective: str = "at", slope: float | None = None, bias: float | None = None,
                 beta: float = 5.0, burn_in: int = 0, step_size: float | None = None, steps: int = 10,
                 norm: str = "linf") -> None:
        self.objective = validate.choice("objective", objective, tuple(DEFAULTS))
        super().__init__(eps=eps, step_size=step_size, steps=steps, norm=norm,
                         random_start=self.objective == "at")
        default_slope, default_bias = DEFAULTS[self.objective]
        self.slope = float(validate.nonnegative("slope", default_slope if slope is None else slope))
        self.bias = float(default_bias if bias is None else bias)
        self.beta = validate.nonnegative("beta", beta)
        if not (isinstance(burn_in, int) and burn_in >= 0):
            raise ValueError(f"burn_in must be a nonnegative int (epochs), got {burn_in!r}")
        self.burn_in = burn_in
        self.epochs_done = 0

    def weights(self, logits_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The batch's importance weights (all 1 during the burn-in)."""
        if self.epochs_done < self.burn_in:
            return torch.ones(len(y), dtype=logits_adv.dtype, device=logits_adv.device)
        return mail_weights(probabilistic_margin(logits_adv.detach(), y), slope=self.slope, bias=self.bias)

    def adversary(self, model, x, y):
        """The PGD example for MAIL-AT, TRADES' KL adversary for MAIL-TRADES."""
        if self.objective == "at":
            return super().adversary(model, x, y)
        return kl_adversary(model, x, eps=self.eps, step_size=self.step_size, steps=self.steps, norm=self.norm,
                            generator=self.generator)

    def loss_at(self, model, x, x_adv, y, *, index=None):
        if self.objective == "at":
            logits_adv = model(x_adv)
            w = self.weights(logits_adv, y)
            adv = (w * F.cross_entropy(logits_adv, y, reduction="none")).mean()
            return adv, {"adv_ce": adv.detach(), "weight_max": w.max()}
        logits, logits_adv = model(x), model(x_adv)
        w = self.weights(logits_adv, y)
        ce = F.cross_entropy(logits, y)
        kl = (w * F.kl_div(F.log_softmax(logits_adv, dim=1), F.softmax(logits, dim=1), reduction="none").sum(1)).mean()
        return ce + self.beta * kl, {"ce": ce.detach(), "kl": kl.detach(), "weight_max": w.max()}

    def after_epoch(self, model, epoch: int) -> None:
        self.epochs_done = epoch

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "epochs_done": self.epochs_done}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.epochs_done = state["epochs_done"]

    def __repr__(self) -> str:
        return (f"MAIL(objective={self.objective!r}, eps={self.eps}, slope={self.slope}, bias={self.bias}, "
                f"beta={self.beta}, burn_in={self.burn_in}, steps={self.steps})")
