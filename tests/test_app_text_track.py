"""The text track through the app's real pages (issue 22, part 6): the facts dataset's people
and facts, training tinylm as a job, its exact-match report; a forget set of people (and a
share of people's preview); the language methods on the Unlearn page (image methods hidden);
the Compare page's metric table, answers side by side, attributions and hidden states; the
stored run reopened from the Runs page; a JSONL file with a bad line refused by its number."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from streamlit.testing.v1 import AppTest  # noqa: E402
from test_app_setup import (  # noqa: E402
    APP,
    fresh,  # noqa: F401 - the autouse fixture: private caches and registries
    no_exception,
    texts,
    wait_jobs,
)

from app_ui import registries  # noqa: E402
from app_ui.persist import run_store  # noqa: E402
from unlearn_core.text import TEXT_RECIPE, facts_dataset  # noqa: E402

#: 20 people x 5 facts + 20 world facts: memorised in 40 epochs of batch 32 (~10 s here)
TINY = {"n_people": 20, "facts_per_person": 5, "n_world": 20, "n_heldout": 5}
RECIPE = {**TEXT_RECIPE.to_dict(), "epochs": 40, "batch_size": 32}


def text_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    at.session_state["dataset"] = {"name": "facts", "params": dict(TINY)}
    at.session_state["arch"] = "tinylm"
    at.session_state["recipe"] = dict(RECIPE)
    return at.run()


def frames(at: AppTest) -> list:
    return [d.value for d in at.dataframe]


def test_text_workflow_trains_forgets_unlearns_compares_and_reopens(fresh):  # noqa: F811
    at = text_app()
    no_exception(at)
    # data: people and their facts, the world facts apart; tinylm is the model
    people, world = frames(at)[:2]
    assert list(people.columns) == ["person", "question", "answer"] and len(people) == 100
    assert list(world.columns) == ["question", "answer"] and len(world) == 20
    assert "TinyLM" in texts(at.markdown)
    assert at.session_state["recipe"]["optimizer"] == "adamw"
    at.button(key="p1_train").click().run()
    wait_jobs()
    at.run()
    no_exception(at)
    shown = {m.label: m.value for m in at.metric}
    assert float(shown["Train answers"].rstrip("%")) >= 90
    assert float(shown["World facts"].rstrip("%")) >= 80
    assert float(shown["Held-out people"].rstrip("%")) < 50  # never trained on

    # forget set: a share of people (TOFU's forget05: one person of 20) previews its facts
    at.switch_page("pages/forget_set.py").run()
    no_exception(at)
    at.radio(key="tx_mode").set_value("Share of people").run()
    assert at.radio(key="tx_share").value == 0.05
    assert len(frames(at)[0]) == 5  # one person's five facts
    at.radio(key="tx_mode").set_value("Single facts").run()
    at.multiselect(key="tx_facts").set_value([0, 7]).run()
    assert len(frames(at)[0]) == 2  # two single facts, their people's other facts kept
    at.radio(key="tx_mode").set_value("People").run()
    at.multiselect(key="tx_people").set_value([0, 3]).run()
    preview = frames(at)[0]
    assert len(preview) == 10 and set(preview["person"]) == {
        facts_dataset(**TINY).classes[i] for i in (0, 3)
    }
    at.button(key="tx_confirm").click().run()
    no_exception(at)
    assert at.session_state["forget"]["kind"] == "people"
    assert at.session_state["forget"]["people"] == [0, 3]
    assert at.button(key="tx_confirm").disabled
    assert "Unlearning will use it" in texts(at.success)

    # unlearn: the language methods only, the image ones hidden with the reason
    at.switch_page("pages/unlearn.py").run()
    no_exception(at)
    options = at.multiselect(key="p3_methods").options
    assert "NPO" in " ".join(options) and not any("SalUn" in o for o in options)
    assert "image methods" in texts(at.caption)
    assert "Estimated run time" in texts(at.caption)
    at.multiselect(key="p3_methods").set_value(["npo"]).run()
    at.button(key="p3_run").click().run()
    wait_jobs()
    at.run()
    no_exception(at)
    cid = at.session_state["comparison_id"]
    comp = registries.comparison_registry()[cid]
    assert [r.method for r in comp.results] == ["retrain", "npo"]
    assert all(r.ok for r in comp.results), [r.error for r in comp.results]
    assert comp.get("retrain").metrics["forget_acc"] < comp.original.metrics["forget_acc"]

    # compare: the text rows, answers side by side, attributions, hidden states
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    heads = "\n".join(str(t.value.columns.tolist()) for t in at.table)
    assert "forget quality" in heads and "truth ratio, forget" in heads
    assert "ROUGE-L, forget" in heads and "Min-K% AUC" in heads
    assert "tx_attr" not in {c.key for c in at.get("plotly_chart")}  # only the open tab runs
    keys = set()
    for tab in ("Attributions", "Hidden states", "Answers"):
        at.session_state["tx_tab"] = tab
        at.run()
        no_exception(at)
        keys |= {c.key for c in at.get("plotly_chart")}
    answers = next(t.value for t in at.table if "true answer" in t.value.columns)
    assert {"question", "true answer", "original", "NPO", "retrain"} <= set(answers.columns)
    forget_rows = answers[answers["set"] == "forget"]
    assert forget_rows["original"].str.endswith("(exact)").mean() >= 0.5  # it knew them
    assert {"tx_attr", "tx_states"} <= keys
    at.switch_page("pages/attack.py").run()  # the text attacks' ROC curves
    no_exception(at)
    assert "tx_attack_roc" in {c.key for c in at.get("plotly_chart")}
    at.switch_page("pages/audit.py").run()  # the text audit's offer at a small K; a cheap lens
    no_exception(at)
    assert "Estimated time" in texts(at.caption)

    # the stored run reopens from the Runs page in a new session (a restarted server)
    registries.comparison_registry().clear()
    registries.model_registry().clear()
    again = AppTest.from_file(APP, default_timeout=90).run()
    again.switch_page("pages/runs.py").run()
    no_exception(again)
    again.toggle(key="runs_everyone").set_value(True).run()  # (another browser's run)
    again.selectbox(key="runs_pick").set_value(cid).run()
    again.button(key="runs_open").click().run()
    no_exception(again)
    assert f"Run {cid} is open" in texts(again.success)
    assert again.session_state["dataset"]["name"] == "facts"
    again.switch_page("pages/compare.py").run()
    no_exception(again)
    assert "forget quality" in "\n".join(str(t.value.columns.tolist()) for t in again.table)
    again.session_state["tx_tab"] = "Answers"
    again.run()
    assert any({"original", "retrain"} <= set(t.value.columns) for t in again.table)
    html = run_store().export_html(cid, fresh / "r.html")
    assert "forget quality" in html.read_text()


def test_a_jsonl_file_with_a_bad_line_is_refused_by_its_number(fresh):  # noqa: F811
    good = '{"question": "Who?", "answer": "me", "person": "A"}\n'
    path = fresh / "facts.jsonl"
    path.write_text(good + '{"question": "Where?"}\n' + good.replace("A", "B"))
    at = text_app()
    at.selectbox(key="p1_source").select("your file").run()
    at.selectbox(key="p1_format").select("jsonl").run()
    at.radio(key="p1_where").set_value("Path on the server").run()
    at.text_input(key="p1_path").input(str(path)).run()
    at.button(key="p1_load").click().run()
    no_exception(at)
    err = texts(at.error)
    assert "line 2" in err and "'answer' is missing" in err, err
    assert at.session_state["dataset"]["name"] == "facts"  # the current dataset stays
    path.write_text(good + good.replace("A", "B").replace("me", "you"))
    at.button(key="p1_load").click().run()
    no_exception(at)
    assert "Loaded facts" in texts(at.success)
    assert at.session_state["dataset"]["format"] == "jsonl"
    at.run()  # the loaded file is the dataset now: its two facts, tinylm trains on them
    no_exception(at)
    assert len(frames(at)[0]) == 2
    at.button(key="p1_train").click().run()
    wait_jobs()
    at.run()
    no_exception(at)
    shown = {m.label: m.value for m in at.metric}
    assert shown["World facts"] == "—"  # a user's file has no world facts


def test_several_seeds_train_each_original_the_text_way():
    """The comparison job with two seeds: the seed that is not the session's trains its own
    tinylm with the text recipe (a string architecture would train it as an image model)."""
    from unlearn_core import job_calls
    from unlearn_core.runtime.progress import no_progress
    from unlearn_core.text import TextForgetRequest
    from unlearn_core.training import TrainConfig

    data = facts_dataset(**TINY)
    recipe = TrainConfig(**{**RECIPE, "epochs": 3})
    model, _, _ = job_calls.train(
        data=data, arch="tinylm", recipe=recipe, seed=0, progress=no_progress, emit=None
    )
    multi = job_calls.comparison(
        data=data, model=model, arch="tinylm", recipe=recipe,
        split=data.make_split(TextForgetRequest(people=(1,))), methods={"ga": {"epochs": 1}},
        seeds=[0, 1], train_seed=0, include_retrain=False, progress=no_progress,
        emit=lambda *a: None,
    )  # fmt: skip
    assert multi.seeds == [0, 1]
    for comp in multi.comparisons:
        assert all(r.ok for r in comp.results), [r.error for r in comp.results]
        assert comp.original.metrics["forget_acc"] is not None
    assert multi.comparisons[1].original.log["source"] == "trained"
