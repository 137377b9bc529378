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
    p.add_argument(
        "--metrics",
        default="eps",
        help="comma-separated lenses: eps (the NeurIPS-23 forget quality, always), klom, "
        "ulira, rmia (each over the K models per side; default eps)",
    )
    p.add_argument(
        "--attacks",
        default="",
        help="comma-separated recovery attacks: relearn (as --relearn), quantize (int8 and "
        "4-bit forget accuracy of every model)",
    )
    p.add_argument(
        "--rmia-a",
        type=float,
        default=None,
        help="RMIA's offline coefficient a in [0, 1] (default 1.0: the references' mean alone)",
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
    p.add_argument(
        "--reuse",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="take the originals, retrained and unlearned models already stored under the "
        "run store's home (`unlearn runs ensembles`) and train only the missing ones, then "
        "store them (default: on; --no-reuse trains everything and stores nothing, for "
        "benchmarks)",
    )
    p.set_defaults(func=cmd_audit)


def cmd_audit(args) -> int:
    from ..audit.executors import make_executor
    from ..audit.pipeline import RMIA_A, parse_choices, run_audit
    from ..audit.records import ATTACKS, METRICS
    from ..forget import make_split

    if args.checkpoint is not None:
        raise SystemExit("audit trains its own K originals: leave out --checkpoint")
    if args.models < 2:
        raise SystemExit(f"--models: an audit needs at least 2, not {args.models}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise SystemExit("--methods: name at least one method")
    try:
        metrics = parse_choices(args.metrics, METRICS, "metric")
        attacks = parse_choices(args.attacks, ATTACKS, "attack")
    except ValueError as exc:
        raise SystemExit(f"unlearn audit: {exc}") from None
    rmia_a = RMIA_A if args.rmia_a is None else args.rmia_a
    if not 0.0 <= rmia_a <= 1.0:
        raise SystemExit(f"--rmia-a: a must lie in [0, 1], not {rmia_a}")
    seed = args.seed if args.seed is not None else 0
    from .text import is_text

    if is_text(args):  # the text track: tinylm models on the facts corpus or a JSONL file
        data, split, recipe = _text_setup(args, methods, seed)
        args.model = "tinylm"
    else:
        data = load_data(args)
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
            metrics=metrics,
            attacks=attacks,
            rmia_a=rmia_a,
            reuse=args.reuse,
            ensembles=args.home,
        )
    finally:
        bar.close()
        ex.close()
    if result.reused:
        print(result.reuse_line(), file=sys.stderr)
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


def _text_setup(args, methods: list[str], seed: int):
    """``(data, split, recipe)`` of a text audit: the data, forget options and recipe read as
    ``unlearn compare`` reads them on text (``cli.text``); retrain and the language methods only.
    Each model is a tinylm trained from scratch (``text.audit_scores``), about 30 s on the
    default corpus on 2 quiet cores."""
    from dataclasses import replace

    from ..methods import get_method
    from ..text import TEXT_RECIPE
    from .text import load_text_data, text_request

    if args.model not in ("tinylm", "mlp"):  # mlp: the parser's default
        raise SystemExit("text data trains the tinylm model (--model tinylm)")
    if args.relearn or "relearn" in args.attacks:
        raise SystemExit(
            "unlearn audit: the relearning attack on text runs on comparisons "
            "(unlearn compare --dataset facts --attacks relearn)"
        )
    data = load_text_data(args)
    split = data.make_split(text_request(args, seed))
    check_methods(methods, "tinylm")
    for m in methods:
        if get_method(m).spec.family != "language" and not get_method(m).handles_text:
            raise SystemExit(f"unlearn audit: {m} is not a text method; use a 'language' method")
    return data, split, replace(TEXT_RECIPE, epochs=args.epochs or TEXT_RECIPE.epochs)


def _print_audit(result) -> None:
    """The audit's scores (:data:`AUDIT_COLUMNS`, an error column when a model failed; the
    relearning in a table of its own), then its relearning."""
    from ..evaluation.tables import AUDIT_COLUMNS, ERROR_COLUMN, audit_columns, text_table

    s = result.summary()
    seconds = "-" if s["seconds"] is None else f"{s['seconds']:.1f}"
    print(
        f"audit on {s['dataset']} / {s['model']}, forget {s['forget'].get('description')}, "
        f"K = {s['models']} ({s['executor']}, {s['workers']} workers, {seconds} s)"
    )
    rows = [s["original"], s["retrain"], *s["results"]]
    print(text_table(rows, audit_columns(rows, (*AUDIT_COLUMNS, ERROR_COLUMN))))
    if result.lensed:
        _print_lens_notes(s)
    if result.relearn_mode:
        _print_relearning(result)


def _print_lens_notes(s: dict) -> None:
    """What the lens columns read: KLoM's oracle baseline, RMIA's a, the retrain row."""
    notes = []
    if s.get("klom_baseline_forget_p95") is not None:
        h = s["klom_baseline_models_per_half"]
        notes.append(
            f"KLoM (nats, 0 = like retrain, at most 11.51): oracle baseline (retrains {h} vs "
            f"{h}) forget P95 {s['klom_baseline_forget_p95']:.2f}"
        )
    if s.get("rmia_a") is not None:
        notes.append(f"RMIA: offline a = {s['rmia_a']:g}, gamma = 1 (AUC 0.5 = like retrain)")
    if "ulira" in s.get("metrics", []):
        notes.append("U-LiRA: balanced accuracy, 50 % = like retrain")
    notes.append(
        "retrain row: KLoM, U-LiRA and RMIA of its first half against its second half "
        "(retraining against itself)"
    )
    print("\n".join(notes))


def _print_relearning(result) -> None:
    """Per model: seeds measured, steps to the target and AIN (median and range over seeds):
    :data:`RELEARN_COLUMNS`."""
    from ..audit.records import RELEARN_TARGET
    from ..evaluation.tables import RELEARN_COLUMNS, relearn_rows, text_table

    spreads = result.relearn_spread()
    what = "a few forget samples + retain" if result.relearn_mode == "forget" else "retain only"
    budget = max((x.budget for x in spreads), default=0)
    print(
        f"\nrelearning ({what}, {budget} steps, every seed); target: {RELEARN_TARGET}.\n"
        "AIN = steps / retrain's steps on the same seed (1: like retrain; well below 1: the "
        "knowledge is still in the model)"
    )
    print(text_table(relearn_rows(spreads), RELEARN_COLUMNS))
