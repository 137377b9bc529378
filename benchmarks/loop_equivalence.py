"""The shared training loop (``unlearn_core/methods/loop.py``) computes what the methods' own
loops computed: same weights, same metrics.

For each migrated method, cell (digits MLP, digits 8x8 CNN, moons MLP), forget request (one
class, random 10%; moons: random only) and seed, the method runs from the same original model
with the library at ``--base`` (a checkout of the commit before the loop, e.g. ``git worktree
add /tmp/loop_base <commit>``) and at ``--new`` (default: this checkout), each in a subprocess
whose ``PYTHONPATH`` points at that checkout. Both runs use the architecture's preset (the
matrix's parameters). The parent scores both models with one scorer (``--new``'s) and reports
the largest absolute weight difference (parameters and buffers), the largest metric
difference, and whether the method's log is the same (the loop's new entries aside).

    python benchmarks/loop_equivalence.py --base /tmp/loop_base [--new .] [--seeds 0 1]
        [--out benchmarks/results/loop_equivalence.md]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("neggrad", "neggrad_plus", "random_labels", "salun", "l1_sparse", "scrub")
#: cell -> (dataset, dataset kwargs, arch, class-wise request too)
CELLS = {
    "digits_mlp": ("digits", {}, "mlp", True),
    "digits_cnn": ("digits", {}, "cnn", True),
    "moons_mlp": ("moons", {}, "mlp", False),
}
FORGET_CLASS = 3
#: log entries the shared loop adds to every training method's log
LOOP_KEYS = {"steps", "diverged", "divergence", "notes"}
#: metric keys compared (numbers; the confusion matrix and per-class lists are compared too)
TOLERANCE = 1e-6


def requests(cell: str) -> dict[str, dict]:
    out = {}
    if CELLS[cell][3]:
        out[f"class {FORGET_CLASS}"] = {"classes": [FORGET_CLASS]}
    out["random 10%"] = {"fraction": 0.1}
    return out


# ----------------------------------------------------------------------------- worker
def worker(job_path: str) -> None:
    """Run every method on every request of one (cell, seed) with the library on
    ``PYTHONPATH``; save weights, logs and times next to the job file."""
    import unlearn_core
    from unlearn_core.data import load_dataset
    from unlearn_core.forget import ForgetRequest, make_split
    from unlearn_core.methods import UnlearnTask, run_method
    from unlearn_core.models import build_model

    torch.set_num_threads(1)
    job = json.loads(Path(job_path).read_text())
    data = load_dataset(job["dataset"], **job["dataset_kwargs"])
    original = torch.load(job["original"], weights_only=False)
    model = build_model(job["arch"], data.input_shape, data.num_classes)
    model.load_state_dict(original["state"])
    model.spec = original["spec"]
    model.eval()
    out: dict = {"library": str(Path(unlearn_core.__file__).resolve().parent), "runs": {}}
    for name, req in job["requests"].items():
        request = ForgetRequest(**{k: tuple(v) if k == "classes" else v for k, v in req.items()})
        split = make_split(data, request)
        task = UnlearnTask(data, split, original["recipe"], device=torch.device("cpu"))
        for method in job["methods"]:
            res = run_method(method, model, task, {}, seed=job["seed"])
            out["runs"][f"{method}|{name}"] = {
                "state": {k: v.detach().clone() for k, v in res.model.state_dict().items()},
                "log": json.loads(json.dumps(res.log, default=str)),
                "params": res.params,
                "seconds": res.seconds,
                "forget_idx": split.forget_idx.tolist(),
            }
    torch.save(out, job["result"])


def run_worker(library: Path, job: dict, tmp: Path, tag: str) -> dict:
    job = {**job, "result": str(tmp / f"{tag}.pt")}
    job_path = tmp / f"{tag}.json"
    job_path.write_text(json.dumps(job))
    env = {**os.environ, "PYTHONPATH": str(library), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(job_path)],
        check=True,
        env=env,
        cwd=tmp,
    )
    return torch.load(job["result"], weights_only=False)


# ----------------------------------------------------------------------------- comparison
def max_weight_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    worst = 0.0
    for k in a:
        x, y = a[k], b[k]
        if not x.is_floating_point():
            worst = max(worst, 0.0 if torch.equal(x, y) else math.inf)
            continue
        both_nan = torch.isnan(x) & torch.isnan(y)
        d = (x.double() - y.double()).abs()
        d = torch.where(both_nan, torch.zeros_like(d), d)
        worst = max(worst, float(torch.nan_to_num(d, nan=math.inf).max()) if d.numel() else 0.0)
    return worst


def flat_numbers(d, prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(flat_numbers(v, f"{prefix}{k}."))
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            out.update(flat_numbers(v, f"{prefix}{i}."))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix.rstrip(".")] = float(d)
    return out


def max_metric_diff(a: dict, b: dict) -> tuple[float, str]:
    fa, fb = flat_numbers(a), flat_numbers(b)
    worst, where = 0.0, ""
    for k in sorted(set(fa) | set(fb)):
        x, y = fa.get(k, math.nan), fb.get(k, math.nan)
        if math.isnan(x) and math.isnan(y):
            continue
        d = abs(x - y) if math.isfinite(x) and math.isfinite(y) else math.inf
        if d > worst:
            worst, where = d, k
    return worst, where


def same_log(base: dict, new: dict) -> bool:
    """The method's own log entries are equal (the loop's new entries aside; NegGrad and
    NegGrad+ logged ``diverged`` before, and still must agree on it)."""
    keep = {k: v for k, v in new.items() if k not in LOOP_KEYS or k in base}
    return json.dumps(base, sort_keys=True) == json.dumps(keep, sort_keys=True)


def score(arch: str, data, split, state: dict, seed: int) -> dict:
    from unlearn_core.experiment import model_logits, score_model
    from unlearn_core.models import build_model

    model = build_model(arch, data.input_shape, data.num_classes)
    model.load_state_dict(state)
    model.eval()
    return score_model(model_logits(model, data, split), data, split, seed=seed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--base", type=Path, help="checkout of the commit before the shared loop")
    p.add_argument("--new", type=Path, default=ROOT, help="checkout with the shared loop")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--cells", default=",".join(CELLS))
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/loop_equivalence.md")
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if args.base is None:
        p.error("--base is required")
    sys.path.insert(0, str(args.new.resolve()))
    torch.set_num_threads(1)
    from unlearn_core.data import load_dataset
    from unlearn_core.forget import ForgetRequest, make_split
    from unlearn_core.training import default_recipe, train_new_model

    def commit(path: Path) -> str:
        r = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(path), "status", "--porcelain", "--", "unlearn_core"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return r.stdout.strip() + (" (unlearn_core with uncommitted changes)" if dirty else "")

    methods = args.methods.split(",")
    rows: list[dict] = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for cell in args.cells.split(","):
            dataset, kwargs, arch, _ = CELLS[cell]
            data = load_dataset(dataset, **kwargs)
            recipe = default_recipe(arch)
            for seed in args.seeds:
                model, _ = train_new_model(data, arch, recipe, seed=seed, device="cpu")
                orig = tmp / f"{cell}_{seed}_original.pt"
                torch.save(
                    {"state": model.state_dict(), "spec": model.spec, "recipe": recipe}, orig
                )
                job = {
                    "dataset": dataset,
                    "dataset_kwargs": kwargs,
                    "arch": arch,
                    "seed": seed,
                    "original": str(orig),
                    "requests": requests(cell),
                    "methods": methods,
                }
                base = run_worker(args.base.resolve(), job, tmp, f"{cell}_{seed}_base")
                new = run_worker(args.new.resolve(), job, tmp, f"{cell}_{seed}_new")
                assert base["library"] != new["library"], "both runs imported one library"
                for name, req in requests(cell).items():
                    request = ForgetRequest(
                        **{k: tuple(v) if k == "classes" else v for k, v in req.items()}
                    )
                    split = make_split(data, request)
                    for method in methods:
                        b, n = base["runs"][f"{method}|{name}"], new["runs"][f"{method}|{name}"]
                        assert b["forget_idx"] == n["forget_idx"] == split.forget_idx.tolist()
                        assert b["params"] == n["params"]
                        mb = score(arch, data, split, b["state"], seed)
                        mn = score(arch, data, split, n["state"], seed)
                        md, where = max_metric_diff(mb, mn)
                        rows.append(
                            {
                                "cell": cell,
                                "request": name,
                                "seed": seed,
                                "method": method,
                                "weights": max_weight_diff(b["state"], n["state"]),
                                "metrics": md,
                                "metric_key": where,
                                "log": same_log(b["log"], n["log"]),
                                "diverged": bool(n["log"].get("diverged")),
                                "base_s": b["seconds"],
                                "new_s": n["seconds"],
                            }
                        )
                        print(
                            f"{cell} {name} seed {seed} {method}: max |dW| "
                            f"{rows[-1]['weights']:.3g}, max |d metric| {md:.3g}, "
                            f"log {'same' if rows[-1]['log'] else 'DIFFERS'}",
                            file=sys.stderr,
                        )
    wall = time.perf_counter() - t0
    write_report(rows, args, commit(args.base), commit(args.new), wall)
    bad = [r for r in rows if r["weights"] > TOLERANCE or r["metrics"] > TOLERANCE or not r["log"]]
    return 1 if bad else 0


def write_report(rows: list[dict], args, base: str, new: str, wall: float) -> None:
    ok = all(r["weights"] <= TOLERANCE and r["metrics"] <= TOLERANCE and r["log"] for r in rows)
    exact = all(r["weights"] == 0 and r["metrics"] == 0 and r["log"] for r in rows)
    lines = [
        "# Shared training loop: equivalence with the methods' own loops",
        "",
        f"Base library {base}, new library {new}; seeds {args.seeds}; cells {args.cells}; "
        f"{len(rows)} runs per side; torch {torch.__version__}, {platform.machine()}, 1 thread; "
        f"{wall:.0f} s wall. Produced by `python benchmarks/loop_equivalence.py "
        f"{' '.join(args.argv)}` (base and new: git worktrees of those commits).",
        "",
        "Each row: the method at its preset for the architecture, from one original model per "
        "seed; max |dW| over every parameter and buffer, max |d metric| over every number "
        "`score_model` returns (accuracies, per-class accuracies, MIA, loss attack, confusion "
        "matrix), both models scored by the new library; log: the method's own log entries "
        "equal (the loop's new entries `steps`, `diverged`, `divergence`, `notes` aside).",
        "",
        "**Verdict: "
        + (
            "bit-identical in every run** (max |dW| = 0, every metric equal, every log equal)."
            if exact
            else (
                f"within {TOLERANCE:g} in every run.**"
                if ok
                else "differences above the tolerance; see the rows.**"
            )
        ),
        "",
        "| method | cell | request | seed | max abs dW | max abs d metric | log | "
        "seconds base / new |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["method"], r["cell"], r["request"], r["seed"])):
        metric = f"{r['metrics']:.3g}" + (f" ({r['metric_key']})" if r["metrics"] else "")
        lines.append(
            f"| {r['method']} | {r['cell']} | {r['request']} | {r['seed']} | "
            f"{r['weights']:.3g} | {metric} | {'same' if r['log'] else 'differs'}"
            f"{' (diverged)' if r['diverged'] else ''} | "
            f"{r['base_s']:.2f} / {r['new_s']:.2f} |"
        )
    lines += ["", "## Per method", "", "| method | runs | max abs dW | max abs d metric | "
              "logs equal | seconds base / new (sum) |", "|---|---|---|---|---|---|"]  # fmt: skip
    for m in dict.fromkeys(r["method"] for r in rows):
        rs = [r for r in rows if r["method"] == m]
        lines.append(
            f"| {m} | {len(rs)} | {max(r['weights'] for r in rs):.3g} | "
            f"{max(r['metrics'] for r in rs):.3g} | {sum(r['log'] for r in rs)}/{len(rs)} | "
            f"{sum(r['base_s'] for r in rs):.1f} / {sum(r['new_s'] for r in rs):.1f} |"
        )
    lines += [
        "",
        "Seconds are each method's own wall time on a machine shared with other work (2 cores): "
        "they show the loop's overhead (guard checks, one weight snapshot per step) only "
        "roughly.",
        "",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
