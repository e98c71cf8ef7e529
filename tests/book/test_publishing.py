"""Publishing: the Pages workflow is a valid GitHub Actions file that builds smoke on pull requests and deploys the
demo book from main; the repository URL lives only in _config.yml; license and citation files agree."""
import pathlib
import subprocess
import sys

import pytest
import yaml

from marginlib.book.results import repo_root

ROOT = repo_root()
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"


def _schema_check(path: pathlib.Path) -> subprocess.CompletedProcess:
    exe = pathlib.Path(sys.executable).with_name("check-jsonschema")
    if not exe.is_file():
        pytest.skip("check-jsonschema is not installed (the [test] extra has it)")
    return subprocess.run([str(exe), "--builtin-schema", "vendor.github-workflows", str(path)],
                          capture_output=True, text=True)


def test_the_workflow_is_valid_against_the_github_workflow_schema(tmp_path):
    done = _schema_check(WORKFLOW)
    assert done.returncode == 0, done.stdout + done.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert _schema_check(broken).returncode != 0, "the schema check must catch an unknown key"


def test_pull_requests_build_smoke_and_main_deploys_the_demo_book():
    wf = yaml.safe_load(WORKFLOW.read_text())
    triggers = wf[True] if True in wf else wf["on"]   # YAML 1.1 reads the key `on` as true
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    steps = {s.get("name"): s for s in wf["jobs"]["build"]["steps"]}
    assert "'smoke'" in steps["Build the book"]["run"] and "'demo'" in steps["Build the book"]["run"]
    publish = steps["Publish the site on gh-pages"]
    assert "pull_request" in publish["if"] and "make publish-only" in publish["run"]
    assert wf["permissions"] == {"contents": "write"}, "ghp-import pushes the gh-pages branch"
    names = list(steps)
    assert names.index("The papers' required claims") < names.index("Publish the site on gh-pages")


def test_publishing_pushes_the_built_site_to_the_branch_the_launch_buttons_open():
    makefile = (ROOT / "Makefile").read_text()
    rule = makefile[makefile.index("publish-only: install"):].splitlines()[1]
    assert "ghp_import" in rule and "--no-jekyll" in rule and "_build/html" in rule   # .nojekyll: _sources/ served
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    assert repository["branch"] == "gh-pages" and repository["path_to_book"] == "_sources"
    assert "-b" not in rule.split(), "ghp-import's default branch is gh-pages, the one the launch buttons name"


def test_the_repository_url_lives_only_in_the_book_config():
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert url.startswith("https://github.com/")
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    elsewhere = [f for f in files if f != "_config.yml" and (ROOT / f).is_file() and not f.endswith((".ipynb", ".png"))
                 and url in (ROOT / f).read_text(errors="ignore")]
    assert elsewhere == [], f"{url} is repeated in {elsewhere}; read it from _config.yml"


def test_license_and_citation_agree_with_the_package():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    assert 'license = { text = "MIT" }' in (ROOT / "pyproject.toml").read_text()
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert {"cff-version", "message", "title", "authors", "license"} <= set(cff) and cff["license"] == "MIT"
    titles = {r["title"] for r in cff["references"]}
    bib = (ROOT / "book" / "references.bib").read_text()
    assert len(titles) == 5 and all(t.split(":")[0].replace("MMA", "{MMA}") in bib for t in titles)
