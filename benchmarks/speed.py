"""CPU training-speed targets (issue 11): default CNN, MLP, narrow ResNet-18, data and memory.

Measures, with ``torch.set_num_threads(--threads)`` (2 by default):

* shapes-2000 (32x32 RGB) + default CNN and recipe: >= 95% test accuracy within 20 s;
* digits upscaled to 28x28 + default CNN: >= 98% within 15 s;
* digits (8x8) + MLP: >= 96% within 3 s;
* today's CNN before issue 11 (defined below), same data, its own recipe: the ratio;
* narrow ResNet-18 (width 8 and 16, stem stride 2) with the default resnet18 recipe;
* ``load_dataset("shapes", n_train=50000)`` within 10 s, and the peak memory of a process
  holding shapes-50k plus three CNN models (one trained an epoch on it, all three evaluated):
  < 4 GB (both in a fresh subprocess);
* a comparison (retrain + SCRUB, SalUn, SSD, LRP; class 3 forgotten) on 4 000 MNIST-sized
  images (1x28x28, 10 classes) with the default CNN within 120 s. The images are
  scikit-learn's digits upscaled to 28x28 (``digits_shifted``): each of the 4 000 training
  images is a training digit (drawn with replacement) moved by a random shift of up to 3
  pixels in each direction; the test set is the untouched test digits. The original's
  training is timed apart; ``--comparison-only`` runs this case alone and updates its rows in
  ``speed.md`` (the training rows stay).

Every run reports wall seconds around ``train`` and the process CPU seconds it used. Unless
``OMP_WAIT_POLICY`` is set (or ``--omp-active`` given), the script sets it to ``PASSIVE``:
torch's OpenMP threads then sleep instead of spinning while they wait. On a quiet machine that
changes little; on one shared with other busy processes, spinning threads wait for each other
and a 2-thread run took 3-10x the CPU time of a 1-thread one (measured here: the digits MLP
28 s CPU instead of 2.7 s). Writes ``benchmarks/results/speed.md`` and ``.csv``.

    python benchmarks/speed.py [--seeds 0 1 2] [--threads 2] [--quick] [--comparison-only]
"""

# ruff: noqa: E402  (the OpenMP policy must be set before torch is imported)
from __future__ import annotations

import os
import sys

if "--omp-active" not in sys.argv:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import csv
import json
import platform
import resource
import statistics
import subprocess
import time
from pathlib import Path

import torch
from torch import nn

from unlearn_core.data import load_dataset
from unlearn_core.models import NARROW_RESNET, build_model
from unlearn_core.training import TrainConfig, default_recipe, evaluate, train

OUT = Path(__file__).parent / "results"

TARGETS = {  # name: (dataset kwargs, arch, min accuracy %, max seconds)
    "shapes-2000 + CNN": ({"name": "shapes", "n_train": 2000}, "cnn", 95.0, 20.0),
    "digits 28x28 + CNN": ({"name": "digits", "size": 28}, "cnn", 98.0, 15.0),
    "digits 8x8 + MLP": ({"name": "digits"}, "mlp", 96.0, 3.0),
}
SHAPES_50K_SECONDS = 10.0
COMPARISON_SECONDS = 120.0
COMPARISON_METHODS = ["scrub", "salun", "ssd", "lrp"]
COMPARISON_N = 4000
PEAK_MEMORY_GB = 4.0


class OldCNN(nn.Module):
    """The default CNN before issue 11: Conv32-ReLU-Conv64-ReLU-MaxPool-FC128-ReLU -> head,
    both 3x3 convs at full resolution (trained with its recipe, :data:`OLD_RECIPE`)."""

    def __init__(self, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        c, h, w = input_shape
        self.body = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (h // 2) * (w // 2), 128),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


OLD_RECIPE = TrainConfig(epochs=15, batch_size=64, lr=1e-3, optimizer="adam")


def _load(spec: dict):
    kw = dict(spec)
    return load_dataset(kw.pop("name"), **kw)


def timed_run(label: str, data, make_model, cfg: TrainConfig, seed: int) -> dict:
    """Build a model (seeded), train it on ``data`` and time ``train`` alone."""
    torch.manual_seed(seed)
    model = make_model()
    t0, c0 = time.perf_counter(), time.process_time()
    train(model, data.x_train, data.y_train, cfg, seed=seed, device="cpu")
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    row = {
        "run": label,
        "dataset": data.name,
        "input_shape": "x".join(map(str, data.input_shape)),
        "n_train": data.n_train,
        "seed": seed,
        "epochs": cfg.epochs,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "samples_per_s": round(cfg.epochs * data.n_train / wall, 1),
        "test_acc": round(evaluate(model, data.x_test, data.y_test), 2),
        "load_avg": round(os.getloadavg()[0], 2),
    }
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def memory_probe() -> dict:
    """Run in a fresh process: shapes-50k load time, then peak RSS with three CNN models."""
    torch.set_num_threads(int(os.environ.get("SPEED_THREADS", "2")))
    t0, c0 = time.perf_counter(), time.process_time()
    data = load_dataset("shapes", n_train=50000, n_test=10000)
    load_s, load_cpu = time.perf_counter() - t0, time.process_time() - c0
    from unlearn_core.training import predict_features, predict_logits

    models = [build_model("cnn", data.input_shape, data.num_classes) for _ in range(3)]
    cfg = TrainConfig(**{**default_recipe("cnn").to_dict(), "epochs": 1})
    t0 = time.perf_counter()
    train(models[0], data.x_train, data.y_train, cfg, seed=0, device="cpu")
    epoch_s = time.perf_counter() - t0
    for m in models:
        predict_logits(m, data.x_train)
        predict_logits(m, data.x_test)
        predict_features(m, data.x_train)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return {
        "load_seconds": round(load_s, 2),
        "load_cpu_seconds": round(load_cpu, 2),
        "epoch_50k_seconds": round(epoch_s, 2),
        "peak_rss_gb": round(peak_kb / 2**20, 3),
    }


def _probe_in_subprocess(threads: int) -> dict:
    env = {**os.environ, "SPEED_THREADS": str(threads)}
    out = subprocess.run(
        [sys.executable, __file__, "--memory-probe"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def digits_shifted(n_train: int = COMPARISON_N, max_shift: int = 3, seed: int = 0):
    """``n_train`` MNIST-sized (1x28x28) images: training digits upscaled to 28x28, drawn
    with replacement and shifted by up to ``max_shift`` pixels (zeros move in); the test set
    is the digits' own test split, unshifted."""
    from unlearn_core.data import Dataset

    base = load_dataset("digits", size=28)
    g = torch.Generator().manual_seed(seed)
    pick = torch.randint(0, base.n_train, (n_train,), generator=g)
    shifts = torch.randint(-max_shift, max_shift + 1, (n_train, 2), generator=g)
    pad = max_shift
    padded = torch.nn.functional.pad(base.x_train[pick], (pad, pad, pad, pad))
    x = torch.empty(n_train, 1, 28, 28)
    for i, (dy, dx) in enumerate(shifts.tolist()):
        x[i] = padded[i, :, pad + dy : pad + dy + 28, pad + dx : pad + dx + 28]
    return Dataset(
        name="digits_shifted",
        x_train=x,
        y_train=base.y_train[pick],
        x_test=base.x_test,
        y_test=base.y_test,
        classes=base.classes,
        kind="image",
        meta={"source": "digits 28x28, random shifts", "max_shift": max_shift, "seed": seed},
    )


def comparison_case(seed: int = 0) -> dict:
    """Train the default CNN on :func:`digits_shifted`, then time ``compare`` (retrain + the
    four methods, class 3 forgotten); per-method seconds are the pipeline's own."""
    from unlearn_core.experiment import compare
    from unlearn_core.forget import ForgetRequest
    from unlearn_core.training import train_new_model

    data = digits_shifted(seed=seed)
    recipe = default_recipe("cnn")
    t0 = time.perf_counter()
    model, _ = train_new_model(data, "cnn", recipe, seed=seed, device="cpu")
    train_s = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    comp = compare(
        data,
        model,
        recipe,
        ForgetRequest(classes=(3,)),
        COMPARISON_METHODS,
        seed=seed,
        device="cpu",
        keep_models=False,
    )
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    methods = [
        {
            "method": r.method,
            "seconds": round(r.seconds or 0.0, 2),
            "setup_seconds": round(r.setup_seconds, 2),
            **{k: _round(r.number(k)) for k in ("forget_acc", "retain_acc", "test_acc")},
            "error": r.error,
        }
        for r in comp.results
    ]
    own = sum(m["seconds"] + m["setup_seconds"] for m in methods)
    return {
        "n_train": data.n_train,
        "n_test": data.n_test,
        "train_seconds": round(train_s, 2),
        "original_test_acc": round(evaluate(model, data.x_test, data.y_test), 2),
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "scoring_seconds": round(wall - own, 2),
        "methods": methods,
        "load_avg": round(os.getloadavg()[0], 2),
    }


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def comparison_summary(c: dict) -> dict:
    return {
        "target": "comparison (retrain + SCRUB, SalUn, SSD, LRP) on 4 000 MNIST-sized images, CNN",
        "goal": f"<= {COMPARISON_SECONDS:g} s",
        "measured": f"{c['seconds']:.1f} s wall, {c['cpu_seconds']:.1f} s CPU (original trained "
        f"apart in {c['train_seconds']:.1f} s)",
        "met": c["seconds"] <= COMPARISON_SECONDS,
        "met_on_cpu_time": c["cpu_seconds"] <= COMPARISON_SECONDS,
    }


def comparison_lines(c: dict) -> list[str]:
    lines = [
        COMPARISON_HEADING,
        "",
        f"`digits_shifted`: {c['n_train']} train images (digits upscaled to 28x28, random shifts "
        f"of up to 3 px), {c['n_test']} test; default CNN and recipe, original trained in "
        f"{c['train_seconds']} s ({c['original_test_acc']}% test). Class 3 forgotten. Whole "
        f"comparison {c['seconds']} s wall, {c['cpu_seconds']} s CPU; scoring (accuracies, MIA, "
        f"loss AUC of every model) {c['scoring_seconds']} s of it. Load average at the end "
        f"{c['load_avg']} (2 shared cores; other sessions' jobs ran alongside).",
        "",
        "| method | seconds | setup s | forget acc % | retain acc % | test acc % | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in c["methods"]:
        lines.append(
            f"| {m['method']} | {m['seconds']} | {m['setup_seconds']} | {m['forget_acc']} | "
            f"{m['retain_acc']} | {m['test_acc']} | {m['error'] or ''} |"
        )
    return lines


COMPARISON_HEADING = "## Comparison on 4 000 MNIST-sized images"


def update_comparison(c: dict, out: Path) -> None:
    """Put the comparison's summary row and section into an existing ``speed.md``."""
    path = out / "speed.md"
    text = path.read_text().split("\n" + COMPARISON_HEADING)[0].rstrip("\n")
    row = comparison_summary(c)
    line = (
        f"| {row['target']} | {row['goal']} | {row['measured']} | "
        f"{'yes' if row['met'] else 'NO'} | {'yes' if row['met_on_cpu_time'] else 'NO'} |"
    )
    lines = [ln for ln in text.split("\n") if not ln.startswith(f"| {row['target']} |")]
    at = lines.index("## Every run") - 1  # the blank line after the summary table
    lines.insert(at, line)
    path.write_text("\n".join(lines + [""] + comparison_lines(c)) + "\n")


def _median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def run(seeds: list[int], threads: int, quick: bool) -> dict:
    torch.set_num_threads(threads)
    load_start = os.getloadavg()
    # torch's one-off start-up (thread pools, oneDNN kernel generation): paid here, reported
    shapes = _load(TARGETS["shapes-2000 + CNN"][0])
    t0 = time.perf_counter()
    warm = TrainConfig(**{**default_recipe("cnn").to_dict(), "epochs": 1})
    train(build_model("cnn", shapes.input_shape, 10), shapes.x_train, shapes.y_train, warm)
    cold_start = time.perf_counter() - t0
    rows: list[dict] = []
    summary: list[dict] = []
    for name, (spec, arch, min_acc, max_s) in TARGETS.items():
        data = _load(spec)
        got = [
            timed_run(
                name,
                data,
                lambda d=data, a=arch: build_model(a, d.input_shape, d.num_classes),
                default_recipe(arch),
                seed,
            )
            for seed in seeds
        ]
        rows += got
        acc_min = min(r["test_acc"] for r in got)
        wall, cpu = _median(got, "seconds"), _median(got, "cpu_seconds")
        summary.append(
            {
                "target": name,
                "goal": f">= {min_acc:g}% in <= {max_s:g} s",
                "measured": f"min acc {acc_min:.2f}%; median {wall:.1f} s wall, {cpu:.1f} s CPU"
                f" (max {max(r['seconds'] for r in got):.1f} s wall)",
                "met": acc_min >= min_acc and wall <= max_s,
                "met_on_cpu_time": acc_min >= min_acc and cpu <= max_s,
            }
        )
    # today's CNN, same data, its own recipe; and the new one's rows above
    new_rows = [r for r in rows if r["run"] == "shapes-2000 + CNN"]
    if not quick:
        old = timed_run(
            "shapes-2000 + CNN before issue 11",
            shapes,
            lambda: OldCNN(shapes.input_shape, 10),
            OLD_RECIPE,
            seeds[0],
        )
        rows.append(old)
        speed = _median(new_rows, "samples_per_s") / old["samples_per_s"]
        summary.append(
            {
                "target": "default CNN vs the CNN before issue 11 (shapes-2000)",
                "goal": "faster (information)",
                "measured": f"{speed:.1f}x samples/s; time to train {old['seconds']:.1f} s "
                f"-> {_median(new_rows, 'seconds'):.1f} s "
                f"({old['seconds'] / _median(new_rows, 'seconds'):.1f}x); accuracy "
                f"{old['test_acc']:.1f}% -> {_median(new_rows, 'test_acc'):.1f}%",
                "met": speed > 1.0,
                "met_on_cpu_time": old["cpu_seconds"] > _median(new_rows, "cpu_seconds"),
            }
        )
    for width in (8,) if quick else (8, 16):
        kw = {**NARROW_RESNET, "width": width}
        r = timed_run(
            f"shapes-2000 + resnet18 width {width} stem stride 2",
            shapes,
            lambda kw=kw: build_model("resnet18", shapes.input_shape, 10, **kw),
            default_recipe("resnet18"),
            seeds[0],
        )
        rows.append(r)
        summary.append(
            {
                "target": f"narrow ResNet-18 (width {width}, stem stride 2), shapes-2000",
                "goal": "trains in reasonable CPU time (information)",
                "measured": f"{r['test_acc']:.1f}% in {r['seconds']:.1f} s wall, "
                f"{r['cpu_seconds']:.1f} s CPU",
                "met": r["test_acc"] >= 95.0,
                "met_on_cpu_time": r["test_acc"] >= 95.0,
            }
        )
    probe = _probe_in_subprocess(threads)
    summary.append(
        {
            "target": "load_dataset('shapes', n_train=50000)",
            "goal": f"<= {SHAPES_50K_SECONDS:g} s",
            "measured": f"{probe['load_seconds']:.1f} s wall, {probe['load_cpu_seconds']:.1f} s "
            "CPU (fresh process)",
            "met": probe["load_seconds"] <= SHAPES_50K_SECONDS,
            "met_on_cpu_time": probe["load_cpu_seconds"] <= SHAPES_50K_SECONDS,
        }
    )
    summary.append(
        {
            "target": "peak memory: shapes-50k (+10k test) and three CNN models",
            "goal": f"< {PEAK_MEMORY_GB:g} GB",
            "measured": f"{probe['peak_rss_gb']:.2f} GB peak RSS (one model trained an epoch on "
            f"the 50k in {probe['epoch_50k_seconds']:.1f} s, all three evaluated)",
            "met": probe["peak_rss_gb"] < PEAK_MEMORY_GB,
            "met_on_cpu_time": probe["peak_rss_gb"] < PEAK_MEMORY_GB,
        }
    )
    comparison = comparison_case(seeds[0])
    summary.append(comparison_summary(comparison))
    env = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: active)"),
        "seeds": seeds,
        "cold_start_seconds": round(cold_start, 2),
        "load_avg_start": [round(v, 2) for v in load_start],
        "load_avg_end": [round(v, 2) for v in os.getloadavg()],
    }
    return {"summary": summary, "rows": rows, "env": env, "comparison": comparison}


def write(result: dict, out: Path, note: str = "") -> None:
    out.mkdir(parents=True, exist_ok=True)
    rows = result["rows"]
    with (out / "speed.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    env = result["env"]
    lines = [
        "# CPU training speed (issue 11)",
        "",
        "Written by `python benchmarks/speed.py`. "
        f"torch {env['torch']}, Python {env['python']}, {env['cpu_count']} CPU cores, "
        f"{env['threads']} torch threads, OMP_WAIT_POLICY {env['omp_wait_policy']}, seeds "
        f"{env['seeds']}. Load average (1/5/15 min) "
        f"{env['load_avg_start']} at the start, {env['load_avg_end']} at the end; torch's "
        f"cold start (first training in the process) {env['cold_start_seconds']} s, not counted.",
        "",
    ]
    if note:
        lines += [note, ""]
    lines += [
        "| target | goal | measured | met (wall) | met (CPU time) |",
        "|---|---|---|---|---|",
    ]
    for s in result["summary"]:
        lines.append(
            f"| {s['target']} | {s['goal']} | {s['measured']} | "
            f"{'yes' if s['met'] else 'NO'} | {'yes' if s['met_on_cpu_time'] else 'NO'} |"
        )
    lines += [
        "",
        "## Every run",
        "",
        "| run | input | n train | seed | epochs | wall s | CPU s | samples/s | test acc % "
        "| load avg |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['run']} | {r['input_shape']} | {r['n_train']} | {r['seed']} | {r['epochs']} "
            f"| {r['seconds']} | {r['cpu_seconds']} | {r['samples_per_s']} | {r['test_acc']} "
            f"| {r['load_avg']} |"
        )
    if result.get("comparison"):
        lines += ["", *comparison_lines(result["comparison"])]
    (out / "speed.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="skip the old CNN and ResNet width 16")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--note", default="", help="a paragraph for the report (e.g. machine load)")
    ap.add_argument("--omp-active", action="store_true", help="leave OpenMP threads spinning")
    ap.add_argument("--memory-probe", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument(
        "--comparison-only", action="store_true", help="run the 4 000-image comparison alone"
    )
    args = ap.parse_args(argv)
    if args.memory_probe:
        print(json.dumps(memory_probe()))
        return 0
    if args.comparison_only:
        torch.set_num_threads(args.threads)
        c = comparison_case(args.seeds[0])
        print(json.dumps(c, indent=1))
        update_comparison(c, args.out)
        return 0
    result = run(args.seeds, args.threads, args.quick)
    write(result, args.out, args.note)
    for s in result["summary"]:
        flag = "met" if s["met"] else ("met on CPU time" if s["met_on_cpu_time"] else "MISSED")
        print(f"{flag:>16}: {s['target']}: {s['measured']} (goal {s['goal']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
