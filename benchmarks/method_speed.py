"""Where an approximate method's time goes against retraining, and what a speed fix changed.

Per cell (the benchmark matrix's cells), one original (seed 0) and a class-wise request (class
3). For each torch thread count asked for, retrain and every method run ``--reps`` times in
turn (retrain, a, b, ..., retrain, a, b, ...) so load on a shared machine hits all of them
alike; the table gives median seconds and median time ratio (seconds / retrain's median).
``--before REV`` also times each method whose module differs between REV and the working tree
with the module as it was at REV (loaded from git beside the current one), in the same loop:
the before/after figures of a speed fix, measured in one run.

    python benchmarks/method_speed.py [--cells digits_cnn,shapes2000_cnn] [--threads 1 2]
        [--reps 3] [--methods scrub,salun] [--before HEAD~1] [--out FILE]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import unlearn_core.methods.base as base
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import REGISTRY, list_methods
from unlearn_core.methods.base import Method, UnlearnTask, run_method
from unlearn_core.runtime.progress import no_progress
from unlearn_core.training import default_recipe, train_new_model

sys.path.insert(0, str(Path(__file__).parent))
from run_benchmark import resolve_cell  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "results" / "method_speed.md"


@dataclass
class Timing:
    """Seconds of one method (or its earlier version) over the repetitions."""

    label: str
    seconds: list[float] = field(default_factory=list)
    #: CPU time of the process over the same runs (hardly moved by other work on the machine)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)


def before_methods(rev: str, names: list[str]) -> dict[str, Method]:
    """name -> the method as its module was at ``rev``, for the modules that changed since."""
    out: dict[str, Method] = {}
    changed = subprocess.run(
        ["git", "diff", "--name-only", rev, "--", "unlearn_core/methods/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    register = base.register
    found: dict[str, type[Method]] = {}

    def collect(cls: type[Method]) -> type[Method]:
        found[cls.spec.name] = cls
        return cls

    base.register = collect  # the old module's classes are collected, not registered
    try:
        for path in changed:
            if not path.endswith(".py") or Path(path).name in ("base.py", "__init__.py"):
                continue
            src = subprocess.run(
                ["git", "show", f"{rev}:{path}"], cwd=ROOT, capture_output=True, text=True
            )
            if src.returncode != 0:  # a file new since rev
                continue
            name = f"unlearn_core.methods._before_{Path(path).stem}"
            spec = importlib.util.spec_from_loader(name, loader=None)
            mod = importlib.util.module_from_spec(spec)
            mod.__package__ = "unlearn_core.methods"
            exec(compile(src.stdout, f"{rev}:{path}", "exec"), mod.__dict__)  # noqa: S102
    finally:
        base.register = register
    for name, cls in found.items():
        if name in names:
            out[name] = cls()
    return out


def time_old(method: Method, name: str, model, task: UnlearnTask, seed: int) -> float:
    """Seconds of ``method`` (an earlier version) run as ``run_method`` runs the current one."""
    cfg = REGISTRY[name].spec.resolve(None, arch=base.model_arch(model))
    work = base.clone_model(model)
    base.seed_everything(seed)
    t0 = time.perf_counter()
    out = method.unlearn(work, task, cfg, seed=seed, progress=no_progress)
    return time.perf_counter() - t0 - out.setup_seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", default="digits_cnn,shapes2000_cnn")
    ap.add_argument("--threads", type=int, nargs="+", default=[1])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--methods", help="comma-separated (default: every approximate method)")
    ap.add_argument("--before", help="a git revision: also time changed methods as they were")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    names = (
        args.methods.split(",")
        if args.methods
        else [s.name for s in list_methods() if s.family == "approximate"]
    )
    old = before_methods(args.before, names) if args.before else {}
    lines = [
        "# Method time against retraining",
        "",
        f"`python benchmarks/method_speed.py {' '.join(sys.argv[1:])}` on "
        f"{platform.machine()} ({time.strftime('%Y-%m-%d %H:%M')} UTC), a 2-core machine "
        "shared with other work: medians over the repetitions, each round running retrain and "
        "every method in turn. Class-wise request (class 3), default presets, seed 0. CPU time "
        "(the process's, all threads) is the steadier measure on a loaded machine; with 2 "
        "threads it includes the time a thread spins waiting for the other."
        + (f" `@{args.before}`: the method's module as it was at {args.before}." if old else ""),
    ]
    for cell_name in args.cells.split(","):
        cell = resolve_cell(cell_name)
        data = cell.load()
        torch.set_num_threads(1)
        model, _ = train_new_model(
            data, cell.arch, default_recipe(cell.arch), seed=0, model_kwargs=cell.model_kwargs
        )
        split = make_split(data, ForgetRequest(classes=(3,), seed=0))
        task = UnlearnTask(data=data, split=split, train_config=default_recipe(cell.arch))
        for threads in args.threads:
            torch.set_num_threads(threads)
            rows = {n: Timing(n) for n in ["retrain", *names]}
            rows |= {f"{n}@before": Timing(f"{n}@{args.before}") for n in old}
            for rep in range(args.reps):
                for key, row in rows.items():
                    name = key.removesuffix("@before")
                    c0 = time.process_time()
                    if key.endswith("@before"):
                        row.seconds.append(time_old(old[name], name, model, task, rep))
                    else:
                        row.seconds.append(run_method(name, model, task, seed=rep).seconds)
                    row.cpu.append(time.process_time() - c0)
                print(f"{cell.name}, {threads} thread(s): round {rep + 1} done", file=sys.stderr)
            ref, cref = rows["retrain"].median, rows["retrain"].cpu_median
            lines += [
                "",
                f"## {cell.title}, {threads} torch thread(s)",
                "",
                "| method | median wall s | runs, wall s | ratio (wall) | median CPU s | "
                "ratio (CPU) |",
                "|---|---|---|---|---|---|",
            ]
            for row in rows.values():
                runs = ", ".join(f"{s:.2f}" for s in row.seconds)
                lines.append(
                    f"| {row.label} | {row.median:.2f} | {runs} | {100 * row.median / ref:.0f}% | "
                    f"{row.cpu_median:.2f} | {100 * row.cpu_median / cref:.0f}% |"
                )
            args.out.write_text("\n".join(lines) + "\n")  # after every block
            print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
