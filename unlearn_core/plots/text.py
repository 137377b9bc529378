"""Figures of the text track's Attack and Audit pages (plotly, no Streamlit): the ROC curves of
one membership attack for several models, each in its method colour, and where an unlearned
model leaves each forget row between retrain and the original."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from .style import method_colour, style


def membership_roc(
    curves: Mapping[str, object],
    *,
    labels: Mapping[str, str] | None = None,
    attack: str = "LOSS",
) -> go.Figure:
    """ROC curves of ``attack`` (``curves``: model name -> an object with ``fpr``, ``tpr`` and
    ``auc``, e.g. :class:`unlearn_core.text.membership.RocCurve`), forget rows (members)
    against held-out people (non-members); the legend gives each model's AUC."""
    labels = dict(labels or {})
    fig = go.Figure()
    for name, c in curves.items():
        label = labels.get(name, name)
        auc = getattr(c, "auc", float("nan"))
        fig.add_scatter(
            x=c.fpr,
            y=c.tpr,
            mode="lines",
            name=f"{label}: AUC {auc:.3f}" if auc == auc else f"{label}: AUC n/a",
            line={"color": method_colour(name), "width": 3, "shape": "hv"},
            hovertemplate=f"{label}<br>FPR %{{x:.2f}}, TPR %{{y:.2f}}<extra></extra>",
        )
    fig.add_scatter(
        x=[0, 1], y=[0, 1], mode="lines", name="chance", line={"dash": "dot", "color": "#999"}
    )
    fig.update_xaxes(title="false-positive rate (held-out people called member)", range=[0, 1])
    fig.update_yaxes(title="true-positive rate (forget rows called member)", range=[0, 1.02])
    return style(fig, f"ROC of the {attack} attack: forget rows vs held-out people", height=420)


def position_histogram(position: np.ndarray, *, model: str, label: str | None = None) -> go.Figure:
    """Histogram of where each forget row's score under ``model`` sits between retrain's (0)
    and the original's (1) (:attr:`unlearn_core.text.membership.QuestionLens.position`);
    positions beyond [-1, 2] are drawn at the edges."""
    pos = np.asarray(position, dtype=float)
    pos = np.clip(pos[~np.isnan(pos)], -1.0, 2.0)
    edges = np.linspace(-1.0, 2.0, 31)
    counts, _ = np.histogram(pos, bins=edges)
    fig = go.Figure(
        go.Bar(
            x=(edges[:-1] + edges[1:]) / 2,
            y=counts,
            width=edges[1] - edges[0],
            marker_color=method_colour(model),
            name=label or model,
            hovertemplate="position %{x:.2f}: %{y} rows<extra></extra>",
        )
    )
    for x, name in ((0.0, "retrain"), (1.0, "original")):
        fig.add_vline(x=x, line={"color": method_colour(name), "dash": "dash", "width": 2})
        fig.add_annotation(x=x, y=1, yref="paper", yanchor="bottom", text=name, showarrow=False)
    fig.add_vline(x=0.5, line={"color": "#999", "dash": "dot", "width": 1})
    fig.update_xaxes(title="position: 0 = retrain's score, 1 = the original's", range=[-1.05, 2.05])
    top = int(counts.max()) if len(counts) else 1
    fig.update_yaxes(title="forget rows", tick0=0, dtick=max(1, -(-top // 6)))  # whole rows
    title = f"Where {label or model} leaves each forget row, between retrain and the original"
    return style(fig, title, height=360, legend=None)
