"""The unlearning inversion attack's two parts: feature recovery by gradient matching and label
inference from probe confidences (Hu et al., "Learn What You Want to Unlearn: Unlearning
Inversion Attacks against Machine Unlearning", IEEE S&P 2024; reference code
TASI-LAB/Unlearning-inversion-attacks, ``recovery_data.py``, ``recovery/recovery_algo.py``,
``label_inference.py``, ``gen_probing_samples.py``).

Feature recovery. The attacker holds the original weights and the unlearned ones; their
difference ``delta = theta_unlearned - theta_original`` points along the forgotten samples'
loss gradient (gradient ascent steps up it; for exact unlearning the authors build the
update from fine-tuned models so that it does too). Starting from random images, Adam
minimises ``1 - cos(grad_theta CE(f(x), y), delta) + tv * TV(x)`` with the gradient taken at
the original weights, the model in eval mode (BatchNorm uses its running statistics), the
images kept inside the data's value range, several restarts; the restart with the lowest
matching cost (``1 - cos``, no TV) is kept. As the reference (``recons_config``): signed
gradients (Adam sees the sign of each pixel's gradient), the cosine over all parameters
concatenated (their ``cost_fn='sim'``), TV as the mean absolute difference of neighbouring
pixels, the learning rate halved at 3/8, 5/8 and 7/8 of the iterations, scoring by the
matching loss.

Where we differ from the reference code:

- fewer iterations and a larger step for the small images here (the reference runs 10 000
  iterations of lr 0.04 and 5 restarts on 32x32 / 96x96 images; see :class:`InversionConfig`);
- plain Adam, where the reference names AdamW (whose default weight decay pulls pixels
  towards 0);
- images start uniform in the box (the reference draws ``randn`` and clamps it at the first
  step) and are clamped after every step (the reference clamps before each step, so its last
  image may leave the box by one step);
- restarts and samples run together as one batch through ``torch.func`` (``vmap`` of the
  per-candidate double gradient) instead of one after another (in chunks for large models);

ResNet-18 runs with BatchNorm in eval mode (its running statistics; a test checks the
batched double gradient), but on a CPU it is slow: about 3 s per step for 4 candidates (11 M
parameters, one core, under load), so the default 600 steps take hours there; use a GPU or
fewer steps. The MLP and the CNN take seconds to a minute on the digits.
- the reference hands the true labels to the reconstruction; here the labels come from label
  inference by default (``labels="inferred"``, an attacker without them), ``labels="true"``
  gives the reference's setting;
- label inference reads the probes at the original weights moved along the attacked update
  scaled to ``label_scale`` of their norm (and without the weight-decay share when
  ``remove_decay``), not at the unlearned weights themselves (``label_scale=None`` does that);
- probes: the reference finds them with a black-box zeroth-order attack (ZOO, from the
  Adversarial Robustness Toolbox) that pushes random noise until the original model's
  confidence in the class reaches 0.9995; the attacker here holds the weights, so the same
  objective (the class's log-probability, inside the box, same threshold) is climbed with
  Adam on the true gradient. Inference itself is the reference's: for each class ``c``, the
  mean change ``p_unlearned(c) - p_original(c)`` over the (first 10) probes the original
  predicts as ``c``; the inferred label is the class whose confidence fell most. For several
  samples forgotten together the ``k`` classes that fell most are the inferred labels (the
  reference infers one class per request).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..runtime.progress import Progress, no_progress


class InversionError(ValueError):
    """The attack cannot run on this model or data; the message says why."""


#: labels handed to the reconstruction: inferred by the attack, or the true ones (reference code)
LABEL_SOURCES = ("inferred", "true")


@dataclass
class InversionConfig:
    """The attack's settings (defaults chosen on training samples outside the benchmark's, see
    ``benchmarks/inversion.py``)."""

    iterations: int = 600
    restarts: int = 4
    lr: float = 0.1
    tv: float = 1e-2
    signed: bool = True
    lr_decay: bool = True
    labels: str = "inferred"
    #: our extension (off = the paper's raw delta): remove the component of delta along the
    #: original weights, where weight decay in the unlearning optimiser puts its share
    #: (``-lr * wd * theta`` per step); see :func:`attack_target`
    remove_decay: bool = True
    #: label inference reads the probes at ``theta + s * target`` with ``s`` scaling the
    #: attacked update to this fraction of the original weights' norm (None: ``theta_unlearned``
    #: itself, the reference). Ours: a small update changes the confidence of a saturated probe
    #: (0.9995) by less than float32 resolves; in the linear regime the answer is the same
    label_scale: float | None = 0.01
    probes_per_class: int = 10
    probe_steps: int = 200
    probe_lr: float = 0.1
    probe_threshold: float = 0.9995
    #: candidates per ``vmap`` call are limited so that their targets hold about this many floats
    chunk_floats: int = 20_000_000

    def __post_init__(self) -> None:
        if self.labels not in LABEL_SOURCES:
            raise InversionError(f"labels: {self.labels!r} is not one of {list(LABEL_SOURCES)}")
        if self.iterations < 1 or self.restarts < 1 or self.probes_per_class < 1:
            raise InversionError("iterations, restarts and probes_per_class must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> InversionConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


# ------------------------------------------------------------------------------- weights


def flat_params(model: nn.Module) -> torch.Tensor:
    """All trainable parameters of ``model`` as one vector (``named_parameters`` order)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def weight_delta(original: nn.Module, unlearned: nn.Module) -> torch.Tensor:
    """``theta_unlearned - theta_original`` as one vector; the two must share an architecture."""
    a, b = list(original.named_parameters()), list(unlearned.named_parameters())
    if [(n, p.shape) for n, p in a] != [(n, p.shape) for n, p in b]:
        raise InversionError("the original and unlearned models have different architectures")
    return flat_params(unlearned).to(flat_params(original).device) - flat_params(original)


def attack_target(delta: torch.Tensor, theta: torch.Tensor, remove_decay: bool) -> torch.Tensor:
    """The vector the attack matches: ``delta``, or with ``remove_decay`` its part orthogonal
    to ``theta`` (the original weights). An optimiser with weight decay adds
    ``-lr * wd * theta_t`` to every step, and ``theta_t`` stays close to ``theta``: on the
    digits MLP, NegGrad on one well-fitted sample moves the weights mostly this way (cosine of
    delta with the sample's gradient 0.05-0.15), and the projection brings the cosine to
    0.8-1.0. Not in the paper (its approximate update is plain gradient ascent)."""
    if not remove_decay:
        return delta
    t = theta.to(delta)
    return delta - (delta @ t) / (t @ t).clamp_min(1e-30) * t


def with_delta(model: nn.Module, delta: torch.Tensor) -> nn.Module:
    """A copy of ``model`` (eval mode) whose parameters are moved by the vector ``delta``."""
    import copy

    out = copy.deepcopy(model).eval()
    theta = flat_params(out) + delta.to(flat_params(out).device)
    torch.nn.utils.vector_to_parameters(theta, out.parameters())
    return out


def check_model(model: nn.Module, input_shape: tuple[int, ...]) -> None:
    """Refuse what the attack cannot handle: non-image inputs; models with dropout are fine
    (eval mode), BatchNorm runs on its running statistics (eval mode)."""
    if len(input_shape) != 3:
        raise InversionError(
            f"the inversion attack reconstructs images (C, H, W); this data's inputs have "
            f"shape {tuple(input_shape)}"
        )
    if not any(p.requires_grad for p in model.parameters()):
        raise InversionError("the model has no trainable parameters")


# ------------------------------------------------------------------------------- priors


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of horizontal plus vertical neighbours (the reference's TV)."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    return dx + dy


# ------------------------------------------------------------------------ label inference


def make_probes(
    model: nn.Module,
    num_classes: int,
    input_shape: tuple[int, ...],
    box: tuple[float, float],
    cfg: InversionConfig,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
) -> torch.Tensor:
    """``probes_per_class`` inputs per class on which the original model is confident in that
    class (``probe_threshold``, or as far as ``probe_steps`` Adam steps get), class by class;
    they start as uniform noise in ``box``. See the module text for the reference's version."""
    dev = next(model.parameters()).device
    lo, hi = box
    gen = torch.Generator().manual_seed(seed)
    n = cfg.probes_per_class
    x = (lo + (hi - lo) * torch.rand((num_classes * n, *input_shape), generator=gen)).to(dev)
    target = torch.arange(num_classes, device=dev).repeat_interleave(n)
    rows = torch.arange(len(target), device=dev)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.probe_lr)
    done = torch.zeros(len(target), dtype=torch.bool, device=dev)
    log_thr = math.log(cfg.probe_threshold)
    model.eval()
    last = time.perf_counter()
    for step in range(cfg.probe_steps):
        logp = F.log_softmax(model(x), dim=1)[rows, target]
        done |= logp.detach() >= log_thr
        if bool(done.all()):
            break
        keep = x.detach().clone()
        opt.zero_grad()
        (-(logp * (~done)).sum()).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(lo, hi)
            x[done] = keep[done]
        if time.perf_counter() - last >= 0.2:
            last = time.perf_counter()
            progress(step / cfg.probe_steps, f"probes: step {step}/{cfg.probe_steps}")
    return x.detach()


@torch.no_grad()
def confidence_change(
    original: nn.Module, unlearned: nn.Module, probes: torch.Tensor, per_class: int = 10
) -> torch.Tensor:
    """Per class ``c``: the mean of ``p_unlearned(c) - p_original(c)`` over the first
    ``per_class`` probes the original predicts as ``c`` (nan for a class no probe lands in)."""
    original.eval()
    unlearned.eval()
    p_o = F.softmax(original(probes), dim=1)
    p_u = F.softmax(unlearned(probes.to(next(unlearned.parameters()).device)), dim=1).to(p_o)
    pred = p_o.argmax(1)
    k = p_o.shape[1]
    out = torch.full((k,), float("nan"), dtype=torch.float64)
    for c in range(k):
        sel = torch.nonzero(pred == c).flatten()[:per_class]
        if len(sel):
            out[c] = float((p_u[sel, c] - p_o[sel, c]).mean())
    return out


def infer_labels(change: torch.Tensor, k: int = 1) -> list[int]:
    """The ``k`` classes whose probe confidence fell most (smallest change first)."""
    filled = torch.where(torch.isnan(change), torch.full_like(change, math.inf), change)
    return [int(c) for c in torch.argsort(filled)[:k]]


# ------------------------------------------------------------------------ feature recovery


@dataclass
class Reconstruction:
    """The best restart of one gradient-matching problem."""

    images: torch.Tensor  # (k, C, H, W)
    labels: list[int]
    match_loss: float  # 1 - cos at the chosen restart, no TV
    restart_losses: list[float]


def _matcher(model: nn.Module, tv_weight: float) -> Callable:
    """``f(x, y, target) -> (d objective / dx, 1 - cos)``, batched over candidates:
    ``x (B, k, C, H, W)``, ``y (B, k)``, ``target (B, P)`` unit vectors."""
    from torch.func import functional_call, grad, vmap

    params = {n: p.detach() for n, p in model.named_parameters()}
    buffers = {n: b.detach() for n, b in model.named_buffers()}
    names = list(params)

    def model_gradient(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        def loss(p: dict) -> torch.Tensor:
            return F.cross_entropy(functional_call(model, (p, buffers), (x,)), y)

        g = grad(loss)(params)
        return torch.cat([g[n].reshape(-1) for n in names])

    def objective(x: torch.Tensor, y: torch.Tensor, target: torch.Tensor):
        g = model_gradient(x, y)
        cost = 1.0 - (g @ target) / (g.norm() + 1e-12)
        return cost + tv_weight * total_variation(x), cost

    return vmap(grad(objective, has_aux=True))


def match_gradients(
    model: nn.Module,
    deltas: list[torch.Tensor],
    labels: list[list[int]],
    input_shape: tuple[int, ...],
    box: tuple[float, float],
    cfg: InversionConfig,
    *,
    seed: int = 0,
    progress: Progress = no_progress,
) -> list[Reconstruction]:
    """Reconstruct, for each weight change ``deltas[g]``, ``len(labels[g])`` images whose
    summed loss gradient at ``model``'s weights points along it. All problems must have the
    same number of images. ``progress`` hears from every step at least every 0.2 s."""
    check_model(model, input_shape)
    if not deltas:
        return []
    ks = {len(lab) for lab in labels}
    if len(ks) != 1 or len(labels) != len(deltas):
        raise InversionError("every problem needs the same number of labels, one list per delta")
    k = ks.pop()
    model.eval()
    dev = next(model.parameters()).device
    lo, hi = box
    r = cfg.restarts
    n_problems = len(deltas)
    b = n_problems * r
    targets = torch.stack([d.to(dev) / d.norm().clamp_min(1e-30) for d in deltas])
    targets = targets.repeat_interleave(r, dim=0)  # (B, P): problem-major, restarts inside
    y = torch.tensor(labels, device=dev, dtype=torch.long).repeat_interleave(r, dim=0)
    gen = torch.Generator().manual_seed(seed)
    x = (lo + (hi - lo) * torch.rand((b, k, *input_shape), generator=gen)).to(dev)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=cfg.lr)
    milestones = {int(cfg.iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)} if cfg.lr_decay else set()
    fn = _matcher(model, cfg.tv)
    chunk = max(1, int(cfg.chunk_floats // max(1, targets.shape[1])))
    costs = torch.zeros(b, device=dev)

    last = time.perf_counter()
    it = 0

    def step_grads() -> torch.Tensor:
        nonlocal last
        out = torch.empty_like(x)
        for s in range(0, b, chunk):
            g, c = fn(x.detach()[s : s + chunk], y[s : s + chunk], targets[s : s + chunk])
            out[s : s + chunk] = g
            costs[s : s + chunk] = c.detach()
            if b > chunk and time.perf_counter() - last >= 0.2:  # a large model: slow steps
                last = time.perf_counter()
                progress(
                    it / cfg.iterations,
                    f"matching gradients: step {it + 1}/{cfg.iterations}, candidate {s + 1}/{b}",
                )
        return out

    progress(0.0, f"matching gradients: {n_problems} problem(s) x {r} restarts")
    for it in range(cfg.iterations):
        g = step_grads()
        x.grad = g.sign() if cfg.signed else g
        opt.step()
        with torch.no_grad():
            x.clamp_(lo, hi)
        if it + 1 in milestones:
            for group in opt.param_groups:
                group["lr"] *= 0.5
        now = time.perf_counter()
        if now - last >= 0.2:
            last = now
            progress(
                (it + 1) / cfg.iterations,
                f"matching gradients: step {it + 1}/{cfg.iterations}, "
                f"best 1-cos {float(costs.min()):.3f}",
            )
    step_grads()  # the matching cost at the final, clamped images
    per = costs.reshape(n_problems, r).cpu()
    out = []
    for p in range(n_problems):
        best = int(torch.argmin(torch.nan_to_num(per[p], nan=math.inf)))
        out.append(
            Reconstruction(
                images=x.detach()[p * r + best].cpu(),
                labels=list(labels[p]),
                match_loss=float(per[p, best]),
                restart_losses=[float(v) for v in per[p]],
            )
        )
    return out


def gradient_cosine(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor
) -> float:
    """``cos(grad_theta CE(f(x), y), delta)`` at ``model``'s weights (eval mode): how well a
    weight change points along these samples' loss gradient (a diagnostic with the true
    samples; the attack never reads it)."""
    model.eval()
    dev = next(model.parameters()).device
    loss = F.cross_entropy(model(x.to(dev)), y.to(dev))
    g = torch.autograd.grad(loss, [p for p in model.parameters()])
    g = torch.cat([t.reshape(-1) for t in g])
    d = delta.to(dev)
    return float((g @ d) / (g.norm() * d.norm()).clamp_min(1e-30))
