"""Argument checks shared by every public function: each error names the parameter and the valid choices."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import torch

_N = TypeVar("_N", int, float)
_V = TypeVar("_V", int, float, torch.Tensor)

NORMS = ("linf", "l2")


def choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``, else raise ``ValueError`` listing them."""
    choices = tuple(choices)
    if value not in choices:
        valid = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {valid}")
    return value


def norm(value: str, *, name: str = "norm", choices: Iterable[str] = NORMS) -> str:
    """Validate a norm name (``'linf'`` or ``'l2'`` unless ``choices`` narrows it)."""
    return choice(name, value, choices)


def nonnegative(name: str, value: _V) -> _V:
    """Raise ``ValueError`` if ``value`` (a number or a tensor) has a negative or NaN entry."""
    if isinstance(value, torch.Tensor):
        bad = bool(torch.isnan(value).any() or (value < 0).any())
    else:
        bad = not (value >= 0)
    if bad:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


def positive(name: str, value: _N) -> _N:
    """Raise ``ValueError`` unless ``value > 0``."""
    if not (value > 0):
        raise ValueError(f"{name} must be > 0, got {value!r}")
    return value


def batch(x: torch.Tensor, y: torch.Tensor | None = None, *, bounds: tuple[float, float] | None = (0.0, 1.0)) -> None:
    """Check an input batch: ``x`` has a leading batch axis and finite entries, ``y`` (if given) is 1-D long of the
    same length, and, when ``bounds`` is given, every pixel of ``x`` lies within it."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError(f"x must be a tensor of shape (N, ...) with N samples, got {getattr(x, 'shape', type(x))}")
    if y is not None:
        if not isinstance(y, torch.Tensor) or y.dim() != 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y must be a 1-D tensor of {x.shape[0]} labels, got shape {getattr(y, 'shape', type(y))}")
        if y.dtype != torch.long:
            raise ValueError(f"y must have dtype torch.long, got {y.dtype}")
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"x must be finite: {bad} of its {x.numel()} entries are NaN or infinite")
    if bounds is not None and x.numel():
        lo, hi = bounds
        tol = 1e-6
        if float(x.min()) < lo - tol or float(x.max()) > hi + tol:
            raise ValueError(
                f"x must lie in bounds={bounds} (pixel space); "
                f"got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]"
            )


def same_dtype(model: torch.nn.Module, x: torch.Tensor) -> None:
    """Refuse inputs whose floating dtype differs from the model's parameters (torch's own error names neither)."""
    for parameter in model.parameters():
        if parameter.is_floating_point():
            if x.is_floating_point() and parameter.dtype != x.dtype:
                raise ValueError(f"x is {x.dtype} but the model's parameters are {parameter.dtype}: convert one "
                                 f"(x.to({parameter.dtype}) or model.to({x.dtype}))")
            return
