"""What every ``unlearn`` command shares: the data and forget-request arguments, loading the
data, the recipe, training or loading the originals, parameters and progress on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def progress_bar(desc: str, enabled: bool = True):
    """``(bar, report)`` for the library's ``progress(fraction, message)``: a tqdm bar on
    stderr when it is a terminal, else one plain line per stage (``progress.StageLines``)."""
    from tqdm import tqdm

    from ..runtime.progress import StageLines

    isatty = getattr(sys.stderr, "isatty", None)
    if enabled and not (callable(isatty) and isatty()):
        lines = StageLines(desc, sys.stderr)
        return lines, lines

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


def add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits", help="built-in dataset (default: digits)")
    g.add_argument("--data", type=Path, help="a file or folder of yours to load instead")
    g.add_argument("--format", dest="fmt", help="format of --data: idx|cifar|folder|npz|csv")
    g.add_argument("--label-column", default="label", help="label column of a CSV file")
    g.add_argument("--model", default="mlp", help="architecture: mlp|cnn|resnet18")
    g.add_argument("--epochs", type=int, help="training epochs (default: the model's recipe)")
    g.add_argument("--checkpoint", type=Path, help="load the trained model from this checkpoint")
    g.add_argument(
        "--seed", type=int, help="seed for training, forget set and methods (default: 0)"
    )
    g.add_argument("--device", help="cpu|cuda|mps (default: cuda, then mps, then cpu)")


def add_forget_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("forget request")
    g.add_argument("--forget-class", help="class id(s) to forget, comma-separated")
    g.add_argument("--forget-indices", help="training indices I,J,... or a file of them")
    g.add_argument(
        "--forget-fraction",
        type=float,
        help="random fraction of the training set (of --forget-class when given)",
    )


def load_data(args):
    from ..data import load_dataset, load_file

    if args.data is not None:
        if not args.fmt:
            raise SystemExit("--data needs --format (idx, cifar, folder, npz or csv)")
        kw = {"label": args.label_column} if args.fmt == "csv" else {}
        return load_file(args.data, args.fmt, **kw)
    return load_dataset(args.dataset)


def parse_ints(text: str, what: str) -> tuple[int, ...]:
    p = Path(text)
    if p.exists():
        text = p.read_text().replace("\n", ",").replace(" ", ",")
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError as exc:
        raise SystemExit(
            f"{what}: expected integers separated by commas, got {text[:40]!r}"
        ) from exc


def seeds_of(args) -> list[int]:
    """``--seeds 0,1,2`` or ``--seed S`` (not both); default ``[0]``."""
    if getattr(args, "seeds", None):
        if args.seed is not None:
            raise SystemExit("give --seed or --seeds, not both")
        seeds = list(dict.fromkeys(parse_ints(args.seeds, "--seeds")))
        if not seeds:
            raise SystemExit("--seeds: give at least one seed")
        return seeds
    return [args.seed if args.seed is not None else 0]


def forget_request(args, seed: int):
    """The forget request; a random fraction is drawn with ``seed`` (the first of --seeds) and
    the same samples are forgotten for every seed."""
    from ..forget import ForgetRequest

    classes = parse_ints(args.forget_class, "--forget-class") if args.forget_class else ()
    indices = parse_ints(args.forget_indices, "--forget-indices") if args.forget_indices else ()
    return ForgetRequest(classes=classes, indices=indices, fraction=args.forget_fraction, seed=seed)


def recipe_of(args):
    from ..training import default_recipe

    recipe = default_recipe(args.model)
    if args.epochs:
        recipe.epochs = args.epochs
    return recipe


def trained_model(args, data, show: bool):
    from ..runtime.device import pick_device
    from ..training import train_new_model

    dev = pick_device(args.device)
    recipe = recipe_of(args)
    seed = args.seed if args.seed is not None else 0
    bar, report = progress_bar(f"train {args.model}", show)
    model, _ = train_new_model(data, args.model, recipe, seed=seed, device=dev, progress=report)
    bar.close()
    return model, recipe, dev


def load_originals(args, data, seeds: list[int], dev):
    """``(model source, recipe, {seed: loaded model})`` for :func:`compare_seeds`.

    Without ``--checkpoint`` every seed trains its original with ``--model`` and the recipe.
    With it: one seed uses the checkpoint whatever the seed (as before ``--seeds``); several
    seeds use it for the seed it was trained with (recorded by ``unlearn train``), which must be
    among them, and train the others' originals with the checkpoint's architecture and recipe.
    A checkpoint that records no seed cannot stand for one of several seeds: an error.
    """
    from ..store.checkpoints import CheckpointError, load_checkpoint
    from ..training import TrainConfig, train_new_model

    recipe = recipe_of(args)
    if not args.checkpoint:
        return args.model, recipe, {}
    model, meta = load_checkpoint(args.checkpoint, dataset=data, arch=args.model, device=dev)
    recipe = TrainConfig.from_dict(meta.get("train_config", recipe.to_dict()))
    if len(seeds) == 1:
        return None, recipe, {seeds[0]: model}
    own = meta.get("seed")
    listed = ",".join(map(str, seeds))
    if own is None:
        raise CheckpointError(
            f"{args.checkpoint}: the checkpoint records no training seed, so it cannot stand "
            f"for one of --seeds {listed}; give one seed, or drop --checkpoint"
        )
    if int(own) not in seeds:
        raise CheckpointError(
            f"{args.checkpoint}: the checkpoint was trained with seed {own}, which is not among "
            f"--seeds {listed}; include it, or drop --checkpoint to train every seed"
        )
    spec = meta["model"]
    others = [s for s in seeds if s != int(own)]
    print(
        f"checkpoint used for seed {own}; training originals for seeds "
        f"{','.join(map(str, others))} with its architecture and recipe",
        file=sys.stderr,
    )

    def factory(seed: int, progress):
        m, _ = train_new_model(
            data,
            spec["arch"],
            recipe,
            seed=seed,
            device=dev,
            progress=progress,
            model_kwargs=spec.get("kwargs") or {},
        )
        return m

    return factory, recipe, {int(own): model}


def parse_params(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--param expects NAME=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def check_methods(methods: list, arch: str | None = None) -> None:
    """Refuse unknown method names and bad parameter values before any training starts."""
    import inspect

    from ..methods import ParamError, get_method

    for m in methods:
        name, overrides = (m, {}) if isinstance(m, str) else m
        try:
            spec = get_method(name).spec
        except KeyError as exc:
            raise ParamError(str(exc.args[0])) from None
        if "arch" in inspect.signature(spec.resolve).parameters:
            spec.resolve(overrides, arch=arch)
        else:
            spec.resolve(overrides)


def add_scenario_args(p: argparse.ArgumentParser) -> None:
    """The repair scenario (``unlearn_core.repair``): corrupt the training set, forget the
    corrupted samples that were found, and score the repair."""
    g = p.add_argument_group("repair scenario (instead of a forget request)")
    g.add_argument(
        "--scenario",
        choices=("label-noise", "backdoor", "feature", "restor"),
        help="corrupt the training set; the original trains on it, 'clean' on the clean set, "
        "the forget set is the corrupted samples found (--detection-rate); restor (text): "
        "wrong answers about --corrupt-fraction of the people, trained into the clean model",
    )
    g.add_argument("--corrupt-fraction", type=float, help="share of the pool corrupted")
    g.add_argument("--from-class", type=int, help="label-noise / feature: the class affected")
    g.add_argument("--to-class", type=int, help="label-noise: the new label (default: random)")
    g.add_argument("--target-class", type=int, help="backdoor: the target class")
    g.add_argument(
        "--detection-rate", type=float, default=1.0, help="share of the corrupted samples found"
    )
    g.add_argument(
        "--backdoor-fix",
        choices=("label", "input"),
        default="label",
        help="a backdoored sample's fixed version: its true label (default) or its clean input",
    )


def scenario_of(args, data, seed: int):
    """``(scenario, scorer)`` for ``--scenario`` (None, None without it); a forget request given
    beside it is an error. The corruption is drawn with ``seed`` (the first of --seeds)."""
    if not getattr(args, "scenario", None):
        return None, None
    from ..forget import ForgetError

    if args.scenario == "restor":
        raise ForgetError("--scenario restor is for text (--dataset facts --model tinylm)")
    from ..repair import RepairScorer, ScenarioError, make_scenario

    if args.forget_class or args.forget_indices or args.forget_fraction is not None:
        raise ForgetError(
            "--scenario makes the forget set (the corrupted samples): drop --forget-*"
        )
    if args.corrupt_fraction is None:
        raise ForgetError("--scenario needs --corrupt-fraction")
    try:
        sc = make_scenario(
            data,
            args.scenario,
            args.corrupt_fraction,
            seed=seed,
            from_class=args.from_class,
            to_class=args.to_class,
            target_class=args.target_class,
            detection_rate=args.detection_rate,
            backdoor_fix=args.backdoor_fix,
        )
    except ScenarioError as exc:
        raise ForgetError(str(exc)) from None
    return sc, RepairScorer(sc)
