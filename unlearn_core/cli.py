"""``unlearn``: the command-line front over the library (same calls as the app)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _progress_bar(desc: str, enabled: bool = True):
    """A tqdm bar on stderr driven by the library's ``progress(fraction, message)``."""
    from tqdm import tqdm

    bar = tqdm(
        total=1000,
        desc=desc,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
        bar_format="{desc} {bar} {percentage:3.0f}% {elapsed} {postfix}",
    )

    def report(fraction: float, message: str = "") -> None:
        bar.n = int(round(1000 * min(max(fraction, 0.0), 1.0)))
        bar.set_postfix_str(message[:60], refresh=False)
        bar.refresh()

    return bar, report


def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", help="built-in dataset (default: digits)")
    g.add_argument("--data", type=Path, help="a file or folder of yours to load instead")
    g.add_argument("--format", dest="fmt", help="format of --data: idx|cifar|folder|npz|csv")
    g.add_argument("--label-column", default="label", help="label column of a CSV file")
    g.add_argument("--model", default="mlp", help="architecture: mlp|cnn|resnet18")
    g.add_argument("--epochs", type=int, help="training epochs (default: the model's recipe)")
    g.add_argument("--checkpoint", type=Path, help="load the trained model from this checkpoint")
    g.add_argument("--seed", type=int, default=0, help="seed for training, forget set and methods")
    g.add_argument("--device", help="cpu|cuda|mps (default: cuda, then mps, then cpu)")


def _add_forget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("forget request")
    g.add_argument("--forget-class", help="class id(s) to forget, comma-separated")
    g.add_argument("--forget-indices", help="training indices I,J,... or a file of them")
    g.add_argument(
        "--forget-fraction",
        type=float,
        help="random fraction of the training set (of --forget-class when given)",
    )


def _load_data(args):
    from .data import load_dataset, load_file

    if args.data is not None:
        if not args.fmt:
            raise SystemExit("--data needs --format (idx, cifar, folder, npz or csv)")
        kw = {"label": args.label_column} if args.fmt == "csv" else {}
        return load_file(args.data, args.fmt, **kw)
    return load_dataset(args.dataset)


def _parse_ints(text: str, what: str) -> tuple[int, ...]:
    p = Path(text)
    if p.exists():
        text = p.read_text().replace("\n", ",").replace(" ", ",")
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise SystemExit(
            f"{what}: expected integers separated by commas, got {text[:40]!r}"
        ) from exc


def _forget_request(args):
    from .forget import ForgetRequest

    classes = _parse_ints(args.forget_class, "--forget-class") if args.forget_class else ()
    indices = _parse_ints(args.forget_indices, "--forget-indices") if args.forget_indices else ()
    return ForgetRequest(
        classes=classes, indices=indices, fraction=args.forget_fraction, seed=args.seed
    )


def _trained_model(args, data, show: bool):
    from .checkpoints import load_checkpoint
    from .device import pick_device
    from .training import default_recipe, train_new_model

    dev = pick_device(args.device)
    recipe = default_recipe(args.model)
    if args.epochs:
        recipe.epochs = args.epochs
    if args.checkpoint:
        model, meta = load_checkpoint(args.checkpoint, dataset=data, arch=args.model, device=dev)
        recipe = type(recipe).from_dict(meta.get("train_config", recipe.to_dict()))
        return model, recipe, dev
    bar, report = _progress_bar(f"train {args.model}", show)
    model, _ = train_new_model(
        data, args.model, recipe, seed=args.seed, device=dev, progress=report
    )
    bar.close()
    return model, recipe, dev


def _parse_params(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def cmd_list_methods(args) -> int:
    from .methods import list_methods

    specs = list_methods()
    if args.json:
        print(json.dumps([s.to_dict() for s in specs], indent=2, default=str))
        return 0
    for s in specs:
        print(f"{s.name:14s} {s.family:11s} {s.label} — {s.paper}")
        for p in s.params:
            rng = f" in [{p.range[0]}, {p.range[1]}]" if p.range else ""
            print(f"{'':16s}{p.name}={p.default!r}{rng}: {p.help}")
    return 0


def cmd_train(args) -> int:
    from .checkpoints import save_checkpoint
    from .training import evaluate

    data = _load_data(args)
    model, recipe, _ = _trained_model(args, data, show=True)
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


def _run_comparison(args, methods: list, include_retrain: bool):
    from .experiment import compare
    from .forget import make_split

    data = _load_data(args)
    request = _forget_request(args)
    split = make_split(data, request)  # refuse a bad request before training anything
    _check_methods(methods)
    show = not args.no_progress
    model, recipe, dev = _trained_model(args, data, show)
    bar, report = _progress_bar("unlearn", show)
    comp = compare(
        data,
        model,
        recipe,
        split,
        methods,
        seed=args.seed,
        include_retrain=include_retrain,
        device=dev,
        progress=report,
    )
    bar.close()
    return comp, data


def _check_methods(methods: list) -> None:
    """Refuse unknown method names and bad parameter values before any training starts."""
    from .methods import ParamError, get_method

    for m in methods:
        name, overrides = (m, {}) if isinstance(m, str) else m
        try:
            spec = get_method(name).spec
        except KeyError as exc:
            raise ParamError(str(exc.args[0])) from None
        spec.resolve(overrides)


def _print_table(comp) -> None:
    head = f"{'method':14s} {'forget':>7s} {'retain':>7s} {'test':>7s} {'MIA':>7s} {'gap':>6s} {'sec':>7s} {'ratio':>6s}"
    print(
        f"{comp.dataset} / {comp.model} — forget {comp.forget['description']} "
        f"({comp.forget['n_forget']} samples)"
    )
    print(head)
    print("-" * len(head))

    def fmt(v, w, d=2):
        return f"{v:{w}.{d}f}" if v is not None else f"{'—':>{w}s}"

    for r in [comp.original, *comp.results]:
        row = r.row()
        if r.error:
            print(f"{r.method:14s} error: {r.error}")
            continue
        print(
            f"{r.method:14s} {fmt(row['forget_acc'], 7)} {fmt(row['retain_acc'], 7)} "
            f"{fmt(row['test_acc'], 7)} {fmt(row['mia'], 7)} {fmt(row['avg_gap'], 6)} "
            f"{fmt(row['seconds'], 7, 3)} {fmt(row['time_ratio'], 6, 3)}"
        )


def cmd_compare(args) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    comp, _ = _run_comparison(args, methods, include_retrain=not args.no_retrain)
    if args.json:
        print(json.dumps(comp.summary()))
    else:
        _print_table(comp)
    if args.save:
        args.save.write_text(comp.to_json(indent=1))
    return 0


def cmd_run(args) -> int:
    params = _parse_params(args.param)
    comp, data = _run_comparison(args, [(args.method, params)], include_retrain=args.with_retrain)
    if args.json:
        print(json.dumps(comp.summary()))
    else:
        _print_table(comp)
    res = comp.get(args.method)
    if args.out and res is not None and res.ok:
        from .checkpoints import save_checkpoint

        path = save_checkpoint(
            res.model,
            args.out,
            data,
            extra={"unlearned_by": args.method, "params": res.params},
        )
        print(f"saved {path}", file=sys.stderr)
    return 0 if res is not None and res.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unlearn", description="Machine unlearning workbench")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("list-methods", help="list the unlearning methods and their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list_methods)

    p = sub.add_parser("train", help="train a model and save a checkpoint")
    _add_data_args(p)
    p.add_argument("--out", type=Path, help="checkpoint path (without extension)")
    p.set_defaults(func=cmd_train)

    for name, func, help_ in (
        ("run", cmd_run, "run one method on a forget request"),
        ("compare", cmd_compare, "run several methods plus retrain and compare them"),
    ):
        p = sub.add_parser(name, help=help_)
        _add_data_args(p)
        _add_forget_args(p)
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
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
            p.add_argument("--save", type=Path, help="write the full comparison as JSON here")
    return parser


def main(argv: list[str] | None = None) -> int:
    from .checkpoints import CheckpointError
    from .data import DataError
    from .forget import ForgetError
    from .methods import ParamError
    from .models import ModelError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (DataError, ForgetError, CheckpointError, ModelError, ParamError) as exc:
        print(f"unlearn: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
