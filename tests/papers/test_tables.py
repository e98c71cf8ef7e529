"""Every file in book/data is declared in marginlib.papers.tables and matches its declaration."""
from __future__ import annotations

import pytest

from marginlib.papers import tables

FILES = sorted(p.stem for p in tables.data_dir().glob("*.csv"))


def test_every_data_file_is_declared_and_every_declaration_has_a_file():
    assert FILES == sorted(tables.SCHEMAS)


@pytest.mark.parametrize("name", FILES)
def test_file_matches_its_schema(name):
    frame = tables.read(name)
    assert len(frame) > 0
    for column, kind in tables.SCHEMAS[name].items():
        if kind != "str":
            assert frame[column].dtype.kind in "if", (name, column)


def test_wrong_columns_and_values_are_refused(tmp_path):
    (tmp_path / "paper003_table2.csv").write_text("model,error_mean\nMLP,1.0\n")
    with pytest.raises(ValueError, match="columns"):
        tables.read("paper003_table2", folder=tmp_path)
    (tmp_path / "paper003_table2.csv").write_text("model,error_mean,error_std\nMLP,one,0.1\n")
    with pytest.raises(ValueError, match="'error_mean' should hold float"):
        tables.read("paper003_table2", folder=tmp_path)
    (tmp_path / "paper003_apptable1.csv").write_text("aggregation,shrinkage,lambda,c,d\nMIN,EXP,2.5,2,1\n")
    with pytest.raises(ValueError, match="'lambda' should hold int"):
        tables.read("paper003_apptable1", folder=tmp_path)
    with pytest.raises(ValueError, match="name='nope'"):
        tables.read("nope")
    assert tables.read("paper003_table2.csv").equals(tables.read("paper003_table2"))
