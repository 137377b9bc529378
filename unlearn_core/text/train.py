"""Training and reading a language model on answer tokens.

A sample is a row of ``x`` (token ids, ``<pad>``-filled) with ``y`` of the same shape:
``y[t]`` is the token at ``t + 1`` where that token belongs to the answer (its ``<eos>``
included) and ``-100`` elsewhere, so the loss is on answer tokens only (the question is
masked). :func:`train_lm` trains with AdamW and the recipe's schedule (one-cycle: cosine warm-up
and annealing), bf16 autocast on CUDA; :func:`token_scores` reads per-token log-probabilities
and greedy correctness in one pass; :func:`generate` decodes greedily.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from ..runtime.device import seed_everything
from ..runtime.progress import Progress, no_progress, reporting
from ..training import History, TrainConfig, autocast, batches, make_scheduler, model_device

IGNORE = -100


def lm_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the answer tokens of the batch (``y != -100``)."""
    logits = model(x)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), ignore_index=IGNORE)


def trim(x: torch.Tensor, y: torch.Tensor, pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Drop the trailing columns where every row is padding (shorter batches, same result:
    attention is causal, so padding after a sequence never changes its positions)."""
    length = int((x != pad).sum(1).max()) if len(x) else 0
    return x[:, :length], y[:, :length]


def sequence_nll(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample summed NLL of the answer tokens and the number of answer tokens."""
    logits = model(x).float()
    mask = y != IGNORE
    lp = torch.log_softmax(logits, -1).gather(-1, y.clamp_min(0).unsqueeze(-1)).squeeze(-1)
    return -(lp * mask).sum(1), mask.sum(1)


def train_lm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
) -> History:
    """Train ``model`` in place on answer tokens; ``History.accuracy`` is the share of answer
    tokens predicted right during each epoch (percent)."""
    dev = torch.device(device) if device is not None else model_device(model)
    model.to(dev)
    x, y = x.to(dev), y.to(dev)
    gen = seed_everything(seed)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98)
    )
    n = len(x)
    steps = -(-n // cfg.batch_size) if n else 0
    sched = make_scheduler(opt, cfg.schedule, cfg.epochs * steps)
    hist = History()
    with reporting(progress, 0.0, f"epoch 1/{cfg.epochs}") as report:
        for epoch in range(cfg.epochs):
            model.train()
            total = torch.zeros((), device=dev)
            right = torch.zeros((), device=dev)
            count = torch.zeros((), device=dev)
            for idx in batches(n, cfg.batch_size, gen, device=dev):
                xb, yb = trim(x[idx], y[idx])
                mask = yb != IGNORE
                with autocast(dev, cfg.mixed_precision):  # the head only where there is a loss
                    flat = model.head(model.features(xb)[mask]).float()
                target = yb[mask]
                loss = F.cross_entropy(flat, target)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                if sched is not None:
                    sched.step()
                total += loss.detach() * len(target)
                right += (flat.detach().argmax(-1) == target).sum()
                count += len(target)
            hist.loss.append(float(total / count.clamp_min(1)))
            hist.accuracy.append(100.0 * float(right / count.clamp_min(1)))
            report((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}")
    model.eval()
    return hist


@dataclass
class TokenScores:
    """Per-token reads of a model on answer tokens (CPU tensors, ``N x T``): ``lp`` the
    log-probability of the true token (0 off the answer), ``mask`` the answer positions,
    ``mu`` / ``sigma`` the mean and standard deviation of ``log p(z)`` over the vocabulary
    under the model's own distribution (Min-K%++ reads them), ``correct`` whether the greedy
    token is the true one."""

    lp: torch.Tensor
    mask: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor
    correct: torch.Tensor

    @property
    def exact(self) -> torch.Tensor:
        """Greedy decoding reproduces the whole answer (and stops): every answer position's
        argmax is the true token. Equal to decoding and comparing, since each greedy step sees
        the true prefix exactly when every earlier step was right (``tests`` check it)."""
        return (self.correct | ~self.mask).all(1)

    @property
    def mean_lp(self) -> torch.Tensor:
        """Mean log-probability per answer token (TOFU's length-normalised score)."""
        return (self.lp * self.mask).sum(1) / self.mask.sum(1).clamp_min(1)


@torch.inference_mode()
def token_scores(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 512
) -> TokenScores:
    """Read on answer positions only (the head and the softmax over the vocabulary are the
    costly part; a question position's would be thrown away)."""
    dev = model_device(model)
    was = model.training
    model.eval()
    n, t = y.shape
    lp, mu, sigma = (torch.zeros(n, t) for _ in range(3))
    correct = torch.zeros(n, t, dtype=torch.bool)
    mask = y != IGNORE
    for s in range(0, n, batch_size):
        xb, yb = trim(x[s : s + batch_size].to(dev), y[s : s + batch_size].to(dev))
        m = yb != IGNORE
        with autocast(dev):
            h = model.features(xb)[m]
            logp = torch.log_softmax(model.head(h).float(), -1)
        target = yb[m]
        p = logp.exp()
        mean = (p * logp).sum(-1)
        var = (p * logp.square()).sum(-1) - mean.square()
        rows = torch.zeros(len(xb), t, dtype=torch.bool)
        rows[:, : xb.shape[1]] = m.cpu()
        part = slice(s, s + len(xb))
        lp[part][rows] = logp.gather(-1, target[:, None]).squeeze(-1).cpu()
        mu[part][rows] = mean.cpu()
        sigma[part][rows] = var.clamp_min(0).sqrt().cpu()
        correct[part][rows] = (logp.argmax(-1) == target).cpu()
    model.train(was)
    return TokenScores(lp, mask, mu, sigma, correct)


@torch.inference_mode()
def generate(
    model: nn.Module,
    prompts: list[list[int]],
    *,
    eos: int,
    max_new: int = 16,
    batch_size: int = 256,
) -> list[list[int]]:
    """Greedy continuations of ``prompts`` (token lists ending with ``<sep>``), up to ``<eos>``
    (left out) or ``max_new`` tokens. Prompts of the same length decode together."""
    dev = model_device(model)
    was = model.training
    model.eval()
    limit = getattr(model, "block_size", None)
    out: list[list[int]] = [[] for _ in prompts]
    by_len: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        by_len.setdefault(len(p), []).append(i)
    for length, rows in by_len.items():
        for s in range(0, len(rows), batch_size):
            part = rows[s : s + batch_size]
            seq = torch.tensor([prompts[i] for i in part], device=dev)
            done = torch.zeros(len(part), dtype=torch.bool, device=dev)
            steps = max_new if limit is None else min(max_new, limit - length)
            for _ in range(steps):
                with autocast(dev):
                    nxt = model(seq)[:, -1].float().argmax(-1)
                done |= nxt == eos
                nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
                seq = torch.cat([seq, nxt[:, None]], 1)
                if bool(done.all()):
                    break
            for j, i in enumerate(part):
                toks = seq[j, length:].tolist()
                out[i] = toks[: toks.index(eos)] if eos in toks else toks
    model.train(was)
    return out
