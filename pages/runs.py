"""Runs: every stored comparison, audit and sweep; open one, note it, delete it, set runs side
by side, export. An audit or a sweep opens on the Audit page."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pandas as pd
import streamlit as st

from app_ui.audit_jobs import STORED_KINDS, drop_deleted, is_shown, open_stored
from app_ui.common import chart, page_link
from app_ui.entry import through_app
from app_ui.persist import restore_run, run_store
from app_ui.state import COMPARISON_ID, RUNS, RUNS_DELETE, RUNS_PREPARED
from app_ui.tables import show_table
from unlearn_core.evaluation.tables import (
    RESULT_COLUMNS,
    columns_for,
    side_by_side_columns,
    side_by_side_rows,
)
from unlearn_core.plots.runs import RunRows, side_by_side_figures
from unlearn_core.store import ComparisonRecord, RunStoreError

through_app()  # a cold server's deep link runs the app's navigation first


st.title("Runs")
st.caption(
    "Every comparison stored on this server (the run store), and the audits and sweeps run on "
    "the Audit page. Open one to see it on every page (an audit or a sweep on the Audit page); "
    "the page's address then names it, so a reload or a shared link shows it again."
)

store = run_store()
try:
    runs = store.list_comparisons()
except RunStoreError as exc:
    st.error(f"The run store cannot be read: {exc}")
    st.stop()
if not runs:
    st.info("No stored runs yet: a comparison run on the Unlearn page is stored here.")
    page_link("pages/unlearn.py", "Go to 3 · Unlearn")
    st.stop()


def _headline(rec: ComparisonRecord) -> str:
    best = rec.closest()
    if best is None:
        return "—"
    return f"{best['method']} (gap {best['avg_gap']:.2f} pts)"


def _kind(rec: ComparisonRecord) -> str:
    return rec.kind if rec.kind in STORED_KINDS else "comparison"


def _label(rec: ComparisonRecord) -> str:
    kind = "" if _kind(rec) == "comparison" else f"{_kind(rec)} · "
    return (
        f"{kind}{rec.created[:16].replace('T', ' ')} · {rec.dataset} · {rec.model} · {rec.forget}"
    )


def _seeds(rec: ComparisonRecord) -> str:
    return ", ".join(map(str, rec.seeds)) or "—"


ref = {r.id: r for r in runs}
overview = pd.DataFrame(
    {
        "run": [r.id for r in runs],
        "kind": [_kind(r) for r in runs],
        "date": [r.created[:16].replace("T", " ") for r in runs],
        "dataset": [r.dataset for r in runs],
        "model": [r.model for r in runs],
        "forget set": [r.forget for r in runs],
        "methods": [", ".join(r.methods) for r in runs],
        "seeds": [_seeds(r) for r in runs],
        "closest to retrain": [_headline(r) for r in runs],
        "note": [r.note for r in runs],
    }
)
st.table(overview, hide_index=True)

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
show_table(rows, columns_for(rows, RESULT_COLUMNS), notes=False)
if any(r.get("damaged") for r in rows):
    st.warning(
        "Flagged damaged: "
        + ", ".join(r["method"] for r in rows if r.get("damaged"))
        + " (retain accuracy more than 10 points below retrain's)."
    )

kind = _kind(rec)
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

cols = st.columns(3)
with cols[0]:
    if st.button("Open this run", key=RUNS.OPEN, type="primary"):
        try:
            if kind in STORED_KINDS:  # an audit or a sweep: the Audit page shows it
                open_stored(kind, cid)
            else:
                restore_run(cid)
        except RunStoreError as exc:
            st.error(f"Run {cid} cannot be opened: {exc}")
        else:
            if kind in STORED_KINDS:
                st.success(f"{kind.capitalize()} {cid} is open on the Audit page.")
            else:
                st.success(f"Run {cid} is open on every page.")
    if kind in STORED_KINDS and is_shown(cid):
        page_link("pages/audit.py", "See it on 5b · Audit")
    elif COMPARISON_ID.get() == cid:
        page_link("pages/compare.py", "See it on 4 · Compare")
with cols[1]:
    note = st.text_area("Note", value=rec.note, key=RUNS.NOTE.of(cid), height=80)
    if st.button("Save the note", key=RUNS.SAVE_NOTE):
        try:
            store.note(cid, note)
        except RunStoreError as exc:
            st.error(f"The note was not saved: {exc}")
        else:
            st.rerun()
with cols[2]:
    if RUNS_DELETE.get() == cid:
        st.warning(f"Delete run {cid} and its stored models? This cannot be undone.")
        if st.button("Yes, delete it", key=RUNS.DELETE_YES, type="primary"):
            try:
                store.delete(cid)
            except RunStoreError as exc:
                st.error(f"Run {cid} was not deleted: {exc}")
            else:
                if COMPARISON_ID.get() == cid:
                    COMPARISON_ID.set(None)
                drop_deleted(cid)
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
ecols = st.columns(3)
for col, (what, label, mime, name) in zip(
    ecols,
    (
        ("json", "JSON record", "application/json", f"{cid}.json"),
        ("html", "HTML report (opens offline)", "text/html", f"{cid}.html"),
        ("models", "Models (zip of safetensors)", "application/zip", f"{cid}-models.zip"),
    ),
    strict=True,
):
    with col:
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
