"""A repair comparison through the one pipeline: :class:`RepairScorer` is the ``scenario`` hook of
:func:`unlearn_core.experiment.compare` / ``compare_seeds``.

The original trains on the corrupted set (``scenario.corrupted``), retrain trains without the
found corrupted samples (the forget set), every method gets their fixed versions through
``UnlearnTask.repair``, and a ``clean`` row (the same architecture and recipe trained on the
clean set, per seed) is the model the repair should approach. Every row gets the scenario's
numbers (:mod:`.scores`); ``finish`` adds ``restoration`` against the original and ``clean``.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from ..forget import ForgetSplit
from ..methods.base import RepairInfo
from ..training import TrainConfig, predict_logits
from . import scores as S
from .scenarios import Scenario

#: the row of the model trained on the clean data
CLEAN = "clean"


class RepairScorer:
    """Scores one :class:`Scenario` for :func:`~unlearn_core.experiment.compare`.

    ``attributions``: also the share of saliency on the patch (``patch_attr``; captum, on
    ``attribution_samples`` triggered test images). ``loss_restoration``: also the mean
    cross-entropy on the clean test set (``test_loss``) and the restoration ratio on it
    (``restoration_loss``): a continuous companion of ``restoration``, which moves in whole test
    images. ``clean_models``: seed -> a model already trained on the clean data (else each seed
    trains its own, with the original's architecture, recipe and seed).
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        attributions: bool = False,
        attribution_samples: int = 32,
        loss_restoration: bool = False,
        clean_models: dict[int, nn.Module] | None = None,
    ) -> None:
        self.scenario = scenario
        self.attributions = attributions and scenario.patch is not None
        self.attribution_samples = attribution_samples
        self.loss_restoration = loss_restoration
        self.clean_models = dict(clean_models or {})
        self._seconds: dict[int, float] = {}
        sc = scenario
        self._corrupt_x = sc.corrupted.x_train[sc.corrupted_idx]
        self._triggered = sc.triggered_test() if sc.patch is not None else None

    # -- the hook
    def repair_info(self, split: ForgetSplit) -> RepairInfo:
        return self.scenario.repair_info(split)

    def summary(self) -> dict:
        return self.scenario.summary()

    def score(self, model: nn.Module) -> dict:
        """``asr`` / ``trigger_acc`` (patch scenarios), ``true_label_acc`` (and ``patch_attr``)."""
        sc = self.scenario
        out = {
            "true_label_acc": S.true_label_acc(predict_logits(model, self._corrupt_x), sc.y_fixed)
        }
        if self._triggered is not None:
            xt, yt = self._triggered
            logits = predict_logits(model, xt)
            out["asr"] = S.asr(logits, sc.probe_class())
            out["trigger_acc"] = S.true_label_acc(logits, yt)
            if self.attributions:
                out["patch_attr"] = self.patch_attribution(model)
        if self.loss_restoration:
            d = sc.corrupted  # its test split is the clean one
            out["test_loss"] = S.mean_loss(predict_logits(model, d.x_test), d.y_test)
        return out

    def patch_attribution(self, model: nn.Module) -> float:
        """% of absolute saliency (on the predicted class) on the patch, first
        ``attribution_samples`` triggered test images."""
        from ..analysis.attributions import attribute

        xt, _ = self._triggered
        x = xt[: self.attribution_samples].to(next(model.parameters()).device)
        target = predict_logits(model, x).argmax(1)
        with warnings.catch_warnings():  # captum: "Input Tensor 0 did not already require ..."
            warnings.simplefilter("ignore", UserWarning)
            attr = attribute(model, x, target, method="saliency")
        return S.patch_share(attr, self.scenario.patch)

    def reference(
        self, model: nn.Module, train_config: TrainConfig, seed: int, device: torch.device
    ):
        """The ``clean`` row: a model of the original's architecture trained on the clean set."""
        import time

        from ..experiment import MethodResult
        from ..training import train_new_model

        res = MethodResult(
            method=CLEAN,
            label="Clean reference (trained on the uncorrupted data)",
            family="reference",
        )
        if seed not in self.clean_models:
            spec = getattr(model, "spec", {}) or {}
            arch = spec.get("arch")
            if arch is None:
                res.error = "the original records no architecture to train a clean model with"
                return res
            t0 = time.perf_counter()
            clean, _ = train_new_model(
                self.scenario.clean,
                arch,
                train_config,
                seed=seed,
                device=device,
                model_kwargs=spec.get("kwargs") or {},
            )
            self._seconds[seed] = time.perf_counter() - t0
            self.clean_models[seed] = clean
        # its training time, as retrain's (None for a model handed in)
        res.seconds = self._seconds.get(seed)
        res.model = self.clean_models[seed].to(device).eval()
        return res

    def finish(self, comp) -> None:
        """``restoration`` (clean test accuracy) and ``restoration_tla`` (true-label accuracy)
        of every row against the original (before) and the ``clean`` row; with
        ``loss_restoration``, ``restoration_loss`` on the test loss (lower is better, so the
        ratio reads the losses negated)."""
        clean = comp.get(CLEAN)
        if clean is None or not clean.ok:
            return
        before = comp.original.metrics
        for r in [comp.original, *comp.results]:
            if not r.ok:
                continue
            r.metrics["restoration"] = S.restoration(
                r.metrics.get("test_acc"), before.get("test_acc"), clean.metrics.get("test_acc")
            )
            r.metrics["restoration_tla"] = S.restoration(
                r.metrics.get("true_label_acc"),
                before.get("true_label_acc"),
                clean.metrics.get("true_label_acc"),
            )
            if self.loss_restoration:
                loss = [m.get("test_loss") for m in (r.metrics, before, clean.metrics)]
                r.metrics["restoration_loss"] = S.restoration(
                    *[None if v is None else -float(v) for v in loss]
                )
