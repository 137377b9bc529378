"""The forget set in use: how it is put in use (:func:`put_in_use`, the Forget set page's and
the repair section's button callbacks) and what it is called (a repair's found corrupted
samples and its scenario, ``app_ui.repair_view``, else the request's own words)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import streamlit as st

from app_ui.state import COMPARISON_ID, FORGET, P2_NOTE, REPAIR
from app_ui.text import clause, plural, split_summary
from unlearn_core.forget import ForgetError

#: a repair scenario's kind in a phrase
SCENARIO_WORDS = {
    "label-noise": "label noise",
    "backdoor": "backdoor",
    "feature": "spurious feature",
}


def put_in_use(forget: dict) -> None:
    """Make ``forget`` (a request's dict) the forget set in use; a shown comparison of the
    previous one is cleared, and the page says so. A button callback: it runs at the start of
    the click's script run, so a newer run that stops that one cannot lose the click."""
    FORGET.set(forget)
    if COMPARISON_ID.get():
        COMPARISON_ID.set(None)
        P2_NOTE.set("The forget set changed: the previous comparison was cleared.")


def active_repair() -> dict | None:
    """The repair scenario's settings while the forget set it put in use is still in use."""
    rep = REPAIR.get()
    return rep["settings"] if rep and rep.get("forget") == FORGET.get() else None


def in_use_summary(split, class_names: Sequence[str]) -> str:
    """The forget set in use in words, e.g. ``29 corrupted samples found (backdoor, 5%
    corrupted)`` for a repair (not "29 samples picked by hand"), else :func:`split_summary`."""
    rep = active_repair()
    if rep is None:
        return split_summary(split, class_names)
    what = SCENARIO_WORDS.get(rep["kind"], rep["kind"])
    return f"{plural(split.n_forget, 'corrupted sample')} found ({what}, {rep['fraction']:.0%} corrupted)"


def in_use_header(split_of: Callable[[dict], object], describe: Callable[[object], str]):
    """The Forget set page's head, for image and text data alike: the forget set in use
    (``split_of(request dict)``, dropped with a warning when it no longer fits the data), the
    page's pending note, and the "In use for unlearning" line (``describe(split)``). Returns
    the split in use, or None."""
    current = None
    confirmed = FORGET.get()
    if confirmed:
        try:
            current = split_of(confirmed)
        except ForgetError as exc:
            st.warning(
                f"The forget set in use no longer fits this dataset ({clause(str(exc))}): "
                "choose one again."
            )
            FORGET.set(None)
    if P2_NOTE.get():
        st.info(P2_NOTE.pop())
    st.markdown(
        f"**In use for unlearning:** {describe(current)}"
        if current is not None
        else "**In use for unlearning:** nothing yet"
    )
    return current
