"""``unlearn runs list|show|delete|export|ensembles``: the run store from the command line.

``add_runs_commands(subparsers)`` adds the ``runs`` command to the ``unlearn`` parser. Every
subcommand takes ``--home`` (default ``$UNLEARN_HOME``, else ``./runs``); errors (an unknown id,
a damaged file) print one line on stderr and exit with code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

EXIT_ERROR = 2


def _store(args):
    from ..store import RunStore

    return RunStore(getattr(args, "home", None))


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Run a subcommand; a run-store error becomes one line on stderr and exit code 2."""

    def run(args: argparse.Namespace) -> int:
        from ..store import RunStoreError

        try:
            return func(args)
        except RunStoreError as exc:
            print(f"unlearn runs: error: {exc}", file=sys.stderr)
            return EXIT_ERROR

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def cmd_runs_list(args: argparse.Namespace) -> int:
    """List stored runs (comparisons, audits, sweeps; models with ``--models``), newest first."""
    store = _store(args)
    recs = store.list_models() if args.models else store.list_comparisons()
    if args.json:
        print(json.dumps([r.to_dict() for r in recs], indent=1))
        return 0
    if not recs:
        print(f"no stored {'models' if args.models else 'runs'} in {store.home}", file=sys.stderr)
        return 0
    from ..evaluation.tables import MODEL_COLUMNS, RUN_COLUMNS, model_rows, run_rows, text_table

    if args.models:
        print(text_table(model_rows(recs), MODEL_COLUMNS))
    else:
        print(text_table(run_rows(recs), RUN_COLUMNS))
    return 0


def _detailed(row: dict, full: dict) -> dict:
    """``row`` (a ``--json`` row) with the rest of ``full`` beside its keys; a preset record
    (a dict where the row names the preset) goes under ``preset_info``."""
    extra = {k: v for k, v in full.items() if k not in row and k != "model"}
    if isinstance(full.get("preset"), dict):
        extra["preset_info"] = full["preset"]
    return {**row, **extra}


def _comparison_json(c) -> dict:
    """``Comparison.summary()`` (``compare --json`` for one seed), rows with their details."""
    out = c.summary()
    out["original"] = _detailed(c.original.row(), c.original.to_dict())
    out["results"] = [_detailed(r.row(), r.to_dict()) for r in c.results]
    return out


def show_json(doc: dict) -> dict:
    """``runs show --json``: the stored run in the shape of its command's ``--json`` (for a
    comparison that of ``compare --json``: every row of ``original`` / ``results`` has the same
    keys and values), each row's details beside its keys, then ``id``, ``schema_version``,
    ``record`` and ``setup``. Audits and sweeps keep their stored body (its rows are flat)."""
    from ..experiment import Comparison, MultiComparison

    body = doc["comparison"]
    kind = body.get("kind")
    out = dict(body)
    try:
        if kind is None:
            out = _comparison_json(Comparison.from_dict(body))
        elif kind == "multi_comparison":
            multi = MultiComparison.from_dict(body)
            out = multi.summary()
            out["original"] = _detailed(multi.original.row(), multi.original.to_dict())
            out["results"] = [_detailed(r.row(), r.to_dict()) for r in multi.results]
            out["per_seed"] = [_comparison_json(c) for c in multi.comparisons]
    except (KeyError, TypeError, ValueError):  # an odd old body: its headline rows
        rows = doc["record"].get("rows") or []
        out.update(original=rows[0] if rows else None, results=rows[1:])
    out["kind"] = kind or "comparison"
    extra = {k: v for k, v in doc.items() if k not in ("comparison", "kind")}
    return {**out, "id": doc["record"].get("id"), **extra}


def cmd_runs_show(args: argparse.Namespace) -> int:
    """Show one stored run (setup, metric table, verdicts) or one model's record."""
    from ..evaluation.tables import VERDICT_COLUMNS, text_table
    from ..evaluation.verdict import verdicts

    store = _store(args)
    if not args.id.startswith("c"):
        rec = store.get(args.id)
        print(json.dumps(rec.to_dict(), indent=1))
        return 0
    doc = store.read_comparison(args.id)
    if args.json:
        print(json.dumps(show_json(doc), indent=1))
        return 0
    rec = doc["record"]
    setup = doc.get("setup") or {}
    ds = setup.get("dataset") or {}
    versions = setup.get("versions") or {}
    print(f"run {rec['id']} — saved {rec['created']}")
    print(f"dataset  {rec['dataset']} (fingerprint {ds.get('fingerprint') or 'not recorded'})")
    print(f"model    {rec['model']}")
    print(f"forget   {rec['forget']}")
    print(f"seeds    {', '.join(str(s) for s in rec.get('seeds') or []) or '—'}")
    print(f"device   {rec.get('device') or '—'}")
    if versions:
        print(f"software {', '.join(f'{k} {v}' for k, v in versions.items())}")
    if rec.get("note"):
        print(f"note     {rec['note']}")
    print()
    if (doc.get("comparison") or {}).get("kind") == "inversion":  # an attack: its own figures
        from ..inversion.stored import INVERSION_COLUMNS

        print(text_table(rec.get("rows") or [], INVERSION_COLUMNS))
        print(
            f"\nper sample (images, PSNR, SSIM, labels): unlearn runs export {rec['id']} --html FILE"
        )
        return 0
    print(text_table(rec.get("rows") or []))
    vs = verdicts(rec.get("rows") or [])
    if vs:
        print()
        print(text_table([v.to_dict() for v in vs], VERDICT_COLUMNS))
    if rec.get("models"):
        print()
        print("models   " + ", ".join(f"{m} {i}" for m, i in rec["models"].items()))
    return 0


def cmd_runs_delete(args: argparse.Namespace) -> int:
    """Delete a stored run (with the models it owns), model or forget set, and its files."""
    removed = _store(args).delete(args.id)
    print(f"deleted {args.id} ({len(removed)} files removed)")
    return 0


def cmd_runs_export(args: argparse.Namespace) -> int:
    """Export a run's JSON record, its HTML report and/or its models."""
    if not (args.json or args.html or args.models):
        print("unlearn runs export: give --json FILE, --html FILE and/or --models DIR",
              file=sys.stderr)  # fmt: skip
        return EXIT_ERROR
    store = _store(args)
    store.get(args.id)  # an unknown id fails before anything is written
    if args.json:
        print(f"wrote {store.export_json(args.id, args.json)}")
    if args.html:
        print(f"wrote {store.export_html(args.id, args.html)}")
    if args.models:
        for p in store.export_models(args.id, args.models):
            print(f"wrote {p}")
    return 0


ENSEMBLE_COLUMNS = ("key", "dataset", "model", "recipe", "forget", "role", "seeds", "size")


def cmd_runs_ensembles(args: argparse.Namespace) -> int:
    """List the stored ensembles (the audit's originals, retrains and unlearned models,
    grouped: dataset, model, recipe, forget set, role; seeds and size on disk), or delete
    some (``--delete KEY``, a unique start of the key) or all (``--all``)."""
    from ..store.ensembles import EnsembleStore, human_bytes

    store = EnsembleStore(getattr(args, "home", None))
    if args.all or args.delete:
        if args.all and args.delete:
            print("unlearn runs ensembles: give --delete KEY or --all, not both", file=sys.stderr)
            return EXIT_ERROR
        try:
            gone = store.delete_all() if args.all else [store.delete(k) for k in args.delete]
        except KeyError as exc:
            print(f"unlearn runs ensembles: error: {exc.args[0]}", file=sys.stderr)
            return EXIT_ERROR
        for g in gone:
            r = g.row()
            print(
                f"deleted ensemble {g.key} ({r['dataset']} / {r['model']}, {r['role']}, "
                f"{r['seeds']} models, {human_bytes(g.bytes)})"
            )
        if not gone:
            print(f"no stored ensembles in {store.home}", file=sys.stderr)
        return 0
    groups = store.groups()
    if args.json:
        print(json.dumps([{**g.row(), "description": g.description} for g in groups], indent=1))
        return 0
    if not groups:
        print(f"no stored ensembles in {store.home}", file=sys.stderr)
        return 0
    rows = [{**g.row(), "size": human_bytes(g.bytes)} for g in groups]
    for r in rows:
        r["seeds"] = f"{r['seeds']} ({r['seed_range']})"
        r["key"] = r["key"][:12]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in ENSEMBLE_COLUMNS}
    print("  ".join(c.ljust(widths[c]) for c in ENSEMBLE_COLUMNS).rstrip())
    for r in rows:
        print("  ".join(str(r[c]).ljust(widths[c]) for c in ENSEMBLE_COLUMNS).rstrip())
    total = sum(g.bytes for g in groups)
    n = sum(len(g.seeds) for g in groups)
    print(f"{len(groups)} ensembles, {n} models, {human_bytes(total)} in {store.root}")
    return 0


def add_runs_commands(subparsers) -> argparse.ArgumentParser:
    """Add ``runs list|show|delete|export`` to an ``argparse`` subparsers object."""
    home = argparse.ArgumentParser(add_help=False)
    home.add_argument(
        "--home",
        type=Path,
        default=argparse.SUPPRESS,
        help="run store folder (default: $UNLEARN_HOME, else ./runs)",
    )
    runs = subparsers.add_parser(
        "runs", parents=[home], help="stored runs: list, show, delete, export, ensembles"
    )
    sub = runs.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", parents=[home], help="list stored runs, newest first")
    p.add_argument("--json", action="store_true", help="print a JSON list of records")
    p.add_argument("--models", action="store_true", help="list stored models instead")
    p.set_defaults(func=_guard(cmd_runs_list))

    p = sub.add_parser("show", parents=[home], help="show a stored run or model")
    p.add_argument("id", help="run id (c…) or model id (m…)")
    p.add_argument(
        "--json",
        action="store_true",
        help="print the run as JSON: compare --json's rows (same keys), details beside them",
    )
    p.set_defaults(func=_guard(cmd_runs_show))

    p = sub.add_parser("delete", parents=[home], help="delete a stored run and its files")
    p.add_argument("id", help="run id (c…), model id (m…) or forget-set id (f…)")
    p.set_defaults(func=_guard(cmd_runs_delete))

    p = sub.add_parser("export", parents=[home], help="export a run's record, report or models")
    p.add_argument("id", help="run id (c…)")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the JSON record here")
    p.add_argument("--html", type=Path, metavar="FILE", help="write the offline HTML report here")
    p.add_argument("--models", type=Path, metavar="DIR", help="copy the models into this folder")
    p.set_defaults(func=_guard(cmd_runs_export))

    p = sub.add_parser(
        "ensembles",
        parents=[home],
        help="list or delete the stored ensemble members audits reuse",
    )
    p.add_argument("--json", action="store_true", help="print a JSON list of the groups")
    p.add_argument(
        "--delete",
        action="append",
        metavar="KEY",
        help="delete the ensemble whose key starts with KEY (repeatable)",
    )
    p.add_argument("--all", action="store_true", help="delete every stored ensemble")
    p.set_defaults(func=_guard(cmd_runs_ensembles))
    return runs
