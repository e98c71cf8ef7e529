"""The install paths agree: environment.yml lists what pyproject.toml requires; torch is pinned everywhere."""
from __future__ import annotations

import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    reqs = list(project["dependencies"]) + extras["book"] + extras["test"] + extras["cluster"]
    return {_name(r): r for r in reqs}


def _conda_pip_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {_name(r): r for r in pip if not r.startswith("-")}


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    assert set(_conda_pip_requirements()) == set(_pyproject_requirements())


def test_torch_is_pinned_to_the_constraints_version_everywhere():
    constraints = (ROOT / "constraints.txt").read_text()
    pin = re.search(r"^torch==(\S+)", constraints, re.M)
    assert pin, "constraints.txt must pin torch"
    assert _conda_pip_requirements()["torch"] == f"torch=={pin.group(1)}"
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile


def test_import_marginlib_does_not_import_torchvision():
    import subprocess

    code = "import sys, marginlib, marginlib.data, marginlib.attacks, marginlib.margins, marginlib.models; print('torchvision' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"
