"""The launch buttons' promise: a published notebook runs where there is no checkout (Colab, Binder, a pip install).

A wheel built from the checkout's tracked files carries the book's inputs (``setup.py``); installed in a fresh
virtualenv outside the repository, it executes a section's published notebook (the executed notebook as the book
stages it: the install cell first, the standard ``python3`` kernel), copied to a folder of its own, at smoke.

The fresh virtualenv gets marginlib from the wheel only; its third-party dependencies (torch, papermill, ...) are
made visible from the test's own environment through a ``.pth`` line added after the install (downloading torch
again would make the test minutes long and prove nothing about this package). That path is not a site directory,
so the editable install of this checkout it also holds stays inactive: the test checks that the notebook imported
marginlib from the wheel.
"""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

import nbformat
import pytest
import yaml

from marginlib.book import build, launch, results
from marginlib.book import params as notebook

ROOT = results.repo_root()
SECTION = "01_minavg_linear"   # the quickest section at smoke
#: appended to the published notebook: where marginlib came from, and a paper table read (01 reads none itself)
WHERE = ("import marginlib, sys; from marginlib.papers import tables\n"
         "print('marginlib from', marginlib.__file__, 'python', sys.prefix)\n"
         "print('paper table rows', len(tables.read('paper000_table1_mnist')))")


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> pathlib.Path:
    """A wheel built from a copy of the checkout's tracked files (what a clone holds), without build isolation."""
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    if not files:
        pytest.skip("not a git checkout")
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for name in files:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(tmp / "dist"),
          str(src)])
    return next((tmp / "dist").glob("marginlib-*.whl"))


def test_the_wheel_ships_the_book_inputs_a_section_reads(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.removeprefix("marginlib/_book/") for n in names if n.startswith("marginlib/_book/")}
    expected = {"_toc.yml", *(str(p.relative_to(ROOT)) for p in (ROOT / "notebooks").rglob("*") if p.is_file()),
                *(str(p.relative_to(ROOT)) for p in (ROOT / "book" / "data").rglob("*") if p.is_file())}
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    assert expected & tracked <= shipped, f"missing from the wheel: {sorted((expected & tracked) - shipped)}"
    assert "marginlib/py.typed" in names and "marginlib/book/launch.py" in names


def _as_installed(monkeypatch):
    """``repo_root`` as in an installed package: no checkout to fall back to (this test environment's editable
    install would find this one), so the root is the working directory."""
    monkeypatch.setattr(launch, "repo_root", lambda start=None: pathlib.Path(start or os.getcwd()).resolve())


def test_home_unpacks_the_shipped_inputs_once_and_keeps_the_records(tmp_path, monkeypatch):
    shipped = tmp_path / "shipped"
    (shipped / "notebooks" / "params").mkdir(parents=True)
    (shipped / "book" / "data").mkdir(parents=True)
    (shipped / "_toc.yml").write_text("root: intro\n")
    (shipped / "notebooks" / "params" / "a.yaml").write_text("profiles: {}\n")
    monkeypatch.setattr(launch, "SHIPPED", shipped)
    _as_installed(monkeypatch)
    away = tmp_path / "away"
    away.mkdir()
    monkeypatch.chdir(away)
    assert not launch.in_checkout()
    home = launch.home()
    assert home == away / "margin-book" and pathlib.Path.cwd() == home and launch.in_checkout()
    assert (home / "notebooks" / "params" / "a.yaml").read_text() == "profiles: {}\n"
    (home / "results").mkdir()
    (home / "results" / "r.json").write_text("{}")
    assert launch.home() == home, "a home already entered is the repository root"
    monkeypatch.chdir(away)
    (shipped / "notebooks" / "params" / "a.yaml").write_text("profiles: {smoke: {}}\n")   # a newer package
    assert launch.home() == home and (home / "notebooks" / "params" / "a.yaml").read_text().startswith("profiles: {s")
    assert (home / "results" / "r.json").is_file(), "unpacking again never touches the records"


def test_home_without_a_checkout_or_shipped_inputs_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(launch, "SHIPPED", tmp_path / "nothing")
    _as_installed(monkeypatch)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="install it from a wheel or the repository"):
        launch.home()


def test_the_install_cell_pins_the_commit_and_binder_the_cpu_torch():
    cell = launch.install_cell(repository="https://github.com/o/r/", commit="abc123")
    assert '%pip install --quiet "marginlib @ git+https://github.com/o/r@abc123"' in cell
    assert cell.rstrip().endswith("launch.home()")
    reqs = launch.binder_requirements(repository="https://github.com/o/r", commit=None, torch_pin="torch==2.13.0")
    lines = [line for line in reqs.splitlines() if not line.startswith("#")]
    assert lines == ["--index-url https://download.pytorch.org/whl/cpu", "--extra-index-url https://pypi.org/simple",
                     "torch==2.13.0", "marginlib @ git+https://github.com/o/r"]


@pytest.mark.notebook
def test_a_published_notebook_runs_at_smoke_from_a_fresh_venv_outside_the_repository(wheel, tmp_path, monkeypatch):
    # the published notebook: executed here at smoke, then staged for the book as `make book` stages it
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path / "results"))
    executed, _ = build.execute(SECTION, profile="smoke", progress=False, timeout=600)
    record = results.load(SECTION, "smoke")
    away = tmp_path / "away"
    away.mkdir()
    published = away / f"{SECTION}.ipynb"
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    build._write_for_book(executed, published, record, None, install=launch.install_cell(repository=url, commit=None))
    nb = nbformat.read(published, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(WHERE))
    nbformat.write(nb, published)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv / "bin" / "python"
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", str(wheel)])
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (pathlib.Path(purelib) / "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")

    smoke = notebook.resolve(SECTION, "smoke")
    (tmp_path / "smoke.yaml").write_text(yaml.safe_dump(smoke))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MARGINLIB_", "PYTHON", "JUPYTER", "VIRTUAL_ENV"))}
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter")   # no kernelspec of this machine: the venv's own python3
    out = away / "out.ipynb"
    _run([str(python), "-m", "papermill", str(published), str(out), "-f", str(tmp_path / "smoke.yaml"),
          "-k", "python3", "--cwd", str(away), "--no-progress-bar"], cwd=away, env=env, timeout=900)

    ran = nbformat.read(out, as_version=4)
    errors = [o for c in ran.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    where = "".join(o.get("text", "") for o in ran.cells[-1].outputs)
    assert f"marginlib from {venv}" in where and f"python {venv}" in where, where
    assert "paper table rows" in where, "the paper tables ship with the package"
    home = away / "margin-book"
    assert (home / "_toc.yml").is_file() and (home / "notebooks" / "params" / f"{SECTION}.yaml").is_file()
    fresh = json.loads((home / "results" / SECTION / "smoke.json").read_text())
    assert fresh["profile"] == "smoke" and fresh["params"] == smoke
    assert results.failed_claims(fresh) == [], "the claims required at smoke hold in the fresh venv too"
