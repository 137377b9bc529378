"""RESTOR on the text track (issue 22, item 5): corrupt some people's facts, unlearn the
corrupting set with each language method, and count the true answers that come back.

    OMP_NUM_THREADS=1 python benchmarks/text_restor.py --seeds 0,1,2
    OMP_NUM_THREADS=1 python benchmarks/text_restor.py --seeds 0 --attacks relearn,quantize

The default corpus (200 people x 10 facts, 200 world facts; corpus seed 0), ``--fraction`` of the
people corrupted (drawn with seed 0: the same people for every seed), the corrupted original =
the clean tinylm (phase 1, the text recipe) continually trained on ``D + D_f``
(``unlearn_core.text.restor.CONTINUAL``), retrain = the same phase 2 on ``D`` alone; each
method with its ``tinylm`` preset (calibrated on forget requests, not on this scenario).
Writes ``benchmarks/results/text_restor.md`` and ``.json``: mean ± std over the seeds of
forget exact match on the wrong answers, true-answer exact match on the corrupted people's
questions (``true_label_acc``), restoration against the clean model and against retrain,
retain and world-fact exact match, and the method's seconds. ``--attacks`` adds the recovery
attacks' numbers (``unlearn_core.text.attacks``) to each row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from unlearn_core.experiment import MultiComparison
from unlearn_core.text import TEXT_RECIPE, facts_dataset
from unlearn_core.text.restor import CLEAN, compare_restor, make_restor

OUT = Path(__file__).resolve().parent / "results"
METHODS = ["ga", "graddiff", "kl", "npo", "simnpo", "rmu", "icu"]
#: (row key, header, format)
COLUMNS = [
    ("forget_acc", "wrong answers EM %", ".1f"),
    ("true_label_acc", "true answers EM %", ".1f"),
    ("restoration", "restoration vs clean", ".2f"),
    ("restoration_retrain", "restoration vs retrain", ".2f"),
    ("retain_acc", "retain EM %", ".1f"),
    ("test_acc", "world facts EM %", ".1f"),
    ("seconds", "seconds", ".3g"),
]
ATTACK_COLUMNS = [
    ("quant8_forget_acc", "wrong EM int8 %", ".1f"),
    ("quant4_forget_acc", "wrong EM 4-bit %", ".1f"),
    ("relearn_forget_acc", "wrong EM relearned %", ".1f"),
]


def load() -> str:
    try:
        return "load average {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load unknown"


def _cell(row: dict, key: str, fmt: str, spread: bool) -> str:
    v = row.get(key)
    if v is None:
        return "—"
    s = row.get(f"{key}_std")
    text = format(v, fmt)
    return f"{text} ± {format(s, fmt)}" if spread and s is not None else text


def report(multi: MultiComparison, info: dict, attacks: list[str]) -> str:
    rows = [multi.original.row(), *(r.row() for r in multi.results)]
    return render(rows, info, bool(attacks), len(multi.seeds) > 1)


def render(rows: list[dict], info: dict, attacks: bool, spread: bool) -> str:
    """The markdown report of the rows (``MultiComparison.summary()``'s ``original`` and
    ``results``)."""
    cols = COLUMNS + (ATTACK_COLUMNS if attacks else [])
    out = [
        "# RESTOR on the text track (issue 22, item 5)",
        "",
        f"Corpus: {info['corpus']}; corrupted: {info['corrupted']}; seeds {info['seeds']} "
        f"(mean ± std); {info['code']}. Device {info['device']}, {info['threads']} torch "
        "thread(s), "
        f"{info['load_before']} before, {info['load_after']} after: **times under load** (other "
        "agents shared the 2 cores); rerun on a quiet machine for timings.",
        "",
        "Rows: `original` = the corrupted model (clean model continually trained on D + D_f), "
        "`retrain` = the same continual training on D alone (RESTOR's theta_ideal), `clean` = "
        "the model before the corruption. *Wrong answers EM*: exact match on the corrupting "
        "set (the corruption left); *true answers EM*: the corrupted people's questions against "
        "their true answers; *restoration* = (after − before) / (reference − before) on true "
        "answers EM, before = the corrupted original.",
        "",
        "| model | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for r in rows:
        cells = [_cell(r, k, f, spread) for k, _, f in cols]
        out.append(f"| {r['method']} | " + " | ".join(cells) + " |")
    out += [
        "",
        f"Wall time of the whole run: {info['wall_s']:.0f} s (under load). The methods ran "
        "with their tinylm presets / spec defaults at the commit named (chosen for forget "
        "requests, not for this scenario; not tuned here). The paper (Rezaei et al.) found "
        "that GA and KL forget without restoring and NPO often restores; compare the rows.",
        "",
    ]
    out += _reading(rows)
    return "\n".join(out) + "\n"


def _reading(rows: list[dict]) -> list[str]:
    by = {r["method"]: r for r in rows}
    methods = [r for r in rows if r["method"] not in ("original", "retrain", CLEAN)]
    if not methods:
        return []
    ranked = sorted(
        methods, key=lambda r: -(r["restoration"] if r.get("restoration") is not None else -1e9)
    )
    best = ranked[0]
    ref = by.get("retrain", {})
    lines = [
        "Reading (from the numbers above): the highest restoration is "
        f"{best['method']}'s ({_cell(best, 'restoration', '.2f', False)} of the clean model's "
        f"true answers back; retrain reaches {_cell(ref, 'restoration', '.2f', False)}).",
    ]
    forgot = [
        r["method"]
        for r in methods
        if r.get("forget_acc") is not None
        and r["forget_acc"] <= 10
        and r.get("restoration") is not None
        and r["restoration"] < 0.2
    ]
    if forgot:
        lines.append(
            "Forget without restoring (wrong answers EM <= 10 %, restoration < 0.2): "
            + ", ".join(forgot)
            + "."
        )
    return lines


def code_state() -> str:
    """The commit the run used, and whether the language methods' file differed from it."""
    import subprocess

    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--", "unlearn_core/methods/language.py"], cwd=root
        ).returncode
    except OSError:  # pragma: no cover
        return "unknown"
    return f"commit {head}" + (" (methods/language.py modified)" if dirty else "")


def attacks_on_forget(args, seeds: list[int], methods: list[str]) -> None:
    """The recovery attacks on a plain forget request (``--forget-fraction`` of the people,
    drawn with seed 0): ``results/text_attacks.md`` / ``.json``."""
    from unlearn_core.experiment import compare_seeds
    from unlearn_core.text import TextForgetRequest, train_tinylm
    from unlearn_core.text.attacks import attack_comparison

    data = facts_dataset(args.people, args.facts, seed=0)
    split = data.make_split(TextForgetRequest(fraction=args.forget_fraction, seed=0))
    info = {
        "corpus": f"facts, {args.people} people x {args.facts} facts, corpus seed 0",
        "forget": f"{args.forget_fraction:.0%} of the people, {split.n_forget} rows",
        "seeds": ",".join(map(str, seeds)),
        "threads": torch.get_num_threads(),
        "code": code_state(),
        "load_before": load(),
    }

    def hook(comp) -> None:
        attack_comparison(comp, data, split, ["relearn", "quantize"], recipe=TEXT_RECIPE)
        for r in [comp.original, *comp.results]:
            r.model = None

    t0 = time.perf_counter()
    multi = compare_seeds(
        data,
        lambda seed, progress: train_tinylm(data, TEXT_RECIPE, seed=seed, progress=progress),
        TEXT_RECIPE,
        split,
        methods,
        seeds=seeds,
        device="cpu",
        keep_models=True,
        on_comparison=hook,
    )
    info["wall_s"] = time.perf_counter() - t0
    info["load_after"] = load()
    cols = [
        ("forget_acc", "forget EM %", ".1f"),
        ("quant8_forget_acc", "forget EM int8 %", ".1f"),
        ("quant4_forget_acc", "forget EM 4-bit %", ".1f"),
        ("quant4_retain_acc", "retain EM 4-bit %", ".1f"),
        ("relearn_forget_acc", "forget EM relearned %", ".1f"),
        ("relearn_steps", "relearn steps", ".3g"),
        ("retain_acc", "retain EM %", ".1f"),
        ("test_acc", "world facts EM %", ".1f"),
    ]
    spread = len(seeds) > 1
    rows = [multi.original.row(), *(r.row() for r in multi.results)]
    out = [
        "# Recovery attacks on the text track (issue 22, item 4)",
        "",
        f"Corpus: {info['corpus']}; forget {info['forget']} (seed 0); seeds {info['seeds']} "
        f"(mean ± std); {info['code']}; {info['load_before']} before, {info['load_after']} "
        f"after: **under load**. Wall time {info['wall_s']:.0f} s.",
        "",
        "Quantisation: round-to-nearest of every Linear weight of the transformer blocks "
        "(int8 / 4-bit per output channel; embedding and tied head kept), then forget exact "
        "match again (Zhang et al. 2024). Relearning: 30 full-batch AdamW steps at 1e-4 on 3 "
        "forget rows per forgotten person plus as many retain rows, forget exact match on the "
        "forget rows not relearned on; steps to 90 % of the way from retrain's start to the "
        "original's (— : not reached).",
        "",
        "| model | " + " | ".join(h for _, h, _ in cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    for r in rows:
        out.append(
            f"| {r['method']} | " + " | ".join(_cell(r, k, f, spread) for k, _, f in cols) + " |"
        )
    md = "\n".join(out) + "\n"
    OUT.mkdir(exist_ok=True)
    (OUT / "text_attacks.md").write_text(md)
    (OUT / "text_attacks.json").write_text(
        json.dumps({"info": info, "summary": multi.summary()}, indent=1, default=str)
    )
    print(md)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--fraction", type=float, default=0.05)
    ap.add_argument("--attacks", default="", help="relearn,quantize (text attacks)")
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--facts", type=int, default=10)
    ap.add_argument("--out", default="text_restor", help="results file stem")
    ap.add_argument(
        "--forget-fraction",
        type=float,
        help="instead of RESTOR: the recovery attacks on a plain forget request of this share "
        "of the people (results/text_attacks.md)",
    )
    ap.add_argument("--render", action="store_true", help="rewrite the report from its JSON")
    args = ap.parse_args()
    threads = int(os.environ.get("TORCH_THREADS", "1"))
    torch.set_num_threads(threads)
    seeds = [int(s) for s in args.seeds.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    if args.forget_fraction is not None:
        attacks_on_forget(args, seeds, methods)
        return
    if args.render:  # the report again from its JSON (no run)
        doc = json.loads((OUT / f"{args.out}.json").read_text())
        summ = doc["summary"]
        rows = [summ["original"], *summ["results"]]
        has_attacks = any(r.get("quant8_forget_acc") is not None for r in rows)
        md = render(rows, doc["info"], has_attacks, len(summ.get("seeds") or []) > 1)
        (OUT / f"{args.out}.md").write_text(md)
        print(md)
        return
    attacks = [a for a in args.attacks.split(",") if a]
    base = facts_dataset(args.people, args.facts, seed=0)
    sc = make_restor(base, args.fraction, seed=0)
    info = {
        "corpus": f"facts, {args.people} people x {args.facts} facts, corpus seed 0 "
        f"({base.n_train} rows + {base.n_test} world facts)",
        "corrupted": f"{len(sc.people)} people ({args.fraction:.0%}), {len(sc.pairs)} rows",
        "seeds": ",".join(map(str, seeds)),
        "device": "cpu",
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "code": code_state(),
        "load_before": load(),
    }
    hook = None
    if attacks:
        from unlearn_core.text.attacks import attack_comparison

        def hook(comp) -> None:
            attack_comparison(comp, sc.data, sc.split(), attacks, recipe=TEXT_RECIPE)
            for r in [comp.original, *comp.results]:
                r.model = None

    t0 = time.perf_counter()
    last = [0.0]

    def progress(f: float, msg: str) -> None:
        if time.perf_counter() - last[0] > 30:
            last[0] = time.perf_counter()
            print(f"{f:5.1%} {msg}", flush=True)

    multi = compare_restor(
        sc,
        methods,
        recipe=TEXT_RECIPE,
        seeds=seeds,
        device="cpu",
        progress=progress,
        keep_models=bool(attacks),
        on_comparison=hook,
    )
    info["wall_s"] = time.perf_counter() - t0
    info["load_after"] = load()
    OUT.mkdir(exist_ok=True)
    md = report(multi, info, attacks)
    (OUT / f"{args.out}.md").write_text(md)
    (OUT / f"{args.out}.json").write_text(
        json.dumps({"info": info, "summary": multi.summary()}, indent=1, default=str)
    )
    print(md)


if __name__ == "__main__":
    main()
