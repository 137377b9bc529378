"""Recovery attacks on a language model (issue 22, item 4): relearning and quantisation.

API (model, data, split -> typed record; the model is never changed):

- :func:`quantize_attack` ``(model, data, split, bits=(8, 4)) -> QuantAttack``: forget (and
  retain) exact match at full precision and after round-to-nearest of the weights to each of
  ``bits``. ``QuantAttack.row()`` gives ``quant8_forget_acc`` / ``quant4_forget_acc`` (the
  image track's keys) and ``quant8_retain_acc`` / ``quant4_retain_acc``.
- :func:`relearn_attack` ``(model, data, split, steps=30, seed=0, name=...) -> RelearnCurve``
  (the image track's record, :class:`unlearn_core.audit.recovery.RelearnCurve`): forget exact
  match after each fine-tuning step, on the forget rows *not* relearned on.
- :func:`attack_comparison` ``(comp, data, split, attacks)`` runs both on every model of a
  :class:`~unlearn_core.experiment.Comparison` whose models are kept, and writes the rows'
  numbers (:data:`ATTACK_ROW_KEYS`) into each result's ``metrics``. ``unlearn compare
  --dataset facts --model tinylm --attacks relearn,quantize`` calls it once per seed.

**Quantisation** (Zhang et al. 2024, "Does your LLM truly unlearn? An embarrassingly simple
approach to recover unlearned knowledge", arXiv 2410.16454): an unlearned model whose updates
are small may give the forgotten answers back once its weights are rounded; a retrained one has
nothing to give back. The grid is the image track's (:func:`unlearn_core.audit.quantize.rtn`:
symmetric absmax round-to-nearest per output channel, 127 levels a side for int8, 7 for 4-bit)
applied to every ``nn.Linear`` weight of the transformer blocks. Different from the image
track's :func:`~unlearn_core.audit.quantize.quantize_model`: the token embedding and the head
tied to it stay in full precision, as bitsandbytes through ``transformers`` (the authors' code,
zzwjames/FailureLLMUnlearning, ``load_in_8bit`` / ``load_in_4bit``) keeps ``lm_head`` and the
embeddings unquantised; biases and LayerNorms stay in full precision as there. Their int8 is
LLM.int8 (outlier columns kept in 16 bits) and their 4-bit FP4 in blocks of 64; ours is the
plain integer RTN grid.

**Relearning** (as the image track's :func:`unlearn_core.audit.relearn.relearn`, "forget"
mode): fine-tune a copy for ``steps`` full-batch steps on a small relearning set, in train
mode, with the recipe's optimiser (AdamW, betas as :func:`~unlearn_core.text.train.train_lm`)
at ``lr_scale`` x the recipe's ``lr``, no weight decay, on answer tokens only. The default
scale is :data:`LR_SCALE` (0.02: 1e-4 with the text recipe's one-cycle peak 5e-3), not the
image rule's 0.1: measured on 60 people x 8 facts, forget 10 %, 30 steps, the original fell from
100 % to 73 % forget exact match at 0.05 x (and to 57 % at 0.1 x), to 87 % at 0.02 x and kept
100 % at 0.005 x, while gradient ascent's model rose from 30 % to 60 % at 0.02 x (40 % at
0.005 x) and retrain stayed at 0-10 % at every rate. The set: ``forget_per_person`` forget
rows of each forgotten person (a person's facts stand where the image track has a class),
leaving at least one of each person's rows to score, plus as many retain rows (``retain_rows``,
drawn at random) so that the set is not all forget rows, as the image track mixes retain
samples in. Scored: forget exact match on the forget rows not relearned on (other facts of the
same people), after every step. A model that only hid the facts gets them back in a few steps;
one retrained without them cannot (the facts are independent draws). The curves of one seed
are read like the image track's (:func:`unlearn_core.audit.recovery.recovery_summary`: the
target ``r0 + 0.9 (o - r0)`` between retrain's start ``r0`` and the original's ``o``, steps to
it, the Anamnesis Index against retrain's steps).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from ..audit.quantize import BITS, rtn
from ..audit.recovery import FRACTION, RelearnCurve, recovery_summary
from ..evaluation.tables import TEXT_ATTACK_ROW_KEYS
from ..forget import ForgetSplit
from ..runtime.device import seed_everything
from ..runtime.progress import Progress, checkpoint, no_progress
from ..training import TrainConfig, model_device
from .train import lm_loss, token_scores

#: the attacks ``--attacks`` can ask for (the image audit's names)
ATTACKS = ("relearn", "quantize")
#: optimiser steps of the relearning attack (the image track's budget)
STEPS = 30
#: the relearning rate as a share of the recipe's ``lr`` (module text)
LR_SCALE = 0.02
#: the numbers the attacks add to a comparison's rows
ATTACK_ROW_KEYS = TEXT_ATTACK_ROW_KEYS


def _key(bits: int | None) -> str:
    return "full" if bits is None else f"int{bits}"


def _tied_to_embedding(model: nn.Module, mod: nn.Linear) -> bool:
    emb = {id(m.weight) for m in model.modules() if isinstance(m, nn.Embedding)}
    return id(mod.weight) in emb


def quantize_lm(model: nn.Module, bits: int, per_channel: bool = True) -> nn.Module:
    """A copy of ``model`` with every ``nn.Linear`` weight not tied to an embedding (the head of
    a tied model) RTN-quantised to ``bits`` (module text); ``model`` itself is not changed."""
    out = copy.deepcopy(model)
    with torch.no_grad():
        for mod in out.modules():
            if isinstance(mod, nn.Linear) and not _tied_to_embedding(out, mod):
                mod.weight.copy_(rtn(mod.weight, bits, per_channel))
    return out


def _em(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float | None:
    if len(x) == 0:
        return None
    return 100.0 * float(token_scores(model, x, y).exact.float().mean())


@dataclass
class QuantAttack:
    """Exact match (percent) on the forget and retain rows at full precision (``"full"``) and
    after quantisation (``"int8"``, ``"int4"``)."""

    forget_em: dict[str, float | None]
    retain_em: dict[str, float | None]
    scheme: str = "RTN symmetric absmax per output channel; embedding and tied head kept"

    def row(self) -> dict:
        out = {}
        for k, v in self.forget_em.items():
            if k != "full":
                out[f"quant{k[3:]}_forget_acc"] = v
        for k, v in self.retain_em.items():
            if k != "full":
                out[f"quant{k[3:]}_retain_acc"] = v
        return out

    def to_dict(self) -> dict:
        return asdict(self)


def quantize_attack(
    model: nn.Module,
    data,
    split: ForgetSplit,
    *,
    bits: Sequence[int] = BITS,
    per_channel: bool = True,
    retain_cap: int | None = 400,
) -> QuantAttack:
    """Forget / retain exact match of ``model`` and of its quantised copies (module text).
    ``retain_cap``: retain rows read (evenly spaced; None: all)."""
    fi, ri = split.forget_idx, split.retain_idx
    if retain_cap is not None and len(ri) > retain_cap:
        ri = ri[torch.linspace(0, len(ri) - 1, retain_cap).round().long()]
    xf, yf = data.x_train[fi], data.y_train[fi]
    xr, yr = data.x_train[ri], data.y_train[ri]
    forget, retain = {"full": _em(model, xf, yf)}, {"full": _em(model, xr, yr)}
    for b in bits:
        q = quantize_lm(model, b, per_channel)
        forget[_key(b)], retain[_key(b)] = _em(q, xf, yf), _em(q, xr, yr)
    return QuantAttack(forget_em=forget, retain_em=retain)


# ----------------------------------------------------------------------------- relearning


@dataclass(frozen=True)
class TextRelearnConfig:
    """The relearning set and rate (module text)."""

    forget_per_person: int = 3
    #: retain rows mixed in; None: as many as the forget rows relearned on
    retain_rows: int | None = None
    #: share of the recipe's ``lr``; None: :data:`LR_SCALE`
    lr_scale: float | None = None

    def check(self) -> None:
        if self.forget_per_person < 1:
            raise ValueError(f"forget_per_person must be >= 1, got {self.forget_per_person}")
        if self.retain_rows is not None and self.retain_rows < 0:
            raise ValueError(f"retain_rows must be >= 0, got {self.retain_rows}")
        if self.lr_scale is not None and not self.lr_scale > 0:
            raise ValueError(f"lr_scale must be positive, got {self.lr_scale}")


def relearn_rows(
    data, split: ForgetSplit, cfg: TextRelearnConfig, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(relearning set, scored forget rows)``: training row indices, drawn with ``seed``."""
    gen = torch.Generator().manual_seed(int(seed))
    fi = split.forget_idx
    people = torch.tensor([data.qa_train[i].person for i in fi.tolist()], dtype=torch.long)
    parts = []
    for p in torch.unique(people).tolist():
        rows = fi[people == p]
        k = min(cfg.forget_per_person, len(rows) - 1)  # leave one of each person to score
        if k > 0:
            parts.append(rows[torch.randperm(len(rows), generator=gen)[:k]])
    if not parts:
        raise ValueError(
            "relearning needs a forgotten person with at least 2 forget rows (one to relearn "
            "on, one to score)"
        )
    forget_part = torch.cat(parts)
    n_ret = len(forget_part) if cfg.retain_rows is None else cfg.retain_rows
    ri = split.retain_idx
    retain_part = ri[torch.randperm(len(ri), generator=gen)[: min(n_ret, len(ri))]]
    idx = torch.sort(torch.cat([forget_part, retain_part])).values
    scored = fi[~torch.isin(fi, forget_part)]
    return idx, scored


def relearn_attack(
    model: nn.Module,
    data,
    split: ForgetSplit,
    *,
    steps: int = STEPS,
    seed: int = 0,
    recipe: TrainConfig | None = None,
    name: str = "model",
    progress: Progress = no_progress,
    **knobs,
) -> RelearnCurve:
    """Fine-tune a copy of ``model`` for ``steps`` full-batch steps on the relearning set and
    return its forget exact-match curve on the forget rows not relearned on (module text).
    ``knobs`` are :class:`TextRelearnConfig`'s fields; ``recipe`` the training recipe (default:
    the text recipe)."""
    from .data import TEXT_RECIPE

    unknown = set(knobs) - set(TextRelearnConfig.__dataclass_fields__)
    if unknown:
        raise ValueError(f"relearn_attack has no setting {', '.join(sorted(unknown))}")
    cfg = TextRelearnConfig(**knobs)
    cfg.check()
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    recipe = recipe or TEXT_RECIPE
    scale = cfg.lr_scale if cfg.lr_scale is not None else LR_SCALE
    lr = recipe.lr * scale
    idx, scored = relearn_rows(data, split, cfg, seed)
    work = copy.deepcopy(model)
    dev = model_device(work)
    x, y = data.x_train[idx].to(dev), data.y_train[idx].to(dev)
    xs, ys = data.x_train[scored], data.y_train[scored]
    seed_everything(seed)
    opt = torch.optim.AdamW(work.parameters(), lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    accs = [_em(work, xs, ys)]
    for step in range(steps):
        checkpoint()
        work.train()
        loss = lm_loss(work, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        accs.append(_em(work, xs, ys))
        progress((step + 1) / max(steps, 1), f"relearn {name}: step {step + 1}/{steps}")
    return RelearnCurve(
        model=name,
        mode="forget",
        steps=list(range(steps + 1)),
        forget_acc=[float(a) for a in accs],
        settings={
            **asdict(cfg),
            "optimizer": "adamw",
            "lr_scale": scale,
            "lr": lr,
            "samples": len(idx),
            "seed": seed,
        },
        seed=seed,
        scored=len(scored),
    )


# ----------------------------------------------------------------------------- a comparison


@dataclass
class AttackReport:
    """What :func:`attack_comparison` found on one seed: the curves and quantisation records
    by model name (the rows carry their numbers)."""

    curves: list[RelearnCurve] = field(default_factory=list)
    quant: dict[str, QuantAttack] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "curves": [c.to_dict() for c in self.curves],
            "quant": {k: v.to_dict() for k, v in self.quant.items()},
        }


def parse_attacks(text: str | Sequence[str] | None) -> list[str]:
    """``"relearn,quantize"`` -> ``["relearn", "quantize"]``; an unknown name is an error."""
    if not text:
        return []
    names = [a.strip() for a in (text.split(",") if isinstance(text, str) else text)]
    names = [a for a in names if a]
    bad = [a for a in names if a not in ATTACKS]
    if bad:
        raise ValueError(f"unknown attack {bad[0]!r}; choose from {', '.join(ATTACKS)}")
    return [a for a in ATTACKS if a in names]


def attack_comparison(
    comp,
    data,
    split: ForgetSplit,
    attacks: Sequence[str] = ATTACKS,
    *,
    steps: int = STEPS,
    recipe: TrainConfig | None = None,
    progress: Progress = no_progress,
    fraction: float = FRACTION,
    **knobs,
) -> AttackReport:
    """Run ``attacks`` on every model ``comp`` kept (the original, retrain, each method) and
    add their numbers (:data:`ATTACK_ROW_KEYS`) to each row's ``metrics``; the curves and
    quantisation records go in the comparison's ``forget["attacks"]`` record too."""
    attacks = parse_attacks(list(attacks))
    rows = [r for r in [comp.original, *comp.results] if r.ok and r.model is not None]
    report = AttackReport()
    relearn_error = None
    if "relearn" in attacks:
        try:  # the same set for every model: a request it cannot serve skips the attack
            relearn_rows(data, split, TextRelearnConfig(**knobs), comp.seed)
        except ValueError as exc:
            relearn_error = str(exc)
            attacks = [a for a in attacks if a != "relearn"]
    n = max(len(rows), 1)
    for i, r in enumerate(rows):
        progress(i / n, f"attacks: {r.method}")
        if "quantize" in attacks:
            q = quantize_attack(r.model, data, split)
            report.quant[r.method] = q
            r.metrics.update(q.row())
        if "relearn" in attacks:
            report.curves.append(
                relearn_attack(
                    r.model, data, split, steps=steps, seed=comp.seed, recipe=recipe,
                    name=r.method, **knobs,
                )
            )  # fmt: skip
    if report.curves:
        by_name = {r.method: r for r in rows}
        for s in recovery_summary(report.curves, fraction):
            row = by_name[s.model]
            row.metrics["relearn_forget_acc"] = s.end_acc
            row.metrics["relearn_steps"] = s.steps_to_recover
            row.metrics["relearn_ain"] = s.ain if s.model not in ("original",) else None
            row.log["relearn"] = s.to_dict()
    comp.forget["attacks"] = {
        "names": attacks,
        "relearn_steps": steps if "relearn" in attacks else None,
        "relearn_error": relearn_error,
        "quant": {k: v.to_dict() for k, v in report.quant.items()},
    }
    progress(1.0, "attacks done")
    return report
