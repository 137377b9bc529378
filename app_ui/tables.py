"""One table style for the app: human headers with units, numbers printed to the precision they
carry, missing values as "—", every row shown (no inner scroll), and a table that wraps its
headers (and its text, between words) to fit the page or, when it cannot, scrolls sideways as a
whole (``st.table``) with its first column (what the row is) kept in view. A number never
breaks over lines; ``mean ± std`` is one line where the column is wide enough, else the mean
over its ``± std`` (two lines, never the "±" alone on one).

Columns are the shared results-table spec's :class:`~unlearn_core.evaluation.tables.Column` (the
CLI's and the HTML report's), so a row with ``<key>_std`` prints ``mean ± std`` here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from unlearn_core.evaluation.tables import Column

__all__ = ["SPREAD", "Column", "frame", "show_table", "styled"]


#: between "±" and the std: a space no line breaks at, so a cell breaks (if it must) only
#: between the mean and its "± std"
SPREAD = " ±\u00a0"


def frame(rows: Sequence[Mapping], columns: Sequence) -> pd.DataFrame:
    """The rows as the reader sees them: one string per cell, the human titles as headers."""
    return pd.DataFrame(
        {c.title: [c.cell(r).replace(" ± ", SPREAD) for r in rows] for c in columns}
    )


#: the page's background in each theme (Streamlit's defaults): a sticky column is painted with
#: it so the cells scrolling under it do not show through
BACKGROUND = {"light": "#ffffff", "dark": "#0e1117"}


def _sticky_first() -> list[tuple[str, str]]:
    """The first column stays in view while a table too wide for the page scrolls sideways."""
    theme = getattr(getattr(st.context, "theme", None), "type", None)
    return [
        ("position", "sticky"),
        ("left", "0"),
        ("z-index", "1"),
        ("background-color", BACKGROUND.get(theme or "light", BACKGROUND["light"])),
    ]


def styled(df: pd.DataFrame, columns: Sequence):
    """The app's style on the printed cells: numbers right-aligned (so their digits line up);
    headers and text wrap between words; the first column sticky."""
    numeric = [c.title for c in columns if not c.text]
    styles = [
        {"selector": "th", "props": [("white-space", "normal")]},
        # a notch below the body text: ten result columns with their spread fit the page at
        # 1024 px (the app's widest table: the results over several seeds)
        {"selector": "td, th", "props": [("font-size", "13px")]},
        {"selector": "td:first-child, th:first-child", "props": _sticky_first()},
    ]
    return df.style.set_properties(
        subset=numeric, **{"text-align": "right !important"}
    ).set_table_styles(styles)


def show_table(rows: Sequence[Mapping], columns: Sequence, *, notes: bool = True) -> pd.DataFrame:
    """Draw ``rows`` (mappings keyed by each column's ``key``) as the app's table.

    ``columns`` are :class:`Column` s. Under the table, when ``notes`` is true, one caption
    line explains the columns that have a help text. Returns the DataFrame shown (the printed
    strings under the human titles).
    """
    df = frame(rows, columns)
    st.table(styled(df, columns), hide_index=True)
    helps = [f"**{c.title}**: {c.help}" for c in columns if c.help]
    if notes and helps:
        st.caption(" · ".join(helps))
    return df
