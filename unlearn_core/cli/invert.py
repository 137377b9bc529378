"""``unlearn invert``: the unlearning inversion attack (Hu et al., IEEE S&P 2024) from the
command line: forget training samples, reconstruct them from the weight change, infer their
labels, and compare with a baseline update that carries no information about them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import add_data_args, load_data, parse_ints, parse_params, progress_bar, recipe_of


def add_invert_command(sub) -> None:
    """Register ``invert`` on the CLI's subparsers."""
    p = sub.add_parser(
        "invert",
        help="unlearning inversion attack: reconstruct forgotten samples from the weight "
        "change and infer their labels (Hu et al., IEEE S&P 2024)",
    )
    p.add_argument(
        "run_id",
        nargs="?",
        help="a stored run (unlearn runs list): attack its original and --method's model, "
        "its forget set forgotten in one request (at most 8 samples)",
    )
    add_data_args(p)
    p.add_argument("--samples", help="training indices to forget, e.g. 5,17,42,99 (at most 8)")
    p.add_argument("--method", required=True, help="the unlearning method whose update is attacked")
    p.add_argument("--param", action="append", help="method parameter NAME=VALUE (repeatable)")
    p.add_argument(
        "--together",
        action="store_true",
        help="forget the samples in one request (one summed update; harder) instead of one "
        "request each (the paper's one-sample setting)",
    )
    g = p.add_argument_group("attack")
    g.add_argument("--iterations", type=int, help="gradient-matching steps (default 600)")
    g.add_argument("--restarts", type=int, help="random restarts per sample (default 4)")
    g.add_argument("--attack-lr", type=float, help="Adam step on the pixels (default 0.1)")
    g.add_argument("--tv", type=float, help="total-variation weight (default 0.01)")
    g.add_argument(
        "--labels",
        choices=("inferred", "true"),
        help="labels the reconstruction uses: inferred by the attack (default) or the true "
        "ones (as the authors' code)",
    )
    g.add_argument(
        "--raw-update",
        action="store_true",
        help="attack the raw weight change (the paper); default removes its component along "
        "the original weights, which weight decay puts there (our extension)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--images", action="store_true", help="with --json: include the images")
    p.add_argument("--out", type=Path, help="also write the full result (with images) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--save",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="store the attack in the run store as a run of kind 'inversion' (default: on; "
        "--no-save to skip); `unlearn runs export ID --html FILE` writes its report",
    )
    p.add_argument(
        "--home",
        type=Path,
        help="run store folder for RUN_ID and --save (default: $UNLEARN_HOME, else ./runs)",
    )
    p.set_defaults(func=cmd_invert)


def attack_config(args):
    from ..inversion import InversionConfig

    kw = {
        "iterations": args.iterations,
        "restarts": args.restarts,
        "lr": args.attack_lr,
        "tv": args.tv,
        "labels": args.labels,
    }
    kw = {k: v for k, v in kw.items() if v is not None}
    if args.raw_update:
        kw["remove_decay"] = False
    return InversionConfig(**kw)


def print_result(res) -> None:
    head = (
        f"{res.dataset} / {res.model} — {res.method} "
        f"({'one request' if res.together else 'one request per sample'}), seed {res.seed}"
    )
    print(head)
    print(
        f"{'sample':>7} {'label':>5} {'inferred':>8} {'PSNR':>6} {'SSIM':>6} "
        f"{'base PSNR':>9} {'base SSIM':>9} {'grad cos':>8}"
    )
    for s in res.samples:
        print(
            f"{s.index:>7} {s.true_label:>5} {s.inferred_label:>8} {s.psnr:6.2f} {s.ssim:6.3f} "
            f"{s.baseline_psnr:9.2f} {s.baseline_ssim:9.3f} {s.gradient_cosine:8.3f}"
        )
    print(
        f"mean PSNR {res.psnr:.2f} dB (baseline {res.baseline_psnr:.2f}), SSIM {res.ssim:.3f} "
        f"(baseline {res.baseline_ssim:.3f}), labels {100 * res.label_accuracy:.0f}% right "
        f"(baseline {100 * res.baseline_label_accuracy:.0f}%); {res.seconds:.1f} s"
    )
    print(f"baseline: {res.baseline}")
    for note in res.notes:
        print(f"note: {note}")


def cmd_invert(args) -> int:
    from ..inversion import InversionError, invert_stored_run, run_inversion
    from ..methods import MethodNotApplicable

    try:
        cfg = attack_config(args)
        data = load_data(args)
        if args.model == "resnet18" and not args.run_id:
            from ..runtime.device import pick_device

            if pick_device(args.device).type == "cpu":
                print(
                    "unlearn invert: ResNet-18 on the CPU takes about 3 s per attack step for "
                    f"4 restarts ({cfg.iterations} steps per sample): use a GPU or fewer "
                    "--iterations",
                    file=sys.stderr,
                )
        bar, report = progress_bar("invert", not args.no_progress)
        try:
            if args.run_id:
                if args.samples:
                    raise SystemExit("give RUN_ID or --samples, not both")
                from ..store import RunStore

                res = invert_stored_run(
                    RunStore(args.home), args.run_id, args.method, data, cfg=cfg,
                    device=args.device, progress=report,
                )  # fmt: skip
            else:
                if not args.samples:
                    raise SystemExit("name the samples to forget: --samples 5,17,42,99")
                original = None
                if args.checkpoint is not None:
                    from ..store.checkpoints import load_checkpoint

                    original, _ = load_checkpoint(args.checkpoint, dataset=data, arch=args.model)
                res = run_inversion(
                    data,
                    args.model,
                    parse_ints(args.samples, "--samples"),
                    args.method,
                    parse_params(args.param),
                    seed=args.seed if args.seed is not None else 0,
                    together=args.together,
                    recipe=recipe_of(args),
                    cfg=cfg,
                    device=args.device,
                    progress=report,
                    original=original,
                )
        finally:
            bar.close()
    except (InversionError, MethodNotApplicable) as exc:
        print(f"unlearn invert: error: {exc}", file=sys.stderr)
        return 2
    stored_id = None
    if args.save:
        from ..inversion import save_inversion
        from ..store import RunStore, RunStoreError

        try:
            recipe = None if args.run_id else recipe_of(args)
            rec = save_inversion(RunStore(args.home), res, data, recipe=recipe)
        except RunStoreError as exc:  # the attack's figures are printed all the same
            print(f"unlearn invert: the attack was not stored: {exc}", file=sys.stderr)
        else:
            stored_id = rec.id
            print(
                f"saved inversion {rec.id} (unlearn runs export {rec.id} --html FILE)",
                file=sys.stderr,
            )
    if args.out:
        args.out.write_text(json.dumps(res.to_dict()))
        print(f"wrote {args.out}", file=sys.stderr)
    if args.json:
        out = res.to_dict(images=args.images)
        if stored_id is not None:
            out["stored_id"] = stored_id
        print(json.dumps(out))
    else:
        print_result(res)
    return 0
