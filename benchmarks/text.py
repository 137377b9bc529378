"""Text track benchmark (issue 22): memorisation speed and a forget-5 % comparison.

    OMP_NUM_THREADS=1 python benchmarks/text.py --seeds 0,1,2      # the report
    OMP_NUM_THREADS=1 python benchmarks/text.py --fraction 0.01     # forget 1 % (text-1pct.md)

The language methods run with their ``tinylm`` presets (``unlearn_core/methods/presets.json``),
which ``benchmarks/text_calibrate.py`` chose on calibration corpora and forget draws (corpus
seeds 3 and 4) from validation data only; the report (``benchmarks/results/text.md`` +
``.json``; other fractions ``text-<n>pct.*``) runs the whole comparison through
``compare_seeds`` on the default corpus (seed 0) with forget draw seed 0, per seed: people,
draws and seeds the calibration never saw.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from unlearn_core.experiment import compare_seeds
from unlearn_core.methods.base import preset_info
from unlearn_core.models import build_model
from unlearn_core.text import (
    TEXT_RECIPE,
    TINYLM_KWARGS,
    TextForgetRequest,
    facts_dataset,
    train_tinylm,
)
from unlearn_core.text.tinylm import n_params
from unlearn_core.text.train import token_scores

OUT = Path(__file__).resolve().parent / "results"
METHODS = ["retrain", "ga", "graddiff", "kl", "npo", "simnpo", "rmu", "icu"]
KEYS = [
    "forget_acc",
    "retain_acc",
    "test_acc",
    "truth_ratio_forget",
    "forget_quality",
    "model_utility",
    "rouge_forget",
    "loss_auc",
    "mia_minkpp_auc",
    "priv_leak",
    "seconds",
]


def load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load unknown"


def train_original(data, seed: int, cache: Path | None = None):
    """The seed's original and its training seconds; with ``cache`` (a folder) read from / kept
    in ``original-<seed>.pt`` (our own state dict, loaded weights-only) and ``.json`` (the
    seconds measured when it was trained)."""
    if cache is not None:
        path = cache / f"original-{seed}.pt"
        if path.exists():
            model = build_model("tinylm", data.input_shape, data.num_classes, **TINYLM_KWARGS)
            model.load_state_dict(torch.load(path, weights_only=True))
            return model.eval(), json.loads(path.with_suffix(".json").read_text())["seconds"]
    t0 = time.perf_counter()
    model = train_tinylm(data, TEXT_RECIPE, seed=seed)
    secs = time.perf_counter() - t0
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
        path.with_suffix(".json").write_text(json.dumps({"seconds": secs, "load": load()}))
    return model, secs


def report(
    seeds: list[int], methods: list[str], fraction: float, cache: Path | None = None
) -> None:
    data = facts_dataset(200, 10, seed=0)
    started = load()
    # 1. memorisation: the original's training time and exact match
    mem = []
    originals = {}
    for s in seeds:
        model, secs = train_original(data, s, cache)
        em = 100 * float(token_scores(model, data.x_train, data.y_train).exact.float().mean())
        world = 100 * float(token_scores(model, data.x_test, data.y_test).exact.float().mean())
        mem.append({"seed": s, "train_seconds": secs, "train_em": em, "world_em": world})
        originals[s] = model
        print(mem[-1], flush=True)
    # 2. the comparison, through the one pipeline (the originals given, timed above)
    t0 = time.perf_counter()
    multi = compare_seeds(
        data,
        None,
        TEXT_RECIPE,
        TextForgetRequest(fraction=fraction, seed=0),
        methods,
        seeds=seeds,
        originals=originals,
        device="cpu",
    )
    wall = time.perf_counter() - t0
    per_seed_wall = wall / len(seeds) + sum(m["train_seconds"] for m in mem) / len(seeds)
    summary = multi.summary()
    rows = [summary["original"], *summary["results"]]
    payload = {
        "machine": f"{platform.processor() or platform.machine()}, torch threads "
        f"{torch.get_num_threads()}",
        "load_before": started,
        "load_after": load(),
        "corpus": data.summary(),
        "model_params": n_params(originals[seeds[0]]),
        "recipe": TEXT_RECIPE.to_dict(),
        "memorisation": mem,
        "comparison_seconds_without_original": wall,
        "comparison_seconds_per_seed_with_original": per_seed_wall,
        "summary": summary,
    }
    stem = "text" if abs(fraction - 0.05) < 1e-9 else f"text-{round(100 * fraction)}pct"
    (OUT / f"{stem}.json").write_text(json.dumps(payload, indent=1, default=str))
    md = [
        f"# Text track: fictitious facts, tinylm, forget {fraction:.0%} of the people",
        "",
        f"`benchmarks/text.py` ({', '.join(map(str, seeds))} seed(s)); {payload['machine']}; "
        f"**under load** from other agents on the 2 shared cores ({started} before, "
        f"{payload['load_after']} after): times are upper bounds of a quiet run.",
        "",
        f"Corpus: {data.corpus.n_people} people x 10 facts = {data.n_train} QA pairs + "
        f"{data.n_test} world facts (trained on; scored as `test_acc`) + {data.n_val} held-out "
        f"people's facts (never trained on; membership non-members); vocabulary "
        f"{len(data.tokenizer)} words; tinylm {payload['model_params']:,} parameters "
        f"({TINYLM_KWARGS}); recipe {TEXT_RECIPE.epochs} epochs AdamW lr {TEXT_RECIPE.lr:g} "
        "one-cycle, batch 64.",
        "",
        "## Memorisation (the original)",
        "",
        *(
            [
                f"Originals read from `--cache` ({cache}): the training seconds are those "
                "measured when each was trained, under load (the cache's `original-<seed>.json` "
                "holds the load average then)."
            ]
            if cache is not None
            else []
        ),
        "",
        "| seed | training s | train exact match % | world exact match % |",
        "|---:|---:|---:|---:|",
        *[
            f"| {m['seed']} | {m['train_seconds']:.1f} | {m['train_em']:.1f} | "
            f"{m['world_em']:.1f} |"
            for m in mem
        ],
        "",
        f"## Forget {fraction:.0%} of the people (draw seed 0)",
        "",
        f"Comparison (retrain + {len(methods) - 1} methods, scoring every model): "
        f"{wall:.1f} s for {len(seeds)} seed(s), {wall / len(seeds):.1f} s per seed; with the "
        f"original's training {per_seed_wall:.1f} s per seed.",
        "Exact match (EM) in %; truth ratio (forget: TOFU's mean min(R, 1/R), 1 = cannot tell "
        "right from wrong); forget quality = KS p-value against retrain's forget truth ratios; "
        "MIA AUC forget vs held-out people (0.5 = not members); PrivLeak on Min-K% (MUSE).",
        "The paraphrased and perturbed answers of the truth ratio use a wording the model never "
        "trained on (as TOFU's); this small model does not carry its facts over to it, so the "
        "truth ratio hardly separates the original from retrain here, while the KS test (forget "
        "quality) still does.",
        "",
        "| model | forget EM | retain EM | world EM | truth ratio forget | forget quality | "
        "model utility | ROUGE-L forget | LOSS AUC | Min-K%++ AUC | PrivLeak % | s |",
        "|---|" + "---:|" * 11,
    ]
    for r in rows:

        def f(k, fmt=".1f", r=r):
            return _cell(r, k, fmt)

        md.append(
            f"| {r['method']} | {f('forget_acc')} | {f('retain_acc')} | {f('test_acc')} | "
            f"{f('truth_ratio_forget', '.3f')} | {f('forget_quality', '.3g')} | "
            f"{f('model_utility', '.3f')} | {f('rouge_forget', '.3f')} | {f('loss_auc', '.3f')} | "
            f"{f('mia_minkpp_auc', '.3f')} | {f('priv_leak')} | {f('seconds')} |"
        )
    md += ["", *target_section(multi, methods)]
    (OUT / f"{stem}.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


#: the issue's target: forget EM within 5 points of retrain's, retain and world EM within 5
#: points of the original's, for NPO, SimNPO or ICU on one seed
TARGET_METHODS = ("npo", "simnpo", "icu")


def target_section(multi, methods: list[str]) -> list[str]:
    """Per seed: each method's forget / retain / world EM, its stopping step and whether it
    meets the issue's target on that seed."""
    out = [
        "## Per seed, against the issue's target",
        "",
        "Target (issue 22): forget EM within 5 points of retrain's while retain and world EM "
        "stay within 5 points of the original's (one seed). Each method runs with its `tinylm` "
        "preset (`unlearn_core/methods/presets.json`, chosen in "
        "`benchmarks/results/text_calibration.md` on other corpora and draws, from validation "
        "data only): "
        + "; ".join(f"{m} {preset_info(m, 'tinylm').values}" for m in methods if m != "retrain")
        + ".",
        "",
        "| seed | model | forget EM | retain EM | world EM | steps (stopped at) | target |",
        "|---:|---|---:|---:|---:|---|---|",
    ]
    for comp in multi.comparisons:
        o, rt = comp.original.metrics, comp.get("retrain").metrics
        out.append(
            f"| {comp.seed} | original | {o['forget_acc']:.1f} | {o['retain_acc']:.1f} | "
            f"{o['test_acc']:.1f} | | |"
        )
        out.append(
            f"| {comp.seed} | retrain | {rt['forget_acc']:.1f} | {rt['retain_acc']:.1f} | "
            f"{rt['test_acc']:.1f} | | |"
        )
        for m in methods:
            if m == "retrain":
                continue
            r = comp.get(m)
            v = r.metrics
            ok = _meets(comp, m)
            stop = r.log.get("stopped_at_step")
            steps = f"{r.log.get('steps', '')}" + (f" (stopped {stop})" if stop else "")
            out.append(
                f"| {comp.seed} | {m} | {v['forget_acc']:.1f} | {v['retain_acc']:.1f} | "
                f"{v['test_acc']:.1f} | {steps} | {'met' if ok else 'missed'} |"
            )
    met = {
        m: [c.seed for c in multi.comparisons if _meets(c, m)]
        for m in methods
        if m in TARGET_METHODS
    }
    out += [
        "",
        "Target met on seeds: "
        + "; ".join(f"{m}: {', '.join(map(str, s)) or 'none'}" for m, s in met.items())
        + ".",
    ]
    return out


def _meets(comp, m: str) -> bool:
    """Within the target, on EM rounded as the table shows it (EM is a share of rows held in
    float32: 10 % and 5 % of 20 rows differed by 5.0000002)."""
    o, rt, v = (
        {k: round(float(x[k]), 1) for k in ("forget_acc", "retain_acc", "test_acc")}
        for x in (comp.original.metrics, comp.get("retrain").metrics, comp.get(m).metrics)
    )
    return (
        abs(v["forget_acc"] - rt["forget_acc"]) <= 5
        and v["retain_acc"] >= o["retain_acc"] - 5
        and v["test_acc"] >= o["test_acc"] - 5
    )


def _cell(r: dict, k: str, fmt: str) -> str:
    v, s = r.get(k), r.get(f"{k}_std")
    if v is None:
        return "—"
    return f"{v:{fmt}}" + (f" ± {s:{fmt}}" if s else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--cache", type=Path, help="a folder: keep (and reuse) the trained originals there"
    )
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument(
        "--train-only",
        action="store_true",
        help="time the original's training and its exact match only (no comparison, no files)",
    )
    a = ap.parse_args()
    if a.train_only:
        data = facts_dataset(200, 10, seed=0)
        for s in (int(s) for s in a.seeds.split(",")):
            model, secs = train_original(data, s, a.cache)
            em = 100 * float(token_scores(model, data.x_train, data.y_train).exact.float().mean())
            print(
                f"seed {s}: {secs:.1f} s, exact match {em:.1f} % on {data.n_train} QA pairs, "
                f"torch threads {torch.get_num_threads()}, {load()}"
            )
    else:
        report([int(s) for s in a.seeds.split(",")], a.methods.split(","), a.fraction, a.cache)


if __name__ == "__main__":
    main()
