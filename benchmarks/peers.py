"""marginlib beside the libraries people would use instead (issue 20): foolbox 3, adv-lib, torchattacks, AutoAttack.

``make bench-peers`` runs this in its own virtual environment, ``.venv-bench`` (the peers, pinned in
``benchmarks/requirements-peers.txt``, never enter the book's ``.venv``: torchattacks pins ``requests~=2.25``, which
breaks Sphinx). Every row is one attack (or margin estimate) on one model and one batch, the correctly classified
test points of scikit-learn's 8x8 digits; CPU, one torch thread. The libraries of a row are timed in turns
(:func:`marginlib.timing.best_times`: best of ``--rounds`` rounds, each visiting every library once), and each
row reports, beside the time, the strength figures that show the comparison is at equal strength:

- ``pgd linf`` / ``pgd l2`` (MLP and CNN): equal eps, steps, step size, one random start; robust accuracy.
- ``deepfool l2 boxed`` / ``deepfool linf boxed`` (MLP and CNN): 50 steps, overshoot 0.02, all classes, iterates in
  [0, 1]; success rate and median norm (a point left unfooled counts as an infinite norm).
- ``min-norm l2`` / ``min-norm linf`` (a linear softmax model, whose box-constrained margin
  :func:`marginlib.margins.exact_linear` gives exactly): marginlib's PGD bisection and its foolbox bridges against
  adv-lib's FMN and DDN; median norm, and the median over points of norm / exact margin (``norm_to_exact``).
- ``autoattack linf`` (MLP and CNN): :func:`marginlib.attacks.autoattack` against ``pyautoattack`` called directly
  with the same attacks, iterations, restarts and seed; robust accuracy (equal when the bridge changes nothing).
- ``margin estimators l2`` (the linear model): each marginlib estimator's median ratio to the exact margin in its own
  space (R^d for the linearizations and the Lipschitz bound, the [0, 1] box for the attacks), beside the attack
  libraries' best estimate (per point, the smallest norm any peer's min-norm attack found).

``time_to_fastest_peer`` is a library's time over the fastest peer's time in the same row (marginlib's is the
issue's target, <= 1); ``norm_to_best_peer`` likewise for the median norm. A peer that is missing, or that offers
no such attack, gets a row saying so instead of numbers.

adv-lib 0.2.8 imports ``visdom`` (for an optional live-plot logger) and ``torchvision.models`` (for its LPIPS
distance, which its ALMA attack imports) at import time; none of the attacks here uses either. Neither is installed
in ``.venv-bench`` (visdom's source distribution no longer builds; torchvision from PyPI does not import with the
pinned torch), so empty stand-in modules of those names sit in ``sys.modules`` while ``adv_lib.attacks`` is
imported, and are removed right after: nothing else in the process sees them. torchattacks declares torchvision
and never imports it.

``--libraries marginlib`` runs marginlib's rows only (the book's ``.venv`` test does this with ``--quick``).
"""
from __future__ import annotations

import argparse
import csv
import datetime
import importlib
import importlib.metadata
import importlib.util
import math
import os
import pathlib
import platform
import sys
import types
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from marginlib import attacks, margins  # noqa: E402
from marginlib.attacks.projections import fresh_generator, lp_norm  # noqa: E402
from marginlib.timing import best_times  # noqa: E402

#: Where ``make bench-peers`` writes the table. A subfolder of book/data: the top level holds the paper tables,
#: each declared in marginlib.papers.tables and part of every section's inputs digest.
OUT = ROOT / "book" / "data" / "bench" / "bench_peers.csv"
COLUMNS = ["row", "model", "library", "version", "setting", "time_ms", "success", "robust_acc", "median_norm",
           "norm_to_exact", "time_to_fastest_peer", "norm_to_best_peer", "note", "machine", "date"]
LIBRARIES = ("marginlib", "foolbox", "adv-lib", "torchattacks", "pyautoattack")
PEERS = LIBRARIES[1:]
MISSING = "—"

# Attack settings, one place: every library of a row gets the same ones.
PGD = {"linf": {"eps": 0.1, "steps": 20}, "l2": {"eps": 0.75, "steps": 20}}
DEEPFOOL = {"steps": 50, "overshoot": 0.02}
MIN_NORM_STEPS = 100
AUTOATTACK = {"eps": 0.1, "n_iter": 20, "attacks": ["apgd-ce", "apgd-t"]}


# ---------------------------------------------------------------------------------------------------------- peers
def _import_adv_lib() -> Any:
    """Import ``adv_lib.attacks`` with empty stand-ins for ``visdom`` and ``torchvision`` where those are missing
    (module docstring), present in ``sys.modules`` during the import only: nothing else sees them."""
    stubs = {}
    for name, attrs in (("visdom", ()), ("torchvision", ("models",))):
        if importlib.util.find_spec(name) is None:
            stub = types.ModuleType(name)
            stub.__doc__ = f"empty stand-in for {name} (benchmarks/peers.py): adv-lib imports it, never uses it here"
            for attr in attrs:
                setattr(stub, attr, types.ModuleType(f"{name}.{attr}"))
            stubs[name] = stub
    sys.modules.update(stubs)
    try:
        return importlib.import_module("adv_lib.attacks")
    finally:
        for name in stubs:
            sys.modules.pop(name, None)


_IMPORTS: dict[str, Callable[[], Any]] = {
    "marginlib": lambda: importlib.import_module("marginlib"),
    "foolbox": lambda: importlib.import_module("foolbox"),
    "adv-lib": _import_adv_lib,
    "torchattacks": lambda: importlib.import_module("torchattacks"),
    "pyautoattack": lambda: importlib.import_module("pyautoattack"),
}


def load_peers(wanted: tuple[str, ...]) -> dict[str, tuple[Any, str]]:
    """``{library: (module or None, version or the reason it is missing)}`` for the ``wanted`` libraries."""
    out: dict[str, tuple[Any, str]] = {}
    for name in wanted:
        try:
            module = _IMPORTS[name]()
        except Exception as err:  # noqa: BLE001 - a peer that does not import is reported, not fatal
            out[name] = (None, f"skipped: {name} does not import ({type(err).__name__}: {err})"[:160])
            continue
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(module, "__version__", "?")
        out[name] = (module, version)
    return out


# --------------------------------------------------------------------------------------------------------- models
def digits(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """scikit-learn's 8x8 digits in [0, 1], shaped (N, 1, 8, 8), split 3:1 (stratified, fixed seed)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    x = torch.tensor(bunch.images[:, None] / 16.0, dtype=torch.float32)
    y = torch.tensor(bunch.target, dtype=torch.long)
    tr, te = train_test_split(torch.arange(len(y)).numpy(), test_size=0.25, stratify=y.numpy(), random_state=seed)
    return x[tr], y[tr], x[te], y[te]


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name == "linear":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    if name == "cnn":
        return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1),
                             nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10))
    raise ValueError(name)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int) -> nn.Module:
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval().requires_grad_(False)


def correct_points(model: nn.Module, x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        keep = model(x).argmax(1) == y
    return x[keep][:n].contiguous(), y[keep][:n].contiguous()


# -------------------------------------------------------------------------------------------------------- metrics
def _fooled(model: nn.Module, x_adv: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(x_adv).argmax(1) != y


def _norms(model: nn.Module, x: torch.Tensor, x_adv: torch.Tensor, y: torch.Tensor, norm: str) -> torch.Tensor:
    """Per point ``||x_adv - x||`` where ``x_adv`` fools the model, ``inf`` where it does not."""
    n = lp_norm((x_adv - x).detach(), norm)
    return torch.where(_fooled(model, x_adv, y), n, torch.full_like(n, math.inf))


def _median(t: torch.Tensor) -> float:
    return float(t.float().quantile(0.5)) if t.numel() else math.nan


# ----------------------------------------------------------------------------------------------------------- rows
class Row:
    """One row of the table: the libraries' callables, timed in turns; each returns ``x_adv`` (or margins)."""

    def __init__(self, name: str, model_name: str, setting: str):
        self.name, self.model_name, self.setting = name, model_name, setting
        self.fns: dict[str, Callable[[], Any]] = {}
        self.settings: dict[str, str] = {}
        self.notes: dict[str, str] = {}   # libraries with no callable in this row, and why
        self.run_notes: dict[str, str] = {}   # a remark on a result that was measured

    def add(self, library: str, fn: Callable[[], Any], setting: str = "", note: str = "") -> None:
        key = library if library not in self.fns else f"{library} [{setting}]"
        self.fns[key] = fn
        self.settings[key] = setting or self.setting
        if note:
            self.run_notes[key] = note

    def missing(self, library: str, note: str) -> None:
        self.notes[library] = note


def _timed(row: Row, rounds: int) -> tuple[dict[str, float], dict[str, Any]]:
    outputs: dict[str, torch.Tensor] = {}

    def keep(key: str, fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            outputs[key] = fn()
        return call

    times = best_times({k: keep(k, f) for k, f in row.fns.items()}, rounds=rounds, repeat=1, warmup=1)
    return times, outputs


def _fmodel(foolbox: Any, model: nn.Module) -> Any:
    return foolbox.PyTorchModel(model, bounds=(0.0, 1.0), device="cpu")


def pgd_row(model: nn.Module, name: str, x: torch.Tensor, y: torch.Tensor, norm: str, peers: dict) -> Row:
    eps, steps = PGD[norm]["eps"], PGD[norm]["steps"]
    alpha = 2.5 * eps / steps
    row = Row(f"pgd {norm}", name, f"eps {eps:g}, {steps} steps of {alpha:g}, 1 random start, CE loss")
    gen = torch.Generator().manual_seed(0)
    row.add("marginlib", lambda: attacks.pgd(model, x, y, eps=eps, step_size=alpha, steps=steps, norm=norm,
                                             random_start=True, generator=gen))
    if "torchattacks" in peers:
        ta = peers["torchattacks"]
        runner = (ta.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True) if norm == "linf" else
                  ta.PGDL2(model, eps=eps, alpha=alpha, steps=steps, random_start=True))
        row.add("torchattacks", lambda: runner(x, y))
    if "adv-lib" in peers:
        if norm == "linf":
            adv = peers["adv-lib"]
            row.add("adv-lib", lambda: adv.pgd_linf(model, x, y, ε=eps, steps=steps, random_init=True, restarts=1,
                                                    absolute_step_size=alpha))
        else:
            row.missing("adv-lib", "not offered: adv-lib 0.2.8 has PGD for Linf only (APGD for L2)")
    if "foolbox" in peers:
        fb = peers["foolbox"]
        fmodel = _fmodel(fb, model)
        cls = fb.attacks.LinfPGD if norm == "linf" else fb.attacks.L2PGD
        runner_fb = cls(abs_stepsize=alpha, steps=steps, random_start=True)
        row.add("foolbox", lambda: runner_fb(fmodel, x, y, epsilons=eps)[1])
    return row


def deepfool_row(model: nn.Module, name: str, x: torch.Tensor, y: torch.Tensor, norm: str, peers: dict) -> Row:
    steps, overshoot = DEEPFOOL["steps"], DEEPFOOL["overshoot"]
    row = Row(f"deepfool {norm} boxed", name, f"{steps} steps, overshoot {overshoot:g}, all 10 classes, in [0, 1]")
    row.add("marginlib", lambda: x + attacks.deepfool(model, x, norm=norm, steps=steps, overshoot=overshoot,
                                                      bounds=(0.0, 1.0)))
    if "foolbox" in peers:
        fb = peers["foolbox"]
        fmodel = _fmodel(fb, model)
        cls = fb.attacks.L2DeepFoolAttack if norm == "l2" else fb.attacks.LinfDeepFoolAttack
        runner = cls(steps=steps, candidates=10, overshoot=overshoot, loss="logits")
        row.add("foolbox", lambda: runner(fmodel, x, y, epsilons=None)[0])
    if "torchattacks" in peers:
        if norm == "l2":
            ta_runner = peers["torchattacks"].DeepFool(model, steps=steps, overshoot=overshoot)
            row.add("torchattacks", lambda: ta_runner(x, y))
        else:
            row.missing("torchattacks", "not offered: torchattacks 3.5.1's DeepFool is L2 only")
    if "adv-lib" in peers:
        adv = peers["adv-lib"]
        p = 2 if norm == "l2" else float("inf")
        row.add("adv-lib", lambda: adv.df(model, x, y, steps=steps, overshoot=overshoot, norm=p))
    return row


def min_norm_row(model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str, peers: dict,
                 bridge: Any) -> Row:
    steps = MIN_NORM_STEPS
    row = Row(f"min-norm {norm}", "linear", f"{steps} steps")
    gen = torch.Generator().manual_seed(0)
    eps_max = 2.0 if norm == "l2" else 0.5
    # attack_margin returns norms (signed margins), not points: wrapped as Norms, read back as they are
    row.add("marginlib", lambda: Norms(margins.attack_margin(model, x, y, norm=norm, eps_max=eps_max, steps=20,
                                                             bisection_steps=10, generator=gen)),
            f"attack_margin: PGD bisection, 20 PGD steps x 11 rounds, eps_max {eps_max:g}")
    if bridge is not None:  # marginlib's bridges run foolbox's attacks: they need foolbox installed
        for attack in ("ddn", "fmn") if norm == "l2" else ("fmn",):
            row.add("marginlib", lambda attack=attack: attacks.foolbox_attack(
                model, x, y, eps=math.inf, norm=norm, attack=attack, steps=steps, generator=gen),
                f"foolbox_attack {attack.upper()} (bridge to foolbox), {steps} steps")
    else:
        row.missing("marginlib", "its foolbox_attack bridges need foolbox: not installed")
    if "adv-lib" in peers:
        adv = peers["adv-lib"]
        p = 2 if norm == "l2" else float("inf")
        row.add("adv-lib", lambda: adv.fmn(model, x, y, norm=p, steps=steps), f"fmn, {steps} steps",
                "adv-lib 0.2.8's L2 projection (l2_projection_) clamps the perturbation, not the scale, to 1: "
                "its L2 FMN finds no adversarial point" if norm == "l2" else "")
        if norm == "l2":
            row.add("adv-lib", lambda: adv.ddn(model, x, y, steps=steps, levels=None),
                    f"ddn, {steps} steps, no quantization")
    return row


class Norms:
    """A row's output that is already per-point margins (signed; ``inf`` where no adversarial point was found)."""

    def __init__(self, margins: torch.Tensor):
        self.margins = margins


def autoattack_row(model: nn.Module, name: str, x: torch.Tensor, y: torch.Tensor, bridge: Any, direct: bool) -> Row:
    """marginlib's bridge (``bridge``: the pyautoattack module it runs, or None) and, if ``direct``, pyautoattack
    called directly with the same attacks, iterations, restarts, target classes and seed."""
    eps, n_iter, which = AUTOATTACK["eps"], AUTOATTACK["n_iter"], AUTOATTACK["attacks"]
    row = Row("autoattack linf", name, f"eps {eps:g}, {' + '.join(which)}, {n_iter} iterations, 1 restart, "
                                       "9 target classes")
    if bridge is None:  # the bridge runs pyautoattack: nothing to time without it
        row.missing("marginlib", "its autoattack bridge needs pyautoattack: not installed")
        return row
    # the seed the bridge draws from its generator, given to the direct call too
    seed = int(torch.randint(2**62, (1,), generator=fresh_generator(torch.Generator().manual_seed(0))))
    row.add("marginlib", lambda: attacks.autoattack(model, x, y, eps=eps, norm="linf", version="custom",
                                                    attacks=which, n_iter=n_iter, n_restarts=1,
                                                    generator=torch.Generator().manual_seed(0)))
    if not direct:
        return row

    def run_direct() -> torch.Tensor:  # configured as a user would, with the attributes the bridge sets
        runner = bridge.AutoAttack(model, attacks=which, device="cpu", eps=eps, norm="Linf", seed=seed,
                                   version="custom")
        for apgd in (runner.apgd, runner.apgd_targeted):
            apgd.n_restarts = 1
            apgd.n_iter = apgd.n_iter_orig = n_iter
            apgd.n_iter_2, apgd.n_iter_min, apgd.size_decr = (max(int(f * n_iter), 1) for f in (0.22, 0.06, 0.03))
        runner.apgd_targeted.n_target_classes = 9
        return runner.run_standard_evaluation(x, y, batch_size=250)[0]
    row.add("pyautoattack", run_direct)
    return row


# ------------------------------------------------------------------------------------------------------- measuring
def measure(row: Row, model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, norm: str | None, rounds: int,
            exact: torch.Tensor | None = None) -> list[dict[str, Any]]:
    """Time the row's libraries in turns and read their strength figures; ``norm=None``: robust accuracy only."""
    times, outputs = _timed(row, rounds) if row.fns else ({}, {})
    out = []
    for key in row.fns:
        result = outputs[key]
        if isinstance(result, Norms):
            norms = result.margins.abs()
            fooled = torch.isfinite(norms)
        else:
            fooled = _fooled(model, result, y)
            norms = _norms(model, x, result, y, norm) if norm is not None else None
        entry: dict[str, Any] = {"row": row.name, "model": row.model_name, "library": key.split(" [")[0],
                                 "setting": row.settings[key], "time_ms": times[key] * 1e3,
                                 "success": float(fooled.float().mean()),
                                 "robust_acc": float(1 - fooled.float().mean())}
        if key in row.run_notes:
            entry["note"] = row.run_notes[key]
        if norms is not None:
            entry["median_norm"] = _median(norms)
            entry["_norms"] = norms
            if exact is not None:
                entry["norm_to_exact"] = _median(norms / exact)
        out.append(entry)
    for library, note in row.notes.items():
        out.append({"row": row.name, "model": row.model_name, "library": library, "setting": row.setting,
                    "note": note})
    return out


def estimator_rows(model: nn.Module, x: torch.Tensor, y: torch.Tensor, min_norm: list[dict[str, Any]], *,
                   rounds: int) -> list[dict[str, Any]]:
    """marginlib's margin estimators on the linear model against its exact margin, beside the peers' best."""
    exact_rd = margins.exact_linear(model, x, y, norm="l2")
    exact_box = margins.exact_linear(model, x, y, norm="l2", bounds=(0.0, 1.0))
    gen = torch.Generator().manual_seed(0)
    estimators: dict[str, tuple[Callable[[], torch.Tensor], torch.Tensor, str]] = {
        "exact_linear": (lambda: margins.exact_linear(model, x, y, norm="l2"), exact_rd, "closed form, R^d"),
        "effective": (lambda: margins.effective(model, x, y, norm="l2"), exact_rd, "linearization, R^d"),
        "lipschitz_lower_bound": (lambda: margins.lipschitz_lower_bound(model, x, y, norm="l2", n_samples=256,
                                                                        n_batches=1, generator=gen),
                                  exact_rd, "lower bound, 256 samples, radius 5, R^d"),
        "deepfool_margin": (lambda: margins.deepfool_margin(model, x, y, norm="l2"), exact_rd,
                            "upper bound, R^d, overshoot 0.02"),
        "deepfool_margin boxed": (lambda: margins.deepfool_margin(model, x, y, norm="l2", bounds=(0.0, 1.0)),
                                  exact_box, "upper bound, [0, 1] box, overshoot 0.02"),
        "attack_margin": (lambda: margins.attack_margin(model, x, y, norm="l2", eps_max=2.0, steps=20,
                                                        bisection_steps=10, generator=gen),
                          exact_box, "upper bound, [0, 1] box, PGD bisection 20 steps x 11 rounds"),
    }
    outputs: dict[str, torch.Tensor] = {}

    def keep(key: str, fn: Callable[[], torch.Tensor]) -> Callable[[], None]:
        def call() -> None:
            outputs[key] = fn()
        return call

    times = best_times({k: keep(k, f) for k, (f, _, _) in estimators.items()}, rounds=rounds, repeat=1)
    rows = []
    for key, (_, exact, setting) in estimators.items():
        m = outputs[key]
        rows.append({"row": "margin estimators l2", "model": "linear", "library": "marginlib",
                     "setting": f"{key}: {setting}", "time_ms": times[key] * 1e3,
                     "median_norm": _median(m.abs()), "norm_to_exact": _median(m.abs() / exact)})
    peer = [r["_norms"] for r in min_norm if r["library"] != "marginlib" and "_norms" in r]
    if peer:
        best = torch.stack(peer).amin(0)
        rows.append({"row": "margin estimators l2", "model": "linear", "library": "peers",
                     "setting": "per point the smallest norm of the peers' min-norm l2 rows, [0, 1] box",
                     "time_ms": sum(r["time_ms"] for r in min_norm if r["library"] != "marginlib" and "_norms" in r),
                     "median_norm": _median(best), "norm_to_exact": _median(best / exact_box)})
    return rows


def ratios(entries: list[dict[str, Any]]) -> None:
    """Fill ``time_to_fastest_peer`` and ``norm_to_best_peer`` within each (row, model)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        groups.setdefault((e["row"], e["model"]), []).append(e)
    for group in groups.values():
        peers = [e for e in group if e["library"] not in ("marginlib", "peers") and "time_ms" in e]
        if not peers:
            continue
        fastest = min(e["time_ms"] for e in peers)
        norms = [e["median_norm"] for e in peers if math.isfinite(e.get("median_norm", math.nan))]
        for e in group:
            if "time_ms" in e and e["library"] != "peers":
                e["time_to_fastest_peer"] = e["time_ms"] / fastest
            if norms and math.isfinite(e.get("median_norm", math.nan)) and e["library"] != "peers":
                e["norm_to_best_peer"] = e["median_norm"] / min(norms)


def _cell(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, float):
        return "none found" if math.isinf(value) else f"{value:.{digits}g}"
    return str(value)


def write(entries: list[dict[str, Any]], path: pathlib.Path, versions: dict[str, str]) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, 1 thread, CPU"
    day = datetime.date.today().isoformat()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(COLUMNS)
        for e in entries:
            version = versions.get(e["library"], MISSING) if "time_ms" in e else MISSING
            w.writerow([e["row"], e["model"], e["library"], version, e["setting"],
                        _cell(e.get("time_ms"), 4), _cell(e.get("success")), _cell(e.get("robust_acc")),
                        _cell(e.get("median_norm")), _cell(e.get("norm_to_exact")),
                        _cell(e.get("time_to_fastest_peer")), _cell(e.get("norm_to_best_peer")),
                        e.get("note", ""), machine, day])
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--libraries", nargs="+", default=list(LIBRARIES), choices=LIBRARIES,
                        help="the libraries whose rows run (marginlib's always do)")
    parser.add_argument("--n", type=int, default=128, help="at most this many correctly classified test points")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="16 points, 1 round, 3 epochs (the test's setting)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS, help="the kinds of row to run")
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.rounds, args.epochs = 16, 1, 3
    torch.set_num_threads(1)
    torch.manual_seed(0)
    loaded = load_peers(LIBRARIES)
    available = {name: module for name, (module, _) in loaded.items() if module is not None}
    versions = {name: version for name, (module, version) in loaded.items() if module is not None}
    peers = {name: module for name, module in available.items() if name in args.libraries and name != "marginlib"}

    x_tr, y_tr, x_te, y_te = digits()
    models = {name: train(build(name), x_tr, y_tr, epochs=args.epochs) for name in ("linear", "mlp", "cnn")}
    entries: list[dict[str, Any]] = []

    def run_row(row: Row, model: nn.Module, x: torch.Tensor, y: torch.Tensor, norm: str | None,
                exact: torch.Tensor | None = None) -> list[dict[str, Any]]:
        if row.name.split(" ")[0] not in args.rows:
            return []
        for name in _ROW_PEERS[row.name.split(" ")[0]]:
            if name in args.libraries and name not in available:
                row.missing(name, loaded[name][1])
        got = measure(row, model, x, y, norm=norm, rounds=args.rounds, exact=exact)
        for e in got:
            print(f"{e['row']:<20} {e['model']:<6} {e['library']:<12} {_cell(e.get('time_ms'), 4):>8} ms  "
                  f"success {_cell(e.get('success')):>5}  norm {_cell(e.get('median_norm')):>6}  "
                  f"{e.get('note') or e['setting']}", flush=True)
        entries.extend(got)
        return got

    for name in ("mlp", "cnn"):
        model = models[name]
        x, y = correct_points(model, x_te, y_te, args.n)
        for norm in ("linf", "l2"):
            run_row(pgd_row(model, name, x, y, norm, peers), model, x, y, None)
        for norm in ("l2", "linf"):
            run_row(deepfool_row(model, name, x, y, norm, peers), model, x, y, norm)
        run_row(autoattack_row(model, name, x, y, available.get("pyautoattack"), "pyautoattack" in peers),
                model, x, y, None)
    linear = models["linear"]
    x, y = correct_points(linear, x_te, y_te, args.n)
    min_norm_l2: list[dict[str, Any]] = []
    for norm in ("l2", "linf"):
        exact = margins.exact_linear(linear, x, y, norm=norm, bounds=(0.0, 1.0))
        got = run_row(min_norm_row(linear, x, y, norm, peers, available.get("foolbox")), linear, x, y, norm, exact)
        if norm == "l2":
            min_norm_l2 = got
    estimates = estimator_rows(linear, x, y, min_norm_l2, rounds=args.rounds) if "margin" in args.rows else []
    for e in estimates:
        print(f"{e['row']:<20} linear {e['library']:<12} {_cell(e['time_ms'], 4):>8} ms  "
              f"norm/exact {_cell(e['norm_to_exact'])}  {e['setting']}")
    entries.extend(estimates)
    ratios(entries)
    write(entries, args.out, versions)
    try:
        shown = args.out.resolve().relative_to(ROOT)
    except ValueError:
        shown = args.out
    print(f"wrote {shown}")
    return 0


#: which peers offer each kind of row (a missing peer gets a "skipped" line only where it would have had one)
_ROW_PEERS = {"pgd": ("foolbox", "adv-lib", "torchattacks"), "deepfool": ("foolbox", "adv-lib", "torchattacks"),
              "min-norm": ("adv-lib",), "autoattack": ("pyautoattack",)}
#: the kinds of row, by the first word of their names ("margin": the estimators on the linear model)
ROWS = ("pgd", "deepfool", "autoattack", "min-norm", "margin")


if __name__ == "__main__":
    raise SystemExit(main())
