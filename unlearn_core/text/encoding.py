"""Question-answer records as token tensors: ``x`` = ``<bos> q <sep> a <eos>`` (padded), ``y``
= the next answer token at each position, ``-100`` elsewhere (the loss reads answers only)."""

from __future__ import annotations

from dataclasses import replace

import torch

from .corpus import QA, CorpusError
from .tokenizer import WordTokenizer
from .train import IGNORE


def encode(tok: WordTokenizer, qas: list[QA], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` and answer-only targets ``y`` (see the module text), ``len(qas) x length``."""
    x = torch.full((len(qas), length), tok.pad, dtype=torch.long)
    y = torch.full((len(qas), length), IGNORE, dtype=torch.long)
    for i, qa in enumerate(qas):
        ids, sep = tok.encode_pair(qa.question, qa.answer)
        if len(ids) > length:
            raise CorpusError(f"question-answer pair {i} has {len(ids)} tokens, over {length}")
        x[i, : len(ids)] = torch.tensor(ids)
        y[i, sep : len(ids) - 1] = torch.tensor(ids[sep + 1 :])
    return x, y


def encode_answers(
    tok: WordTokenizer, qas: list[QA], answers: list[str], length: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The questions of ``qas`` with other answers (paraphrased, perturbed)."""
    alt = [replace(q, answer=a) for q, a in zip(qas, answers, strict=True)]
    return encode(tok, alt, length)
