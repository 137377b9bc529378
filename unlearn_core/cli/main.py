"""``unlearn``: the command-line front over the library (same calls as the app)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .audit import add_audit_command
from .common import (
    add_data_args,
    add_forget_args,
    add_scenario_args,
    check_methods,
    forget_request,
    load_data,
    load_originals,
    parse_params,
    progress_bar,
    scenario_of,
    seeds_of,
    trained_model,
)
from .invert import add_invert_command
from .runs import add_runs_commands
from .tune import add_tune_command


def cmd_list_methods(args) -> int:
    from ..methods import list_methods
    from ..methods.base import preset_info
    from ..methods.robustness import robustness_cards

    specs = list_methods()
    if args.arch == "tinylm":  # the text track: retrain and the language methods
        specs = [s for s in specs if s.name == "retrain"] + list_methods("language")
    if args.json:
        out = []
        for s in specs:
            d = s.to_dict()
            d["preset"] = preset_info(s.name, args.arch).to_dict()
            d["robustness"] = [c.to_dict() for c in robustness_cards(s.name, args.arch)]
            out.append(d)
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(
        f"defaults for model {args.arch} (presets: {args.arch} where one exists; --arch to change)"
    )
    for s in specs:
        info = preset_info(s.name, args.arch)
        tag = "spec defaults" if info.status == "defaults" else f"preset {info.name}, {info.status}"
        print(f"{s.name:14s} {s.family:11s} {s.label} — {s.paper}  [{s.origin_text}; {tag}]")
        for card in robustness_cards(s.name, args.arch):
            print(f"{'':16s}held-out splits, {card.describe()}")
        for p in s.params:
            rng = f" in [{p.range[0]}, {p.range[1]}]" if p.range else ""
            value = info.params.get(p.name, p.default)
            mark = " (preset)" if p.name in info.values else ""
            print(f"{'':16s}{p.name}={value!r}{mark}{rng}: {p.help}")
    for s in list_methods("demonstration"):  # offered to show a point, not as unlearning
        print(f"{s.name:14s} {s.family:11s} {s.label}: {s.summary}")
    return 0


def cmd_train(args) -> int:
    from ..store.checkpoints import save_checkpoint
    from ..training import evaluate

    data = load_data(args)
    model, recipe, _ = trained_model(args, data, show=True)
    acc = evaluate(model, data.x_test, data.y_test)
    out = args.out or Path(f"{data.name}-{args.model}-seed{args.seed}")
    path = save_checkpoint(
        model,
        out,
        data,
        extra={"train_config": recipe.to_dict(), "seed": args.seed, "test_acc": acc},
    )
    print(f"test accuracy {acc:.2f}% — saved {path}")
    return 0


def _run_comparison(args, methods: list, include_retrain: bool, keep_models: bool = False):
    """Every seed's comparison through :func:`compare_seeds`; returns ``(multi, data)``."""
    from ..experiment import compare_seeds
    from ..forget import make_split
    from ..runtime.device import pick_device
    from .text import is_text, run_text_comparison

    if is_text(args):  # the text track (--dataset facts / --model tinylm / a .jsonl file)
        return run_text_comparison(args, methods, include_retrain, keep_models)
    if getattr(args, "attacks", None):
        raise SystemExit(
            "--attacks runs on text comparisons; for images: unlearn audit --attacks relearn,quantize"
        )
    data = load_data(args)
    seeds = seeds_of(args)
    scenario, scorer = scenario_of(args, data, seeds[0])
    if scenario is not None:  # a repair: train on the corrupted set, forget what was found
        data, split = scenario.corrupted, scenario.split()
    else:
        split = make_split(data, forget_request(args, seeds[0]))  # refuse a bad request early
    check_methods(methods, args.model)
    dev = pick_device(args.device)
    source, recipe, originals = load_originals(args, data, seeds, dev)
    bar, report = progress_bar("unlearn", not args.no_progress)
    multi = compare_seeds(
        data,
        source,
        recipe,
        split,
        methods,
        seeds=seeds,
        originals=originals,
        include_retrain=include_retrain,
        device=dev,
        progress=report,
        keep_models=keep_models,
        scenario=scorer,
    )
    bar.close()
    return multi, data, recipe


def _save_run(args, multi, data, recipe) -> None:
    """Store the run in the run store (one seed: with its models) and say where."""
    from ..store import RunStore

    one = len(multi.comparisons) == 1
    rec = RunStore(args.home).save_comparison(
        multi.comparisons[0] if one else multi, dataset=data, recipe=recipe.to_dict()
    )
    print(f"saved run {rec.id} (unlearn runs show {rec.id})", file=sys.stderr)


def _print_table(multi) -> None:
    """The results table (:data:`RESULT_COLUMNS` and notes): one line per model; a number that
    several seeds gave reads ``mean ± std``."""
    from ..evaluation.tables import (
        NOTES_COLUMN,
        RESULT_COLUMNS,
        columns_for,
        result_column,
        seed_row,
        text_table,
    )

    spread = len(multi.seeds) > 1
    rows = []
    for s in [multi.original, *multi.results]:
        row, notes = seed_row(s), []
        if s.damaged:
            notes.append(
                "DAMAGED: retain > 10 pts below retrain"
                + (f" (seeds {','.join(map(str, s.damaged_seeds))})" if spread else "")
            )
        if s.errors and (s.stats["forget_acc"].n or s.stats["seconds"].n):
            notes.append(f"failed: {s.error}")  # some seeds failed: the others' numbers
            row["error"] = None
        rows.append({**row, "notes": "; ".join(notes)})
    forget = multi.forget
    seeds = ",".join(map(str, multi.seeds))
    print(
        f"{multi.dataset} / {multi.model} — forget {forget['description']} "
        f"({forget['n_forget']} samples); seed{'s' if spread else ''} {seeds}"
        + (" (mean ± std)" if spread else "")
    )
    columns = columns_for(rows, (*RESULT_COLUMNS, NOTES_COLUMN))
    print(text_table(rows, columns))
    if any(c.key == "test_forgotten_acc" for c in columns):
        test, forgot = result_column("test_acc"), result_column("test_forgotten_acc")
        print(
            f"{test.title}: the remaining classes' test samples; {forgot.title}: the forgotten "
            "classes' (OPTML)"
        )


def cmd_compare(args) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    multi, data, recipe = _run_comparison(
        args, methods, include_retrain=not args.no_retrain, keep_models=args.save
    )
    if args.json:
        print(json.dumps(multi.summary()))
    else:
        _print_table(multi)
    if args.save:
        _save_run(args, multi, data, recipe)
    return 0


def cmd_run(args) -> int:
    params = parse_params(args.param)
    if args.out and len(seeds_of(args)) > 1:
        raise SystemExit("--out saves one unlearned model: give one seed")
    multi, data, recipe = _run_comparison(
        args,
        [(args.method, params)],
        include_retrain=args.with_retrain,
        keep_models=bool(args.out) or args.save,
    )
    if args.json:
        print(json.dumps(multi.summary()))
    else:
        _print_table(multi)
    if args.save:
        _save_run(args, multi, data, recipe)
    summary = multi.get(args.method)
    ok = summary is not None and summary.ok
    if args.out and ok:
        from ..store.checkpoints import save_checkpoint

        res = multi.comparisons[0].get(args.method)
        path = save_checkpoint(
            res.model,
            args.out,
            data,
            extra={"unlearned_by": args.method, "params": res.params},
        )
        print(f"saved {path}", file=sys.stderr)
    return 0 if ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unlearn", description="Machine unlearning workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-methods", help="list the unlearning methods and their parameters")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--arch", default="mlp", help="show the defaults (presets) for this model (default: mlp)"
    )
    p.set_defaults(func=cmd_list_methods)

    p = sub.add_parser("train", help="train a model and save a checkpoint")
    add_data_args(p)
    p.add_argument("--out", type=Path, help="checkpoint path (without extension)")
    p.set_defaults(func=cmd_train)

    for name, func, help_ in (
        ("run", cmd_run, "run one method on a forget request"),
        ("compare", cmd_compare, "run several methods plus retrain and compare them"),
    ):
        p = sub.add_parser(name, help=help_)
        add_data_args(p)
        add_forget_args(p)
        add_scenario_args(p)
        p.add_argument(
            "--seeds",
            help="run the whole comparison once per seed (e.g. 0,1,2: each trains its own "
            "original) and report mean ± std; a random forget fraction is drawn with the first",
        )
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument(
            "--attacks",
            default="",
            help="text data: comma-separated recovery attacks on every model, relearn (forget "
            "exact match after 30 fine-tuning steps on a few forget rows) and quantize (int8 and "
            "4-bit); for images see unlearn audit --attacks",
        )
        p.set_defaults(func=func)
        if name == "run":
            p.add_argument("--method", required=True)
            p.add_argument("--param", action="append", help="NAME=VALUE (repeatable)")
            p.add_argument(
                "--with-retrain",
                action="store_true",
                help="also retrain, to report the gap and time ratio",
            )
            p.add_argument("--out", type=Path, help="save the unlearned model as a checkpoint")
        else:
            p.add_argument(
                "--methods",
                default="finetune,neggrad,scrub,salun,ssd,lrp",
                help="comma-separated method names",
            )
            p.add_argument("--no-retrain", action="store_true", help="skip the retrain reference")
        p.add_argument(
            "--save",
            action=argparse.BooleanOptionalAction,
            default=True,
            help="store the run in the run store (default: on; --no-save to skip)",
        )
        p.add_argument(
            "--home", type=Path, help="run store folder (default: $UNLEARN_HOME, else ./runs)"
        )
    add_runs_commands(sub)

    add_audit_command(sub)

    add_tune_command(sub)

    add_invert_command(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..data import DataError
    from ..forget import ForgetError
    from ..methods import ParamError
    from ..models import ModelError
    from ..store import RunStoreError
    from ..store.checkpoints import CheckpointError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ForgetError, CheckpointError, ModelError, ParamError, RunStoreError) as exc:
        print(f"unlearn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
