"""Language-model unlearning methods (family ``"language"``; the text track's data only).

One file because they share everything but the loss, as in OpenUnlearning
(``locuslab/open-unlearning``, ``src/trainer/unlearn/``), where NPO and SimNPO subclass GradDiff
and override ``compute_loss``: :class:`LanguageMethod` owns the loop (AdamW, forget batches
shuffled each epoch, each paired with a random retain batch of the same size as
OpenUnlearning's ``ForgetRetainDataset`` does, gradient clipping at 1, progress once an epoch)
and each method is its loss.

Checked against the authors' code (``licong-lin/negative-preference-optimization``,
``OPTML-Group/Unlearn-Simple``, ``himalalps/ICU``, OpenUnlearning): the spec defaults of the
loss coefficients are the references' (NPO ``beta`` 0.1, ``gamma`` = ``alpha`` = 1 as the NPO
authors' ``npo_grad_diff`` and OpenUnlearning's NPO; SimNPO ``beta`` 4.5, ``delta`` 0,
``gamma`` 0.125, ``alpha`` 1 as OpenUnlearning's SimNPO, whose authors' TOFU config uses beta
2.5, npo_coeff 0.1375; ICU ``uw`` 1, ``lw`` 0.5, ``klw`` 1 as the authors' scripts). What the
``tinylm`` model runs with is its preset (``presets.json``, chosen by
``benchmarks/text_calibrate.py`` on calibration draws the report never uses, from forget,
retain and validation data only: ``benchmarks/results/text_calibration.md``): the references'
learning rates (1e-5 for 7B models, 5e-6 for ICU) do nothing to a 0.4M-parameter model in a
few hundred steps. Remaining differences: a constant learning rate (the references warm up
for one epoch, then decay linearly), AdamW with gradient clipping for every method (ICU's
authors: Adam, no clipping), sequences are our answer-masked QA rows, and the optional
``stop_at_validation`` rule (:class:`ValidationStop`; ours, after ICU's authors' stopping on a
threshold measured on unseen data) that the ``tinylm`` presets turn on.

- ``ga``: gradient ascent, loss ``-NLL(forget)``.
- ``graddiff``: ``gamma * -NLL(forget) + alpha * R(retain)``, ``R`` the retain term
  ``retain_loss`` picks: ``nll`` (the answers' mean NLL) or ``kl`` (:func:`retain_kl`), as
  OpenUnlearning's ``retain_loss_type``; NPO and SimNPO take the same switch.
- ``kl``: ``gamma * -NLL(forget) + alpha * KL(original || model)`` on every position of the
  retain rows (TOFU's "KL" baseline; OpenUnlearning's GradDiff with ``retain_loss_type: KL``).
- ``npo``: Zhang et al. 2024, ``-(2/beta) log sigmoid(-beta * (log p(y|x) - log p_ref(y|x)))``
  with summed answer log-probabilities, averaged over the batch's sequences, the reference
  being the frozen original, plus ``alpha * R(retain)`` (the authors' ``npo_grad_diff`` /
  ``npo_KL``; the paper's NPO alone is ``alpha = 0``).
- ``simnpo``: Fan et al. 2024, reference-free and length-normalised,
  ``-(2/beta) log sigmoid(beta * (NLL(y|x) / |y| - delta))`` averaged over sequences, times
  ``gamma``, plus ``alpha * R(retain)`` (``delta`` is the paper's gamma / beta). Its forget
  term reads no reference model; with ``retain_loss="kl"`` (its ``tinylm`` preset, which met
  the issue's forget-5 % target on the calibration draws and the report's seeds) the retain
  term reads the original.
- ``rmu``: Li et al. 2024 (WMDP): the residual stream after block ``layer`` on forget rows is
  pushed (MSE) to a fixed random direction scaled by ``steering_coeff``, on retain rows held
  (MSE) to the original's; only block ``layer``'s MLP and the blocks before it train (the
  paper trains three MLPs ending at the layer; ours has two blocks). Read on answer positions.
- ``icu``: Wang et al. 2024, "Learn while Unlearn" (``himalalps/ICU``): each step
  ``-uw * NLL(forget) + lw * NLL(paired retain) + klw * CE(original's next-token distribution,
  model's)`` on the paired rows, the pair of each forget row being its nearest retain row (the
  authors' KNN pairing; here cosine similarity of the original model's mean hidden state of the
  question); the CE is read on answer positions (the authors': every position of the pair);
  after every epoch each forget row whose greedy answer is no longer the true one retires with
  its pair (the authors test BERTScore / BLEU of a generated suffix); the run stops when every
  row has retired, when ``stop_at_validation`` fires (the authors stop once memorisation
  accuracy falls below that of unseen data) or after ``epochs``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models import clone_model
from ..runtime.progress import Progress, checkpoint
from ..text.train import IGNORE, sequence_nll, token_scores, trim
from .base import (
    LANGUAGE,
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    UnlearnOutput,
    UnlearnTask,
    register,
)


def _common(lr: float, epochs: int, stop: bool = False) -> tuple[Param, ...]:
    return (
        Param("lr", float, lr, (1e-6, 1e-1), "learning rate (AdamW)", log_scale=True),
        Param("epochs", int, epochs, (1, 200), "passes over the forget set (at most)"),
        Param("batch_size", int, 32, (1, 1024), "forget rows per step (and retain rows)"),
        Param(
            "stop_at_validation",
            bool,
            stop,
            None,
            "stop once the forget answers' exact match falls to the exact match on the "
            "validation people (never trained on: what a model that never saw the forget set "
            "scores; the higher of before unlearning and now), checked every check_every steps",
        ),
        Param("check_every", int, 2, (1, 1000), "steps between checks of the stopping rule"),
    )


def exact_match(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose greedy answer is the whole true answer, in percent."""
    return 100.0 * float(token_scores(model, x, y).exact.float().mean()) if len(x) else 0.0


class ValidationStop:
    """The stopping rule the text track's loop shares (``stop_at_validation``).

    Unlearning should leave the forget answers as a model that never trained on them would
    answer them; the validation split holds people no model trained on, so exact match on their
    facts is that level (guessable answers such as a favourite colour out of eight stay
    guessable). Every ``every`` optimiser steps (and before the first) the rule reads exact
    match on the forget rows and on the validation rows and fires once ``forget <= level``,
    ``level`` the higher of the validation exact match before unlearning (the original's) and
    now (a model whose general answering is being damaged scores less on the validation people
    too: the current level alone let gradient ascent run into a collapse). It reads the forget
    set and the validation split only (never the test set). ICU's authors stop the same way:
    once memorisation accuracy on the forget set falls below a threshold measured on data the
    model never saw (Jang et al.'s MA threshold; ``himalalps/ICU`` ``--acc``).
    """

    def __init__(self, task: UnlearnTask, every: int) -> None:
        self.xf, self.yf = task.forget
        self.xv, self.yv = task.validation
        self.every = max(1, int(every))
        #: (step, forget exact match, validation exact match) at each check
        self.trace: list[tuple[int, float, float]] = []
        self.stopped_at: int | None = None
        #: validation exact match at the first check (before any step: the original's)
        self.start: float | None = None

    def __call__(self, model: nn.Module, step: int) -> bool:
        if step % self.every:
            return False
        f = exact_match(model, self.xf, self.yf)
        v = exact_match(model, self.xv, self.yv)
        self.trace.append((step, round(f, 2), round(v, 2)))
        if self.start is None:
            self.start = v
        if f <= max(v, self.start):
            self.stopped_at = step
            return True
        return False

    def log(self) -> dict:
        return {
            "stopped_at_step": self.stopped_at,
            "stop_checks": self.trace,
            "validation_start": self.start,
        }


def _stopper(task: UnlearnTask, cfg: dict) -> ValidationStop | None:
    """The rule when ``stop_at_validation`` is on and the data has a validation split (a user's
    JSONL corpus has no held-out people: the run then goes the full ``epochs``)."""
    if not cfg.get("stop_at_validation") or not task.data.n_val:
        return None
    return ValidationStop(task, cfg["check_every"])


def _alpha(default: float = 1.0) -> Param:
    return Param("alpha", float, default, (0.0, 100.0), "weight of the retain loss")


def _gamma(default: float = 1.0) -> Param:
    return Param("gamma", float, default, (0.0, 100.0), "weight of the forget loss")


def mean_nll(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens of the batch (OpenUnlearning's NLL)."""
    mask = y != IGNORE
    logits = model.head(model.features(x)[mask])
    return F.cross_entropy(logits.float(), y[mask])


def retain_kl(model: nn.Module, ref: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``KL(original || model)`` of the next-token distributions on every non-padding position
    of the retain rows (question and answer), averaged over positions: OpenUnlearning's
    ``compute_kl_divergence`` (``retain_loss_type: KL``), which reads every position of the
    sequence (its ``batchmean`` also counts padding positions; ours does not)."""
    mask = x != 0
    logq = torch.log_softmax(model.head(model.features(x)[mask]).float(), -1)
    with torch.no_grad():
        logp = torch.log_softmax(ref.head(ref.features(x)[mask]).float(), -1)
    return F.kl_div(logq, logp, log_target=True, reduction="batchmean")


def _retain_loss() -> Param:
    return Param(
        "retain_loss",
        str,
        "nll",
        None,
        "retain term: NLL of the retain answers or KL to the original on retain rows "
        "(OpenUnlearning's retain_loss_type)",
        choices=("nll", "kl"),
    )


def retain_term(model, ref, retain, cfg) -> torch.Tensor:
    """The retain term ``cfg["retain_loss"]`` picks (NLL on answers, or :func:`retain_kl`)."""
    if cfg.get("retain_loss", "nll") == "kl":
        return retain_kl(model, ref, *retain)
    return mean_nll(model, *retain)


def npo_loss(logp: torch.Tensor, logp_ref: torch.Tensor, beta: float) -> torch.Tensor:
    """NPO's forget loss from per-sample summed answer log-probabilities under the model and
    the reference: ``-(2/beta) mean log sigmoid(-beta (logp - logp_ref))``. At the reference
    it is ``(2/beta) log 2``; it falls towards 0 as the model's probability drops."""
    return -(2.0 / beta) * F.logsigmoid(-beta * (logp - logp_ref)).mean()


def simnpo_loss(nll_sum: torch.Tensor, n_tokens: torch.Tensor, beta: float, delta: float):
    """SimNPO's forget loss: ``-(2/beta) mean log sigmoid(beta (nll_sum / n_tokens - delta))``."""
    return -(2.0 / beta) * F.logsigmoid(beta * (nll_sum / n_tokens.clamp_min(1) - delta)).mean()


class LanguageMethod(Method):
    """The shared loop; subclasses set ``spec`` and implement :meth:`loss`."""

    #: whether :meth:`loss` reads the frozen original (``ref``)
    uses_reference = False

    def check(self, model: nn.Module, task: UnlearnTask) -> None:
        if getattr(task.data, "kind", None) != "text":
            raise MethodNotApplicable(
                f"{self.spec.label} unlearns facts from a language model; "
                f"{task.data.name} is not a text dataset"
            )
        if not hasattr(model, "features") or getattr(model, "spec", {}).get("arch") != "tinylm":
            raise MethodNotApplicable(f"{self.spec.label} needs the tinylm language model")
        super().check(model, task)

    def loss(self, model, ref, forget, retain, cfg, state) -> torch.Tensor:
        raise NotImplementedError

    def setup(self, model, ref, task, cfg) -> dict:
        """Anything a method prepares once before its loop (RMU's direction)."""
        return {}

    def parameters(self, model: nn.Module, cfg: dict):
        return model.parameters()

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        xf, yf = task.forget
        xr, yr = task.retain if "retain" in self.spec.needs else (xf[:0], yf[:0])
        ref = None
        if self.uses_reference or cfg.get("retain_loss") == "kl":
            ref = clone_model(model).eval()
            for p in ref.parameters():
                p.requires_grad_(False)
        state = self.setup(model, ref, task, cfg)
        opt = torch.optim.AdamW(list(self.parameters(model, cfg)), lr=cfg["lr"], weight_decay=0.01)
        gen = torch.Generator().manual_seed(seed)
        dev = xf.device
        bs = int(cfg["batch_size"])
        losses = []
        stop = _stopper(task, cfg)
        step, done = 0, stop is not None and stop(model, 0)
        for epoch in range(int(cfg["epochs"])):
            if done:
                break
            model.train()
            order = torch.randperm(len(xf), generator=gen).to(dev)
            total, steps = 0.0, 0
            for s in range(0, len(xf), bs):
                checkpoint()
                fi = order[s : s + bs]
                forget = trim(xf[fi], yf[fi])
                retain = None
                if len(xr):
                    ri = torch.randint(len(xr), (len(fi),), generator=gen).to(dev)
                    retain = trim(xr[ri], yr[ri])
                loss = self.loss(model, ref, forget, retain, cfg, state)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                total, steps, step = total + float(loss.detach()), steps + 1, step + 1
                if stop is not None and stop(model, step):
                    done = True
                    break
            losses.append(total / max(steps, 1))
            progress((epoch + 1) / cfg["epochs"], f"epoch {epoch + 1}/{cfg['epochs']}")
        model.eval()
        log = {"loss": losses, "epochs": int(cfg["epochs"]), "steps": step}
        return UnlearnOutput(model, log | (stop.log() if stop is not None else {}))


def _spec(
    name: str,
    label: str,
    paper: str,
    summary: str,
    params,
    needs=("forget", "retain"),
    origin: str = "paper",
) -> MethodSpec:
    return MethodSpec(
        name=name,
        label=label,
        family=LANGUAGE,
        paper=paper,
        summary=summary,
        params=tuple(params),
        needs=needs,
        origin=origin,
    )


@register
class GradientAscentLM(LanguageMethod):
    spec = _spec(
        "ga",
        "Gradient ascent (LM)",
        "Jang et al., ACL 2023 (knowledge unlearning); TOFU baseline (Maini et al. 2024)",
        "Raise the loss of the forget answers by gradient ascent. Fast and simple, but nothing "
        "holds the rest of the model in place, so it tends to wreck retained knowledge.",
        _common(3e-4, 6),
        needs=("forget",),
    )

    def loss(self, model, ref, forget, retain, cfg, state):
        return -mean_nll(model, *forget)


@register
class GradDiff(LanguageMethod):
    spec = _spec(
        "graddiff",
        "Gradient difference",
        "Liu et al., CoLLAs 2022; TOFU baseline (OpenUnlearning GradDiff)",
        "Gradient ascent on the forget answers plus ordinary training on retained answers in "
        "the same step, so the model is pulled back towards what it should keep.",
        (*_common(3e-4, 24), _gamma(), _alpha(), _retain_loss()),
    )

    def loss(self, model, ref, forget, retain, cfg, state):
        out = -cfg["gamma"] * mean_nll(model, *forget)
        return (
            out + cfg["alpha"] * retain_term(model, ref, retain, cfg) if retain is not None else out
        )


@register
class KLRetain(LanguageMethod):
    uses_reference = True
    spec = _spec(
        "kl",
        "Gradient ascent + KL on retain",
        "TOFU baseline 'KL' (Maini et al. 2024; OpenUnlearning GradDiff, retain_loss_type KL)",
        "Gradient ascent on the forget answers while keeping the model's next-token "
        "distribution on retained questions and answers close (KL divergence) to the original "
        "model's.",
        (*_common(1e-3, 3), _gamma(), _alpha()),
    )

    def loss(self, model, ref, forget, retain, cfg, state):
        out = -cfg["gamma"] * mean_nll(model, *forget)
        return out + cfg["alpha"] * retain_kl(model, ref, *retain) if retain is not None else out


@register
class NPO(LanguageMethod):
    uses_reference = True
    spec = _spec(
        "npo",
        "NPO",
        "Zhang et al., COLM 2024, 'Negative Preference Optimization' (OpenUnlearning NPO)",
        "Treat the forget answers as dispreferred against the original model: a bounded, "
        "slowing version of gradient ascent that avoids its collapse; retained answers are "
        "trained on at the same time.",
        (
            *_common(1e-3, 20),
            Param("beta", float, 0.1, (1e-3, 10.0), "inverse temperature", log_scale=True),
            _gamma(),
            _alpha(),
            _retain_loss(),
        ),
    )

    def loss(self, model, ref, forget, retain, cfg, state):
        nll, _ = sequence_nll(model, *forget)
        with torch.no_grad():
            nll_ref, _ = sequence_nll(ref, *forget)
        out = cfg["gamma"] * npo_loss(-nll, -nll_ref, cfg["beta"])
        return (
            out + cfg["alpha"] * retain_term(model, ref, retain, cfg) if retain is not None else out
        )


@register
class SimNPO(LanguageMethod):
    spec = _spec(
        "simnpo",
        "SimNPO",
        "Fan et al., 2024, 'Simplicity Prevails: Rethinking NPO' (OpenUnlearning SimNPO)",
        "NPO without the reference model: the forget answers' per-token loss is pushed up "
        "through a bounded sigmoid with a margin, so long and short answers count alike.",
        (
            *_common(1e-3, 40),
            Param("beta", float, 4.5, (1e-3, 50.0), "inverse temperature"),
            Param(
                "delta",
                float,
                0.0,
                (0.0, 20.0),
                "margin (the paper's gamma / beta) on the per-token NLL",
            ),
            _gamma(0.125),
            _alpha(),
            _retain_loss(),
        ),
    )

    def loss(self, model, ref, forget, retain, cfg, state):
        nll, n = sequence_nll(model, *forget)
        out = cfg["gamma"] * simnpo_loss(nll, n, cfg["beta"], cfg["delta"])
        return (
            out + cfg["alpha"] * retain_term(model, ref, retain, cfg) if retain is not None else out
        )


@register
class RMU(LanguageMethod):
    uses_reference = True
    spec = _spec(
        "rmu",
        "RMU",
        "Li et al., ICML 2024, 'The WMDP Benchmark' (OpenUnlearning RMU)",
        "Scramble the model's inner representation of the forget questions: push the hidden "
        "state at one layer towards a fixed random direction, and hold it on retained "
        "questions to the original's.",
        (
            *_common(1e-3, 12),
            Param("layer", int, 1, (1, 8), "block whose output is steered"),
            Param(
                "steering_coeff",
                float,
                200.0,
                (0.1, 1000.0),
                "length of the random target",
                log_scale=True,
            ),
            _alpha(10.0),
        ),
    )

    def setup(self, model, ref, task, cfg) -> dict:
        if cfg["layer"] > len(model.blocks):
            raise MethodNotApplicable(f"RMU: layer {cfg['layer']} > {len(model.blocks)} blocks")
        d = model.tok.weight.shape[1]
        g = torch.Generator().manual_seed(0)
        u = torch.rand(d, generator=g)
        return {"target": (cfg["steering_coeff"] * u / u.norm()).to(model.tok.weight.device)}

    def parameters(self, model, cfg):
        layer = cfg["layer"]
        return [p for b in model.blocks[:layer] for p in b.parameters()]

    def loss(self, model, ref, forget, retain, cfg, state):
        layer = cfg["layer"]
        x, y = forget
        h = model.hidden_states(x)[layer][y != IGNORE]
        out = F.mse_loss(h, state["target"].expand_as(h))
        if retain is not None:
            x, y = retain
            mask = y != IGNORE
            h = model.hidden_states(x)[layer][mask]
            with torch.no_grad():
                h_ref = ref.hidden_states(x)[layer][mask]
            out = out + cfg["alpha"] * F.mse_loss(h, h_ref)
        return out


@register
class ICU(LanguageMethod):
    uses_reference = True
    spec = _spec(
        "icu",
        "ICU (iterative contrastive unlearning)",
        "Wang et al., 2024, 'Learn while Unlearn: An Iterative Unlearning Framework for "
        "Generative Language Models' (code himalalps/ICU)",
        "Gradient ascent on the forget answers, learning on a similar retained question paired "
        "with each, and a KL term to the original there; after each epoch a fact the model no "
        "longer answers right is retired, so it is not pushed further than needed.",
        (
            *_common(3e-4, 24),
            Param("uw", float, 1.0, (0.0, 10.0), "weight of unlearning"),
            Param("lw", float, 0.5, (0.0, 10.0), "weight of learning the paired retain rows"),
            Param("klw", float, 1.0, (0.0, 10.0), "weight of the KL term to the original"),
        ),
    )

    @staticmethod
    def _question_embedding(model, x, y):
        """Mean final hidden state over the question (before the answer starts)."""
        with torch.no_grad():
            h = model.features(x)
            first = (y != IGNORE).int().argmax(1)
            pos = torch.arange(x.shape[1], device=x.device)
            q = ((pos[None] <= first[:, None]) & (x != 0)).float()
            return F.normalize((h * q[..., None]).sum(1) / q.sum(1, keepdim=True), dim=1)

    def unlearn(self, model, task, cfg, *, seed, progress):
        xf, yf = task.forget
        xr, yr = task.retain
        ref = clone_model(model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        pair = self._question_embedding(ref, xf, yf) @ self._question_embedding(ref, xr, yr).T
        pair = pair.argmax(1)  # nearest retain row of each forget row (KNN, k = 1)
        xp, yp = xr[pair], yr[pair]
        opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], weight_decay=0.01)
        gen = torch.Generator().manual_seed(seed)
        bs = int(cfg["batch_size"])
        active = torch.ones(len(xf), dtype=torch.bool, device=xf.device)
        left, losses = [], []
        stop = _stopper(task, cfg)
        step, done = 0, stop is not None and stop(model, 0)
        for epoch in range(int(cfg["epochs"])):
            live = torch.nonzero(active).flatten()
            if not len(live) or done:
                break
            model.train()
            order = live[torch.randperm(len(live), generator=gen).to(live.device)]
            total, steps = 0.0, 0
            for s in range(0, len(order), bs):
                checkpoint()
                i = order[s : s + bs]
                fx, fy = trim(xf[i], yf[i])
                px, py = trim(xp[i], yp[i])
                mask = py != IGNORE
                logits = model.head(model.features(px)[mask]).float()
                with torch.no_grad():
                    p_ref = torch.softmax(ref.head(ref.features(px)[mask]).float(), -1)
                ce_ref = -(p_ref * torch.log_softmax(logits, -1)).sum(-1).mean()
                loss = (
                    -cfg["uw"] * mean_nll(model, fx, fy)
                    + cfg["lw"] * F.cross_entropy(logits, py[mask])
                    + cfg["klw"] * ce_ref
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                total, steps, step = total + float(loss.detach()), steps + 1, step + 1
                if stop is not None and stop(model, step):
                    done = True
                    break
            losses.append(total / max(steps, 1))
            model.eval()  # retire every row the model no longer answers right
            still = token_scores(model, xf[live], yf[live]).exact.to(active.device)
            active[live[~still]] = False
            left.append(int(active.sum()))
            progress((epoch + 1) / cfg["epochs"], f"epoch {epoch + 1}: {left[-1]} facts left")
        model.eval()
        log = {"loss": losses, "active_after_epoch": left, "epochs_run": len(losses), "steps": step}
        return UnlearnOutput(model, log | (stop.log() if stop is not None else {}))


LANGUAGE_METHODS = ("ga", "graddiff", "kl", "npo", "simnpo", "rmu", "icu")
