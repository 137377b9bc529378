"""The text track: fictitious facts, a small transformer, language-model unlearning metrics.

Importing it registers the ``tinylm`` architecture in :mod:`unlearn_core.models`; the
language methods live in :mod:`unlearn_core.methods.language` (family ``"language"``).
"""

from .corpus import QA, Corpus, CorpusError, load_jsonl, make_corpus
from .data import (
    TEXT_RECIPE,
    TINYLM_KWARGS,
    TextDataset,
    TextForgetRequest,
    facts_dataset,
    text_dataset,
    text_split,
    train_tinylm,
)
from .tinylm import TinyLM
from .tokenizer import WordTokenizer

__all__ = [
    "QA",
    "TEXT_RECIPE",
    "TINYLM_KWARGS",
    "Corpus",
    "CorpusError",
    "TextDataset",
    "TextForgetRequest",
    "TinyLM",
    "WordTokenizer",
    "facts_dataset",
    "load_jsonl",
    "make_corpus",
    "text_dataset",
    "text_split",
    "train_tinylm",
]
