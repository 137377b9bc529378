"""A self-contained HTML report of a stored comparison: opens offline, fetches nothing.

Plotly's JavaScript is inlined once; there are no external scripts, stylesheets, fonts or
images. The report holds the setup, the metric table (mean ± std over seeds) from
:mod:`unlearn_core.evaluation.tables`, the main charts and a verdict per method from
:mod:`unlearn_core.evaluation.verdict`, with the verdict's thresholds written out.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
import plotly.io as pio

from ..audit.records import AUDIT_KIND, RELEARN_TARGET, AuditResult
from .tables import AUDIT_COLUMNS, html_table, number
from .verdict import REFERENCE, VerdictRule, verdicts

_CONFIG = {"displaylogo": False, "responsive": True}
_SETS = (
    ("forget_acc", "forget", "#d62728"),
    ("retain_acc", "retain", "#1f77b4"),
    ("test_acc", "test", "#ff7f0e"),
)
_VERDICT_CLASS = {
    "like_retrain": "good",
    "close": "ok",
    "too_little": "bad",
    "too_much": "bad",
    "damaged": "bad",
    "failed": "bad",
    "not_judged": "ok",
}
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
margin:0 auto;max-width:1100px;padding:1.5rem;color:#222;line-height:1.45}
h1{margin-bottom:.2rem}.sub{color:#555;margin-top:0}
h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.92rem}
th,td{border:1px solid #ddd;padding:.3rem .55rem;vertical-align:top}
th{background:#f4f4f4;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.error{color:#a40000}dl.setup{display:grid;grid-template-columns:max-content auto;gap:.25rem 1rem}
dl.setup dt{font-weight:600}dl.setup dd{margin:0}
.verdict{font-weight:600;white-space:nowrap}.good{color:#1a7f37}.ok{color:#9a6700}.bad{color:#b42318}
.note{background:#fffbe6;border:1px solid #f0e0a0;padding:.5rem .8rem}
.chart{margin:1rem 0}footer{margin-top:2rem;color:#666;font-size:.85rem}
code{background:#f4f4f4;padding:0 .2rem}
"""


def _rows(doc: Mapping) -> list[dict]:
    return list(doc.get("record", {}).get("rows") or [])


def _label(name: str) -> str:
    return "original (before)" if name == "original" else name


def _colours(names: Sequence[str]) -> dict[str, str]:
    from ..plots.results import colour_map

    return colour_map(list(names))


def _error_bars(rows: Sequence[Mapping], key: str) -> dict | None:
    stds = [number(r.get(f"{key}_std")) for r in rows]
    if all(s is None for s in stds):
        return None
    return {"type": "data", "array": [s or 0.0 for s in stds], "visible": True}


def accuracy_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Forget / retain / test accuracy per model (± std), retrain's values as dotted lines."""
    ok = [r for r in rows if not r.get("error")]
    names = [_label(r["method"]) for r in ok]
    fig = go.Figure()
    for key, name, colour in _SETS:
        vals = [number(r.get(key)) for r in ok]
        fig.add_bar(
            x=names,
            y=vals,
            name=f"{name} acc",
            marker_color=colour,
            error_y=_error_bars(ok, key),
            text=[f"{v:.1f}" if v is not None else "" for v in vals],
            textposition="outside",
        )
    ref = next((r for r in ok if r.get("method") == REFERENCE), None)
    if ref is not None:
        for key, name, colour in _SETS:
            v = number(ref.get(key))
            if v is not None:
                fig.add_hline(y=v, line_dash="dot", line_color=colour, opacity=0.7)
                fig.add_scatter(  # a legend entry for the line
                    x=[None],
                    y=[None],
                    mode="lines",
                    line={"dash": "dot", "color": colour},
                    name=f"retrain {name} {v:.1f}",
                )
    fig.update_yaxes(title="accuracy (%)", range=[0, 115])
    fig.update_layout(
        title="Accuracy on the forget, retain and test sets (target: retrain's value, dotted)",
        barmode="group",
        height=430,
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
        margin={"l": 60, "r": 20, "t": 80, "b": 60},
    )
    return fig


def gap_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Average gap to retrain per method (± std): lower is closer to retraining."""
    ok = [
        r
        for r in rows
        if not r.get("error")
        and r.get("method") not in ("original", REFERENCE)
        and number(r.get("avg_gap")) is not None
    ]
    orig = next((number(r.get("avg_gap")) for r in rows if r.get("method") == "original"), None)
    before = f"; the original, before unlearning: {orig:.1f}" if orig is not None else ""
    names = [_label(r["method"]) for r in ok]
    colours = _colours([r["method"] for r in ok])
    vals = [number(r.get("avg_gap")) for r in ok]
    fig = go.Figure(
        go.Bar(
            x=names,
            y=vals,
            marker_color=[colours[r["method"]] for r in ok],
            error_y=_error_bars(ok, "avg_gap"),
            text=[f"{v:.2f}" for v in vals],
            textposition="outside",
            showlegend=False,
        )
    )
    fig.update_yaxes(title="average gap (accuracy points)", rangemode="tozero")
    fig.update_layout(
        title=f"Average gap to retrain (lower is better{before})",
        height=360,
        margin={"l": 60, "r": 20, "t": 60, "b": 60},
    )
    return fig


_LOG_TICKS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def time_figure(rows: Sequence[Mapping]) -> go.Figure:
    """Each method's run time as a share of retraining's, on a log axis labelled in percent."""
    ok = [
        r
        for r in rows
        if not r.get("error")
        and r.get("method") not in ("original", REFERENCE)
        and (number(r.get("time_ratio")) or 0) > 0
    ]
    names = [r["method"] for r in ok]
    colours = _colours(names)
    ratios = [number(r["time_ratio"]) for r in ok]
    stds = [number(r.get("time_ratio_std")) for r in ok]
    error = None
    if any(s is not None for s in stds):  # a log axis cannot show a bar reaching below 0
        error = {
            "type": "data",
            "symmetric": False,
            "array": [s or 0.0 for s in stds],
            "arrayminus": [min(s or 0.0, 0.9 * v) for s, v in zip(stds, ratios, strict=True)],
        }
    fig = go.Figure(
        go.Bar(
            x=names,
            y=ratios,
            marker_color=[colours[n] for n in names],
            error_y=error,
            text=[f"{100 * v:.3g}% ({1 / v:.3g}× faster)" for v in ratios],
            textposition="outside",
            showlegend=False,
        )
    )
    lo = min([*ratios, 1.0])
    hi = max([*ratios, 1.0])
    ticks = [t for t in _LOG_TICKS if lo / 3 <= t <= hi * 3] or list(_LOG_TICKS)
    fig.update_yaxes(
        type="log",
        title="time as a share of retraining's",
        tickvals=ticks,
        ticktext=[f"{100 * t:g}%" for t in ticks],
        range=[_log10(lo / 3), _log10(hi * 3)],
    )
    fig.add_hline(
        y=1.0,
        line_dash="dot",
        line_color="#2ca02c",
        annotation_text="retrain = 100%",
        annotation_position="top left",
    )
    fig.update_layout(
        title="Run time against retraining from scratch (log scale)",
        height=380,
        margin={"l": 70, "r": 20, "t": 60, "b": 60},
    )
    return fig


def _log10(v: float) -> float:
    import math

    return math.log10(v)


def figures(rows: Sequence[Mapping]) -> list[go.Figure]:
    """The report's charts, in order (those with nothing to draw are left out)."""
    out = [accuracy_figure(rows)]
    if any(
        number(r.get("avg_gap")) is not None
        for r in rows
        if r.get("method") not in ("original", REFERENCE) and not r.get("error")
    ):
        out.append(gap_figure(rows))
    if any(
        number(r.get("time_ratio"))
        for r in rows
        if r.get("method") not in ("original", REFERENCE) and not r.get("error")
    ):
        out.append(time_figure(rows))
    return out


def _figure_div(fig: go.Figure) -> str:
    height = fig.layout.height or 400
    return pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        config=_CONFIG,
        default_height=f"{height}px",
        default_width="100%",
    )


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().replace("</script", "<\\/script")


def _e(v: object) -> str:
    return html.escape("—" if v is None or v == "" else str(v))


def _results(doc: Mapping) -> list[Mapping]:
    body = doc.get("comparison") or {}
    per = body.get("comparisons")
    results = (per[0].get("results") if per and isinstance(per[0], Mapping) else None) or body.get(
        "results"
    )
    return [r for r in results or [] if isinstance(r, Mapping)]


def _params(doc: Mapping) -> dict[str, dict]:
    return {
        str(r.get("method")): dict(r["params"])
        for r in _results(doc)
        if isinstance(r.get("params"), Mapping)
    }


def _method_labels(doc: Mapping) -> dict[str, str]:
    """Method name -> "name — label" as the run stored it: the label says what a method is
    (a variant, "our extension")."""
    return {
        str(r.get("method")): f"{r.get('method')} — {r['label']}"
        for r in _results(doc)
        if r.get("label") and r.get("label") != r.get("method")
    }


def _kv(params: Mapping) -> str:
    return ", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(params.items())) or "defaults"


def _setup_html(doc: Mapping) -> str:
    rec = doc.get("record") or {}
    setup = doc.get("setup") or {}
    body = doc.get("comparison") or {}
    ds = setup.get("dataset") or {}
    forget = body.get("forget") if isinstance(body.get("forget"), Mapping) else {}
    recipe = setup.get("recipe") or {}
    versions = setup.get("versions") or {}
    classes = ds.get("classes") or []
    items = [
        ("run", f"{rec.get('id', '')} — saved {rec.get('created', '')}"),
        (
            "dataset",
            f"{rec.get('dataset') or ds.get('name')} — {ds.get('n_train', '?')} training / "
            f"{ds.get('n_test', '?')} test samples, input {ds.get('input_shape', '?')}, "
            f"{len(classes)} classes",
        ),
        ("dataset fingerprint", ds.get("fingerprint") or "not recorded"),
        ("model", rec.get("model")),
        (
            "training recipe",
            ", ".join(f"{k} {v}" for k, v in recipe.items()) if recipe else "not recorded",
        ),
        (
            "forget set",
            f"{rec.get('forget')} — {forget.get('n_forget', '?')} samples forgotten, "
            f"{forget.get('n_retain', '?')} retained",
        ),
        ("seeds", ", ".join(str(s) for s in rec.get("seeds") or []) or "—"),
        ("device", rec.get("device")),
        (
            "software",
            ", ".join(f"{k} {v}" for k, v in versions.items()) if versions else "not recorded",
        ),
    ]
    if doc.get("migrated_from") is not None:
        items.append(("record", f"migrated from schema {doc['migrated_from']}"))
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f'<dl class="setup">{dl}</dl>'


def _verdict_html(
    rows: Sequence[Mapping], rule: VerdictRule, labels: Mapping[str, str] | None = None
) -> str:
    vs = verdicts(rows, rule)
    labels = labels or {}
    if not vs:
        body = "<p>No unlearning method to judge in this run.</p>"
    else:
        trs = "".join(
            f'<tr><td class="text">{_e(labels.get(v.method, v.method))}</td>'
            f'<td class="verdict {_VERDICT_CLASS.get(v.code, "ok")}">{_e(v.label)}</td>'
            f"<td>{_e(v.reason)}</td></tr>"
            for v in vs
        )
        body = (
            "<table><thead><tr><th>method</th><th>verdict</th><th>why</th></tr></thead>"
            f"<tbody>{trs}</tbody></table>"
        )
    rules = "".join(f"<li>{_e(s)}</li>" for s in rule.statements())
    return (
        f"{body}<p>How the verdict is reached (accuracy points against the model retrained "
        f"from scratch without the forgotten data):</p><ol>{rules}</ol>"
    )


def _relearn_html(doc: Mapping) -> str:
    """An audit's relearning over its seeds (empty for other records or when not run)."""
    body = doc.get("comparison") or {}
    if not isinstance(body, Mapping) or body.get("kind") != AUDIT_KIND:
        return ""
    try:
        res = AuditResult.from_dict(body)
    except (KeyError, TypeError, ValueError):
        return ""
    if not res.relearn_mode:
        return ""
    what = (
        "a few forget samples plus retain samples"
        if res.relearn_mode == "forget"
        else ("retain samples only")
    )
    trs = "".join(
        f'<tr><td class="text">{_e(x.model)}</td><td class="num">{x.measurable} of {x.seeds}'
        f'</td><td class="num">{_e(x.steps_text())}</td><td class="num">{_e(x.ain_text())}</td>'
        f"<td>{_e(x.reading)}</td></tr>"
        for x in res.relearn_spread()
    )
    return (
        '<section id="relearning"><h2>Relearning</h2>'
        f"<p>Every seed's original, retrain and unlearned models fine-tuned on {_e(what)}. "
        f"Target: {_e(RELEARN_TARGET)}. AIN = steps / retrain's steps on the same seed (1: "
        "like retrain; well below 1: the knowledge is still in the model; &lt;= or &gt;=: a "
        "bound, one side did not reach the target within the budget).</p>"
        "<table><thead><tr><th>model</th><th>seeds measured</th><th>steps to target: median "
        "(range)</th><th>AIN: median (range)</th><th>reading</th></tr></thead>"
        f"<tbody>{trs}</tbody></table></section>"
    )


#: the audit columns of the lens section: the model, then the lenses and the quantisation attack
LENS_COLUMN_KEYS = (
    "method",
    "forget_quality",
    "klom_forget_p95",
    "klom_retain_p95",
    "klom_val_p95",
    "ulira_acc",
    "rmia_auc",
    "forget_acc",
    "quant8_forget_acc",
    "quant4_forget_acc",
)


def _lenses_html(doc: Mapping) -> str:
    """An audit's ensemble lenses (KLoM, U-LiRA, RMIA, quantisation) per model, with KLoM's
    oracle baseline and RMIA's a (empty for other records or when none ran)."""
    body = doc.get("comparison") or {}
    if not isinstance(body, Mapping) or body.get("kind") != AUDIT_KIND:
        return ""
    try:
        res = AuditResult.from_dict(body)
    except (KeyError, TypeError, ValueError):
        return ""
    if not res.lensed:
        return ""
    s = res.summary()
    rows = [s["original"], s["retrain"], *s["results"]]
    by_key = {c.key: c for c in AUDIT_COLUMNS}
    cols = [by_key[k] for k in LENS_COLUMN_KEYS if k in by_key]
    cols = [c for c in cols if not c.optional or any(number(r.get(c.key)) for r in rows)]
    notes = [
        f"K = {res.models_per_side} models per side, each method's models paired with the "
        "retrains by seed. Hover a header for what it measures.",
        "KLoM (Georgiev et al. 2024): per sample, KL(unlearned ‖ retrained) of 20-bin margin "
        "histograms, in nats (0 = like retrain, at most 11.51); the row shows the 95th "
        "percentile over each split.",
    ]
    if s.get("klom_baseline_forget_p95") is not None:
        h = s["klom_baseline_models_per_half"]
        notes.append(
            f"Oracle baseline (retrains {h} against {h}): forget P95 "
            f"{s['klom_baseline_forget_p95']:.2f}; a method at or below it looks like retraining."
        )
    if "ulira" in res.metrics:
        notes.append(
            "U-LiRA (Hayes et al. 2024): balanced accuracy of a per-sample likelihood-ratio "
            "test, leave one pair out (50 % = indistinguishable from retraining)."
        )
    if res.rmia_a is not None:
        notes.append(
            f"RMIA (Zarifzadeh et al. 2024), retrains as references, offline a = "
            f"{res.rmia_a:g}, gamma = 1: AUC of the method's models against retrained ones "
            "on the forget samples (0.5 = indistinguishable)."
        )
    if "quantize" in res.attacks:
        notes.append(
            "Quantisation (Zhang et al. 2024): forget accuracy after rounding every weight to "
            "int8 and 4-bit (RTN, per output channel); a method whose forgetting comes back "
            "above retrain's was a rounding step from the original."
        )
    notes.append(
        "The retrain row: KLoM, U-LiRA and RMIA of the retrains' first half against their "
        "second half — what retraining scores against itself."
    )
    return (
        '<section id="lenses"><h2>Ensemble lenses</h2>'
        + "".join(f"<p>{_e(n)}</p>" for n in notes)
        + html_table(rows, cols)
        + "</section>"
    )


def render_html(doc: Mapping, rule: VerdictRule | None = None) -> str:
    """The report of a comparison record document (:meth:`RunStore.read_comparison`)."""
    body = doc.get("comparison")
    if isinstance(body, Mapping) and body.get("kind") == "inversion":  # a stored attack
        from ..inversion.report import inversion_html

        return inversion_html(doc, _CSS)
    rule = rule or VerdictRule()
    rec = doc.get("record") or {}
    rows = _rows(doc)
    title = f"Unlearning report — {rec.get('dataset', '?')} / {rec.get('model', '?')}"
    sub = f"forget {rec.get('forget', '?')} · run {rec.get('id', '?')} · {rec.get('created', '')}"
    seeds = rec.get("seeds") or []
    spread = (
        f"Numbers are the mean ± standard deviation over {len(seeds)} seeds."
        if len(seeds) > 1
        else "One seed: no spread to show."
    )
    note = rec.get("note")
    params = _params(doc)
    labels = _method_labels(doc)
    params_rows = "".join(
        f"<tr><td>{_e(labels.get(m, m))}</td><td><code>{_e(_kv(p))}</code></td></tr>"
        for m, p in params.items()
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{_CSS}</style>",
        f'<script type="text/javascript">{_plotly_js()}</script>',
        "</head><body>",
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(sub)}</p></header>',
        f'<p class="note">{_e(note)}</p>' if note else "",
        '<section id="verdict"><h2>Verdict against retraining</h2>',
        _verdict_html(rows, rule, labels),
        "</section>",
        '<section id="setup"><h2>Setup</h2>',
        _setup_html(doc),
        "</section>",
        '<section id="metrics"><h2>Metrics</h2>',
        f"<p>Accuracies and MIA in percent. {_e(spread)} The target for every number is "
        "retrain's value, not the highest bar: a method that forgets more than retraining "
        "is as visible to an attacker as one that forgets less.</p>",
        html_table(rows),
        "</section>",
        '<section id="charts"><h2>Charts</h2>',
        *(f'<div class="chart">{_figure_div(f)}</div>' for f in figures(rows)),
        "</section>",
        _lenses_html(doc),
        _relearn_html(doc),
        '<section id="params"><h2>Method parameters</h2>'
        + (
            f"<table><thead><tr><th>method</th><th>parameters</th></tr></thead>"
            f"<tbody>{params_rows}</tbody></table>"
            if params_rows
            else "<p>Not recorded.</p>"
        )
        + "</section>",
        "<footer>Made by unlearning-lab. This file is self-contained: it loads nothing from "
        "the network.</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
