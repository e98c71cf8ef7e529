import pytest
import torch

from marginlib.papers.p003_amm import label_noise, toy2d


def test_randomize_labels_touches_only_n_noisy_samples():
    y = torch.arange(10).repeat(100)
    noisy = label_noise.randomize_labels(y, 300, num_classes=10, generator=torch.Generator().manual_seed(0))
    changed = int((noisy != y).sum())
    assert 300 * 0.8 < changed <= 300          # a random label equals the true one with probability 1/10
    assert noisy.dtype == y.dtype and int(noisy.min()) >= 0 and int(noisy.max()) <= 9
    assert torch.equal(y, torch.arange(10).repeat(100))   # the input is left alone


def test_randomize_labels_is_uniform_over_classes():
    y = torch.zeros(20000, dtype=torch.long)
    noisy = label_noise.randomize_labels(y, 20000, num_classes=4, generator=torch.Generator().manual_seed(1))
    counts = torch.bincount(noisy, minlength=4).float() / 20000
    assert torch.allclose(counts, torch.full((4,), 0.25), atol=0.02)


def test_randomize_labels_is_deterministic_and_checks_arguments():
    y = torch.arange(5).repeat(4)
    a = label_noise.randomize_labels(y, 10, num_classes=5, generator=torch.Generator().manual_seed(3))
    b = label_noise.randomize_labels(y, 10, num_classes=5, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="n_noisy"):
        label_noise.randomize_labels(y, 21, num_classes=5, generator=torch.Generator())
    with pytest.raises(ValueError, match="n_noisy"):
        label_noise.randomize_labels(y, -1, num_classes=5, generator=torch.Generator())


def test_with_random_labels_keeps_inputs_and_clean_count():
    d = toy2d.load(split="train", verbose=False)
    noisy = label_noise.with_random_labels(d, len(d), seed=0)
    assert torch.equal(noisy.y, d.y) and noisy.x is d.x
    half = label_noise.with_random_labels(d, len(d) // 2, seed=0)
    assert 0 < int((half.y != d.y).sum()) <= len(d) // 2 and half.num_classes == d.num_classes
    with pytest.raises(ValueError, match="n_clean"):
        label_noise.with_random_labels(d, len(d) + 1)
