"""SISA training and exact unlearning (Bourtoule et al., IEEE S&P 2021; code
cleverhans-lab/machine-unlearning)."""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..models import fresh_like
from ..runtime.device import seed_everything, timer
from ..runtime.progress import Progress, sub_progress
from ..training import TrainConfig, train
from .base import (
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    UnlearnOutput,
    UnlearnTask,
    register,
)


class VoteEnsemble(nn.Module):
    """The shard models' majority vote, as one model.

    ``forward`` returns ``log((votes + s) / (S + K s))``: the log of the vote shares, smoothed by
    ``s = smoothing`` of a vote per class so no class has probability 0. So ``softmax`` gives
    the smoothed vote shares and ``argmax`` the majority class; a tie gives equal outputs and
    ``argmax`` returns the first, i.e. the lowest class. Each member votes for its own argmax.
    ``features(x)`` concatenates the members' features.
    """

    def __init__(self, members: list[nn.Module], smoothing: float = 0.01) -> None:
        super().__init__()
        if not members:
            raise ValueError("a vote needs at least one member")
        self.members = nn.ModuleList(members)
        self.smoothing = smoothing
        first = members[0]
        spec = getattr(first, "spec", {})
        self.spec = {
            "arch": "sisa",
            "input_shape": spec.get("input_shape"),
            "num_classes": spec.get("num_classes"),
            "kwargs": {"member": spec, "members": len(members)},
        }

    def votes(self, x: torch.Tensor) -> torch.Tensor:
        """Votes per class, ``N x K`` (float counts)."""
        outs = [m(x) for m in self.members]
        k = outs[0].shape[1]
        return sum(nn.functional.one_hot(o.argmax(1), k).to(o.dtype) for o in outs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        v = self.votes(x)
        s = self.smoothing
        return torch.log((v + s) / (len(self.members) + v.shape[1] * s))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([m.features(x) for m in self.members], dim=1)

    @property
    def feature_dim(self) -> int:
        return sum(m.feature_dim for m in self.members)


def assign(n: int, shards: int, slices: int, seed: int) -> list[list[torch.Tensor]]:
    """Split sample ids ``0..n-1`` at random (seeded) into ``shards`` near-equal shards, each cut
    into ``slices`` near-equal slices: ``parts[shard][slice]`` is a tensor of ids."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return [list(torch.tensor_split(sh, slices)) for sh in torch.tensor_split(perm, shards)]


def stage_epochs(total: int, slices: int) -> list[int]:
    """Epochs of each stage, as the authors' ``sisa.py``: on average ``2 E / (R + 1)`` per stage,
    spread in whole epochs, so a shard's passes over its samples add up to about E passes
    (stage r sees r of the R slices)."""
    avg = 2 * total / (slices + 1)
    return [int((r + 1) * avg) - int(r * avg) for r in range(slices)]


def _train_stages(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    slices: list[torch.Tensor],
    checkpoints: list[dict],
    start: int,
    recipe: TrainConfig,
    epochs: list[int],
    seeds: list[int],
    progress: Progress,
) -> None:
    """Load ``checkpoints[start]`` into ``model`` and train stages ``start+1..R`` (stage r on
    slices 1..r, from stage r-1's weights, a fresh optimiser each), storing each stage's
    weights (on the CPU) in ``checkpoints[r]``."""
    model.load_state_dict(checkpoints[start])
    r_total = len(slices)
    for r in range(start, r_total):
        idx = torch.cat(slices[: r + 1]).to(x.device)
        if epochs[r] > 0 and len(idx):
            train(
                model,
                x[idx],
                y[idx],
                replace(recipe, epochs=epochs[r]),
                seed=seeds[r],
                progress=sub_progress(
                    progress, (r - start) / (r_total - start), (r + 1 - start) / (r_total - start)
                ),
            )
        checkpoints[r + 1] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


@register
class SISA(Method):
    """Sharded, Isolated, Sliced, Aggregated training, then exact unlearning.

    The given model only lends its architecture: ``unlearn`` first trains S shard models on the
    whole training set (the cost of the original training, timed and reported apart as
    ``setup_seconds``): a seeded random partition into S shards of R slices; stage r trains on
    slices 1..r from stage r-1's checkpoint with the task's recipe for ``stage_epochs``
    epochs (a fresh optimiser per stage); every stage's weights are kept in memory (CPU).
    Unlearning: in each shard holding forget samples, find the earliest slice touched, reload
    the checkpoint before it and retrain that stage and the later ones without the forgotten
    samples; the other shards are untouched. Because a retrained stage uses the same seed and
    recipe as the original, the result is the SISA model that would have been trained without
    those samples. A shard left with no samples is dropped from the vote. Prediction is the
    majority vote (``VoteEnsemble``; ties to the lowest class).
    """

    spec = MethodSpec(
        name="sisa",
        label="SISA (sharded retraining)",
        family="exact",
        paper="Bourtoule et al., IEEE S&P 2021 (Machine Unlearning)",
        summary=(
            "Plan for deletion before training: split the data into shards, train one small "
            "model per shard in slices with a checkpoint after each, and let the models vote. "
            "To forget a sample, retrain only its shard, from the checkpoint before its slice. "
            "Exact like retraining, much cheaper for a few samples, no cheaper for a whole "
            "class (it touches every shard), and each shard model sees less data."
        ),
        params=(
            Param("shards", int, 5, (1, 64), "S, number of shards and shard models"),
            Param("slices", int, 3, (1, 32), "R, slices (checkpointed stages) per shard"),
            Param(
                "stage_epochs",
                int,
                0,
                (0, 1000),
                "epochs per stage; 0 = auto, the authors' 2E/(R+1) with E the recipe's epochs "
                "(20 for the MLP's 40 epochs and R = 3)",
            ),
        ),
        needs=("forget",),
    )

    def check(self, model: nn.Module, task: UnlearnTask) -> None:
        super().check(model, task)
        if not hasattr(model, "spec"):
            raise MethodNotApplicable("SISA rebuilds the model's architecture and needs its spec")

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        n_shards, n_slices = cfg["shards"], cfg["slices"]
        x, y = task.train_all
        if n_shards * n_slices > len(y):
            raise MethodNotApplicable(
                f"{n_shards} shards x {n_slices} slices need at least {n_shards * n_slices} "
                f"training samples; there are {len(y)}"
            )
        recipe = task.train_config
        epochs = (
            [cfg["stage_epochs"]] * n_slices
            if cfg["stage_epochs"]
            else stage_epochs(recipe.epochs, n_slices)
        )
        parts = assign(len(y), n_shards, n_slices, seed)
        seeds = [
            [seed * 1_000_003 + 1_009 * k + r for r in range(n_slices)] for k in range(n_shards)
        ]

        # 1. SISA training on the full training set: the original training's cost.
        models, checkpoints = [], []
        with timer(x.device) as setup:
            for k in range(n_shards):
                seed_everything(seeds[k][0])
                member = fresh_like(model)
                ckpt = [{kk: v.detach().cpu().clone() for kk, v in member.state_dict().items()}]
                ckpt += [{} for _ in range(n_slices)]
                part = sub_progress(
                    progress, 0.5 * k / n_shards, 0.5 * (k + 1) / n_shards, f"shard {k + 1}: "
                )
                _train_stages(member, x, y, parts[k], ckpt, 0, recipe, epochs, seeds[k], part)
                models.append(member)
                checkpoints.append(ckpt)

        # 2. Unlearning: retrain the touched shards from the checkpoint before the first
        #    touched slice, on their slices without the forget samples.
        forget = torch.zeros(len(y), dtype=torch.bool)
        forget[task.split.forget_idx] = True
        touched = []
        for k in range(n_shards):
            hits = [int(forget[s].sum()) for s in parts[k]]
            if any(hits):
                first = next(r for r, h in enumerate(hits) if h)
                touched.append((k, first, hits))
        per_shard_forget = {k: sum(h) for k, _, h in touched}
        units = sum(n_slices - first for _, first, _ in touched) or 1
        done = 0
        for k, first, _ in touched:
            parts[k] = [s[~forget[s]] for s in parts[k]]
            span = n_slices - first
            part = sub_progress(
                progress,
                0.5 + 0.5 * done / units,
                0.5 + 0.5 * (done + span) / units,
                f"retrain shard {k + 1}: ",
            )
            _train_stages(
                models[k], x, y, parts[k], checkpoints[k], first, recipe, epochs, seeds[k], part
            )
            done += span
        sizes = [sum(len(s) for s in p) for p in parts]
        kept = [k for k in range(n_shards) if sizes[k] > 0]
        ensemble = VoteEnsemble([models[k] for k in kept]).to(x.device).eval()
        log = {
            "shards": n_shards,
            "slices": n_slices,
            "stage_epochs": epochs,
            "aggregation": "majority vote, ties to the lowest class",
            "samples_per_shard": sizes,
            "samples_per_slice": [[len(s) for s in p] for p in parts],
            "forget_per_shard": [per_shard_forget.get(k, 0) for k in range(n_shards)],
            "retrained_shards": [k for k, _, _ in touched],
            "n_retrained_shards": len(touched),
            "retrained_from_slice": {str(k): first + 1 for k, first, _ in touched},
            "stages_retrained": sum(n_slices - first for _, first, _ in touched),
            "stages_total": n_shards * n_slices,
            "dropped_empty_shards": [k for k in range(n_shards) if k not in kept],
            "setup_seconds": setup["seconds"],
            "sample_passes_retrained": sum(
                epochs[r] * sum(len(s) for s in parts[k][: r + 1])
                for k, first, _ in touched
                for r in range(first, n_slices)
            ),
            "sample_passes_retrain_equivalent": recipe.epochs * int((~forget).sum()),
        }
        return UnlearnOutput(ensemble, log, setup_seconds=setup["seconds"])
