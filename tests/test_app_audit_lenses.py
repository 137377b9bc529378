"""The Audit page's ensemble lenses and per-sample drill-down (issue 19 part 6), and the Learn
page's "which lens catches it" story.

Known-answer tests of :mod:`unlearn_core.audit.drilldown` on hand-made margins and records, then
one tiny audit through the page (digits + a briefly trained MLP, class 3, the demonstration and
fine-tuning, K = 4, every lens): the lenses table against the stored record, the chart, the
quantisation table, the drill-down's histograms and numbers for two samples and both methods.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the app imports ``app_ui`` from its own folder
    sys.path.insert(0, str(ROOT))

from figure_checks import plotly_array  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from unlearn_core.audit import drilldown as D  # noqa: E402
from unlearn_core.audit.klom import EPS, klom, klom_baseline, klom_scores  # noqa: E402
from unlearn_core.audit.records import (  # noqa: E402
    AuditResult,
    ForgetQuality,
    Lenses,
    MethodAudit,
)
from unlearn_core.audit.rmia import probability_from_margins, rmia  # noqa: E402
from unlearn_core.audit.ulira import ulira  # noqa: E402
from unlearn_core.forget import ForgetRequest  # noqa: E402
from unlearn_core.store import RunStore  # noqa: E402
from unlearn_core.training import TrainConfig  # noqa: E402

APP = str(ROOT / "app.py")
CFG = TrainConfig(epochs=15, batch_size=64)
KEY = "model-audit-lenses-test"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# ------------------------------------------------------------------ known answers
def test_margin_histograms_on_klom_grid_and_their_kl():
    edges, u, r = D.margin_histograms([0.0, 0.0, 1.0], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(edges, np.linspace(0.0, 1.0, 21))
    assert u[0] == 2 and u[-1] == 1 and u.sum() == 3  # the top edge counts in the last bin
    assert r[-1] == 3 and r.sum() == 3
    # KL(p || q) by hand: p = (2/3 in bin 0, 1/3 in bin 19), q = (0, .., 1 in bin 19)
    by_hand = 2 / 3 * math.log((2 / 3) / EPS) + 1 / 3 * math.log(1 / 3)
    got = klom_scores(np.array([[0.0], [0.0], [1.0]]), np.array([[1.0], [1.0], [1.0]]))[0]
    assert got == pytest.approx(by_hand)
    # all equal: one unit wide, every margin in the first bin; clipped at +-100
    edges, u, r = D.margin_histograms([5.0, 5.0], [5.0])
    assert edges[0] == 5.0 and edges[-1] == 6.0 and u[0] == 2 and r[0] == 1
    edges, _, _ = D.margin_histograms([500.0], [-3.0])
    assert edges[-1] == 100.0 and edges[0] == -3.0
    with pytest.raises(ValueError):
        D.margin_histograms([], [1.0])


RETRAIN = {
    "forget_acc": 0.0, "mia": 100.0, "klom_forget_p95": 5.0, "ulira_acc": 40.0,
    "rmia_auc": 0.45, "quant_full": 0.0, "quant8_forget_acc": 0.0, "quant4_forget_acc": 0.0,
}  # fmt: skip


def test_told_apart_rules():
    demo = {
        "forget_acc": 0.0, "mia": 95.0, "forget_quality": 0.001, "klom_forget_p95": 10.0,
        "ulira_acc": 99.0, "rmia_auc": 0.79, "quant_full": 0.0, "quant8_forget_acc": 2.0,
        "quant4_forget_acc": 30.0,
    }  # fmt: skip
    assert D.told_apart(demo, RETRAIN) == {
        "forget_acc": False, "mia": False, "eps": True, "klom": True, "ulira": True,
        "rmia": True, "quantize": True,
    }  # fmt: skip
    close = {
        "forget_acc": 11.0, "mia": 89.0, "forget_quality": 0.5, "klom_forget_p95": 6.0,
        "klom_matched_p95": 5.9, "ulira_acc": 60.0, "rmia_auc": 0.4, "quant_full": 11.0,
        "quant8_forget_acc": 11.0, "quant4_forget_acc": 21.0,
    }  # fmt: skip
    # at each rule's edge: forget acc and MIA 11 points off (told apart), forget quality at the
    # floor, KLoM at the baseline's size (5.9) within 1 nat, U-LiRA exactly 10 above 50, RMIA
    # 0.1 from 0.5 (retrain's own 0.05 + 0.1 is 0.15), quantisation brings back exactly 10
    assert D.told_apart(close, RETRAIN) == {
        "forget_acc": True, "mia": True, "eps": False, "klom": False, "ulira": False,
        "rmia": False, "quantize": False,
    }  # fmt: skip
    # RMIA far below 0.5 separates too; nothing computed -> None
    assert D.told_apart({"rmia_auc": 0.28}, RETRAIN)["rmia"] is True
    assert set(D.told_apart({}, RETRAIN).values()) == {None}


def test_klom_resolves_only_below_its_ceiling():
    assert D.klom_resolves(5.79) and D.klom_resolves(None)
    assert not D.klom_resolves(10.82)  # K = 4: retraining against itself near 11.51
    assert D.klom_resolves(11.51 - D.KLOM_MARGIN - 0.01)


def test_lens_arguments():
    assert D.lens_arguments(["quantize", "klom"]) == (["eps", "klom"], ["quantize"])
    assert D.lens_arguments([]) == (["eps"], [])
    assert D.lens_arguments(list(D.DEFAULT_LENSES))[0] == ["eps", "klom", "ulira", "rmia"]
    with pytest.raises(ValueError, match="unknown lens"):
        D.lens_arguments(["relearn"])


def _synthetic() -> tuple[AuditResult, np.ndarray, np.ndarray]:
    """An audit record with hand-made margins: forget samples 10, 20, 30; the method's models
    on seeds 0 and 2 (seed 1 failed), the retrains on seeds 0, 1, 2, 3."""
    rng = np.random.default_rng(0)
    ret = rng.normal(-4.0, 1.0, size=(4, 3))
    mine = rng.normal(-4.0, 1.0, size=(2, 3))
    mine[:, 1] += 12.0  # sample 20: the method's margins far from retraining's
    paired = ret[[0, 2]]
    lenses = Lenses(
        seeds=[0, 2],
        klom=klom({"forget": mine}, {"forget": paired}),
        ulira=ulira(mine, paired),
        rmia=rmia(
            probability_from_margins(mine),
            probability_from_margins(paired),
            probability_from_margins(mine),
            probability_from_margins(paired),
        ),  # fmt: skip
        forget_margins=mine.tolist(),
    )
    halves = Lenses(seeds=[0, 1, 2, 3], klom=klom({"forget": ret[:2]}, {"forget": ret[2:]}),
                    forget_margins=ret.tolist(), halves=True)  # fmt: skip
    method = MethodAudit(
        method="m", label="M", family="approximate", lenses=lenses,
        quality=ForgetQuality(epsilons=[0.1, 1.5, 0.2], score=0.3, models=2, delta=1e-5,
                              max_finite_epsilon=1.0, score_top=1.0),
    )  # fmt: skip
    res = AuditResult(
        dataset="d", model="mlp", forget={}, seeds=[0, 1, 2, 3], train_config={},
        forget_ids=[10, 20, 30], forget_labels=[3, 3, 3], methods=[method],
        metrics=["eps", "klom", "ulira", "rmia"], retrain_lenses=halves,
        klom_baseline=klom_baseline({"forget": ret}),
    )  # fmt: skip
    return res, mine, paired


def test_drill_pairs_by_seed_and_reads_every_lens():
    res, mine, paired = _synthetic()
    d = D.drill(res, "m", 20)
    assert d.position == 1 and d.label == 3 and d.seeds == [0, 2]
    np.testing.assert_allclose(d.unlearned, mine[:, 1])
    np.testing.assert_allclose(d.retrained, paired[:, 1])  # retrains 0 and 2, not 0 and 1
    assert d.klom == pytest.approx(res.methods[0].lenses.klom.forget_scores[1])
    assert d.klom_recomputed == pytest.approx(d.klom)  # the margins were not rounded here
    assert d.klom_oracle == pytest.approx(res.retrain_lenses.klom.forget_scores[1])
    assert d.epsilon == 1.5 and d.epsilon_beyond
    u = res.methods[0].lenses.ulira
    assert (d.ulira_acc, d.llr_unlearned) == (u.per_sample[1], u.llr_unlearned[1])
    assert d.rmia_auc == res.methods[0].lenses.rmia.per_sample_auc[1]
    assert d.unlearned_counts.sum() == 2 and d.retrained_counts.sum() == 2
    # the sample whose margins moved the most is first
    assert D.sample_order(res, "m")[0] == 20
    with pytest.raises(ValueError, match="not one of this audit's forget samples"):
        D.drill(res, "m", 11)
    res.methods[0].lenses.forget_margins = []
    assert not D.has_drilldown(res, "m")
    with pytest.raises(ValueError, match="no forget margins"):
        D.drill(res, "m", 20)


def test_lens_rows_retrain_is_the_baseline():
    res, _, _ = _synthetic()
    rows = {r["method"]: r for r in D.lens_rows(res)}
    assert rows["retrain"]["klom_forget_p95"] == pytest.approx(res.klom_baseline.p95("forget"))
    assert "klom_matched_p95" not in rows["retrain"]
    assert rows["m"]["forget_quality"] == 0.3
    assert rows["retrain"]["told_apart"] == ""


def test_learn_story_parses_a_lens_table():
    from app_ui import learn_story as L

    text = (
        "run with `--models 8 --metrics ...`\n\n"
        "| model | ε-score | KLoM forget P95 (median) | KLoM retain P95 | KLoM val P95 "
        "| U-LiRA % | RMIA AUC | forget acc % | int8 | 4-bit |\n|---|--:|\n"
        "| retrain | — | 5.00 (3.00) | 5.9 | 5.9 | 40.0 | 0.450 | 0.0 | 0.0 ± 0.0 | 0.0 ± 0.0 |\n"
        "| logit_suppression | 0.001 | 5.50 (5.0) | 9.3 | 10.2 | 99.6 | 0.789 | 0.0 | 0.0 ± 0.0 "
        "| 50.0 ± 1.0 |\n\nafter\n"
    )
    parsed = L.parse_lens_results(text)
    assert parsed["models"] == 8 and [r["method"] for r in parsed["rows"]] == [
        "retrain", "logit_suppression",
    ]  # fmt: skip
    demo = parsed["rows"][1]
    assert demo["klom_forget_p95"] == 5.5 and demo["quant4_forget_acc"] == 50.0
    assert parsed["rows"][0]["forget_quality"] is None
    story = {"rows": [{"method": "retrain", "mia": 100.0}, {"method": "logit_suppression",
                                                            "mia": 100.0}]}  # fmt: skip
    told = L.lens_story(parsed, story)
    assert told["verdict"]["mia"] is False and told["verdict"]["klom"] is False  # 0.5 nat
    assert told["verdict"]["ulira"] is True and told["verdict"]["quantize"] is True
    assert "population MIA" in L.lens_sentence(told).split("miss")[0]
    assert L.parse_lens_results("no table") is None


# ------------------------------------------------------------------ the page
def _cells(at: AppTest, table):
    from streamlit import dataframe_util

    return dataframe_util.convert_arrow_bytes_to_pandas_df(
        table.proto.arrow_data.styler.display_values
    )


def _table(at: AppTest, column: str):
    return next(t for t in (_cells(at, t) for t in at.table) if column in t.columns)


def _charts(at: AppTest) -> dict:
    return {c.key: pio.from_json(c.proto.spec) for c in at.get("plotly_chart")}


#: the session state an audit on the page reads: the test's model and forget set
SETUP_KEYS = ("dataset", "arch", "recipe", "train_seed", "model_key", "forget")


def _audit(setup: dict, methods: list[str], lenses: list[str] | None = None):
    """A new session with ``setup``, an audit of ``methods`` (K = 4, one worker; ``lenses``:
    None keeps the page's default) run through the Audit page: (AppTest after it, record)."""
    import app_ui.registries as R

    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    for k, v in setup.items():
        at.session_state[k] = v
    at.switch_page("pages/audit.py").run()
    assert not at.exception, at.exception
    if lenses is None:
        assert at.multiselect(key="al_lenses").value == list(D.DEFAULT_LENSES)
    else:
        at.multiselect(key="al_lenses").set_value(lenses)
    at.multiselect(key="au_methods").set_value(methods)
    at.number_input(key="au_k").set_value(4)
    at.number_input(key="au_workers").set_value(1)
    at.run()
    at.button(key="au_run").click().run()
    job = R.job_registry()[at.session_state["jobs"]["audit"]]
    assert job.wait(150), "the audit did not finish"
    assert job.state == "done", (job.state, job.error, job.traceback)
    at.run()
    assert not at.exception, at.exception
    return at, AuditResult.from_dict(RunStore().read_comparison(job.result)["comparison"])


@pytest.fixture(scope="module")
def lensed(digits_mlp):
    """One audit with every lens run through the page: (AppTest after the run, the record)."""
    import app_ui.registries as R

    R.model_registry()[KEY] = R.ModelEntry(
        model=digits_mlp, recipe=CFG, test_acc=0.0, source="test"
    )
    setup = {
        "dataset": {"name": "digits", "params": {}}, "arch": "mlp", "recipe": CFG.to_dict(),
        "train_seed": 0, "model_key": KEY, "forget": ForgetRequest(classes=(3,)).to_dict(),
    }  # fmt: skip
    return _audit(setup, ["logit_suppression", "finetune"])


def test_the_lenses_table_shows_the_stored_lenses(lensed):
    at, res = lensed
    assert res.metrics == ["eps", "klom", "ulira", "rmia"] and res.attacks == ["quantize"]
    table = _table(at, "told apart from retrain by")
    rows = D.lens_rows(res)
    assert list(table["model"]) == [r["label"] for r in rows]
    assert list(table["model"])[:2] == ["original", "retrain (half vs half)"]
    for col, key, spec in (("KLoM forget P95", "klom_forget_p95", ".2f"),
                           ("U-LiRA (%)", "ulira_acc", ".1f"), ("RMIA AUC", "rmia_auc", ".3f"),
                           ("ε score", "forget_quality", ".3f")):  # fmt: skip
        want = ["—" if r.get(key) is None else format(r[key], spec) for r in rows]
        assert list(table[col]) == want, col
    assert table["ε score"].tolist()[:2] == ["—", "—"]
    assert float(table["KLoM forget P95"].tolist()[1]) == pytest.approx(
        res.klom_baseline.p95("forget"), abs=0.006
    )
    # one sentence per lens, what a good value is
    text = "\n".join(m.value for m in at.markdown)
    for name in ("KLoM", "U-LiRA", "RMIA", "quantisation recovery", "ε (forget quality)"):
        assert f"**{name}**:" in text
    # the chart: a bar per model (not retrain), retrain's value dotted in each panel
    fig = _charts(at)["al_chart"]
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 3 and all(len(plotly_array(t.x)) == 3 for t in bars)
    by = {r["method"]: r for r in rows}
    klom_bar = plotly_array(bars[0].x).astype(float)
    assert klom_bar[1] == pytest.approx(by["logit_suppression"]["klom_forget_p95"])
    lines = [s.x0 for s in fig.layout.shapes]
    assert by["retrain"]["klom_forget_p95"] == pytest.approx(lines[0])
    # quantisation against retrain's
    quant = _table(at, "brought back beyond retrain (pts)")
    assert "retrain (every model)" in list(quant["model"])
    assert len(quant) == 4
    # K = 4: the retrains' half vs half fills KLoM's bins so sparsely that the page says so
    said = any("KLoM tells little apart" in w.value for w in at.warning)
    assert said == (not D.klom_resolves(by["retrain"]["klom_forget_p95"]))


def test_the_drill_down_draws_a_sample_of_each_method(lensed, digits):
    at, res = lensed
    order = D.sample_order(res, "logit_suppression")
    assert at.selectbox(key="al_method").value == "logit_suppression"
    assert at.selectbox(key="al_sample").value == order[0]
    for method, sample in (("logit_suppression", order[0]), ("logit_suppression", order[-1]),
                           ("finetune", order[-1])):  # fmt: skip
        at.selectbox(key="al_method").set_value(method)
        at.selectbox(key="al_sample").set_value(sample)
        at.run()
        assert not at.exception, at.exception
        d = D.drill(res, method, sample)
        fig = _charts(at)["al_hist"]
        u, r = (plotly_array(t.y).astype(float) for t in fig.data[:2])
        np.testing.assert_array_equal(u, d.unlearned_counts)
        np.testing.assert_array_equal(r, d.retrained_counts)
        assert u.sum() == 4 and r.sum() == 4  # K = 4 models a side
        assert f"Sample {sample}" in fig.layout.title.text
        numbers = dict(zip(*(_table(at, "this sample")[c] for c in ("lens", "this sample")),
                           strict=True))  # fmt: skip
        assert numbers["KLoM (nats)"] == f"{d.klom:.2f}"
        assert numbers["ε"].startswith(f"{d.epsilon:.2f}")
        assert numbers["U-LiRA: decisions right"] == f"{d.ulira_acc:.0f}%"
        assert numbers["RMIA: AUC of this sample's scores"] == f"{d.rmia_auc:.2f}"
        captions = [i.caption for img in at.image for i in img.proto.imgs]
        assert f"sample {sample}" in captions, "the forget sample's image is drawn"
        assert int(digits.y_train[sample]) == 3


def test_a_click_on_the_embedding_opens_that_sample_in_the_drill_down(lensed):
    at, res = lensed
    sample = res.forget_ids[7]
    at.session_state["au_scatter"] = {
        "selection": {"points": [{"customdata": [sample, 0.3]}], "point_indices": [7], "box": []}
    }
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="al_sample").value == sample
    other = res.forget_ids[3]  # the reader's own pick afterwards is kept
    at.selectbox(key="al_sample").set_value(other)
    at.run()
    assert at.selectbox(key="al_sample").value == other


def test_the_learn_page_says_which_lens_catches_the_demonstration():
    from app_ui import learn_story as L

    parsed = L.parse_lens_results(L.LENS_RESULTS.read_text(encoding="utf-8"))
    assert parsed is not None and parsed["models"] >= 8
    told = L.lens_story(parsed, L.load_story())
    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    at.switch_page("pages/learn.py").run()
    assert not at.exception, at.exception
    assert any("Which lens catches it?" in m.value for m in at.markdown)
    table = _table(at, "tells it from retraining?")
    assert list(table["tells it from retraining?"]) == [
        r["verdict"] for r in L.lens_story_rows(told)
    ]
    assert any(L.lens_sentence(told) in c.value for c in at.caption)
    # the committed run: the population MIA reads like retraining, some lens does not
    demo, ret = told["demo"], told["retrain"]
    assert (abs(demo["mia"] - ret["mia"]) <= D.ACC_MARGIN) == (told["verdict"]["mia"] is False)
    assert "learn_lenses" in _charts(at)


def test_a_second_audit_reuses_the_stored_ensembles_and_says_so(lensed):
    """Another method on the same model and forget set: the page's audit takes the originals
    and retrains the first one stored (the run store's ensembles), trains only the method's
    models, and its caption says what it reused."""
    first, _ = lensed
    setup = {k: first.session_state[k] for k in SETUP_KEYS}
    at, res = _audit(setup, ["neggrad"], lenses=[])
    assert res.reused["original"] == (4, 4) and res.reused["retrain"] == (4, 4), res.reused
    assert [v for k, v in res.reused.items() if "neggrad" in k] == [(0, 4)], res.reused
    assert any("reusing 4 of 4 originals" in c.value for c in at.caption)
