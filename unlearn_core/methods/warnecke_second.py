"""Warnecke et al.'s second-order update (NDSS 2023, "Machine Unlearning of Features and Labels";
code alewarne/MachineUnlearning, ``Unlearner/DNNUnlearner.py``, ``approx_retraining`` with
``order=2``, ``get_inv_hvp_lissa`` / ``get_inv_hvp_cg``)."""

from __future__ import annotations

import torch
from torch import nn

from ..repair import influence as I
from ..runtime.progress import Progress
from .base import (
    Method,
    MethodNotApplicable,
    MethodSpec,
    Param,
    UnlearnOutput,
    UnlearnTask,
    register,
)


@register
class WarneckeSecondOrder(Method):
    """``theta <- theta - tau (H + lambda I)^-1 Delta`` with ``Delta = 1/n (sum_{Z~} grad l -
    sum_Z grad l)`` (see ``warnecke_first``) and ``H`` the Hessian of the mean training loss
    over the whole (corrupted) training set at the original weights, as the authors' ``hvp_x``
    default; the recipe's weight decay is added to ``H``. ``tau = 1`` is the Newton /
    influence-function step; on a plain deletion request ``Z~`` is empty.

    The inverse-Hessian-vector product is never formed: ``solver="cg"`` runs conjugate
    gradients on ``(H + lambda I) x = Delta`` with exact full-batch Hessian-vector products
    (double back-propagation), at most ``steps`` iterations, stopping at a relative residual of
    1e-6 or at a direction of non-positive curvature (a network's Hessian is indefinite; the
    iterate so far is kept). ``solver="lissa"`` runs the authors' LiSSA recursion on shuffled
    minibatches of ``batch_size`` (their default 500), ``scale`` (their default 10), damping
    ``lambda / scale`` per step (their ``damping`` 0.1 with scale 10 is ``lambda = 1``), depth
    ``steps`` (their default: one pass over the training set), early stop with patience 5.

    Where we differ from the authors' code: (1) ``Delta`` is the gradient of the mean training
    loss (sum over ``Z`` / n, the paper's influence form); their code takes the mean over ``Z``
    with a mean-loss Hessian, a step ``n / |Z|`` times larger, compensated there by their
    per-experiment ``scale`` / ``damping``; (2) their CG path calls ``scipy.optimize.fmin_ncg``
    whose Hessian product adds ``damping * v`` (the right-hand side) instead of ``damping * t``;
    ours solves ``(H + lambda I) x = Delta`` as the paper writes; (3) their poisoning experiments
    update only the last layers and repeat the step on the still-misclassified samples
    (``iter_approx_retraining``); this is the single full-model step of ``approx_retraining``.
    Refused (``MethodNotApplicable``) above ``max_params`` trainable parameters, where each
    Hessian-vector product over the training set costs about two training epochs.
    """

    spec = MethodSpec(
        name="warnecke_second",
        label="Warnecke second-order",
        family="approximate",
        paper="Warnecke, Pirch, Wressnegger & Rieck, NDSS 2023",
        summary=(
            "A Newton step that replaces the corrupted samples by their fixed versions: the "
            "change of the loss gradient, multiplied by the inverse Hessian (conjugate "
            "gradients or LiSSA, never formed). Close to retraining on the fixed data when "
            "the loss is nearly quadratic around the trained weights."
        ),
        params=(
            Param("solver", str, "cg", None, "inverse-Hessian-vector product: cg or lissa",
                  choices=("cg", "lissa")),
            Param("damping", float, 1.0, (0.0, 1e3),
                  "lambda added to the Hessian (lissa: the authors' damping x scale)",
                  log_scale=True),
            Param("steps", int, 100, (1, 100000),
                  "cg: at most this many iterations (authors' maxiter 100); lissa: recursion "
                  "depth"),
            Param("scale", float, 10.0, (1e-3, 1e9), "lissa: scale (authors' default 10)",
                  log_scale=True),
            Param("batch_size", int, 500, (1, 100000),
                  "lissa: minibatch of each Hessian-vector product (authors' default 500)"),
            Param("rounds", int, 1, (1, 100), "lissa: independent runs averaged"),
            Param("tau", float, 1.0, (0.0, 1e6), "step size (1: the Newton step)"),
            Param("max_params", int, 5_000_000, (1, 10**9),
                  "refuse models with more trainable parameters than this"),
        ),
        needs=("forget", "retain"),
    )  # fmt: skip

    def unlearn(
        self, model: nn.Module, task: UnlearnTask, cfg: dict, *, seed: int, progress: Progress
    ) -> UnlearnOutput:
        n_params = sum(p.numel() for p in I.trainable(model))
        if n_params > cfg["max_params"]:
            raise MethodNotApplicable(
                f"{n_params:,} trainable parameters: each Hessian-vector product over the "
                f"training set costs about two epochs and CG needs up to {cfg['steps']}; "
                f"raise max_params ({cfg['max_params']:,}) to run it anyway"
            )
        model.eval()
        tc = task.train_config
        ls, wd = tc.label_smoothing, tc.weight_decay
        progress(0.0, "gradients on the forget samples and their fixes")
        delta = I.repair_gradient(
            model, task.forget, task.fixed, task.data.n_train, label_smoothing=ls
        )
        x, y = task.train_all
        steps = cfg["steps"]
        log = {
            "form": "repair" if task.repair is not None else "deletion",
            "solver": cfg["solver"],
            "delta_norm": I.norm(delta),
            "parameters": n_params,
        }
        if cfg["solver"] == "cg":
            done = [0]

            def apply(v):
                done[0] += 1
                progress(min(done[0] / steps, 0.99), f"CG iteration {done[0]}")
                return I.hvp(model, x, y, v, label_smoothing=ls, weight_decay=wd)

            step, info = I.conjugate_gradients(apply, delta, damping=cfg["damping"], steps=steps)
        else:
            gen = torch.Generator().manual_seed(seed)
            bs = min(cfg["batch_size"], len(x))
            orders: list[torch.Tensor] = []

            def apply_batch(t: int, v):
                per_pass = max(len(x) // bs, 1)
                while len(orders) <= t // per_pass:
                    orders.append(torch.randperm(len(x), generator=gen).to(x.device))
                k = t % per_pass
                idx = orders[t // per_pass][k * bs : (k + 1) * bs]
                progress(min((t + 1) / (steps * cfg["rounds"]), 0.99), f"LiSSA step {t + 1}")
                return I.hvp(model, x[idx], y[idx], v, label_smoothing=ls, weight_decay=wd)

            step, info = I.lissa(
                apply_batch,
                delta,
                damping=cfg["damping"],
                scale=cfg["scale"],
                steps=steps,
                rounds=cfg["rounds"],
            )
        I.apply_step(model, step, cfg["tau"])
        log.update(solver_log=info, step_norm=I.norm(step))
        return UnlearnOutput(model, log)
