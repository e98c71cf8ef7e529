"""Dry runs: each section's paper preset cut only in declared sizes and lengths (issue 16), recorded apart."""
import pytest

from marginlib.book import paper_check, params, results

SECTIONS = [p.stem for p in params.toc_notebooks()]


@pytest.mark.parametrize("stem", SECTIONS)
def test_dry_run_differs_from_the_paper_preset_only_in_declared_cuts(stem):
    s = params.spec(stem)
    assert params.dry_run_problems(s) == []
    paper, dry = s.profile("paper"), s.profile("paper", dry_run=True)
    assert {k for k in paper if paper[k] != dry[k]} == set(s.dry_run)
    params.check_section(stem, params.resolve(stem, "paper", dry_run=True))   # the section's Params accept it


def _spec(dry, paper):
    defaults = {"profile": "demo", "n_train": 10, "epochs": 5, "model": "mlp", "grid": [1, 2, 3], "source": "auto",
                "lr": 0.1, "augment": True}
    return params.Spec(params.find(SECTIONS[0]), "", defaults, {"paper": paper}, {}, {}, dry)


@pytest.mark.parametrize("dry", [{"n_train": 5}, {"epochs": 1, "grid": [1, 3]}, {"source": "offline"}])
def test_cuts_are_accepted(dry):
    assert params.dry_run_problems(_spec(dry, {"n_train": 100, "epochs": 10})) == []


@pytest.mark.parametrize("dry", [{"n_train": 500}, {"n_train": 0}, {"model": "cnn"}, {"grid": [3, 1]},
                                 {"grid": [1, 2, 3]}, {"grid": [4]}, {"lr": 0.01}, {"augment": False},
                                 {"source": "full"}])
def test_anything_but_a_cut_is_refused(dry):
    problems = params.dry_run_problems(_spec(dry, {"n_train": 100, "epochs": 10}))
    assert len(problems) == 1 and f"dry_run {next(iter(dry))}=" in problems[0]


def test_a_missing_block_is_refused():
    assert params.dry_run_problems(_spec({}, {})) != []


def test_dry_run_records_are_kept_apart(tmp_path):
    assert results.run_name("paper", dry_run=True) == "paper-dryrun"
    assert results.record_path("05_mma_training", "paper", dry_run=True, root=tmp_path).name == "paper-dryrun.json"
    with pytest.raises(ValueError, match="dry run is of the paper profile"):
        results.run_name("demo", dry_run=True)
    with pytest.raises(ValueError, match="dry run is of the paper profile"):
        params.spec(SECTIONS[0]).profile("demo", dry_run=True)


def test_a_dry_runs_record_carries_the_paper_estimate(tmp_path, monkeypatch):
    from marginlib import cost

    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    monkeypatch.delenv(results.STAGING_ENV, raising=False)
    run = results.Run("01_minavg_linear", profile="paper", params={"n": 10, "epochs": 2},
                      required={"c": []}, full={"n": 100, "epochs": 2})
    with cost.work("n"):
        pass
    record = run.save(metrics={"x": 1.0}, claims={"c": results.claim(True, detail="d", paper="§1")})
    assert record["dry_run"] is True
    est = record["metrics"]["paper_estimate"]
    assert est["device"] and est["seconds"] >= est["measured_seconds"] > 0   # cut units only scale up
    assert [u["factor"] for u in est["units"] if u["scales"] == ["n"]] == [10.0]
    loaded = results.load("01_minavg_linear", "paper", dry_run=True, root=tmp_path)
    assert loaded["metrics"]["paper_estimate"]["units"] == est["units"]
    with pytest.raises(FileNotFoundError, match="--dry-run"):
        results.load("02_minavg_deep", "paper", dry_run=True, root=tmp_path)


def test_the_appendix_table_marks_sections_without_a_dry_run():
    summary = {"sections": {"a": {"seconds": 12.3, "estimate_hours": 4.56, "device": "cpu (2 cores)",
                                  "started": "2026-12-02T05:00:00+00:00"}}}
    rows = paper_check.table_rows(summary, ["a", "b"])
    assert rows[0][2] == "within 90 s"
    assert rows[1] == ("a", "12", "yes", "4.6", "cpu (2 cores)", "2026-12-02")
    assert rows[2] == ("b", "—", "—", "—", "—", "—")
    summary["sections"]["a"]["over_limit"] = True
    assert paper_check.table_rows(summary, ["a"])[1][2] == "no"


def test_the_cli_refuses_a_dry_run_of_another_profile(capsys):
    from marginlib.book import cli

    assert cli.main(["run", SECTIONS[0], "--profile", "demo", "--dry-run"]) == 2
    assert "--dry-run is a cut of the paper profile" in capsys.readouterr().err


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_dry_run_writes_no_checkpoints(tmp_path, monkeypatch, dry_run):
    """A checkpoint costs per epoch, not per image: in a dry run it would swamp the training units it scales by
    the images (a WRN-34-10 save is 0.5 GB), so a dry run checkpoints nothing, even with the variable set."""
    import os

    import papermill

    from marginlib import train
    from marginlib.book import build

    seen = {}

    def execute(*args, **kwargs):
        seen["checkpoints"] = os.environ.get(train.CHECKPOINTS_ENV)
        seen["kernel"] = kwargs.get("extra_arguments")
        raise RuntimeError("stop here")

    monkeypatch.setattr(papermill, "execute_notebook", execute)
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    monkeypatch.setenv(train.CHECKPOINTS_ENV, str(tmp_path / "ckpt"))
    with pytest.raises(RuntimeError, match="stop here"):
        build.execute(SECTIONS[0], profile="paper", dry_run=dry_run, progress=False)
    assert seen["checkpoints"] == ("" if dry_run else str(tmp_path / "ckpt"))
    assert seen["kernel"] == build.KERNEL_ARGUMENTS
    assert os.environ[train.CHECKPOINTS_ENV] == str(tmp_path / "ckpt")   # restored after the run
