"""What a run's work costs, measured where it is done, so that a cut-down run can estimate the full one.

A section wraps each unit of work in :func:`work`, naming the parameters whose size the time inside scales with::

    with cost.work("n_train", "epochs"):      # a training: images x epochs
        model = fit(...)
    with cost.work("n_test", "strengths"):    # attacks on the test set, once per strength of the grid
        accuracies = [robust_accuracy(...) for eps in p.strengths]

Blocks nest exclusively (an inner block's time is not counted again in the outer one). :func:`estimate` then scales
each block's measured seconds by the ratio of the full parameters to the run's (numbers: full / run; lists: their
lengths' ratio) and adds the time spent outside every block once: the paper profile's wall time from its dry run
(``python -m marginlib run NOTEBOOK --profile paper --dry-run``, which cuts only declared size and length
parameters). The model is linear in each named size, which is what training epochs over a data set and attacks
over a test set are, or, for a scale written ``"name^k"``, a power of it: ``"image_size^2"`` for convolutions, whose
work grows with the number of pixels, the square of the image side. It ignores what does not scale (compilation,
caches, a batch too small to fill the device).
"""
from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Mapping
from typing import Any

_ledger: dict[tuple[str, ...], float] = {}
_stack: list[float] = []   # per open block: the seconds its nested blocks took


@contextlib.contextmanager
def work(*scales: str) -> Iterator[None]:
    """Count the time spent inside as work whose size is linear in each of the parameters ``scales`` (or in the
    ``k``-th power of one named ``"name^k"``)."""
    if not all(isinstance(s, str) and s for s in scales):
        raise ValueError(f"scales={scales!r}: give parameter names (non-empty strings)")
    for s in scales:
        _power(s)
    key = tuple(sorted(set(scales)))
    _stack.append(0.0)
    t0 = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - t0
        inner = _stack.pop()
        _ledger[key] = _ledger.get(key, 0.0) + max(elapsed - inner, 0.0)
        if _stack:
            _stack[-1] += elapsed


def ledger() -> dict[tuple[str, ...], float]:
    """Seconds measured so far per tuple of scales (exclusive of nested blocks)."""
    return dict(_ledger)


def reset() -> None:
    """Forget every measurement (a new run in the same process)."""
    _ledger.clear()
    _stack.clear()


def _power(scale: str) -> tuple[str, int]:
    """``("name", k)`` of a scale ``"name^k"`` (``k`` a positive integer), ``(scale, 1)`` without ``^``."""
    name, caret, power = scale.partition("^")
    if not name or (caret and (not power.isdigit() or int(power) < 1)):
        raise ValueError(f"scale {scale!r}: write a parameter name, or name^k with k a positive integer")
    return name, int(power or 1)


def factor(scale: str, *, run: Mapping[str, Any], full: Mapping[str, Any]) -> float:
    """:func:`ratio` of the scale's parameter, raised to its power (``"image_size^2"``: the pixels' ratio)."""
    name, power = _power(scale)
    return ratio(name, run=run, full=full) ** power


def ratio(name: str, *, run: Mapping[str, Any], full: Mapping[str, Any]) -> float:
    """How many times larger parameter ``name`` is in ``full`` than in ``run``: numbers by their quotient, lists by
    their lengths' quotient; 1 when the parameter is absent from either or equal in both."""
    if name not in run or name not in full or run[name] == full[name]:
        return 1.0
    a, b = run[name], full[name]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        a, b = len(a), len(b)
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        raise ValueError(f"cannot scale by parameter {name!r}: {run[name]!r} vs {full[name]!r} are not sizes "
                         "(numbers or lists)")
    if not (math.isfinite(a) and math.isfinite(b)) or a <= 0:
        raise ValueError(f"cannot scale by parameter {name!r}: {run[name]!r} vs {full[name]!r}")
    return float(b) / float(a)


def estimate(*, run: Mapping[str, Any], full: Mapping[str, Any], total_seconds: float,
             measured: Mapping[tuple[str, ...], float] | None = None) -> dict[str, Any]:
    """The estimated wall time of a run with parameters ``full``, from one with parameters ``run`` that took
    ``total_seconds`` and whose :func:`work` blocks measured ``measured`` (default: this process's ledger).

    Returns ``{"seconds", "measured_seconds", "units": [{"scales", "seconds", "factor", "estimate"}, ...]}``;
    the time outside every block is the unit with no scales, counted once.
    """
    measured = ledger() if measured is None else dict(measured)
    inside = sum(measured.values())
    parts: list[tuple[tuple[str, ...], float, float]] = [((), max(total_seconds - inside, 0.0), 1.0)]
    parts += [(scales, seconds, float(math.prod(factor(s, run=run, full=full) for s in scales)))
              for scales, seconds in sorted(measured.items())]
    units = [{"scales": list(scales), "seconds": seconds, "factor": factor, "estimate": seconds * factor}
             for scales, seconds, factor in parts]
    return {"seconds": sum(seconds * factor for _, seconds, factor in parts), "measured_seconds": total_seconds,
            "units": units}
