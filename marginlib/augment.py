"""Data augmentation of image batches, for the ``augment`` hook of :func:`marginlib.train.fit`.

An augmentation is a function ``(x, generator) -> x'``: ``x`` a batch (N, C, H, W) in [0, 1] on any device,
``generator`` a CPU ``torch.Generator`` (the trainer seeds one per epoch from the run's seed). The random choices
are drawn on the CPU from ``generator``, so a seed gives the same augmentation on every device, and applied to the
whole batch in one indexing pass; the result has the shape of ``x`` and stays in [0, 1].
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

from marginlib import validate


def random_crop_flip(x: torch.Tensor, generator: torch.Generator, *, padding: int = 4, flip: bool = True,
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
    top = torch.randint(0, x.shape[-2] - h + 1, (n, 1), generator=generator)
    left = torch.randint(0, x.shape[-1] - w + 1, (n, 1), generator=generator)
    rows, cols = top + torch.arange(h), left + torch.arange(w)  # (N, H), (N, W): each image's window
    if flip:
        mirror = torch.rand(n, 1, generator=generator) < 0.5
        cols = torch.where(mirror, cols.flip(1), cols)  # a mirrored crop reads its window right to left
    rows, cols = rows.to(x.device), cols.to(x.device)
    batch, channel = torch.arange(n, device=x.device), torch.arange(c, device=x.device)
    return x[batch[:, None, None, None], channel[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]]
