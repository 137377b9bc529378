"""What a repair comparison's models look at on a triggered image: attribution maps of a few
triggered test images (the backdoor's or the spurious feature's patch stamped on test images of
the other classes) for each model, each explained for the class *it* predicts, and the share of
the attribution that lies on the patch.

The original, trained on the poisoned data, should put the triggered image in the target class
and its attribution on the patch; a model that is repaired should predict the image's own class
and spread its attribution over the digit, as the ``clean`` model does. The share on the patch
is :func:`.scores.patch_share` (the same number as the comparison's ``patch_attr`` row key,
which scores saliency on the first 32 triggered test images).

No Streamlit here; the app caches these results (``app_ui.repair_view``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from ..data import Dataset
from ..runtime.progress import Progress, no_progress
from ..training import predict_logits
from .scenarios import Scenario, ScenarioError, make_scenario
from .scores import patch_share

#: the attribution methods drawn for a triggered image (integrated gradients and saliency;
#: LRP adds a third row that says the same at 1024 px)
TRIGGER_METHODS = ("integrated_gradients", "saliency")
#: triggered test images the patch share over many images is measured on (as ``patch_attr``)
SHARE_SAMPLES = 32


def scenario_from_summary(data: Dataset, summary: Mapping) -> Scenario:
    """Rebuild the :class:`Scenario` a repair comparison ran (``comp.forget["scenario"]``, which
    :meth:`Scenario.summary` wrote) on its clean dataset ``data``: the scenario is seeded, so the
    same arguments give the same corrupted samples, patch and triggered images."""
    args = {
        k: summary.get(k)
        for k in ("kind", "fraction", "seed", "from_class", "to_class", "target_class")
    }
    if args["kind"] is None or args["fraction"] is None:
        raise ScenarioError("the comparison records no repair scenario")
    args["seed"] = int(args["seed"] or 0)
    return make_scenario(
        data,
        **args,
        detection_rate=float(summary.get("detection_rate") or 1.0),
        backdoor_fix=summary.get("backdoor_fix") or "label",
    )


def _predict(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    return predict_logits(model, x).argmax(1).numpy()


def triggered_attributions(
    models: Mapping[str, nn.Module],
    scenario: Scenario,
    ids: Sequence[int],
    methods: Sequence[str] = TRIGGER_METHODS,
    *,
    progress: Progress = no_progress,
) -> dict:
    """Attributions of the triggered test images ``ids`` (positions in
    ``scenario.triggered_test()``) under each of ``models``, each model explained for its own
    predicted class.

    Returns ``{"ids", "images"`` (the triggered inputs, ``(n, *shape)``), ``"labels"`` (their
    true classes), ``"target"`` (the class the trigger pushes to), ``"pred"`` (name -> predicted
    class per image), ``"maps"`` (method -> name -> ``(n, *shape)`` array or None),
    ``"notes"`` (method -> why a cell is empty), ``"share"`` (method -> name -> % of the
    absolute attribution on the patch, per image), ``"mask"`` (the patch, one sample's shape)}.
    """
    from ..analysis.attributions import attribution_grid

    if scenario.patch is None:
        raise ScenarioError(f"a {scenario.kind} scenario has no trigger to explain")
    xt, yt = scenario.triggered_test()
    idx = [int(i) for i in ids]
    bad = [i for i in idx if not 0 <= i < len(xt)]
    if bad:
        raise ValueError(f"triggered test images {bad} do not exist (there are {len(xt)})")
    x = xt[idx]
    out: dict = {
        "ids": idx,
        "images": x.numpy(),
        "labels": yt[idx].numpy(),
        "target": scenario.probe_class(),
        "pred": {},
        "maps": {m: {} for m in methods},
        "notes": {},
        "share": {m: {} for m in methods},
        "mask": scenario.patch.numpy(),
    }
    names = list(models)
    for k, name in enumerate(names):
        model = models[name]
        pred = _predict(model, x)
        out["pred"][name] = pred

        def part(f: float, msg: str, k: int = k) -> None:
            progress((k + f) / len(names), msg)

        with warnings.catch_warnings():  # captum: "Input Tensor 0 did not already require ..."
            warnings.simplefilter("ignore", UserWarning)
            grid = attribution_grid({name: model}, x, pred, methods, batch_size=8, progress=part)
        for m in methods:
            a = grid["maps"][m][name]
            out["maps"][m][name] = a
            out["share"][m][name] = (
                None if a is None else [patch_share(a[j], scenario.patch) for j in range(len(a))]
            )
            if m in grid["notes"]:
                prev = out["notes"].get(m)
                out["notes"][m] = (
                    grid["notes"][m] if prev is None else f"{prev}; {grid['notes'][m]}"
                )
    progress(1.0, "attributions done")
    return out


def patch_shares(
    models: Mapping[str, nn.Module], scenario: Scenario, n: int = SHARE_SAMPLES
) -> dict[str, float]:
    """Name -> % of the absolute saliency (predicted class) on the patch over the first ``n``
    triggered test images: the comparison's ``patch_attr`` for models scored without it."""
    from ..analysis.attributions import attribution_grid

    if scenario.patch is None:
        raise ScenarioError(f"a {scenario.kind} scenario has no patch")
    xt, _ = scenario.triggered_test()
    x = xt[:n]
    out = {}
    for name, model in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            grid = attribution_grid(
                {name: model}, x, _predict(model, x), ("saliency",), batch_size=len(x)
            )
        attr = grid["maps"]["saliency"][name]
        if attr is not None:  # None: a vote of several models (SISA) has no gradient
            out[name] = patch_share(attr, scenario.patch)
    return out
