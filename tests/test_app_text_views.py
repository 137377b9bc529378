"""The text track's Attack page, Audit page and Compare's hidden-state view through the app
(issue 22, item 6): membership ROC curves and AUCs per attack for the original, an unlearned
model and retrain (the same AUCs as the comparison's rows); the audit's reason for not running
on text and its per-question lens; the hidden states in the shared embedding view, PCA at
once and aligned UMAP once its job is done."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figure_checks import plotly_array  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402
from test_app_setup import (  # noqa: E402
    APP,
    fresh,  # noqa: F401 - the autouse fixture: private caches and registries
    no_exception,
    texts,
)

from app_ui import registries  # noqa: E402
from unlearn_core.experiment import compare  # noqa: E402
from unlearn_core.text import TEXT_RECIPE, TextForgetRequest, facts_dataset  # noqa: E402
from unlearn_core.text.membership import membership_scores, question_lens  # noqa: E402
from unlearn_core.text_app import train_text  # noqa: E402
from unlearn_core.training import TrainConfig  # noqa: E402

TINY = {"n_people": 20, "facts_per_person": 5, "n_world": 20, "n_heldout": 5}
RECIPE = TrainConfig(**{**TEXT_RECIPE.to_dict(), "epochs": 40, "batch_size": 32})
CID = "t-text"


@pytest.fixture(scope="module")
def text_comp():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    data = facts_dataset(**TINY)
    model, _ = train_text(data, RECIPE, seed=0, device="cpu")
    comp = compare(
        data, model, RECIPE, TextForgetRequest(people=(0, 3)), ["npo"], seed=0, device="cpu"
    )
    torch.set_num_threads(before)
    assert all(r.ok for r in comp.results), [r.error for r in comp.results]
    return data, model, comp


def _app(
    text_comp, page: str | None, *, with_comparison: bool = True, tab: str | None = None
) -> AppTest:
    data, model, comp = text_comp
    registries.comparison_registry()[CID] = comp
    registries.model_registry()[f"model-{CID}"] = registries.ModelEntry(
        model=model, recipe=RECIPE, test_acc=0.0, source="test"
    )
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["dataset"] = {"name": "facts", "params": dict(TINY)}
    at.session_state["arch"] = "tinylm"
    at.session_state["recipe"] = RECIPE.to_dict()
    at.run()
    at.session_state["model_key"] = f"model-{CID}"
    at.session_state["forget"] = TextForgetRequest(people=(0, 3)).to_dict()
    if with_comparison:
        at.session_state["comparison_id"] = CID
    if tab:  # the text Compare page computes only its open tab
        at.session_state["tx_tab"] = tab
    if page:
        at.switch_page(page).run()
        no_exception(at)
    return at


def _charts(at: AppTest) -> dict:
    return {c.key: pio.from_json(c.proto.spec) for c in at.get("plotly_chart")}


def test_attack_page_draws_each_attacks_roc_for_original_method_and_retrain(text_comp):
    _, _, comp = text_comp
    at = _app(text_comp, "pages/attack.py")
    assert "For text" not in texts(at.info)  # the attacks run, no "not yet" note
    shown = {m.label: m.value for m in at.metric}
    assert set(shown) == {"original: AUC", "NPO: AUC", "retrain: AUC"}
    for label, name in (("original", "original"), ("NPO", "npo"), ("retrain", "retrain")):
        got = comp.original if name == "original" else comp.get(name)
        assert float(shown[f"{label}: AUC"]) == pytest.approx(got.metrics["loss_auc"], abs=5e-4)
    assert float(shown["original: AUC"]) > 0.8  # the original still knows its forget rows
    fig = _charts(at)["tx_attack_roc"]
    curves = [t for t in fig.data if t.name != "chance"]
    assert [t.name.split(":")[0] for t in curves] == ["original", "NPO", "retrain"]
    assert "LOSS" in fig.layout.title.text
    assert [t.line.color for t in curves][2] == "#222222"  # retrain's colour, as on every chart
    table = next(t.value for t in at.table if "Min-K%++ AUC" in t.value.columns)
    assert list(table["model"]) == ["original", "retrain", "NPO"]
    npo = table[table["model"] == "NPO"].iloc[0]
    assert float(npo["Min-K% AUC"]) == pytest.approx(comp.get("npo").metrics["mia_mink_auc"], 1e-3)
    assert table[table["model"] == "retrain"].iloc[0]["PrivLeak, LOSS (%)"] == "—"

    # another attack: Min-K%++ (its AUCs are the comparison's too)
    at.radio(key="tx_attack_score").set_value("min_k_pp").run()
    no_exception(at)
    shown = {m.label: m.value for m in at.metric}
    assert float(shown["NPO: AUC"]) == pytest.approx(
        comp.get("npo").metrics["mia_minkpp_auc"], abs=5e-4
    )
    assert "Min-K%++" in _charts(at)["tx_attack_roc"].layout.title.text
    worst = next(t.value for t in at.table if "question" in t.value.columns)
    assert len(worst) == 8 and {"original", "NPO", "retrain"} <= set(worst.columns)
    scores = worst["NPO"].astype(float).tolist()
    assert scores == sorted(scores, reverse=True)  # most member-like first


def test_audit_page_offers_the_text_audit_and_shows_the_question_lens(text_comp):
    data, _, comp = text_comp
    bare = _app(text_comp, "pages/audit.py", with_comparison=False)
    assert "Estimated time" in texts(bare.caption)  # the many-model audit, offered
    assert "run the language methods on the Unlearn page first" in texts(bare.info)

    at = _app(text_comp, "pages/audit.py")
    assert "from the measured cost of one tinylm" in texts(at.caption)
    shown = {m.label: m.value for m in at.metric}
    split = data.make_split(TextForgetRequest(people=(0, 3)))
    models = comp.models()
    got = {n: membership_scores(models[n], data, split) for n in ("original", "npo", "retrain")}
    lens = question_lens(got, "npo", split.forget_idx.tolist())
    assert shown["Closer to retrain"] == f"{lens.shares()['forgotten']:.0%}"
    fig = _charts(at)["tx_audit_lens"]
    assert int(plotly_array(fig.data[0].y).sum()) == int(np.sum(~np.isnan(lens.position)))
    table = next(t.value for t in at.table if "position" in t.value.columns)
    pos = table["position"].astype(float).tolist()
    assert pos == sorted(pos, reverse=True) and len(table) == min(8, split.n_forget)


def test_compare_hidden_states_in_the_aligned_embedding_view(text_comp):
    data, _, comp = text_comp
    at = _app(text_comp, "pages/compare.py", tab="Hidden states")
    fig = _charts(at)["tx_states"]
    assert "PCA" in fig.layout.title.text
    titles = [a.text for a in fig.layout.annotations][:3]
    assert titles == ["original", "npo", "retrain"]
    forget = [t for t in fig.data if t.name == "forget samples"]
    assert len(forget) == 3 and all(
        len(plotly_array(t.x)) == 10 for t in forget
    )  # two people's 5 facts
    split = data.make_split(TextForgetRequest(people=(0, 3)))
    asked = {data.qa_train[i].question for i in split.forget_idx.tolist()}
    assert set(forget[0].text) == asked  # a point's hover names its question
    kinds = {t.name for t in fig.data} - {"forget samples"}
    assert kinds <= {q.fact for q in data.qa_train} and len(kinds) >= 3  # coloured by fact
    assert "tx_moved" in _charts(at)
    job = registries.job_registry()[at.session_state["jobs"]["umap"]]
    assert job.wait(120), "UMAP job did not finish"
    assert job.state == "done", job.error
    at.run()
    no_exception(at)
    fig = _charts(at)["tx_states"]
    assert "aligned UMAP" in fig.layout.title.text
    xy = np.concatenate(
        [plotly_array(t.x).astype(float) for t in fig.data if t.name == "forget samples"]
    )
    assert np.isfinite(xy).all()
    moved = next(t.value for t in at.table if "forget: mean shift" in t.value.columns)
    assert list(moved["model"]) == ["npo", "retrain"]
    assert (moved["forget samples"] == "10").all()


def test_without_retrain_the_attack_reads_alone_and_the_lens_says_what_it_needs(text_comp):
    from dataclasses import replace

    data, model, comp = text_comp
    alone = replace(comp, results=[r for r in comp.results if r.method != "retrain"])
    at = _app((data, model, alone), "pages/attack.py")
    assert {m.label for m in at.metric} == {"original: AUC", "NPO: AUC"}
    assert "No retrained reference" in texts(at.warning)
    table = next(t.value for t in at.table if "Min-K%++ AUC" in t.value.columns)
    assert list(table["model"]) == ["original", "NPO"]
    assert (table["PrivLeak, LOSS (%)"] == "—").all()  # nothing to leak against
    at.switch_page("pages/audit.py").run()
    no_exception(at)
    assert "needs the original, an unlearned model and retrain" in texts(at.info)
    assert "tx_audit_lens" not in _charts(at)
