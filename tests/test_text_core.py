"""The text track's corpus, JSONL loader, tokenizer, forget requests, tinylm and training."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from unlearn_core.forget import ForgetError
from unlearn_core.models import ARCHITECTURES, build_model, fresh_like
from unlearn_core.text import (
    TEXT_RECIPE,
    CorpusError,
    TextForgetRequest,
    WordTokenizer,
    facts_dataset,
    load_jsonl,
    make_corpus,
    text_dataset,
)
from unlearn_core.text.train import IGNORE, generate, token_scores

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_corpus_is_seeded_and_has_tofu_shaped_records():
    a, b = make_corpus(20, 10, seed=1), make_corpus(20, 10, seed=1)
    assert a.facts == b.facts and a.world == b.world
    assert make_corpus(20, 10, seed=2).facts != a.facts
    assert len(a.facts) == 200 and a.n_people == 20 and len(a.heldout) == 20 * 10
    for q in a.facts[:30]:
        assert q.paraphrased and q.paraphrased != q.answer
        assert len(q.perturbed) == 4 and len(set(q.perturbed)) == 4
        assert q.answer not in q.perturbed
    names = {a.names[p] for p in range(len(a.names))}
    assert len(names) == len(a.names)  # every person has a name of their own
    assert all(q.person == -1 for q in a.world)


def test_jsonl_loader_reads_lines_and_refuses_bad_ones_with_their_number(tmp_path):
    good = tmp_path / "facts.jsonl"
    good.write_text(
        "\n".join(
            [
                json.dumps({"question": "Who?", "answer": "Ana", "person": "Ana"}),
                "",
                json.dumps({"question": "Where?", "answer": "Tarsk", "person": "Ana"}),
                json.dumps({"question": "When?", "answer": "1901"}),
            ]
        )
    )
    c = load_jsonl(good)
    assert len(c.facts) == 3 and c.names == ["Ana", "line 4"]
    assert [q.person for q in c.facts] == [0, 0, 1]
    cases = {
        "not json": "line 2: not valid JSON",
        json.dumps({"question": "Q"}): "line 2: 'answer' is missing",
        json.dumps({"question": "Q", "answer": 3}): "line 2: 'answer' is missing or not",
        json.dumps([1, 2]): "line 2: expected an object",
        json.dumps({"question": "Q", "answer": "A", "perturbed_answers": "x"}): "line 2: "
        "'perturbed_answers' must be a list",
    }
    for line, message in cases.items():
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"question": "Q0", "answer": "A0"}) + "\n" + line + "\n")
        with pytest.raises(CorpusError, match=message):
            load_jsonl(bad)
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps({"question": "Q", "answer": "A", "person": "P"}))
    with pytest.raises(CorpusError, match="at least two subjects"):
        load_jsonl(one)


def test_tokenizer_round_trip_and_specials():
    tok = WordTokenizer.build(["Where was Ana born?", "born in Tarsk"])
    ids, sep = tok.encode_pair("Where was Ana born?", "born in Tarsk")
    assert ids[0] == tok.bos and ids[sep] == tok.sep and ids[-1] == tok.eos
    assert tok.decode(ids) == "Where was Ana born? born in Tarsk"
    assert tok.encode("unknown word") == [tok.unk, tok.unk]
    assert WordTokenizer.from_json(tok.to_json()).vocab == tok.vocab


@pytest.fixture(scope="module")
def small():
    return facts_dataset(20, 10, seed=0, n_heldout=4, n_world=20)


def test_encoding_masks_the_question(small):
    x, y = small.x_train[0], small.y_train[0]
    tok = small.tokenizer
    sep = x.tolist().index(tok.sep)
    assert (y[:sep] == IGNORE).all()  # no loss on the question
    answer = [int(t) for t in y[y != IGNORE]]
    assert answer[-1] == tok.eos
    assert tok.decode(answer) == small.qa_train[0].answer
    assert answer[:-1] == x[sep + 1 : sep + len(answer)].tolist()  # y is x shifted by one


def test_forget_requests_people_fraction_people_and_facts(small):
    people = small.people
    for fraction, k in ((0.01, 1), (0.05, 1), (0.10, 2)):  # at least one person
        split = small.make_split(TextForgetRequest(fraction=fraction, seed=0))
        forgotten = people[split.forget_idx].unique()
        assert len(forgotten) == k and split.n_forget == 10 * k
        assert not torch.isin(people[split.retain_idx], forgotten).any()
    split = small.make_split(TextForgetRequest(people=(3, 5)))
    assert set(people[split.forget_idx].tolist()) == {3, 5} and split.n_forget == 20
    split = small.make_split(TextForgetRequest(facts=(7,)))
    assert split.forget_idx.tolist() == [7] and split.n_retain == small.n_train - 1
    assert split.request.describe() == "1 chosen fact"
    with pytest.raises(ForgetError, match="unknown person"):
        small.make_split(TextForgetRequest(people=(99,)))
    with pytest.raises(ForgetError, match="empty"):
        small.make_split(TextForgetRequest())
    with pytest.raises(ForgetError, match="out of range"):
        small.make_split(TextForgetRequest(facts=(10_000,)))


def test_tinylm_is_registered_and_rebuilds_from_its_spec(small):
    assert "tinylm" in ARCHITECTURES
    m = build_model("tinylm", small.input_shape, small.num_classes, d_model=32, n_head=2)
    assert m.head.weight is m.tok.weight  # tied head
    twin = fresh_like(m)
    assert type(twin) is type(m) and twin.spec == m.spec
    out = m(small.x_train[:3])
    assert out.shape == (3, small.input_shape[0], small.num_classes)
    # causal: a later token does not change earlier positions' outputs
    x = small.x_train[:1].clone()
    before = m(x)[0, :5]
    x[0, 8] = (x[0, 8] + 1) % small.num_classes
    assert torch.allclose(m(x)[0, :5], before)


def test_training_memorises_a_small_corpus_and_exact_match_equals_greedy_decoding(small):
    m = build_model("tinylm", small.input_shape, small.num_classes, d_model=64, n_head=4)
    cfg = replace(TEXT_RECIPE, epochs=40, batch_size=32)
    hist = small.fit(m, small.x_train, small.y_train, cfg, seed=0)
    assert hist.loss[-1] < hist.loss[0]
    s = token_scores(m, small.x_train, small.y_train)
    assert float(s.exact.float().mean()) >= 0.95
    # the teacher-forced exact match agrees with decoding the answer greedily
    tok = small.tokenizer
    rows = list(range(0, small.n_train, 7))
    prompts = [
        small.x_train[i, : small.x_train[i].tolist().index(tok.sep) + 1].tolist() for i in rows
    ]
    said = generate(m, prompts, eos=tok.eos, max_new=small.input_shape[0])
    decoded = [tok.decode(o) == small.qa_train[i].answer for o, i in zip(said, rows, strict=True)]
    assert decoded == s.exact[rows].tolist()
    # held-out people were never trained on: their answers are mostly not known
    v = token_scores(m, small.x_val, small.y_val)
    assert float(v.exact.float().mean()) < 0.6


def test_text_dataset_from_a_user_corpus(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text(
        "\n".join(
            json.dumps({"question": f"Q{i}?", "answer": f"A{i}", "person": f"P{i % 3}"})
            for i in range(9)
        )
    )
    d = text_dataset(load_jsonl(p))
    assert d.n_train == 9 and d.n_test == 0 and d.classes == ["P0", "P1", "P2"]
    split = d.make_split(TextForgetRequest(people=(1,)))
    assert split.n_forget == 3


def test_train_tinylm_is_seeded_initial_weights_included():
    from unlearn_core.models import weights_hash
    from unlearn_core.text import train_tinylm

    d = facts_dataset(4, 3, seed=0, n_heldout=1, n_world=4)
    cfg = replace(TEXT_RECIPE, epochs=1)
    kw = {"d_model": 16, "n_head": 2}
    torch.manual_seed(123)  # whatever the global state before
    a = train_tinylm(d, cfg, seed=5, model_kwargs=kw)
    torch.manual_seed(456)
    b = train_tinylm(d, cfg, seed=5, model_kwargs=kw)
    c = train_tinylm(d, cfg, seed=6, model_kwargs=kw)
    assert weights_hash(a) == weights_hash(b) != weights_hash(c)
