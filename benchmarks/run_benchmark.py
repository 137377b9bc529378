"""The benchmark matrix: every registered method, per cell (dataset + model), through
``compare_seeds``.

Each cell trains one original per seed, then runs class-wise forgetting (one class) and random
10% forgetting with every method (retrain first, as the reference). Per cell it writes
``<out>/<cell>.md`` and ``.csv`` (mean ± std over seeds); ``<out>/summary.md`` checks the
project's targets in every cell and reports the wall time:

- class-wise: SCRUB, SalUn, SSD and every LRP variant reach forget accuracy <= 2% with retain and
  test accuracy within 2 points of retrain's (means over seeds);
- random 10%: the best approximate method's average gap to retrain <= 3 points;
- every approximate method takes <= 25% of retrain's time (mean time ratio);
- no method's default collapses a model (retain accuracy > 10 points below retrain's on any seed);
- the whole matrix runs in < 30 minutes on 2 CPU cores.

    python benchmarks/run_benchmark.py [--cells all|NAME,...] [--seeds 0 1 2] [--quick]
        [--threads 1] [--jobs 2]

Cells: see ``--list``. Any cell's name with ``_sorted`` appended runs that cell with its training
set stored sorted by class (``Dataset.sorted_by_class``): results should not depend on storage
order. ``_split<k>`` appended (or ``--split-seeds``) draws the cell's data with split seed ``k``
(the dataset's ``seed``: another train / validation / test split of digits, other samples of
the procedural sets) beside the init seeds. The presets were chosen on split 0
(:data:`CALIBRATION_SPLITS`); the summary reports every method on the held-out splits ("met on
k of n held-out splits", median and worst over splits and seeds) and ``--robustness`` writes
those figures as the library's robustness cards (``unlearn_core/methods/robustness.json``). A cell whose data or model the library cannot build here is skipped with a note.
``--quick`` is a smoke test (digits + MLP, one seed, 2 training epochs, results under
``<out>/quick``). Each cell also leaves ``<cell>_targets.json``; ``--summary-only`` rebuilds the
summary over the cells named (default: the whole matrix) from those, for a matrix run in parts.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from unlearn_core.data import Dataset, load_dataset
from unlearn_core.evaluation.tables import (
    FAMILY_COLUMN,
    NOTES_COLUMN,
    RESULT_COLUMNS,
    Column,
    columns_for,
    markdown_table,
    result_column,
    seed_row,
)
from unlearn_core.experiment import ROW_KEYS, MultiComparison, SeedSummary, compare_seeds
from unlearn_core.forget import ForgetRequest
from unlearn_core.methods import list_methods
from unlearn_core.models import NARROW_RESNET
from unlearn_core.runtime.progress import Progress
from unlearn_core.training import TrainConfig, default_recipe, evaluate, train_new_model

OUT = Path(__file__).parent / "results"
#: class-wise targets: these methods, and every registered method whose name starts with "lrp"
CLASS_TARGET_METHODS = ("scrub", "salun", "ssd")
FORGET_ACC_MAX = 2.0
NEAR_RETRAIN_PTS = 2.0
RANDOM_GAP_MAX = 3.0
TIME_RATIO_MAX = 0.25
WALL_MAX_S = 30 * 60


@dataclass(frozen=True)
class Cell:
    """One dataset + architecture of the matrix."""

    name: str
    title: str
    dataset: str
    arch: str
    dataset_kwargs: dict = field(default_factory=dict)
    model_kwargs: dict = field(default_factory=dict)
    random_only: bool = False
    forget_class: int = 3
    sorted_by_class: bool = False
    #: the dataset's ``seed``: which train / validation / test split (0: the calibration split)
    split_seed: int = 0

    @property
    def base(self) -> str:
        """The cell's name without its storage order and split suffixes."""
        return CELL_NAME.fullmatch(self.name).group(1)

    def load(self) -> Dataset:
        data = load_dataset(self.dataset, **{**self.dataset_kwargs, "seed": self.split_seed})
        if self.sorted_by_class:
            if not hasattr(data, "sorted_by_class"):
                raise RuntimeError("this library has no Dataset.sorted_by_class()")
            data = data.sorted_by_class()
        return data

    def scenarios(self) -> dict[str, Callable[[int], ForgetRequest]]:
        out: dict[str, Callable[[int], ForgetRequest]] = {}
        if not self.random_only:
            out[f"class {self.forget_class}"] = lambda s: ForgetRequest(
                classes=(self.forget_class,), seed=s
            )
        out["random 10%"] = lambda s: ForgetRequest(fraction=0.1, seed=s)
        return out


SHAPES_2000 = {"n_train": 2000, "n_test": 500}
BASE_CELLS = {
    c.name: c
    for c in (
        Cell("digits_mlp", "digits + MLP", "digits", "mlp"),
        Cell("digits_cnn", "digits 8x8 + CNN", "digits", "cnn"),
        Cell("digits28_cnn", "digits 28x28 + CNN", "digits", "cnn", {"size": 28}),
        Cell("shapes2000_cnn", "shapes-2000 + CNN", "shapes", "cnn", SHAPES_2000),
        Cell(
            "shapes2000_resnet18",
            "shapes-2000 + narrow ResNet-18 (width 8, stride-2 stem)",
            "shapes",
            "resnet18",
            SHAPES_2000,
            dict(NARROW_RESNET),
        ),
        Cell("moons_mlp", "moons + MLP (random forgetting only)", "moons", "mlp", random_only=True),
    )
}
#: every cell, and each (but moons, random forgetting only) stored sorted by class; the ResNet
#: cells first, so that with ``--jobs`` the longest cells start early
DEFAULT_CELLS = tuple(
    sorted(
        [*BASE_CELLS, *(f"{n}_sorted" for n, c in BASE_CELLS.items() if not c.random_only)],
        key=lambda n: BASE_CELLS[n.removesuffix("_sorted")].arch != "resnet18",
    )
)


#: the splits the presets were chosen on; every other split seed is held out
CALIBRATION_SPLITS = (0,)
#: ``<base>[_sorted][_split<k>]``
CELL_NAME = re.compile(r"(.+?)(_sorted)?(?:_split(\d+))?")


def resolve_cell(name: str) -> Cell:
    base, sort, split = CELL_NAME.fullmatch(name).groups()
    if base not in BASE_CELLS:
        raise SystemExit(
            f"unknown cell {name!r}; cells: {', '.join(BASE_CELLS)} (+ _sorted, _split<k>)"
        )
    cell = replace(BASE_CELLS[base], name=name)
    if sort:
        cell = replace(cell, title=f"{cell.title}, stored sorted by class", sorted_by_class=True)
    if split and int(split):
        cell = replace(cell, title=f"{cell.title}, split seed {split}", split_seed=int(split))
    return cell


def with_split(name: str, split: int) -> str:
    """``name`` drawn with split seed ``split`` (split 0 keeps the plain name)."""
    return name if split == 0 else f"{name}_split{split}"


# ----------------------------------------------------------------------------- running


@dataclass
class Training:
    seed: int
    seconds: float
    test_acc: float


@dataclass
class CellRun:
    """What one cell produced (``skipped`` holds the reason when it did not run)."""

    cell: Cell
    seconds: float = 0.0
    #: CPU time of this process over the cell (all its threads), seconds
    cpu_seconds: float = 0.0
    skipped: str | None = None
    recipe: TrainConfig | None = None
    n_train: int = 0
    n_test: int = 0
    training: list[Training] = field(default_factory=list)
    scenarios: dict[str, MultiComparison] = field(default_factory=dict)


@dataclass
class CellRecord:
    """What the summary needs of one cell, kept beside its tables (``<cell>_targets.json``) so
    that a summary can be rebuilt over cells run at different times (``--summary-only``)."""

    name: str
    title: str
    seconds: float
    cpu_seconds: float
    skipped: str | None
    seeds: list[int]
    targets: list[dict]
    #: every method's gaps to retrain, one row per scenario, method and seed (:func:`per_seed`)
    per_seed: list[dict] = field(default_factory=list)

    @classmethod
    def of(cls, run: CellRun, seeds: list[int], targets: list[Target]) -> CellRecord:
        return cls(
            run.cell.name,
            run.cell.title,
            run.seconds,
            run.cpu_seconds,
            run.skipped,
            seeds,
            [asdict(t) for t in targets],
            per_seed(run),
        )


def per_seed(run: CellRun) -> list[dict]:
    """Each method's numbers against the same seed's retrain: forget accuracy, the signed
    forget, retain and test gaps (points), the average gap; ``error`` when it failed."""
    rows = []
    for scenario, multi in run.scenarios.items():
        for comp in multi.comparisons:
            ref = comp.reference
            for r in comp.results:
                if r.method == "retrain":
                    continue
                row = {"scenario": scenario, "method": r.method, "family": r.family,
                       "seed": comp.seed, "error": r.error}  # fmt: skip
                if r.ok and ref is not None:
                    row.update(
                        forget_acc=r.number("forget_acc"),
                        forget_gap=_diff(r.number("forget_acc"), ref.number("forget_acc")),
                        retain_gap=_diff(r.number("retain_acc"), ref.number("retain_acc")),
                        test_gap=_diff(r.number("test_acc"), ref.number("test_acc")),
                        avg_gap=r.number("avg_gap"),
                    )
                rows.append(row)
    return rows


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _stderr_progress(prefix: str) -> Progress:
    last = [-1]

    def report(fraction: float, message: str = "") -> None:
        step = int(fraction * 10)
        if step != last[0]:
            last[0] = step
            print(f"  {prefix} {100 * fraction:3.0f}% {message[:70]}", file=sys.stderr)

    return report


def run_cell(cell: Cell, seeds: list[int], methods: list[str], epochs: int | None) -> CellRun:
    t0, c0 = time.perf_counter(), time.process_time()
    run = CellRun(cell)
    try:
        data = cell.load()
    except Exception as exc:  # noqa: BLE001 - a cell the library cannot build is skipped
        run.skipped = f"data not available here ({type(exc).__name__}: {exc})"
        return run
    recipe = default_recipe(cell.arch)
    if epochs:
        recipe.epochs = epochs
    run.recipe, run.n_train, run.n_test = recipe, data.n_train, data.n_test
    originals = {}
    for seed in seeds:
        t = time.perf_counter()
        try:
            model, _ = train_new_model(
                data, cell.arch, recipe, seed=seed, model_kwargs=dict(cell.model_kwargs)
            )
        except Exception as exc:  # noqa: BLE001
            run.skipped = f"model not available here ({type(exc).__name__}: {exc})"
            return run
        seconds = time.perf_counter() - t
        originals[seed] = model
        run.training.append(Training(seed, seconds, evaluate(model, data.x_test, data.y_test)))
        print(f"{cell.name}: trained seed {seed} in {seconds:.1f} s", file=sys.stderr)
    for scenario, make in cell.scenarios().items():
        t = time.perf_counter()
        run.scenarios[scenario] = compare_seeds(
            data,
            None,
            recipe,
            make(seeds[0]),
            methods,
            seeds=seeds,
            originals=originals,
            progress=_stderr_progress(f"{cell.name} / {scenario}:"),
        )
        print(f"{cell.name} / {scenario}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    run.seconds = time.perf_counter() - t0
    run.cpu_seconds = time.process_time() - c0
    return run


# ----------------------------------------------------------------------------- targets


@dataclass
class Target:
    """One target (``kind``, the same words in every cell) checked in one cell and scenario."""

    kind: str
    cell: str
    scenario: str
    met: bool
    figures: str


CLASS_KIND = "class-wise {}: forget acc <= 2%, retain and test acc within 2 pts of retrain"
GAP_KIND = "random 10%: best approximate avg gap <= 3 pts"
TIME_KIND = "every approximate method <= 25% of retrain's time"
DAMAGE_KIND = "no method's default collapses a model (retain > 10 pts below retrain)"


def _order(method: str) -> int:
    names = ["original", *[s.name for s in list_methods()]]
    return names.index(method) if method in names else len(names)


def _rows(multi: MultiComparison) -> list[SeedSummary]:
    return sorted([multi.original, *multi.results], key=lambda s: _order(s.method))


def _scored(s: SeedSummary) -> bool:
    return s.stats["forget_acc"].n > 0


def class_target_methods() -> list[str]:
    names = [s.name for s in list_methods()]
    return [*CLASS_TARGET_METHODS, *[n for n in names if n.startswith("lrp")]]


def class_target_met(forget: float, retain_gap: float, test_gap: float) -> bool:
    """The class-wise target: forget accuracy <= 2% with retain and test accuracy within 2
    points of retrain's."""
    return (
        forget <= FORGET_ACC_MAX
        and abs(retain_gap) <= NEAR_RETRAIN_PTS
        and abs(test_gap) <= NEAR_RETRAIN_PTS
    )


def check_targets(run: CellRun) -> list[Target]:
    cell = run.cell.name
    out: list[Target] = []
    for scenario, multi in run.scenarios.items():
        ref = multi.get("retrain")
        if ref is None or not _scored(ref):
            out.append(Target("retrain runs", cell, scenario, False, "retrain did not run"))
            continue
        approx = [s for s in multi.results if s.family == "approximate" and _scored(s)]
        if scenario.startswith("class"):
            for m in class_target_methods():
                s = multi.get(m)
                kind = CLASS_KIND.format(m)
                if s is None or not _scored(s):
                    out.append(Target(kind, cell, scenario, False, s.error if s else "not run"))
                    continue
                f = s.mean("forget_acc")
                dr = s.mean("retain_acc") - ref.mean("retain_acc")
                dt = s.mean("test_acc") - ref.mean("test_acc")
                ok = class_target_met(f, dr, dt)
                out.append(
                    Target(
                        kind,
                        cell,
                        scenario,
                        ok,
                        f"forget {f:.2f} ± {s.std('forget_acc'):.2f}%, retain {dr:+.2f}, "
                        f"test {dt:+.2f} pts",
                    )
                )
        else:
            if approx:
                best = min(approx, key=lambda s: s.mean("avg_gap"))
                out.append(
                    Target(
                        GAP_KIND,
                        cell,
                        scenario,
                        best.mean("avg_gap") <= RANDOM_GAP_MAX,
                        f"{best.method} {best.mean('avg_gap'):.2f} ± {best.std('avg_gap'):.2f} pts",
                    )
                )
        slow = [s for s in approx if (s.mean("time_ratio") or 0) > TIME_RATIO_MAX]
        worst = max(approx, key=lambda s: s.mean("time_ratio") or 0, default=None)
        out.append(
            Target(
                TIME_KIND,
                cell,
                scenario,
                not slow,
                (
                    "over: "
                    + ", ".join(f"{s.method} {100 * s.mean('time_ratio'):.0f}%" for s in slow)
                    if slow
                    else f"slowest {worst.method} {100 * worst.mean('time_ratio'):.1f}%"
                    if worst
                    else "no approximate method ran"
                ),
            )
        )
        damaged = [s for s in multi.results if s.damaged]
        out.append(
            Target(
                DAMAGE_KIND,
                cell,
                scenario,
                not damaged,
                ", ".join(
                    f"{s.method} (seeds {','.join(map(str, s.damaged_seeds))}, retain "
                    f"{s.mean('retain_acc'):.1f} vs {ref.mean('retain_acc'):.1f})"
                    for s in damaged
                )
                or "none damaged",
            )
        )
    return out


# ----------------------------------------------------------------------------- writing


#: the per-cell results table: the results-table spec's columns (headers, units, number
#: formats), the family beside the method and the notes (damaged seeds, errors) last
CELL_COLUMNS = (RESULT_COLUMNS[0], FAMILY_COLUMN, *RESULT_COLUMNS[1:], NOTES_COLUMN)
#: the originals' training, one row per seed
TRAINING_COLUMNS = (
    Column("seed", "seed", fmt=".0f"),
    replace(result_column("seconds"), header="training time"),
    result_column("test_acc"),
)
TARGET_COLUMN = Column("kind", "target", text=True)
CELL_COLUMN = Column("cell", "cell", text=True)
SCENARIO_COLUMN = Column("scenario", "scenario", text=True)
MET_COLUMN = Column("met", "met", text=True)
FIGURES_COLUMN = Column("figures", "figures", text=True)
#: a cell's targets; the summary's have the cell too
CELL_TARGET_COLUMNS = (TARGET_COLUMN, SCENARIO_COLUMN, MET_COLUMN, FIGURES_COLUMN)
TARGET_COLUMNS = (TARGET_COLUMN, CELL_COLUMN, SCENARIO_COLUMN, MET_COLUMN, FIGURES_COLUMN)
#: the summary's cells
CELLS_COLUMNS = (
    Column("name", "cell", text=True),
    Column("title", "what", text=True),
    Column("seconds", "wall time", "s", fmt=".0f"),
    Column("cpu_seconds", "CPU time", "s", fmt=".0f"),
    Column("files", "per-cell results", text=True),
)
#: the summary's verdict, one row per target
VERDICT_COLUMNS = (
    TARGET_COLUMN,
    Column("met", "met in every cell", text=True),
    FIGURES_COLUMN,
)
#: the held-out splits, one row per cell, scenario and method (gaps: median (worst))
HELD_OUT_COLUMNS = (
    CELL_COLUMN,
    SCENARIO_COLUMN,
    Column("method", "method", text=True),
    Column("met", "met on held-out splits", text=True),
    Column("forget_gap", "forget gap", "pts", text=True),
    Column("retain_gap", "retain gap", "pts", text=True),
    Column("test_gap", "test gap", "pts", text=True),
    Column("avg_gap", "avg gap", "pts", text=True),
)


def table_row(row: dict, damaged_seeds: list[int], error: str | None) -> dict:
    """A row of :data:`CELL_COLUMNS`: ``row``'s numbers (means over the seeds that ran, also
    where some failed), the damaged seeds and the error in the notes."""
    notes = []
    if damaged_seeds:
        notes.append(f"**damaged** (seeds {', '.join(map(str, damaged_seeds))})")
    if error:
        notes.append(f"n/a: {error}")
    return {**row, "error": None, "notes": "; ".join(notes)}


def scenario_rows(multi: MultiComparison) -> list[dict]:
    """One scenario's rows of :data:`CELL_COLUMNS` (mean ± std over seeds)."""
    return [
        table_row({**seed_row(s), "family": s.family}, s.damaged_seeds, s.error)
        for s in _rows(multi)
    ]


def results_table(rows: list[dict]) -> str:
    """One scenario's results as a markdown table (the optional columns where a row has a
    value)."""
    return markdown_table(rows, columns_for(rows, CELL_COLUMNS))


def target_rows(targets: list[Target]) -> list[dict]:
    return [{**asdict(t), "met": _yes(t.met)} for t in targets]


def write_cell(run: CellRun, out: Path, seeds: list[int], targets: list[Target]) -> None:
    cell = run.cell
    stem = out / cell.name
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "cell",
                "scenario",
                "method",
                "family",
                "n",
                *[c for k in ROW_KEYS for c in (k, f"{k}_std")],
                "damaged_seeds",
                "error",
            ]
        )
        for scenario, multi in run.scenarios.items():
            for s in _rows(multi):
                nums = []
                for k in ROW_KEYS:
                    nums += [_round(s.mean(k)), _round(s.std(k))]
                w.writerow(
                    [
                        cell.name,
                        scenario,
                        s.method,
                        s.family,
                        s.stats["forget_acc"].n,
                        *nums,
                        " ".join(map(str, s.damaged_seeds)),
                        s.error or "",
                    ]
                )
    r = run.recipe
    lines = [
        f"# Benchmark cell: {cell.title}",
        "",
        f"`{cell.name}`: dataset `{cell.dataset}`{_kwargs(cell.dataset_kwargs)} "
        f"({run.n_train} train / {run.n_test} test"
        f"{', stored sorted by class' if cell.sorted_by_class else ''}), model "
        f"`{cell.arch}`{_kwargs(cell.model_kwargs)}, recipe {r.epochs} epochs, batch "
        f"{r.batch_size}, {r.optimizer} lr {r.lr}. Seeds {seeds}: each trains its own original; "
        f"the same forget set for every seed. Cell wall time {run.seconds:.0f} s "
        f"(CPU time {run.cpu_seconds:.0f} s).",
        "",
        "Mean ± std (sample) over seeds. Class-wise: test acc is on the remaining classes' test "
        "samples, the forgotten classes' apart (test acc, forgotten; OPTML/SalUn); MIA "
        "efficacy = mean over 5 member draws; loss AUC compares the forget set with held-out "
        "samples of the same classes (0.5 = indistinguishable). gap to retrain = mean |metric − "
        "retrain's| over forget/retain/test acc and MIA; time / retrain = time / retrain's. "
        "**damaged**: retain accuracy > 10 points below retrain's on the seeds named.",
        "",
        "## Training the originals",
        "",
        markdown_table([asdict(t) for t in run.training], TRAINING_COLUMNS),
    ]
    for scenario, multi in run.scenarios.items():
        lines += ["", f"## {scenario}", "", results_table(scenario_rows(multi))]
    lines += ["", "## Targets", "", markdown_table(target_rows(targets), CELL_TARGET_COLUMNS)]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    record = CellRecord.of(run, seeds, targets)
    (out / f"{cell.name}_targets.json").write_text(json.dumps(asdict(record), indent=1) + "\n")
    print(f"wrote {stem.with_suffix('.md')}, .csv and _targets.json", file=sys.stderr)


def _kwargs(kw: dict) -> str:
    return f" ({', '.join(f'{k}={v}' for k, v in kw.items())})" if kw else ""


def _round(v: float | None) -> float | str:
    return "" if v is None or math.isnan(v) else round(v, 4)


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


#: the issue's LRP target: at least one of its variants meets the class-wise target
LRP_EITHER_KIND = CLASS_KIND.format("LRP (either variant)")


def lrp_either(targets: list[Target]) -> list[Target]:
    """Per cell and scenario, the LRP target met by at least one of its variants."""
    variants: dict[tuple[str, str], dict[str, bool]] = {}
    for t in targets:
        for m in class_target_methods():
            if m.startswith("lrp") and t.kind == CLASS_KIND.format(m):
                variants.setdefault((t.cell, t.scenario), {})[m] = t.met
    out = []
    for (cell, scenario), met in variants.items():
        by = [m for m, ok in met.items() if ok]
        figures = "met by " + ", ".join(by) if by else "neither variant"
        out.append(Target(LRP_EITHER_KIND, cell, scenario, bool(by), figures))
    return out


def write_summary(
    records: list[CellRecord],
    out: Path,
    seeds: list[int],
    wall: float,
    args,
    cpu: float | None = None,
    how: str = "",
) -> list[tuple[str, bool, str]]:
    """``summary.md``; returns (target, met in every cell run, figures) for the console.
    ``how`` says how the wall time was made up when the cells did not run in one go."""
    ran = [r for r in records if not r.skipped]
    targets = [Target(**t) for r in records for t in r.targets]
    targets += lrp_either(targets)
    lines = [
        "# Benchmark matrix: summary",
        "",
        f"Seeds {seeds}; {args.threads} torch thread(s) per process, {args.jobs} cell "
        f"process(es) at once, on "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}; "
        f"{'quick smoke run (tiny epochs), not the real figures; ' if args.quick else ''}"
        f"whole matrix {wall:.0f} s ({wall / 60:.1f} min) wall{how}"
        + (f", {cpu:.0f} s ({cpu / 60:.1f} min) CPU time summed over the cells" if cpu else "")
        + ". Produced by "
        f"`python benchmarks/run_benchmark.py {' '.join(sys.argv[1:])}`.",
        "",
        "## Cells",
        "",
        markdown_table(
            [
                {"name": r.name, "title": r.title, "files": f"skipped: {r.skipped}"}
                if r.skipped
                else {**asdict(r), "files": f"[{r.name}.md]({r.name}.md), [csv]({r.name}.csv)"}
                for r in records
            ],
            CELLS_COLUMNS,
        ),
    ]
    verdicts: list[tuple[str, bool, str]] = []
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(t.kind, []).append(t)
    for kind, ts in groups.items():
        misses = [f"{t.cell} ({t.scenario})" for t in ts if not t.met]
        ok = not misses
        verdicts.append((kind, ok, f"{len(ts)} checks" if ok else "missed in " + ", ".join(misses)))
    wall_ok = wall < WALL_MAX_S
    verdicts.append(
        (
            "whole matrix < 30 minutes",
            wall_ok,
            f"{wall:.0f} s wall{how} for {len(ran)} cell(s) of {len(records)}"
            + (f" (CPU time {cpu:.0f} s)" if cpu is not None else ""),
        )
    )
    lines += [
        "",
        "## Targets, cell by cell",
        "",
        markdown_table(target_rows([t for ts in groups.values() for t in ts]), TARGET_COLUMNS),
    ]
    lines += held_out_lines(held_out(records))
    verdict_rows = [{"kind": k, "met": _yes(ok), "figures": fig} for k, ok, fig in verdicts]
    lines += ["", "## Verdict", "", markdown_table(verdict_rows, VERDICT_COLUMNS)]
    skipped = [r for r in records if r.skipped]
    if skipped:
        lines += ["", "Skipped: " + "; ".join(f"{r.name} ({r.skipped})" for r in skipped)]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'summary.md'}", file=sys.stderr)
    return verdicts


# ----------------------------------------------------------------------------- held-out splits

HELD_CLASS = "forget acc <= 2%, retain and test acc within 2 pts of retrain (means over seeds)"
HELD_RANDOM = "avg gap to retrain <= 3 pts (mean over seeds)"
#: per-seed numbers the held-out figures summarise (median and worst over splits and seeds)
HELD_KEYS = ("forget_gap", "retain_gap", "test_gap", "avg_gap")


def split_of(name: str) -> int:
    return int(CELL_NAME.fullmatch(name).group(3) or 0)


def stem_of(name: str) -> str:
    """The cell's name without its split suffix (storage order kept)."""
    base, sort, _ = CELL_NAME.fullmatch(name).groups()
    return base + (sort or "")


def _mean(rows: list[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return sum(vals) / len(vals) if vals else None


def split_met(rows: list[dict], scenario: str) -> bool:
    """A method meets its target on one split when every seed ran and the means do."""
    if not rows or any(r.get("error") or r.get("forget_acc") is None for r in rows):
        return False
    if scenario.startswith("class"):
        return class_target_met(*(_mean(rows, k) for k in ("forget_acc", "retain_gap", "test_gap")))
    gap = _mean(rows, "avg_gap")
    return gap is not None and gap <= RANDOM_GAP_MAX


def spread(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Median and worst (largest magnitude, sign kept) of each :data:`HELD_KEYS` number."""
    out = {}
    for k in HELD_KEYS:
        vals = [r[k] for r in rows if r.get(k) is not None]
        if vals:
            out[k] = {"median": round(statistics.median(vals), 2),
                      "worst": round(max(vals, key=abs), 2)}  # fmt: skip
    return out


@dataclass
class HeldOut:
    """One method on one cell and scenario over the held-out splits."""

    cell: str
    arch: str
    scenario: str
    method: str
    family: str
    splits: list[int]
    met: list[int]
    seeds: list[int]
    figures: dict


def held_out(records: list[CellRecord]) -> list[HeldOut]:
    """Every method's outcome on the held-out splits (split seeds not in
    :data:`CALIBRATION_SPLITS`), per cell (storage order kept apart) and scenario."""
    groups: dict[tuple[str, str, str], dict[int, list[dict]]] = {}
    family: dict[str, str] = {}
    for rec in records:
        split = split_of(rec.name)
        if rec.skipped or split in CALIBRATION_SPLITS:
            continue
        for row in rec.per_seed:
            if (row.get("error") or "").startswith("MethodNotApplicable"):
                continue  # a request the method does not serve (class-only on random): no row
            key = (stem_of(rec.name), row["scenario"], row["method"])
            groups.setdefault(key, {}).setdefault(split, []).append(row)
            family[row["method"]] = row["family"]
    out = []
    for (stem, scenario, method), by_split in groups.items():
        rows = [r for rs in by_split.values() for r in rs]
        out.append(
            HeldOut(
                cell=stem,
                arch=BASE_CELLS[CELL_NAME.fullmatch(stem).group(1)].arch,
                scenario=scenario,
                method=method,
                family=family[method],
                splits=sorted(by_split),
                met=[s for s in sorted(by_split) if split_met(by_split[s], scenario)],
                seeds=sorted({r["seed"] for r in rows}),
                figures=spread(rows),
            )
        )
    return sorted(out, key=lambda h: (h.cell, h.scenario, _order(h.method)))


def _fig(h: HeldOut, key: str) -> str | None:
    f = h.figures.get(key)
    return f"{f['median']:+.2f} ({f['worst']:+.2f})" if f else None


def held_out_lines(held: list[HeldOut]) -> list[str]:
    if not held:
        return []
    return [
        "",
        "## Held-out splits",
        "",
        f"The presets were chosen on split seed(s) {list(CALIBRATION_SPLITS)}; these are other "
        "splits of the same data (digits: another stratified train / validation / test split; "
        "shapes and moons: other draws), never used to choose anything. Per method and cell: "
        f"met on k of n held-out splits (class-wise: {HELD_CLASS}; random 10%: {HELD_RANDOM}); "
        "median (worst: the largest magnitude, sign kept) over every split and seed of the "
        "signed forget, retain and test accuracy gaps to retrain (points; a forgotten class: "
        "retrain's forget accuracy is 0, so the forget gap is the forget accuracy) and the "
        "average gap.",
        "",
        markdown_table(
            [
                {
                    **asdict(h),
                    "met": f"{len(h.met)} of {len(h.splits)} (splits "
                    f"{','.join(map(str, h.splits))}; seeds {','.join(map(str, h.seeds))})",
                    **{k: _fig(h, k) for k in HELD_KEYS},
                }
                for h in held
            ],
            HELD_OUT_COLUMNS,
        ),
    ]


def robustness_cards(held: list[HeldOut]) -> list[dict]:
    """The library's robustness cards: per method, architecture and kind of request, the
    held-out outcome pooled over that architecture's cells (both storage orders)."""
    pooled: dict[tuple[str, str, str], list[HeldOut]] = {}
    for h in held:
        kind = "class" if h.scenario.startswith("class") else "random"
        pooled.setdefault((h.method, h.arch, kind), []).append(h)
    cards = []
    for (method, arch, kind), hs in sorted(pooled.items()):
        figures: dict = {}
        for k in HELD_KEYS:
            vals = [h.figures[k] for h in hs if k in h.figures]
            if vals:  # medians of the cells' medians; the worst of their worsts
                figures[k] = {"median": round(statistics.median(v["median"] for v in vals), 2),
                              "worst": max((v["worst"] for v in vals), key=abs)}  # fmt: skip
        cards.append(
            {
                "method": method,
                "arch": arch,
                "request": kind,
                "target": HELD_CLASS if kind == "class" else HELD_RANDOM,
                "met": sum(len(h.met) for h in hs),
                "of": sum(len(h.splits) for h in hs),
                "cells": sorted({h.cell for h in hs}),
                "split_seeds": sorted({s for h in hs for s in h.splits}),
                "seeds": sorted({s for h in hs for s in h.seeds}),
                "figures": figures,
            }
        )
    return cards


ROBUSTNESS = Path(__file__).parent.parent / "unlearn_core" / "methods" / "robustness.json"


def write_robustness(held: list[HeldOut], path: Path = ROBUSTNESS) -> None:
    body = {
        "version": 1,
        "note": "Each method's preset on splits it was not chosen on, written by "
        "benchmarks/run_benchmark.py --robustness from the held-out cells of the benchmark "
        "matrix (benchmarks/results/summary.md, 'Held-out splits').",
        "source": "benchmarks/results/summary.md#held-out-splits",
        "cards": robustness_cards(held),
    }
    path.write_text(json.dumps(body, indent=1) + "\n")
    print(f"wrote {path}", file=sys.stderr)


# ----------------------------------------------------------------------------- main


def _cpu(records: list[CellRecord]) -> float:
    return sum(r.cpu_seconds for r in records)


def _run_in_worker(
    cell: Cell, seeds: list[int], methods: list[str], epochs: int | None, threads: int
) -> CellRun:
    torch.set_num_threads(threads)
    return run_cell(cell, seeds, methods, epochs)


def run_cells(
    cells: list[Cell],
    seeds: list[int],
    methods: list[str],
    epochs: int | None,
    threads: int,
    jobs: int,
) -> Iterator[CellRun]:
    """Each cell's run, in the order given; with ``jobs`` > 1 the cells run in that many
    spawned processes at once (each with ``threads`` torch threads)."""
    if jobs <= 1:
        torch.set_num_threads(threads)
        for cell in cells:
            print(f"== {cell.name}: {cell.title}", file=sys.stderr)
            yield run_cell(cell, seeds, methods, epochs)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_run_in_worker, c, seeds, methods, epochs, threads) for c in cells]
        for f in futures:
            yield f.result()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--cells", default=None, help="all (default) or comma-separated cell names")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2")
    p.add_argument(
        "--split-seeds",
        type=int,
        nargs="+",
        default=None,
        help="run every cell named on each of these data splits (0: the calibration split, "
        "plain cell names; k: <cell>_split<k>)",
    )
    p.add_argument(
        "--robustness",
        action="store_true",
        help=f"write the held-out figures as the library's robustness cards ({ROBUSTNESS.name})",
    )
    p.add_argument("--methods", default=None, help="comma-separated (default: every method)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs of the originals")
    p.add_argument("--quick", action="store_true", help="smoke test: digits_mlp, seed 0, 2 epochs")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads per process (default 1: on a machine shared with other work, "
        "2 threads on 2 cores wait on each other's descheduled thread and small models run "
        "several times slower; see method_speed.md)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cells run in this many processes at once (e.g. 2 with --threads 1 on 2 cores)",
    )
    p.add_argument("--out", type=Path, default=None, help=f"results folder (default {OUT})")
    p.add_argument("--list", action="store_true", help="list the cells and exit")
    p.add_argument(
        "--summary-only",
        action="store_true",
        help="run nothing: rebuild summary.md over the cells' <cell>_targets.json in --out",
    )
    p.add_argument(
        "--wall-seconds",
        type=float,
        default=None,
        help="with --summary-only: the measured wall time of the runs that made the cells "
        "(default: their cell wall times summed, which overcounts cells run in parallel)",
    )
    args = p.parse_args(argv)
    if args.list:
        for c in BASE_CELLS.values():
            print(f"{c.name:22s} {c.title}")
        print(f"default matrix: {', '.join(DEFAULT_CELLS)}")
        return 0
    torch.set_num_threads(args.threads)
    if args.cells in (None, "all"):
        names = ["digits_mlp"] if args.quick and args.cells is None else list(DEFAULT_CELLS)
    else:
        names = [n.strip() for n in args.cells.split(",") if n.strip()]
    if args.split_seeds:
        names = [with_split(n, k) for k in args.split_seeds for n in names]
    cells = [resolve_cell(n) for n in names]
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    epochs = args.epochs or (2 if args.quick else None)
    methods = args.methods.split(",") if args.methods else [s.name for s in list_methods()]
    out = args.out or (OUT / "quick" if args.quick else OUT)
    out.mkdir(parents=True, exist_ok=True)

    if args.summary_only:
        records = []
        for name in names:
            f = out / f"{name}_targets.json"
            if not f.exists():
                raise SystemExit(f"no results for cell {name!r} in {out} ({f.name} is missing)")
            records.append(CellRecord(**json.loads(f.read_text())))
        if args.wall_seconds is not None:
            wall, how = args.wall_seconds, " (the wall times of the runs that made these cells)"
        else:
            wall = sum(r.seconds for r in records)
            how = " (cell wall times summed: the cells ran in separate runs)"
        seeds = sorted({s for r in records for s in r.seeds})
        verdicts = write_summary(records, out, seeds, wall, args, _cpu(records), how)
    else:
        t0 = time.perf_counter()
        records: list[CellRecord] = []
        for run in run_cells(cells, seeds, methods, epochs, args.threads, args.jobs):
            ts = [] if run.skipped else check_targets(run)
            records.append(CellRecord.of(run, seeds, ts))
            if run.skipped:
                print(f"note: skipping cell {run.cell.name}: {run.skipped}", file=sys.stderr)
                continue
            write_cell(run, out, seeds, ts)
            # a summary after every cell: a run stopped part-way still leaves its figures
            write_summary(records, out, seeds, time.perf_counter() - t0, args, _cpu(records))
        wall = time.perf_counter() - t0
        verdicts = write_summary(records, out, seeds, wall, args, _cpu(records))
    if args.robustness:
        write_robustness(held_out(records))
    for kind, ok, fig in verdicts:
        print(f"{'MET ' if ok else 'MISS'} {kind}: {fig}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
