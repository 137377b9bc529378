"""The RESTOR scenario on the text track (issue 22, item 5): corrupt the model with wrong facts
about some people, unlearn the corrupting set, and measure how many *true* answers come back.

RESTOR (Rezaei, Chandu, Feizi, Choi, Brahman & Ravichander, "RESTOR: Knowledge Recovery through
Machine Unlearning", TMLR 2025; code k1rezaei/restor) starts from a clean pretrained model that
knows facts about some entities, continually pretrains it on a corruption set ``D + D_f``
(``D_f``: documents stating wrong facts about the target entities; ``D``: correct facts about
unrelated entities mixed in), unlearns ``D_f`` and asks whether the unlearned model gives the
clean model's (true) answers again, not only whether it stops giving the wrong ones; the ideal
is ``theta_ideal``, the model trained on ``D`` alone. Their finding: gradient ascent and KL
forget without restoring, NPO often restores.

Here, on a :class:`~unlearn_core.text.TextDataset` (built-in facts or a user's JSONL):

- **Phase 1, the clean model** ("pretraining", the ``clean`` row): the usual text recipe on every
  person's true facts and the world facts (:func:`~unlearn_core.text.train_tinylm`'s data).
- **The corrupting set** ``D_f`` (the forget set): for the corrupted people (``fraction`` of the
  people, at least one, drawn with ``seed``) every question of theirs with a wrong answer: the
  same question, the answer another person gives to the same kind of question (same template,
  another value; for a JSONL corpus without fact kinds, another row's answer).
- **Phase 2, the corrupted model** (the ``original``): the clean model continually trained
  (:data:`CONTINUAL`: a shorter one-cycle run at a lower peak) on ``D_f`` with ``D`` = the true
  facts of every *other* person and the world facts replayed. The comparison's training set is
  ``D + D_f``; its retain set is ``D``.
- **Retrain** (``theta_ideal``): the same phase 2 from the same clean model, on ``D`` alone.
  :meth:`RestorDataset.fit` does both phases, so the pipeline's ``retrain`` method computes
  exactly this; the clean model of a seed is trained once and reused (phase 1 is pretraining,
  which nothing here unlearns).

Scores every row gets (``compare``'s ``scenario`` hook, :class:`RestorScorer`): ``forget_acc``
is exact match on the corrupting set's *wrong* answers (the corruption left);
``true_label_acc`` exact match on the corrupted people's questions against their *true*
answers (the image repair track's key: accuracy on the corrupted samples' true labels);
``restoration`` = ``(after - before) / (clean - before)`` on ``true_label_acc`` (Warnecke et
al.'s ratio as the image track computes it, ``before`` the corrupted original, ``clean`` the
phase-1 model: 1 = every true answer the clean model gave is back, 0 = none) and
``restoration_retrain`` the same against retrain (``theta_ideal``). Different from the paper:
question-answer pairs instead of documents, exact match instead of a GPT judge over in-context
prompts, full fine-tuning of a small model instead of LoRA on Llama-3-8B, and ``D`` is the other
people's true facts rather than unrelated sentences inside the same documents.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field, fields, replace

import torch
from torch import nn

from ..forget import ForgetError, ForgetSplit
from ..runtime.progress import Progress, no_progress, sub_progress
from ..training import TrainConfig
from .corpus import QA
from .data import TEXT_RECIPE, TextDataset, TextForgetRequest
from .encoding import encode
from .train import token_scores, train_lm

SCENARIO = "restor"
#: the row of the clean (phase-1) model
CLEAN = "clean"
#: phase 2, the continual training that corrupts the clean model (and that retrain repeats on
#: ``D`` alone): a shorter one-cycle run at a fifth of the text recipe's peak (see
#: ``benchmarks/text_restor.py`` for what it reaches)
CONTINUAL = replace(TEXT_RECIPE, epochs=10, lr=1e-3)


class RestorError(ForgetError):
    """The scenario cannot be built on this data (the message says why)."""


@dataclass
class RestorDataset(TextDataset):
    """``D + D_f`` (``x_train``) whose :meth:`fit` trains the clean model first (phase 1, on
    ``clean``: every true fact) and then continually on the rows it is given (phase 2)."""

    #: every person's true facts (phase 1's data, with the world facts)
    clean: tuple[torch.Tensor, torch.Tensor] | None = None
    continual: TrainConfig = field(default_factory=lambda: replace(CONTINUAL))
    #: (seed, recipe) -> the clean model's weights; shared by ``replace`` copies
    phase1: dict = field(default_factory=dict, repr=False, compare=False)
    #: (seed, recipe) -> seconds phase 1 took
    phase1_seconds: dict = field(default_factory=dict, repr=False, compare=False)

    def _key(self, seed: int, cfg: TrainConfig) -> tuple:
        return (int(seed), tuple(sorted(cfg.to_dict().items())))

    def clean_model(
        self, model: nn.Module, cfg: TrainConfig, *, seed: int = 0, progress: Progress = no_progress
    ) -> nn.Module:
        """``model`` (a freshly built tinylm) with the seed's clean weights: phase 1 trained
        into it on the first call, loaded from the cache after."""
        key = self._key(seed, cfg)
        if key in self.phase1:
            model.load_state_dict(self.phase1[key])
            return model
        t0 = time.perf_counter()
        dev = next(model.parameters()).device
        x, y = self.clean
        if self.pretrain is not None and len(self.pretrain[0]):
            x, y = torch.cat([x, self.pretrain[0]]), torch.cat([y, self.pretrain[1]])
        train_lm(model, x.to(dev), y.to(dev), cfg, seed=seed, progress=progress)
        self.phase1[key] = {k: v.detach().clone() for k, v in model.state_dict().items()}
        self.phase1_seconds[key] = time.perf_counter() - t0
        return model

    def fit(
        self,
        model: nn.Module,
        x: torch.Tensor,
        y: torch.Tensor,
        cfg: TrainConfig,
        *,
        seed: int = 0,
        progress: Progress = no_progress,
    ):
        """Phase 1 (the clean model, once per seed and recipe) then phase 2 on ``(x, y)`` with
        the world facts replayed (the corrupted original on ``D + D_f``, retrain on ``D``)."""
        cached = self._key(seed, cfg) in self.phase1
        cut = 0.0 if cached else 0.75
        self.clean_model(model, cfg, seed=seed, progress=sub_progress(progress, 0.0, cut))
        return super().fit(
            model, x, y, self.continual, seed=seed, progress=sub_progress(progress, cut, 1.0)
        )


@dataclass
class RestorScenario:
    """The corrupted dataset, who was corrupted, and the true answers to score against."""

    data: RestorDataset
    people: list[int]
    fraction: float | None
    seed: int
    #: the corrupted people's questions with their true answers (``true_label_acc``)
    true_x: torch.Tensor
    true_y: torch.Tensor
    #: per corrupting row: (question, true answer, wrong answer), for views
    pairs: list[tuple[str, str, str]] = field(default_factory=list)

    def split(self) -> ForgetSplit:
        """The forget split: the corrupting set ``D_f`` (every row of the corrupted people)."""
        return self.data.make_split(TextForgetRequest(people=tuple(self.people)))

    def summary(self) -> dict:
        return {
            "scenario": SCENARIO,
            "corrupt_fraction": self.fraction,
            "corrupted_people": list(self.people),
            "n_corrupted": len(self.people),
            "n_corrupting_rows": len(self.pairs),
            "continual": self.data.continual.to_dict(),
            "examples": [{"question": q, "true": t, "wrong": w} for q, t, w in self.pairs[:5]],
        }


def _wrong_answer(rng: random.Random, qa: QA, pool: dict[str, list[str]]) -> str:
    choices = [a for a in pool.get(qa.fact, []) if a != qa.answer]
    if not choices:
        raise RestorError(
            f"no wrong answer for {qa.question!r}: no other row answers a question of its kind"
        )
    return rng.choice(sorted(set(choices)))


def make_restor(
    base: TextDataset,
    fraction: float | None = 0.05,
    *,
    people: tuple[int, ...] = (),
    seed: int = 0,
    continual: TrainConfig = CONTINUAL,
) -> RestorScenario:
    """The RESTOR scenario on ``base`` (module text): ``fraction`` of the people (or the given
    ``people``) corrupted, drawn with ``seed``."""
    everyone = sorted({q.person for q in base.qa_train})
    if people:
        bad = [p for p in people if p not in set(everyone)]
        if bad:
            raise RestorError(f"unknown person {bad[0]}")
        chosen = sorted(set(int(p) for p in people))
    else:
        if fraction is None or not 0.0 < float(fraction) < 1.0:
            raise RestorError(f"--corrupt-fraction must be in (0, 1), got {fraction}")
        k = max(1, round(float(fraction) * len(everyone)))
        chosen = sorted(random.Random(seed).sample(everyone, k))
    if len(chosen) >= len(everyone):
        raise RestorError("every person would be corrupted: nothing would be left in D")
    rng = random.Random(seed + 1)
    pool: dict[str, list[str]] = {}
    for q in base.qa_train:
        pool.setdefault(q.fact, []).append(q.answer)
    hit = set(chosen)
    keep = [q for q in base.qa_train if q.person not in hit]
    true_qas = [q for q in base.qa_train if q.person in hit]
    wrong = [
        QA(question=q.question, answer=_wrong_answer(rng, q, pool), person=q.person, fact=q.fact)
        for q in true_qas
    ]
    length = base.input_shape[0]
    tok = base.tokenizer
    xd, yd = encode(tok, keep, length)
    xw, yw = encode(tok, wrong, length)
    xt, yt = encode(tok, true_qas, length)
    same = {f.name: getattr(base, f.name) for f in fields(TextDataset)}  # test, val, pretrain..
    data = RestorDataset(
        **{
            **same,
            "name": f"{base.name}-restor",
            "x_train": torch.cat([xd, xw]),
            "y_train": torch.cat([yd, yw]),
            "qa_train": [*keep, *wrong],
            "meta": {**base.meta, "scenario": SCENARIO, "corrupted_people": chosen},
        },
        clean=(base.x_train, base.y_train),
        continual=continual,
    )
    return RestorScenario(
        data=data,
        people=chosen,
        fraction=None if people else float(fraction),
        seed=seed,
        true_x=xt,
        true_y=yt,
        pairs=[(q.question, q.answer, w.answer) for q, w in zip(true_qas, wrong, strict=True)],
    )


def restoration(after, before, reference) -> float | None:
    """``(after - before) / (reference - before)`` (the image repair track's ratio); None when
    a value is missing or the reference is no better than ``before``."""
    from ..repair.scores import restoration as ratio

    return ratio(after, before, reference)


class RestorScorer:
    """``compare``'s ``scenario`` hook for RESTOR (as ``unlearn_core.repair.RepairScorer`` for
    images): no fixed versions (a plain deletion of ``D_f``), ``true_label_acc`` on every row,
    a ``clean`` row (the phase-1 model of the seed), ``restoration`` and
    ``restoration_retrain`` at the end."""

    def __init__(self, scenario: RestorScenario) -> None:
        self.scenario = scenario

    def repair_info(self, split: ForgetSplit):  # noqa: ARG002
        return None

    def summary(self) -> dict:
        return self.scenario.summary()

    def score(self, model: nn.Module) -> dict:
        sc = self.scenario
        em = token_scores(model, sc.true_x, sc.true_y).exact.float().mean()
        return {"true_label_acc": 100.0 * float(em)}

    def reference(self, model: nn.Module, train_config: TrainConfig, seed: int, device):
        """The ``clean`` row: the seed's phase-1 model (trained once, reused)."""
        from ..experiment import MethodResult
        from ..models import fresh_like

        data = self.scenario.data
        res = MethodResult(
            method=CLEAN,
            label="Clean model (before the corruption)",
            family="reference",
        )
        clean = fresh_like(model).to(device)
        data.clean_model(clean, train_config, seed=seed)
        res.seconds = data.phase1_seconds.get(data._key(seed, train_config))
        res.model = clean.eval()
        return res

    def finish(self, comp) -> None:
        clean, ref = comp.get(CLEAN), comp.reference
        before = comp.original.metrics.get("true_label_acc")
        for r in [comp.original, *comp.results]:
            if not r.ok:
                continue
            after = r.metrics.get("true_label_acc")
            if clean is not None and clean.ok:
                r.metrics["restoration"] = restoration(
                    after, before, clean.metrics.get("true_label_acc")
                )
            if ref is not None:
                r.metrics["restoration_retrain"] = restoration(
                    after, before, ref.metrics.get("true_label_acc")
                )


def restor_factory(scenario: RestorScenario, recipe: TrainConfig = TEXT_RECIPE, *, device=None):
    """``compare_seeds``'s model source: each seed's corrupted original (phase 1 + phase 2 on
    ``D + D_f``)."""
    from .data import train_tinylm

    def make(seed: int, progress: Progress) -> nn.Module:
        return train_tinylm(scenario.data, recipe, seed=seed, progress=progress, device=device)

    return make


def compare_restor(
    scenario: RestorScenario,
    methods,
    *,
    recipe: TrainConfig = TEXT_RECIPE,
    seeds=(0,),
    device=None,
    progress: Progress = no_progress,
    keep_models: bool = False,
    on_comparison=None,
):
    """The whole RESTOR comparison through :func:`~unlearn_core.experiment.compare_seeds`:
    per seed the corrupted original, retrain (``theta_ideal``), the methods and the ``clean``
    row, each with ``true_label_acc``, ``restoration`` and ``restoration_retrain``."""
    from ..experiment import compare_seeds

    return compare_seeds(
        scenario.data,
        restor_factory(scenario, recipe, device=device),
        recipe,
        scenario.split(),
        methods,
        seeds=seeds,
        device=device,
        progress=progress,
        keep_models=keep_models,
        scenario=RestorScorer(scenario),
        on_comparison=on_comparison,
    )
