"""Runs: every stored comparison, audit, sweep and inversion attack; open one, note it, delete
it, set runs side by side, export. An audit or a sweep opens on the Audit page, an inversion
attack on the Inversion page."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from app_ui.audit_jobs import STORED_KINDS, drop_deleted, is_shown, open_stored
from app_ui.common import chart, page_link
from app_ui.entry import through_app
from app_ui.inversion_store import INVERSION_KIND, restore_inversion
from app_ui.inversion_store import drop_deleted as drop_deleted_inversion
from app_ui.inversion_store import is_shown as inversion_shown
from app_ui.jobs import status_line
from app_ui.owners import delete_refusal, owner_id
from app_ui.persist import restore_run, run_store
from app_ui.state import COMPARISON_ID, RUNS, RUNS_DELETE, RUNS_PREPARED
from app_ui.tables import show_table
from unlearn_core.evaluation.tables import (
    RESULT_COLUMNS,
    RUN_OVERVIEW_COLUMNS,
    columns_for,
    run_rows,
    side_by_side_columns,
    side_by_side_rows,
)
from unlearn_core.inversion.stored import INVERSION_COLUMNS
from unlearn_core.plots.runs import RunRows, side_by_side_figures
from unlearn_core.store import ComparisonRecord, RunStoreError

through_app()  # a cold server's deep link runs the app's navigation first


st.title("Runs")
st.caption(
    "Every comparison stored on this server (the run store), the audits and sweeps run on the "
    "Audit page and the attacks of the Inversion page. Open one to see it on every page (an "
    "audit or a sweep on the Audit page, an inversion attack on the Inversion page); "
    "the page's address then names it, so a reload or a shared link shows it again."
)

st.caption(status_line())  # the server: memory in use, jobs running and waiting

store = run_store()
try:
    every_run = store.list_comparisons()
except RunStoreError as exc:
    st.error(f"The run store cannot be read: {exc}")
    st.stop()
me = owner_id()
everyone = st.toggle(
    "Everyone's runs",
    key=RUNS.EVERYONE,
    help="Off: the runs stored from this browser (its owner id is in a cookie and the page's "
    "address) and those with no owner (stored before owners, or by the CLI). On: every run on "
    "this server; anyone may open any run, only its owner deletes it.",
)
mine = [r for r in every_run if r.owner == me]
shown = COMPARISON_ID.get()
runs = [  # a run opened from a shared link stays listed for its viewer
    r for r in every_run if everyone or r.owner in ("", me) or r.id == shown
]  # fmt: skip
others = sum(1 for r in every_run if r.owner not in ("", me))
st.caption(
    f"Yours: {len(mine)} of the {len(every_run)} stored runs"
    + (f"; {others} of other browsers" if others else "")
    + ("" if everyone or not others else " (*Everyone's runs* lists them)")
    + "."
)
if not runs:
    st.info(
        "No stored runs yet: a comparison run on the Unlearn page is stored here."
        if not every_run
        else "None of the stored runs is yours yet: a comparison you run on the Unlearn page "
        "is listed here; *Everyone's runs* lists the others'."
    )
    page_link("pages/unlearn.py", "Go to 3 · Unlearn")
    st.stop()


def _kind(rec: ComparisonRecord) -> str:
    return rec.kind if rec.kind in STORED_KINDS or rec.kind == INVERSION_KIND else "comparison"


def _whose(rec: ComparisonRecord) -> str:
    return "yours · " if rec.owner == me else "" if not rec.owner else "another browser's · "


def _label(rec: ComparisonRecord) -> str:
    kind = "" if _kind(rec) == "comparison" else f"{_kind(rec)} · "
    return (
        f"{_whose(rec)}{kind}{rec.created[:16].replace('T', ' ')} · {rec.dataset} · "
        f"{rec.model} · {rec.forget}"
    )


def _seeds(rec: ComparisonRecord) -> str:
    return ", ".join(map(str, rec.seeds)) or "—"


ref = {r.id: r for r in runs}
show_table(run_rows(runs), RUN_OVERVIEW_COLUMNS, notes=False)  # fits the page at 1024 px

# ------------------------------------------------------------------ one run
st.subheader("One run")
ids = [r.id for r in runs]
current = COMPARISON_ID.get()
default = ids.index(current) if current in ids else 0
cid = st.selectbox(
    "Run", ids, index=default, key=RUNS.PICK, format_func=lambda i: f"{i} · {_label(ref[i])}"
)
rec = ref[cid]
rows = rec.rows
kind = _kind(rec)
show_table(rows, INVERSION_COLUMNS if kind == INVERSION_KIND else columns_for(rows, RESULT_COLUMNS),
           notes=False)  # fmt: skip
if any(r.get("damaged") for r in rows):
    st.warning(
        "Flagged damaged: "
        + ", ".join(r["method"] for r in rows if r.get("damaged"))
        + " (retain accuracy more than 10 points below retrain's)."
    )

if kind == "sweep":
    best = next((r for r in rows if r.get("label")), None)
    st.caption(
        "A sweep: the original, retrain and the best trial "
        + (f"({best['label']})" if best else "(no trial finished)")
        + "; every trial is on the Audit page."
    )
elif kind == "audit":
    st.caption(
        "An audit: each row is the mean over its K models; the scores are on the Audit page."
    )
elif kind == INVERSION_KIND:
    st.caption(
        f"An inversion attack on {rec.forget}: the means over the samples (the baseline: the "
        "same attack on an update that carries nothing about them); the gallery is on the "
        "Inversion page and in the HTML report."
    )

cols = st.columns(3)
with cols[0]:
    if st.button("Open this run", key=RUNS.OPEN, type="primary"):
        try:
            if kind == INVERSION_KIND:  # the Inversion page shows it
                restore_inversion(cid)
            elif kind in STORED_KINDS:  # an audit or a sweep: the Audit page shows it
                open_stored(kind, cid)
            else:
                restore_run(cid)
        except RunStoreError as exc:
            st.error(f"Run {cid} cannot be opened: {exc}")
        else:
            if kind == INVERSION_KIND:
                st.success(f"Inversion attack {cid} is open on the Inversion page.")
            elif kind in STORED_KINDS:
                st.success(f"{kind.capitalize()} {cid} is open on the Audit page.")
            else:
                st.success(f"Run {cid} is open on every page.")
    if kind == INVERSION_KIND and inversion_shown(cid):
        page_link("pages/inversion.py", "See it on 5c · Inversion")
    elif kind in STORED_KINDS and is_shown(cid):
        page_link("pages/audit.py", "See it on 5b · Audit")
    elif COMPARISON_ID.get() == cid:
        page_link("pages/compare.py", "See it on 4 · Compare")
refused = delete_refusal(rec.owner)  # another browser's run: read-only, note included
with cols[1]:
    note = st.text_area(
        "Note", value=rec.note, key=RUNS.NOTE.of(cid), height=80, disabled=bool(refused),
        help="Only the run's owner writes its note." if refused else None,
    )  # fmt: skip
    if not refused and st.button("Save the note", key=RUNS.SAVE_NOTE):
        try:
            if delete_refusal(rec.owner):  # checked again at the click
                raise RunStoreError("it is not this browser's run")
            store.note(cid, note)
        except RunStoreError as exc:
            st.error(f"The note was not saved: {exc}")
        else:
            st.rerun()
with cols[2]:
    if refused:
        st.caption(refused)
    elif RUNS_DELETE.get() == cid:
        st.warning(f"Delete run {cid} and its stored models? This cannot be undone.")
        if st.button("Yes, delete it", key=RUNS.DELETE_YES, type="primary"):
            try:
                if delete_refusal(rec.owner):  # checked again at the click
                    raise RunStoreError("it is not this browser's run")
                store.delete(cid)
            except RunStoreError as exc:
                st.error(f"Run {cid} was not deleted: {exc}")
            else:
                if COMPARISON_ID.get() == cid:
                    COMPARISON_ID.set(None)
                drop_deleted(cid)
                drop_deleted_inversion(cid)
                RUNS_DELETE.pop()
                st.rerun()
        if st.button("Keep it", key=RUNS.DELETE_NO):
            RUNS_DELETE.pop()
            st.rerun()
    elif st.button("Delete this run…", key=RUNS.DELETE):
        RUNS_DELETE.set(cid)
        st.rerun()


# ------------------------------------------------------------------ export
@st.cache_data(show_spinner="Writing the report…", max_entries=8)
def _export(cid: str, what: str, home: str) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        if what == "json":
            return store.export_json(cid, Path(tmp) / "run.json").read_bytes()
        if what == "html":
            return store.export_html(cid, Path(tmp) / "report.html").read_bytes()
        paths = store.export_models(cid, tmp)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for p in paths:
                for f in (p, p.with_suffix(".json")):
                    zf.write(f, f.name)
        return buf.getvalue()


st.markdown("**Export**")
erow = st.container(horizontal=True)  # the buttons wrap onto a new line, never cut
exports = [
    ("json", "JSON record", "application/json", f"{cid}.json"),
    ("html", "HTML report (opens offline)", "text/html", f"{cid}.html"),
    ("models", "Models (zip of safetensors)", "application/zip", f"{cid}-models.zip"),
]
models = kind == "comparison"  # audits, sweeps and inversions keep no models to export
for what, label, mime, name in exports if models else exports[:2]:
    with erow:
        if what != "json" and RUNS_PREPARED.get() != [cid, what]:
            if st.button(f"Prepare: {label}", key=RUNS.PREP.of(what)):
                RUNS_PREPARED.set([cid, what])
                st.rerun()
            continue
        try:
            data = _export(cid, what, str(store.home))
        except RunStoreError as exc:
            st.caption(f"{label}: not available ({exc}).")
            continue
        st.download_button(
            label,
            data,
            file_name=name,
            mime=mime,
            key=RUNS.DOWNLOAD.of(what),
            icon=":material/download:",
        )

# ------------------------------------------------------------------ side by side
st.subheader("Side by side")
picked = st.multiselect(
    "Runs to compare (two or more)",
    ids,
    key=RUNS.SIDE,
    format_func=lambda i: f"{i} · {_label(ref[i])}",
)
if len(picked) >= 2:
    side = side_by_side_rows({i: ref[i].rows for i in picked})
    show_table(side, side_by_side_columns(side), notes=False)
    st.caption(
        "One row per method and run, each method's runs together (time as a share of each "
        "run's own retraining, which compares runs made on different machines): "
        + "; ".join(f"**{i}**: {_label(ref[i])}, seeds {_seeds(ref[i])}" for i in picked)
    )
    several = any(len(ref[i].seeds) > 1 for i in picked)
    st.caption(
        "The charts: one colour (and hatch) per run, one row per method; the target of each "
        "method is its own run's retrain value, not the longest bar."
        + (" Error bars: standard deviation over the run's seeds." if several else "")
    )
    figures = side_by_side_figures([RunRows(label=i, rows=ref[i].rows) for i in picked])
    for k, fig in enumerate(figures):
        chart(fig, key=RUNS.SIDE_CHART.of(k))
elif picked:
    st.caption("Pick at least two runs.")
