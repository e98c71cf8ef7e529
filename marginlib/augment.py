"""Data augmentation of image batches, for the ``augment`` hook of :func:`marginlib.train.fit`.

An augmentation is a function ``(x, generator) -> x'``: ``x`` a batch (N, C, H, W) in [0, 1] on any device,
``generator`` a CPU ``torch.Generator`` or, from the trainer, a :class:`~marginlib.rng.SampleDraws` keyed by each
image's dataset position (so an image is cropped and flipped alike whatever batch or rank it lands in). Either way a
seed gives the same augmentation on every device; the choices are applied to the whole batch in one indexing pass,
and the result has the shape of ``x`` and stays in [0, 1].
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from marginlib import rng, validate
from marginlib.rng import Draws


def random_crop_flip(x: torch.Tensor, generator: Draws, *, padding: int = 4, flip: bool = True,
                     resize: int | None = None) -> torch.Tensor:
    """Random crops of the original size from zero-padded images, each mirrored left-right with probability 1/2.

    The defaults are the standard CIFAR augmentation (paper 004, App. "CIFAR10/100", after Lee et al. 2015): pad 4
    zero pixels on every side, crop a random 32x32 window (offsets uniform in 0..8), flip horizontally with
    probability 1/2; paper 003's released code uses the same for CIFAR-10/100 and the crops without flips
    (``flip=False``) for SVHN. Zero padding is black in pixel space, as torchvision's
    ``RandomCrop(32, padding=4)`` pads images before normalization. ``resize=36, padding=0`` is the variant that
    paper 003's text describes (§4.1.2: "resize each image to 36x36, and randomly crop a 32x32 patch"): each image
    is first resized bilinearly to ``resize`` x ``resize``, then padded by ``padding`` and cropped.
    """
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"x must be a batch of images (N, C, H, W), got shape {getattr(x, 'shape', type(x))}")
    if not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be an integer >= 0, got {padding!r}")
    n, c, h, w = x.shape
    if resize is not None:
        validate.positive("resize", resize)
        x = F.interpolate(x, size=(resize, resize), mode="bilinear", align_corners=False)
    if padding:
        x = F.pad(x, (padding,) * 4)
    if x.shape[-2] < h or x.shape[-1] < w:
        raise ValueError(f"resize + 2 * padding = {tuple(x.shape[-2:])} is smaller than the images ({h}, {w})")
    top = rng.integers(0, x.shape[-2] - h + 1, (n, 1), generator, device=x.device)
    left = rng.integers(0, x.shape[-1] - w + 1, (n, 1), generator, device=x.device)
    rows = top + torch.arange(h, device=x.device)  # (N, H), (N, W): each image's window
    cols = left + torch.arange(w, device=x.device)
    if flip:
        mirror = rng.uniform((n, 1), generator, device=x.device) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)  # a mirrored crop reads its window right to left
    batch, channel = torch.arange(n, device=x.device), torch.arange(c, device=x.device)
    return x[batch[:, None, None, None], channel[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
