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
    assert len(frame) > 0 or name.endswith("_quotes")   # a paper may quote nothing from its text
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


def test_cell_is_the_papers_text_and_refuses_ambiguous_references(tmp_path):
    (tmp_path / "paper001_quotes.csv").write_text("key,value,where\ngap,0.90,§4\nother,1.5,Fig. 2\n")
    assert tables.cell("paper001_quotes:value:key=gap", folder=tmp_path) == "0.90"   # as written, not 0.9
    assert tables.cell("paper003_table1:error_mean:aggregation=MIN,shrinkage=EXP") == "0.90"
    for bad, words in [("paper001_quotes:value", "expected"), ("paper001_quotes:nope:key=gap", "no column"),
                       ("paper001_quotes:value:kee=gap", "filter"), ("paper001_quotes:value:key=none", "0 rows"),
                       ("paper001_quotes:value:where=§4,key=gap,key=other", "0 rows")]:
        with pytest.raises(ValueError, match=words):
            tables.cell(bad, folder=tmp_path)
