"""One results-table specification for the CLI table, the app and the HTML report.

A row is a flat mapping such as :meth:`MethodResult.row` gives (accuracies and MIA in percent);
``<key>_std`` next to ``<key>`` (the multi-seed aggregate) is shown as ``mean ± std``. Missing
or non-finite values show as "—".
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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

MISSING = "—"


@dataclass(frozen=True)
class Column:
    """One column: the row key, a human header, its unit and how to print its numbers.

    ``fmt`` is a format spec for one number (``".2f"``, ``".3g"``); ``text`` columns print the
    value as is. ``optional`` columns are left out of a table when no row has a value.
    """

    key: str
    header: str
    unit: str = ""
    fmt: str = ".2f"
    help: str = ""
    text: bool = False
    optional: bool = False

    @property
    def title(self) -> str:
        """The header with its unit, e.g. ``forget acc (%)``."""
        return f"{self.header} ({self.unit})" if self.unit else self.header

    def format(self, value: object, std: object = None) -> str:
        """``value`` printed for this column; ``value ± std`` when a std is given."""
        if self.text:
            return MISSING if value is None or value == "" else str(value)
        v = number(value)
        if v is None:
            return MISSING
        out = f"{v:{self.fmt}}"
        s = number(std)
        return f"{out} ± {s:{self.fmt}}" if s is not None else out

    def cell(self, row: Mapping) -> str:
        return self.format(row.get(self.key), None if self.text else row.get(f"{self.key}_std"))


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
    Column("avg_gap", "gap to retrain", "pts", help="mean |difference| to retrain's numbers"),
    Column("seconds", "time", "s", fmt=".3g", help="wall time of the method's own work"),
    Column("time_ratio", "time / retrain", "×", fmt=".3g", help="seconds relative to retraining"),
)


def columns_for(
    rows: Sequence[Mapping], columns: Sequence[Column] = RESULT_COLUMNS
) -> list[Column]:
    """``columns`` less the optional ones that no row has a value for."""
    return [
        c for c in columns if not c.optional or any(number(r.get(c.key)) is not None for r in rows)
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


def cells(row: Mapping, columns: Sequence[Column]) -> list[str]:
    """One row as strings; a failed row shows its error in place of the numbers."""
    err = row.get("error")
    if err:
        first = [c.cell(row) for c in columns if c.text]
        return first + [f"error: {err}"] + [""] * (len(columns) - len(first) - 1)
    return [c.cell(row) for c in columns]


def display_rows(
    rows: Sequence[Mapping], columns: Sequence[Column] | None = None
) -> list[dict[str, str]]:
    """Rows as ``{column title: text}`` dicts (e.g. for ``st.dataframe``)."""
    cols = columns_for(rows) if columns is None else list(columns)
    return [dict(zip([c.title for c in cols], cells(r, cols), strict=True)) for r in rows]


def text_table(rows: Sequence[Mapping], columns: Sequence[Column] | None = None) -> str:
    """A plain-text table with aligned columns (numbers right-aligned) for the terminal."""
    cols = columns_for(rows) if columns is None else list(columns)
    body = [cells(r, cols) for r in rows]
    heads = [c.title for c in cols]
    widths = [
        max([len(h)] + [len(b[i]) for b in body if not b[i].startswith("error:")])
        for i, h in enumerate(heads)
    ]

    def line(parts: list[str]) -> str:
        out = []
        for i, (p, c) in enumerate(zip(parts, cols, strict=True)):
            if p.startswith("error:"):
                return "  ".join(out + [p])
            out.append(p.ljust(widths[i]) if c.text else p.rjust(widths[i]))
        return "  ".join(out).rstrip()

    rule = "-" * len(line(heads))
    return "\n".join([line(heads), rule, *(line(b) for b in body)])


def html_table(rows: Sequence[Mapping], columns: Sequence[Column] | None = None) -> str:
    """An HTML ``<table>`` (escaped; header tooltips from each column's help)."""
    cols = columns_for(rows) if columns is None else list(columns)
    head = "".join(f'<th title="{html.escape(c.help)}">{html.escape(c.title)}</th>' for c in cols)
    out = [f'<table class="results"><thead><tr>{head}</tr></thead><tbody>']
    for r in rows:
        parts = cells(r, cols)
        if r.get("error"):
            n_text = sum(c.text for c in cols)
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
