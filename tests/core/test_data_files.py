"""Data files that disagree with each other or are damaged are refused with an error naming them (issue 18 item
10): counts of images and labels, swapped files, labels out of range, broken gzip, CIFAR batches and .mat files."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from test_data import write_idx

from marginlib import data


def _mnist(tmp_path, *, n_images=20, n_labels=20, labels=None, swap=False):
    folder = tmp_path / "mnist"
    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        images, label_file = data.MNIST_FILES[split]
        x = rng.integers(0, 256, size=(n_images, 28, 28))
        y = np.arange(n_labels) % 10 if labels is None else np.asarray(labels)
        write_idx(folder / (label_file if swap else images), x)
        write_idx(folder / (images if swap else label_file), y)
    return tmp_path


@pytest.mark.parametrize(("files", "match"), [
    (dict(n_images=20, n_labels=10), "20 images but 10 labels"),
    (dict(swap=True), "swapped"),
    (dict(labels=[200] * 20), r"labels range over 200..200, outside 0..9"),
])
def test_inconsistent_mnist_files_are_refused_naming_their_folder(tmp_path, files, match):
    root = _mnist(tmp_path, **files)
    with pytest.raises(ValueError, match=match) as err:
        data.load("mnist", root=root, source="full", verbose=False)
    assert str(tmp_path / "mnist") in str(err.value)


def test_broken_gzip_names_its_file(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(ValueError, match=f"{path}: cannot read it"):
        data.read_idx(path)


def test_cifar_batches_with_fewer_labels_than_images_are_refused(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in (*data.CIFAR_FILES["train"], *data.CIFAR_FILES["test"]):
        batch = {b"data": rng.integers(0, 256, size=(10, 3072), dtype=np.uint8), b"labels": [1, 2, 3, 4, 5]}
        (folder / name).write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match=f"10 images but 5 labels|{folder}"):
        data.load("cifar10", root=tmp_path, source="full", verbose=False)


def test_a_damaged_mat_file_names_itself(tmp_path):
    path = tmp_path / "train_32x32.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file, nothing else")
    with pytest.raises(ValueError, match=f"{path}"):
        data.read_svhn_mat(path)
