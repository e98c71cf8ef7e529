"""Random draws keyed by sample, so a sample's numbers do not depend on its batch, its rank or the device.

:func:`marginlib.train.fit` draws every per-sample random number of training (the attacks' random starts, TRADES'
initial noise, the augmentations' crops and flips) from a :class:`SampleDraws`: row ``i`` of a draw is a function
of the run's seed, the epoch, the stream, the draw's number within the batch and ``index[i]``, the sample's
position in the dataset. A batch split over ``N`` ranks (DistributedDataParallel) therefore draws, sample by
sample, the numbers one process draws for the whole batch, and a resumed run the numbers of an uninterrupted one.

The numbers come from a counter-based hash (Wellons' ``lowbias32`` of the hashed row and element keys, in 32-bit
arithmetic carried in int64 tensors), computed on the batch's device with integer operations only, so CPU and CUDA
give the same bits.
Uniforms have 24 random bits (``k * 2**-24``, ``k`` in ``0 .. 2**24 - 1``) and normals come from Box-Muller, so
their tails stop near 5.9 standard deviations: plenty for random starts and augmentations, not a general-purpose
generator. Wherever a ``torch.Generator`` is accepted instead, the functions here draw from it as torch does.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

_MASK = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """``x * c mod 2**32`` for ``x`` in ``[0, 2**32)`` without leaving int64 (16-bit halves)."""
    lo, hi = x & 0xFFFF, x >> 16
    return ((((hi * c) & 0xFFFF) << 16) + lo * c) & _MASK


def _hash(x: torch.Tensor) -> torch.Tensor:
    """Wellons' ``lowbias32``: a bijection of 32-bit integers with full avalanche."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _fold(value: int) -> int:
    """A Python integer of any size folded to 32 bits through the hash."""
    out = torch.tensor(0, dtype=torch.int64)
    value = int(value) % 2**64
    for word in (value & _MASK, value >> 32):
        out = _hash(out ^ word)
    return int(out)


class SampleDraws:
    """Per-sample random numbers for a batch whose rows are the dataset positions ``index``.

    ``seed`` keys the stream (the trainer derives it from the run's seed, the epoch and the purpose). Each call
    is a new draw: the ``k``-th call of a batch gives row ``i`` the numbers of ``(seed, k, index[i])``, whatever the
    other rows are; :meth:`rows` takes a subset of the rows that shares the count of calls (MMA attacks only the
    samples it classifies correctly) and :meth:`child` an independent stream (a method's base objective).
    """

    def __init__(self, *, seed: int, index: torch.Tensor, _calls: list[int] | None = None) -> None:
        if index.dim() != 1:
            raise ValueError(f"index must be a 1-D tensor of dataset positions, got shape {tuple(index.shape)}")
        self.seed = int(seed)
        self.index = index.to(torch.int64)
        self._calls = [0] if _calls is None else _calls

    @property
    def device(self) -> torch.device:
        return self.index.device

    def rows(self, mask: torch.Tensor) -> SampleDraws:
        """The draws of the rows where ``mask`` is true (a boolean mask or integer positions into the batch)."""
        return SampleDraws(seed=self.seed, index=self.index[mask.to(self.index.device)], _calls=self._calls)

    def child(self, stream: int) -> SampleDraws:
        """An independent stream over the same rows (its own count of calls)."""
        return SampleDraws(seed=_fold(self.seed * 1_000_003 + stream + 1), index=self.index)

    def bits(self, shape: Sequence[int]) -> torch.Tensor:
        """The next draw: 32-bit integers (int64) of ``shape``, whose first dimension is the number of rows."""
        shape = tuple(int(s) for s in shape)
        if not shape or shape[0] != len(self.index):
            raise ValueError(f"a keyed draw needs shape[0] == the number of samples ({len(self.index)}), got {shape}")
        call = self._calls[0]
        self._calls[0] += 1
        key = _fold(self.seed * 65_537 + call)
        row = _hash(_hash(self.index & _MASK) ^ key)                       # (B,)
        per_row = math.prod(shape[1:])
        cell = _hash((torch.arange(per_row, device=self.device) + _GOLDEN) & _MASK)  # (D,)
        return _hash(row[:, None] ^ cell[None, :]).reshape(shape)


Draws = torch.Generator | SampleDraws


def subset(generator: Draws | None, mask: torch.Tensor) -> Draws | None:
    """The draws for the rows of a batch where ``mask`` is true: :meth:`SampleDraws.rows`, or ``generator`` itself
    (a ``torch.Generator`` is not keyed by rows)."""
    return generator.rows(mask) if isinstance(generator, SampleDraws) else generator


def uniform(shape: Sequence[int], generator: Draws, *, device: torch.device | str | None = None,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Uniform numbers in ``[0, 1)`` of ``shape``: ``torch.rand`` on a ``torch.Generator`` (on its device, then
    moved to ``device``), or a keyed draw (24 random bits) on the rows' device."""
    if isinstance(generator, SampleDraws):
        out = (generator.bits(shape) >> 8).to(dtype) * 2.0**-24
    else:
        out = torch.rand(tuple(shape), generator=generator, device=generator.device, dtype=dtype)
    return out if device is None else out.to(device)


def normal(shape: Sequence[int], generator: Draws, *, device: torch.device | str | None = None,
           dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal numbers of ``shape``: ``torch.randn`` on a ``torch.Generator``, or Box-Muller on two keyed
    uniform draws."""
    if isinstance(generator, SampleDraws):
        u1 = ((generator.bits(shape) >> 8).to(torch.float64) + 0.5) * 2.0**-24
        u2 = (generator.bits(shape) >> 8).to(torch.float64) * 2.0**-24
        out = (torch.sqrt(-2.0 * torch.log(u1)) * torch.cos(2 * math.pi * u2)).to(dtype)
    else:
        out = torch.randn(tuple(shape), generator=generator, device=generator.device, dtype=dtype)
    return out if device is None else out.to(device)


def integers(low: int, high: int, shape: Sequence[int], generator: Draws, *,
             device: torch.device | str | None = None) -> torch.Tensor:
    """Integers uniform in ``low .. high - 1`` (int64): ``torch.randint`` on a ``torch.Generator``, or a keyed draw."""
    if high <= low:
        raise ValueError(f"integers needs high > low, got low={low}, high={high}")
    if isinstance(generator, SampleDraws):
        out = low + generator.bits(shape) % (high - low)
    else:
        out = torch.randint(low, high, tuple(shape), generator=generator, device=generator.device)
    return out if device is None else out.to(device)
