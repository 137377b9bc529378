"""Warnecke et al.'s first-order update (NDSS 2023, "Machine Unlearning of Features and Labels";
code alewarne/MachineUnlearning, ``Unlearner/DNNUnlearner.py``, ``approx_retraining`` with
``order=1``)."""

from __future__ import annotations

from torch import nn

from ..repair import influence as I
from ..runtime.progress import Progress
from ..training import predict_logits
from .base import Method, MethodSpec, Param, UnlearnOutput, UnlearnTask, register

#: the unlearning rates ``tau=0`` (auto) tries, smallest first
TAU_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


@register
class WarneckeFirstOrder(Method):
    """``theta <- theta - tau * Delta``, ``Delta = 1/n (sum_{Z~} grad l - sum_Z grad l)``.

    ``Z`` are the forget samples, ``Z~`` their fixed versions (``UnlearnTask.repair``: true
    labels, un-patched inputs); on a plain deletion request ``Z~`` is empty. Gradients of the
    recipe's loss (cross-entropy with its label smoothing) at the original weights, eval mode.

    Where we differ from the authors' code: their gradient sums per-batch *means* (Keras'
    default loss reduction; one batch of up to 2048 samples, so the mean over ``Z``), ours is
    the gradient of the mean training loss (sum over ``Z`` divided by the training-set size
    ``n``, the paper's influence form); the two differ by the factor ``n / |Z|``, which ``tau``
    absorbs. The authors pick ``tau`` by a grid per dataset; ``tau=0`` here picks it from
    :data:`TAU_GRID` on the *validation* split (our rule, no test data): the largest ``tau``
    whose validation accuracy is within ``tolerance`` points of the best one on the grid.
    """

    spec = MethodSpec(
        name="warnecke_first",
        label="Warnecke first-order",
        family="approximate",
        paper="Warnecke, Pirch, Wressnegger & Rieck, NDSS 2023",
        summary=(
            "One closed-form gradient step that replaces the corrupted samples by their fixed "
            "versions (true labels, patch removed): the weights move against the change of "
            "the loss gradient. No Hessian, no training loop; a plain deletion drops the "
            "samples' gradient instead."
        ),
        params=(
            Param("tau", float, 0.0, (0.0, 1e6),
                  "unlearning rate; 0: picked from a grid on the validation split", log_scale=False),
            Param("tolerance", float, 1.0, (0.0, 100.0),
                  "tau=0: largest tau whose validation accuracy is within this many points of "
                  "the best"),
        ),
        needs=("forget", "retain"),
    )  # fmt: skip

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        model.eval()
        ls = task.train_config.label_smoothing
        progress(0.0, "gradients on the forget samples and their fixes")
        delta = I.repair_gradient(
            model, task.forget, task.fixed, task.data.n_train, label_smoothing=ls
        )
        log = {
            "form": "repair" if task.repair is not None else "deletion",
            "delta_norm": I.norm(delta),
        }
        tau = cfg["tau"]
        if tau == 0:
            xv, yv = task.validation
            base = [p.detach().clone() for p in I.trainable(model)]
            trials = []
            for i, t in enumerate(TAU_GRID):
                I.apply_step(model, delta, t)
                acc = float((predict_logits(model, xv).argmax(1) == yv.cpu()).float().mean()) * 100
                trials.append({"tau": t, "val_acc": acc})
                _restore(model, base)
                progress((i + 1) / (len(TAU_GRID) + 1), f"tau {t:g}: validation {acc:.1f}%")
            best = max(tr["val_acc"] for tr in trials)
            tau = max(tr["tau"] for tr in trials if tr["val_acc"] >= best - cfg["tolerance"])
            log["tau_trials"] = trials
        I.apply_step(model, delta, tau)
        log["tau"] = tau
        return UnlearnOutput(model, log)


def _restore(model: nn.Module, base) -> None:
    import torch

    with torch.no_grad():
        for p, b in zip(I.trainable(model), base, strict=True):
            p.copy_(b)
