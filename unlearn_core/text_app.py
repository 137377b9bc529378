"""What the app (and its job workers) read of the text track, without Streamlit: forget
requests from their stored dicts, training a ``tinylm`` with the text recipe, a text model's
report (exact match on training answers and world facts), greedy answers to chosen questions,
token attributions (captum's ``LayerIntegratedGradients`` on the token embedding) and the
hidden state of each question.

The text library itself lives in :mod:`unlearn_core.text`; this module only composes it for
the app, so the app's pages handle a :class:`~unlearn_core.text.TextDataset` through the same
workflow as images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .forget import ForgetRequest, ForgetSplit, make_split
from .runtime.device import pick_device, seed_everything
from .runtime.progress import Progress, no_progress
from .text import TEXT_RECIPE, TINYLM_KWARGS, TextDataset, TextForgetRequest
from .text.train import generate, token_scores
from .training import History, TrainConfig

#: the model the text track trains (the only architecture offered for text data)
TEXT_ARCH = "tinylm"
#: the ``kind`` values of a stored text forget request (``TextForgetRequest.to_dict``)
TEXT_REQUEST_KINDS = ("people", "people_fraction", "facts")
#: TOFU's forget01 / forget05 / forget10, the shares of people the app offers
PEOPLE_FRACTIONS = (0.01, 0.05, 0.10)


def is_text(data) -> bool:
    return getattr(data, "kind", None) == "text"


def request_from_dict(d: dict) -> ForgetRequest | TextForgetRequest:
    """A stored forget request of either track (the app keeps requests as dicts)."""
    if d.get("kind") in TEXT_REQUEST_KINDS:
        return TextForgetRequest(
            people=tuple(d.get("people") or ()),
            fraction=d.get("fraction"),
            facts=tuple(d.get("facts") or ()),
            seed=int(d.get("seed", 0)),
        )
    return ForgetRequest.from_dict(d)


def split_from_dict(data, d: dict) -> ForgetSplit:
    """The split of a stored request on ``data`` (``ForgetError`` when it does not fit)."""
    req = request_from_dict(d)
    if hasattr(data, "make_split"):
        if not isinstance(req, TextForgetRequest):
            from .forget import ForgetError

            raise ForgetError(f"an image forget request ({req.kind}) does not fit text data")
        return data.make_split(req)
    if isinstance(req, TextForgetRequest):
        from .forget import ForgetError

        raise ForgetError("a text forget request (people or facts) does not fit this data")
    return make_split(data, req)


def text_recipe() -> TrainConfig:
    return TrainConfig(**TEXT_RECIPE.to_dict())


def new_model(data: TextDataset, **kwargs) -> nn.Module:
    from .models import build_model

    return build_model(TEXT_ARCH, data.input_shape, data.num_classes, **{**TINYLM_KWARGS, **kwargs})


def train_text(
    data: TextDataset,
    recipe: TrainConfig | None = None,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
) -> tuple[nn.Module, History]:
    """A ``tinylm`` trained as the text library trains its originals (``data.fit``: the
    people's facts with the world facts, answer tokens only)."""
    dev = torch.device(device) if device is not None else pick_device()
    seed_everything(seed)
    model = new_model(data).to(dev)
    hist = data.fit(
        model,
        data.x_train.to(dev),
        data.y_train.to(dev),
        recipe or text_recipe(),
        seed=seed,
        progress=progress,
    )
    return model.eval(), hist


def factory(data: TextDataset, recipe: TrainConfig | None = None):
    """``compare_seeds``'s model source for text: each seed trains its own ``tinylm``."""

    def make(seed: int, progress: Progress) -> nn.Module:
        model, _ = train_text(data, recipe, seed=seed, progress=progress)
        return model

    return make


def exact_match(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose greedy answer is the true one (percent; nan for none)."""
    if len(x) == 0:
        return float("nan")
    return 100.0 * float(token_scores(model, x, y).exact.float().mean())


def test_score(model: nn.Module, data) -> float:
    """A model's headline test number: exact match on the world facts for text, accuracy on
    the test set otherwise (percent)."""
    if is_text(data):
        return exact_match(model, data.x_test, data.y_test)
    from .training import evaluate

    return evaluate(model, data.x_test, data.y_test)


@dataclass(frozen=True)
class TextReport:
    """What the Data & model page shows of a trained text model (percent)."""

    train_em: float
    world_em: float
    heldout_em: float
    #: exact match per fact kind on the training answers (birthplace, award, ...)
    per_fact: dict


def text_report(model: nn.Module, data: TextDataset) -> TextReport:
    ts = token_scores(model, data.x_train, data.y_train)
    exact = ts.exact.numpy()
    per: dict[str, list[bool]] = {}
    for q, ok in zip(data.qa_train, exact, strict=True):
        per.setdefault(q.fact or "fact", []).append(bool(ok))
    return TextReport(
        train_em=100.0 * float(exact.mean()) if len(exact) else float("nan"),
        world_em=exact_match(model, data.x_test, data.y_test),
        heldout_em=exact_match(model, data.x_val, data.y_val),
        per_fact={k: 100.0 * float(np.mean(v)) for k, v in per.items()},
    )


def prompt(data: TextDataset, question: str) -> list[int]:
    """``<bos> question <sep>``: what the model continues with its answer."""
    tok = data.tokenizer
    return [tok.bos, *tok.encode(question), tok.sep]


def answers(model: nn.Module, data: TextDataset, questions: list[str]) -> list[str]:
    """Greedy answers of ``model`` to ``questions``."""
    if not questions:
        return []
    out = generate(
        model,
        [prompt(data, q) for q in questions],
        eos=data.tokenizer.eos,
        max_new=data.input_shape[0],
    )
    return [data.tokenizer.decode(o) for o in out]


@dataclass(frozen=True)
class Attribution:
    """Per-token attributions of one answer: the question's and answer's tokens (``tokens``),
    where the answer starts (``answer_start``) and each token's share of the answer's
    log-probability (``scores``, summed over the embedding dimensions; ``delta`` is the
    integrated-gradients convergence error)."""

    tokens: list[str]
    answer_start: int
    scores: list[float]
    logprob: float
    delta: float


def attribute(
    model: nn.Module,
    data: TextDataset,
    question: str,
    answer: str,
    *,
    steps: int = 32,
) -> Attribution:
    """Integrated gradients (captum's ``LayerIntegratedGradients`` on the token embedding,
    baseline ``<pad>`` at every position but ``<bos>``) of the summed log-probability of
    ``answer``'s tokens given ``question`` (teacher-forced)."""
    from captum.attr import LayerIntegratedGradients

    tok = data.tokenizer
    ids, sep = tok.encode_pair(question, answer)
    ids = ids[: data.input_shape[0]]
    x = torch.tensor([ids], device=next(model.parameters()).device)
    targets = x[:, sep + 1 :]
    base = torch.full_like(x, tok.pad)
    base[:, 0] = tok.bos

    def answer_logprob(inp: torch.Tensor) -> torch.Tensor:
        logp = torch.log_softmax(model(inp).float(), -1)
        part = logp[:, sep : len(ids) - 1]
        tgt = targets.expand(len(inp), -1)
        return part.gather(-1, tgt.unsqueeze(-1)).squeeze(-1).sum(1)

    was = model.training
    model.eval()
    lig = LayerIntegratedGradients(answer_logprob, model.tok)
    attr, delta = lig.attribute(x, baselines=base, n_steps=steps, return_convergence_delta=True)
    with torch.no_grad():
        lp = float(answer_logprob(x)[0])
    model.train(was)
    scores = attr.sum(-1)[0].detach().cpu().tolist()
    return Attribution(
        tokens=[tok.vocab[i] for i in ids],
        answer_start=sep + 1,
        scores=[float(s) for s in scores],
        logprob=lp,
        delta=float(delta.abs().max()),
    )


@torch.inference_mode()
def question_states(
    model: nn.Module, data: TextDataset, questions: list[str], *, batch_size: int = 256
) -> np.ndarray:
    """The last hidden state (after the final LayerNorm) at each question's ``<sep>``: what
    the model knows of the subject when it starts answering (``len(questions) x d``). Prompts
    are read in batches, padded on the right (attention is causal, so the padding after a
    prompt never changes its positions)."""
    if not questions:
        return np.zeros((0, 0), dtype=np.float32)
    dev = next(model.parameters()).device
    was = model.training
    model.eval()
    prompts = [prompt(data, q)[: data.input_shape[0]] for q in questions]
    rows = []
    for start in range(0, len(prompts), batch_size):
        part = prompts[start : start + batch_size]
        width = max(len(p) for p in part)
        x = torch.full((len(part), width), data.tokenizer.pad, dtype=torch.long)
        for i, p in enumerate(part):
            x[i, : len(p)] = torch.tensor(p)
        h = model.features(x.to(dev))
        last = torch.tensor([len(p) - 1 for p in part], device=dev)
        rows.append(h[torch.arange(len(part), device=dev), last].float().cpu().numpy())
    model.train(was)
    return np.concatenate(rows)


def fact_kinds(data: TextDataset) -> list[str]:
    """The kinds of fact of the training rows (birthplace, award, ...), sorted: the classes
    a hidden-state view colours its questions by."""
    return sorted({q.fact or "fact" for q in data.qa_train})


def question_ids(data: TextDataset, split: ForgetSplit) -> np.ndarray:
    """The training rows a hidden-state view draws: every forget question and a seeded draw
    of the retained ones (the image track's
    :func:`~unlearn_core.analysis.views.embedding_sample`, the same for every model)."""
    from .analysis.views import embedding_sample

    return embedding_sample(data.n_train, split.forget_idx.numpy())


def question_labels(data: TextDataset, ids: np.ndarray) -> np.ndarray:
    """Each row's kind of fact, as its index in :func:`fact_kinds`."""
    kinds = fact_kinds(data)
    return np.array(
        [kinds.index(data.qa_train[i].fact or "fact") for i in np.asarray(ids).tolist()]
    )


def question_features(model: nn.Module, data: TextDataset, ids: np.ndarray) -> np.ndarray:
    """:func:`question_states` of the questions of training rows ``ids``."""
    return question_states(
        model, data, [data.qa_train[i].question for i in np.asarray(ids).tolist()]
    )


def question_view(models: dict[str, nn.Module], data: TextDataset, split: ForgetSplit):
    """The shared embedding view (:class:`~unlearn_core.analysis.views.EmbeddingView`, the one
    the image track draws and lays out with aligned UMAP) of the questions' hidden states
    under each model of ``models`` (the first the frame's reference), on the rows of
    :func:`question_ids`, labelled by :func:`question_labels`."""
    from .analysis.views import embedding_view

    ids = question_ids(data, split)
    feats = {n: question_features(m, data, ids) for n, m in models.items()}
    return embedding_view(feats, ids, question_labels(data, ids), split.forget_idx.numpy())
