"""The Audit page's ensemble lenses (issue 19): the choice of lenses in the run form, the lenses
side by side per model (a table, a compact chart, one sentence a lens), the quantisation
recovery against retrain's, and one forget sample's drill-down (its margin histograms under the
unlearned and the retrained models, its epsilon, KLoM, likelihood ratio and RMIA scores, its
image). The numbers come from :mod:`unlearn_core.audit.drilldown`; the figures are built here
with the house style of :mod:`unlearn_core.plots.style`."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from app_ui.common import chart
from app_ui.registries import ShownAudit
from app_ui.state import AL, AL_FOLLOWED, AU_INSTANCE
from app_ui.tables import Column, show_table
from unlearn_core.audit import drilldown as D
from unlearn_core.audit.klom import KLOM_MAX
from unlearn_core.evaluation.tables import AUDIT_COLUMNS, result_column
from unlearn_core.plots.style import (
    ORIGINAL_COLOUR,
    RETRAIN_COLOUR,
    bar_marker,
    method_colour,
    reference_legend,
    style,
    wrap,
)


def _audit_column(key: str) -> Column:
    return next(c for c in AUDIT_COLUMNS if c.key == key)


#: the lenses table (columns without a value in any row are left out)
LENS_COLUMNS = (
    Column("label", "model", text=True),
    result_column("forget_acc"),
    result_column("mia"),
    Column("forget_quality", "ε score", fmt=".3f"),
    _audit_column("klom_forget_p95"),
    _audit_column("klom_retain_p95"),
    _audit_column("ulira_acc"),
    _audit_column("rmia_auc"),
    Column("told_apart", "told apart from retrain by", text=True),
)
QUANT_COLUMNS = (
    Column("label", "model", text=True),
    Column("quant_full", "forget acc, full", "%", fmt=".1f"),
    Column("quant8_forget_acc", "int8", "%", fmt=".1f"),
    Column("quant4_forget_acc", "4-bit", "%", fmt=".1f"),
    Column("recovered", "brought back beyond retrain", "pts", fmt=".1f"),
)
#: the chart's panels: row key -> axis title (each with the retrain row's value dotted)
PANELS = (
    ("klom_forget_p95", "KLoM forget P95 (nats)"),
    ("ulira_acc", "U-LiRA (%)"),
    ("rmia_auc", "RMIA AUC"),
)


# ------------------------------------------------------------------ form
def lens_choice() -> tuple[list[str], list[str]]:
    """The lenses beside epsilon for the next audit; ``(metrics, attacks)`` for ``run_audit``
    (the attacks without relearning, which the form's own radio chooses)."""
    AL.LENSES.setdefault(list(D.DEFAULT_LENSES))
    AL.LENSES.set([k for k in AL.LENSES.get() if k in D.LENS_CHOICES])
    chosen = st.multiselect(
        "Lenses beside epsilon (always computed)", list(D.LENS_CHOICES), key=AL.LENSES,
        format_func=lambda k: D.LENS_CHOICES[k][0],
        help="KLoM, U-LiRA and RMIA read the margins every model already returns (seconds on "
        "the driver); quantisation recovery rounds each model's weights to 8 and 4 bits and "
        "scores the forget set again (milliseconds a model on small networks).",
    )  # fmt: skip
    return D.lens_arguments(chosen)


# ------------------------------------------------------------------ figures
def lens_figure(rows: list[dict]) -> go.Figure | None:
    """One panel per lens in :data:`PANELS` that has values: a bar per model (original and
    each method), the retrain row's value (retraining against itself) dotted."""
    panels = [(k, t) for k, t in PANELS if any(r.get(k) is not None for r in rows)]
    if not panels:
        return None
    ret = next((r for r in rows if r["method"] == "retrain"), {})
    shown = [r for r in rows if r["method"] != "retrain"]
    names = [r["method"] for r in shown]
    labels = [wrap(r["label"], 22) for r in shown]
    fig = make_subplots(
        rows=1, cols=len(panels), shared_yaxes=True, horizontal_spacing=0.05,
        subplot_titles=[t for _, t in panels],
    )  # fmt: skip
    for col, (key, _) in enumerate(panels, start=1):
        xs = [r.get(key) for r in shown]
        fig.add_bar(
            y=labels, x=xs, orientation="h", marker=bar_marker(names), showlegend=False,
            opacity=0.75, text=["—" if v is None else f"{v:.3g}" for v in xs], textposition="outside",
            cliponaxis=False, hovertemplate="%{y}: %{x:.3g}<extra></extra>", row=1, col=col,
        )  # fmt: skip
        top = max([v for v in (*xs, ret.get(key)) if v is not None], default=1.0)
        fig.update_xaxes(range=[0, 1.3 * top if top > 0 else 1.0], row=1, col=col)
        if ret.get(key) is not None:
            fig.add_vline(
                x=ret[key], line={"color": RETRAIN_COLOUR, "dash": "dot", "width": 2},
                layer="below", row=1, col=col,
            )  # fmt: skip
    reference_legend(fig, "retrain against itself (half vs half)", RETRAIN_COLOUR)
    style(fig, None, height=110 + 48 * len(shown), top_labels=True)
    fig.update_yaxes(autorange="reversed")
    return fig


def margin_figure(d: D.SampleDrill, label: str) -> go.Figure:
    """The sample's two margin histograms on KLoM's bins (the method's models and the retrained
    models of the same seeds), the original models' median margin dotted."""
    centres = (d.edges[:-1] + d.edges[1:]) / 2
    width = float(d.edges[1] - d.edges[0])
    fig = go.Figure()
    for counts, name, colour in (
        (d.unlearned_counts, f"{label} ({len(d.unlearned)} models)", method_colour(d.method)),
        (d.retrained_counts, f"retrain ({len(d.retrained)} models)", RETRAIN_COLOUR),
    ):
        fig.add_bar(
            x=centres, y=counts, width=width, name=name, marker_color=colour, opacity=0.6,
            hovertemplate="margin %{x:.2f}: %{y} models<extra>" + name + "</extra>",
        )  # fmt: skip
    if d.original is not None and len(d.original):
        fig.add_vline(
            x=float(np.median(d.original)),
            line={"color": ORIGINAL_COLOUR, "dash": "dot", "width": 2},
        )  # fmt: skip
        reference_legend(fig, "originals' median margin", ORIGINAL_COLOUR)
    style(fig, f"Sample {d.sample}: its margin under each model", height=340, title_chars=60)
    fig.update_layout(barmode="overlay", bargap=0)
    fig.update_xaxes(title_text="margin: true-class logit − logsumexp of the others")
    fig.update_yaxes(title_text="models")
    return fig


# ------------------------------------------------------------------ results
def _f(v, spec: str = ".2f") -> str:
    return "—" if v is None else format(v, spec)


def _sentences(keys: list[str]) -> None:
    st.markdown(
        "\n".join(f"- **{D.LENSES[k][0]}**: {D.LENSES[k][1]}" for k in keys if k in D.LENSES)
    )


def show_lenses(shown: ShownAudit) -> None:
    """The lenses side by side, their sentences, the chart and the quantisation recovery."""
    r = shown.result
    st.markdown("#### Lenses side by side")
    if not r.lensed:
        st.caption(
            "This audit ran with epsilon only: choose lenses (KLoM, U-LiRA, RMIA, "
            "quantisation) above before running to see them here."
        )
        return
    rows = D.lens_rows(r)
    k = r.models_per_side
    st.caption(
        f"How to read it: each lens compares the method's {k} models with the {k} retrained "
        f"ones. The retrain row is retraining compared with itself ({k // 2} retrained models "
        "against the other "
        f"{k // 2}): what each lens reads when there is nothing to find, so read a method "
        "against that row, not against an ideal value. The last column names the lenses "
        "that tell the method from retraining (rule of thumb below the table)."
    )
    cols = [
        c for c in LENS_COLUMNS
        if c.text or any(row.get(c.key) is not None for row in rows)
    ]  # fmt: skip
    show_table(rows, cols, notes=False)
    st.caption(f"Told apart, our rule of thumb: {D.RULES}.")
    base = next((row.get("klom_forget_p95") for row in rows if row["method"] == "retrain"), None)
    if not D.klom_resolves(base):
        st.warning(
            f"With K = {k}, KLoM tells little apart: retraining against itself already reads "
            f"{base:.2f} of its {KLOM_MAX:.2f} ceiling (each sample's histograms hold only "
            f"{k // 2} margins a side in 20 bins). Use 32 or more models for KLoM."
        )
    chosen = ["forget_acc", "mia", "eps", *(m for m in r.metrics if m != "eps")]
    _sentences(chosen + (["quantize"] if "quantize" in r.attacks else []))
    fig = lens_figure(rows)
    if fig is not None:
        chart(fig, AL.CHART)
        st.caption(
            "How to read it: one bar per model's value of each lens; the dotted line is what "
            "the lens reads for retraining against itself. A method's bar near its line: the "
            "lens cannot tell it from retraining."
        )
    if "quantize" in r.attacks:
        show_quantisation(shown)


def show_quantisation(shown: ShownAudit) -> None:
    rows = D.quant_rows(shown.result)
    st.markdown("##### Quantisation recovery")
    if not rows:
        st.caption("No model finished the quantisation attack.")
        return
    st.caption(
        "How to read it: forget accuracy (mean ± sd over the models) at full precision and "
        "after rounding every weight to 8 or 4 bits (round to nearest, per output channel); "
        "the last column is how much more forget accuracy the rounding brings back for the "
        "method than for retrain. Near 0: rounding recovers nothing retraining would not."
    )
    show_table(rows, QUANT_COLUMNS, notes=False)


def show_drilldown(shown: ShownAudit) -> None:
    """Pick a method and a forget sample: its histograms, its numbers, its image."""
    r, data = shown.result, shown.data
    st.markdown("#### One forget sample, lens by lens")
    names = [m.method for m in r.methods if D.has_drilldown(r, m.method)]
    if not names:
        st.caption("This audit kept no per-model margins (run it with KLoM, U-LiRA or RMIA).")
        return
    labels = {m.method: m.label for m in r.methods} | {"original": "original"}
    if D.has_drilldown(r, "original"):
        names.append("original")
    cols = st.columns([2, 3])
    with cols[0]:
        method = st.selectbox(
            "Models of", names, key=AL.METHOD, format_func=lambda n: labels.get(n, n)
        )
    order = D.sample_order(r, method)
    clicked = AU_INSTANCE.get()  # a forget sample clicked on the epsilon embedding: follow it
    if clicked in order and AL_FOLLOWED.get() != clicked:
        AL.SAMPLE.set(int(clicked))
        AL_FOLLOWED.set(int(clicked))
    if AL.SAMPLE.get() not in order:
        AL.SAMPLE.set(order[0])
    with cols[1]:
        sample = st.selectbox(
            "Forget sample (least like retraining first; a click on the embedding picks one)",
            order, key=AL.SAMPLE,
            format_func=lambda s: f"sample {s} · class {data.classes[int(data.y_train[s])]}",
        )  # fmt: skip
    d = D.drill(r, method, int(sample))
    left, right = st.columns([1, 4])
    with left:
        if data.kind == "image":
            st.image(data.image(d.sample), width=110, caption=f"sample {d.sample}")
        else:
            st.caption(f"sample {d.sample}")
    with right:
        chart(margin_figure(d, labels.get(method, method)), AL.HIST)
    st.caption(
        "How to read it: the bars are the two histograms KLoM compares for this sample (its "
        "margin, how strongly a model favours the true class, under each model). Overlapping "
        "bars: the method's models treat the sample as retrained models do; bars apart (often "
        "the method's near the originals' dotted line) mean the sample can still be told apart."
    )
    show_table(sample_rows(d), SAMPLE_COLUMNS, notes=False)


#: the drill-down's numbers: one row a lens
SAMPLE_COLUMNS = (
    Column("lens", "lens", text=True),
    Column("value", "this sample", text=True),
    Column("good", "like retraining", text=True),
)


def sample_rows(d: D.SampleDrill) -> list[dict]:
    """The sample's reading of each lens beside what retraining reads (where the audit has it)."""
    eps = _f(d.epsilon)
    if d.epsilon_beyond:
        eps += " (told apart by every threshold: beyond what K models resolve)"
    return [
        {"lens": "ε", "value": eps, "good": "0"},
        {"lens": "KLoM (nats)", "value": _f(d.klom),
         "good": f"{_f(d.klom_oracle)} (retrain half vs half)"},
        {"lens": "U-LiRA: decisions right", "value": f"{_f(d.ulira_acc, '.0f')}%",
         "good": "50%"},
        {"lens": "U-LiRA: mean log likelihood ratio, unlearned / retrained targets",
         "value": f"{_f(d.llr_unlearned, '.3g')} / {_f(d.llr_retrained, '.3g')}",
         "good": "both near 0"},
        {"lens": "RMIA: AUC of this sample's scores", "value": _f(d.rmia_auc), "good": "0.50"},
        {"lens": "RMIA: mean score, unlearned / retrained targets",
         "value": f"{_f(d.rmia_unlearned)} / {_f(d.rmia_retrained)}", "good": "equal"},
    ]  # fmt: skip


__all__ = [
    "LENS_COLUMNS",
    "PANELS",
    "QUANT_COLUMNS",
    "lens_choice",
    "lens_figure",
    "margin_figure",
    "sample_rows",
    "show_drilldown",
    "show_lenses",
    "show_quantisation",
]
