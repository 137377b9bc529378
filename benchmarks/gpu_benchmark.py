"""GPU benchmark (issue 11): ResNet-18 training time and every method's time against retrain.

On one GPU (written for an H100): ResNet-18 (width 64) with ``default_recipe("resnet18")`` on
procedural shapes-50k, or on CIFAR-10 when ``--cifar`` names a folder of the *binary* batches.
Reports torch's one-off warm-up (cuDNN autotuning, ``torch.compile`` when asked) apart from
the timed training, the test accuracy against the target (<= 30 s at >= 90%), then runs
every registered method (``unlearn_core.methods.list_methods()``, with the defaults and
architecture presets in force at run time) through ``unlearn_core.experiment.compare`` and
prints each one's seconds and time ratio to retrain.

    python benchmarks/gpu_benchmark.py [--cifar DIR] [--compile] [--forget-class 3]
    python benchmarks/gpu_benchmark.py --small      # tiny sizes: a smoke test, CPU is fine

Writes ``<out>/gpu_benchmark.json`` and ``.md`` (``--out``, default ``benchmarks/results``;
nothing is written with ``--small`` unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from unlearn_core.data import load_dataset, load_file
from unlearn_core.experiment import compare
from unlearn_core.forget import ForgetRequest
from unlearn_core.methods import list_methods
from unlearn_core.models import NARROW_RESNET
from unlearn_core.runtime.device import pick_device, timer
from unlearn_core.runtime.progress import no_progress
from unlearn_core.training import default_recipe, evaluate, train_new_model

OUT = Path(__file__).parent / "results"
TARGET_SECONDS = 30.0
TARGET_ACC = 90.0


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        return f"{p.name} ({p.total_memory / 2**30:.0f} GiB)"
    cpu = platform.processor() or platform.machine()
    return f"{dev.type} ({cpu}, {torch.get_num_threads()} threads)"


def load_data(args):
    if args.cifar:
        return load_file(args.cifar, "cifar")
    if args.small:
        return load_dataset("shapes", n_train=400, n_test=100, size=16, seed=args.seed)
    return load_dataset("shapes", n_train=50000, n_test=10000, seed=args.seed)


def run(args) -> dict:
    dev = pick_device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    t0 = time.perf_counter()
    data = load_data(args)
    load_s = time.perf_counter() - t0
    recipe = default_recipe("resnet18")
    if args.compile:
        recipe = replace(recipe, compile=True)
    if args.epochs:
        recipe = replace(recipe, epochs=args.epochs)
    kwargs = {**NARROW_RESNET, "width": 4} if args.small else {}
    if args.small:
        recipe = replace(recipe, epochs=args.epochs or 2)
    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    say(
        f"device {device_name(dev)}; {data.name}: {data.n_train} train, {data.n_test} test, "
        f"{data.input_shape}; data in {load_s:.1f} s"
    )

    # one-off costs (CUDA context, cuDNN autotuning, compilation) on a short run, reported apart
    n_warm = min(data.n_train, max(10 * recipe.batch_size, 1000))
    with timer(dev) as warm:
        train_new_model(
            data,
            "resnet18",
            replace(recipe, epochs=1),
            seed=args.seed,
            device=dev,
            model_kwargs=kwargs,
            indices=torch.arange(n_warm),
        )
    say(f"warm-up ({n_warm} samples, 1 epoch): {warm['seconds']:.1f} s")

    with timer(dev) as t:
        model, hist = train_new_model(
            data, "resnet18", recipe, seed=args.seed, device=dev, model_kwargs=kwargs
        )
    with timer(dev) as te:
        acc = evaluate(model, data.x_test, data.y_test)
    say(f"training: {t['seconds']:.1f} s, test {acc:.2f}% (evaluation {te['seconds']:.2f} s)")
    training = {
        "seconds": round(t["seconds"], 2),
        "warmup_seconds": round(warm["seconds"], 2),
        "eval_seconds": round(te["seconds"], 3),
        "test_acc": round(acc, 2),
        "train_acc_last_epoch": round(hist.accuracy[-1], 2),
        "samples_per_s": round(recipe.epochs * data.n_train / t["seconds"], 1),
        "met": t["seconds"] <= TARGET_SECONDS and acc >= TARGET_ACC,
    }

    names = args.methods.split(",") if args.methods else [m.name for m in list_methods()]
    if args.forget_fraction:
        request = ForgetRequest(fraction=args.forget_fraction, seed=args.seed)
    else:
        request = ForgetRequest(classes=(args.forget_class,), seed=args.seed)
    t0 = time.perf_counter()
    comp = compare(
        data,
        model,
        recipe,
        request,
        names,
        seed=args.seed,
        device=dev,
        keep_models=False,
        progress=(lambda f, m: say(f"  {100 * f:5.1f}% {m}")) if args.verbose else no_progress,
    )
    compare_s = time.perf_counter() - t0
    methods = []
    for r in [comp.original, *comp.results]:
        row = r.row()
        row["params"] = r.params
        methods.append(row)
    return {
        "device": device_name(dev),
        "torch": torch.__version__,
        "dataset": {"name": data.name, "n_train": data.n_train, "n_test": data.n_test},
        "model": {"arch": "resnet18", **model.spec["kwargs"]},
        "recipe": recipe.to_dict(),
        "data_seconds": round(load_s, 2),
        "training": training,
        "target": f"<= {TARGET_SECONDS:g} s at >= {TARGET_ACC:g}% test accuracy",
        "forget": comp.forget,
        "compare_seconds": round(compare_s, 1),
        "methods": methods,
    }


def _fmt(v, digits: int = 2) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def report(res: dict) -> str:
    tr = res["training"]
    lines = [
        "# GPU benchmark: ResNet-18 and every method against retrain",
        "",
        f"Device: {res['device']}, torch {res['torch']}. Data: {res['dataset']['name']} "
        f"({res['dataset']['n_train']} train, {res['dataset']['n_test']} test), loaded in "
        f"{res['data_seconds']} s. Model: {res['model']}. Recipe: {res['recipe']}.",
        "",
        f"Training: **{tr['seconds']} s**, test accuracy **{tr['test_acc']}%** "
        f"({tr['samples_per_s']} samples/s; warm-up {tr['warmup_seconds']} s apart). Target "
        f"{res['target']}: {'met' if tr['met'] else 'NOT met'}.",
        "",
        f"Forget request: {res['forget'].get('description')} ({res['forget'].get('n_forget')} "
        f"samples); the whole comparison took {res['compare_seconds']} s.",
        "",
        "| method | seconds | time ratio | forget acc | retain acc | test acc | MIA | avg gap "
        "| error |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in res["methods"]:
        lines.append(
            f"| {m['method']} | {_fmt(m['seconds'])} | {_fmt(m['time_ratio'], 3)} "
            f"| {_fmt(m['forget_acc'])} | {_fmt(m['retain_acc'])} | {_fmt(m['test_acc'])} "
            f"| {_fmt(m['mia'])} | {_fmt(m['avg_gap'])} | {m['error'] or ''} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cifar", type=Path, help="folder of CIFAR-10 binary batches")
    ap.add_argument("--small", action="store_true", help="tiny data and model (smoke test)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the training model")
    ap.add_argument("--epochs", type=int, default=0, help="override the recipe's epochs")
    ap.add_argument("--methods", default="", help="comma-separated (default: all registered)")
    ap.add_argument("--forget-class", type=int, default=3)
    ap.add_argument("--forget-fraction", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default=None, help="cuda, cpu, ... (default: pick_device())")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--verbose", action="store_true", help="print the comparison's progress")
    args = ap.parse_args(argv)
    res = run(args)
    text = report(res)
    print(text)
    out = args.out or (None if args.small else OUT)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "gpu_benchmark.json").write_text(json.dumps(res, indent=2))
        (out / "gpu_benchmark.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
