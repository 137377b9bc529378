"""One table style for the app: human headers with units, numbers printed to the precision they
carry, missing values as "—", every row shown (no inner scroll), and a table that wraps its
headers to fit the page or, when it cannot, scrolls sideways as a whole (``st.table``).

Columns are the shared results-table spec's :class:`~unlearn_core.evaluation.tables.Column` (the
CLI's and the HTML report's), so a row with ``<key>_std`` prints ``mean ± std`` here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import streamlit as st

from unlearn_core.evaluation.tables import Column

__all__ = ["Column", "frame", "show_table"]


def frame(rows: Sequence[Mapping], columns: Sequence) -> pd.DataFrame:
    """The rows as the reader sees them: one string per cell, the human titles as headers."""
    return pd.DataFrame({c.title: [c.cell(r) for r in rows] for c in columns})


def show_table(rows: Sequence[Mapping], columns: Sequence, *, notes: bool = True) -> pd.DataFrame:
    """Draw ``rows`` (mappings keyed by each column's ``key``) as the app's table.

    ``columns`` are :class:`Column` s. Under the table, when ``notes`` is true, one caption
    line explains the columns that have a help text. Returns the DataFrame shown (the printed
    strings under the human titles).
    """
    df = frame(rows, columns)
    numeric = [c.title for c in columns if not c.text]
    # numbers right-aligned so their digits line up (the cells are text, so say it firmly)
    styler = df.style.set_properties(subset=numeric, **{"text-align": "right !important"})
    styler = styler.set_table_styles([{"selector": "th", "props": [("white-space", "normal")]}])
    st.table(styler, hide_index=True)
    helps = [f"**{c.title}**: {c.help}" for c in columns if c.help]
    if notes and helps:
        st.caption(" · ".join(helps))
    return df
