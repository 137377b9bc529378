"""The text track's dataset: a :class:`TextDataset` holds tokenised question-answer pairs with
the attribute names the pipeline reads from an image ``Dataset`` (``x_train`` / ``y_train``,
``x_val`` / ``y_val``, ``x_test`` / ``y_test``, ``without_test``, ``n_val`` ...), so
``UnlearnTask``'s forget / retain / validation views, the forget split and the run records
work unchanged. Rows of ``x`` are ``<bos> question <sep> answer <eos>`` (``<pad>``-filled);
``y`` holds the next answer token at each position and ``-100`` elsewhere (:mod:`.train`).

The three splits: ``train`` = the people's facts (forget and retain sets index it); ``val`` =
held-out people never trained on (membership-attack non-members; decisions may read it);
``test`` = the world facts, which only score (``test_acc``). Every model also *learns* the
world facts, as a language model brings general knowledge from pre-training: they are the
recipe's ``pretrain`` part, which training and the retrain reference read (:meth:`fit`) and
unlearning methods never do (:meth:`without_test` keeps ``pretrain`` for the retrain only).
A corpus made with ``n_world_val`` holds further world facts, learned with the others but kept
out of ``test`` (``world_val``): a validation slice of general knowledge that calibration reads
in place of the scored world facts (``test_acc`` is then on the ``n_world`` others only).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

import torch
from torch import nn

from ..forget import ForgetError, ForgetSplit
from ..models import build_model
from ..runtime.device import seed_everything
from ..runtime.progress import Progress, no_progress
from ..training import History, TrainConfig
from . import tinylm as _tinylm  # noqa: F401  (registers the architecture)
from .corpus import QA, Corpus, make_corpus
from .encoding import encode
from .tokenizer import WordTokenizer
from .train import train_lm

KIND = "text"

#: the recipe that memorises the default corpus (200 people x 10 facts + 200 world facts) on
#: 2 CPU cores (``benchmarks/text.py``): AdamW, one-cycle, batch 64. Accuracy on answer tokens
#: plateaus near 70 % (the template words) for the first third, then the facts are learned
#: during the annealing: 30 epochs reached 98.8 % exact match (d_model 96), 25 were too few.
TEXT_RECIPE = TrainConfig(
    epochs=30, batch_size=64, lr=5e-3, optimizer="adamw", weight_decay=0.01, schedule="onecycle"
)
#: the default model: about 0.39M parameters with the default corpus's 1 679 words
TINYLM_KWARGS = {"d_model": 96, "n_layer": 2, "n_head": 4}


@dataclass
class TextDataset:
    """Question-answer pairs as tensors plus the corpus and tokenizer behind them."""

    name: str
    corpus: Corpus
    tokenizer: WordTokenizer
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    #: the world facts every model learns with its training data (see the module text)
    pretrain: tuple[torch.Tensor, torch.Tensor] | None = None
    #: world facts learned (in ``pretrain``) but never scored: a validation slice of general
    #: knowledge that calibration may read (``make_corpus(n_world_val=...)``); None: none
    world_val: tuple[torch.Tensor, torch.Tensor] | None = None
    #: the question-answer records of the rows of each split
    qa_train: list[QA] = field(default_factory=list)
    qa_test: list[QA] = field(default_factory=list)
    qa_val: list[QA] = field(default_factory=list)
    kind: str = KIND
    meta: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        """The people's names (a forget request names people by their index here)."""
        return list(self.corpus.names)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (int(self.x_train.shape[1]),)

    @property
    def num_classes(self) -> int:
        """The vocabulary size (a language model's classes are its tokens)."""
        return len(self.tokenizer)

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_test(self) -> int:
        return len(self.x_test)

    @property
    def n_val(self) -> int:
        return len(self.x_val)

    @property
    def people(self) -> torch.Tensor:
        """The person of each training row."""
        return torch.tensor([q.person for q in self.qa_train], dtype=torch.long)

    def without_test(self) -> TextDataset:
        """What a method is given: no test rows (the world facts only score)."""
        return replace(self, x_test=self.x_test[:0], y_test=self.y_test[:0], qa_test=[])

    def fit(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        cfg: TrainConfig,
        *,
        seed: int = 0,
        progress: Progress = no_progress,
    ) -> History:
        """The text recipe: train on ``(x, y)`` together with the world facts (``pretrain``),
        answer tokens only. The original trains on every person, the retrain on the retain set."""
        if self.pretrain is not None and len(self.pretrain[0]):
            px, py = (t.to(x.device) for t in self.pretrain)
            x, y = torch.cat([x, px]), torch.cat([y, py])
        return train_lm(model, x, y, cfg, seed=seed, progress=progress)

    # --- what the pipeline asks of a dataset kind whose scoring is not the image one
    def make_split(self, request: TextForgetRequest) -> ForgetSplit:
        """The forget split of ``request`` (:func:`text_split`)."""
        return text_split(self, request)

    def evaluate_model(self, model: nn.Module, split: ForgetSplit):
        """Every score of ``model`` on ``split`` (:func:`.evaluate.evaluate_model`)."""
        from .evaluate import evaluate_model

        return evaluate_model(model, self, split)

    def score(self, ev, split: ForgetSplit, *, seed: int = 0) -> dict:  # noqa: ARG002
        """The metrics of an evaluation (:func:`.evaluate.score`; deterministic, no seed)."""
        from .evaluate import score

        return score(ev)

    def summary(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "people": self.corpus.n_people,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "vocabulary": len(self.tokenizer),
            "block_size": self.input_shape[0],
        }


def text_dataset(corpus: Corpus, *, block_size: int | None = None) -> TextDataset:
    """Tokenise ``corpus`` (its own word vocabulary) into a :class:`TextDataset`."""
    tok = WordTokenizer.build(corpus.texts())
    every = [*corpus.facts, *corpus.heldout, *corpus.world, *corpus.world_val]
    longest = max(
        len(tok.encode_pair(q.question, a)[0])
        for q in every
        for a in (q.answer, q.paraphrased, *q.perturbed)
        if a
    )
    length = block_size or longest
    x, y = encode(tok, corpus.facts, length)
    xt, yt = encode(tok, corpus.world, length)
    xv, yv = encode(tok, corpus.heldout, length)
    world_val = encode(tok, corpus.world_val, length) if corpus.world_val else None
    pretrain = (
        (xt, yt)
        if world_val is None
        else (torch.cat([xt, world_val[0]]), torch.cat([yt, world_val[1]]))
    )
    return TextDataset(
        name=corpus.name,
        corpus=corpus,
        tokenizer=tok,
        x_train=x,
        y_train=y,
        x_test=xt,
        y_test=yt,
        x_val=xv,
        y_val=yv,
        pretrain=pretrain,
        world_val=world_val,
        qa_train=list(corpus.facts),
        qa_test=list(corpus.world),
        qa_val=list(corpus.heldout),
    )


def train_tinylm(
    data: TextDataset,
    cfg: TrainConfig = TEXT_RECIPE,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
    model_kwargs: dict | None = None,
) -> nn.Module:
    """A tinylm trained on every person's facts and the world facts (the original), seeded
    (initial weights included); in eval mode on ``device`` (default: the CPU)."""
    seed_everything(seed)
    kw = TINYLM_KWARGS if model_kwargs is None else model_kwargs
    model = build_model("tinylm", data.input_shape, data.num_classes, **kw)
    dev = torch.device(device) if device is not None else torch.device("cpu")
    model.to(dev)
    data.fit(model, data.x_train.to(dev), data.y_train.to(dev), cfg, seed=seed, progress=progress)
    return model.eval()


def facts_dataset(
    n_people: int = 200, facts_per_person: int = 10, *, seed: int = 0, **kw
) -> TextDataset:
    """The built-in ``facts`` dataset: :func:`corpus.make_corpus` tokenised."""
    return text_dataset(make_corpus(n_people, facts_per_person, seed=seed, **kw))


# ----------------------------------------------------------------------------- forget requests


@dataclass(frozen=True)
class TextForgetRequest:
    """What to forget from a text dataset: a ``fraction`` of the people (TOFU's forget01 /
    forget05 / forget10 are 0.01 / 0.05 / 0.10; at least one person), chosen ``people``
    (indices into ``data.classes``), or single ``facts`` (training row indices)."""

    people: tuple[int, ...] = ()
    fraction: float | None = None
    facts: tuple[int, ...] = ()
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "people", tuple(int(p) for p in self.people))
        object.__setattr__(self, "facts", tuple(int(f) for f in self.facts))

    @property
    def kind(self) -> str:
        if self.facts:
            return "facts"
        return "people_fraction" if self.fraction is not None else "people"

    # the image request's fields, empty, so the run records read it alike
    classes: tuple[int, ...] = ()
    indices: tuple[int, ...] = ()

    def describe(self, class_names: list[str] | None = None) -> str:
        if self.kind == "facts":
            return f"{len(self.facts)} chosen fact{'s' if len(self.facts) != 1 else ''}"
        if self.kind == "people_fraction":
            return f"random {self.fraction:.0%} of the people (seed {self.seed})"
        names = [class_names[p] if class_names else str(p) for p in self.people]
        return f"people {', '.join(names)}" if len(names) <= 3 else f"{len(names)} chosen people"

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "people": list(self.people),
            "fraction": self.fraction,
            "facts": list(self.facts),
            "seed": self.seed,
            "classes": [],
            "indices": [],
        }


def forget_people(data: TextDataset, request: TextForgetRequest) -> list[int]:
    """The people a request forgets whole (empty for a facts request)."""
    everyone = sorted({q.person for q in data.qa_train})
    if request.facts:
        if request.people or request.fraction is not None:
            raise ForgetError("give either facts or people / a fraction, not both")
        return []
    if request.fraction is not None:
        f = float(request.fraction)
        if not 0.0 < f < 1.0:
            raise ForgetError(f"fraction must be in (0, 1), got {f}")
        k = max(1, round(f * len(everyone)))
        return sorted(random.Random(request.seed).sample(everyone, k))
    if not request.people:
        raise ForgetError("the forget request is empty: choose people, facts or a fraction")
    bad = [p for p in request.people if p not in set(everyone)]
    if bad:
        raise ForgetError(f"unknown person {bad[0]}: people are {everyone[0]}..{everyone[-1]}")
    return sorted(set(request.people))


def text_split(data: TextDataset, request: TextForgetRequest) -> ForgetSplit:
    """Resolve ``request`` into forget and retain rows of ``data``."""
    n = data.n_train
    people = forget_people(data, request)
    if request.facts:
        bad = [i for i in request.facts if not 0 <= i < n]
        if bad:
            raise ForgetError(
                f"fact {bad[0]} is out of range: the training set has {n} (0..{n - 1})"
            )
        forget = torch.tensor(sorted(set(request.facts)), dtype=torch.long)
    else:
        forget = torch.nonzero(torch.isin(data.people, torch.tensor(people))).flatten()
    if len(forget) >= n:
        raise ForgetError("the forget set covers every fact: nothing would be left to retain")
    keep = torch.ones(n, dtype=torch.bool)
    keep[forget] = False
    return ForgetSplit(
        request=request,  # type: ignore[arg-type]  # the text request reads like the image one
        forget_idx=forget,
        retain_idx=torch.nonzero(keep).flatten(),
        forgotten_classes=(),
    )
