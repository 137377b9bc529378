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


def _store_costs(home: Path) -> tuple[float, float]:
    """Seconds per model to read and check (checksum) a stored member, and to store one (an
    empty store, written atomically), over every member of ``home``."""
    store, fresh = EnsembleStore(home), EnsembleStore(tempfile.mkdtemp(prefix="ensemble_put_"))
    members = []
    t0 = time.perf_counter()
    for g in store.groups():
        key = g.path.name
        for s in g.seeds:
            data = store.member_path(key, s).read_bytes()
            members.append((g, s, store._decode(data, key, s)))
    read = (time.perf_counter() - t0) / max(len(members), 1)
    from unlearn_core.store.ensembles import EnsembleKey

    t0 = time.perf_counter()
    for g, s, m in members:
        d = g.description
        key = EnsembleKey(
            d["fingerprint"], d["arch"], d["recipe"], d["role"], d["method"], d["params"],
            d["forget"],
        )  # fmt: skip
        fresh.put(key, s, m.state, m.info)
    put = (time.perf_counter() - t0) / max(len(members), 1)
    return read, put


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
    ap.add_argument("--repeats", type=int, default=2, help="each audit this many times")
    args = ap.parse_args()
    methods = args.methods.split(",")
    metrics = args.metrics.split(",")
    data = load_dataset("digits")
    # warm-up (not timed): the first audit in a process pays one-off costs (imports, caches)
    one(data, methods, 2, args.workers, metrics, None, False)
    runs = [
        ("1. cold, reuse off", methods, False),
        ("2. cold, storing (empty store)", methods, True),
        (f"3. second audit: {args.second}, reusing", [args.second], True),
        (f"4. {args.second} cold, reuse off (reference)", [args.second], False),
    ]
    rows, secs, results = [], {}, {}
    for rep in range(1, args.repeats + 1):
        home = Path(tempfile.mkdtemp(prefix="ensemble_reuse_"))  # an empty store each time
        # odd runs: 1, 2, 3, 4; even runs: 2, 3, 4, 1 (3 must follow 2: it reads 2's store)
        order = runs if rep % 2 else [*runs[1:], runs[0]]
        for label, ms, reuse in order:
            t, res, before, after = one(data, ms, args.models, args.workers, metrics, home, reuse)
            secs.setdefault(label[:1], []).append(t)
            results[label[:1]] = res
            line = res.reuse_line() or "reuse off"
            rows.append((f"{label} (run {rep})", ", ".join(ms), t, line, before, after))
            print(f"{label} (run {rep}): {t:.1f} s; {line}; load {before} -> {after}", flush=True)
    mean = {k: sum(v) / len(v) for k, v in secs.items()}
    cold, second = mean["2"], mean["3"]
    same = _numbers(results["3"]) == _numbers(results["4"])
    groups = EnsembleStore(home).groups()
    size = sum(g.bytes for g in groups)
    n = sum(len(g.seeds) for g in groups)
    read_s, put_s = _store_costs(home)
    lines = [
        "# Ensembles trained once (issue 19)",
        "",
        f"digits + MLP (default recipe), forget class 3, K = {args.models} originals and "
        f"{args.models} retrained models, lenses {', '.join(metrics)}, local executor with "
        f"{args.workers} workers; each time includes starting and closing the executor; one "
        f"untimed warm-up audit (K = 2) first, then the four audits {args.repeats} times in "
        "turn, each time on an empty store; the targets read the mean over the runs. "
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        "shared with other work: load averages (1/5/15 min) before and after each audit.",
        "",
        "| audit | methods | seconds | reused | load before | load after |",
        "|---|---|---|---|---|---|",
        *(f"| {a} | {b} | {c:.1f} | {d} | {e} | {f} |" for a, b, c, d, e, f in rows),
        "",
        f"The store after one run of the four: {len(groups)} ensembles, {n} models, "
        f"{human_bytes(size)}; reading and checking a stored model takes {1000 * read_s:.1f} ms, "
        f"storing one {1000 * put_s:.1f} ms (so storing a K = {args.models} cold audit's "
        f"{4 * args.models} models costs about {4 * args.models * put_s:.1f} s). A reused "
        "model is still scored (accuracies, MIA, margins) like a trained one, in the executor's "
        "workers.",
        "",
        "| target | figure | met |",
        "|---|---|---|",
        f"| second audit within 35 % of the cold one (3 / 2) | {100 * second / cold:.0f} % "
        f"({second:.1f} s / {cold:.1f} s) | {'yes' if second <= 0.35 * cold else 'no'} |",
        f"| (for reference) 3 / 1, the cold audit without storing | "
        f"{100 * second / mean['1']:.0f} % ({mean['1']:.1f} s) | "
        f"{'yes' if second <= 0.35 * mean['1'] else 'no'} |",
        f"| cost of storing on a cold audit (2 / 1) | {100 * (cold / mean['1'] - 1):+.0f} % | |",
        f"| reusing vs training the same audit (3 / 4) | {100 * second / mean['4']:.0f} % | |",
        f"| same numbers, reused (3) vs trained (4) | {same} | {'yes' if same else 'no'} |",
        "",
        f"Command: `python benchmarks/ensemble_reuse.py --models {args.models} --workers "
        f"{args.workers} --repeats {args.repeats}`.",
        "",
    ]
    OUT.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
