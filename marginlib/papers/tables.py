"""The papers' reference numbers: the only reader of ``book/data/*.csv``.

Each file's columns are declared here (name -> kind), :func:`read` checks a file against its declaration
before returning it, and ``tests/papers/test_tables.py`` checks every file in ``book/data/``. Cells the paper
leaves empty or unreadable are written ``—`` or ``?`` and read as missing values.
"""
from __future__ import annotations

import pathlib

import pandas as pd

from marginlib import validate

MISSING = ("—", "?")

_EFF = {"training": "str", "lambda_emr": "float", "lambda_wd": "float", "clean_acc": "float", "robust_acc": "float",
        "eff_margin_train_mean": "float", "eff_margin_train_std": "float", "eff_margin_test_mean": "float",
        "eff_margin_test_std": "float"}
_EMR_ATTACKS = {"clean_acc": "float", "fgsm": "float", "pgd10": "float", "pgd100": "float", "autoattack": "float"}
_AMM_TABLE = {"method": "str", "ref": "str", "architecture": "str", "error_mean": "float", "error_std": "float",
              "margin": "float", "augmentation": "str", "note": "str"}


def _robust(eps: tuple[str, ...]) -> dict[str, str]:
    return {"model": "str", "method": "str", "clean_acc": "float", **{f"robust_acc_eps{e}": "float" for e in eps},
            "avg_margin": "float"}


#: file stem -> {column: kind}, kinds "str", "float" (any number or missing) and "int" (whole numbers)
SCHEMAS: dict[str, dict[str, str]] = {
    "benchmarks": {"benchmark": "str", "ratio": "float", "target": "str", "met": "str", "detail": "str",
                   "machine": "str", "date": "str"},
    "paper000_table1_cifar": _robust(("0.1", "0.2", "0.3", "0.4")),
    "paper000_table1_mnist": _robust(("0.5", "1.0", "1.5", "2.0")),
    "paper001_cifar": {"id": "str", "paper says": "str", "where": "str"},
    "paper001_l2": {"id": "str", "paper says": "str", "where": "str"},
    "paper001_table1": {"attack": "str", "eps": "float", "steps": "float", "restarts": "float", "source_model": "str",
                        "acc_mma_model": "float", "acc_pgd_model": "float"},
    "paper002_table1": _EFF,
    "paper002_table2": _EFF,
    "paper002_table8": {"model": "str", **_EFF},
    "paper002_table3": {"method": "str", **_EMR_ATTACKS},
    "paper002_table9": {"method": "str", **_EMR_ATTACKS},
    "paper002_table4": {"method": "str", "emr_input": "str", "model": "str", **_EMR_ATTACKS},
    "paper002_table10": {"training": "str", "regularizer": "str", "seconds_per_iter": "float", "std": "float"},
    "paper003_apptable1": {"aggregation": "str", "shrinkage": "str", "lambda": "int", "c": "float", "d": "float"},
    "paper003_apptable2": {"dataset": "str", "architecture": "str", "batch_size": "int", "epochs": "int",
                           "init_lr": "float", "milestones": "str", "scratch": "str", "note": "str"},
    "paper003_table1": {"method": "str", "aggregation": "str", "shrinkage": "str", "error_mean": "float",
                        "error_std": "float"},
    "paper003_table2": {"model": "str", "error_mean": "float", "error_std": "float"},
    "paper003_table3": _AMM_TABLE,
    "paper003_table4": _AMM_TABLE,
    "paper003_table5": _AMM_TABLE,
    "paper003_table6": _AMM_TABLE,
    "paper003_table7": {k: v for k, v in _AMM_TABLE.items() if k != "augmentation"},
    "paper004_appB2": {"dataset": "str", "layer_group": "str", "sum_std_difference": "float",
                       "mean_std_difference": "float"},
}
#: numbers a paper states in its text that no table holds (``key``: the name prose quotes them by, ``value`` as
#: the paper writes it, ``where``: section, figure or page of the paper)
QUOTES = {"key": "str", "value": "str", "where": "str"}
SCHEMAS.update({f"paper{n:03d}_quotes": QUOTES for n in range(5)})


def cell(reference: str, *, folder: str | pathlib.Path | None = None) -> str:
    """The cell ``STEM:COLUMN:KEY=VALUE,KEY=VALUE`` of ``book/data``, exactly as the paper wrote it (the text of the
    CSV, not a reformatted float): what the book's ``{paper}`` role shows. The filters must select exactly one row
    of the checked table; an unknown table, column or filter value, or zero or several rows, raise ``ValueError``
    naming the reference."""
    import csv

    parts = reference.split(":", 2)
    if len(parts) != 3:
        raise ValueError(f"{reference!r}: expected STEM:COLUMN:KEY=VALUE[,KEY=VALUE...]")
    stem, column, where = (part.strip() for part in parts)
    read(stem, folder=folder)   # the file is checked against its declaration first
    if column not in SCHEMAS[stem]:
        raise ValueError(f"{reference!r}: table {stem!r} has no column {column!r}; choose from {list(SCHEMAS[stem])}")
    filters = {}
    for pair in where.split(","):
        key, sep, value = pair.partition("=")
        if not sep or key.strip() not in SCHEMAS[stem]:
            raise ValueError(f"{reference!r}: filter {pair!r} is not COLUMN=VALUE with a column of {stem!r}")
        filters[key.strip()] = value.strip()
    with open(pathlib.Path(folder or data_dir()) / f"{stem}.csv", newline="") as f:
        rows = [row for row in csv.DictReader(f) if all(row[k] == v for k, v in filters.items())]
    if len(rows) != 1:
        raise ValueError(f"{reference!r}: the filters select {len(rows)} rows of {stem!r}, not one")
    return rows[0][column]


def data_dir() -> pathlib.Path:
    """``<repo root>/book/data``."""
    from marginlib.book.results import repo_root

    return repo_root() / "book" / "data"


#: the paper tables this process read: a run's record fingerprints them (:func:`marginlib.book.results.code_files`)
LOADED: set[pathlib.Path] = set()


def read(name: str, *, folder: str | pathlib.Path | None = None) -> pd.DataFrame:
    """``book/data/<name>.csv`` (``name`` with or without ``.csv``), checked against :data:`SCHEMAS`.

    Declared ``str`` columns come back as ``object`` (missing cells as NaN); a file whose columns or values do
    not match its declaration raises ``ValueError`` naming the file and the column.
    """
    stem = name.removesuffix(".csv")
    validate.choice("name", stem, tuple(SCHEMAS))
    path = pathlib.Path(folder or data_dir()) / f"{stem}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the paper table {stem!r} is missing from book/data")
    frame = pd.read_csv(path, na_values=list(MISSING), keep_default_na=True)
    LOADED.add(path.resolve())
    schema = SCHEMAS[stem]
    if list(frame.columns) != list(schema):
        raise ValueError(f"{path}: columns {list(frame.columns)} do not match the declared {list(schema)}")
    for column, kind in schema.items():
        values = frame[column]
        if kind == "str":
            frame[column] = values.astype(object)
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        bad = values.notna() & numeric.isna()
        if kind == "int":
            bad |= numeric.notna() & (numeric % 1 != 0)
        if bad.any():
            raise ValueError(f"{path}: column {column!r} should hold {kind} values; row(s) "
                             f"{list(frame.index[bad])} hold {list(values[bad])}")
        frame[column] = numeric.astype("int64") if kind == "int" and numeric.notna().all() else numeric
    return frame
