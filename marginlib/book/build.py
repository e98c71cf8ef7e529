"""Execute notebooks with papermill and build the Jupyter Book from the executed copies.

``execute`` writes the executed notebook next to its results record (``results/<stem>/<profile>.ipynb``).
``stage`` assembles the book sources in ``_build/src`` with the same layout as the repository (``book/``
pages, ``notebooks/<stem>.ipynb`` now executed), so launch and download buttons point at the real
notebook paths; ``build`` runs ``jupyter-book build -W -n --keep-going`` on it with execution off.
"""
from __future__ import annotations

import csv
import functools
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import nbformat
import yaml

from marginlib import executors, jobs, validate
from marginlib.book import checks, exercises, launch, pages, paper_check, plots, results, seeds
from marginlib.book import params as nb_params
from marginlib.book.results import (
    DRY_RUN_ENV,
    RESULTS_ENV,
    STAGING_ENV,
    TAG_ENV,
    override_tag,
    record_path,
    repo_root,
    results_dir,
)
from marginlib.train import CHECKPOINTS_ENV

KERNEL = "margin-book"
KERNEL_HINT = f"register it with: python -m ipykernel install --sys-prefix --name {KERNEL}"
HIDDEN_TAGS = {"injected-parameters": "remove-cell"}
#: the kernel's own log shows errors only: its startup warning that it talks to papermill "over TCP without
#: encryption" is about the local loopback socket of this process and says nothing about the run
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def kernel_name() -> str:
    """The project's Jupyter kernel, or a clear error saying how to register it."""
    from jupyter_client.kernelspec import KernelSpecManager

    if KERNEL not in KernelSpecManager().find_kernel_specs():
        raise RuntimeError(f"Jupyter kernel {KERNEL!r} is not registered; {KERNEL_HINT} (make book does this)")
    return KERNEL


def executed_path(notebook: str | pathlib.Path, profile: str, *, tag: str | None = None,
                  dry_run: bool = False) -> pathlib.Path:
    return record_path(str(notebook), profile, tag=tag, dry_run=dry_run).with_suffix(".ipynb")


def execute(
    notebook: str | pathlib.Path,
    *,
    profile: str,
    overrides: Mapping[str, Any] | None = None,
    tag: str | None = None,
    timeout: int = 1800,
    progress: bool = True,
    dry_run: bool = False,
    executor: str = "local",
    slurm: str | os.PathLike | None = None,
) -> tuple[pathlib.Path, float]:
    """Validate parameters, execute ``notebook`` at ``profile`` with papermill; return (executed path, seconds).

    Every name and value is checked before the kernel starts (the presets' names and types, then the section's
    ``Params``). A run whose parameters differ from the profile's preset is kept apart: its record and executed
    notebook are ``results/<stem>/<profile>@<tag>.*`` (``tag`` defaults to the overrides, e.g.
    ``epochs=2000``), so it never replaces the profile's own record, which ``book`` and ``claims`` read. The
    kernel writes the record (:func:`marginlib.book.params.start_run`) into a staging folder of this run; when
    the notebook finished without error, the record and the executed notebook are moved into place together, so
    a failed or killed run leaves the previous pair as it was. At ``paper`` every training checkpoints under
    ``checkpoints/<stem>/`` (:data:`marginlib.train.CHECKPOINTS_ENV`), so a killed run resumes where it stopped
    and a rerun loads what finished. Every cell may run for at most ``timeout`` seconds.

    ``dry_run`` runs the paper preset cut by its ``dry_run:`` block (sizes and lengths only): every code path of the
    paper profile in about a minute, writing ``results/<stem>/paper-dryrun.*`` with the full run's estimated time
    (``metrics.paper_estimate``). It writes no checkpoints (even with ``$MARGINLIB_CHECKPOINTS`` set), so it always
    measures from scratch: a checkpoint's cost is per epoch, not per image, and a work unit scaled by the images
    would count a WRN-34-10's 0.5 GB save tens of thousands of times over (``tests/core`` test checkpointing).

    The section's trainings are jobs (:mod:`marginlib.jobs`) in the cache ``$MARGINLIB_CACHE`` (default
    ``results/cache``): a rerun loads the models it already trained. They run on ``executor``
    (:func:`marginlib.executors.train_all`, ``slurm`` its configuration file). A dry run trains into a cache of its
    own, deleted afterwards, so its estimate always measures every training.
    """
    import papermill

    validate.positive("timeout", timeout)
    executors.check_executor(executor)
    source = nb_params.find(notebook)
    params = nb_params.resolve(source, profile, overrides, dry_run=dry_run)  # fails here, before any work
    nb_params.check_section(source, params)                 # ranges and cross-parameter checks, still before
    changed = {k: v for k, v in params.items() if v != nb_params.spec(source).profile(profile, dry_run=dry_run)[k]}
    if changed and tag is None:
        tag = override_tag(changed)
    kernel = kernel_name()
    out = executed_path(source, profile, tag=tag, dry_run=dry_run)
    record = record_path(source.stem, profile, tag=tag, dry_run=dry_run)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{out.stem}.", suffix=".staging", dir=out.parent))
    env = {RESULTS_ENV: str(results_dir()), STAGING_ENV: str(staging), TAG_ENV: tag or "",
           DRY_RUN_ENV: "1" if dry_run else ""}
    env |= {executors.EXECUTOR_ENV: executor, executors.SLURM_ENV: str(slurm or ""),
            jobs.CACHE_ENV: str(staging / "cache") if dry_run else str(jobs.default_cache(results_dir()))}
    if dry_run:   # no checkpoints: a save costs per epoch, not per image, and would distort the estimate
        env[CHECKPOINTS_ENV] = ""
    elif profile == "paper" and not os.environ.get(CHECKPOINTS_ENV):   # long runs: a killed one resumes
        env[CHECKPOINTS_ENV] = str(repo_root() / "checkpoints" / source.stem)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    t0 = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(source), str(staging / out.name), parameters=params, kernel_name=kernel, cwd=str(source.parent),
            progress_bar=progress, execution_timeout=timeout, extra_arguments=KERNEL_ARGUMENTS,
        )
        staged = staging / record.name
        if not staged.is_file():
            raise RuntimeError(f"{source.name} ran but wrote no record (it must call run.save)")
        os.replace(staged, record)
        os.replace(staging / out.name, out)
    finally:
        seconds = time.perf_counter() - t0
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(staging, ignore_errors=True)
    return out, seconds


def execute_elsewhere(calls: Sequence[Mapping[str, Any]], *, executor: str,
                      slurm: Mapping[str, Any] | str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Execute sections on ``executor`` (:func:`marginlib.executors.map_calls`), all submitted at once: each call's
    keywords go to :func:`execute` (without its progress bar), its parameters checked here first, before any work;
    every section is tried. Returns per call ``{"out", "seconds", "error"}``, ``error`` ``None`` or one line.

    A worker writes under this process's ``$MARGINLIB_RESULTS`` (absolute) and reads the notebooks, presets and
    paper tables of the checkout: both must be on a file system the workers share."""
    from marginlib import executors

    executors.check_executor(executor)
    for options in calls:
        source = nb_params.find(options["notebook"])
        dry_run = bool(options.get("dry_run"))
        nb_params.check_section(source, nb_params.resolve(source, options["profile"], options.get("overrides"),
                                                          dry_run=dry_run))
    folder = results_dir().absolute()
    return executors.map_calls(execute_task, [{"results": str(folder), "options": dict(c)} for c in calls],
                               executor=executor, folder=folder, slurm=slurm)


def execute_task(*, results: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """A worker's share of :func:`execute_elsewhere`: :func:`execute` with the records under ``results``; a failure
    comes back as one line, so that the other sections still run and are reported."""
    saved = os.environ.get(RESULTS_ENV)
    os.environ[RESULTS_ENV] = results
    try:
        out, seconds = execute(**options, progress=False)
        return {"out": str(out), "seconds": seconds, "error": None}
    except Exception as err:   # noqa: BLE001 - reported with the section's name by the caller
        first = (str(err).splitlines() or [""])[0][:300]
        return {"out": None, "seconds": None, "error": f"{type(err).__name__}: {first}"}
    finally:
        if saved is None:
            os.environ.pop(RESULTS_ENV, None)
        else:
            os.environ[RESULTS_ENV] = saved


def up_to_date(notebook: str | pathlib.Path, profile: str) -> bool:
    """Whether ``notebook``'s record and executed notebook at ``profile`` exist, are usable, were run at the
    profile's preset and from the same inputs as the checkout now (:func:`marginlib.book.results.inputs_digest`)."""
    source = nb_params.find(notebook)
    if not executed_path(source, profile).is_file():
        return False
    try:
        record = results.load(source.stem, profile)
    except (FileNotFoundError, results.RecordError):
        return False
    return (record["environment"].get("inputs") == results.inputs_digest(source.stem)
            and not nb_params.preset_differences(record))


#: The file that marks a ``_build/src`` as this module's, so that ``stage`` only ever deletes its own staging.
STAGE_MARKER = ".margin-book-stage"


def stage(profile: str, *, root: pathlib.Path | None = None, output: pathlib.Path | None = None,
          hide_solutions: bool = False) -> pathlib.Path:
    """Assemble ``<output>/_build/src`` (``output`` defaults to the repository root): config, ``book/`` pages,
    the executed notebooks and a local MathJax. ``hide_solutions`` builds a course's book: the exercises'
    solutions are left out (sphinx-exercise's ``hide_solutions``)."""
    root = root or repo_root()
    src = (output or root) / "_build" / "src"
    if src.exists():
        if output is not None and not (src / STAGE_MARKER).is_file():  # a checkout's own _build/src is always ours
            raise FileExistsError(f"{src} exists and was not staged by margin-book (no {STAGE_MARKER}); "
                                  "refusing to delete it: move it away or pass another output")
        shutil.rmtree(src)
    src.mkdir(parents=True)
    (src / STAGE_MARKER).write_text("staged by marginlib.book.build.stage; deleted and rebuilt on every build\n")
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / name, src / name)
    if hide_solutions:
        config = yaml.safe_load((src / "_config.yml").read_text())
        config["sphinx"]["config"]["hide_solutions"] = True
        (src / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    shutil.copytree(root / "book", src / "book")
    (src / "notebooks").mkdir()
    repository, commit = _repository(root), results.git("rev-parse", "HEAD") or None
    install = launch.install_cell(repository=repository, commit=commit)
    binder = src / LAUNCH_EXTRA / "binder"   # beside the site on gh-pages, where Binder builds from
    binder.mkdir(parents=True)
    (binder / "requirements.txt").write_text(
        launch.binder_requirements(repository=repository, commit=commit, torch_pin=_torch_pin(root)))
    (binder / "runtime.txt").write_text(f"python-{BINDER_PYTHON}\n")
    timings = [("section", "profile", "seconds", "device", "started")]
    estimates_summary = _json_or_none(paper_check.summary_path(root))
    records, summaries, titles, failed = [], {}, {}, []
    ledger = exercises.load_ledger(root)
    for source in nb_params.toc_notebooks(root):
        executed = executed_path(source, profile)
        if not executed.is_file():
            raise FileNotFoundError(f"{executed} is missing: execute {source.name} at profile {profile!r} first")
        record = results.load(source.stem, profile)
        differs = nb_params.preset_differences(record)
        if differs:
            raise ValueError(f"{record_path(source.stem, profile)} was run with other parameters than the "
                             f"{profile!r} preset ({'; '.join(differs)}): rerun it at the preset before building")
        summary = seeds.load(source.stem, root=root)
        reruns = exercises.reruns(source)
        box = pages.summary_box(record, summary, key=_key_claims(source), exercise=next(iter(reruns), None),
                                estimate=(estimates_summary or {}).get("sections", {}).get(source.stem))
        titles[source.stem] = _write_for_book(executed, src / "notebooks" / source.name, record, summary,
                                              install=install, summary_box=box,
                                              exercise_notes=functools.partial(
                                                  exercises.annotate, stem=source.stem, runs=reruns, ledger=ledger))
        records.append(record)
        summaries[source.stem] = summary
        failed += [f"{source.stem}: {name} ({record['claims'][name].get('detail', '')})"
                   for name in results.failed_claims(record, profile)]
        timings.append((source.stem, profile, f"{record['seconds']:.0f}", record["environment"]["device"],
                        record["started"]))
    if failed:
        raise ValueError(f"claims required at {profile!r} do not hold, so the book is not published:\n  "
                         + "\n  ".join(failed))
    with open(src / "book" / "appendix" / "timings.csv", "w", newline="") as f:
        csv.writer(f).writerows(timings)
    estimates = paper_check.table_rows(estimates_summary, [s.stem for s in nb_params.toc_notebooks(root)])
    with open(src / "book" / "appendix" / "paper_estimates.csv", "w", newline="") as f:
        csv.writer(f).writerows(estimates)
    (src / f"{pages.LEDGER}.md").write_text(pages.ledger(records, summaries, titles=titles))
    (src / f"{pages.API}.md").write_text(pages.api_reference(root))
    shutil.copytree(root / "_static", src / "_static")   # the book's CSS and JS: Jupyter Book links each file
    (src / "_static" / FIGURE_SCALE_JS).write_text(
        f"// written by marginlib.book.build from plots.min_figure_scale(): read by margin-book.js\n"
        f"window.marginBookMinScale = {plots.min_figure_scale():.6f};\n")
    _copy_mathjax(src / MATHJAX_EXTRA / "mathjax")
    return src


#: the script the stage writes beside ``_static/margin-book.js``: the figures' smallest display scale
FIGURE_SCALE_JS = "margin-book-scale.js"
#: staged as an ``html_extra_path`` (``_config.yml``): copied to the site's root, so ``binder/`` lands beside the
#: executed notebooks on the gh-pages branch that the launch buttons open
LAUNCH_EXTRA = "_launch"
#: Binder's Python (``binder/runtime.txt``): the version the workflow builds the book with
BINDER_PYTHON = "3.11"
#: the kernel of a published notebook: the standard one of any Jupyter (Colab, Binder), not this project's
PUBLISHED_KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}


def _repository(root: pathlib.Path) -> str:
    """The repository's address, written once in ``_config.yml`` (``repository.url``)."""
    return str(yaml.safe_load((root / "_config.yml").read_text())["repository"]["url"])


def _torch_pin(root: pathlib.Path) -> str:
    """``torch==<version>`` as ``constraints.txt`` pins it (every install path pins torch)."""
    pin = re.search(r"^torch==\S+", (root / "constraints.txt").read_text(), re.M)
    if pin is None:
        raise ValueError(f"{root / 'constraints.txt'} does not pin torch (torch==<version>)")
    return pin.group(0)


def _key_claims(source: pathlib.Path) -> list[str]:
    """The claims a section's summary box leads with: ``key:`` in its preset file."""
    meta = yaml.safe_load((source.parent / "params" / f"{source.stem}.yaml").read_text()) or {}
    return list(meta.get("key") or [])


def _json_or_none(path: pathlib.Path) -> Any:
    import json

    return json.loads(path.read_text()) if path.is_file() else None


#: a pandas table cell holding a missing value (pandas writes NaN; the book writes "—")
MISSING_CELL = re.compile(r"(<t[dh]\b[^>]*>)\s*(?:NaN|nan|None|<NA>)\s*(</t[dh]>)")
#: the code every section's last cell runs to show its claims; the build re-renders that output from the record
CLAIMS_CALL = "plots.claims_table("


def _write_for_book(executed: pathlib.Path, target: pathlib.Path, record: Mapping[str, Any],
                    summary: Mapping[str, Any] | None, *, install: str, summary_box: str = "",
                    exercise_notes: Callable[[str], str] | None = None) -> str:
    """Copy an executed notebook for the book and return its title: papermill's injected-parameters cell hidden
    from readers, missing values in tables shown as "—", the run box (:func:`marginlib.book.pages.run_box`)
    inserted under the title, and the claims table re-rendered from the record and the current seeds summary
    (so "holds on k of n seeds" is never older than ``book/data/seeds``), and ``summary_box``
    (:func:`marginlib.book.pages.summary_box`) above the run box. For the launch buttons the notebook
    starts with the ``install`` cell (:func:`marginlib.book.launch.install_cell`, hidden on the site) and names
    the standard ``python3`` kernel. ``exercise_notes`` rewrites the markdown cells that hold exercises (their
    rerun commands and measured runtimes: :func:`marginlib.book.exercises.annotate`)."""
    nb = nbformat.read(executed, as_version=4)
    nb.metadata["kernelspec"] = dict(PUBLISHED_KERNELSPEC)
    nb.cells.insert(0, nbformat.v4.new_code_cell(install, metadata={"tags": ["remove-cell"]}))
    for cell in nb.cells:
        if exercise_notes is not None and cell.cell_type == "markdown" and "{exercise}" in cell.source:
            cell.source = exercise_notes(cell.source)
        tags = cell.get("metadata", {}).get("tags", [])
        extra = [HIDDEN_TAGS[t] for t in tags if t in HIDDEN_TAGS and HIDDEN_TAGS[t] not in tags]
        if extra:
            cell.metadata["tags"] = tags + extra
        for output in cell.get("outputs", []) if cell.cell_type == "code" else []:
            if "text/html" in output.get("data", {}):   # a table's missing value reads as "—", not "NaN"
                output["data"]["text/html"] = MISSING_CELL.sub(r"\1—\2", output["data"]["text/html"])
        if cell.cell_type == "code" and CLAIMS_CALL in cell.source:   # the table is the cell's result; glue stays
            html = pages.claims_html(record, summary)
            cell.outputs = [o for o in cell.outputs if o.output_type != "execute_result"] + [nbformat.v4.new_output(
                "execute_result", data={"text/html": html, "text/plain": html},
                execution_count=cell.get("execution_count"))]
    title = next((c for c in nb.cells if c.cell_type == "markdown"), None)
    heading = title.source.splitlines()[0].lstrip("# ").strip() if title is not None and title.source else ""
    if title is not None and title.source.startswith("# ") and "\n" in title.source.strip():
        first, rest = title.source.split("\n", 1)    # the boxes go right under the title, before its prose
        title.source = first
        nb.cells.insert(nb.cells.index(title) + 1, nbformat.v4.new_markdown_cell(rest.lstrip("\n")))
    at = nb.cells.index(title) + 1 if title is not None else 0
    nb.cells.insert(at, nbformat.v4.new_markdown_cell(pages.run_box(record, summary)))
    if summary_box:
        nb.cells.insert(at, nbformat.v4.new_markdown_cell(summary_box))
    nbformat.write(nb, target)
    return heading or record["notebook"]


#: where the local MathJax is staged: an ``html_extra_path`` (copied beside the pages), not ``_static``, because
#: Jupyter Book links every .js file under ``_static`` into every page (60 MathJax bundles, 18.7 MB a page)
MATHJAX_EXTRA = "_mathjax"


def _copy_mathjax(target: pathlib.Path) -> None:
    """MathJax 3 (shipped by the ``django-static-mathjax`` wheel) so the built book renders math offline; pages
    load only ``tex-chtml.js`` (``mathjax_path`` in ``_config.yml``), which fetches the fonts it needs."""
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("local MathJax not found: pip install django-static-mathjax (the [book] extra has it)")
    es5 = pathlib.Path(list(spec.submodule_search_locations)[0]) / "static" / "mathjax" / "es5"
    shutil.copytree(es5, target, ignore=shutil.ignore_patterns("*.map", "sre", "a11y", "adaptors", "ui"))


def build(profile: str, *, root: pathlib.Path | None = None, output: pathlib.Path | None = None,
          hide_solutions: bool = False) -> pathlib.Path:
    """Stage and build the HTML book with warnings as errors; returns ``<output>/_build/html``
    (``output`` defaults to the repository root; ``hide_solutions``: see :func:`stage`)."""
    root = root or repo_root()
    output = output or root
    typed = checks.typed_numbers(root)
    if typed:
        raise ValueError("prose states numbers by hand (glue them from the record, quote the paper with {paper}, "
                         "or write settings in math; python -m marginlib.book.checks prose shows them):\n"
                         + "\n".join(f"  {where}: {p}" for where, found in typed.items() for p in found))
    src = stage(profile, root=root, output=output, hide_solutions=hide_solutions)
    jb = shutil.which("jupyter-book", path=str(pathlib.Path(sys.executable).parent)) or shutil.which("jupyter-book")
    if jb is None:
        raise RuntimeError("jupyter-book is not installed: pip install -e '.[book]' -c constraints.txt")
    cmd = [jb, "build", str(src), "--path-output", str(output), "-W", "-n", "--keep-going"]
    subprocess.run(cmd, check=True, cwd=root)
    html = output / "_build" / "html"
    bad = checks.site_problems(html)
    if bad:
        raise ValueError("the built book has pages that must not be published (python -m marginlib.book.checks "
                         "pages shows them):\n" + "\n".join(f"  {page}: {p}" for page, found in bad.items()
                                                         for p in found))
    return html
