"""The Learn page's "Verification is fragile" figures, drawn from the real audit that
``benchmarks/learn_story.py`` ran and wrote to ``assets/verification_story.json``, and which
ensemble lens catches the demonstration at K = 32: the committed figures of
``benchmarks/results/audit_lenses.md`` (``benchmarks/audit_lenses.py``: the CLI audit with
every lens), read when the file changes, never computed on page load."""

from __future__ import annotations

import json
import re
from pathlib import Path

import streamlit as st

from app_ui.audit_lenses_view import lens_figure
from app_ui.common import chart
from app_ui.state import AL, LEARN
from app_ui.tables import Column, show_table
from unlearn_core.audit import drilldown as D
from unlearn_core.audit.relearn import RelearnCurve
from unlearn_core.plots import audit as P

ROOT = Path(__file__).resolve().parent.parent
STORY = ROOT / "assets" / "verification_story.json"
#: the committed audit with every lens (digits + MLP, class 3, K = 32, the demonstration)
LENS_RESULTS = ROOT / "benchmarks" / "results" / "audit_lenses.md"
#: the lens table's headers (``benchmarks/audit_lenses.py``) -> row keys
LENS_HEADERS = {
    "model": "method",
    "ε-score": "forget_quality",
    "KLoM forget P95 (median)": "klom_forget_p95",
    "KLoM retain P95": "klom_retain_p95",
    "KLoM val P95": "klom_val_p95",
    "U-LiRA %": "ulira_acc",
    "RMIA AUC": "rmia_auc",
    "forget acc %": "forget_acc",
    "int8": "quant8_forget_acc",
    "4-bit": "quant4_forget_acc",
}
#: the checks the lens story lists, in order (``drilldown.told_apart``'s keys)
STORY_LENSES = ("forget_acc", "mia", "quantize", "eps", "klom", "ulira", "rmia")
#: how each model is named on the figures
NAMES = {"logit_suppression": "demonstration", "salun": "SalUn"}


def load_story(path: Path = STORY) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _f(v, spec: str = ".1f") -> str:
    return "—" if v is None else format(v, spec)


def story_sentence(doc: dict) -> str:
    """The run's numbers in words (generated, not typed)."""
    rows = {r["method"]: r for r in doc["rows"]}
    demo, ret = rows.get("logit_suppression", {}), rows.get("retrain", {})
    budget = doc.get("relearn_budget")

    def steps(r: dict) -> str:
        s = r.get("relearn_steps")  # the median over the audit's seeds
        return f"not within {budget} steps" if s is None else f"after {s:g} step(s)"

    sal = rows.get("salun", {})
    return (
        f"In this run the demonstration's forget accuracy is {_f(demo.get('forget_acc'))}% and "
        f"its MIA efficacy {_f(demo.get('mia'))}% (retrain: {_f(ret.get('forget_acc'))}% and "
        f"{_f(ret.get('mia'))}%); its worst-case privacy score is "
        f"{_f(demo.get('privacy_score'), '.2f')} (SalUn: {_f(sal.get('privacy_score'), '.2f')}). "
        f"Yet it recovered {steps(demo)} of relearning (median over the seeds), against "
        f"retrain's {steps(ret)} and SalUn's {steps(sal)}; its forget quality is {_f(demo.get('forget_quality'), '.2f')} "
        f"(SalUn: {_f(sal.get('forget_quality'), '.2f')}, K = {doc['models_per_side']}), and it "
        f"changed {_f(demo.get('params_changed'), '.3g')}% of the parameters (retrain: "
        f"{_f(ret.get('params_changed'), '.3g')}%, SalUn: {_f(sal.get('params_changed'), '.3g')}%)."
    )


@st.cache_resource(max_entries=2, show_spinner=False)
def _story_figures(path: str, mtime: float):
    """The story's two figures, built once per file version on this server (plotly's
    figure building is most of the Learn page's server time)."""
    doc = load_story(Path(path))
    if doc is None:
        return None, None, None
    checks = P.verification_checks(doc["rows"], budget=doc.get("relearn_budget"), labels=NAMES)
    target = doc.get("relearn_target") or 0.0
    curves = [
        RelearnCurve(
            model=name, mode=doc["relearn_mode"], steps=c["steps"],
            forget_acc=c["forget_acc"], target=target, steps_to_recover=None,
        )
        for name, c in doc["curves"].items()
    ]  # fmt: skip
    recovery = P.recovery_curves(curves, title="Forget accuracy while relearning", labels=NAMES)
    return doc, checks, recovery


def verification_story() -> None:
    try:
        mtime = STORY.stat().st_mtime
    except OSError:
        mtime = -1.0
    doc, checks, recovery = _story_figures(str(STORY), mtime)
    if doc is None:
        st.info("The story's figures appear once benchmarks/learn_story.py has been run.")
        return
    st.caption(
        f"A real run ({doc['date']}): {doc['dataset']} + {doc['model']}, forget "
        f"{doc['forget']}, K = {doc['models_per_side']} models per side, relearning on "
        f"{doc['relearn_mode']} samples ({doc['seconds']:.0f} s, benchmarks/learn_story.py)."
    )
    chart(checks, LEARN.CHECKS)
    st.caption(
        "How to read it: on the first row (the cheap checks) the demonstration looks like "
        "retrain; on the second it does not (a steps bar at budget + 1 did not recover within "
        "the budget). " + story_sentence(doc)
    )
    chart(recovery, LEARN.CURVES)
    lens_verdicts()


def _cell(text: str) -> float | None:
    """The first number of a cell ("10.72 (10.23)", "0.0 ± 0.0"), None for "—"."""
    m = re.match(r"\s*(-?\d+(?:\.\d+)?)", text)
    return float(m.group(1)) if m else None


def parse_lens_results(text: str) -> dict | None:
    """The lens table of ``audit_lenses.md`` as rows (keys of :data:`LENS_HEADERS`), with the
    models per side (``models``); None when the file has no such table."""
    lines = [ln.strip() for ln in text.splitlines()]
    head = next((i for i, ln in enumerate(lines) if ln.startswith("| model | ε-score")), None)
    k = re.search(r"--models (\d+)", text)
    if head is None or k is None:
        return None
    headers = [h.strip() for h in lines[head].strip("|").split("|")]
    rows = []
    for ln in lines[head + 2 :]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        row = {}
        for h, c in zip(headers, cells, strict=False):
            key = LENS_HEADERS.get(h)
            if key is not None:
                row[key] = c if key == "method" else _cell(c)
        if row.get("method"):
            rows.append(row)
    return {"models": int(k.group(1)), "rows": rows}


def lens_story(lenses: dict, story: dict | None) -> dict | None:
    """Which checks tell the demonstration from retraining in the committed lens audit (MIA
    from the story's own audit, which has it: the same data, forget set and presets).
    Returns the demonstration's and retrain's rows and ``verdict`` per check."""
    rows = {r["method"]: dict(r) for r in lenses["rows"]}
    demo, ret = rows.get("logit_suppression"), rows.get("retrain")
    if demo is None or ret is None:
        return None
    for r in (demo, ret):
        r["quant_full"] = r.get("forget_acc")
    mia = {r["method"]: r.get("mia") for r in (story or {}).get("rows", [])}
    demo.setdefault("mia", mia.get("logit_suppression"))
    ret.setdefault("mia", mia.get("retrain"))
    verdict = D.told_apart(demo, ret)
    return {"models": lenses["models"], "demo": demo, "retrain": ret, "verdict": verdict}


def _shown(key: str, row: dict) -> str:
    spec = {"forget_quality": ".3f", "rmia_auc": ".3f"}.get(key, ".1f")
    v = row.get(key)
    return "—" if v is None else format(v, spec)


#: per check: the row key shown for it
STORY_VALUES = {
    "forget_acc": "forget_acc", "mia": "mia", "quantize": "quant4_forget_acc",
    "eps": "forget_quality", "klom": "klom_forget_p95", "ulira": "ulira_acc",
    "rmia": "rmia_auc",
}  # fmt: skip


#: what the value column holds per check
STORY_UNITS = {
    "forget_acc": "%", "mia": "%", "quantize": "forget acc at 4 bits, %", "eps": "0-1",
    "klom": "forget P95, nats", "ulira": "%", "rmia": "AUC",
}  # fmt: skip


def _and(names: list[str]) -> str:
    return " and ".join([", ".join(names[:-1]), names[-1]]) if len(names) > 1 else "".join(names)


def lens_story_rows(told: dict) -> list[dict]:
    out = []
    for key in STORY_LENSES:
        v = told["verdict"].get(key)
        value = STORY_VALUES[key]
        out.append(
            {
                "check": f"{D.LENSES[key][0]} ({STORY_UNITS[key]})",
                "demo": _shown(value, told["demo"]),
                "retrain": "—" if key == "eps" else _shown(value, told["retrain"]),
                "verdict": "not computed" if v is None else ("caught" if v else "missed"),
            }
        )
    return out


def lens_sentence(told: dict) -> str:
    names = {True: [], False: []}
    for key in STORY_LENSES:
        v = told["verdict"].get(key)
        if v is not None:
            names[v].append(D.LENSES[key][0])
    return (
        f"At K = {told['models']} models per side, {_and(names[False]) or 'no check'} "
        f"{'miss' if len(names[False]) != 1 else 'misses'} the demonstration: it reads like "
        f"retraining there. {_and(names[True]) or 'No lens'} "
        f"{'catch' if len(names[True]) != 1 else 'catches'} it: its forget samples' margins "
        "still sit where the original's are, not where retrained models put them."
    )


@st.cache_data(max_entries=2, show_spinner=False)
def _lens_told(path: str, mtime: float, story_mtime: float) -> dict | None:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
    lenses = parse_lens_results(text)
    return lens_story(lenses, load_story()) if lenses else None


def lens_verdicts() -> None:
    """Which lens catches the demonstration that population MIA misses (committed figures)."""
    try:
        mtime, story_mtime = LENS_RESULTS.stat().st_mtime, STORY.stat().st_mtime
    except OSError:
        mtime = story_mtime = -1.0
    told = _lens_told(str(LENS_RESULTS), mtime, story_mtime)
    st.markdown("#### Which lens catches it?")
    if told is None:
        st.info("These figures appear once benchmarks/audit_lenses.py --write has been run.")
        return
    k = told["models"]
    st.caption(
        f"The committed audit with every lens (benchmarks/results/audit_lenses.md: digits + "
        f"MLP, class 3, K = {k} models per side; MIA from the run above). The retrain column "
        f"is retraining compared with itself ({k // 2} retrained models against the other "
        f"{k // 2}), what each lens reads when there is nothing to find."
    )
    show_table(
        lens_story_rows(told),
        (
            Column("check", "check", text=True),
            Column("demo", "demonstration", text=True),
            Column("retrain", "retrain vs itself", text=True),
            Column("verdict", "tells it from retraining?", text=True),
        ),
        notes=False,
    )
    st.caption(lens_sentence(told) + f" Rule of thumb: {D.RULES}.")
    rows = [
        {**told["demo"], "label": NAMES["logit_suppression"]},
        {**told["retrain"], "label": "retrain"},
    ]
    fig = lens_figure(rows)
    if fig is not None:
        chart(fig, AL.LEARN)
        st.caption(
            "How to read it: the bars are the demonstration's reading of each lens, the dotted "
            "line retraining's own; a bar far past its line is a lens that catches it."
        )
