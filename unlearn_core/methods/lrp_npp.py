"""Zero-shot class unlearning by LRP neuron-path perturbation (Chang et al. 2024, arXiv 2410.23693;
code ChangWenhan/LRA-NPP-Unlearning)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn

from ..runtime.progress import Progress
from ..training import predict_features, predict_logits
from .base import (
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    UnlearnOutput,
    UnlearnTask,
    register,
)

#: the paper's top-k and n as shares of the analysed layer's width: MNIST CNN 50 and 80 of 512
#: (about 10% and 16%); ResNet-50 on CIFAR-10 200 and 400 of 2048 (10%, 20%)
PAPER_K_SHARE, PAPER_N_SHARE = 0.1, 0.16
#: which weights ``lrp_until`` perturbs: the paper's (as ``lrp``) or the class-weights
#: variant's (as ``lrp_class``)
WEIGHTS = ("paper", "class weights")
#: the shares ``benchmarks/lrp_rule.py`` compares: lrp_class's n_share, lrp_until's cap
FIXED_GRID = (0.16, 0.2, 0.25, 0.3, 0.4)
CAP_GRID = (0.16, 0.2, 0.25, 0.3, 0.5)
#: the "until forgotten" rule tests the analysed images after at most this many steps per class
MAX_RULE_STEPS = 128


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


def rank_neurons(relevance: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, the top-``k`` units by signed relevance; over all samples, count how often
    each unit was picked and return ``(counts, order)``: every unit, most often picked first
    (ties by larger summed relevance, then lower id)."""
    width = relevance.shape[1]
    k = min(k, width)
    top = torch.argsort(relevance, dim=1, descending=True, stable=True)[:, :k]
    counts = np.bincount(top.flatten().cpu().numpy(), minlength=width)
    total = relevance.sum(0).cpu().numpy()
    return counts, np.lexsort((np.arange(width), -total, -counts))


def select_neurons(relevance: torch.Tensor, k: int, n: int) -> tuple[np.ndarray, list[int]]:
    """The paper's choice: ``(counts, chosen)`` with the ``n`` first units of
    :func:`rank_neurons` (units never picked into a top-k are never chosen)."""
    counts, order = rank_neurons(relevance, k)
    return counts, [int(j) for j in order[:n] if counts[j] > 0]


def class_forgotten(model: nn.Module, x: torch.Tensor, c: int) -> bool:
    """True when every image of ``x`` gives class ``c`` a probability below chance (1 / the
    number of classes): the stopping test of the "until forgotten" rule."""
    probs = torch.softmax(predict_logits(model, x).float(), dim=1)
    return bool((probs[:, c] < 1.0 / probs.shape[1]).all())


def describe_log(
    log: dict, class_names: list[str] | None = None, forget_acc: float | None = None
) -> str:
    """One paragraph of what an LRA-NPP run did, from its log (for the views): the rule, then
    for the "until forgotten" rule what happened to each class (criterion met after how many
    units, or the cap reached first), and that the criterion is checked on the analysed
    validation images, not on the forget set that ``forget_acc`` (%, where given) measures."""
    n_units = len(log.get("neurons", []))
    split = log.get("analysed_split", "test")  # logs before the validation split: test images
    names = class_names or []

    def name(c: int) -> str:
        return names[c] if c < len(names) else str(c)

    def units(n: int) -> str:
        return f"{n} unit" + ("" if n == 1 else "s")

    head = (
        f"analysed the {log.get('analysed', 'penultimate units')} ({log.get('width', '?')} "
        f"units) on {log.get('n_samples', '?')} unseen {split} images; per image it kept the top "
        f"{log.get('k', '?')} units, then perturbed ({log.get('mode', 'zero')}) "
    )
    if log.get("rule", "fixed") == "fixed":
        return head + f"the {n_units} picked most often: {log.get('perturbed', '')}."
    cap = log.get("n_max")
    text = head + (
        f"units in that order, stopping once every analysed image gives the class less than "
        f"chance probability or at the cap{f' of {units(cap)}' if cap else ''} "
        f"({units(n_units)} in all): {log.get('perturbed', '')}."
    )
    met, capped = [], []
    for p in log.get("per_class", []):
        if p.get("forgotten_on_analysed") is True:
            met.append(f"class {name(p['class'])} after {units(len(p.get('neurons', [])))}")
        elif p.get("forgotten_on_analysed") is False:
            capped.append(f"class {name(p['class'])}")
    if met:
        text += f" The criterion was met for {', '.join(met)}."
    if capped:
        text += (
            f" It reached its cap of {units(cap or n_units)} before the criterion was met "
            f"for {', '.join(capped)}: at least one analysed {split} image still gave the class "
            "chance probability or more."
        )
    if met or capped:
        text += (
            f" The criterion is checked on those {log.get('n_samples', '?')} {split} images only;"
            " forget accuracy counts the forget set's training images"
        )
        if forget_acc is not None:
            text += f" ({forget_acc:.1f}% here)"
        text += ", so the two can disagree."
    return text


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


def _params(
    *, k_share: float, n: tuple[float, str, tuple | None] | None = None, cap: float | None = None
) -> tuple[Param, ...]:
    """The knobs of one LRA-NPP method: the fixed rule's ``n`` / ``n_share`` (``n``: the
    default share, its note and the calibration grid, None for the paper's method) or the
    "until forgotten" rule's cap and weights (``cap``)."""
    count: tuple[Param, ...] = ()
    if n is not None:
        n_share, n_note, n_grid = n
        count = (
            Param(
                "n",
                int,
                0,
                (0, 4096),
                "the fixed rule (the paper's): this many units are perturbed, the most frequent "
                "in the top-k lists; 0 = auto, n_share of the width (paper: 80 of 512 on MNIST, "
                "400 of 2048 on CIFAR-10)",
            ),
            Param(
                "n_share",
                float,
                n_share,
                (0.001, 1.0),
                f"n as a share of the layer's width when n is 0 ({n_note})",
                grid=n_grid,
            ),
        )
    if cap is not None:
        count = (
            Param(
                "n_max_share",
                float,
                cap,
                (0.001, 1.0),
                "the most units perturbed, as a share of the width: units are added in the "
                "ranking's order until every analysed image gives the class less than chance "
                "probability, or this cap is reached",
                grid=CAP_GRID,
            ),
            Param(
                "weights",
                str,
                "paper",
                choices=WEIGHTS,
                help="paper: the paper's perturbation (as lrp); class weights: only the units' "
                "weights to the forgotten class (as lrp_class)",
            ),
        )
    return (
        Param(
            "n_samples",
            int,
            36,
            (1, 1000),
            "validation images of the class analysed (paper: 36 unseen test-split images)",
        ),
        Param(
            "k",
            int,
            0,
            (0, 4096),
            "top units kept per image; 0 = auto, k_share of the analysed layer's width "
            "(paper: 50 of 512 on MNIST, 200 of 2048 on CIFAR-10)",
        ),
        Param(
            "k_share",
            float,
            k_share,
            (0.001, 1.0),
            "k as a share of the layer's width when k is 0 (paper: about 0.1)",
        ),
        *count,
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
        Param("epsilon", float, 0.1, (1e-9, 10.0), "LRP epsilon (paper: 0.1)", log_scale=True),
        Param(
            "relevance",
            str,
            "direct",
            choices=("direct", "captum"),
            help="compute the epsilon rule directly (fast) or with captum's LayerLRP "
            "(same numbers; the first call pays captum's ~1 s import)",
        ),
    )


class _NeuronPath(Method):
    """Shared by the LRA-NPP methods: neuron selection, checks, perturbation and log.

    For each forgotten class: N random validation images of the class (seeded; the paper takes
    unseen test-split images, which here only score); LRP epsilon rule (0.1) from the predicted
    class's logit to the input of ``model.head``; each sample's top-k units by signed
    relevance; the units picked most often (ties to the larger summed relevance; the authors'
    ``Counter`` keeps the first seen). Several forgotten classes are handled one after another.
    ``mode`` "gaussian" / "laplace" add noise (std / scale ``noise_scale``, authors 1.0) to the
    same weights instead of zeroing them. How many units: :attr:`rule`.
    """

    #: "fixed": the paper's n units; "until forgotten": grown until the analysed images lose it
    rule: ClassVar[str] = "fixed"

    def class_only(self, cfg: dict) -> bool:
        """True: only the chosen units' weights to the forgotten class are perturbed."""
        return False

    def check(self, model: nn.Module, task: UnlearnTask) -> None:
        super().check(model, task)
        if not isinstance(getattr(model, "head", None), nn.Linear) or not hasattr(
            model, "features"
        ):
            raise MethodNotApplicable(
                "LRA-NPP analyses the input of the model's final Linear layer: this model "
                "has no features(x) + Linear head split"
            )
        _, y_val = task.validation  # refuses data without a validation split
        for c in task.split.forgotten_classes:
            if not bool((y_val == c).any()):
                raise MethodNotApplicable(
                    f"LRA-NPP analyses unseen images of the class from the validation split, "
                    f"and the validation split has no image of class {task.data.classes[c]}"
                )

    def _perturb(
        self, model: nn.Module, c: int, idx: torch.Tensor, cfg: dict, gen: torch.Generator
    ) -> None:
        head: nn.Linear = model.head
        mode, scale = cfg["mode"], cfg["noise_scale"]
        if self.class_only(cfg):
            perturb(head.weight, (c, idx), mode, scale, gen)
            return
        unit = unit_layer(model)
        if unit is not None:  # Linear + ReLU units: incoming rows and the weights to the class
            perturb(unit[1].weight, (idx,), mode, scale, gen)
            perturb(head.weight, (c, idx), mode, scale, gen)
        else:  # pooled features: their outgoing weights to every class
            perturb(head.weight, (slice(None), idx), mode, scale, gen)

    @staticmethod
    def _index(units: list[int], head: nn.Linear) -> torch.Tensor:
        return torch.tensor(units, dtype=torch.long, device=head.weight.device)

    def _until_forgotten(
        self,
        model: nn.Module,
        c: int,
        analysed: torch.Tensor,
        order: list[int],
        cfg: dict,
        gen: torch.Generator,
    ) -> tuple[list[int], bool]:
        """Perturb units in ``order`` until :func:`class_forgotten` holds on the analysed
        images (tested after every step of ``len(order) / MAX_RULE_STEPS`` units, at least
        one) or ``order`` runs out; return the perturbed units and whether the test passed."""
        step = max(1, -(-len(order) // MAX_RULE_STEPS))
        chosen: list[int] = []
        while not class_forgotten(model, analysed, c):
            if len(chosen) == len(order):
                return chosen, False
            batch = order[len(chosen) : len(chosen) + step]
            self._perturb(model, c, self._index(batch, model.head), cfg, gen)
            chosen += batch
        return chosen, True

    def _describe(self, model: nn.Module, cfg: dict) -> tuple[str | None, str]:
        if self.class_only(cfg):
            return None, "the units' weights to the forgotten class"
        unit = unit_layer(model)
        if unit is not None:
            return unit[0], f"incoming weight rows of {unit[0]} and the units' weights to the class"
        return None, "the units' outgoing weights to every class"

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        model.eval()
        head: nn.Linear = model.head
        width = head.in_features
        k = min(cfg["k"] or max(1, round(width * cfg["k_share"])), width)
        fixed = self.rule == "fixed"
        if fixed:
            n, n_max = min(cfg["n"] or max(1, round(width * cfg["n_share"])), width), None
        else:
            n, n_max = None, min(width, max(1, round(width * cfg["n_max_share"])))
        relevance_fn = head_relevance if cfg["relevance"] == "direct" else captum_head_relevance
        unit_name, perturbed = self._describe(model, cfg)
        gen = torch.Generator().manual_seed(seed)
        data = task.data
        x_val, y_val = task.validation
        y_val = y_val.cpu()
        classes = list(task.split.forgotten_classes)
        per_class, all_rel, counts_sum = [], [], np.zeros(width, dtype=np.int64)
        for i, c in enumerate(classes):
            pool = torch.nonzero(y_val == c).flatten()
            pick = pool[torch.randperm(len(pool), generator=gen)[: cfg["n_samples"]]]
            analysed = x_val[pick.to(x_val.device)]
            feats = predict_features(model, analysed).to(head.weight.device)
            with torch.no_grad():
                pred = head(feats).argmax(1)
            rel = relevance_fn(feats, head, pred, cfg["epsilon"]).cpu()
            if fixed:
                counts, chosen = select_neurons(rel, k, n)
                self._perturb(model, c, self._index(chosen, head), cfg, gen)
                forgotten = None
            else:
                counts, order = rank_neurons(rel, k)
                chosen, forgotten = self._until_forgotten(
                    model, c, analysed, order[:n_max].tolist(), cfg, gen
                )
            all_rel.append(rel)
            counts_sum += counts
            per_class.append(
                {
                    "class": int(c),
                    "n_samples": len(pick),
                    "n_available": len(pool),
                    "short_of_samples": len(pick) < cfg["n_samples"],
                    "val_indices": pick.tolist(),
                    "predicted": pred.cpu().tolist(),
                    "relevance_mean": rel.mean(0).tolist(),
                    "counts": counts.tolist(),
                    "neurons": chosen,
                    "forgotten_on_analysed": forgotten,
                }
            )
            note = (
                "" if forgotten is not False else " (cap reached: the analysed images still see it)"
            )
            progress((i + 1) / len(classes), f"class {data.classes[c]}: {len(chosen)} units{note}")
        rel_all = torch.cat(all_rel)
        log = {
            "variant": "class weights only" if self.class_only(cfg) else "paper",
            "layer": "head",
            "analysed": "input of the final Linear (penultimate units)",
            "analysed_split": "validation",
            "unit_layer": unit_name,
            "perturbed": perturbed,
            "width": width,
            "k": k,
            "rule": self.rule,
            "n": n,  # the fixed rule's n; per class: len(neurons)
            "n_max": n_max,  # the "until forgotten" rule's cap
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


_SUMMARY = (
    "Zero-shot: show the model a few unseen pictures of the class to forget, ask layer-wise "
    "relevance propagation which units of the last hidden layer carried each decision, and cut "
    "the units that come up again and again. No retain data and no training, so it is very "
    "fast; it only forgets whole classes."
)
_PAPER = "Chang et al., arXiv 2410.23693, 2024"


@register
class LRPNeuronPerturbation(_NeuronPath):
    """LRA-NPP as in the paper and the authors' ``examples/batch_experiments/core/methods.py``:
    the fixed rule, the n units picked most often.

    Perturbation ("zero"), per architecture as the authors': where a chosen unit is the output
    of a Linear + ReLU (MLP, CNN; their MNIST model) its incoming weight row is zeroed (bias
    kept) and so is its weight to the forgotten class; where it is a pooled feature (ResNet;
    their CIFAR setting) its outgoing weights to every class are zeroed. The presets are the
    paper's shares (MNIST for MLP and CNN, CIFAR-10 for ResNet-18), not calibrated. Silencing
    whole units costs the other classes accuracy when the layer is narrow: on the 128-unit
    digits MLP 6-10 points at the authors' k/n (``shared/methods.md``); ``lrp_class`` is the
    gentler variant.
    """

    spec = MethodSpec(
        name="lrp",
        label="LRP neuron-path perturbation (LRA-NPP)",
        family="approximate",
        paper=_PAPER,
        summary=_SUMMARY
        + " Cut as in the paper: a fixed number of units; a hidden unit's incoming weights (and "
        "its link to the class), for a pooled ResNet feature its links to every class.",
        params=_params(
            k_share=PAPER_K_SHARE,
            n=(PAPER_N_SHARE, "paper: about 0.16 on MNIST, 0.2 on CIFAR-10", None),
        ),
        needs=("forget_class",),
        origin="paper",
    )


@register
class LRPClassWeights(_NeuronPath):
    """LRA-NPP, class-weights variant: the same selection and fixed rule, but only the chosen
    units' weights to the forgotten class are perturbed, for every architecture (the authors'
    ``target_class_only`` switch of their pooled-feature branch). The other classes keep every
    path, so their accuracy is spared; its presets (k 0.2, n 0.3 of the width) are calibrated on
    validation data (``benchmarks/results/lrp-rule.md``).
    """

    def class_only(self, cfg: dict) -> bool:
        return True

    spec = MethodSpec(
        name="lrp_class",
        label="LRP-NPP (class-weights variant)",
        family="approximate",
        paper=f"Variant of {_PAPER} (authors' target_class_only)",
        summary=_SUMMARY
        + " This variant cuts only the chosen units' links to the forgotten class, so the "
        "other classes keep every path.",
        params=_params(
            k_share=0.2,
            n=(0.25, "on narrow layers the paper's shares pick too few units", FIXED_GRID),
        ),
        needs=("forget_class",),
        origin="variant",
    )


@register
class LRPUntilForgotten(_NeuronPath):
    """LRA-NPP with the "until forgotten" rule (our extension, not in the paper; still
    zero-shot): units are perturbed in the ranking's order until every analysed validation
    image gives the class less than chance probability (1 / classes), at most ``n_max_share``
    of the width; each class's log says whether that test passed (``forgotten_on_analysed``).
    ``weights`` picks the paper's perturbation or the class-weights variant's. A fixed share
    forgets one class and not the next on the same model; the presets (class weights, cap 0.5)
    are calibrated on validation data (``benchmarks/results/lrp-rule.md``).
    """

    rule = "until forgotten"

    def class_only(self, cfg: dict) -> bool:
        return cfg["weights"] == "class weights"

    spec = MethodSpec(
        name="lrp_until",
        label="LRP-NPP, cut until forgotten (our extension)",
        family="approximate",
        paper=f"Our extension of {_PAPER} (the paper fixes the number of units)",
        summary=_SUMMARY
        + " Our extension: instead of the paper's fixed number of units it cuts units one "
        "after another until the analysed validation images no longer show the class (at most "
        "a cap), with the paper's cut or only the units' links to the class.",
        params=_params(k_share=PAPER_K_SHARE, cap=0.2),
        needs=("forget_class",),
        origin="extension",
    )
