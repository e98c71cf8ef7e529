"""Random crops and flips of image batches: shapes, range, determinism, and that each output is a (mirrored) window."""
from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from marginlib.augment import random_crop_flip


def images(n: int = 64, c: int = 3, side: int = 8) -> torch.Tensor:
    """Images whose pixels are all distinct and positive, so a window of the padded image is identifiable."""
    return (torch.arange(n * c * side * side, dtype=torch.float32).view(n, c, side, side) + 1) / (n * c * side ** 2 + 1)


def find_window(out: torch.Tensor, source: torch.Tensor) -> tuple[int, int, bool] | None:
    """(top, left, mirrored) of the window of ``source`` (C, H', W') that ``out`` (C, H, W) is, or None."""
    h, w = out.shape[-2:]
    for top in range(source.shape[-2] - h + 1):
        for left in range(source.shape[-1] - w + 1):
            window = source[:, top:top + h, left:left + w]
            for mirrored in (False, True):
                if torch.equal(out, window.flip(-1) if mirrored else window):
                    return top, left, mirrored
    return None


def test_every_output_is_a_possibly_mirrored_window_of_the_padded_image():
    x = images()
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=2)
    assert out.shape == x.shape and out.dtype == x.dtype and 0 <= out.min() and out.max() <= 1
    padded = F.pad(x, (2, 2, 2, 2))
    found = [find_window(o, p) for o, p in zip(out, padded)]
    assert all(f is not None for f in found)
    tops, lefts, mirrored = zip(*found)
    assert set(tops) == set(range(5)) and set(lefts) == set(range(5)), "offsets are uniform in 0..2*padding"
    assert 16 <= sum(mirrored) <= 48, "about half the images are mirrored"
    assert (out == 0).any(), "windows off the centre show the zero padding"


def test_seeded_generator_makes_it_deterministic():
    x = images()
    a = random_crop_flip(x, torch.Generator().manual_seed(5))
    b = random_crop_flip(x, torch.Generator().manual_seed(5))
    c = random_crop_flip(x, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_no_padding_no_flip_is_the_identity_and_flip_alone_mirrors():
    x = images(32)
    assert torch.equal(random_crop_flip(x, torch.Generator().manual_seed(0), padding=0, flip=False), x)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert torch.equal(out[~mirrored], x[~mirrored]) and 0 < int(mirrored.sum()) < 32


def test_crops_without_flips_for_svhn():
    x = images(32)
    out = random_crop_flip(x, torch.Generator().manual_seed(1), flip=False)
    padded = F.pad(x, (4, 4, 4, 4))
    assert all(find_window(o, p)[2] is False for o, p in zip(out, padded))


def test_paper003_resize_then_crop():
    x = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    out = random_crop_flip(x, torch.Generator().manual_seed(3), resize=36, padding=0, flip=False)
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    resized = F.interpolate(x, size=(36, 36), mode="bilinear", align_corners=False)
    found = [find_window(o, r) for o, r in zip(out, resized)]
    assert all(f is not None for f in found) and len({f[:2] for f in found}) > 1


def test_bad_arguments():
    x = images(2)
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="padding must be an integer >= 0"):
        random_crop_flip(x, g, padding=-1)
    with pytest.raises(ValueError, match=r"x must be a batch of images \(N, C, H, W\)"):
        random_crop_flip(x[0], g)
    with pytest.raises(ValueError, match="smaller than the images"):
        random_crop_flip(x, g, resize=6, padding=0)


def test_on_cuda(cuda):
    x = images(8)
    out = random_crop_flip(x.to(cuda), torch.Generator().manual_seed(4))
    assert out.device.type == "cuda"
    assert torch.equal(out.cpu(), random_crop_flip(x, torch.Generator().manual_seed(4))), "same seed, same crops"
