"""What the many-model audit would cost on text (issue 22, the Audit page's decision).

The audit (``unlearn_core.audit.pipeline``) trains K originals and K retrained models, runs
each chosen method on every original and scores every model per forget sample. On the facts
corpus each of those is a tinylm: this script times one of each piece on the default corpus
(200 people x 10 facts, forget 5 % of the people, seed 0) and adds them up for K models per
side and M methods:

    2 K trainings + K M unlearning runs + (2 K + K M) scorings

    OMP_NUM_THREADS=1 python benchmarks/text_audit_cost.py            # writes results/text_audit_cost.json
    OMP_NUM_THREADS=1 python benchmarks/text_audit_cost.py --people 50   # a smaller corpus

The figures are the app's message on the Audit page for text (``app_ui.text_audit``); rerun
on a quiet machine for quiet figures (the script records the load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import torch

from unlearn_core.methods import run_method
from unlearn_core.methods.base import UnlearnTask
from unlearn_core.text import TextForgetRequest, facts_dataset
from unlearn_core.text.membership import membership_scores
from unlearn_core.text_app import text_recipe, train_text

OUT = Path(__file__).resolve().parent / "results" / "text_audit_cost.json"


def _load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=200)
    ap.add_argument("--method", default="npo")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    load_before = _load()
    data = facts_dataset(n_people=args.people)
    split = data.make_split(TextForgetRequest(fraction=0.05, seed=0))
    recipe = text_recipe()

    t0 = time.perf_counter()
    original, _ = train_text(data, recipe, seed=0, device="cpu")
    train_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_method("retrain", original, UnlearnTask(data, split, recipe), seed=0)
    retrain_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    run_method(args.method, original, UnlearnTask(data, split, recipe), seed=0)
    method_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    membership_scores(original, data, split)
    score_s = time.perf_counter() - t0

    def audit_s(k: int, m: int) -> float:
        return k * (train_s + retrain_s) + k * m * method_s + (2 * k + k * m) * score_s

    out = {
        "corpus": f"{args.people} people x 10 facts = {data.n_train} QA pairs",
        "forget": split.n_forget,
        "torch_threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "load_average_before": load_before,
        "load_average_after": _load(),
        "original_training_s": round(train_s, 1),
        "retrain_s": round(retrain_s, 1),
        f"{args.method}_s": round(method_s, 1),
        "score_per_model_s": round(score_s, 2),
        "audit_s": {f"K={k}, {m} method(s)": round(audit_s(k, m)) for k in (4, 8) for m in (1, 3)},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
