"""``python -m marginlib list | run NOTEBOOK --profile P [-p name value ...] [--dry-run] | book --profile P | claims
--profile P | seeds NOTEBOOK... --profile P --seeds 0 1 2 3 4 | paper-check [NOTEBOOK...] | train JOB.json...
[--out DIR]``; ``run``, ``book``, ``paper-check`` and ``train`` take ``--executor E [--slurm FILE]``."""
from __future__ import annotations

import argparse
import pathlib
import shutil
import subprocess
import sys
import time

import yaml

from marginlib.book import build as book_mod
from marginlib.book import params as nb_params
from marginlib.book import results
from marginlib.book.results import PROFILES


def _cmd_list(args: argparse.Namespace) -> int:
    paths = [nb_params.find(nb) for nb in args.notebook] if args.notebook else nb_params.toc_notebooks()
    for path in paths:
        s = nb_params.spec(path)
        print(f"{path.relative_to(results.repo_root())}: {s.description}")
        if not args.notebook:
            continue
        width = max(len(n) for n in s.defaults)
        print(f"    {'parameter':<{width}}  {'demo (default)':<16}  {'smoke':<16}  {'paper':<16}  meaning")
        for name, default in s.defaults.items():
            if name == "profile":
                continue
            cols = [_short(s.presets.get(p, {}).get(name, default)) for p in ("smoke", "paper")]
            choices = f" (choices: {', '.join(map(str, s.choices[name]))})" if name in s.choices else ""
            print(f"    {name:<{width}}  {_short(default):<16}  {cols[0]:<16}  {cols[1]:<16}  "
                  f"{s.meanings.get(name, '')}{choices}")
        if s.dry_run:
            print(f"    paper --dry-run cuts: {', '.join(f'{k}={v!r}' for k, v in s.dry_run.items())}")
    if not args.notebook:
        print("\nname notebooks (python -m marginlib list 05_mma_training) for their parameters, values and meanings")
    return 0


def _short(value: object, width: int = 16) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def _overrides(pairs: list[list[str]] | None) -> dict[str, str]:
    return {name: value for name, value in (pairs or [])}


def _cmd_run(args: argparse.Namespace) -> int:
    if args.dry_run and args.profile != "paper":
        raise ValueError(f"--dry-run is a cut of the paper profile; use --profile paper, not {args.profile!r}")
    options = {"notebook": args.notebook, "profile": args.profile, "overrides": _overrides(args.param), "tag": args.tag,
               "timeout": args.timeout, "dry_run": args.dry_run}
    # the notebook runs here; its training jobs go to the executor (marginlib.executors.train_all)
    out, seconds = book_mod.execute(**options, progress=not args.quiet, executor=args.executor, slurm=args.slurm)
    print(f"executed {out} in {seconds:.1f} s; results record: {out.with_suffix('.json')}")
    if "@" not in out.stem and not args.dry_run:
        print(f"this is the {args.profile!r} preset's own record, which make book and make claims read (it replaced "
              f"the previous one; --tag NAME keeps a run apart as {args.profile}@NAME)")
    if args.dry_run:
        est = results.load(out.parent.name, "paper", dry_run=True)["metrics"]["paper_estimate"]
        print(f"estimated wall time of the full paper profile on {est['device']}: {est['seconds'] / 3600:.1f} h")
    return 0


def _cmd_paper_check(args: argparse.Namespace) -> int:
    from marginlib.book import paper_check

    notebooks = args.notebook or [p.stem for p in nb_params.toc_notebooks()]
    summary = paper_check.run(notebooks, limit=args.limit, strict=args.strict, timeout=args.timeout,
                              executor=args.executor, slurm=args.slurm, log=lambda line: print(line, flush=True))
    stems = [nb_params.find(nb).stem for nb in notebooks]
    print()
    for row in paper_check.table_rows(summary, stems):
        print(f"{row[0]:<24} {row[1]:>12} {row[2]:>12} {row[3]:>30}  {row[4]}")
    over = [stem for stem in stems if summary["sections"][stem].get("over_limit")]
    named = f": {', '.join(over)}" if over else ""
    print(f"\nevery dry run executed; {len(over)} over the {args.limit:.0f} s limit{named} (--strict fails on them); "
          f"summary: {paper_check.summary_path()}")
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from marginlib import executors

    executors.check_executor(args.executor)
    notebooks = nb_params.toc_notebooks()
    timings: list[tuple[str, float]] = []
    todo = []
    for path in [] if args.no_execute else notebooks:
        if not args.force and book_mod.up_to_date(path, args.profile):
            print(f"== {path.name} at profile {args.profile} is up to date (same notebook, presets, data tables "
                  "and library as its record; --force reruns it)", flush=True)
        else:
            todo.append(path)
    if args.executor == "local":
        for path in todo:
            print(f"== executing {path.name} at profile {args.profile}", flush=True)
            _, seconds = book_mod.execute(path, profile=args.profile, timeout=args.timeout, progress=not args.quiet)
            timings.append((path.name, seconds))
    elif todo:
        print(f"== executing {len(todo)} section(s) at profile {args.profile} on {args.executor}", flush=True)
        done = book_mod.execute_elsewhere([{"notebook": str(path), "profile": args.profile, "timeout": args.timeout}
                                           for path in todo], executor=args.executor, slurm=args.slurm)
        failed = [f"{path.name}: {d['error']}" for path, d in zip(todo, done) if d["error"]]
        if failed:
            raise RuntimeError(f"{len(failed)} section(s) failed on {args.executor} (the others' records are "
                               "written):\n  " + "\n  ".join(failed))
        timings += [(path.name, d["seconds"]) for path, d in zip(todo, done)]
    t0 = time.perf_counter()
    html = book_mod.build(args.profile, hide_solutions=args.hide_solutions)
    timings.append(("jupyter-book build", time.perf_counter() - t0))
    print("\nseconds  step")
    for name, seconds in timings:
        print(f"{seconds:7.1f}  {name}")
    print(f"{sum(s for _, s in timings):7.1f}  total")
    print(f"\nThe book is at {html / 'index.html'}")
    return 0


def _cmd_claims(args: argparse.Namespace) -> int:
    failures, missing, checked = [], [], 0
    paths = [nb_params.find(nb) for nb in args.notebook] if args.notebook else nb_params.toc_notebooks()
    for path in paths:
        try:
            record = results.load(path.stem, args.profile)
        except FileNotFoundError as err:
            print(f"MISS {path.stem}: no record at profile {args.profile!r}")
            missing.append(f"{path.stem}: {err}")
            continue
        except results.RecordError as err:
            print(f"ERR  {path.stem}: {err}")
            missing.append(f"{path.stem}: unusable record {err}")
            continue
        differs = nb_params.preset_differences(record)
        if differs:
            print(f"ERR  {path.stem}: run with other parameters than the {args.profile!r} preset: {'; '.join(differs)}")
            missing.append(f"{path.stem}: not a run of the {args.profile!r} preset ({'; '.join(differs)})")
            continue
        for name, c in record["claims"].items():
            required = args.profile in c["required_at"]
            checked += required
            mark = "ok  " if c["holds"] else ("FAIL" if required else "no  ")
            scope = "" if required else f" (not required at {args.profile})"
            print(f"{mark} {path.stem}: {name}{scope}  {c.get('detail', '')}")
        failures += [f"{path.stem}: {name}" for name in results.failed_claims(record, args.profile)]
    if failures:
        print(f"\n{len(failures)} required claim(s) do not hold at profile {args.profile}:", *failures, sep="\n  ",
              file=sys.stderr)
    if missing:
        print(f"\n{len(missing)} section(s) have no usable record of the {args.profile!r} preset (not a failed claim: "
              "the claims were not checked; run the section first):", *missing, sep="\n  ", file=sys.stderr)
    if failures or missing:
        return 1
    print(f"\nall {checked} required claims hold at profile {args.profile}")
    return 0


def _cmd_seeds(args: argparse.Namespace) -> int:
    from marginlib.book import seeds

    notebooks = [p.stem for p in nb_params.toc_notebooks()] if args.all else args.notebook
    if not notebooks:
        raise ValueError("name the notebooks to run, or --all")
    seeds.run(notebooks, profile=args.profile, seeds=args.seeds, jobs=args.jobs, timeout=args.timeout,
              log=lambda line: print(line, flush=True))
    return 0


def _cmd_exercises(args: argparse.Namespace) -> int:
    from marginlib.book import exercises

    paths = [nb_params.find(nb) for nb in args.notebook] if args.notebook else nb_params.toc_notebooks()
    if args.measure:
        exercises.measure([p.stem for p in paths], force=args.force, timeout=args.timeout,
                          log=lambda line: print(line, flush=True))
    ledger = exercises.load_ledger()
    for path in paths:
        for label, runs in exercises.reruns(path).items():
            print(f"{path.stem} {label}: " + exercises.rerun_note(path.stem, runs, ledger.get(path.stem, {}).get(
                label, {})).replace("*Rerun at the demo profile:*\n\n", "").replace("\n", "\n    "))
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    """Train jobs (``marginlib.jobs``) into the cache, on the chosen executor; ``--out`` gets each final state dict.
    Under ``torchrun`` every rank trains each job with DistributedDataParallel (:mod:`marginlib.ddp`) and rank 0
    writes the cache entry and ``--out``."""
    from marginlib import ddp, executors, jobs

    executors.check_executor(args.executor)
    if ddp.launched() and args.executor != "local":
        raise ValueError(f"--executor {args.executor} under torchrun: the ranks torchrun started are the workers; "
                         "use --executor local (the default)")
    specs = [jobs.Job.read(path) for path in args.job]       # every spec validated before any training
    cache = pathlib.Path(args.cache) if args.cache else jobs.default_cache(results.results_dir())
    if ddp.launched():
        device = ddp.init_from_env()
        try:
            done = [jobs.run(spec, cache=cache, device=device) for spec in specs]
            if ddp.world()[0] != 0:
                return 0
        finally:
            ddp.close()
    else:
        done = executors.run_all(specs, executor=args.executor, cache=cache, slurm=args.slurm)
    for path, result in zip(args.job, done):
        line = f"{path}: {result.path}"
        if args.out:
            out = pathlib.Path(args.out) / (pathlib.Path(path).stem + ".pt")
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(result.path / "weights.pt", out)
            line += f" -> {out}"
        print(line)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m marginlib", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    ls = sub.add_parser("list", help="the notebooks; with names, their parameters (demo, smoke and paper values, "
                                      "meaning, choices)")
    ls.add_argument("notebook", nargs="*", help="paths, file names or stems (default: one line per notebook)")
    ls.set_defaults(func=_cmd_list)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--profile", default="demo", choices=PROFILES)
        q.add_argument("--timeout", type=int, default=1800, help="seconds allowed per notebook cell (default 1800)")
        q.add_argument("--quiet", action="store_true", help="no papermill progress bar")

    def where(q: argparse.ArgumentParser, what: str) -> None:
        q.add_argument("--executor", default="local",
                       help=f"where {what} run: local (default, this process), dask-local:N, dask://host:port or "
                            "slurm (marginlib.executors)")
        q.add_argument("--slurm", help="with --executor slurm: a YAML file of partition, gpus_per_node, timeout_min, "
                                       "account, cpus_per_task, mem_gb")

    run = sub.add_parser("run", help="execute one notebook; writes results/<stem>/<profile>.{ipynb,json} "
                                     "(<profile>@<tag>.* when parameters are overridden)")
    run.add_argument("notebook", help="path, file name or stem, e.g. notebooks/01_minavg_linear.ipynb")
    run.add_argument("-p", "--param", nargs=2, action="append", metavar=("NAME", "VALUE"), help="override a parameter")
    run.add_argument("--dry-run", action="store_true",
                     help="with --profile paper: the paper preset with only its sizes and lengths cut (dry_run: in "
                          "notebooks/params/<stem>.yaml); writes results/<stem>/paper-dryrun.* with the full run's "
                          "estimated time")
    run.add_argument("--tag", help="name of this run's record, <profile>@<tag>.json (default: the overrides, e.g. "
                                   "epochs=2000); the profile's own record is never replaced by an override run")
    common(run)
    where(run, "the section's training jobs run (the notebook runs here, submitting them together)")
    run.set_defaults(func=_cmd_run)

    bk = sub.add_parser("book", help="execute every notebook in _toc.yml, then build the HTML book")
    bk.add_argument("--no-execute", action="store_true", help="build from the executed notebooks already in results/")
    bk.add_argument("--force", action="store_true",
                    help="execute every notebook, also those whose record is up to date (make book FORCE=1)")
    bk.add_argument("--hide-solutions", action="store_true",
                    help="leave the exercises' solutions out of the HTML, for a course (make book HIDE_SOLUTIONS=1)")
    common(bk)
    where(bk, "the sections' executions (submitted together; the HTML is built here)")
    bk.set_defaults(func=_cmd_book)

    sd = sub.add_parser("seeds", help="run notebooks once per seed (resumable) and write book/data/seeds/<stem>.json: "
                                      "per claim the seeds where it holds, per headline number mean and std")
    sd.add_argument("notebook", nargs="*", help="paths, file names or stems (or --all)")
    sd.add_argument("--all", action="store_true", help="every notebook of the book")
    sd.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="default: 0 1 2 3 4")
    sd.add_argument("--jobs", type=int, default=1, help="runs at a time, sharing the CPU cores (default 1)")
    sd.add_argument("--profile", default="demo", choices=PROFILES)
    sd.add_argument("--timeout", type=int, default=1800, help="seconds allowed per notebook cell (default 1800)")
    sd.set_defaults(func=_cmd_seeds)

    ex = sub.add_parser("exercises", help="each exercise's rerun commands and measured runtimes; --measure runs "
                                          "the unmeasured ones and writes book/data/exercises.json")
    ex.add_argument("notebook", nargs="*", help="paths, file names or stems (default: every notebook of the book)")
    ex.add_argument("--measure", action="store_true", help="execute the reruns not measured yet, at the demo profile")
    ex.add_argument("--force", action="store_true", help="with --measure: measure every rerun again")
    ex.add_argument("--timeout", type=int, default=1800, help="seconds allowed per notebook cell (default 1800)")
    ex.set_defaults(func=_cmd_exercises)

    pc = sub.add_parser("paper-check", help="dry-run every section's paper profile (or the named ones): each must "
                                            "execute within --limit seconds; writes book/data/paper_check.json")
    pc.add_argument("notebook", nargs="*", help="paths, file names or stems (default: every notebook of the book)")
    pc.add_argument("--limit", type=float, default=90, help="seconds allowed per section (default 90)")
    pc.add_argument("--strict", action="store_true", help="fail when a section's dry run takes over --limit "
                                                          "(default: report it, in the output and the summary)")
    pc.add_argument("--timeout", type=int, default=1800, help="seconds allowed per notebook cell (default 1800)")
    where(pc, "the dry runs (submitted together; each one is timed on its worker)")
    pc.set_defaults(func=_cmd_paper_check)

    tr = sub.add_parser("train", help="train jobs (JSON specs, marginlib.jobs) into the cache; cached ones load")
    tr.add_argument("job", nargs="+", help="job spec files (JSON)")
    tr.add_argument("--out", help="folder to copy each job's final weights to, as <spec stem>.pt (a state dict)")
    tr.add_argument("--cache", help="the cache folder (default $MARGINLIB_CACHE, else results/cache)")
    where(tr, "the jobs")
    tr.set_defaults(func=_cmd_train)

    cl = sub.add_parser("claims", help="fail if a claim required at the profile is false in the last results")
    cl.add_argument("notebook", nargs="*", help="paths, file names or stems (default: every notebook of the book)")
    cl.add_argument("--profile", default="demo", choices=PROFILES)
    cl.set_defaults(func=_cmd_claims)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except subprocess.CalledProcessError as err:   # jupyter-book reported errors (printed above)
        print(f"error: {' '.join(map(str, err.cmd))[:200]} failed with exit status {err.returncode}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError, yaml.YAMLError) as err:   # OSError: missing or unwritable files
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
