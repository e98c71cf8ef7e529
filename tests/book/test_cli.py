"""Parameter validation, results records and the command line, without executing notebooks."""
from __future__ import annotations

import json

import pytest

from marginlib.book import cli, results
from marginlib.book import params as notebook

NB = "notebooks/01_minavg_linear.ipynb"


def test_profiles_merge_presets_over_demo_defaults():
    demo = notebook.resolve(NB, "demo")
    smoke = notebook.resolve(NB, "smoke")
    assert demo["profile"] == "demo" and smoke["profile"] == "smoke"
    assert smoke["epochs"] < demo["epochs"]
    assert notebook.resolve(NB, "demo", {"epochs": "5"})["epochs"] == 5


def test_values_are_parsed_and_coerced():
    params = notebook.resolve(NB, "smoke", {"lr": "2", "source": "offline"})
    assert params["lr"] == 2.0 and isinstance(params["lr"], float)
    assert params["source"] == "offline"


@pytest.mark.parametrize(
    "profile, overrides, match",
    [
        ("demo", {"epochz": "3"}, r"unknown parameter\(s\) epochz; valid names: .*epochs"),
        ("demo", {"epochs": "many"}, "epochs='many' has the wrong type: expected int"),
        ("demo", {"epochs": "true"}, "wrong type"),
        ("demo", {"source": "web"}, "source='web' is not valid; choose one of: 'auto', 'full', 'offline'"),
        ("fast", {}, "profile='fast' is not valid; choose one of: smoke, demo, paper"),
        ("demo", {"profile": "paper"}, "set the profile with --profile"),
        ("demo", {"lr": ".inf"}, "lr=inf must be a finite number"),
        ("demo", {"lr": ".nan"}, "lr=nan must be a finite number"),
        ("demo", {"record_points": "[1]"}, "record_points=\\[1\\] has the wrong type"),
        ("demo", {"epochs": "[1,"}, "cannot read the value '\\[1,'"),
    ],
)
def test_bad_parameters_fail_before_any_work(profile, overrides, match):
    with pytest.raises(ValueError, match=match):
        notebook.resolve(NB, profile, overrides)


def test_values_read_as_yaml_1_2_numbers_and_list_elements_are_checked():
    """YAML 1.1 reads 1e-3 as a string and 010 as eight (issue 18 item 11)."""
    assert notebook.parse_value("1e-3") == 0.001 and notebook.parse_value("010") == 10
    assert notebook.parse_value("[1e-3, 2]") == [0.001, 2] and notebook.parse_value("true") is True
    assert notebook.resolve(NB, "demo", {"lr": "1e-3"})["lr"] == 0.001
    with pytest.raises(ValueError, match=r"eps\[0\]='a' has the wrong type: expected float"):
        notebook.resolve("03_amr", "demo", {"eps": '["a", 0.1]'})
    assert notebook.resolve("03_amr", "demo", {"eps": "[1, 0.5]"})["eps"] == [1.0, 0.5]


def test_unknown_notebook_lists_the_valid_ones():
    with pytest.raises(ValueError, match="01_minavg_linear"):
        notebook.find("99_nothing")


def test_cli_run_reports_bad_parameters(capsys):
    assert cli.main(["run", NB, "--profile", "smoke", "-p", "epochz", "1"]) == 2
    assert "valid names" in capsys.readouterr().err


def test_cli_list_shows_parameters_and_profiles(capsys):
    assert cli.main(["list", "01_minavg_linear"]) == 0
    out = capsys.readouterr().out
    assert "01_minavg_linear" in out and "epochs" in out and "30000" in out and "smoke" in out


def test_record_is_written_atomically_with_the_schema(tmp_path, monkeypatch):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    run = results.Run("01_minavg_linear", profile="demo", params={"epochs": 3}, required={"c": ["demo"]})
    import numpy as np
    import torch

    record = run.save(metrics={"a": torch.tensor([1.0, float("nan")]), "b": np.float32(2.5)},
                      claims={"c": results.claim(True, detail="x", paper="p")})
    on_disk = json.loads((tmp_path / "01_minavg_linear" / "demo.json").read_text())
    assert on_disk == record
    assert on_disk["metrics"] == {"a": [1.0, None], "b": 2.5}
    assert list(tmp_path.rglob("*.tmp")) == []


REQUIRED = {"ok": ["demo"], "optional": ["paper"], "broken": ["demo"]}


def test_claims_command_fails_on_a_required_false_claim(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    for path in notebook.toc_notebooks():
        results.Run(path.stem, profile="demo", params=notebook.resolve(path.stem, "demo"), required=REQUIRED).save(
            metrics={}, claims={"ok": results.claim(True, detail="", paper="p"),
                                "optional": results.claim(False, detail="", paper="p")})
    assert cli.main(["claims", "--profile", "demo"]) == 0
    first = notebook.toc_notebooks()[0].stem
    results.Run(first, profile="demo", params=notebook.resolve(first, "demo"), required=REQUIRED).save(
        metrics={}, claims={"broken": results.claim(False, detail="", paper="p")})
    assert cli.main(["claims", "--profile", "demo"]) == 1
    assert f"{first}: broken" in capsys.readouterr().err


def test_claims_command_fails_when_a_record_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    assert cli.main(["claims", "--profile", "demo"]) == 1
    assert "no results record" in capsys.readouterr().err


def test_claim_needs_the_papers_statement_and_the_preset_file_names_its_profiles(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="paper= must name"):
        results.claim(True, detail="x", paper=" ")
    with pytest.raises(ValueError, match="list of profiles among"):
        results.check_required({"c": ["demo", "fast"]}, where="x.yaml")
    with pytest.raises(ValueError, match="claim name -> list"):
        results.check_required(["c"], where="x.yaml")
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    run = results.Run("01_minavg_linear", profile="demo", params={}, required={"listed": []})
    with pytest.raises(ValueError, match=r"\['unlisted'\] are not listed under 'required:'"):
        run.save(metrics={}, claims={"unlisted": results.claim(True, detail="", paper="p")})
    saved = run.save(metrics={}, claims={"listed": results.claim(False, detail="", paper="p", value=1, paper_value=2)})
    assert saved["claims"]["listed"] == {"holds": False, "detail": "", "paper": "p", "value": 1.0, "paper_value": 2.0,
                                         "required_at": []}


def test_glued_numbers_are_plain_python_numbers(monkeypatch):
    import myst_nb
    import numpy as np
    import torch

    from marginlib.book import plots

    seen = {}
    monkeypatch.setattr(myst_nb, "glue", lambda name, value, display=False: seen.__setitem__(name, value))
    plots.number("a", np.float64(0.25))
    plots.number("b", torch.tensor(3))
    plots.number("c", "text")
    assert seen == {"a": 0.25, "b": 3, "c": "text"}
    assert type(seen["a"]) is float and type(seen["b"]) is int


def test_unwritable_results_and_broken_presets_are_errors_not_tracebacks(tmp_path, monkeypatch, capsys):
    """Read-only folders and YAML failures surfaced as raw tracebacks (issue 18 item 11)."""
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    monkeypatch.setenv(results.RESULTS_ENV, str(locked / "results"))
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        assert cli.main(["run", NB, "--profile", "smoke"]) == 2
        assert "error:" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_a_broken_value_is_an_error_line(capsys):
    assert cli.main(["run", NB, "--profile", "smoke", "-p", "epochs", "[1,"]) == 2
    assert "cannot read the value" in capsys.readouterr().err


def test_list_filters_and_shows_each_parameters_meaning(capsys):
    from marginlib.book import cli

    assert cli.main(["list"]) == 0
    short = capsys.readouterr().out
    assert "notebooks/04_mma_margins.ipynb:" in short and "n_train" not in short
    assert cli.main(["list", "04_mma_margins"]) == 0
    out = capsys.readouterr().out
    assert "notebooks/05_mma_training.ipynb" not in out
    line = next(x for x in out.splitlines() if x.strip().startswith("n_train "))
    assert "MNIST training images" in line


def test_every_parameter_says_what_it_means():
    from marginlib.book import params

    for path in params.toc_notebooks():
        s = params.spec(path)
        silent = [n for n in s.defaults if n != "profile" and not s.meanings.get(n)]
        assert silent == [], f"{path.name}: give {silent} a comment in the parameters cell (python -m marginlib list)"


def test_claims_tells_a_missing_record_from_a_failed_claim(tmp_path, monkeypatch, capsys):
    from marginlib.book import cli, results

    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    assert cli.main(["claims", "04_mma_margins", "--profile", "demo"]) == 1
    captured = capsys.readouterr()
    assert "MISS 04_mma_margins" in captured.out
    assert "no usable record" in captured.err and "do not hold" not in captured.err


def test_the_kernel_says_nothing_of_its_transport_but_keeps_the_notebooks_warnings(tmp_path, capfd):
    """Issue 19 item 7: no "running over TCP without encryption" line in a run's output; a warning raised by
    the notebook's code still reaches its output."""
    import nbformat
    import papermill

    from marginlib.book import build

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import warnings\nwarnings.warn('the notebook warns')")]
    nbformat.write(nb, tmp_path / "in.ipynb")
    papermill.execute_notebook(str(tmp_path / "in.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name=build.kernel_name(), extra_arguments=build.KERNEL_ARGUMENTS,
                               progress_bar=False)
    out, err = capfd.readouterr()
    assert "without encryption" not in out + err
    outputs = nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].outputs
    assert any("the notebook warns" in o.get("text", "") for o in outputs)
