"""``unlearn audit``: many-model forget quality, the worst-case privacy score and relearning."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    add_data_args,
    add_forget_args,
    check_methods,
    forget_request,
    load_data,
    progress_bar,
    recipe_of,
)


def add_audit_command(sub) -> None:
    """Register ``audit`` on the CLI's subparsers."""

    p = sub.add_parser(
        "audit",
        help="train K originals and K retrained models, run each method on each original, "
        "and score forget quality per sample (NeurIPS-23 challenge)",
    )
    add_data_args(p)
    add_forget_args(p)
    p.add_argument("--methods", default="scrub,salun,finetune", help="comma-separated methods")
    p.add_argument(
        "--models", type=int, default=8, help="K: originals and retrained models (default 8)"
    )
    p.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="where the work runs"
    )
    p.add_argument("--workers", type=int, help="parallel workers (default: the machine's cores)")
    p.add_argument(
        "--relearn",
        nargs="?",
        const="forget",
        choices=("forget", "retain"),
        help="also run the relearning attack on every seed's models (a few forget samples, "
        "default; or retain only) and report steps to the target and the Anamnesis Index",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store the audit in the run store (default: on; --no-save to skip)",
    )
    p.add_argument(
        "--home", type=Path, help="run store folder (default: $UNLEARN_HOME, else ./runs)"
    )
    p.set_defaults(func=cmd_audit)


def cmd_audit(args) -> int:
    from ..audit.executors import make_executor
    from ..audit.pipeline import run_audit
    from ..forget import make_split

    if args.checkpoint is not None:
        raise SystemExit("audit trains its own K originals: leave out --checkpoint")
    if args.models < 2:
        raise SystemExit(f"--models: an audit needs at least 2, not {args.models}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise SystemExit("--methods: name at least one method")
    data = load_data(args)
    seed = args.seed if args.seed is not None else 0
    split = make_split(data, forget_request(args, seed))
    check_methods(methods, args.model)
    recipe = recipe_of(args)
    try:
        ex = make_executor(args.executor, args.workers)
    except RuntimeError as exc:  # Ray missing
        raise SystemExit(f"unlearn audit: {exc}") from None
    bar, report = progress_bar("audit", not args.no_progress)
    try:
        result = run_audit(
            data,
            args.model,
            recipe,
            split,
            methods,
            models=args.models,
            seed=seed,
            executor=ex,
            relearn=args.relearn or False,
            progress=report,
        )
    finally:
        bar.close()
        ex.close()
    if args.save:
        from ..store import RunStore

        rec = RunStore(args.home).save_comparison(
            result, dataset=data, recipe=recipe.to_dict(), save_models=False
        )
        print(f"saved audit {rec.id} (unlearn runs show {rec.id})", file=sys.stderr)
    if args.json:
        print(json.dumps(result.summary()))
    else:
        _print_audit(result)
    return 0


def _print_audit(result) -> None:
    def f(v, d=3):
        return "-" if v is None else f"{v:.{d}f}"

    s = result.summary()
    print(
        f"audit on {s['dataset']} / {s['model']}, forget {s['forget'].get('description')}, "
        f"K = {s['models']} ({s['executor']}, {s['workers']} workers, {f(s['seconds'], 1)} s)"
    )
    print(f"{'method':<12}{'quality':>9}{'final':>8}{'privacy':>9}{'forget%':>9}{'retain%':>9}"
          f"{'test%':>8}  error")  # fmt: skip
    for r in [s["original"], s["retrain"], *s["results"]]:
        print(
            f"{r['method']:<12}{f(r.get('forget_quality')):>9}{f(r.get('final_score')):>8}"
            f"{f(r.get('privacy_score')):>9}{f(r.get('forget_acc'), 1):>9}"
            f"{f(r.get('retain_acc'), 1):>9}{f(r.get('test_acc'), 1):>8}  {r.get('error') or ''}"
        )
    if result.relearn_mode:
        _print_relearning(result)


def _print_relearning(result) -> None:
    """Per model: seeds measured, steps to the target and AIN (median and range over seeds)."""
    from ..audit.records import RELEARN_TARGET

    spreads = result.relearn_spread()
    what = "a few forget samples + retain" if result.relearn_mode == "forget" else "retain only"
    budget = max((x.budget for x in spreads), default=0)
    print(
        f"\nrelearning ({what}, {budget} steps, every seed); target: {RELEARN_TARGET}.\n"
        "AIN = steps / retrain's steps on the same seed (1: like retrain; well below 1: the "
        "knowledge is still in the model)"
    )
    print(f"{'model':<18}{'measured':>9}  {'steps to target':<18}{'AIN':<25}reading")
    for x in spreads:
        print(
            f"{x.model:<18}{f'{x.measurable}/{x.seeds}':>9}  {x.steps_text():<18}"
            f"{x.ain_text():<25}{x.reading}"
        )
