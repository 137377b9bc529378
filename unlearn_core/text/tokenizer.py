"""A word-level tokenizer built from the corpus (words and punctuation marks are tokens).

The ``tokenizers`` library is not installed here and a word-level vocabulary of a few hundred
words is all a fictitious-facts corpus needs: every word of every question, answer,
paraphrase and perturbed answer gets an id, so nothing is unknown within the corpus.
A sequence is ``<bos> question <sep> answer <eos>``; see :meth:`WordTokenizer.encode_pair`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

PAD, BOS, SEP, EOS, UNK = "<pad>", "<bos>", "<sep>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, SEP, EOS, UNK)
_WORD = re.compile(r"\w+|[^\w\s]")


def words(text: str) -> list[str]:
    """``text`` split into words and single punctuation marks."""
    return _WORD.findall(text)


class WordTokenizer:
    """Word <-> id; ids 0..4 are the special tokens (``<pad>`` is 0)."""

    def __init__(self, vocab: list[str]) -> None:
        if tuple(vocab[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("a vocabulary starts with the special tokens")
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.pad, self.bos, self.sep, self.eos, self.unk = range(len(SPECIALS))

    @classmethod
    def build(cls, texts: Iterable[str]) -> WordTokenizer:
        """A vocabulary of every word in ``texts``, in order of first appearance."""
        seen = dict.fromkeys(SPECIALS)
        for t in texts:
            for w in words(t):
                seen.setdefault(w)
        return cls(list(seen))

    def __len__(self) -> int:
        return len(self.vocab)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(w, self.unk) for w in words(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """Words joined by spaces, no space before punctuation; specials left out."""
        out = ""
        for i in ids:
            w = self.vocab[int(i)]
            if w in SPECIALS:
                continue
            out += w if (not out or not re.match(r"\w", w) and w not in "(\"'") else " " + w
        return out

    def encode_pair(self, question: str, answer: str) -> tuple[list[int], int]:
        """``<bos> q <sep> a <eos>`` and the position of ``<sep>`` (the prompt ends there)."""
        q = [self.bos, *self.encode(question), self.sep]
        return [*q, *self.encode(answer), self.eos], len(q) - 1

    def to_json(self) -> str:
        return json.dumps({"kind": "word", "vocab": self.vocab})

    @classmethod
    def from_json(cls, text: str) -> WordTokenizer:
        d = json.loads(text)
        if d.get("kind") != "word":
            raise ValueError(f"not a word tokenizer: {d.get('kind')!r}")
        return cls(list(d["vocab"]))
