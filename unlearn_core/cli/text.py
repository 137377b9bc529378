"""The text track on the command line: ``unlearn compare --dataset facts --model tinylm``
(or ``--data FILE.jsonl --format jsonl``) runs the same :func:`compare_seeds` as images, on a
:class:`~unlearn_core.text.TextDataset`. The forget options read: ``--forget-fraction`` a
share of the people (TOFU's forget01/05/10), ``--forget-class`` people by index,
``--forget-indices`` single facts (training rows)."""

from __future__ import annotations

from dataclasses import replace

#: the built-in text dataset's name
FACTS = "facts"
#: the text track's repair scenario (``unlearn_core.text.restor``)
RESTOR = "restor"


def is_text(args) -> bool:
    """Whether the command asks for the text track."""
    return (
        getattr(args, "dataset", None) == FACTS
        or getattr(args, "model", None) == "tinylm"
        or getattr(args, "fmt", None) == "jsonl"
    )


def load_text_data(args):
    from ..text import facts_dataset, load_jsonl, text_dataset

    if getattr(args, "data", None) is not None:
        return text_dataset(load_jsonl(args.data))
    if args.dataset not in (FACTS, "digits"):  # digits: the parser's default
        raise SystemExit(f"--model tinylm reads text: use --dataset {FACTS} or a .jsonl file")
    return facts_dataset()


def text_request(args, seed: int):
    from ..text import TextForgetRequest
    from .common import parse_ints

    people = parse_ints(args.forget_class, "--forget-class") if args.forget_class else ()
    facts = parse_ints(args.forget_indices, "--forget-indices") if args.forget_indices else ()
    return TextForgetRequest(people=people, fraction=args.forget_fraction, facts=facts, seed=seed)


def run_text_comparison(args, methods: list, include_retrain: bool, keep_models: bool = False):
    """:func:`compare_seeds` on text; returns ``(multi, data, recipe)`` as the image path."""
    from ..experiment import compare_seeds
    from ..methods import ParamError
    from ..runtime.device import pick_device
    from ..text import TEXT_RECIPE, train_tinylm
    from .common import check_methods, progress_bar, seeds_of

    scenario = getattr(args, "scenario", None)
    if scenario and scenario != RESTOR:
        raise SystemExit(f"--scenario {scenario} is for image data; text takes --scenario restor")
    if args.checkpoint:
        raise SystemExit("--checkpoint is not supported for text yet")
    if args.model not in ("tinylm", "mlp"):  # mlp: the parser's default
        raise SystemExit("text data trains the tinylm model (--model tinylm)")
    data = load_text_data(args)
    seeds = seeds_of(args)
    scorer = None
    if scenario == RESTOR:  # corrupt some people's facts, forget the corrupting set
        data, split, scorer = _restor(args, data, seeds[0])
    else:
        split = data.make_split(text_request(args, seeds[0]))  # refuse a bad request early
    check_methods(methods, "tinylm")
    from ..methods import get_method

    for m in methods:
        m = m[0] if isinstance(m, tuple) else m  # ``unlearn run`` gives (name, params)
        spec = get_method(m).spec
        if spec.family != "language" and not get_method(m).handles_text:
            raise ParamError(f"{m} is not a text method; use retrain or a 'language' method")
    dev = pick_device(args.device)
    recipe = replace(TEXT_RECIPE, epochs=args.epochs or TEXT_RECIPE.epochs)

    def factory(seed: int, progress):
        return train_tinylm(data, recipe, seed=seed, progress=progress, device=dev)

    attacks = _attacks(args)
    bar, report = progress_bar("unlearn", not args.no_progress)
    multi = compare_seeds(
        data,
        factory,
        recipe,
        split,
        methods,
        seeds=seeds,
        include_retrain=include_retrain,
        device=dev,
        progress=report,
        keep_models=keep_models or bool(attacks),
        on_comparison=_attack_hook(attacks, data, split, recipe, keep_models),
        scenario=scorer,
    )
    bar.close()
    return multi, data, recipe


def _attacks(args) -> list[str]:
    from ..methods import ParamError
    from ..text.attacks import parse_attacks

    try:
        return parse_attacks(getattr(args, "attacks", None))
    except ValueError as exc:
        raise ParamError(f"--attacks: {exc}") from None


def _attack_hook(attacks: list[str], data, split, recipe, keep_models: bool):
    """``compare_seeds``'s ``on_comparison``: the recovery attacks on each seed's models
    (:func:`unlearn_core.text.attacks.attack_comparison`), then the models dropped unless kept."""
    if not attacks:
        return None

    def run(comp) -> None:
        from ..text.attacks import attack_comparison

        attack_comparison(comp, data, split, attacks, recipe=recipe)
        if not keep_models:
            for r in [comp.original, *comp.results]:
                r.model = None

    return run


def _restor(args, data, seed: int):
    """``(corrupted data, forget split, scorer)`` of ``--scenario restor`` (the corrupted people
    drawn with the first seed); a forget request beside it is an error."""
    from ..forget import ForgetError
    from ..text.restor import RestorScorer, make_restor

    if args.forget_class or args.forget_indices or args.forget_fraction is not None:
        raise ForgetError("--scenario makes the forget set (the corrupting rows): drop --forget-*")
    if args.corrupt_fraction is None:
        raise ForgetError("--scenario restor needs --corrupt-fraction (a share of the people)")
    sc = make_restor(data, args.corrupt_fraction, seed=seed)
    return sc.data, sc.split(), RestorScorer(sc)
