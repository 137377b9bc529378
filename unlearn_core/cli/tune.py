"""``unlearn tune``: search a method's parameters for the settings closest to retraining.

Trains (or loads with ``--checkpoint``) the original, retrains once, then runs the trials of
:func:`unlearn_core.audit.sweep.tune` on the chosen executor and prints them (a table, best
first, or ``--json``: the sweep's ``summary()``, its record with the dataset, model and forget
set; ``--out FILE`` also writes that object to a file). Like ``unlearn audit``, it stores the
sweep in the run store (kind "sweep", ``--no-save`` to skip, ``--home``) and says its id on
stderr, unless no trial ran.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import (
    add_data_args,
    add_forget_args,
    forget_request,
    load_data,
    parse_params,
    progress_bar,
    recipe_of,
    trained_model,
)


def add_tune_command(sub) -> None:
    """Register ``tune`` on the CLI's subparsers."""

    p = sub.add_parser(
        "tune",
        help="search a method's parameters (grid or Optuna) for the smallest gap to retrain",
    )
    add_data_args(p)
    add_forget_args(p)
    p.add_argument("--method", required=True, help="the method to tune")
    p.add_argument("--trials", type=int, default=20, help="number of trials (default 20)")
    p.add_argument(
        "--sampler",
        choices=("optuna", "grid"),
        default="optuna",
        help="Optuna's TPE sampler, seeded with --seed (default), or a grid over the ranges",
    )
    p.add_argument(
        "--search",
        help="parameters to search, comma-separated (default: those the method marks for search)",
    )
    p.add_argument(
        "--param", action="append", help="NAME=VALUE kept fixed in every trial (repeatable)"
    )
    p.add_argument(
        "--executor", choices=("local", "ray"), default="local", help="where the trials run"
    )
    p.add_argument("--workers", type=int, help="parallel trials (default: the machine's cores)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--out", type=Path, help="also write the JSON object to this file")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store the sweep in the run store (default: on; --no-save to skip)",
    )
    p.add_argument(
        "--home", type=Path, help="run store folder (default: $UNLEARN_HOME, else ./runs)"
    )
    p.set_defaults(func=cmd_tune)


def _original(args, data, dev):
    """``(model, recipe)``: loaded from ``--checkpoint`` or trained with ``--model``."""
    from ..store.checkpoints import load_checkpoint
    from ..training import TrainConfig

    if args.checkpoint:
        model, meta = load_checkpoint(args.checkpoint, dataset=data, arch=args.model, device=dev)
        recipe = TrainConfig.from_dict(meta.get("train_config", recipe_of(args).to_dict()))
        return model, recipe
    model, recipe, _ = trained_model(args, data, show=not args.no_progress)
    return model, recipe


def cmd_tune(args) -> int:
    from ..audit.sweep import SweepError, search_space, tune
    from ..forget import make_split
    from ..methods import get_method
    from ..runtime.device import pick_device

    try:
        get_method(args.method)
    except KeyError as exc:
        raise SystemExit(f"unlearn: error: {exc.args[0]}") from None
    search = [s.strip() for s in args.search.split(",") if s.strip()] if args.search else None
    fixed = parse_params(args.param)
    try:
        search_space(args.method, search)  # refuse a bad search before any training
        if args.trials < 1:
            raise SweepError(f"--trials must be at least 1, not {args.trials}")
        if args.workers is not None and args.workers < 1:
            raise SweepError(f"--workers must be at least 1, not {args.workers}")
        data = load_data(args)
        seed = args.seed if args.seed is not None else 0
        split = make_split(data, forget_request(args, seed))
        dev = pick_device(args.device)
        model, recipe = _original(args, data, dev)
        bar, report = progress_bar(f"tune {args.method}", not args.no_progress)
        try:
            result = tune(
                data, model, recipe, split, args.method,
                trials=args.trials, sampler=args.sampler, search=search, fixed=fixed,
                seed=seed, executor=args.executor, workers=args.workers, progress=report,
            )  # fmt: skip
        finally:
            bar.close()
    except (SweepError, RuntimeError) as exc:
        print(f"unlearn: error: {exc}", file=sys.stderr)
        return 2
    if args.save and result.ran:
        from ..store import RunStore, RunStoreError

        try:
            rec = RunStore(args.home).save_comparison(
                result, dataset=data, recipe=recipe.to_dict(), save_models=False
            )
        except RunStoreError as exc:
            print(f"unlearn: the sweep was not stored: {exc}", file=sys.stderr)
        else:
            print(f"saved sweep {rec.id} (unlearn runs show {rec.id})", file=sys.stderr)
    doc = result.summary()
    if args.out:
        args.out.write_text(json.dumps(doc, indent=1))
        print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        print(json.dumps(doc))
    else:
        _print_trials(result, doc)
    return 0 if result.best is not None else 1


def _print_trials(result, doc: dict) -> None:
    """The trials, best first (``trials_columns``), then the best settings and how to use
    them."""
    from ..audit.sweep import trials_columns, trials_table
    from ..evaluation.tables import text_table

    print(
        f"{doc['dataset']} / {doc['model']} — forget {doc['forget']}; {result.method}, "
        f"{len(result.trials)} trials ({result.sampler}, seed {result.seed}, "
        f"{result.executor} executor, {result.seconds:.1f} s)"
    )
    print(f"objective: {result.objective}")
    ref = result.retrain
    print(
        "retrain:  forget {:.2f}  retain {:.2f}  test {:.2f}  MIA {:.2f}".format(
            *(
                float("nan") if ref.get(k) is None else ref[k]
                for k in ("forget_acc", "retain_acc", "test_acc", "mia")
            )
        )
    )
    rows = trials_table(result)
    print(text_table(rows, trials_columns(result, rows)))
    if result.stopped:
        print("stopped before every trial ran")
    best = result.best
    if best is None:
        print("no trial finished: no best settings")
        return
    settings = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in {
        **result.fixed, **best.params}.items())  # fmt: skip
    params = " ".join(
        f"--param {k}={v:.4g}" if isinstance(v, float) else f"--param {k}={v}"
        for k, v in {**result.fixed, **best.params}.items()
    )
    print(f"best: {settings} (trial {best.number}, gap {best.gap:.2f})")
    print(f"use:  unlearn run --method {result.method} {params} --with-retrain")


__all__ = ["add_tune_command", "cmd_tune"]
