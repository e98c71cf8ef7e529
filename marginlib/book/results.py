"""One JSON record per notebook run: ``results/<notebook stem>/<profile>.json`` (DESIGN.md, RobustBench-style cards).

A record holds ``notebook``, ``profile``, ``params``, ``metrics`` (the numbers behind every figure and table),
``claims`` (each headline claim of the paper, true/false, computed from ``metrics``, with the profiles at
which it is required to hold), ``environment`` (python, torch, device, git commit), ``started`` and ``seconds``.
Records are written atomically (temporary file + rename), so an interrupted run never leaves half a record.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import pathlib
import platform
import re
import subprocess
import time
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

PROFILES = ("smoke", "demo", "paper")
RESULTS_ENV = "MARGINLIB_RESULTS"
#: set by :func:`marginlib.book.build.execute` for the kernel: the folder the record is first written to (the CLI
#: promotes record and executed notebook together when the run succeeded), and the run's tag
STAGING_ENV = "MARGINLIB_STAGING"
TAG_ENV = "MARGINLIB_TAG"
#: set by :func:`marginlib.book.build.execute` for a dry run (``--dry-run``): the kernel's record is
#: ``paper-dryrun.json`` and carries the full paper profile's estimated wall time
DRY_RUN_ENV = "MARGINLIB_DRY_RUN"
DRY_RUN_NAME = "paper-dryrun"
_TAG_CHARS = re.compile(r"[^A-Za-z0-9_.,=+-]+")


def repo_root(start: str | os.PathLike | None = None) -> pathlib.Path:
    """The margin-book checkout containing ``start`` (default: the working directory), found by its ``_toc.yml``
    beside ``notebooks/`` and the ``marginlib`` package (another Jupyter Book project is not taken for it).

    Falls back to the checkout this package was installed from (editable installs), then to ``start``.
    """
    here = pathlib.Path(start or os.getcwd()).resolve()
    for folder in (here, *here.parents, pathlib.Path(__file__).resolve().parents[2]):
        if ((folder / "_toc.yml").is_file() and (folder / "notebooks").is_dir()
                and (folder / "marginlib" / "__init__.py").is_file()):
            return folder
    return here


def results_dir() -> pathlib.Path:
    """``$MARGINLIB_RESULTS`` if set (a relative path is taken from the working directory), else
    ``<repo root>/results``."""
    env = os.environ.get(RESULTS_ENV)
    return pathlib.Path(env).absolute() if env else repo_root() / "results"


def run_name(profile: str, tag: str | None = None, *, dry_run: bool = False) -> str:
    """The file stem of a run: ``demo`` for the profile's own run, ``demo@<tag>`` for a run with other
    parameters (kept apart, so it never replaces the profile's record), ``paper-dryrun`` for the paper profile's
    dry run (``paper-dryrun@<tag>`` with other parameters)."""
    if dry_run:
        if profile != "paper":
            raise ValueError(f"a dry run is of the paper profile, not profile={profile!r}")
        profile = DRY_RUN_NAME
    if tag is None:
        return profile
    if not tag or _TAG_CHARS.search(tag) or tag.startswith("."):
        raise ValueError(f"tag={tag!r} is not valid: use letters, digits and _.,=+- only")
    return f"{profile}@{tag}"


def override_tag(overrides: Mapping[str, Any]) -> str:
    """A readable tag naming a run's parameter overrides (``epochs=2000,lr=0.5``); a digest when too long."""
    text = ",".join(f"{k}={jsonable(v)}" for k, v in sorted(overrides.items())).replace(" ", "")
    text = _TAG_CHARS.sub("_", text)
    if len(text) > 60:
        text = "overrides-" + hashlib.sha1(text.encode()).hexdigest()[:10]
    return text


def record_path(notebook: str, profile: str, *, tag: str | None = None, dry_run: bool = False,
                root: str | os.PathLike | None = None) -> pathlib.Path:
    name = run_name(profile, tag, dry_run=dry_run)
    return pathlib.Path(root or results_dir()) / pathlib.Path(notebook).stem / f"{name}.json"


def environment() -> dict[str, Any]:
    """Python, torch, device and git commit of this run, and whether the checkout had uncommitted changes to
    tracked files (``git dirty``; None outside a git checkout)."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)"
    commit = git("rev-parse", "--short", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": device,
        "threads": torch.get_num_threads(),
        "git commit": commit or None,
        "git dirty": None if status is None else bool(status),
    }


def git(*args: str) -> str | None:
    """The stripped output of ``git args`` in the repo root, or None when git or the checkout is missing."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=repo_root(), timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def inputs_digest(notebook: str) -> str:
    """A digest of everything a section's run depends on in the checkout: the notebook, its presets, the paper
    tables in ``book/data``, every module of ``marginlib`` and the torch version. ``book`` reruns a section when
    its record's digest differs (``--force``: always)."""
    root = repo_root()
    stem = pathlib.Path(notebook).stem
    files = [root / "notebooks" / f"{stem}.ipynb", root / "notebooks" / "params" / f"{stem}.yaml",
             *sorted((root / "book" / "data").glob("*.csv")), *sorted((root / "marginlib").rglob("*.py"))]
    digest = hashlib.sha256(torch.__version__.encode())
    for f in files:
        if f.is_file():
            digest.update(str(f.relative_to(root)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def claim(holds: bool, *, detail: str, paper: str, value: float | None = None,
          paper_value: float | None = None) -> dict[str, Any]:
    """One claim entry: whether it holds, this run's numbers behind it (``detail``) and the paper's statement it
    tests (``paper``: the sentence or table, with where it is). ``value`` and ``paper_value`` are, when the claim
    compares one quantity with the paper's, our number and the paper's (from ``book/data``), shown side by side in
    the claims ledger. The profiles at which a claim must hold are not set here but in the section's preset file
    (``required:`` in ``notebooks/params/<stem>.yaml``), which :meth:`Run.save` adds as ``required_at``."""
    if not isinstance(paper, str) or not paper.strip():
        raise ValueError("paper= must name the paper's statement this claim tests (sentence or table, with where "
                         "it is)")
    out: dict[str, Any] = {"holds": bool(holds), "detail": detail, "paper": paper}
    for name, number in (("value", value), ("paper_value", paper_value)):
        if number is not None:
            out[name] = float(number)
    return out


def check_required(required: Any, *, where: str) -> dict[str, list[str]]:
    """Validate a preset file's ``required:`` block (claim name -> list of profiles) and return it."""
    if required is None:
        return {}
    if not isinstance(required, Mapping):
        raise ValueError(f"{where}: 'required' is {_kind(required)}; expected claim name -> list of profiles")
    for name, profiles in required.items():
        if not isinstance(profiles, list) or any(p not in PROFILES for p in profiles):
            raise ValueError(f"{where}: required.{name} = {profiles!r}; expected a list of profiles among "
                             f"{', '.join(PROFILES)} ([] for an informational claim)")
    return {str(k): list(v) for k, v in required.items()}


#: modules that only render (figures, pages, checks, the CLI and the seeds runner): left out of a record's code
#: fingerprint, so editing how a page looks does not make the recorded runs stale
RENDERING = ("marginlib.book.plots", "marginlib.book.build", "marginlib.book.cli", "marginlib.book.checks",
             "marginlib.book.seeds", "marginlib.book.pages", "marginlib.book.sphinx", "marginlib.book.paper_check",
             "marginlib.__main__")


def code_files() -> list[str]:
    """The ``marginlib`` source files loaded in this process (its computing modules, not :data:`RENDERING`) and
    the paper tables of ``book/data`` it read, relative to the repository root: what a run's numbers can depend
    on."""
    import sys

    root = repo_root()
    files = set()
    tables = sys.modules.get("marginlib.papers.tables")
    for path in getattr(tables, "LOADED", ()):
        try:
            files.add(str(pathlib.Path(path).relative_to(root)))
        except ValueError:
            continue
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] != "marginlib" or name in RENDERING:
            continue
        path = getattr(module, "__file__", None)
        if path:
            try:
                files.add(str(pathlib.Path(path).resolve().relative_to(root)))
            except ValueError:   # an installed copy outside the checkout
                continue
    return sorted(files)


def _code_text(source: str) -> str:
    """Python source as its syntax tree without docstrings (comments never reach the tree), so editing what code
    says about itself does not change a fingerprint; text that does not parse is taken as it is."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_digest(notebook: str, files: Iterable[str], *, profile: str, dry_run: bool = False) -> str:
    """A digest of what a section's numbers at ``profile`` depend on: the torch version, the notebook's code cells
    (its parameters cell holds the demo values), that profile's preset (and the ``dry_run:`` cuts for a dry run)
    and the given ``files`` (:func:`code_files` of the run: ``marginlib`` sources and the paper tables read).
    Python is compared as syntax trees without docstrings and comments, YAML as data; prose, rendering modules,
    other profiles' presets and which profiles require which claim do not enter it. A seeds record is stale when
    this digest, recomputed now over its files, differs."""
    import yaml

    root = repo_root()
    stem = pathlib.Path(notebook).stem
    digest = hashlib.sha256(torch.__version__.encode() + b"\0")
    nb = root / "notebooks" / f"{stem}.ipynb"
    if nb.is_file():
        cells = json.loads(nb.read_text())["cells"]
        digest.update("\0".join(_code_text("".join(c["source"])) for c in cells if c["cell_type"] == "code").encode())
    preset = root / "notebooks" / "params" / f"{stem}.yaml"
    if preset.is_file():
        meta = yaml.safe_load(preset.read_text()) or {}
        used = {"profile": (meta.get("profiles") or {}).get(profile),
                "dry_run": meta.get("dry_run") if dry_run else None}
        digest.update(json.dumps(used, sort_keys=True, default=str).encode())
    for f in [root / name for name in sorted(set(files))]:
        digest.update(str(f.relative_to(root)).encode() + b"\0")
        if not f.is_file():
            digest.update(b"<missing>")
        elif f.suffix == ".py":
            digest.update(_code_text(f.read_text()).encode())
        else:
            digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def jsonable(value: Any) -> Any:
    """Convert tensors, numpy values and tuples to plain JSON types; non-finite floats become ``None``."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if isinstance(value, pathlib.Path):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a results record")


def write_json(path: str | os.PathLike, data: Any) -> pathlib.Path:
    """Write ``data`` as JSON atomically: a temporary file in the same folder, then ``os.replace``."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(jsonable(data), indent=1) + "\n")
    os.replace(tmp, path)
    return path


RECORD_KEYS: dict[str, tuple[type, ...]] = {
    "notebook": (str,), "profile": (str,), "params": (dict,), "metrics": (dict,), "claims": (dict,),
    "environment": (dict,), "started": (str,), "seconds": (int, float),
}


class RecordError(ValueError):
    """A results record that cannot be trusted: unreadable, not valid JSON, malformed, or not the record of the
    notebook and profile asked for. The message names the file and every problem found."""

    def __init__(self, path: str | os.PathLike, problems: Iterable[str]):
        self.path = pathlib.Path(path)
        self.problems = list(problems)
        super().__init__(f"{self.path}: " + "; ".join(self.problems))


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), f"a {type(value).__name__}")


def record_problems(record: Any, *, notebook: str | None = None, profile: str | None = None) -> list[str]:
    """What is wrong with ``record`` (empty when nothing): missing keys, wrong types, a notebook or profile other
    than the ones asked for, no claims, or claims without a boolean ``holds`` and a list of profiles
    ``required_at``."""
    if not isinstance(record, dict):
        return [f"is {_kind(record)}, not a JSON object"]
    problems = []
    for key, types in RECORD_KEYS.items():
        if key not in record:
            problems.append(f"has no {key!r} key")
        elif not isinstance(record[key], types) or isinstance(record[key], bool):
            problems.append(f"{key!r} is {_kind(record[key])}, expected {' or '.join(t.__name__ for t in types)}")
    if notebook is not None and isinstance(record.get("notebook"), str) and record["notebook"] != notebook:
        problems.append(f"is the record of notebook {record['notebook']!r}, not {notebook!r}")
    if profile is not None and isinstance(record.get("profile"), str) and record["profile"] != profile:
        problems.append(f"is the record of profile {record['profile']!r}, not {profile!r}")
    claims = record.get("claims")
    if isinstance(claims, dict):
        if not claims:
            problems.append("has no claims (every notebook states its paper's claims)")
        for name, c in claims.items():
            if not isinstance(c, dict):
                problems.append(f"claim {name!r} is {_kind(c)}, expected an object")
                continue
            if "holds" not in c:
                problems.append(f"claim {name!r} has no 'holds'")
            elif not isinstance(c["holds"], bool):
                problems.append(f"claim {name!r}: 'holds' is {_kind(c['holds'])}, expected true or false")
            required = c.get("required_at")
            if "required_at" not in c:
                problems.append(f"claim {name!r} has no 'required_at'")
            elif not isinstance(required, list):
                problems.append(f"claim {name!r}: 'required_at' is {_kind(required)}, expected a list of profiles")
            else:
                for p in required:
                    if p not in PROFILES:
                        problems.append(f"claim {name!r}: 'required_at' names {p!r}, not a profile "
                                        f"({', '.join(PROFILES)})")
            if "detail" in c and not isinstance(c["detail"], str):
                problems.append(f"claim {name!r}: 'detail' is {_kind(c['detail'])}, expected a string")
            if not isinstance(c.get("paper"), str) or not c["paper"].strip():
                problems.append(f"claim {name!r} names no paper statement ('paper': the sentence or table it tests)")
    return problems


def load(notebook: str, profile: str, *, dry_run: bool = False,
         root: str | os.PathLike | None = None) -> dict[str, Any]:
    """Read the record of ``notebook`` at ``profile`` (its dry run with ``dry_run``); a clear error if the notebook
    has not been run (``FileNotFoundError``) or its record is unreadable, malformed or of another notebook or profile
    (:class:`RecordError`, naming the file and the problems)."""
    path = record_path(notebook, profile, dry_run=dry_run, root=root)
    if not path.is_file():
        how = " --dry-run" if dry_run else ""
        raise FileNotFoundError(
            f"no results record at {path}: run `python -m marginlib run notebooks/{pathlib.Path(notebook).stem}.ipynb "
            f"--profile {profile}{how}` first"
        )
    try:
        record = json.loads(path.read_text())
    except UnicodeDecodeError as err:
        raise RecordError(path, [f"is not UTF-8 text ({err})"]) from None
    except json.JSONDecodeError as err:
        raise RecordError(path, [f"is not valid JSON ({err})"]) from None
    except OSError as err:
        raise RecordError(path, [f"cannot be read ({err})"]) from None
    problems = record_problems(record, notebook=pathlib.Path(notebook).stem, profile=profile)
    if isinstance(record, dict) and bool(record.get("dry_run")) != dry_run:
        problems.append("is a dry run's record" if record.get("dry_run") else "is not a dry run's record")
    if problems:
        raise RecordError(path, problems)
    return record


def failed_claims(record: Mapping[str, Any], profile: str | None = None) -> list[str]:
    """Names of the claims required at ``profile`` (default: the record's own) that do not hold."""
    profile = record["profile"] if profile is None else profile
    return [
        name for name, c in record.get("claims", {}).items()
        if profile in c.get("required_at", ()) and not c.get("holds")
    ]


class Run:
    """The record of one notebook run, started when created and written by :meth:`save`.

    >>> run = Run("01_minavg_linear", profile="demo", params={"epochs": 100})  # doctest: +SKIP
    >>> run.save(metrics={...}, claims={"min_margin_increases": claim(True, required_at=["demo"])})  # doctest: +SKIP
    """

    def __init__(self, notebook: str, *, profile: str, params: Mapping[str, Any], tag: str | None = None,
                 required: Mapping[str, list[str]] | None = None, full: Mapping[str, Any] | None = None):
        if profile not in PROFILES:
            raise ValueError(f"profile={profile!r} is not valid; choose one of: {', '.join(PROFILES)}")
        self.notebook = pathlib.Path(notebook).stem
        self.profile = profile
        self.tag = tag
        #: a dry run's full paper parameters, to estimate that run's time from this one's (``None``: not a dry run)
        self.full = None if full is None else dict(full)
        if self.full is not None:
            from marginlib import cost

            cost.reset()
        run_name(profile, tag, dry_run=self.dry_run)   # a bad tag fails now, not at save
        self.params = dict(params)
        self.required = dict(required or {})
        self.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._t0 = time.perf_counter()

    @property
    def dry_run(self) -> bool:
        return self.full is not None

    @property
    def path(self) -> pathlib.Path:
        """Where :meth:`save` writes: the run's staging folder when the CLI runs the notebook (it then promotes the
        record together with the executed notebook), else the record's final path."""
        staging = os.environ.get(STAGING_ENV)
        if staging:
            return pathlib.Path(staging) / f"{run_name(self.profile, self.tag, dry_run=self.dry_run)}.json"
        return record_path(self.notebook, self.profile, tag=self.tag, dry_run=self.dry_run)

    def save(self, *, metrics: Mapping[str, Any], claims: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
        """Assemble and atomically write the record; returns it. Each claim gets ``required_at`` from the
        preset file's ``required:`` block; a claim not listed there is an error (every claim states where it is
        required, informational ones with ``[]``)."""
        unlisted = [name for name in claims if name not in self.required]
        if unlisted:
            raise ValueError(f"claims {unlisted} are not listed under 'required:' in notebooks/params/"
                             f"{self.notebook}.yaml: give each the profiles where it must hold ([] = none)")
        files = code_files()
        seconds = time.perf_counter() - self._t0
        metrics = dict(metrics)
        if self.full is not None:
            from marginlib import cost

            metrics["paper_estimate"] = {**cost.estimate(run=self.params, full=self.full, total_seconds=seconds),
                                         "device": environment()["device"]}
        record = {
            "notebook": self.notebook,
            "profile": self.profile,
            **({"dry_run": True} if self.dry_run else {}),
            "params": self.params,
            "metrics": metrics,
            "claims": {name: {**c, "required_at": self.required[name]} for name, c in claims.items()},
            "environment": {**environment(), "inputs": inputs_digest(self.notebook),
                            "code": {"digest": code_digest(self.notebook, files, profile=self.profile,
                                                           dry_run=self.dry_run), "files": files}},
            "started": self.started,
            "seconds": round(seconds, 2),
        }
        write_json(self.path, record)
        return jsonable(record)
