"""``python -m marginlib claims`` cannot be fooled by a record of the wrong profile, without claims, or malformed
(issue 18 item 5). Every test writes its records under ``tmp_path`` (``$MARGINLIB_RESULTS``), never ``results/``."""
from __future__ import annotations

import json

import pytest

from marginlib.book import cli, results
from marginlib.book import params as notebook


@pytest.fixture
def records(tmp_path, monkeypatch):
    """A good demo record for every notebook; returns ``{stem: path}``."""
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    paths = {}
    for path in notebook.toc_notebooks():
        run = results.Run(path.stem, profile="demo", params=notebook.resolve(path.stem, "demo"),
                          required={"ok": ["demo"], "optional": ["paper"]})
        run.save(metrics={}, claims={"ok": results.claim(True, detail="fine", paper="a statement"),
                                     "optional": results.claim(False, detail="", paper="another")})
        paths[path.stem] = run.path
    return paths


def entry(holds, required_at):
    """A claim as a record stores it (with the profiles its preset file requires it at)."""
    return {**results.claim(holds, detail="", paper="a statement"), "required_at": required_at}


def _edit(path, change):
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))


def test_good_records_pass_with_the_usual_output(records, capsys):
    assert cli.main(["claims", "--profile", "demo"]) == 0
    out, err = capsys.readouterr()
    n = len(records)
    assert err == ""
    assert out.count("ok   ") == n and out.count("no   ") == n
    assert out.rstrip().endswith(f"all {n} required claims hold at profile demo")


def test_record_of_another_profile_is_a_failure(records, capsys):
    stem = next(iter(records))
    _edit(records[stem], lambda r: r.update(profile="smoke",
                                            claims={"broken": entry(False, ["demo"])}))
    assert cli.main(["claims", "--profile", "demo"]) == 1
    out, err = capsys.readouterr()
    assert "all " not in out
    assert stem in err and "'smoke'" in err and "'demo'" in err


def test_record_of_another_notebook_is_a_failure(records, capsys):
    first, second = list(records)[:2]
    records[first].write_text(records[second].read_text())
    assert cli.main(["claims", "--profile", "demo"]) == 1
    err = capsys.readouterr().err
    assert f"{first}/demo.json" in err and repr(second) in err


@pytest.mark.parametrize("change", [lambda r: r.pop("claims"), lambda r: r.update(claims={})],
                         ids=["deleted", "empty"])
def test_record_without_claims_is_a_failure(records, capsys, change):
    stem = list(records)[-1]
    _edit(records[stem], change)
    assert cli.main(["claims", "--profile", "demo"]) == 1
    out, err = capsys.readouterr()
    assert "all " not in out
    assert f"{stem}/demo.json" in err and "claims" in err


BAD = {
    "invalid JSON": ("{not json", "not valid JSON"),
    "not an object": ("[1, 2]", "a JSON object"),
    "missing profile": (lambda r: r.pop("profile"), "'profile'"),
    "claims a list": (lambda r: r.update(claims=["ok"]), "'claims'"),
    "claim without holds": (lambda r: r["claims"]["ok"].pop("holds"), "'holds'"),
    "holds a string": (lambda r: r["claims"]["ok"].update(holds="yes"), "'holds'"),
    "required_at a string": (lambda r: r["claims"]["ok"].update(required_at="demo"), "'required_at'"),
    "unknown profile": (lambda r: r["claims"]["ok"].update(required_at=["fast"]), "'fast'"),
}


@pytest.mark.parametrize("fault", list(BAD))
def test_malformed_record_names_its_file_and_the_others_are_still_checked(records, capsys, fault):
    change, expected = BAD[fault]
    stems = list(records)
    bad = stems[1]
    if callable(change):
        _edit(records[bad], change)
    else:
        records[bad].write_text(change)
    assert cli.main(["claims", "--profile", "demo"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in err and "all " not in out
    lines = [line for line in err.splitlines() if f"{bad}/demo.json" in line]
    assert lines and any(expected in line for line in lines), err
    for stem in stems[:1] + stems[2:]:
        assert f"ok   {stem}: ok" in out, "every other record is still checked"


def test_several_bad_records_are_all_reported(records, capsys):
    stems = list(records)
    records[stems[0]].write_text("")
    _edit(records[stems[2]], lambda r: r.pop("claims"))
    _edit(records[stems[4]], lambda r: r.update(claims={"broken": entry(False, ["demo"])}))
    assert cli.main(["claims", "--profile", "demo"]) == 1
    err = capsys.readouterr().err
    assert f"{stems[0]}/demo.json" in err and f"{stems[2]}/demo.json" in err and f"{stems[4]}: broken" in err
    assert "1 required claim(s) do not hold" in err, "a failed claim is counted apart from a missing record"
    assert "2 section(s) have no usable record" in err, err


def test_record_run_with_other_parameters_is_a_failure(records, capsys):
    """A run with overridden parameters is not the profile's run (issue 18 item 1), even if written in its place."""
    stem = "01_minavg_linear"
    _edit(records[stem], lambda r: r["params"].update(epochs=2000))
    assert cli.main(["claims", "--profile", "demo"]) == 1
    err = capsys.readouterr().err
    assert stem in err and "epochs=2000" in err and "preset" in err
