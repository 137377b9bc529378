"""SSD's preset against Adaptive SSD (ASSD, ``ssd_adaptive``) on digits splits SSD was not tuned on.

Each case trains the original and the retrained model with init seeds 0-2 and runs ``ssd``
(its ``mlp`` preset) and ``ssd_adaptive`` (nothing to tune) through
:func:`unlearn_core.experiment.compare_seeds`. Cases: the digits MLP with class 3 forgotten on
the stratified splits drawn by ``load_dataset("digits", seed=s)`` for s = 1, 2, 3 (held out:
s = 0 is the built-in split, where SSD's preset was chosen, shown for reference), the digits CNN
on split 1, and a random 10 % request on split 1. The target (issue 18, part 5): on a held-out
split, forget accuracy <= 2 % and test accuracy within 2 points of retrain's (means over the
init seeds); for the random request, forget / retain / test within 2 points of retrain's.
Nothing here is tuned: the figures only report.

    python benchmarks/ssd_adaptive.py [--out benchmarks/results/ssd-adaptive.md]

About two minutes on two idle CPU cores (one torch thread), longer when they are shared.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from unlearn_core.data import load_dataset
from unlearn_core.experiment import compare_seeds
from unlearn_core.forget import ForgetRequest
from unlearn_core.training import default_recipe

OUT = Path(__file__).parent / "results" / "ssd-adaptive.md"
#: ASSD with I_D on the whole training set, as SSD (its default takes the retain set)
VARIANT = "ssd_adaptive·train"
METHODS = ("ssd", "ssd_adaptive", VARIANT)
SHOWN = ("retrain", *METHODS)
SEEDS = (0, 1, 2)
KEYS = ("forget_acc", "retain_acc", "test_acc")
TARGET = 2.0  # points


@dataclass(frozen=True)
class Case:
    name: str
    arch: str
    split: int
    request: ForgetRequest
    held_out: bool


CLASS3 = ForgetRequest(classes=(3,))
CASES = (
    Case("mlp-split0", "mlp", 0, CLASS3, held_out=False),
    Case("mlp-split1", "mlp", 1, CLASS3, held_out=True),
    Case("mlp-split2", "mlp", 2, CLASS3, held_out=True),
    Case("mlp-split3", "mlp", 3, CLASS3, held_out=True),
    Case("cnn-split1", "cnn", 1, CLASS3, held_out=True),
    Case("mlp-split1-random10", "mlp", 1, ForgetRequest(fraction=0.1, seed=0), held_out=True),
)


def run_case(case: Case) -> dict:
    data = load_dataset("digits", seed=case.split)
    t0 = time.perf_counter()
    recipe = default_recipe(case.arch)
    common = {"seeds": list(SEEDS), "device": "cpu"}
    main = compare_seeds(
        data, case.arch, recipe, case.request, ["ssd", "ssd_adaptive"], keep_models=True, **common
    )
    originals = {c.seed: c.original.model for c in main.comparisons}
    variant = compare_seeds(
        data,
        None,
        recipe,
        case.request,
        [("ssd_adaptive", {"reference": "train"})],
        originals=originals,
        include_retrain=False,
        **common,
    )
    per_seed: dict[str, list[dict]] = {m: [] for m in SHOWN}
    for multi, rename in ((main, {}), (variant, {"ssd_adaptive": VARIANT})):
        for comp in multi.comparisons:
            for r in comp.results:
                row = {k: r.metrics.get(k) for k in KEYS}
                row["seed"] = comp.seed
                for key in ("alpha", "dampened", "max_ratio"):
                    row[key] = (r.log or {}).get(key)
                per_seed[rename.get(r.method, r.method)].append(row)
    return {
        "case": case,
        "n_train": data.n_train,
        "n_test": len(data.y_test),
        "per_seed": per_seed,
        "seconds": time.perf_counter() - t0,
    }


def _mean_std(vals: list[float]) -> tuple[float, float]:
    return statistics.fmean(vals), statistics.stdev(vals) if len(vals) > 1 else 0.0


def _fmt(vals: list[float]) -> str:
    m, s = _mean_std(vals)
    return f"{m:.1f} ± {s:.1f}"


def meets(case: Case, rows: list[dict], ref: list[dict]) -> bool:
    """The target on the means over seeds (see the module docstring)."""
    mean = {k: statistics.fmean(r[k] for r in rows) for k in KEYS}
    rmean = {k: statistics.fmean(r[k] for r in ref) for k in KEYS}
    if case.request.kind == "class":
        return mean["forget_acc"] <= TARGET and abs(mean["test_acc"] - rmean["test_acc"]) <= TARGET
    return all(abs(mean[k] - rmean[k]) <= TARGET for k in KEYS)


def meets_seed(case: Case, row: dict, ref: dict) -> bool:
    if case.request.kind == "class":
        return row["forget_acc"] <= TARGET and abs(row["test_acc"] - ref["test_acc"]) <= TARGET
    return all(abs(row[k] - ref[k]) <= TARGET for k in KEYS)


def misses(results: list[dict]) -> list[str]:
    """One line per class-request run of ``ssd_adaptive`` above the forget target."""
    out = []
    for res in results:
        case = res["case"]
        if case.request.kind != "class":
            continue
        for r in res["per_seed"]["ssd_adaptive"]:
            if r["forget_acc"] > TARGET:
                a = r["alpha"]
                alpha = "-" if a is None else f"{a:.2f}" + (" (below 1)" if a < 1 else "")
                out.append(
                    f"- {case.name}, seed {r['seed']}: forget {r['forget_acc']:.1f} %, "
                    f"alpha {alpha}"
                )
    return out or ["- none"]


def report(results: list[dict], seconds: float) -> str:
    lines = [
        "# Adaptive SSD (ASSD) against SSD's preset on held-out digits splits",
        "",
        "Written by `python benchmarks/ssd_adaptive.py` "
        f"({time.strftime('%Y-%m-%d')}, torch {torch.__version__}, {platform.machine()} CPU, "
        f"one torch thread, {seconds:.0f} s). Init seeds {', '.join(map(str, SEEDS))}; "
        "figures are mean ± sample std over them, accuracies in percent (test: the remaining "
        "classes' test samples for a class request). `ssd` runs its `mlp` preset (alpha 7, "
        "lambda 2, chosen on split 0); `ssd_adaptive` has nothing to tune: alpha is the "
        "(100 - ln(1 + 100·|D_f|/|D|))-th percentile of the finite I_f / I_D ratios, lambda 1, "
        "I_D on the retain set as in the authors' ASSD code (Schoepf, Foster & Brintrup 2024; "
        f"`unlearn_core/methods/ssd_adaptive.py`); `{VARIANT}` is the same with I_D on the "
        "whole training set, as SSD (`reference=train`). "
        "`load_dataset` carves a validation split from each training set; neither method reads "
        "it, nor the test set.",
        "",
        "Target: forget <= 2 % and test within 2 points of retrain (means over the init seeds); "
        "for the random request, forget / retain / test within 2 points of retrain.",
        "",
        "## Summary",
        "",
        "| case | held out | train / test samples | retrain forget / test | "
        + " | ".join(f"{m} forget / test · target met · seeds met" for m in METHODS)
        + " |",
        "|---|---|---|---|" + "---|" * len(METHODS),
    ]
    met = {m: 0 for m in METHODS}
    mlp_held = [r for r in results if r["case"].held_out and r["case"].name.startswith("mlp-split")]
    mlp_held = [r for r in mlp_held if r["case"].request.kind == "class"]
    for res in results:
        case, ps = res["case"], res["per_seed"]
        ref = ps["retrain"]
        cells = []
        for m in METHODS:
            ok = meets(case, ps[m], ref)
            if res in mlp_held and ok:
                met[m] += 1
            n_ok = sum(meets_seed(case, r, q) for r, q in zip(ps[m], ref, strict=True))
            cells.append(
                f"{_fmt([r['forget_acc'] for r in ps[m]])} / {_fmt([r['test_acc'] for r in ps[m]])}"
                f" · {'yes' if ok else 'no'} · {n_ok} of {len(SEEDS)}"
            )
        lines.append(
            f"| {case.name} ({case.request.describe()}) | {'yes' if case.held_out else 'no'} | "
            f"{res['n_train']} / {res['n_test']} | "
            f"{_fmt([r['forget_acc'] for r in ref])} / {_fmt([r['test_acc'] for r in ref])} | "
            + " | ".join(cells)
            + " |"
        )
    lines += [
        "",
        "On the digits MLP, class 3, held-out splits 1-3: "
        + "; ".join(f"`{m}` meets the target on {met[m]} of {len(mlp_held)}" for m in METHODS)
        + ".",
        "",
        "## ASSD's misses on class requests",
        "",
        "With lambda = 1 an entry is only changed where I_f > I_D (its factor is "
        "min(I_D / I_f, 1)), so an alpha below 1 leaves all but the entries with a ratio above "
        "1 as they were. Runs of `ssd_adaptive` that keep more than 2 % of the class:",
        "",
        *misses(results),
        "",
        "## Forget / retain / test per case",
        "",
        "| case | method | forget | retain | test | ASSD alpha per seed | dampened per seed |",
        "|---|---|---|---|---|---|---|",
    ]
    for res in results:
        case, ps = res["case"], res["per_seed"]
        for m in SHOWN:
            rows = ps[m]
            alphas = dampened = ""
            if m.startswith("ssd_adaptive"):
                alphas = ", ".join("-" if r["alpha"] is None else f"{r['alpha']:.2f}" for r in rows)
            if m != "retrain":
                dampened = ", ".join(str(r["dampened"]) for r in rows)
            lines.append(
                f"| {case.name} | {m} | "
                + " | ".join(_fmt([r[k] for r in rows]) for k in KEYS)
                + f" | {alphas} | {dampened} |"
            )
    lines += [
        "",
        "## Per seed (forget / retain / test; largest finite I_f / I_D of ASSD)",
        "",
        "| case | seed | " + " | ".join(SHOWN) + " | max I_f / I_D (retain · train) |",
        "|---|---|" + "---|" * len(SHOWN) + "---|",
    ]
    for res in results:
        case, ps = res["case"], res["per_seed"]
        for i, seed in enumerate(SEEDS):
            cells = [" / ".join(f"{ps[m][i][k]:.1f}" for k in KEYS) for m in SHOWN]
            ratios = " · ".join(f"{ps[m][i]['max_ratio']:.1f}" for m in METHODS[1:])
            lines.append(f"| {case.name} | {seed} | " + " | ".join(cells) + f" | {ratios} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    results = []
    for case in CASES:
        res = run_case(case)
        print(f"{case.name}: {res['seconds']:.0f} s", flush=True)
        results.append(res)
    text = report(results, time.perf_counter() - t0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
