"""The Learn page's "Verification is fragile" figures, drawn from the real audit that
``benchmarks/learn_story.py`` ran and wrote to ``assets/verification_story.json``."""

from __future__ import annotations

import json
from pathlib import Path

import streamlit as st

from app_ui.common import chart
from app_ui.state import LEARN
from unlearn_core.audit.relearn import RelearnCurve
from unlearn_core.plots import audit as P

STORY = Path(__file__).resolve().parent.parent / "assets" / "verification_story.json"
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
