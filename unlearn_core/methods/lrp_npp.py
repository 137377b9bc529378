"""Zero-shot class unlearning by LRP neuron-path perturbation (Chang et al. 2024, arXiv 2410.23693;
code ChangWenhan/LRA-NPP-Unlearning)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..progress import Progress
from ..training import predict_features
from .base import (
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    UnlearnOutput,
    UnlearnTask,
    register,
)

#: default top-k and n as shares of the analysed layer's width, tuned on digits + MLP (26 and 32
#: of 128); the paper's MNIST CNN used 50 and 80 of 512 (10%, 16%), ResNet-50 200 and 400 of 2048
K_SHARE, N_SHARE = 0.2, 0.25


def head_relevance(
    features: torch.Tensor, head: nn.Linear, target: torch.Tensor, epsilon: float = 0.1
) -> torch.Tensor:
    """LRP epsilon-rule relevance of each input unit of ``head``, one row per sample.

    The output relevance is the target logit ``z_c`` (the usual LRP convention, and captum's):
    ``R_j = a_j w_cj z_c / (z_c + epsilon * sign z_c)``, sign 0 counted as +1. The authors'
    code seeds relevance 1 instead, which divides every ``R_j`` of a sample by the same ``z_c``:
    the same top-k whenever the predicted logit is positive.
    """
    with torch.no_grad():
        w = head.weight[target]  # [N, width]
        z = head(features).gather(1, target[:, None])  # [N, 1]
        sign = torch.where(z >= 0, 1.0, -1.0)
        return features * w * (z / (z + epsilon * sign))


def captum_head_relevance(
    features: torch.Tensor, head: nn.Linear, target: torch.Tensor, epsilon: float = 0.1
) -> torch.Tensor:
    """The same relevance as :func:`head_relevance`, from captum's ``LayerLRP`` with
    ``EpsilonRule(epsilon)`` on a copy of ``head`` and ``attribute_to_layer_input=True``.

    Relevance at a layer's input depends only on the layers above it, so analysing the head on
    the features equals analysing the whole model there. It is also the only way captum runs on
    these models: its LRP needs a rule for every leaf module and has none for ``nn.Flatten``
    (MLP, CNN) or ResNet's empty shortcut ``nn.Sequential``, and it would pass the residual sum
    (a plain ``+``, not captum's ``Addition_Module``) through as a gradient.
    """
    import copy

    from captum.attr import LayerLRP
    from captum.attr._utils.lrp_rules import EpsilonRule

    wrapper = nn.Sequential(copy.deepcopy(head)).eval()
    wrapper[0].rule = EpsilonRule(epsilon=epsilon)
    lrp = LayerLRP(wrapper, wrapper[0])
    x = features.detach().clone().requires_grad_(True)
    out = lrp.attribute(x, target=target.tolist(), attribute_to_layer_input=True)
    return out.detach()


def unit_layer(model: nn.Module) -> tuple[str, nn.Linear] | None:
    """The Linear whose ReLU'd output is ``model.features`` (MLP, CNN), or None (pooled
    features, as in ResNet)."""
    body = getattr(model, "body", None)
    head = model.head
    if isinstance(body, nn.Sequential) and len(body) >= 2:
        lin, act = body[-2], body[-1]
        if (
            isinstance(lin, nn.Linear)
            and isinstance(act, nn.ReLU)
            and lin.out_features == head.in_features
        ):
            return f"body.{len(body) - 2}", lin
    return None


def select_neurons(relevance: torch.Tensor, k: int, n: int) -> tuple[np.ndarray, list[int]]:
    """Per sample, the top-``k`` units by signed relevance; over all samples, count how often
    each unit was picked and return ``(counts, chosen)``: the ``n`` most frequent units (ties by
    larger summed relevance, then lower id; units never picked are never chosen)."""
    width = relevance.shape[1]
    k = min(k, width)
    order = torch.argsort(relevance, dim=1, descending=True, stable=True)[:, :k]
    counts = np.bincount(order.flatten().cpu().numpy(), minlength=width)
    total = relevance.sum(0).cpu().numpy()
    ranked = np.lexsort((np.arange(width), -total, -counts))
    chosen = [int(j) for j in ranked[:n] if counts[j] > 0]
    return counts, chosen


def _noise(shape: torch.Size, mode: str, scale: float, gen: torch.Generator) -> torch.Tensor:
    if mode == "gaussian":
        return torch.randn(shape, generator=gen) * scale
    u = torch.rand(shape, generator=gen) - 0.5  # Laplace(0, scale) by the inverse CDF
    return -scale * torch.sign(u) * torch.log1p(-2 * u.abs().clamp(max=0.5 - 1e-7))


@torch.no_grad()
def perturb(
    param: torch.Tensor,
    index: tuple,
    mode: str,
    scale: float,
    gen: torch.Generator,
) -> None:
    """Zero ``param[index]`` or add seeded Gaussian / Laplace noise to it (the authors add noise
    with std / scale ``scale`` to the weights, they do not replace them)."""
    if mode == "zero":
        param[index] = 0.0
    else:
        cur = param[index]
        param[index] = cur + _noise(cur.shape, mode, scale, gen).to(cur.device, cur.dtype)


@register
class LRPNeuronPerturbation(Method):
    """LRA-NPP, as the authors' ``examples/batch_experiments/core/methods.py``.

    For each forgotten class: N random test-split images of the class (seeded); LRP epsilon
    rule (0.1) from the predicted class's logit to the input of ``model.head``; each sample's
    top-k units by signed relevance; the n units picked most often. Perturbation ("zero"):
    where the unit is a Linear + ReLU output (MLP, CNN: the authors' MNIST model) the Linear's
    incoming weight row (bias kept) and the unit's weight to the forgotten class; where it is a
    pooled feature (ResNet: the authors' CIFAR setting) its outgoing weights to every class.
    "gaussian" / "laplace" add noise (std / scale ``noise_scale``, authors 1.0) to the same
    weights instead. ``scope="class"`` touches only the chosen units' weights to the forgotten
    class, for every architecture (the authors' ``target_class_only`` option of their
    pooled-feature branch). Several forgotten classes are handled one after another; ties in
    the unit counts go to the larger summed relevance (the authors' ``Counter`` keeps first
    seen).

    The default scope is ``"class"``: on the digits MLP (128 penultimate units) the paper's
    variant, which silences 32 units for every class, forgets the class (0.5%) but costs the
    other classes ~6 points against retrain, while cutting only the units' path to the
    forgotten class meets retrain within 0.3 points (``benchmarks/results``).
    """

    spec = MethodSpec(
        name="lrp",
        label="LRP neuron-path perturbation (LRA-NPP)",
        family="approximate",
        paper="Chang et al., arXiv 2410.23693, 2024",
        summary=(
            "Zero-shot: show the model a few unseen pictures of the class to forget, ask "
            "layer-wise relevance propagation which units of the last hidden layer carried "
            "each decision, and cut the units that come up again and again. No retain data "
            "and no training, so it is very fast; it only forgets whole classes."
        ),
        params=(
            Param(
                "n_samples",
                int,
                36,
                (1, 1000),
                "test-split images of the class analysed (paper: 36)",
            ),
            Param(
                "k",
                int,
                0,
                (0, 4096),
                "top units kept per image; 0 = auto, 20% of the layer's width (26 of 128 for the "
                "MLP and CNN, 102 of 512 for ResNet-18; paper: 50 of 512, 10%, which on the "
                "small MLP picks too few units to forget)",
            ),
            Param(
                "n",
                int,
                0,
                (0, 4096),
                "units perturbed, the most frequent in the top-k lists; 0 = auto, 25% of the "
                "width (32 of 128, 128 of 512; paper: 80 of 512 MNIST, 400 of 2048 ResNet-50)",
            ),
            Param(
                "mode",
                str,
                "zero",
                choices=("zero", "gaussian", "laplace"),
                help="zero the weights (the paper's method) or add noise to them (its baselines)",
            ),
            Param(
                "noise_scale",
                float,
                1.0,
                (1e-4, 100.0),
                "std (gaussian) or scale (laplace) of the added noise (paper: 1.0)",
                log_scale=True,
            ),
            Param(
                "scope",
                str,
                "class",
                choices=("class", "paper"),
                help="which weights of the chosen units: 'class' = only the units' weights to "
                "the forgotten class (the authors' target_class_only switch; spares the other "
                "classes); 'paper' = the paper's main variant, a Linear unit's incoming row and "
                "its weight to the class (MLP, CNN), a pooled unit's weights to every class "
                "(ResNet), which on the 128-unit digits MLP costs the other classes ~6 points",
            ),
            Param("epsilon", float, 0.1, (1e-9, 10.0), "LRP epsilon (paper: 0.1)", log_scale=True),
            Param(
                "relevance",
                str,
                "direct",
                choices=("direct", "captum"),
                help="compute the epsilon rule directly (fast) or with captum's LayerLRP "
                "(same numbers; the first call pays captum's ~1 s import)",
            ),
        ),
        needs=("forget_class",),
    )

    def check(self, model: nn.Module, task: UnlearnTask) -> None:
        super().check(model, task)
        if not isinstance(getattr(model, "head", None), nn.Linear) or not hasattr(
            model, "features"
        ):
            raise MethodNotApplicable(
                "LRA-NPP analyses the input of the model's final Linear layer: this model "
                "has no features(x) + Linear head split"
            )
        for c in task.split.forgotten_classes:
            if not bool((task.data.y_test == c).any()):
                raise MethodNotApplicable(
                    f"LRA-NPP analyses unseen test images of the class, and the test split "
                    f"has none of class {task.data.classes[c]}"
                )

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        model.eval()
        head: nn.Linear = model.head
        width = head.in_features
        k = cfg["k"] or max(1, round(width * K_SHARE))
        n = cfg["n"] or max(1, round(width * N_SHARE))
        unit = unit_layer(model) if cfg["scope"] == "paper" else None
        class_only = cfg["scope"] == "class"
        relevance_fn = head_relevance if cfg["relevance"] == "direct" else captum_head_relevance
        gen = torch.Generator().manual_seed(seed)
        data = task.data
        classes = list(task.split.forgotten_classes)
        per_class, all_rel, counts_sum = [], [], np.zeros(width, dtype=np.int64)
        for i, c in enumerate(classes):
            pool = torch.nonzero(data.y_test == c).flatten()
            pick = pool[torch.randperm(len(pool), generator=gen)[: cfg["n_samples"]]]
            feats = predict_features(model, data.x_test[pick]).to(head.weight.device)
            with torch.no_grad():
                pred = head(feats).argmax(1)
            rel = relevance_fn(feats, head, pred, cfg["epsilon"]).cpu()
            counts, chosen = select_neurons(rel, k, n)
            idx = torch.tensor(chosen, dtype=torch.long, device=head.weight.device)
            if unit is not None:
                perturb(unit[1].weight, (idx,), cfg["mode"], cfg["noise_scale"], gen)
            if unit is not None or class_only:
                perturb(head.weight, (c, idx), cfg["mode"], cfg["noise_scale"], gen)
            else:
                perturb(head.weight, (slice(None), idx), cfg["mode"], cfg["noise_scale"], gen)
            all_rel.append(rel)
            counts_sum += counts
            per_class.append(
                {
                    "class": int(c),
                    "n_samples": len(pick),
                    "n_available": len(pool),
                    "short_of_samples": len(pick) < cfg["n_samples"],
                    "test_indices": pick.tolist(),
                    "predicted": pred.cpu().tolist(),
                    "relevance_mean": rel.mean(0).tolist(),
                    "counts": counts.tolist(),
                    "neurons": chosen,
                }
            )
            progress((i + 1) / len(classes), f"class {data.classes[c]}: {len(chosen)} units")
        rel_all = torch.cat(all_rel)
        log = {
            "layer": "head",
            "analysed": "input of the final Linear (penultimate units)",
            "unit_layer": unit[0] if unit is not None else None,
            "perturbed": (
                f"incoming weight rows of {unit[0]} and the units' weights to the class"
                if unit is not None
                else "the units' weights to the forgotten class"
                if class_only
                else "the units' outgoing weights to every class"
            ),
            "width": width,
            "k": k,
            "n": n,
            "mode": cfg["mode"],
            "relevance": cfg["relevance"],
            "classes": classes,
            "n_samples": sum(p["n_samples"] for p in per_class),
            "relevance_mean": rel_all.mean(0).tolist(),
            "counts": counts_sum.tolist(),
            "neurons": sorted({j for p in per_class for j in p["neurons"]}),
            "per_class": per_class,
        }
        return UnlearnOutput(model, log)
