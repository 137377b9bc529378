"""Ensembles trained once (issue 19): a cold audit against a second audit reusing its models.

digits + MLP (default recipe), forget class 3, K = 32 per side, local executor (2 workers):

1. cold, reuse off (``reuse=False``): finetune and SCRUB, every model trained, nothing stored;
2. cold, storing: the same audit on an empty ensemble store (trains everything, stores it);
3. the second audit: another method (neggrad) on the same forget set, reusing the stored
   originals and retrains (it trains only neggrad's 32 models);
4. for reference, that neggrad audit cold (reuse off).

The issue's target: the second audit (3) within 35 % of the cold one (2). Each audit includes
starting and closing its executor, as ``unlearn audit`` does. Also checks that (3) and (4) give
the same numbers. Writes ``benchmarks/results/ensemble_reuse.md``. The machine is shared: the
load average is recorded before and after each audit.
"""

# ruff: noqa: E402  (the checkout goes on the path before the package is imported)
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: pool workers import it too
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))

from unlearn_core.audit.executors import make_executor
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.data import load_dataset
from unlearn_core.forget import ForgetRequest
from unlearn_core.store.ensembles import EnsembleStore, human_bytes
from unlearn_core.training import default_recipe

OUT = Path(__file__).parent / "results" / "ensemble_reuse.md"


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def one(data, methods, models, workers, metrics, home, reuse):
    before = _load()
    t0 = time.perf_counter()
    ex = make_executor("local", workers)
    try:
        res = run_audit(
            data, "mlp", default_recipe("mlp"), ForgetRequest(classes=(3,)), methods,
            models=models, executor=ex, metrics=metrics, reuse=reuse, ensembles=home,
        )  # fmt: skip
    finally:
        ex.close()
    return time.perf_counter() - t0, res, before, _load()


def _numbers(res) -> dict:
    def drop(o):
        if isinstance(o, dict):
            return {k: drop(v) for k, v in o.items() if k not in ("seconds", "reused")}
        if isinstance(o, list):
            return [drop(v) for v in o]
        return o

    return drop(res.to_dict())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", default="finetune,scrub")
    ap.add_argument("--second", default="neggrad")
    ap.add_argument("--metrics", default="eps,klom,ulira,rmia")
    args = ap.parse_args()
    methods = args.methods.split(",")
    metrics = args.metrics.split(",")
    data = load_dataset("digits")
    home = Path(tempfile.mkdtemp(prefix="ensemble_reuse_"))
    runs = [
        ("1. cold, reuse off", methods, False),
        ("2. cold, storing (empty store)", methods, True),
        (f"3. second audit: {args.second}, reusing", [args.second], True),
        (f"4. {args.second} cold, reuse off (reference)", [args.second], False),
    ]
    rows, results = [], {}
    for label, ms, reuse in runs:
        secs, res, before, after = one(data, ms, args.models, args.workers, metrics, home, reuse)
        results[label[:1]] = res
        rows.append((label, ", ".join(ms), secs, res.reuse_line() or "reuse off", before, after))
        print(f"{label}: {secs:.1f} s; {res.reuse_line()}; load {before} -> {after}", flush=True)
    cold, second = rows[1][2], rows[2][2]
    same = _numbers(results["3"]) == _numbers(results["4"])
    groups = EnsembleStore(home).groups()
    size = sum(g.bytes for g in groups)
    n = sum(len(g.seeds) for g in groups)
    lines = [
        "# Ensembles trained once (issue 19)",
        "",
        f"digits + MLP (default recipe), forget class 3, K = {args.models} originals and "
        f"{args.models} retrained models, lenses {', '.join(metrics)}, local executor with "
        f"{args.workers} workers; each time includes starting and closing the executor. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        "shared with other work: load averages (1/5/15 min) before and after each audit.",
        "",
        "| audit | methods | seconds | reused | load before | load after |",
        "|---|---|---|---|---|---|",
        *(f"| {a} | {b} | {c:.1f} | {d} | {e} | {f} |" for a, b, c, d, e, f in rows),
        "",
        f"Store after the runs: {len(groups)} ensembles, {n} models, {human_bytes(size)}.",
        "",
        "| target | figure | met |",
        "|---|---|---|",
        f"| second audit within 35 % of the cold one (3 / 2) | {100 * second / cold:.0f} % "
        f"({second:.1f} s / {cold:.1f} s) | {'yes' if second <= 0.35 * cold else 'no'} |",
        f"| (for reference) 3 / 1, the cold audit without storing | "
        f"{100 * second / rows[0][2]:.0f} % | |",
        f"| cost of storing on a cold audit (2 / 1) | {100 * (cold / rows[0][2] - 1):+.0f} % | |",
        f"| reusing vs training the same audit (3 / 4) | {100 * second / rows[3][2]:.0f} % | |",
        f"| same numbers, reused (3) vs trained (4) | {same} | {'yes' if same else 'no'} |",
        "",
        f"Command: `python benchmarks/ensemble_reuse.py --models {args.models} --workers "
        f"{args.workers}`.",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
