"""One many-model audit on text, timed (issue 22: "audit ... work for text runs").

``run_audit`` on the facts corpus with tinylm models (``unlearn_core.text.audit_scores``):
K originals and K retrains trained from scratch, each method on every original, the lenses
(epsilon, KLoM, U-LiRA, RMIA) and the quantisation attack; cold (no ensemble reuse). Writes
``results/text_audit.json`` and ``results/text_audit.md`` with the wall time, each model's
time, the rows' lens values, the load average before and after, and the Audit page's estimate
for the same audit (quiet, loaded), so the estimate can be checked against the measurement.

    OMP_NUM_THREADS=1 python benchmarks/text_audit.py                      # default corpus, K = 2
    OMP_NUM_THREADS=1 python benchmarks/text_audit.py --people 40 --models 3

Figures measured while other agents use the machine are marked "under load" with the load
average; rerun on a quiet machine for quiet figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from unlearn_core.audit.executors import make_executor
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, facts_dataset
from unlearn_core.text.audit_scores import estimate_seconds
from unlearn_core.training import TrainConfig

HERE = Path(__file__).resolve().parent / "results"
KEYS = ("forget_acc", "retain_acc", "test_acc", "forget_quality", "klom_forget_p95",
        "klom_retain_p95", "ulira_acc", "rmia_auc", "quant8_forget_acc", "quant4_forget_acc")  # fmt: skip


def _load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def _f(v, spec=".1f") -> str:
    return "—" if v is None else format(v, spec)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--facts", type=int, default=10)
    ap.add_argument("--forget", type=float, default=0.05, help="share of the people")
    ap.add_argument("--models", type=int, default=2, help="K per side")
    ap.add_argument("--methods", default="npo")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--out", type=Path, default=HERE / "text_audit.json")
    args = ap.parse_args()
    data = facts_dataset(args.people, args.facts)
    recipe = TrainConfig(**{**TEXT_RECIPE.to_dict(), "epochs": args.epochs or TEXT_RECIPE.epochs})
    methods = [m for m in args.methods.split(",") if m]
    quiet, loaded = estimate_seconds(data, recipe.epochs, args.models, len(methods), args.workers)
    before = _load()
    t0 = time.perf_counter()
    with make_executor("local", args.workers) as ex:
        res = run_audit(
            data, "tinylm", recipe, TextForgetRequest(fraction=args.forget, seed=0), methods,
            models=args.models, executor=ex, metrics=("eps", "klom", "ulira", "rmia"),
            attacks=("quantize",),
            progress=lambda f, m="": print(f"[{time.perf_counter() - t0:6.0f} s] {f:.2f} {m}"),
        )  # fmt: skip
    wall = time.perf_counter() - t0
    s = res.summary()
    rows = [s["original"], s["retrain"], *s["results"]]
    out = {
        "corpus": f"{args.people} people x {args.facts} facts = {data.n_train} QA pairs "
        f"(+ {len(data.pretrain[0])} world facts learned)",
        "forget": f"{args.forget:.0%} of the people, {len(s['forget_ids'])} rows",
        "models_per_side": args.models,
        "methods": methods,
        "workers": args.workers,
        "recipe_epochs": recipe.epochs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "load_average_before": before,
        "load_average_after": _load(),
        "wall_s": round(wall, 1),
        "estimate_quiet_s": round(quiet, 1),
        "estimate_loaded_s": round(loaded, 1),
        "model_seconds": {
            "originals": [m.seconds for m in res.originals],
            "retrains": [m.seconds for m in res.retrains],
            **{m.method: [x.seconds for x in m.models] for m in res.methods},
        },
        "klom_baseline_forget_p95": s.get("klom_baseline_forget_p95"),
        "rows": [{"method": r["method"], **{k: r.get(k) for k in KEYS}} for r in rows],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    md = [
        "# A many-model audit on text (tinylm, `benchmarks/text_audit.py`)",
        "",
        f"Corpus: {out['corpus']}; forget {out['forget']}; K = {args.models} per side; "
        f"methods {', '.join(methods)}; {args.workers} worker processes (one torch thread each); "
        f"recipe {recipe.epochs} epochs; cold (nothing reused); {out['machine']}.",
        "",
        f"**Under load** (load average before {before}, after {out['load_average_after']}, "
        "from other agents on the same 2 cores):",
        "",
        f"- wall time **{wall:.0f} s**; the Audit page's estimate for this audit: "
        f"{quiet:.0f} s quiet, up to {loaded:.0f} s under load",
        "- per model (s): "
        + "; ".join(
            f"{k} {', '.join(_f(v, '.0f') for v in vs)}" for k, vs in out["model_seconds"].items()
        ),
        "",
        "| model | forget EM | retain EM | world EM | forget quality (eps) | KLoM forget P95 "
        "| KLoM retain P95 | U-LiRA (%) | RMIA AUC | int8 forget EM | 4-bit forget EM |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in out["rows"]:
        md.append(
            f"| {r['method']} | {_f(r['forget_acc'])} | {_f(r['retain_acc'])} | "
            f"{_f(r['test_acc'])} | {_f(r['forget_quality'], '.3f')} | "
            f"{_f(r['klom_forget_p95'], '.2f')} | {_f(r['klom_retain_p95'], '.2f')} | "
            f"{_f(r['ulira_acc'], '.0f')} | {_f(r['rmia_auc'], '.2f')} | "
            f"{_f(r['quant8_forget_acc'])} | {_f(r['quant4_forget_acc'])} |"
        )
    md += [
        "",
        "The retrain row reads its first half against its second half (at K = 2: one "
        "model against one, so KLoM sits at its ceiling 11.51 and U-LiRA / RMIA have no "
        "leave-one-out reference: empty). Each lens reads the true answer's sequence "
        "log-likelihood (`unlearn_core/text/audit_scores.py`: our adaptation of classifier "
        "lenses). K = 2 resolves little (the largest finite epsilon is small); it shows the "
        "audit running end to end and what it costs, not a verdict on the method.",
        "",
    ]
    args.out.with_suffix(".md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
