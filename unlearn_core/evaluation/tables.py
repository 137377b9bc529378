"""One table specification for every table the project prints: the CLI's, the app's, the HTML
report's, the benchmark's markdown, the audit's and the sweep's.

A table is a sequence of :class:`Column` s (a row key, a human header, its unit, a number
format) over flat rows; :func:`text_table` (terminal), :func:`markdown_table` (the benchmark's
files), :func:`html_table` (the report) and ``app_ui.tables.show_table`` (the app) render it.
A result row is a flat mapping such as :meth:`MethodResult.row` gives (accuracies and MIA in
percent); ``<key>_std`` next to ``<key>`` (the multi-seed aggregate) is shown as ``mean ± std``
(:func:`seed_row` leaves it out where fewer than two seeds gave the number). Missing or
non-finite values show as "—".

The declared tables: :data:`RESULT_COLUMNS` (a comparison), :data:`AUDIT_COLUMNS` (an audit's
scores), :data:`RELEARN_COLUMNS` (an audit's relearning), :data:`RUN_COLUMNS` and
:data:`RUN_OVERVIEW_COLUMNS` (the run store's listing, in a terminal and on a narrow page),
:data:`MODEL_COLUMNS` (its models), :data:`VERDICT_COLUMNS`; the sweep's trials are
``unlearn_core.audit.sweep.trials_columns``.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

#: the numbers of a result row, in the order tables show them (the comparison's rows and the
#: run store's headline rows)
ROW_KEYS = (
    "forget_acc",
    "retain_acc",
    "test_acc",
    "test_forgotten_acc",
    "mia",
    "loss_auc",
    "avg_gap",
    "seconds",
    "time_ratio",
)

#: numbers a repair comparison (``unlearn_core.repair``) adds to its rows, when present; the
#: matching columns are optional (shown only when a row has the number)
REPAIR_ROW_KEYS = (
    "asr",
    "trigger_acc",
    "true_label_acc",
    "restoration",
    "restoration_tla",
    "test_loss",
    "restoration_loss",
    "patch_attr",
)

#: the numbers the text track's recovery attacks add to a comparison's rows
#: (``unlearn_core.text.attacks``)
TEXT_ATTACK_ROW_KEYS = (
    "quant8_forget_acc",
    "quant4_forget_acc",
    "quant8_retain_acc",
    "quant4_retain_acc",
    "relearn_forget_acc",
    "relearn_steps",
    "relearn_ain",
)

#: numbers a text comparison (``unlearn_core.text``) adds to its rows, when present (TOFU's
#: forget quality, model utility, truth ratio, answer probability, ROUGE-L; membership AUCs
#: with zlib, Min-K% and Min-K%++, MUSE's PrivLeak)
TEXT_ROW_KEYS = (
    "forget_quality",
    "model_utility",
    "truth_ratio_forget",
    "truth_ratio_retain",
    "prob_forget",
    "prob_retain",
    "rouge_forget",
    "rouge_retain",
    "rouge_test",
    "mia_zlib_auc",
    "mia_mink_auc",
    "mia_minkpp_auc",
    "priv_leak",
    # recovery attacks on text (``unlearn_core.text.attacks``) and the RESTOR scenario
    # (``unlearn_core.text.restor``), when run
    *TEXT_ATTACK_ROW_KEYS,
    "restoration_retrain",
)

MISSING = "—"


@dataclass(frozen=True)
class Column:
    """One column: the row key, a human header, its unit and how to print its numbers.

    ``fmt`` is a format spec for one number (``".2f"``, ``".3g"``); ``text`` columns print the
    value as is. ``optional`` columns are left out of a table when no row has a value.
    ``empty`` is what a cell without a value shows (:data:`MISSING`; a notes column: nothing);
    ``width`` cuts longer text with "…" (a listing that must fit a line or a page).
    """

    key: str
    header: str
    unit: str = ""
    fmt: str = ".2f"
    help: str = ""
    text: bool = False
    optional: bool = False
    empty: str = MISSING
    width: int | None = None

    @property
    def title(self) -> str:
        """The header with its unit, e.g. ``forget acc (%)``."""
        return f"{self.header} ({self.unit})" if self.unit else self.header

    def format(self, value: object, std: object = None) -> str:
        """``value`` printed for this column; ``value ± std`` when a std is given (with a
        ``g`` format, the std to the value's last decimal place: ``0.153 ± 0.077``)."""
        if self.text:
            if value is None or value == "":
                return self.empty
            out = " ".join(str(value).split("\n"))
            return out if self.width is None else short(out, self.width)
        v = number(value)
        if v is None:
            return self.empty
        out = f"{v:{self.fmt}}"
        s = number(std)
        if s is None:
            return out
        # a significant-digits format ("g") prints the spread to the mean's last place
        places = len(out.split(".")[1]) if "." in out else 0
        spread = (
            f"{s:.{places}f}" if self.fmt.endswith("g") and "e" not in out else f"{s:{self.fmt}}"
        )
        return f"{out} ± {spread}"

    def cell(self, row: Mapping) -> str:
        return self.format(row.get(self.key), None if self.text else row.get(f"{self.key}_std"))


def short(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one "…" when it was longer."""
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def number(v: object) -> float | None:
    """``v`` as a finite float, or None (missing, not a number, NaN or infinite)."""
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


#: the result columns, in the order every view shows them
RESULT_COLUMNS: tuple[Column, ...] = (
    Column("method", "method", text=True),
    Column("forget_acc", "forget acc", "%", help="accuracy on the forgotten samples"),
    Column("retain_acc", "retain acc", "%", help="accuracy on the rest of the training set"),
    Column("test_acc", "test acc", "%", help="accuracy on held-out test data"),
    Column(
        "test_forgotten_acc",
        "test acc, forgotten",
        "%",
        help="test accuracy on the forgotten classes (class-wise forgetting)",
        optional=True,
    ),
    Column("mia", "MIA", "%", help="share of the forget set a membership attack calls unseen"),
    Column(
        "loss_auc",
        "loss AUC",
        fmt=".3f",
        help="ROC AUC of a loss-threshold membership attack on the forget set; 0.5 = cannot tell",
        optional=True,
    ),
    Column(
        "asr",
        "attack success",
        "%",
        optional=True,
        help="triggered test images of other classes put in the backdoor's target class "
        "(feature scenario: in the class that carried the feature)",
    ),
    Column(
        "trigger_acc",
        "acc, triggered",
        "%",
        optional=True,
        help="test accuracy on images with the patch / feature stamped in",
    ),
    Column(
        "true_label_acc",
        "true-label acc",
        "%",
        optional=True,
        help="accuracy on the corrupted training samples against their true labels",
    ),
    Column(
        "restoration",
        "restoration",
        fmt=".2f",
        optional=True,
        help="(after - before) / (clean - before) on clean test accuracy (Warnecke et al.): "
        "1 = as good as a model trained on clean data, 0 = no repair",
    ),
    Column(
        "restoration_tla",
        "restoration, true labels",
        fmt=".2f",
        optional=True,
        help="the same ratio on true-label accuracy of the corrupted samples",
    ),
    Column(
        "test_loss",
        "test loss",
        fmt=".3f",
        optional=True,
        help="mean cross-entropy (nats) on the clean test set",
    ),
    Column(
        "restoration_loss",
        "restoration, test loss",
        fmt=".2f",
        optional=True,
        help="the restoration ratio on the test loss, (before - after) / (before - clean): a "
        "continuous companion of restoration, which moves in whole test images",
    ),
    Column(
        "patch_attr",
        "attribution on patch",
        "%",
        optional=True,
        help="share of absolute saliency on the patch's pixels, triggered test images",
    ),
    Column(
        "truth_ratio_forget",
        "truth ratio, forget",
        fmt=".3f",
        optional=True,
        help="TOFU's truth ratio on the forget answers, mean min(R, 1/R): 1 = cannot tell the "
        "true answer from wrong ones (text)",
    ),
    Column(
        "forget_quality",
        "forget quality",
        fmt=".3g",
        optional=True,
        help="TOFU: KS-test p-value of the forget truth ratios against retrain's (text)",
    ),
    Column(
        "model_utility",
        "model utility",
        fmt=".3f",
        optional=True,
        help="TOFU: harmonic mean of answer probability, ROUGE-L and truth ratio on retained "
        "people and world facts (text)",
    ),
    Column(
        "priv_leak",
        "PrivLeak",
        "%",
        fmt=".1f",
        optional=True,
        help="MUSE: (Min-K% AUC - retrain's) / retrain's; 0 = as retrain (text)",
    ),
    Column(
        "restoration_retrain",
        "restoration vs retrain",
        fmt=".2f",
        optional=True,
        help="RESTOR (text): (after - before) / (retrain - before) on true-answer exact match",
    ),
    Column(
        "quant8_forget_acc",
        "forget acc int8",
        "%",
        optional=True,
        help="forget accuracy (text: exact match) after rounding the weights to 8 bits "
        "(recovery attack; compare with retrain's)",
    ),
    Column(
        "quant4_forget_acc",
        "forget acc 4-bit",
        "%",
        optional=True,
        help="forget accuracy after rounding the weights to 4 bits (recovery attack)",
    ),
    Column(
        "relearn_forget_acc",
        "forget acc relearned",
        "%",
        optional=True,
        help="text: forget exact match on the forget rows not relearned on, after the "
        "relearning attack's steps (compare with retrain's)",
    ),
    Column(
        "relearn_steps",
        "relearn steps",
        fmt=".3g",
        optional=True,
        help="steps of the relearning attack to the target (90% of the way from retrain's "
        "start to the original's); none when not reached",
    ),
    Column("avg_gap", "gap to retrain", "pts", help="mean |difference| to retrain's numbers"),
    Column("seconds", "time", "s", fmt=".3g", help="wall time of the method's own work"),
    Column("time_ratio", "time / retrain", "×", fmt=".3g", help="seconds relative to retraining"),
)


def result_column(key: str) -> Column:
    """The :data:`RESULT_COLUMNS` column of ``key`` (tables that show some result numbers)."""
    return next(c for c in RESULT_COLUMNS if c.key == key)


#: beside a result row: what is worth knowing about it (damaged, failed on some seeds)
NOTES_COLUMN = Column("notes", "notes", text=True, optional=True, empty="")
#: the error of a row whose numbers are shown all the same (a table with this column keeps a
#: failed row's numbers; without it, the error takes their place)
ERROR_COLUMN = Column("error", "error", text=True, optional=True, empty="")
#: a method's family (exact, approximate, none)
FAMILY_COLUMN = Column("family", "family", text=True)


def has_value(row: Mapping, column: Column) -> bool:
    v = row.get(column.key)
    if column.text:
        return v is not None and v != ""
    return number(v) is not None


def columns_for(
    rows: Sequence[Mapping], columns: Sequence[Column] = RESULT_COLUMNS
) -> list[Column]:
    """``columns`` less the optional ones that no row has a value for."""
    return [c for c in columns if not c.optional or any(has_value(r, c) for r in rows)]


#: a repair run's scores (:data:`RESULT_COLUMNS` keys), by the question each group answers: is
#: the backdoor (or the feature's pull) gone, and is the damage undone
REPAIR_GROUPS: dict[str, tuple[str, ...]] = {
    "attack": ("asr", "trigger_acc", "patch_attr"),
    "restoration": (
        "true_label_acc", "restoration", "restoration_tla", "test_loss", "restoration_loss",
    ),
}  # fmt: skip


def split_repair(columns: Sequence[Column]) -> tuple[list[Column], dict[str, list[Column]]]:
    """``columns`` as the usual table and, per :data:`REPAIR_GROUPS` group that has any of its
    columns here, a table of its own led by the first (text) column: one table with every
    repair score is too wide to read at 1024 px. Groups without a column are left out."""
    grouped = {k for keys in REPAIR_GROUPS.values() for k in keys}
    lead = [c for c in columns[:1] if c.text]
    main = [c for c in columns if c.key not in grouped]
    groups = {}
    for name, keys in REPAIR_GROUPS.items():
        cols = [c for c in columns if c.key in keys]
        if cols:
            groups[name] = lead + cols
    return main, groups


def seed_row(summary) -> dict:
    """A several-seed summary's row (``SeedSummary.row()``: the means, ``<key>_std`` beside
    them) with the spread left out where fewer than two seeds gave the number: one value has
    no spread to show, so it prints as a plain number, not "± 0.00"."""
    row = summary.row()
    for k, spread in summary.stats.items():
        if spread.n < 2:
            row[f"{k}_std"] = None
    return row


# ----------------------------------------------------------------------------- audits

#: an audit's scores (``AuditResult.reference_row`` / ``method_row``), one row per model
AUDIT_COLUMNS: tuple[Column, ...] = (
    Column("method", "model", text=True),
    Column("forget_quality", "forget quality", fmt=".3f",
           help="NeurIPS-23 score over the K models (0-1, higher: closer to retrain)"),
    Column("final_score", "final score", fmt=".3f",
           help="forget quality x retain and test accuracy ratios to retrain"),
    Column("privacy_score", "worst-case privacy", fmt=".3f",
           help="Unlearning Comparator's single-model score (1: no threshold attack tells "
           "it from retrain)"),
    Column("klom_forget_p95", "KLoM forget P95", fmt=".2f", optional=True,
           help="95th percentile over the forget samples of KL(unlearned || retrained) of the "
           "binned margins over the K models (nats; 0 = like retrain, at most 11.51; compare "
           "with the oracle baseline, retraining against itself)"),
    Column("klom_retain_p95", "KLoM retain P95", fmt=".2f", optional=True,
           help="KLoM's 95th percentile over the retain samples"),
    Column("klom_val_p95", "KLoM val P95", fmt=".2f", optional=True,
           help="KLoM's 95th percentile over the validation samples"),
    Column("ulira_acc", "U-LiRA", "%", fmt=".1f", optional=True,
           help="balanced accuracy of a per-sample likelihood-ratio test telling the method's "
           "models from retrained ones on the forget samples (50 = cannot tell)"),
    Column("rmia_auc", "RMIA AUC", fmt=".3f", optional=True,
           help="AUC of RMIA scores (retrains as references) of the method's models against "
           "retrained ones on the forget samples (0.5 = cannot tell)"),
    result_column("forget_acc"),
    result_column("retain_acc"),
    result_column("test_acc"),
    result_column("mia"),
    Column("quant8_forget_acc", "forget acc int8", "%", optional=True,
           help="forget accuracy after rounding every weight to 8 bits (recovery attack; "
           "compare with retrain's)"),
    Column("quant4_forget_acc", "forget acc 4-bit", "%", optional=True,
           help="forget accuracy after rounding every weight to 4 bits (recovery attack)"),
    Column("relearning", "relearning", text=True, optional=True,
           help="median over the seeds of the steps to the relearning target and the Anamnesis "
           "Index (steps / retrain's; 1: like retrain); 'not measurable' when retrain starts "
           "near the original (see Relearning below)"),
    Column("failed_models", "failed models", fmt=".0f", optional=True,
           help="of the K models, how many failed (shown when one did)"),
)  # fmt: skip


def audit_columns(rows: Sequence[Mapping], columns: Sequence[Column] = AUDIT_COLUMNS) -> list:
    """:data:`AUDIT_COLUMNS` for these rows: relearning when it ran, failed models when one
    failed."""
    return [
        c
        for c in columns_for(rows, columns)
        if c.key != "failed_models" or any(number(r.get(c.key)) for r in rows)
    ]


#: an audit's relearning over its seeds, one row per model (:func:`relearn_rows`)
RELEARN_COLUMNS: tuple[Column, ...] = (
    Column("model", "model", text=True),
    Column("measured", "seeds measured", text=True,
           help="seeds on which retrain starts below the target (the others are not "
           "measurable)"),
    Column("steps", "steps to target: median (range)", text=True,
           help=">budget: not reached within the budget"),
    Column("ain", "AIN: median (range)", text=True,
           help="steps / retrain's steps on the same seed; <= or >=: a bound (one side "
           "did not reach the target within the budget)"),
    Column("reading", "reading", text=True),
)  # fmt: skip


def relearn_rows(spreads: Sequence, labels: Mapping[str, str] | None = None) -> list[dict]:
    """:data:`RELEARN_COLUMNS` rows of ``AuditResult.relearn_spread()`` (a model's name shown
    as its label where ``labels`` has one)."""
    labels = labels or {}
    return [
        {
            "model": labels.get(x.model, x.model),
            "measured": f"{x.measurable} of {x.seeds}",
            "steps": x.steps_text(),
            "ain": x.ain_text(),
            "reading": x.reading,
        }
        for x in spreads
    ]


#: a run's verdicts against retraining (``evaluation.verdict.verdicts``), one row per method
VERDICT_COLUMNS: tuple[Column, ...] = (
    Column("method", "method", text=True),
    Column("label", "verdict", text=True),
    Column("reason", "why", text=True),
)


# ----------------------------------------------------------------------------- the run store

#: what a listing calls each kind of stored run (a comparison over seeds is a comparison)
RUN_KINDS = {"comparison": "comparison", "multi_comparison": "comparison"}

RUN_ID_COLUMN = Column("id", "run", text=True)
RUN_SAVED_COLUMN = Column("saved", "saved", text=True)
RUN_KIND_COLUMN = Column("kind", "kind", text=True)
RUN_METHODS_COLUMN = Column("methods", "methods", text=True, help="the methods run beside retrain")
RUN_SEEDS_COLUMN = Column("seeds", "seeds", text=True)
RUN_CLOSEST_COLUMN = Column(
    "closest",
    "closest to retrain",
    text=True,
    help="the method with the smallest gap to retrain (points)",
)

#: the run store's runs, newest first (:func:`run_rows`), one field a column, long texts cut to
#: fit a terminal line (``unlearn runs list``)
RUN_COLUMNS: tuple[Column, ...] = (
    RUN_ID_COLUMN,
    RUN_SAVED_COLUMN,
    RUN_KIND_COLUMN,
    Column("dataset", "dataset", text=True),
    Column("model", "model", text=True),
    Column("forget", "forget set", text=True, width=24),
    replace(RUN_METHODS_COLUMN, width=32),
    RUN_SEEDS_COLUMN,
    RUN_CLOSEST_COLUMN,
    Column("note", "note", text=True, width=30, empty=""),
)
#: the same runs where the page is narrow (the Runs page at 1024 px): what was run (dataset,
#: model, forget set) in one column, its words free to wrap; the note cut shorter than it
#: would wrap to in full (the whole note is in the run's Note box)
RUN_OVERVIEW_COLUMNS: tuple[Column, ...] = (
    RUN_ID_COLUMN,
    RUN_SAVED_COLUMN,
    RUN_KIND_COLUMN,
    Column("what", "what", text=True, help="dataset · model · forget set"),
    RUN_METHODS_COLUMN,
    RUN_SEEDS_COLUMN,
    RUN_CLOSEST_COLUMN,
    Column("note", "note", text=True, width=60, empty=""),
)


def run_rows(records: Sequence) -> list[dict]:
    """:data:`RUN_COLUMNS` rows of ``ComparisonRecord`` s (``RunStore.list_comparisons``)."""
    out = []
    for r in records:
        best = r.closest()
        kind = RUN_KINDS.get(r.kind, r.kind or "comparison")
        out.append(
            {
                "id": r.id,
                "kind": kind,
                "what": f"{r.dataset} · {r.model} · {r.forget}",
                "saved": r.created.replace("T", " ")[:16],
                "dataset": r.dataset,
                "model": r.model,
                "forget": r.forget,
                "methods": ", ".join(m for m in r.methods if m != "retrain"),
                "seeds": ", ".join(str(s) for s in r.seeds),
                "closest": f"{best['method']} (gap {best['avg_gap']:.2f} pts)" if best else None,
                "note": r.note,
            }
        )
    return out


#: the run store's models, newest first (``RunStore.list_models``)
MODEL_COLUMNS: tuple[Column, ...] = (
    Column("id", "model id", text=True),
    Column("saved", "saved", text=True),
    Column("dataset", "dataset", text=True),
    Column("arch", "model", text=True),
    Column("role", "role", text=True),
    Column("run", "run", text=True),
    Column("name", "name", text=True),
)


def model_rows(records: Sequence) -> list[dict]:
    """:data:`MODEL_COLUMNS` rows of ``ModelRecord`` s (``RunStore.list_models``)."""
    return [
        {
            "id": r.id,
            "saved": r.created.replace("T", " ")[:16],
            "dataset": r.dataset,
            "arch": r.arch,
            "role": r.role,
            "run": r.comparison_id,
            "name": r.name,
        }
        for r in records
    ]


#: the method and run of a row in a table of several runs side by side
METHOD_RUN_COLUMN = Column("method_run", "method · run", text=True)


def side_by_side_rows(runs: Mapping[str, Sequence[Mapping]]) -> list[dict]:
    """Several runs' rows in one table (``runs``: run id -> its rows): one row per method and
    run, each method's runs together (methods in the order they first appear, runs in the
    given order); each row gains ``run`` and ``method_run`` ("scrub · c6jeg72klui"). Long
    rather than one column group per run, so the table is no wider than one run's, whatever
    the number of runs."""
    methods = list(dict.fromkeys(r["method"] for rows in runs.values() for r in rows))
    by_run = {rid: {r["method"]: r for r in rows} for rid, rows in runs.items()}
    return [
        {**by_run[rid][m], "run": rid, "method_run": f"{m} · {rid}"}
        for m in methods
        for rid in runs
        if m in by_run[rid]
    ]


def side_by_side_columns(rows: Sequence[Mapping]) -> list[Column]:
    """The columns for :func:`side_by_side_rows`: method and run in one column (it wraps
    between the two), then the results' numbers less the seconds (runs made on different
    machines compare by time / retrain), so the table fits where one run's does."""
    _method, *numbers = columns_for(rows, RESULT_COLUMNS)
    return [METHOD_RUN_COLUMN, *(c for c in numbers if c.key != "seconds")]


def _lead(columns: Sequence[Column]) -> int:
    """How many text columns come before the first number column (a failed row keeps them)."""
    return next((i for i, c in enumerate(columns) if not c.text), len(columns))


def failed(row: Mapping, columns: Sequence[Column]) -> bool:
    """Whether ``row`` shows its error in place of its numbers: it has one, the table has
    numbers and no ``error`` column of its own."""
    return (
        bool(row.get("error"))
        and _lead(columns) < len(columns)
        and not any(c.key == "error" for c in columns)
    )


def cells(row: Mapping, columns: Sequence[Column]) -> list[str]:
    """One row as strings; a failed row (:func:`failed`) shows its error in place of the
    numbers: the leading text columns, then ``error: ...``, then empty cells."""
    if failed(row, columns):
        lead = _lead(columns)
        first = [c.cell(row) for c in columns[:lead]]
        return first + [f"error: {row['error']}"] + [""] * (len(columns) - lead - 1)
    return [c.cell(row) for c in columns]


def display_rows(
    rows: Sequence[Mapping], columns: Sequence[Column] | None = None
) -> list[dict[str, str]]:
    """Rows as ``{column title: text}`` dicts (e.g. for ``st.dataframe``)."""
    cols = columns_for(rows) if columns is None else list(columns)
    return [dict(zip([c.title for c in cols], cells(r, cols), strict=True)) for r in rows]


def text_table(rows: Sequence[Mapping], columns: Sequence[Column] | None = None) -> str:
    """A plain-text table with aligned columns (numbers right-aligned) for the terminal; a
    failed row's error runs on from its text columns."""
    cols = columns_for(rows) if columns is None else list(columns)
    lead = _lead(cols)
    body = [(cells(r, cols), failed(r, cols)) for r in rows]
    heads = [c.title for c in cols]
    widths = [
        max([len(h)] + [len(b[i]) for b, bad in body if not (bad and i >= lead)])
        for i, h in enumerate(heads)
    ]

    def line(parts: list[str], bad: bool = False) -> str:
        shown = parts[: lead + 1] if bad else parts
        out = [
            p if bad and i == lead else p.ljust(widths[i]) if c.text else p.rjust(widths[i])
            for i, (p, c) in enumerate(zip(shown, cols, strict=False))
        ]
        return "  ".join(out).rstrip()

    head = line(heads)
    return "\n".join([head, "-" * len(head), *(line(b, bad) for b, bad in body)])


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_table(rows: Sequence[Mapping], columns: Sequence[Column] | None = None) -> str:
    """A GitHub-flavoured markdown table (numbers right-aligned; a failed row's error in its
    first number's cell)."""
    cols = columns_for(rows) if columns is None else list(columns)
    out = [
        "| " + " | ".join(_md(c.title) for c in cols) + " |",
        "|" + "|".join("---" if c.text else "---:" for c in cols) + "|",
    ]
    out += ["| " + " | ".join(_md(p) for p in cells(r, cols)) + " |" for r in rows]
    return "\n".join(out)


def html_table(rows: Sequence[Mapping], columns: Sequence[Column] | None = None) -> str:
    """An HTML ``<table>`` (escaped; header tooltips from each column's help)."""
    cols = columns_for(rows) if columns is None else list(columns)
    head = "".join(f'<th title="{html.escape(c.help)}">{html.escape(c.title)}</th>' for c in cols)
    out = [f'<table class="results"><thead><tr>{head}</tr></thead><tbody>']
    for r in rows:
        parts = cells(r, cols)
        if failed(r, cols):
            n_text = _lead(cols)
            tds = "".join(f"<td>{html.escape(p)}</td>" for p in parts[:n_text])
            tds += f'<td class="error" colspan="{len(cols) - n_text}">{html.escape(parts[n_text])}</td>'
        else:
            tds = "".join(
                f'<td class="{"text" if c.text else "num"}">{html.escape(p)}</td>'
                for p, c in zip(parts, cols, strict=True)
            )
        out.append(f"<tr>{tds}</tr>")
    out.append("</tbody></table>")
    return "".join(out)
