"""Notebook parameters and profiles.

Each notebook's ``parameters`` cell holds the ``demo`` defaults (papermill reads it); the ``smoke`` and
``paper`` presets live beside it in ``notebooks/params/<stem>.yaml``::

    description: one line shown by `python -m marginlib list`
    profiles:
      smoke: {epochs: 20}
      paper: {epochs: 1000}
    choices:            # optional: allowed values of string parameters
      norm: [l2, linf]
    required:           # every claim the section records -> the profiles where it must hold
      min_margin_increases: [demo, paper]
      approaches_svm: []               # informational everywhere
    dry_run:            # the paper preset cut to minutes: only size and length parameters (dry_run_problems)
      epochs: 2

:func:`resolve` merges a profile's preset with user overrides and validates every name and value before
anything runs. Values derived from parameters are computed after the parameters cell, in the notebook.
"""
from __future__ import annotations

import ast
import math
import os
import pathlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import yaml

from marginlib.book.results import DRY_RUN_ENV, PROFILES, TAG_ENV, Run, check_required, jsonable, repo_root


@dataclass(frozen=True)
class Spec:
    """A notebook's parameters (demo defaults), its profile presets and value choices."""

    path: pathlib.Path
    description: str
    defaults: dict[str, Any]
    presets: dict[str, dict[str, Any]]
    choices: dict[str, list[Any]] = field(default_factory=dict)
    required: dict[str, list[str]] = field(default_factory=dict)
    dry_run: dict[str, Any] = field(default_factory=dict)
    #: each parameter's one-line meaning: the comment beside it in the notebook's parameters cell
    meanings: dict[str, str] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.path.stem

    def profile(self, name: str, *, dry_run: bool = False) -> dict[str, Any]:
        """The full parameter set of profile ``name``: demo defaults updated by its preset (and, with ``dry_run``,
        by the ``dry_run:`` cuts, which only the ``paper`` profile has)."""
        if name not in PROFILES:
            raise ValueError(f"profile={name!r} is not valid; choose one of: {', '.join(PROFILES)}")
        if dry_run and name != "paper":
            raise ValueError(f"a dry run is of the paper profile, not profile={name!r}")
        return {**self.defaults, **self.presets.get(name, {}), **(self.dry_run if dry_run else {}), "profile": name}


def toc_notebooks(root: pathlib.Path | None = None) -> list[pathlib.Path]:
    """The notebooks listed in ``_toc.yml``, in book order."""
    root = root or repo_root()
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return [root / f"{f.removesuffix('.ipynb')}.ipynb" for f in files if f.startswith("notebooks/")]


def find(notebook: str | pathlib.Path, root: pathlib.Path | None = None) -> pathlib.Path:
    """Resolve a notebook given as a path, a file name or a stem (``01_minavg_linear``)."""
    root = root or repo_root()
    known = toc_notebooks(root)
    path = pathlib.Path(notebook)
    for candidate in (path, root / path, root / "notebooks" / path, root / "notebooks" / f"{path.stem}.ipynb"):
        if candidate.suffix == ".ipynb" and candidate.is_file():
            return candidate.resolve()
    names = ", ".join(p.stem for p in known)
    raise ValueError(f"notebook={str(notebook)!r} not found; choose one of: {names}")


def spec(notebook: str | pathlib.Path) -> Spec:
    """Read a notebook's parameters cell (through papermill) and its ``params/<stem>.yaml`` presets."""
    import papermill

    path = find(notebook)
    inferred = papermill.inspect_notebook(str(path))
    defaults = {name: ast.literal_eval(p["default"]) for name, p in inferred.items()}
    preset_file = path.parent / "params" / f"{path.stem}.yaml"
    meta = yaml.load(preset_file.read_text(), Loader=_ValueLoader) if preset_file.is_file() else {}
    presets = meta.get("profiles", {}) or {}
    unknown_profiles = set(presets) - set(PROFILES)
    if unknown_profiles:
        raise ValueError(f"{preset_file}: unknown profiles {sorted(unknown_profiles)}; valid: {PROFILES}")
    for profile, values in presets.items():
        _check_names(values, defaults, where=f"{preset_file} profile {profile!r}")
    required = check_required(meta.get("required"), where=str(preset_file))
    dry = meta.get("dry_run", {}) or {}
    _check_names(dry, defaults, where=f"{preset_file} dry_run")
    return Spec(path, meta.get("description", ""), defaults, presets, meta.get("choices", {}) or {}, required, dry,
                _meanings(path))


def _meanings(path: pathlib.Path) -> dict[str, str]:
    """``name -> comment`` for each ``name = value  # comment`` line of the notebook's parameters cell."""
    import io
    import json
    import tokenize

    cells = json.loads(path.read_text())["cells"]
    source = next(("".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    comments = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                comments[tok.start[0]] = tok.string.lstrip("#").strip()
    except (tokenize.TokenError, SyntaxError):
        return {}
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    return {node.targets[0].id: comments[node.lineno] for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name) and node.lineno in comments}


#: dry-run parameters that may name another value than the paper's: where the data come from
DATA_SOURCE_KEYS = ("source",)


def dry_run_problems(s: Spec) -> list[str]:
    """Why ``s``'s ``dry_run:`` block is not a cut of its paper preset (empty when it is). A dry run may only make
    sizes and lengths smaller: a count (an int) at most the paper's and positive, a list that is a sub-list of the
    paper's (same order, fewer items), or the data ``source`` set to ``offline``. Everything else (architectures,
    methods, losses, attacks, their steps and step sizes, norms, radii, schedules) stays the paper's."""
    paper = s.profile("paper")
    problems = [] if s.dry_run else [f"{s.stem}: no dry_run: block"]
    for name, value in s.dry_run.items():
        full = paper[name]
        if name in DATA_SOURCE_KEYS:
            ok = value == "offline"
        elif isinstance(value, bool) or isinstance(full, bool):
            ok = False
        elif isinstance(value, int) and isinstance(full, int):   # counts: images, epochs, steps, seeds
            ok = 0 < value <= full
        elif isinstance(value, list) and isinstance(full, list):
            ok = 0 < len(value) < len(full) and _is_sublist(value, full)
        else:
            ok = False
        if not ok:
            problems.append(f"{s.stem}: dry_run {name}={value!r} is not a cut of the paper's {full!r} (a smaller "
                            "positive count, a shorter sub-list, or source=offline)")
    return problems


def _is_sublist(part: list[Any], whole: list[Any]) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


#: torch threads of every section run when set (the seeds runner sets it so that parallel runs share the cores)
THREADS_ENV = "MARGINLIB_THREADS"


class _ValueLoader(yaml.SafeLoader):
    """YAML with YAML 1.2's numbers: ``1e-3`` is a float (YAML 1.1 reads a string) and ``010`` is ten (not octal)."""


_ValueLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$"),
    list("-+0123456789."),
)
def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    value = str(node.value)
    if re.fullmatch(r"[-+]?[0-9_]+", value):
        return int(value.replace("_", ""), 10)
    return int(loader.construct_yaml_int(node))


_ValueLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def parse_value(text: str) -> Any:
    """Parse a command-line value as YAML 1.2 (``5`` -> int, ``0.1`` and ``1e-3`` -> float, ``[1, 2]`` -> list,
    ``true`` -> bool); a value YAML cannot parse is a ``ValueError`` quoting it."""
    if not isinstance(text, str):
        return text
    try:
        return yaml.load(text, Loader=_ValueLoader)  # a SafeLoader subclass
    except yaml.YAMLError as err:
        raise ValueError(f"cannot read the value {text!r}: {str(err).splitlines()[0]}") from err


def resolve(notebook: str | pathlib.Path, profile: str, overrides: Mapping[str, Any] | None = None, *,
            dry_run: bool = False) -> dict[str, Any]:
    """The validated parameters to inject: profile preset (with ``dry_run``: the paper preset cut by the
    ``dry_run:`` block), then ``overrides`` (strings parsed by :func:`parse_value`)."""
    s = spec(notebook)
    params = s.profile(profile, dry_run=dry_run)
    overrides = {k: parse_value(v) for k, v in (overrides or {}).items()}
    if "profile" in overrides:
        raise ValueError("set the profile with --profile, not as a parameter override")
    _check_names(overrides, s.defaults, where=f"notebook {s.stem}")
    params.update(overrides)
    for name, value in params.items():
        params[name] = _check_value(name, value, s.defaults[name], s.choices.get(name))
    return params


def _check_names(values: Mapping[str, Any], defaults: Mapping[str, Any], *, where: str) -> None:
    unknown = sorted(set(values) - set(defaults))
    if unknown:
        raise ValueError(f"{where}: unknown parameter(s) {', '.join(unknown)}; "
                         f"valid names: {', '.join(sorted(defaults))}")


def _check_value(name: str, value: Any, default: Any, choices: list[Any] | None) -> Any:
    """``value`` converted to the type of ``default`` (int -> float allowed), or a ``ValueError``: a float must be
    finite, a list's elements must have the type of the default's elements (and be among ``choices`` when the
    preset file lists them for a list parameter)."""
    if name == "profile":
        if value not in PROFILES:
            raise ValueError(f"profile={value!r} is not valid; choose one of: {', '.join(PROFILES)}")
        return value
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"parameter {name}={value!r} has the wrong type: expected a list like the default "
                             f"{list(default)!r}")
        items = list(value)
        if default:
            items = [_check_scalar(f"{name}[{i}]", v, default[0]) for i, v in enumerate(items)]
        if choices is not None:
            bad = [v for v in items if v not in choices]
            if bad:
                raise ValueError(f"parameter {name} holds {bad!r}; its elements must be among: "
                                 f"{', '.join(map(repr, choices))}")
        return items
    value = _check_scalar(name, value, default)
    if choices is not None and value not in choices:
        raise ValueError(f"parameter {name}={value!r} is not valid; choose one of: {', '.join(map(repr, choices))}")
    return value


def _check_scalar(name: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if isinstance(default, bool) or default is None:
        ok = isinstance(value, bool) if isinstance(default, bool) else True
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
        if ok and not math.isfinite(value) and math.isfinite(default):
            raise ValueError(f"parameter {name}={value!r} must be a finite number")
    else:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is int)
    if not ok:
        raise ValueError(f"parameter {name}={value!r} has the wrong type: "
                         f"expected {kind.__name__} like the default {default!r}")
    return value


def start_run(notebook: str, namespace: Mapping[str, Any]) -> Run:
    """Start the results record of a notebook from inside it: ``run = start_run("01_minavg_linear", globals())``.

    The parameter names come from the notebook's own parameters cell, their values from ``namespace``
    (the notebook's globals after papermill injected the overrides).
    """
    s = spec(notebook)
    params = {name: namespace[name] for name in s.defaults}
    changed = {k: v for k, v in params.items() if k != "profile" and v != s.defaults[k]}
    shown = ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "none"
    dry_run = bool(os.environ.get(DRY_RUN_ENV))
    print(f"profile {params['profile']!r}{' (dry run)' if dry_run else ''}; differs from the demo values above: "
          f"{shown}")
    return Run(s.stem, profile=params["profile"], params=params, tag=os.environ.get(TAG_ENV) or None,
               required=s.required, full=s.profile("paper") if dry_run else None)


def as_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """Resolved parameter values as ``Params`` fields: lists become tuples (the dataclasses are frozen)."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}


def start_section(section: ModuleType, namespace: Mapping[str, Any], *, threads: int | None = None) -> tuple[Run, Any]:
    """Start a section notebook: ``run, p = start_section(s07, globals())``.

    Reads the parameter values from ``namespace`` (the notebook's globals after papermill injected the
    overrides), builds the section's frozen ``Params`` from them (lists become tuples; ``Params.__post_init__``
    refuses inconsistent values before any work), applies the book's plot theme and the number of torch threads
    (``$MARGINLIB_THREADS`` when set, as the seeds runner does for parallel runs, else ``threads`` if given),
    and starts the run record.
    """
    import torch

    from marginlib.book import plots

    run = start_run(section.NOTEBOOK, namespace)
    p = section.Params(**as_fields(run.params))
    plots.theme()
    threads = int(os.environ.get(THREADS_ENV) or 0) or threads
    if threads is not None:
        torch.set_num_threads(threads)
    return run, p


def section_params(notebook: str, profile: str = "demo", **overrides: Any) -> Any:
    """The section module's ``Params`` of ``notebook`` at ``profile`` (its preset, then ``overrides``), validated
    like a run from the command line: ``p = section_params("09_amm_mnist", "smoke", seeds=2)``."""
    from marginlib import papers

    values = resolve(notebook, profile, overrides)
    return papers.section(find(notebook).stem).Params(**as_fields(values))


def check_section(notebook: str | pathlib.Path, values: Mapping[str, Any]) -> None:
    """Build the section's ``Params`` from resolved ``values``, so its cross-parameter and range checks refuse a bad
    run before the kernel starts (``ValueError`` naming the parameter)."""
    from marginlib import papers

    stem = find(notebook).stem
    if stem in papers.SECTIONS:
        papers.section(stem).Params(**as_fields(values))


def preset_differences(record: Mapping[str, Any]) -> list[str]:
    """The parameters in which ``record`` differs from its profile's preset (``name=recorded (preset value)``):
    such a record is an override run, not the profile's, and ``book``/``claims`` refuse it."""
    expected = jsonable(resolve(record["notebook"], record["profile"], dry_run=bool(record.get("dry_run"))))
    got = record.get("params", {})
    return [f"{k}={got.get(k)!r} (preset {v!r})" for k, v in expected.items() if got.get(k) != v] + \
        [f"{k} (not a parameter)" for k in got if k not in expected]
