"""The Learn page's "Verification is fragile" figures from a real run.

Runs the audit on digits + MLP (default recipe), class 3 forgotten, with the demonstration
(``logit_suppression``: hides the class at the output, forgets nothing), SalUn and retrain, K
models per side and the relearning attack on a few forget samples; adds each first-seed model's
share of changed parameters and relative weight distance to its
original. Writes ``assets/verification_story.json`` (the page
reads it; nothing in it is typed by hand).

    nice -n 10 python benchmarks/learn_story.py [--models 4] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from pathlib import Path

import torch

from unlearn_core.audit.executors import make_executor
from unlearn_core.audit.pipeline import run_audit
from unlearn_core.data import load_dataset
from unlearn_core.experiment import REFERENCE
from unlearn_core.forget import ForgetRequest, make_split
from unlearn_core.methods import UnlearnTask, run_method
from unlearn_core.training import default_recipe, train_new_model

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "assets" / "verification_story.json"
METHODS = ("logit_suppression", "salun")
FORGET_CLASS = 3


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten().cpu() for p in model.parameters()])


def weight_changes(data, recipe, split, seed: int) -> dict[str, dict[str, float]]:
    """Per model made from (retrain: beside) the first seed's original: the share of its
    parameters (%) that differ from the original's by more than 1e-6, and the relative
    distance ||theta - theta_original|| / ||theta_original||."""
    original, _ = train_new_model(data, "mlp", recipe, seed=seed, device="cpu")
    base = _flat(original)
    task = UnlearnTask(data=data, split=split, train_config=recipe, device=torch.device("cpu"))
    out = {}
    for name in (REFERENCE, *METHODS):
        model = run_method(name, original, task, seed=seed).model
        diff = _flat(model) - base
        out[name] = {
            "params_changed": 100.0 * float((diff.abs() > 1e-6).float().mean()),
            "weight_distance": float(diff.norm() / base.norm()),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=4, help="K per side (default 4)")
    ap.add_argument("--workers", type=int, default=None, help="local workers (default: cores)")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    data = load_dataset("digits")
    recipe = default_recipe("mlp")
    split = make_split(data, ForgetRequest(classes=(FORGET_CLASS,)))
    t0 = time.perf_counter()
    with make_executor("local", args.workers) as ex:
        res = run_audit(
            data, "mlp", recipe, split, list(METHODS), models=args.models, seed=0,
            executor=ex, relearn="forget",
            progress=lambda f, m: print(f"{f:5.0%} {m}", flush=True),
        )  # fmt: skip
    audit_s = time.perf_counter() - t0
    changes = weight_changes(data, recipe, split, res.seeds[0])
    same = {"params_changed": 0.0, "weight_distance": 0.0}
    summary = res.summary()
    rows = []
    for row in [summary["original"], summary["retrain"], *summary["results"]]:
        name = row["method"]
        rows.append(
            {
                "method": name,
                **{k: row.get(k) for k in ("forget_acc", "retain_acc", "test_acc", "mia")},
                "forget_quality": row.get("forget_quality"),
                "final_score": row.get("final_score"),
                "privacy_score": row.get("privacy_score"),
                "relearn_steps": row.get("relearn_steps"),
                **changes.get(name, same),
            }
        )
    first = res.relearn_curves_of()  # the first seed's curves (every seed was relearned)
    budget = next((c.budget for c in first), None)
    doc = {
        "what": "audit of the demonstration, SalUn and retrain (learn_story.py)",
        "date": date.today().isoformat(),
        "dataset": res.dataset,
        "model": res.model,
        "forget": summary["forget"]["description"],
        "models_per_side": res.models_per_side,
        "seeds": res.seeds,
        "max_finite_epsilon": summary["max_finite_epsilon"],
        "relearn_mode": res.relearn_mode,
        "relearn_budget": budget,
        "relearn_target": next((c.target for c in first if c.target is not None), None),
        "rows": rows,
        "curves": {c.model: {"steps": c.steps, "forget_acc": c.forget_acc} for c in first},
        "seconds": round(audit_s, 1),
        "machine": f"{platform.machine()}, {ex.workers} local worker(s)",
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(rows, indent=1))
    print(f"wrote {args.out} ({audit_s:.0f} s)")


if __name__ == "__main__":
    main()
