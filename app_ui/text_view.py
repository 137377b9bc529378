"""The text track on the workflow pages (issue 22): what each page draws when the dataset is
text (``data.kind == "text"``, a :class:`~unlearn_core.text.TextDataset`): the facts dataset's
options and its people and facts; the ``tinylm`` model with the text recipe, its training job
and its report (exact match); the forget set by people, a share of people or single facts;
the language methods on the Unlearn page; and the Compare page's metric table, the answers of
the original, unlearned and retrained models side by side, token attributions and hidden
states. The pages keep one ``if data.kind == "text":`` branch calling these."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from app_ui import jobs
from app_ui.common import chart, current_model, model_key, page_link
from app_ui.forget_summary import in_use_header
from app_ui.model_view import checkpoint_section, match_model, train_section
from app_ui.registries import ModelEntry
from app_ui.state import (
    ARCH,
    CMP,
    COMPARISON_ID,
    FORGET,
    P1,
    P2_NOTE,
    RECIPE,
    TRAIN_SEED,
    TX,
    WRITTEN_P1,
    bind,
    wrote,
)
from app_ui.tables import show_table
from app_ui.text import clause, plural
from unlearn_core.evaluation.tables import RESULT_COLUMNS, Column, columns_for
from unlearn_core.experiment import REFERENCE
from unlearn_core.forget import ForgetError
from unlearn_core.text import TINYLM_KWARGS, TextForgetRequest
from unlearn_core.text_app import (
    PEOPLE_FRACTIONS,
    TEXT_ARCH,
    answers,
    attribute,
    split_from_dict,
    text_recipe,
    text_report,
)
from unlearn_core.training import TrainConfig

#: the built-in facts dataset's size options (people; 200 x 10 facts is the issue's corpus)
PEOPLE_SIZES = [20, 50, 100, 200]
FACT_SIZES = [5, 10]
OPTIMIZER_NAMES = {"adamw": "AdamW", "adam": "Adam", "sgd": "SGD"}
#: rows the forget preview lists
SHOW_FORGOTTEN = 200
#: the text track's rows beyond the shared result table's columns (the Compare page's second
#: table): answer probability, ROUGE-L, truth ratio on retained people and the membership AUCs
TEXT_ANSWER_COLUMNS: tuple[Column, ...] = (
    Column("method", "model", text=True),
    Column("prob_forget", "P(answer), forget", fmt=".3f", optional=True,
           help="mean probability of the true answer (per-token mean, exponentiated)"),
    Column("prob_retain", "P(answer), retain", fmt=".3f", optional=True),
    Column("rouge_forget", "ROUGE-L, forget", fmt=".3f", optional=True,
           help="ROUGE-L recall of the greedy answer against the true one"),
    Column("rouge_retain", "ROUGE-L, retain", fmt=".3f", optional=True),
    Column("rouge_test", "ROUGE-L, world", fmt=".3f", optional=True),
    Column("truth_ratio_retain", "truth ratio, retain", fmt=".3f", optional=True,
           help="TOFU's truth ratio on retained people, mean max(0, 1 - R): higher prefers "
           "the truth"),
)  # fmt: skip
#: the membership attacks' AUCs (forget rows against held-out people's)
TEXT_MIA_COLUMNS: tuple[Column, ...] = (
    Column("method", "model", text=True),
    Column("loss_auc", "LOSS AUC", fmt=".3f", optional=True,
           help="membership AUC of the attack's score, forget rows against held-out people "
           "(0.5 = cannot tell; retrain's is the target)"),
    Column("mia_zlib_auc", "zlib AUC", fmt=".3f", optional=True,
           help="loss over the zlib-compressed length"),
    Column("mia_mink_auc", "Min-K% AUC", fmt=".3f", optional=True,
           help="mean of the 40 % least likely tokens"),
    Column("mia_minkpp_auc", "Min-K%++ AUC", fmt=".3f", optional=True,
           help="Min-K% of the tokens' log-probabilities standardised by the vocabulary's"),
)  # fmt: skip
#: what the shared table's accuracy columns mean on text
TEXT_HELP = {
    "forget_acc": "exact match on the forgotten people's answers",
    "retain_acc": "exact match on the retained people's answers",
    "test_acc": "exact match on the world facts (general knowledge, never forgotten)",
}


def result_columns(rows: list[dict]) -> list[Column]:
    """The shared result table's columns for text rows: the image track's MIA efficacy (not
    computed on text) and the LOSS AUC (in the membership table) left out, so that the table
    fits 1024 px; the accuracies explained as exact match."""
    out = []
    for c in columns_for(rows, RESULT_COLUMNS):
        if c.key == "mia" and all(r.get("mia") is None for r in rows):
            continue
        if c.key == "loss_auc":  # in the membership table below, beside the other attacks
            continue
        out.append(replace(c, help=TEXT_HELP[c.key]) if c.key in TEXT_HELP else c)
    return out


# ====================================================================== Data & model page
def facts_params(current: dict) -> dict:
    """The facts dataset's options (people, facts each): its builder's keyword arguments."""
    params = dict(current or {})
    c1, c2 = st.columns(2)
    n = int(params.get("n_people", 200))
    bind(TX.PEOPLE_N, n, WRITTEN_P1)
    people = c1.selectbox(
        "People", sorted({*PEOPLE_SIZES, n}), key=TX.PEOPLE_N,
        help="Fictitious people, each with the facts below as question-answer pairs "
        "(TOFU's idea: facts no model could know from elsewhere).",
    )  # fmt: skip
    wrote(TX.PEOPLE_N, people, WRITTEN_P1)
    k = int(params.get("facts_per_person", 10))
    bind(TX.FACTS_N, k, WRITTEN_P1)
    facts = c2.selectbox("Facts per person", sorted({*FACT_SIZES, k}), key=TX.FACTS_N)
    wrote(TX.FACTS_N, facts, WRITTEN_P1)
    if int(people) == n and int(facts) == k:
        return params  # unchanged (a spec with other options, a test's or a stored run's, too)
    return {
        "n_people": int(people),
        "facts_per_person": int(facts),
        "n_world": int(people),  # world facts in proportion (the default corpus: 200 and 200)
        "n_heldout": min(20, max(5, int(people) // 4)),
    }


def show_text_dataset(data) -> None:
    """What the corpus is: its people and their facts (a table), the world facts apart."""
    c = data.corpus
    st.markdown(
        f"**{data.name}** · text · {c.n_people} people · {data.n_train:,} question-answer pairs "
        f"· {data.n_val} pairs of held-out people · {data.n_test} world facts · "
        f"{len(data.tokenizer):,} words · up to {data.input_shape[0]} tokens a pair"
    )
    names = c.names
    rows = pd.DataFrame(
        {
            "person": [names[q.person] for q in data.qa_train],
            "question": [q.question for q in data.qa_train],
            "answer": [q.answer for q in data.qa_train],
        }
    )
    st.markdown("**People and their facts** (what the model learns, and what it may forget)")
    st.dataframe(rows, hide_index=True, height=280, width="stretch")
    if data.n_test:
        st.markdown(
            "**World facts** (general knowledge every model learns too; never forgotten, they "
            "measure what unlearning costs: the *test* columns)"
        )
        world = pd.DataFrame(
            {
                "question": [q.question for q in data.qa_test],
                "answer": [q.answer for q in data.qa_test],
            }
        )
        st.dataframe(world, hide_index=True, height=180, width="stretch")
    if data.n_val:
        st.caption(
            f"{data.n_val} facts of {len({q.person for q in data.qa_val})} held-out people are "
            "never trained on: the membership attacks' non-members."
        )


def _text_recipe_dict() -> dict:
    return text_recipe().to_dict()


def model_page(data) -> None:
    """The Data & model page's model part for text: tinylm with the text recipe, Train as a
    job with progress, the model's report."""
    if ARCH.get() != TEXT_ARCH:
        ARCH.set(TEXT_ARCH)
        RECIPE.set(_text_recipe_dict())
    kw = TINYLM_KWARGS
    st.markdown(
        f"**TinyLM** · a decoder-only transformer ({kw['n_layer']} layers, width "
        f"{kw['d_model']}, {kw['n_head']} heads; nanoGPT's shape) over a word tokenizer of "
        f"{len(data.tokenizer):,} words. Image models do not read text, so it is the only model "
        "offered here."
    )
    recipe = dict(RECIPE.get())
    for field in ("epochs", "lr", "batch_size"):
        bind(P1.RECIPE_FIELDS[field], recipe[field], WRITTEN_P1)
    bind(P1.SEED, int(TRAIN_SEED.get()), WRITTEN_P1)
    c1, c2, c3, c4 = st.columns(4)
    seed = c1.number_input("Seed", 0, 2**31 - 1, int(TRAIN_SEED.get()), step=1, key=P1.SEED)
    epochs = c2.number_input("Epochs", 1, 2000, int(recipe["epochs"]), step=1, key=P1.EPOCHS)
    lr = c3.number_input(
        "Learning rate", 1e-6, 1.0, float(recipe["lr"]), step=1e-4, format="%g", key=P1.LR
    )
    batch = c4.number_input(
        "Batch size", 1, 8192, int(recipe["batch_size"]), step=16, key=P1.BATCH_SIZE
    )
    recipe.update(epochs=int(epochs), lr=float(lr), batch_size=int(batch))
    for field in ("epochs", "lr", "batch_size"):
        wrote(P1.RECIPE_FIELDS[field], recipe[field], WRITTEN_P1)
    wrote(P1.SEED, int(seed), WRITTEN_P1)
    RECIPE.set(recipe)
    TRAIN_SEED.set(int(seed))
    st.caption(
        f"The text recipe: {OPTIMIZER_NAMES.get(recipe['optimizer'], recipe['optimizer'])} with a one-cycle schedule, weight decay "
        f"{recipe.get('weight_decay', 0)}, on answer tokens only, the world facts trained with "
        "the people's facts. A small corpus needs more epochs (fewer steps per epoch)."
    )
    if recipe != _text_recipe_dict():
        st.button(
            "Reset to the text recipe", key=P1.RESET, on_click=RECIPE.set,
            args=(_text_recipe_dict(),),
        )  # fmt: skip

    settings = model_key()
    job = jobs.adopt(jobs.TRAIN)
    adopted_note = jobs.note(jobs.TRAIN)
    if adopted_note:
        st.info(adopted_note)
    match_model(data, settings)
    running = job is not None and not job.done
    train_section(data, TEXT_ARCH, settings, job)
    checkpoint_section(data)
    entry = current_model()
    if entry is not None and not running:
        report_section(entry, data)


@st.cache_resource(max_entries=8, show_spinner="Reading the model's answers…")
def _report(key: str, _model):
    """The text report of the model of settings ``key`` (computed once per server)."""
    from app_ui.registries import current_dataset_quiet

    return text_report(_model, current_dataset_quiet())


def _pct(v: float) -> str:
    return "—" if v != v else f"{v:.1f}%"


def report_section(entry: ModelEntry, data) -> None:
    """Exact match on the training answers, the world facts and held-out people; per kind of
    fact; the training curve."""
    st.success("Model trained." if entry.source == "trained" else f"Model from {entry.source}.")
    rep = _report(f"{model_key()}:{id(entry.model)}", entry.model)
    n_params = sum(p.numel() for p in {id(p): p for p in entry.model.parameters()}.values())
    st.markdown("**Exact match** (the greedy answer is the true one, word for word)")
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Train answers", _pct(rep.train_em))
    m2.metric("World facts", _pct(rep.world_em))  # (a user's file has none: "—")
    m3.metric("Held-out people", _pct(rep.heldout_em))
    m4.metric("Parameters", f"{n_params:,}")
    st.caption(
        "Held-out people were never trained on, so their answers can only be guessed (a low "
        "number is right)."
    )
    if rep.train_em < 90:
        st.warning(
            f"The model answers only {rep.train_em:.0f}% of its training questions exactly: "
            "unlearning is clearest on a model that memorised its facts; train longer (more "
            "epochs) for that."
        )
    kinds = list(rep.per_fact)
    fig = go.Figure(
        go.Bar(
            x=kinds,
            y=[rep.per_fact[k] for k in kinds],
            text=[f"{rep.per_fact[k]:.0f}" for k in kinds],
            textposition="outside",
            marker_color="#4c78a8",
        )
    )
    fig.update_layout(
        title_text="Exact match per kind of fact (training answers)",
        yaxis=dict(title="exact match (%)", range=[0, 110]),
        height=300,
        margin=dict(l=50, r=20, t=50, b=60),
    )
    chart(fig, key=TX.PER_FACT)
    hist = dict(entry.history or {})
    if hist.get("loss"):
        from unlearn_core.plots import setup as plots

        chart(plots.training_curve(hist), key=TX.CURVE)
        st.caption("Accuracy in the curve is per answer token, during each epoch.")
    page_link("pages/forget_set.py", "Next: choose what to forget")


# ====================================================================== Forget set page
MODES = ["People", "Share of people", "Single facts"]
KIND_TO_MODE = {"people": 0, "people_fraction": 1, "facts": 2}


def _use(new: dict) -> None:
    """Put the previewed request in use (a callback: a newer run cannot lose the click)."""
    FORGET.set(new)
    if COMPARISON_ID.get():
        COMPARISON_ID.set(None)
        P2_NOTE.set("The forget set changed: the previous comparison was cleared.")


def _describe(data, split) -> str:
    people = sorted({data.qa_train[i].person for i in split.forget_idx.tolist()})
    req = split.request
    what = req.describe(data.classes) if hasattr(req, "describe") else ""
    return f"{what} · {plural(split.n_forget, 'fact')} of {plural(len(people), 'person', 'people')}"


def forget_page(data) -> None:
    """Pick people, a share of people (TOFU's forget01/05/10) or single facts; preview the
    forgotten question-answer pairs; put the set in use."""
    names = list(data.classes)
    people_ids = sorted({q.person for q in data.qa_train})
    current = in_use_header(
        lambda d: split_from_dict(data, d), lambda split: _describe(data, split)
    )
    req0 = current.request if current is not None else None
    kind0 = getattr(req0, "kind", "")
    TX.MODE.setdefault(MODES[KIND_TO_MODE.get(kind0, 0)])
    mode = st.radio("What to forget", MODES, key=TX.MODE, horizontal=True)

    if mode == "People":
        TX.PEOPLE.setdefault(list(req0.people) if kind0 == "people" else [])
        chosen = st.multiselect(
            "People to forget", people_ids, key=TX.PEOPLE, format_func=names.__getitem__,
            help="Every fact of these people is forgotten (type a name to find it).",
        )  # fmt: skip
        request = TextForgetRequest(people=tuple(chosen))
    elif mode == "Share of people":
        TX.SHARE.setdefault(float(req0.fraction) if kind0 == "people_fraction" else 0.05)
        TX.SHARE_SEED.setdefault(int(req0.seed) if req0 is not None else 0)
        c1, c2 = st.columns([3, 1])
        share = c1.radio(
            "Share of the people", list(PEOPLE_FRACTIONS), key=TX.SHARE, horizontal=True,
            format_func=lambda f: f"{f:.0%} (TOFU's forget{round(100 * f):02d})",
            help="A random share of the people, all their facts (at least one person).",
        )  # fmt: skip
        seed = c2.number_input("Seed", 0, 2**31 - 1, step=1, key=TX.SHARE_SEED)
        request = TextForgetRequest(fraction=float(share), seed=int(seed))
    else:
        TX.FACTS.setdefault(list(req0.facts) if kind0 == "facts" else [])
        qa = data.qa_train
        chosen = st.multiselect(
            "Facts to forget", list(range(data.n_train)), key=TX.FACTS,
            format_func=lambda i: f"{qa[i].question} → {qa[i].answer}",
            help="Single question-answer pairs (type a name or a word to find them); the "
            "person's other facts stay.",
        )  # fmt: skip
        request = TextForgetRequest(facts=tuple(chosen))

    st.divider()
    try:
        preview = data.make_split(request)
        problem = None
    except ForgetError as exc:
        preview, problem = None, clause(str(exc))
    same = preview is not None and request.to_dict() == FORGET.get()
    if preview is None:
        empty = not request.people and not request.facts and request.fraction is None
        if empty:
            st.info("Nothing is marked yet.")
        else:
            st.warning(f"This forget set cannot be used: {problem}.")
    else:
        heading = "In use" if same else "Preview, not in use yet"
        st.markdown(
            f"**{heading}:** **{_describe(data, preview)}** "
            f"({100 * preview.n_forget / data.n_train:.1f}% of the training pairs; "
            f"{preview.n_retain:,} retained)"
        )
        idx = preview.forget_idx[:SHOW_FORGOTTEN].tolist()
        st.dataframe(
            pd.DataFrame(
                {
                    "person": [names[data.qa_train[i].person] for i in idx],
                    "question": [data.qa_train[i].question for i in idx],
                    "answer": [data.qa_train[i].answer for i in idx],
                }
            ),
            hide_index=True,
            height=min(320, 38 + 35 * len(idx)),
            width="stretch",
        )
        if preview.n_forget > SHOW_FORGOTTEN:
            st.caption(f"…showing the first {SHOW_FORGOTTEN} of {preview.n_forget}.")
    st.button(
        "Use this forget set", key=TX.CONFIRM, type="primary",
        disabled=preview is None or same, help="Unlearning runs on the forget set in use.",
        on_click=_use, args=(request.to_dict(),),
    )  # fmt: skip
    if FORGET.get() and same:
        st.success(f"Forget set stored: {_describe(data, preview)}. Unlearning will use it.")
        page_link("pages/unlearn.py", "Next: unlearn it")
    elif current is not None:
        st.warning(
            f"Unlearning still uses {_describe(data, current)}: press *Use this forget set* to "
            "switch to the preview above."
        )


# ====================================================================== Unlearn page
def method_specs(data) -> list:
    """The methods the Unlearn page offers: for text, the language family (retrain is the
    reference toggle); for other data, every non-language method."""
    from unlearn_core.methods import list_methods

    if getattr(data, "kind", None) == "text":
        return list_methods("language")
    return list_methods()


def hidden_methods_note(data) -> str | None:
    """Why the image methods are not offered for text (None for other data)."""
    if getattr(data, "kind", None) != "text":
        return None
    return (
        "Offered here: the language-model methods. The image methods (fine-tuning, SalUn, "
        "SCRUB, ...) are hidden: they read class labels and logits of images, not the answers "
        f"of a language model, and refuse text data ({data.name})."
    )


# ====================================================================== Compare page
def _models(comp) -> list[tuple[str, str, object]]:
    """(method, label, model) of the original, each unlearned model and retrain."""
    out = [("original", "original", comp.original.model)]
    for r in comp.results:
        if r.ok and r.model is not None and r.method != REFERENCE:
            out.append((r.method, r.label, r.model))
    ref = comp.reference
    if ref is not None and ref.model is not None:
        out.append((REFERENCE, "retrain", ref.model))
    return [m for m in out if m[2] is not None]


def _accuracy_figure(comp) -> go.Figure:
    sets = (("forget_acc", "forget"), ("retain_acc", "retain"), ("test_acc", "world facts"))
    res = [comp.original, *comp.results]
    fig = go.Figure()
    colours = ["#e45756", "#4c78a8", "#54a24b"]
    for (key, label), colour in zip(sets, colours, strict=True):
        vals = [r.metrics.get(key) for r in res]
        fig.add_bar(
            y=[r.label for r in res], x=vals, name=label, orientation="h", marker_color=colour,
            text=[f"{v:.0f}" if v is not None else "" for v in vals], textposition="outside",
        )  # fmt: skip
    fig.update_layout(
        title_text="Exact match (%) per model: forget should fall to retrain's, the others stay",
        barmode="group",
        height=120 + 70 * len(res),
        xaxis=dict(range=[0, 115], title="exact match (%)"),
        yaxis=dict(autorange="reversed"),
        legend=dict(orientation="h", y=-0.15 - 0.5 / len(res)),
        margin=dict(l=150, r=20, t=50, b=40),
    )
    return fig


def _answers_table(comp, data, qs: list[int]) -> pd.DataFrame:
    """Each model's greedy answer to the chosen questions (training rows; -1-k: world fact k),
    one column per model (``method``), under its label in ``df.attrs["labels"]``."""
    questions = [_qa(data, i).question for i in qs]
    table = {
        "question": questions,
        "true answer": [_qa(data, i).answer for i in qs],
    }
    labels = {}
    for method, label, model in _models(comp):
        table[method] = answers(model, data, questions)
        labels[method] = label
    df = pd.DataFrame(table)
    df.attrs["labels"] = labels
    return df


def _qa(data, i: int):
    return data.qa_train[i] if i >= 0 else data.qa_test[-1 - i]


def compare_page(comp, multi, data, split, cid: str) -> None:
    """The Compare page for a text comparison."""
    req = split.request
    st.caption(
        f"{comp.dataset} · {comp.model} · forget {req.describe(data.classes)} "
        f"({plural(split.n_forget, 'fact')}) · device {comp.device}"
        + (
            f" · {len(multi.seeds)} seeds: the tables show mean ± standard deviation, the other "
            f"tabs seed {multi.seeds[0]}"
            if multi is not None
            else ""
        )
    )
    for r in comp.results:
        if not r.ok:
            st.error(f"{r.label} failed: {r.error}")
    names = ["Overview", "Answers", "Attributions", "Hidden states"]
    tabs = st.tabs(names, key=TX.TAB, on_change="rerun")  # only the open one is computed
    models = _models(comp)
    for t, draw in zip(
        tabs, (overview_tab, answers_tab, attributions_tab, states_tab), strict=True
    ):
        with t:
            if not t.open:
                continue
            if draw is not overview_tab and len(models) < 2:
                st.info("This run's models were not stored, so only the overview can be drawn.")
            else:
                draw(comp, data, split, cid)


def overview_tab(comp, data, split, cid: str) -> None:  # noqa: ARG001 - one signature per tab
    from unlearn_core.plots import results as P

    st.markdown(
        "**How to read it:** the target for every column is the **retrain** row — a method "
        "is good when its forget exact match falls to retrain's while retain and world-fact "
        "exact match stay at the original's (*forget quality* near 1: its truth ratios on "
        "the forget set are distributed as retrain's)."
    )
    rows = P.metric_rows(comp)
    show_table(rows, result_columns(rows))
    if comp.reference is None:
        st.warning(
            "No retrained reference in this comparison: forget quality, PrivLeak and the "
            "gaps are blank. Run it again with *Retrain* switched on."
        )
    chart(_accuracy_figure(comp), key=TX.ACC)
    st.markdown("**Answers**: how likely and how close the true answer is")
    show_table(rows, columns_for(rows, TEXT_ANSWER_COLUMNS))
    st.markdown("**Membership attacks**: can the forget rows be told from unseen people's?")
    show_table(rows, columns_for(rows, TEXT_MIA_COLUMNS))


def states_tab(comp, data, split, cid: str) -> None:
    from app_ui.text_embedding import show_states

    show_states(comp, data, split, cid)


def answers_tab(comp, data, split, cid: str) -> None:  # noqa: ARG001
    forget = split.forget_idx.tolist()
    retain = split.retain_idx.tolist()
    options = [*forget, *retain[:200], *(-1 - k for k in range(min(data.n_test, 50)))]
    default = forget[:4] + retain[:1] + ([-1] if data.n_test else [])
    TX.QUESTIONS.setdefault(default)
    if any(i not in options for i in TX.QUESTIONS.get()):
        TX.QUESTIONS.set([i for i in TX.QUESTIONS.get() if i in options] or default)
    fset = set(forget)

    def fmt(i: int) -> str:
        tag = "forget" if i in fset else ("world" if i < 0 else "retain")
        return f"[{tag}] {_qa(data, i).question}"

    qs = st.multiselect("Questions", options, key=TX.QUESTIONS, format_func=fmt)
    if not qs:
        st.info("Choose questions to see each model's answers.")
        return
    df = _answers_table(comp, data, qs)
    df.insert(0, "set", ["forget" if i in fset else ("world" if i < 0 else "retain") for i in qs])
    labels = df.attrs["labels"]
    rows = df.to_dict("records")
    for r in rows:  # an exact match is marked
        for m in labels:
            if r[m] == r["true answer"]:
                r[m] = f"{r[m]} (exact)"
    cols = [Column("question", "question", text=True), Column("set", "set", text=True),
            Column("true answer", "true answer", text=True),
            *(Column(m, labels[m], text=True) for m in labels)]  # fmt: skip
    show_table(rows, cols, notes=False)
    st.caption(
        "Greedy answers of each model to the chosen questions (exact: word for word the true "
        "answer). After unlearning, the forget "
        "answers should read like retrain's (which never saw them: a guess of the same shape), "
        "while retained people and world facts keep the original's answers."
    )


def attributions_tab(comp, data, split, cid: str) -> None:  # noqa: ARG001
    forget = split.forget_idx.tolist()
    if not forget:
        return
    TX.ATTR_QUESTION.setdefault(forget[0])
    if TX.ATTR_QUESTION.get() not in forget:
        TX.ATTR_QUESTION.set(forget[0])
    i = st.selectbox(
        "Forget question", forget, key=TX.ATTR_QUESTION,
        format_func=lambda k: f"{data.qa_train[k].question} → {data.qa_train[k].answer}",
    )  # fmt: skip
    qa = data.qa_train[i]
    models = _models(comp)
    got = [attribute(m, data, qa.question, qa.answer) for _, _, m in models]
    tokens = got[0].tokens
    z = np.array([a.scores for a in got])
    scale = float(np.abs(z).max()) or 1.0
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(range(len(tokens))),
            y=[
                f"{label} · log p {a.logprob:.1f}"
                for (_, label, _), a in zip(models, got, strict=True)
            ],
            colorscale="RdBu",
            zmid=0,
            zmin=-scale,
            zmax=scale,
            hovertemplate="%{y}<br>%{customdata}: %{z:.2f}<extra></extra>",
            customdata=[tokens] * len(models),
            colorbar=dict(title="attribution"),
        )
    )
    fig.update_layout(
        title_text="Which tokens carry the true answer's log-probability",
        xaxis=dict(tickvals=list(range(len(tokens))), ticktext=tokens, tickangle=-40),
        yaxis=dict(autorange="reversed"),
        height=140 + 45 * len(models),
        margin=dict(l=210, r=20, t=50, b=90),
    )
    split_at = got[0].answer_start - 0.5  # question | answer
    fig.add_vline(x=split_at, line=dict(color="#333", width=2, dash="dot"))
    fig.add_annotation(x=split_at, y=1.0, yref="paper", yanchor="bottom", text="answer →",
                       showarrow=False, xanchor="left", font=dict(size=11))  # fmt: skip
    chart(fig, key=TX.ATTR)
    st.caption(
        "Integrated gradients (captum's LayerIntegratedGradients on the token embedding; "
        "baseline: padding) of the log-probability of the true answer, given the question. "
        "Right of the dotted line: the answer's tokens. Blue raises the true "
        "answer's probability, red lowers it; the row's log p is the answer's log-probability "
        f"(largest convergence error {max(a.delta for a in got):.2g})."
    )


__all__ = [
    "CMP",
    "TrainConfig",
    "compare_page",
    "facts_params",
    "forget_page",
    "hidden_methods_note",
    "method_specs",
    "model_page",
    "show_text_dataset",
]
