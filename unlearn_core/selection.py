"""Pure helpers behind the app's setup pages: chart selections to sample ids, picking,
paging and parameter controls. No Streamlit, no plotting: plain values in, plain values out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


def _as_id(value: Any) -> int | None:
    """A sample id from one point's ``customdata``: a scalar, a list whose first item is it, or
    (as the browser sends a row of a 2-D ``customdata`` array) a mapping ``{"0": id}``."""
    if isinstance(value, Mapping):
        value = value.get("0", value.get(0))
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(f) or f != int(f):
        return None
    return int(f)


def selection_points(event: Mapping | None) -> list:
    """The selected points of a Streamlit plotly selection event (``[]`` if none)."""
    if not event:
        return []
    sel = event.get("selection") if isinstance(event, Mapping) else None
    if not sel:
        return []
    return list(sel.get("points") or [])


def ids_from_selection(event: Mapping | None) -> list[int]:
    """Sample ids of the points selected in a plotly chart, read from each point's ``customdata``.

    ``point_indices`` count within each trace (one trace per class), so they are not sample
    ids; the id travels in ``customdata``. Points without one are ignored. Sorted and unique.
    """
    ids = {_as_id(p.get("customdata")) for p in selection_points(event) if isinstance(p, Mapping)}
    ids.discard(None)
    return sorted(ids)  # type: ignore[arg-type]


def selection_signature(event: Mapping | None) -> str:
    """A stable fingerprint of a selection, to apply each new lasso/box selection only once."""
    if not event:
        return ""
    sel = event.get("selection") or {}
    ids = ids_from_selection(event)
    if not ids:
        return ""
    shapes = {k: sel.get(k) for k in ("box", "lasso")}
    return json.dumps({"ids": ids, **shapes}, sort_keys=True, default=str)


def apply_selection(picked: Iterable[int], ids: Iterable[int], mode: str = "add") -> list[int]:
    """Add (``mode="add"``) or remove (``"remove"``) ``ids`` from ``picked``; sorted, unique."""
    base = {int(i) for i in picked}
    new = {int(i) for i in ids}
    if mode == "add":
        base |= new
    elif mode == "remove":
        base -= new
    else:
        raise ValueError(f"mode must be 'add' or 'remove', got {mode!r}")
    return sorted(base)


def merge_picks(
    picked: Iterable[int], shown: Iterable[int], ticked: Iterable[int], lasso: Iterable[int] = ()
) -> list[int]:
    """Merge hand picks: thumbnails ``shown`` on screen are marked exactly when ``ticked``;
    samples not shown keep their state; ``lasso`` picks are added. Sorted, unique."""
    shown_set = {int(i) for i in shown}
    ticked_set = {int(i) for i in ticked}
    keep = {int(i) for i in picked} - shown_set
    return sorted(keep | (ticked_set & shown_set) | {int(i) for i in lasso})


def valid_ids(ids: Iterable[int], n: int) -> list[int]:
    """The ids that index a training set of ``n`` samples; sorted, unique."""
    return sorted({int(i) for i in ids if 0 <= int(i) < n})


def examples_per_class(y: Sequence[int] | np.ndarray, per_class: int = 2) -> list[int]:
    """The first ``per_class`` sample ids of each class, in class order (for thumbnails)."""
    y = np.asarray(y)
    out: list[int] = []
    for c in np.unique(y):
        out += np.flatnonzero(y == c)[:per_class].tolist()
    return out


def filter_by_class(y: Sequence[int] | np.ndarray, cls: int | None) -> np.ndarray:
    """Sample ids of class ``cls`` (all ids when ``cls`` is None)."""
    y = np.asarray(y)
    return np.arange(len(y)) if cls is None else np.flatnonzero(y == cls)


def page_count(n: int, per_page: int) -> int:
    return max(1, math.ceil(n / max(per_page, 1)))


def page_of(ids: Sequence[int] | np.ndarray, page: int, per_page: int) -> list[int]:
    """Items of the 1-based ``page`` (clamped to the valid pages)."""
    page = min(max(int(page), 1), page_count(len(ids), per_page))
    start = (page - 1) * per_page
    return [int(i) for i in ids[start : start + per_page]]


# --------------------------------------------------------------------- parameter controls


def param_step(default: float, lo: float | None = None, hi: float | None = None) -> float:
    """A +/- step for a float control: a tenth of the default's power of ten (0.01 steps by
    0.001, 0.5 by 0.01, 10 by 1), or about a hundredth of the range when the default is 0."""
    if default:
        return float(10 ** (math.floor(math.log10(abs(default))) - 1))
    if lo is not None and hi is not None and hi > lo:
        span = (hi - lo) / 100
        return float(10 ** math.floor(math.log10(span)))
    return 0.01


def float_format(default: float, log_scale: bool) -> str:
    """printf (sprintf.js) format for a float control: ``%g`` for log-scale values (0.0001,
    1e-06), else as many decimals as the default's step needs."""
    if log_scale:
        return "%g"
    decimals = max(0, min(6, -math.floor(math.log10(param_step(default)))))
    return f"%.{decimals}f"


def default_methods(available: Iterable[str], class_wise: bool) -> list[str]:
    """The methods preselected on the Unlearn page for a class or a non-class forget set."""
    want = ("scrub", "salun", "ssd") if class_wise else ("finetune", "salun", "l1_sparse")
    have = list(available)
    if not any(m in have for m in want):  # the text track offers its language methods
        want = ("graddiff", "npo", "simnpo")
    return [m for m in want if m in have]
