"""Data sources, readers of the standard file formats, fixed splits, and errors."""
from __future__ import annotations

import gzip
import pathlib
import pickle
import struct
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from marginlib import data


def write_idx(path, array: np.ndarray, *, compress: bool = False) -> None:
    """Write ``array`` (uint8) in the IDX format MNIST ships in."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(f"{path}.gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture
def mnist_root(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split, n, compress in (("train", 30, False), ("test", 12, True)):
        images, labels = data.MNIST_FILES[split]
        write_idx(folder / images, rng.integers(0, 256, size=(n, 28, 28)), compress=compress)
        write_idx(folder / labels, np.arange(n) % 10, compress=compress)
    return tmp_path


def test_idx_reader_roundtrip(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a", arr)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "a"), arr)
    write_idx(tmp_path / "b", arr, compress=True)
    np.testing.assert_array_equal(data.read_idx(tmp_path / "b.gz"), arr)


def test_idx_reader_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        data.read_idx(tmp_path / "bad")
    good = struct.pack(">BBBB", 0, 0, 0x08, 1) + struct.pack(">I", 10) + bytes(5)
    (tmp_path / "short").write_bytes(good)
    with pytest.raises(ValueError, match="promises 10 bytes"):
        data.read_idx(tmp_path / "short")


def test_full_mnist_from_idx_files(mnist_root):
    train = data.load("mnist", root=mnist_root, source="full", verbose=False)
    test = data.load("mnist", split="test", root=mnist_root, source="full", verbose=False)
    assert train.x.shape == (30, 1, 28, 28) and test.x.shape == (12, 1, 28, 28)
    assert train.x.dtype == torch.float32 and 0 <= train.x.min() and train.x.max() <= 1
    assert train.y.tolist() == [i % 10 for i in range(30)]
    assert "full MNIST" in train.source and str(mnist_root) in train.source


def test_mnist_root_from_environment(mnist_root, monkeypatch):
    monkeypatch.setenv("MARGINLIB_DATA", str(mnist_root))
    assert "full MNIST" in data.load("mnist", verbose=False).source


def test_cifar_python_batches(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name in (*data.CIFAR_FILES["train"], *data.CIFAR_FILES["test"]):
        batch = {b"data": rng.integers(0, 256, size=(4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
        (folder / name).write_bytes(pickle.dumps(batch))
    train = data.load("cifar10", root=tmp_path, source="full", verbose=False)
    assert train.x.shape == (20, 3, 32, 32) and train.y.tolist() == [0, 1, 2, 9] * 5
    assert not train.is_standin
    raw = pickle.loads((folder / "test_batch").read_bytes())[b"data"][0]
    np.testing.assert_allclose(data.load("cifar10", split="test", root=tmp_path, verbose=False).x[0].flatten().numpy(),
                               raw / 255.0, rtol=1e-6)


def test_missing_full_data_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="download=True.*MARGINLIB_DATA"):
        data.load("mnist", root=tmp_path, source="full", verbose=False)
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        data.load("cifar10", root=tmp_path, source="full", verbose=False)


def test_offline_mnist_split_is_fixed_stratified_and_disjoint(monkeypatch):
    monkeypatch.delenv("MARGINLIB_DATA", raising=False)
    train = data.load("mnist", verbose=False)
    test = data.load("mnist", split="test", verbose=False)
    assert "offline MNIST-5k" in train.source
    assert len(train) == 4000 and len(test) == 1000
    assert torch.bincount(test.y).tolist() == [100] * 10
    again = data.load("mnist", seed=123, verbose=False)
    assert torch.equal(train.x, again.x), "the offline split must not depend on the user's seed"
    flat_tr = {row.tobytes() for row in train.x.flatten(1).numpy()}
    assert not any(row.tobytes() in flat_tr for row in test.x.flatten(1).numpy())


def test_subsets_are_stratified_and_seeded():
    a = data.load("digits", n=100, seed=0, verbose=False)
    b = data.load("digits", n=100, seed=0, verbose=False)
    c = data.load("digits", n=100, seed=1, verbose=False)
    assert len(a) == 100 and torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)
    assert torch.bincount(a.y, minlength=10).min() >= 9


def test_digits():
    digits = data.load("digits", verbose=False)
    assert digits.x.shape[1:] == (1, 8, 8) and digits.x.max() == 1.0


@pytest.mark.parametrize("name", ["mnist01", "toy2d"])
def test_paper_specific_data_sets_are_not_core_names(name):
    """MNIST 0/1 lives in marginlib.papers.p000_minavg.data, the 2-D toy data in marginlib.papers.p003_amm.toy2d."""
    with pytest.raises(ValueError, match=f"name='{name}'.*'mnist', 'cifar10'"):
        data.load(name)


def test_cifar_standin_is_labelled(monkeypatch):
    monkeypatch.delenv("MARGINLIB_DATA", raising=False)
    standin = data.load("cifar10", verbose=False)
    assert standin.is_standin and "NOT real CIFAR-10" in standin.source
    assert standin.x.shape[1:] == (3, 32, 32)


def test_load_prints_its_source(capsys):
    data.load("digits", n=50)
    assert "source: scikit-learn" in capsys.readouterr().out


@pytest.mark.parametrize(
    "kwargs, match",
    [({"name": "imagenet"}, "name='imagenet'.*'mnist'"), ({"name": "mnist", "split": "val"}, "split='val'.*'train', 'test'"),
     ({"name": "mnist", "source": "web"}, "source='web'"), ({"name": "mnist", "n": -3}, "n must be a positive integer")],
)
def test_bad_arguments(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        data.load(name, verbose=False, **kwargs)


def test_download_without_torchvision_explains(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name == "torchvision":
            raise ImportError("operator torchvision::nms does not exist")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    with pytest.raises(ImportError, match="MARGINLIB_DATA"):
        data.load("mnist", root=tmp_path, download=True, verbose=False)


def write_cifar100(folder, rng, *, n: int = 6) -> dict[str, dict]:
    """Tiny ``cifar-100-python/{train,test}`` pickles (fine labels 0..99, coarse 0..19); returns what was written."""
    folder.mkdir(parents=True)
    written = {}
    for split in ("train", "test"):
        fine = [0, 99, 42, 7, 99, 3][:n]
        written[split] = {b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), b"fine_labels": fine,
                          b"coarse_labels": [f // 5 for f in fine]}
        (folder / split).write_bytes(pickle.dumps(written[split]))
    return written


def test_cifar100_python_pickles(tmp_path, monkeypatch):
    written = write_cifar100(tmp_path / data.CIFAR100_FOLDER, np.random.default_rng(2))
    monkeypatch.setenv("MARGINLIB_DATA", str(tmp_path))
    train = data.load("cifar100", verbose=False)
    assert train.x.shape == (6, 3, 32, 32) and train.x.dtype == torch.float32 and train.num_classes == 100
    assert train.y.tolist() == [0, 99, 42, 7, 99, 3] and "full CIFAR-100" in train.source
    test = data.load("cifar100", split="test", verbose=False)
    np.testing.assert_allclose(test.x.flatten(1).numpy(), written["test"][b"data"] / 255.0, rtol=1e-6)
    assert 0 <= float(test.x.min()) and float(test.x.max()) <= 1


def test_cifar100_subset_is_seeded(tmp_path):
    write_cifar100(tmp_path / data.CIFAR100_FOLDER, np.random.default_rng(3))
    a, b = (data.load("cifar100", root=tmp_path, n=3, seed=s, verbose=False) for s in (0, 1))
    again = data.load("cifar100", root=tmp_path, n=3, seed=0, verbose=False)
    assert len(a) == 3 and torch.equal(a.x, again.x) and not torch.equal(a.x, b.x)


def write_svhn(path, labels: np.ndarray, rng) -> np.ndarray:
    """An SVHN cropped-digit ``.mat`` file: ``X`` uint8 (32, 32, 3, N), ``y`` (N, 1) in 1..10; returns ``X``."""
    from scipy.io import savemat

    x = rng.integers(0, 256, size=(32, 32, 3, len(labels)), dtype=np.uint8)
    savemat(path, {"X": x, "y": labels.reshape(-1, 1).astype(np.uint8)})
    return x


def test_svhn_mat_files(tmp_path):
    rng = np.random.default_rng(4)
    folder = tmp_path / "svhn"
    folder.mkdir()
    x_train = write_svhn(folder / "train_32x32.mat", np.array([10, 1, 2, 9, 10]), rng)
    write_svhn(folder / "test_32x32.mat", np.array([3, 10]), rng)
    write_svhn(folder / "extra_32x32.mat", np.array([5, 6, 10]), rng)
    train = data.load("svhn", root=tmp_path, source="full", verbose=False)
    assert train.x.shape == (5, 3, 32, 32) and train.x.dtype == torch.float32 and train.x.is_contiguous()
    assert train.y.tolist() == [0, 1, 2, 9, 0], "label 10 is the digit 0"
    # pixel (row h, column w, channel c) of image n is X[h, w, c, n]
    assert float(train.x[3, 2, 5, 17]) == pytest.approx(x_train[5, 17, 2, 3] / 255.0)
    assert 0 <= float(train.x.min()) and float(train.x.max()) <= 1 and train.num_classes == 10
    assert data.load("svhn", split="test", root=tmp_path, verbose=False).y.tolist() == [3, 0]
    both = data.load("svhn", split="train+extra", root=tmp_path, verbose=False)
    assert both.y.tolist() == [0, 1, 2, 9, 0, 5, 6, 0] and torch.equal(both.x[:5], train.x)


def test_svhn_files_directly_under_root(tmp_path):
    write_svhn(tmp_path / "train_32x32.mat", np.array([1, 2, 10, 4]), np.random.default_rng(5))
    subset = data.load("svhn", root=tmp_path, n=2, seed=0, verbose=False)
    assert len(subset) == 2 and set(subset.y.tolist()) <= {1, 2, 0, 4}


def test_svhn_rejects_bad_files(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[0], [1]])})
    with pytest.raises(ValueError, match="labels in 1..10"):
        data.load("svhn", root=tmp_path, verbose=False)
    savemat(tmp_path / "train_32x32.mat", {"X": np.zeros((32, 32, 2), np.uint8), "y": np.array([[1]])})
    with pytest.raises(ValueError, match="not an SVHN"):
        data.load("svhn", root=tmp_path, verbose=False)


def test_download_writes_the_standard_files_and_reads_them(tmp_path, monkeypatch):
    """``download=True`` asks torchvision for the files, then reads them with marginlib's own readers."""
    calls = []

    def svhn(folder, *, split, download):
        calls.append(("SVHN", split))
        pathlib.Path(folder).mkdir(parents=True, exist_ok=True)
        write_svhn(pathlib.Path(folder) / f"{split}_32x32.mat", np.array([10, 7]), np.random.default_rng(6))

    def cifar100(base, *, train, download):
        calls.append(("CIFAR100", train))
        write_cifar100(pathlib.Path(base) / data.CIFAR100_FOLDER, np.random.default_rng(7))

    fake = SimpleNamespace(datasets=SimpleNamespace(SVHN=svhn, CIFAR100=cifar100))
    monkeypatch.setattr(data, "_torchvision", lambda: fake)
    assert data.load("svhn", split="train+extra", root=tmp_path, download=True, verbose=False).y.tolist() == [0, 7] * 2
    assert data.load("cifar100", root=tmp_path, download=True, verbose=False).num_classes == 100
    assert calls == [("SVHN", "train"), ("SVHN", "extra"), ("CIFAR100", True)]
    data.load("svhn", split="train+extra", root=tmp_path, download=True, verbose=False)  # present now: no download
    assert len(calls) == 3


def test_cifar100_and_svhn_missing_files_say_where_and_how(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"looked for train in .*cifar-100-python.*cifar-100-python.tar.gz"):
        data.load("cifar100", root=tmp_path, verbose=False)
    with pytest.raises(FileNotFoundError, match=r"train_32x32.mat, extra_32x32.mat in .*svhn.*housenumbers"):
        data.load("svhn", split="train+extra", root=tmp_path, verbose=False)
    monkeypatch.delenv("MARGINLIB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match=r"\$MARGINLIB_DATA is unset.*no offline copy of svhn"):
        data.load("svhn", verbose=False)
    with pytest.raises(ValueError, match="cifar100 has no offline data"):
        data.load("cifar100", source="offline", verbose=False)
    with pytest.raises(ValueError, match=r"split='train\+extra'.*'train', 'test'"):
        data.load("cifar100", split="train+extra", verbose=False)


def test_subset_sizes_are_checked_against_the_data():
    full = data.load("digits", verbose=False)
    almost = data.load("digits", n=len(full) - 1, verbose=False)   # crashed inside scikit-learn before
    assert len(almost) == len(full) - 1 and len(set(almost.y.tolist())) == 10
    with pytest.raises(ValueError, match=rf"n={len(full) + 1} exceeds the {len(full)} train samples of .*digits"):
        data.load("digits", n=len(full) + 1, verbose=False)      # silently returned all of them before
