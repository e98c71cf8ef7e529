"""Data pickles (CIFAR's python batches) are read by a restricted unpickler: NumPy arrays and plain containers
load, a file that names any other global (a function to call) is refused before it runs."""
from __future__ import annotations

import os
import pickle

import numpy as np
import pytest

from marginlib import data


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cifar_folder(tmp_path, batch_for):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for name in (*data.CIFAR_FILES["train"], *data.CIFAR_FILES["test"]):
        (folder / name).write_bytes(batch_for(name))
    return folder


def test_a_poisoned_cifar_batch_is_refused_without_running(tmp_path):
    marker = tmp_path / "ran"
    rng = np.random.default_rng(0)
    clean = lambda: {b"data": rng.integers(0, 256, size=(2, 3072), dtype=np.uint8), b"labels": [0, 1]}
    poisoned = lambda name: pickle.dumps({**clean(), b"batch_label": _RunsCode(marker)} if name == "data_batch_3"
                                         else clean())
    _cifar_folder(tmp_path, poisoned)
    with pytest.raises(ValueError, match=r"data_batch_3.*refusing to load (posix|nt)\.system"):
        data.load("cifar10", root=tmp_path, source="full", verbose=False)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_batches_load_under_every_protocol(tmp_path, protocol):
    rng = np.random.default_rng(protocol)
    batch = {b"data": rng.integers(0, 256, size=(3, 3072), dtype=np.uint8), b"labels": [4, 5, 6],
             b"batch_label": b"training batch 1 of 5", b"filenames": [b"a.png", b"b.png", b"c.png"]}
    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps(batch, protocol=protocol))
    x, y = data.read_cifar_batch(path)
    np.testing.assert_allclose(x.reshape(3, -1), batch[b"data"] / 255.0, rtol=1e-6)
    assert y.tolist() == [4, 5, 6]


def test_a_truncated_pickle_names_its_file(tmp_path):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})[:40])
    with pytest.raises(ValueError, match="data_batch_1"):
        data.read_cifar_batch(path)

