"""TinyLM: a small decoder-only transformer in one readable file (nanoGPT's shape).

Token and learned position embeddings, ``n_layer`` pre-LayerNorm blocks (causal self-attention,
then a GELU MLP, each added to the residual stream), a final LayerNorm and a head tied to the
token embedding. It is registered as architecture ``"tinylm"`` in :mod:`unlearn_core.models`
(``build_model("tinylm", (block_size,), vocab_size, ...)``): the registry's signature fits
(``input_shape`` is the sequence length, ``num_classes`` the vocabulary), so ``fresh_like``,
``clone_model``, ``weights_hash`` and the retrain reference work unchanged. ``features(x)`` is
the final hidden state of every position (``B x T x d``) and ``head`` maps it to logits.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from ..models import ModelError, UnlearnModel, architecture


class CausalSelfAttention(nn.Module):
    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        if d_model % n_head:
            raise ModelError(f"tinylm: d_model {d_model} is not a multiple of n_head {n_head}")
        self.n_head = n_head
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class Block(nn.Module):
    """Pre-LN: ``x + attn(ln(x))`` then ``x + mlp(ln(x))``."""

    def __init__(self, d_model: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_head, dropout)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop(self.attn(self.ln1(x)))
        return x + self.drop(self.mlp(self.ln2(x)))


@architecture("tinylm")
class TinyLM(UnlearnModel):
    """``input_shape = (block_size,)``, ``num_classes`` = vocabulary size."""

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        d_model: int = 128,
        n_layer: int = 2,
        n_head: int = 4,
        dropout: float = 0.0,
    ) -> None:
        if len(input_shape) != 1:
            raise ModelError(f"tinylm needs token sequences (T,), got shape {tuple(input_shape)}")
        super().__init__(
            input_shape,
            num_classes,
            d_model=d_model,
            n_layer=n_layer,
            n_head=n_head,
            dropout=dropout,
        )
        self.block_size = int(input_shape[0])
        self.tok = nn.Embedding(num_classes, d_model)
        self.pos = nn.Embedding(self.block_size, d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_head, dropout) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes, bias=False)
        self.head.weight = self.tok.weight  # tied
        self.apply(self._init)
        for name, p in self.named_parameters():  # GPT-2's scaled init of residual projections
            if name.endswith("proj.weight") or name.endswith("mlp.2.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * n_layer))

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)

    def hidden_states(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream after the embeddings and after each block (``n_layer + 1``)."""
        t = x.shape[1]
        if t > self.block_size:
            raise ModelError(f"tinylm: sequence of {t} tokens, block size {self.block_size}")
        pos = torch.arange(t, device=x.device)
        h = self.drop(self.tok(x) + self.pos(pos))
        out = [h]
        for block in self.blocks:
            h = block(h)
            out.append(h)
        return out

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.ln_f(self.hidden_states(x)[-1])

    def logits_from_hidden(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(self.ln_f(h))


def n_params(model: nn.Module) -> int:
    """Parameters counted once (the tied head is the embedding)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
