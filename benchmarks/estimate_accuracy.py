"""How close the time estimates come to the measured times (issue 23).

For each job the app estimates before it starts, this prints the estimate (central figure and
range) beside the time the same work took here, as a ratio (measured / estimate: 1.0 is
exact, 2.0 took twice the estimate) and whether the measured time fell inside the range.

Jobs, in the app's order, with the app's thread setting (``share_cpu_threads``: all cores
but one for torch):

* training with the default recipes: the digits MLP (the demo), the digits CNN, the
  shapes-2000 CNN, and ResNet-18 for one epoch of shapes-600 (estimated before any run of
  that model: a probe);
* a comparison: the digits MLP, class 3 forgotten, the Unlearn page's default methods for a
  class (SCRUB, SalUn, SSD) with retraining, stored in a run store as the app does;
* the first aligned-UMAP frame of that comparison (original, SSD, retrain over the
  Compare page's sample) in a UMAP worker: asked while the worker is still warming up (a
  deep link), and on a warm worker (a new comparison's first frame);
* a small audit: the digits MLP, class 3, SSD and fine-tuning, 3 seeds, one worker per core.

Two rounds: **cold** (nothing measured here before: probes and defaults) and **warm** (the
same jobs again, other seeds, with what the cold round recorded, as a second visit to the
app would have it). The journal of measured durations is a temporary file.

    python benchmarks/estimate_accuracy.py [--rounds cold,warm] [--out FILE]

Writes ``benchmarks/results/estimate_accuracy.md``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the library, also from a checkout without an install

OUT = ROOT / "benchmarks" / "results" / "estimate_accuracy.md"
#: the Compare page's embedding sample (pages/compare.py's EMBED_MAX)
EMBED_MAX = 1500
CLASS_METHODS = ["scrub", "salun", "ssd"]
AUDIT_METHODS = ["ssd", "finetune"]
AUDIT_MODELS = 3
#: epochs instead of the default recipe's, and ResNet-18's smaller shapes set: the full
#: ResNet-18 (the app's) trains ~20 samples/s on one busy core, so 8 epochs of shapes-2000
#: take most of an hour (the estimate is a rate per sample: the ratio does not depend on it)
EPOCHS = {"resnet18": 1}
RESNET_N = 600


@dataclass
class Row:
    round: str
    job: str
    estimate: float
    low: float | None
    high: float | None
    measured: float
    basis: str = ""

    @property
    def ratio(self) -> float:
        return self.measured / self.estimate if self.estimate > 0 else float("inf")

    @property
    def inside(self) -> str:
        if self.low is None or self.high is None:
            return "-"
        return "yes" if self.low <= self.measured <= self.high else "NO"


def _est(e) -> tuple[float, float | None, float | None, str]:
    """(seconds, low, high, basis and stages) of an estimate (an older one has no range)."""
    stages = f" [{e.breakdown()}]" if getattr(e, "stages", ()) else ""
    return e.seconds, getattr(e, "low", None), getattr(e, "high", None), e.basis + stages


def audit_estimate_of(E, data, split, arch, recipe, methods, models, workers):  # noqa: N803
    return E.audit_estimate(
        data.n_train, split.n_forget, arch, recipe, methods, data.input_shape, data.num_classes,
        models=models, workers=workers, relearn=False, n_test=data.n_test,
    )  # fmt: skip


def umap_estimate_of(E, proc, n, k):  # noqa: N803
    if hasattr(proc, "estimate"):
        return proc.estimate(n, k, redraw_s=0.0)
    return E.umap_estimate(n, k)


def record_outcome_of(E, est, seconds: float) -> None:  # noqa: N803
    """What the app does when a comparison or an audit ends."""
    if hasattr(E, "record_outcome"):
        E.record_outcome(est, seconds)


def embedding_ids(data, split):
    import numpy as np

    forget = split.forget_idx.numpy()
    rng = np.random.default_rng(0)
    rest = np.setdiff1d(np.arange(data.n_train), forget)
    room = max(EMBED_MAX - len(forget), 0)
    keep = rest if len(rest) <= room else rng.choice(rest, room, replace=False)
    return np.sort(np.concatenate([forget, keep]))


def run_round(name: str, seed: int, rows: list[Row], home: Path, proc_box: list) -> None:
    from unlearn_core.analysis.embeddings import BASE, UmapProcess, model_features
    from unlearn_core.audit.executors import default_workers, make_executor
    from unlearn_core.audit.pipeline import run_audit
    from unlearn_core.data import load_dataset
    from unlearn_core.experiment import compare
    from unlearn_core.forget import ForgetRequest, make_split
    from unlearn_core.runtime import estimates as E
    from unlearn_core.store import RunStore
    from unlearn_core.training import default_recipe, train_new_model

    def add(job: str, est, measured: float) -> None:
        s, lo, hi, basis = _est(est)
        row = Row(name, job, s, lo, hi, measured, basis)
        rows.append(row)
        rng = f" [{lo:.1f}-{hi:.1f}]" if lo is not None else ""
        print(f"{name:5} {job:45} estimate {s:7.1f} s{rng}  measured {measured:7.1f} s  "
              f"ratio {row.ratio:.2f}  inside {row.inside}", file=sys.stderr, flush=True)  # fmt: skip

    digits = load_dataset("digits")
    shapes = load_dataset("shapes", n_train=2000)
    small = load_dataset("shapes", n_train=RESNET_N)
    trained = {}
    for data, arch in ((digits, "mlp"), (digits, "cnn"), (shapes, "cnn"), (small, "resnet18")):
        recipe = default_recipe(arch)
        if arch in EPOCHS:  # the same rate per sample, in less time
            recipe = replace(recipe, epochs=EPOCHS[arch])
        est = E.training_estimate(
            data.n_train, arch, recipe, data.input_shape, data.num_classes, device="cpu"
        )
        t0 = time.perf_counter()
        model, _ = train_new_model(data, arch, recipe, seed=seed, device="cpu")
        add(f"train {arch} on {data.name} ({data.n_train} x {recipe.epochs} epochs)", est,
            time.perf_counter() - t0)  # fmt: skip
        trained[(data.name, arch)] = model

    # the comparison, as the app's job runs it (the original trained above)
    split = make_split(digits, ForgetRequest(classes=(3,)))
    recipe = default_recipe("mlp")
    est = E.comparison_estimate(
        digits.n_train, split.n_forget, "mlp", recipe, CLASS_METHODS, digits.input_shape,
        digits.num_classes, **({"n_test": digits.n_test} if hasattr(E, "Stage") else {}),
    )  # fmt: skip
    t0 = time.perf_counter()
    comp = compare(digits, trained[("digits", "mlp")], recipe, split, CLASS_METHODS, seed=seed,
                   device="cpu")  # fmt: skip
    RunStore(home).save_comparison(comp, dataset=digits, recipe=recipe.to_dict())
    took = time.perf_counter() - t0
    add("comparison: digits MLP, class 3, 3 methods", est, took)
    record_outcome_of(E, est, took)

    # the first aligned-UMAP frame of that comparison (original, SSD, retrain)
    ids = embedding_ids(digits, split)
    ms = comp.models()
    names = ["original", "ssd", "retrain"]
    feats = model_features([ms[n] for n in names], digits.x_train[ids])
    named = dict(zip(names, feats, strict=True))
    if not proc_box:  # a deep link: the worker was just started and still warms up
        proc_box.append(UmapProcess())
        proc = proc_box[0]
        est = umap_estimate_of(E, proc, len(ids), 3)
        t0 = time.perf_counter()
        proc.frames(f"{name}-cold", named, BASE)
        add(f"first UMAP frame, worker warming up ({len(ids)} x 3)", est, time.perf_counter() - t0)
    proc = proc_box[0]
    proc.warm_up.result()
    est = umap_estimate_of(E, proc, len(ids), 3)
    t0 = time.perf_counter()
    proc.frames(f"{name}-warm", named, BASE)
    add(f"first UMAP frame, warm worker ({len(ids)} x 3)", est, time.perf_counter() - t0)

    # a small audit over one worker per core
    workers = default_workers()
    est = audit_estimate_of(E, digits, split, "mlp", recipe, AUDIT_METHODS, AUDIT_MODELS, workers)
    t0 = time.perf_counter()
    with make_executor("local", workers) as ex:
        run_audit(digits, "mlp", recipe, split, AUDIT_METHODS, models=AUDIT_MODELS,
                  seed=seed, executor=ex)  # fmt: skip
    took = time.perf_counter() - t0
    add(f"audit: digits MLP, {AUDIT_MODELS} seeds, 2 methods, {workers} workers", est, took)
    record_outcome_of(E, est, took)


def measured_notes() -> list[str]:
    """What the run measured besides the jobs: probe factors per model, the share of a core."""
    from unlearn_core.runtime import estimates as E

    values = getattr(E, "_values", {})
    out = []
    factors = {k.split("|", 1)[1]: v for k, v in values.items() if k.startswith("probe_factor|")}
    if factors:
        out.append(
            "Probe factors (real training samples/s over the probe's, as on a free machine): "
            + "; ".join(f"{k}: {', '.join(f'{x:.2f}' for x in v)}" for k, v in factors.items())
            + "."
        )
    seen = getattr(E, "_share_log", [])
    if seen:
        out.append(
            f"Share of a core free to one more thread, as measured during the run: "
            f"{min(seen):.2f} to {max(seen):.2f} (median {statistics.median(seen):.2f})."
        )
    return out


def write(rows: list[Row], out: Path, note: str, load: tuple) -> None:
    lines = [
        "# Time estimates against measured times (issue 23)",
        "",
        f"Written by `python benchmarks/estimate_accuracy.py`: {os.cpu_count()} CPU cores shared "
        f"with other work (load average {[round(v, 2) for v in load[0]]} at the start, "
        f"{[round(v, 2) for v in load[1]]} at the end). Ratio = measured / estimate (1.00 is "
        "exact); *inside*: the measured time fell within the estimate's range. *cold*: nothing "
        "measured on this machine before (probes and defaults); *warm*: the same jobs again "
        "with what the cold round recorded.",
        "",
        "| round | job | estimate | range | measured | ratio | inside |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        rng = f"{r.low:.1f}-{r.high:.1f} s" if r.low is not None else "(none)"
        lines.append(
            f"| {r.round} | {r.job} | {r.estimate:.1f} s | {rng} | {r.measured:.1f} s | "
            f"{r.ratio:.2f} | {r.inside} |"
        )
    lines += ["", "What each estimate rested on:", ""]
    lines += [f"- {r.round}, {r.job}: {r.basis}" for r in rows]
    lines += ["", *measured_notes()]
    if note:
        lines += ["", note]
    out.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", default="cold,warm")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--note", default="")
    args = ap.parse_args(argv)
    from unlearn_core.runtime import estimates as E
    from unlearn_core.runtime.device import share_cpu_threads

    share_cpu_threads()  # as the app's server does
    load0 = os.getloadavg()
    rows: list[Row] = []
    proc_box: list = []
    with tempfile.TemporaryDirectory(prefix="estimates-") as tmp:
        if hasattr(E, "keep_timings"):
            E.keep_timings(Path(tmp) / "timings.json")
        try:
            for i, name in enumerate(args.rounds.split(",")):
                run_round(name, 10 * i, rows, Path(tmp) / f"runs-{name}", proc_box)
        finally:
            for p in proc_box:
                p.shutdown()
        write(rows, args.out, args.note, (load0, os.getloadavg()))
    for r in rows:
        print(f"{r.round} | {r.job} | {r.estimate:.1f} | {r.measured:.1f} | {r.ratio:.2f} | "
              f"{r.inside}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
