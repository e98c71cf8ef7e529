"""Cost of a training step, measured on the machine at hand: wall time and memory saved for backward.

Paper 002 (Table 10) compares methods by the time of one SGD iteration, and paper 003 (§4.4) by time and memory
per epoch relative to a reference. These helpers measure both for any :class:`marginlib.methods.Method`,
so the notebooks and ``make bench`` report ratios measured in one run on the same model and batch.
"""
from __future__ import annotations

import copy
import time
import weakref
from collections.abc import Callable, Mapping

import torch
from torch import nn

from .methods.base import Method


def _synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def best_time(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> float:
    """Minimum wall-clock seconds of ``fn()`` over ``repeat`` runs after ``warmup`` untimed runs (CUDA-synchronized).

    The minimum, not the mean, estimates the cost of the work itself: other load on the machine only adds time.
    """
    if repeat < 1 or warmup < 0:
        raise ValueError(f"repeat must be >= 1 and warmup >= 0, got repeat={repeat}, warmup={warmup}")
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        _synchronize()
        t0 = time.perf_counter()
        fn()
        _synchronize()
        best = min(best, time.perf_counter() - t0)
    return best


def best_times(fns: Mapping[str, Callable[[], object]], *, rounds: int = 5, repeat: int = 1,
               warmup: int = 1) -> dict[str, float]:
    """:func:`best_time` of each callable, measured in ``rounds`` that visit every callable in turn.

    For ratios: a burst of load or a change of clock speed during the measurement then hits every callable alike,
    where timing one after the other would charge it to whichever ran at that moment.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    best = {name: best_time(fn, repeat=repeat, warmup=warmup) for name, fn in fns.items()}
    for _ in range(rounds - 1):
        for name, fn in fns.items():
            best[name] = min(best[name], best_time(fn, repeat=repeat, warmup=0))
    return best


def _train_step(method: Method, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                optimizer: torch.optim.Optimizer) -> None:
    loss, _ = method.loss(model, x, y, index=torch.arange(len(x), device=x.device))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    method.after_step(model)


def step_seconds(method: Method, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, repeat: int = 5,
                 warmup: int = 1, seed: int = 0) -> float:
    """Best-of-``repeat`` seconds of one SGD iteration of ``method``: forward, loss, backward and update.

    The steps change a copy of ``model`` (the caller's weights, mode and gradients are untouched), so methods can be
    timed one after another on the same starting point.
    """
    work = _copy(model)
    method.setup(device=x.device, seed=seed)
    optimizer = torch.optim.SGD(work.parameters(), lr=1e-3, momentum=0.9)
    return best_time(lambda: _train_step(method, work, x, y, optimizer), repeat=repeat, warmup=warmup)


def saved_bytes(method: Method, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, seed: int = 0) -> int:
    """Peak bytes of the tensors autograd holds for backward while ``method`` evaluates its loss.

    A device-independent measure of a step's activation memory (parameters and optimizer state excluded):
    paper 003 reports AMM's memory as a multiple of the reference's, and this ratio is what it compares.
    A storage shared by several saved tensors counts once; graphs freed during the evaluation (an attack's inner
    steps without ``create_graph``) stop counting when freed, graphs kept for the final backward keep counting.
    """
    work = _copy(model)
    method.setup(device=x.device, seed=seed)
    parameters = {p.untyped_storage().data_ptr() for p in work.parameters()}
    holders: dict[int, int] = {}
    sizes: dict[int, int] = {}
    live = peak = 0

    def release(key: int) -> None:
        nonlocal live
        holders[key] -= 1
        if not holders[key]:
            live -= sizes.pop(key)
            del holders[key]

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal live, peak
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        if key not in parameters:
            if key not in holders:
                holders[key], sizes[key] = 0, storage.nbytes()
                live += sizes[key]
                peak = max(peak, live)
            holders[key] += 1
            weakref.finalize(tensor, release, key)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss, _ = method.loss(work, x, y, index=torch.arange(len(x), device=x.device))
    del loss
    return peak


def _copy(model: nn.Module) -> nn.Module:
    work = copy.deepcopy(model)
    work.train(model.training)
    return work
