"""Batched vs one-by-one ensemble training (issue 19 part 2): K = 8, 32, 128 models of the
digits MLP and CNN (8x8), default recipes, one torch thread (as every executor call), one run.

Per (model, K): **batched** is ``train_many`` over seeds 0..K-1 (its default stacked groups);
**one by one** is ``train_new_model`` per seed, timed on the first ``--sample`` seeds and
scaled to K (every model trains on its own, so that cost is linear in K; for K <= sample it is
measured in full); ``--repeats`` alternations of the two, the median and range of the ratio.
Wall-clock and CPU seconds (``process_time``: on a machine shared with other busy processes the
wall clock mostly measures the wait for a core, the CPU time what the work costs) and their
ratios, one by one / batched. The sampled one-by-one models are compared with the batched ones
of the same seeds (``torch.equal`` on every tensor). The 1-minute load average is recorded
before and after each row.

Writes ``benchmarks/results/ensemble_training.md`` (``--append``: adds a section). ``--audit K``
instead times the audit's training round at K a side, batched and one by one, on the local
executor (appended). Run it under ``nice -n 10`` on a shared machine; ``--epochs-mlp`` /
``--epochs-cnn`` shorten the recipes.
"""

# ruff: noqa: E402  (the checkout goes on the path before the package is imported)
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch

from unlearn_core.data import load_dataset
from unlearn_core.ensemble_training import train_many
from unlearn_core.training import default_recipe, train_new_model

OUT = Path(__file__).parent / "results" / "ensemble_training.md"


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def row(data, arch: str, cfg, k: int, sample: int, repeats: int) -> dict:
    """``repeats`` alternations of the one-by-one sample and the batched run of K seeds."""
    load0 = os.getloadavg()[0]
    seeds = list(range(k))
    few = seeds[: min(sample, k)]
    scale = k / len(few)
    times: dict[str, list[float]] = {"one_wall": [], "one_cpu": [], "b_wall": [], "b_cpu": []}
    equal = True
    for _ in range(repeats):
        alone, w1, c1 = _timed(
            lambda: [train_new_model(data, arch, cfg, seed=s, device="cpu")[0] for s in few]
        )
        res, wb, cb = _timed(lambda: train_many(data, arch, cfg, seeds, device="cpu"))
        equal = equal and all(
            torch.equal(a, b)
            for m1, m2 in zip(alone, res.models, strict=False)
            for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True)
        )
        for key, v in (("one_wall", w1 * scale), ("one_cpu", c1 * scale), ("b_wall", wb),
                       ("b_cpu", cb)):  # fmt: skip
            times[key].append(v)
    return {
        "arch": arch, "k": k, "epochs": cfg.epochs, "sample": len(few), "times": times,
        "equal": equal, "per_member": ", ".join(res.per_member) or "-",
        "groups": _groups(res.groups), "load": (load0, os.getloadavg()[0]),
    }  # fmt: skip


def _groups(sizes: list[int]) -> str:
    """``[8, 8, 8]`` -> ``"3 x 8"``; mixed sizes listed."""
    if len(set(sizes)) == 1:
        return f"{len(sizes)} x {sizes[0]}" if len(sizes) > 1 else str(sizes[0])
    return " + ".join(str(n) for n in sizes)


def _ratio(t: dict, kind: str) -> str:
    """Median ratio one by one / batched over the repeats, with its range."""
    rs = sorted(o / b for o, b in zip(t[f"one_{kind}"], t[f"b_{kind}"], strict=True))
    med = statistics.median(rs)
    return f"**{med:.2f}**" + (f" ({rs[0]:.2f}-{rs[-1]:.2f})" if len(rs) > 1 else "")


def table(rows: list[dict]) -> str:
    head = (
        "| model | K | epochs | groups | one by one CPU s | batched CPU s | ratio CPU | "
        "one by one wall s | batched wall s | ratio wall | batched CPU s / model | "
        "same weights | per member | load before, after |\n"
        "|---|---:|---:|---|---:|---:|---|---:|---:|---|---:|---|---|---|\n"
    )
    lines = []
    for r in rows:
        t = r["times"]
        med = {key: statistics.median(v) for key, v in t.items()}
        one = "" if r["sample"] == r["k"] else f" (x{r['k'] // r['sample']})"
        same = f"{'yes' if r['equal'] else 'NO'} ({r['sample']} seeds)"
        lines.append(
            f"| {r['arch']} | {r['k']} | {r['epochs']} | {r['groups']} | "
            f"{med['one_cpu']:.1f}{one} | {med['b_cpu']:.1f} | {_ratio(t, 'cpu')} | "
            f"{med['one_wall']:.1f}{one} | {med['b_wall']:.1f} | {_ratio(t, 'wall')} | "
            f"{med['b_cpu'] / r['k']:.3f} | {same} | {r['per_member']} | "
            f"{r['load'][0]:.1f}, {r['load'][1]:.1f} |"
        )
    return head + "\n".join(lines) + "\n"


INTRO = (
    "# Batched vs one-by-one ensemble training\n\n"
    "`python benchmarks/ensemble_training.py` (issue 19 part 2): digits (1 295 training images, "
    "8x8), the default recipes (MLP: 40 epochs of batch 32, Adam; CNN: 15 epochs of batch 64, "
    "one-cycle Adam, label smoothing 0.1) unless a section shortens them (a step costs the "
    "same, so the ratio is the per-step one, with the one-time costs, the batched kernel "
    "checks and building the models, a larger share); 1 torch thread, as every executor call. "
    "**One by one**: `train_new_model` per seed, timed on the first seeds (`(xN)`: scaled from "
    "that many; each model trains on its own, so its cost is linear in K). **Batched**: "
    "`ensemble_training.train_many` with its default groups (on the CPU as many models per "
    "stacked group as keep a step's activations within 16 MB: all K for the MLP, 8 for the "
    "CNN; the audit's calls hold at most `MAX_GROUP` = 128 seeds). **Ratio**: one by one / "
    "batched, the median over the repeats (one by one and batched alternate) with the range. "
    "**CPU** seconds are this process's (`process_time`): the machine was shared with other "
    "busy processes (the load column: 1-minute load average over its cores), so the wall clock "
    "mostly measures the wait for a core and the CPU ratio is the one to read. "
    "**Same weights**: the timed one-by-one models equal the batched ones of the same seeds, "
    "every tensor (`torch.equal`). **Per member**: layers the batched step runs member by "
    "member because their batched kernel sums in another order.\n"
)


def _workers_cpu(ex) -> float:
    """CPU seconds (user + system) the local executor's pool processes have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in (ex._pool._processes or {}) if ex._pool is not None else {}:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def audit_round(data, k: int, workers: int, repeats: int) -> str:
    """The audit's training round (K originals and K retrains of the digits MLP, class 3
    forgotten) on the local executor, batched and one by one (``batch_blocker`` replaced),
    alternating ``repeats`` times, the pool started before; a section of the results."""
    import unlearn_core.audit.pipeline as pipeline
    from unlearn_core.audit.executors import make_executor
    from unlearn_core.forget import ForgetRequest, make_split

    split = make_split(data, ForgetRequest(classes=(3,)))
    shared = {"data": data, "arch": "mlp", "train_config": default_recipe("mlp"), "split": split}
    seeds, real, lines = list(range(k)), pipeline.batch_blocker, []
    ex = make_executor("local", workers)
    try:
        calls = [{"role": "original", "seed": s, "keep": False} for s in range(workers)]
        ex.map(pipeline.train_call, calls, shared=shared)  # start the pool
        for _ in range(repeats):
            for label, blocker in (("batched", real), ("one by one", lambda m, c=None: "off")):
                pipeline.batch_blocker = blocker
                load0, t, c = os.getloadavg()[0], time.perf_counter(), _workers_cpu(ex)
                runs = pipeline._train_round(
                    ex, seeds, None, shared, lambda f, m="": None, 1.0, None
                )
                wall, cpu = time.perf_counter() - t, _workers_cpu(ex) - c
                ok = sum(pipeline._ok(r) for side in runs for r in side)
                lines.append(
                    f"| {label} | {cpu:.1f} | {wall:.1f} | {ok} of {2 * k} | "
                    f"{load0:.1f}, {os.getloadavg()[0]:.1f} |"
                )
                print(lines[-1], flush=True)
    finally:
        pipeline.batch_blocker = real
        ex.close()
    return (
        f"\n## {time.strftime('%Y-%m-%d')}: the audit's training round, K = {k} a side\n\n"
        f"`--audit {k}`: `pipeline._train_round` on the local executor with {workers} worker "
        "processes (started before), digits MLP, default recipe, class 3 forgotten: batched "
        "(one call per side, each training its K seeds in one stacked group) against one call "
        "per model, alternating. CPU: the worker processes' user + system seconds. "
        f"{_cpu_name()}, {os.cpu_count()} cores.\n\n"
        "| training | workers' CPU s | wall s | models | load before, after |\n"
        "|---|---:|---:|---|---|\n" + "\n".join(lines) + "\n"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ks", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--archs", nargs="+", default=["mlp", "cnn"])
    ap.add_argument("--sample", type=int, default=8, help="one-by-one seeds timed per row")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--epochs-mlp", type=int, default=None)
    ap.add_argument("--epochs-cnn", type=int, default=None)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--append", action="store_true", help="add a section to --out")
    ap.add_argument(
        "--audit",
        type=int,
        default=None,
        metavar="K",
        help="only time the audit's training round at K a side (appended)",
    )
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    data = load_dataset("digits")
    if args.audit:
        section = audit_round(data, args.audit, args.workers, args.repeats)
        print(section)
        text = args.out.read_text() if args.out.exists() else INTRO
        args.out.write_text(text + section)
        return
    rows = []
    t0 = time.perf_counter()
    for arch in args.archs:
        cfg = default_recipe(arch)
        epochs = getattr(args, f"epochs_{arch}", None)
        if epochs:
            cfg.epochs = epochs
        train_many(data, arch, cfg.__class__(**{**cfg.to_dict(), "epochs": 1}), [0, 1])  # warm
        for k in args.ks:
            rows.append(row(data, arch, cfg, k, args.sample, args.repeats))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    total = time.perf_counter() - t0
    epochs = ", ".join(f"{r['arch']} {r['epochs']}" for r in rows[:: len(args.ks)])
    section = (
        f"\n## {time.strftime('%Y-%m-%d')}: epochs {epochs}, {args.repeats} repeat(s)\n\n"
        f"{_cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"{total / 60:.1f} min in all.\n\n" + table(rows)
    )
    if args.append and args.out.exists():
        args.out.write_text(args.out.read_text() + section)
    else:
        args.out.write_text(INTRO + section)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
