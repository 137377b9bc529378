"""Calibrate each method's preset per architecture, and write the figures behind each pick.

For every architecture and every method with a search space (``Param.grid`` in the method's
spec, read through ``MethodSpec.grid()``), try every combination of its knobs on development
cells (dataset x model), each stored as loaded and sorted by class, on a class-wise and a
random 10% request, over several seeds. Each run is scored against the retrained model of the
same unit by

    score = mean(|forget - forget_r|, |retain - retain_r|, |val - val_r|)
            + COLLAPSE_PENALTY if retain < retain_r - COLLAPSE_POINTS

(accuracies in percent, ``val`` on the *validation* split as
``experiment.validation_scores`` defines it (class-wise: the remaining classes); ``_r`` =
retrain). The test set takes no part in a pick: it is not even scored here. The pick per
(architecture, method) is the combination with the lowest mean score over the units it applies
to; the spec's defaults are always among the candidates, so a pick never scores worse than them
on these cells. Presets are turned off while searching (``UNLEARN_PRESETS=none``): knobs
outside the grid keep the spec's defaults, and the result does not depend on an earlier run.

Writes the presets JSON (``unlearn_core/methods/presets.json`` unless ``--out-presets``), a
report with every candidate's figures (``benchmarks/results/calibration.md``; with ``--archs``,
``calibration-<archs>.md``) and every run (``*_runs.csv``). Entries of the presets file that
were not searched this time are kept, so architectures can be calibrated one run at a time. ``--quick`` is a smoke test: one cell, one request, one seed, two
values per knob, written beside the report as ``calibration_quick.*`` and never over the
package's presets.

    python benchmarks/calibrate.py [--quick] [--archs mlp,cnn] [--cells digits_cnn,...]
        [--methods neggrad,ssd] [--grid ssd.alpha=5,6,7] [--storages loaded,sorted]
        [--requests class,random] [--seeds 0 1] [--threads 2] [--device cpu] [--out-md FILE]

``--cells`` picks cells by key (the benchmark matrix's cell names); ``--grid METHOD.KNOB=V,...``
replaces one knob's grid for this run (a finer probe, or fewer values where runs are costly),
and the report says so. Each pick's note in the presets file names what it was searched on.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import torch

from unlearn_core.data import Dataset, load_dataset
from unlearn_core.experiment import compare, validation_scores
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import REGISTRY, MethodSpec
from unlearn_core.methods.presets import NO_PRESETS, PRESETS_FILE
from unlearn_core.models import NARROW_RESNET
from unlearn_core.training import default_recipe, evaluate, train_new_model

RESULTS = Path(__file__).parent / "results"
COLLAPSE_POINTS = 10.0
COLLAPSE_PENALTY = 50.0
#: a failed run (not a refusal) scores this
FAILURE_SCORE = 100.0
#: a retrained reference this far below the original on the retain set failed to train: the
#: unit is reported and left out of the scores
UNRELIABLE_REFERENCE_POINTS = 20.0
FORGET_CLASS = 3
RANDOM_FRACTION = 0.1
STORAGE = ("as loaded", "sorted by class")
STORAGE_KEYS = {"loaded": "as loaded", "sorted": "sorted by class"}
SCORED = ("forget_acc", "retain_acc", "val_acc")


@dataclass(frozen=True)
class Cell:
    """One development setting: a dataset and a model, and the requests tried on it."""

    key: str
    name: str
    arch: str
    dataset: str
    data_kwargs: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    requests: tuple[str, ...] = ("class", "random")

    def load(self, storage: str, split: int = 0) -> Dataset:
        """The cell's data drawn with split seed ``split`` (the dataset's ``seed``)."""
        data = load_dataset(self.dataset, **{**self.data_kwargs, "seed": split})
        return data.sorted_by_class() if storage == "sorted by class" else data


CELLS = (
    Cell("digits_mlp", "digits + MLP", "mlp", "digits"),
    Cell("moons_mlp", "moons + MLP", "mlp", "moons", requests=("random",)),
    Cell("digits_cnn", "digits 8x8 + CNN", "cnn", "digits"),
    Cell("digits28_cnn", "digits 28x28 + CNN", "cnn", "digits", {"size": 28}),
    Cell("shapes2000_cnn", "shapes-2000 + CNN", "cnn", "shapes", {"n_train": 2000, "n_test": 500}),
    Cell(
        "shapes2000_resnet18",
        "shapes-2000 + narrow ResNet-18 (width 8, stride-2 stem)",
        "resnet18",
        "shapes",
        {"n_train": 2000, "n_test": 500},
        dict(NARROW_RESNET),
    ),
)


def request_for(kind: str, seed: int) -> ForgetRequest:
    if kind == "class":
        return ForgetRequest(classes=(FORGET_CLASS,), seed=seed)
    return ForgetRequest(fraction=RANDOM_FRACTION, seed=seed)


#: knob grids replaced for this run (``--grid``): method -> knob -> values
GRID_OVERRIDES: dict[str, dict[str, tuple]] = {}


def parse_grid(text: str) -> tuple[str, str, tuple]:
    """``METHOD.KNOB=V1,V2,...`` -> (method, knob, values coerced by the knob's type)."""
    try:
        target, values = text.split("=", 1)
        method, knob = target.split(".", 1)
    except ValueError:
        raise SystemExit(f"--grid {text!r}: expected METHOD.KNOB=V1,V2,...") from None
    if method not in REGISTRY:
        raise SystemExit(f"--grid {text!r}: unknown method {method!r}")
    params = {p.name: p for p in REGISTRY[method].spec.params}
    if knob not in params:
        raise SystemExit(f"--grid {text!r}: {method} has no knob {knob!r} ({', '.join(params)})")
    return method, knob, tuple(params[knob].coerce(v) for v in values.split(",") if v)


def grid_of(spec: MethodSpec) -> dict[str, tuple]:
    """The spec's grid with this run's ``--grid`` replacements."""
    return {**spec.grid(), **GRID_OVERRIDES.get(spec.name, {})}


def candidates(spec: MethodSpec, quick: bool, skip_defaults: bool = False) -> list[dict]:
    """Every combination of the grid (two values per knob in quick mode: the ends), with the
    spec's defaults first (left out with ``skip_defaults``, for costly cells where the spec's
    defaults are already known not to fit, e.g. more epochs than retraining takes)."""
    grid = grid_of(spec)
    if quick:
        grid = {k: (v[0], v[-1]) if len(v) > 1 else v for k, v in grid.items()}
    defaults = {p.name: p.default for p in spec.params if p.name in grid}
    combos = [dict(zip(grid, vals, strict=True)) for vals in itertools.product(*grid.values())]
    if skip_defaults and combos:
        return combos
    return [defaults, *[c for c in combos if c != defaults]]


def score(metrics: dict, ref: dict) -> tuple[float, dict, bool]:
    """(score, per-metric gaps, collapsed) of one run against its retrained reference."""
    gaps = {k: abs(metrics[k] - ref[k]) for k in SCORED}
    collapsed = metrics["retain_acc"] < ref["retain_acc"] - COLLAPSE_POINTS
    return (
        statistics.fmean(gaps.values()) + (COLLAPSE_PENALTY if collapsed else 0.0),
        gaps,
        collapsed,
    )


@dataclass
class Unit:
    """One trained model and request: the retrained reference all candidates are scored on."""

    cell: Cell
    storage: str
    request: str
    seed: int
    data: Dataset
    model: torch.nn.Module
    reference: dict
    original: dict
    reliable: bool
    split: int = 0

    @property
    def label(self) -> str:
        where = f"split {self.split}, " if self.split else ""
        return f"{self.cell.name}, {where}{self.storage}, {self.request}, seed {self.seed}"


def units(
    cells: list[Cell],
    seeds: list[int],
    storages: tuple[str, ...],
    requests,
    device,
    splits: tuple[int, ...] = (0,),
) -> Iterator[Unit]:
    """Train each (cell, split, storage, seed) model once and retrain it for each request."""
    for cell in cells:
        recipe = default_recipe(cell.arch)
        for split_seed, storage in itertools.product(splits, storages):
            data = cell.load(storage, split_seed)
            for seed in seeds:
                t0 = time.perf_counter()
                model, _ = train_new_model(
                    data,
                    cell.arch,
                    recipe,
                    seed=seed,
                    device=device,
                    model_kwargs=cell.model_kwargs,
                )
                print(
                    f"[{cell.name}, split {split_seed}, {storage}, seed {seed}] trained in "
                    f"{time.perf_counter() - t0:.1f}s, validation "
                    f"{evaluate(model, data.x_val, data.y_val):.1f}%",
                    file=sys.stderr,
                )
                for kind in cell.requests:
                    if kind not in requests:
                        continue
                    split = make_split(data, request_for(kind, seed))
                    comp = compare(data, model, recipe, split, [], seed=seed, device=device)
                    if comp.reference is None:
                        raise RuntimeError(
                            f"retrain failed on {cell.name}: {comp.results[0].error}"
                        )
                    ref = validation_scores(comp.reference.model, data, split, seed=seed)
                    orig = validation_scores(model, data, split, seed=seed)
                    reliable = ref["retain_acc"] >= orig["retain_acc"] - UNRELIABLE_REFERENCE_POINTS
                    yield Unit(
                        cell, storage, kind, seed, data, model, ref, orig, reliable, split_seed
                    )


@dataclass
class Run:
    arch: str
    method: str
    combo: dict
    unit: str
    request: str
    score: float | None
    gaps: dict
    collapsed: bool
    metrics: dict
    error: str | None = None
    refused: bool = False


def run_unit(
    unit: Unit, methods: list[str], quick: bool, device, skip_defaults: bool = False
) -> list[Run]:
    recipe = default_recipe(unit.cell.arch)
    split = make_split(unit.data, request_for(unit.request, unit.seed))
    out: list[Run] = []
    for name in methods:
        spec = REGISTRY[name].spec
        for combo in candidates(spec, quick, skip_defaults):
            comp = compare(
                unit.data,
                unit.model,
                recipe,
                split,
                [(name, combo)],
                seed=unit.seed,
                include_retrain=False,
                device=device,
            )
            res = comp.results[0]
            run = Run(unit.cell.arch, name, combo, unit.label, unit.request, None, {}, False, {})
            if res.error is not None:
                run.error = res.error
                run.refused = res.error.startswith("MethodNotApplicable")
                run.score = None if run.refused else FAILURE_SCORE
            else:
                val = validation_scores(res.model, unit.data, split, seed=unit.seed)
                run.metrics = {k: val[k] for k in SCORED}
                run.score, run.gaps, run.collapsed = score(val, unit.reference)
            out.append(run)
    return out


@dataclass
class Candidate:
    combo: dict
    runs: list[Run]

    @property
    def scored(self) -> list[Run]:
        return [r for r in self.runs if r.score is not None]

    @property
    def mean(self) -> float:
        s = [r.score for r in self.scored]
        return statistics.fmean(s) if s else math.inf

    def gap(self, key: str) -> float:
        g = [r.gaps[key] for r in self.scored if r.gaps]
        return statistics.fmean(g) if g else math.nan

    def by_request(self, kind: str) -> float:
        s = [r.score for r in self.scored if r.request == kind]
        return statistics.fmean(s) if s else math.nan

    @property
    def collapses(self) -> int:
        return sum(r.collapsed for r in self.runs)

    @property
    def failures(self) -> int:
        return sum(r.error is not None and not r.refused for r in self.runs)


def choose(runs: list[Run]) -> tuple[list[Candidate], Candidate | None]:
    """Candidates of one (arch, method) in grid order; the best by mean score (the first, i.e.
    the defaults, on ties). None when every candidate failed on every run: no pick then."""
    order: dict[str, Candidate] = {}
    for r in runs:
        key = json.dumps(r.combo, sort_keys=True)
        order.setdefault(key, Candidate(r.combo, [])).runs.append(r)
    cands = list(order.values())
    usable = [c for c in cands if c.scored and c.failures < len(c.runs)]
    best = min(usable, key=lambda c: c.mean) if usable else None
    return cands, best


def _fmt(v: float) -> str:
    return (
        "—"
        if v is None or (isinstance(v, float) and (math.isnan(v) or math.isinf(v)))
        else f"{v:.2f}"
    )


def _anchor(arch: str, method: str) -> str:
    return f"{arch}-{method}"


def report(picks: dict, table: dict, unit_list: list[Unit], args, seconds: float) -> str:
    lines = [
        "# Calibration of per-architecture presets",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/calibrate.py"
        f"{''.join(' ' + a for a in sys.argv[1:])}` in {seconds / 60:.1f} min on {platform.machine()} "
        f"({torch.get_num_threads()} threads, device {args.device}).",
        "",
        "Score per run: mean |gap| to retrain over forget, retain and validation accuracy "
        "(points; the test set takes no part), "
        f"+{COLLAPSE_PENALTY:.0f} when retain accuracy is more than {COLLAPSE_POINTS:.0f} points "
        f"below retrain's (collapse); a failed run scores {FAILURE_SCORE:.0f}. Lower is better. "
        "Class-wise validation accuracy is on the remaining classes (as `compare` reports test). "
        "Presets were off while searching: knobs outside the grid are the spec's defaults.",
        *(
            [
                "",
                "Grids replaced for this run: "
                + "; ".join(
                    f"{m}.{k} = {', '.join(map(str, v))}"
                    for m, knobs in GRID_OVERRIDES.items()
                    for k, v in knobs.items()
                )
                + ".",
            ]
            if GRID_OVERRIDES
            else []
        ),
        "",
        "## Units",
        "",
        "| cell | split | storage | request | seed | retrain forget / retain / val | original forget / retain / val | used |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for u in unit_list:
        r, o = u.reference, u.original
        lines.append(
            f"| {u.cell.name} | {u.split} | {u.storage} | {u.request} | {u.seed} | "
            f"{_fmt(r['forget_acc'])} / {_fmt(r['retain_acc'])} / {_fmt(r['val_acc'])} | "
            f"{_fmt(o['forget_acc'])} / {_fmt(o['retain_acc'])} / {_fmt(o['val_acc'])} | "
            f"{'yes' if u.reliable else 'no: retrain failed to train'} |"
        )
    for (arch, method), cands in sorted(table.items()):
        best = picks.get((arch, method))
        lines += [
            "",
            f"## {_anchor(arch, method)}",
            "",
            "| values | score | class | random | forget gap | retain gap | val gap | collapses | failures | runs |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for i, c in enumerate(cands):
            mark = " **(pick)**" if best is c else ""
            default = " (defaults)" if i == 0 and not args.skip_defaults else ""
            values = ", ".join(f"{k}={v}" for k, v in c.combo.items())
            lines.append(
                f"| {values}{default}{mark} | {_fmt(c.mean)} | {_fmt(c.by_request('class'))} | "
                f"{_fmt(c.by_request('random'))} | {_fmt(c.gap('forget_acc'))} | "
                f"{_fmt(c.gap('retain_acc'))} | {_fmt(c.gap('val_acc'))} | {c.collapses} | "
                f"{c.failures} | {len(c.scored)} |"
            )
        if best is None:
            lines += ["", "No pick: every candidate failed on every run; the preset is unchanged."]
    return "\n".join(lines) + "\n"


def presets_doc(
    picks: dict,
    table: dict,
    md_path: Path,
    quick: bool,
    base: dict | None,
    scope: str = "",
    defaults_first: bool = True,
) -> dict:
    """The presets document: ``base`` (an earlier file's, for architectures and methods not
    searched this time) with this run's picks written over it. A quick run's picks are marked
    provisional: one unit is a smoke test, not a calibration."""
    doc: dict = {
        "version": 1,
        "note": (base or {}).get(
            "note",
            "Written by benchmarks/calibrate.py; each entry's source names the section of the "
            "report with every candidate's figures.",
        ),
        "presets": {a: dict(m) for a, m in (base or {}).get("presets", {}).items()},
    }
    for (arch, method), best in sorted(picks.items()):
        first = table[(arch, method)][0]
        figures = (
            f"score {best.mean:.2f} ({'spec defaults' if defaults_first else 'first candidate'} "
            f"{first.mean:.2f}) over "
            f"{len(best.scored)} runs; {best.collapses} collapses" + (f"; {scope}" if scope else "")
        )
        doc["presets"].setdefault(arch, {})[method] = {
            "values": best.combo,
            "status": "provisional" if quick else "calibrated",
            "source": f"{md_path.as_posix()}#{_anchor(arch, method)}",
            "note": f"quick smoke run, not yet calibrated: {figures}" if quick else figures,
        }
    return doc


def write_runs(path: Path, runs: list[Run]) -> None:
    """Every run so far as CSV (rewritten after each unit: a stopped search keeps its runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["arch", "method", "values", "unit", "request", "score", "collapsed", *SCORED, "error"]
        )
        for r in runs:
            w.writerow(
                [
                    r.arch,
                    r.method,
                    json.dumps(r.combo, sort_keys=True),
                    r.unit,
                    r.request,
                    _fmt(r.score),
                    int(r.collapsed),
                    *(_fmt(r.metrics.get(k)) for k in SCORED),
                    r.error or "",
                ]
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: one cell, request, seed")
    ap.add_argument("--archs", help="comma-separated architectures (default: all cells')")
    ap.add_argument("--methods", help="comma-separated methods (default: every one with a grid)")
    ap.add_argument("--seeds", type=int, nargs="+", help="seeds (default 0 1; quick: 0)")
    ap.add_argument(
        "--split-seeds",
        type=int,
        nargs="+",
        default=[0],
        help="data splits to choose on (the dataset's seed; default 0). Keep the benchmark "
        "matrix's held-out splits (run_benchmark.py --split-seeds) out of this list",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's choice)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument(
        "--requests", default="class,random", help="comma-separated: class, random (default both)"
    )
    ap.add_argument("--cells", help="comma-separated cell keys (default: every cell of --archs)")
    ap.add_argument(
        "--storages", default="loaded,sorted", help="comma-separated: loaded, sorted (default both)"
    )
    ap.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="METHOD.KNOB=V,...",
        help="replace one knob's grid for this run (repeatable)",
    )
    ap.add_argument(
        "--skip-defaults",
        action="store_true",
        help="leave the spec's defaults out of the candidates (costly cells)",
    )
    ap.add_argument("--out-presets", type=Path, help="presets JSON to write")
    ap.add_argument("--out-md", type=Path, help="report to write")
    args = ap.parse_args(argv)
    os.environ["UNLEARN_PRESETS"] = NO_PRESETS  # search from the spec's defaults
    if args.threads:
        torch.set_num_threads(args.threads)

    methods = args.methods.split(",") if args.methods else sorted(REGISTRY)
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        ap.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(REGISTRY)}")
    for text in args.grid:
        method, knob, values = parse_grid(text)
        GRID_OVERRIDES.setdefault(method, {})[knob] = values
    methods = [m for m in methods if grid_of(REGISTRY[m].spec)]
    cells = list(CELLS)
    if args.archs:
        archs = args.archs.split(",")
        cells = [c for c in cells if c.arch in archs]
    if args.cells:
        keys = args.cells.split(",")
        unknown = [k for k in keys if k not in {c.key for c in CELLS}]
        if unknown:
            ap.error(
                f"unknown cell(s) {', '.join(unknown)}; cells: {', '.join(c.key for c in CELLS)}"
            )
        cells = [c for c in cells if c.key in keys]
    seeds = args.seeds or ([0] if args.quick else [0, 1])
    try:
        storages = tuple(STORAGE_KEYS[k] for k in args.storages.split(","))
    except KeyError as exc:
        ap.error(f"unknown storage {exc}; use loaded and/or sorted")
    requests = tuple(args.requests.split(","))
    if args.quick:
        cells, storages, requests = cells[:1], STORAGE[:1], ("class",)
    stem = "calibration_quick" if args.quick else "calibration"
    if args.archs and not args.quick:  # a partial run keeps its own report
        stem += "-" + "-".join(sorted({c.arch for c in cells}))
    md_path = args.out_md or RESULTS / f"{stem}.md"
    presets_path = args.out_presets or (RESULTS / f"{stem}.json" if args.quick else PRESETS_FILE)
    print(
        f"methods: {', '.join(methods)}; cells: {', '.join(c.name for c in cells)}", file=sys.stderr
    )

    t_start = time.perf_counter()
    runs: list[Run] = []
    unit_list: list[Unit] = []
    splits = tuple(args.split_seeds)
    for unit in units(cells, seeds, storages, requests, args.device, splits):
        unit_list.append(unit)
        t0 = time.perf_counter()
        if not unit.reliable:
            print(f"  {unit.label}: retrain failed to train, left out", file=sys.stderr)
            continue
        runs += run_unit(unit, methods, args.quick, args.device, args.skip_defaults)
        write_runs(md_path.parent / f"{md_path.stem}_runs.csv", runs)
        print(f"  {unit.label}: {time.perf_counter() - t0:.1f}s", file=sys.stderr)

    table: dict[tuple[str, str], list[Candidate]] = {}
    picks: dict[tuple[str, str], Candidate] = {}
    for arch, method in sorted({(r.arch, r.method) for r in runs}):
        cands, best = choose([r for r in runs if (r.arch, r.method) == (arch, method)])
        table[(arch, method)] = cands
        if best is not None:
            picks[(arch, method)] = best
    seconds = time.perf_counter() - t_start

    md_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        md_rel = md_path.resolve().relative_to(Path(__file__).resolve().parent.parent)
    except ValueError:
        md_rel = md_path
    md_path.write_text(report(picks, table, unit_list, args, seconds), encoding="utf-8")
    presets_path.parent.mkdir(parents=True, exist_ok=True)
    base = (
        json.loads(presets_path.read_text()) if presets_path.exists() and not args.quick else None
    )
    scope = (
        f"searched on {', '.join(c.key for c in cells)}; split seeds "
        f"{', '.join(map(str, splits))}; {' and '.join(storages)}; "
        f"{' and '.join(r for r in requests)} requests; seeds {', '.join(map(str, seeds))}"
    )
    doc = presets_doc(picks, table, md_rel, args.quick, base, scope, not args.skip_defaults)
    presets_path.write_text(json.dumps(doc, indent=2) + "\n")
    write_runs(md_path.parent / f"{md_path.stem}_runs.csv", runs)
    for (arch, method), best in sorted(picks.items()):
        print(f"{arch:9s} {method:14s} {best.combo}  score {best.mean:.2f}", file=sys.stderr)
    print(f"wrote {md_path} and {presets_path} in {seconds:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
