"""One table style for the app: human headers with units, numbers printed to the precision they
carry, missing values as "—", every row shown (no inner scroll), and a table that wraps its
headers to fit the page or, when it cannot, scrolls sideways as a whole (``st.table``).

A :class:`Column` has the fields of ``unlearn_core.results_table.Column`` (key, header, unit,
fmt, help, text), so the shared results-table spec can be passed to :func:`show_table` as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

MISSING = "—"


@dataclass(frozen=True)
class Column:
    """One column: the row key, a human header, its unit and how to print its numbers."""

    key: str
    header: str
    unit: str = ""
    fmt: str = ".2f"
    help: str = ""
    text: bool = False
    optional: bool = False

    @property
    def title(self) -> str:
        return f"{self.header} ({self.unit})" if self.unit else self.header


def _number(v: object) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def cell_text(col, value: object) -> str:
    """``value`` as the table prints it in ``col`` ("—" when missing)."""
    if getattr(col, "text", False):
        return MISSING if value is None or value == "" else str(value)
    v = _number(value)
    return MISSING if v is None else format(v, col.fmt)


def cell(col, row: Mapping) -> str:
    """One cell as printed: the column's own ``cell`` (the shared spec's, which shows
    ``mean ± std`` when the row has ``<key>_std``) or :func:`cell_text`."""
    if hasattr(col, "cell"):
        return col.cell(row)
    return cell_text(col, row.get(col.key))


def frame(rows: Sequence[Mapping], columns: Sequence) -> pd.DataFrame:
    """The rows as the reader sees them: one string per cell, the human titles as headers."""
    return pd.DataFrame({c.title: [cell(c, r) for r in rows] for c in columns})


def show_table(rows: Sequence[Mapping], columns: Sequence, *, notes: bool = True) -> pd.DataFrame:
    """Draw ``rows`` (mappings keyed by each column's ``key``) as the app's table.

    ``columns`` are :class:`Column` s (or ``results_table.Column`` s). Under the table, when
    ``notes`` is true, one caption line explains the columns that have a help text. Returns
    the DataFrame shown (the printed strings under the human titles).
    """
    df = frame(rows, columns)
    numeric = [c.title for c in columns if not getattr(c, "text", False)]
    # numbers right-aligned so their digits line up (the cells are text, so say it firmly)
    styler = df.style.set_properties(subset=numeric, **{"text-align": "right !important"})
    styler = styler.set_table_styles([{"selector": "th", "props": [("white-space", "normal")]}])
    st.table(styler, hide_index=True)
    helps = [f"**{c.title}**: {c.help}" for c in columns if getattr(c, "help", "")]
    if notes and helps:
        st.caption(" · ".join(helps))
    return df
