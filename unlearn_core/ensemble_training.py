"""Many small models of one architecture trained together in one process (batched ensembles).

:func:`train_many` trains one model per seed with a recipe, each as
:func:`~unlearn_core.training.train_new_model` trains it alone, but in one loop over stacked
weights: the K models' parameters are stacked (``torch.func.stack_module_state``), every step
runs the K forward and backward passes as batched kernels (a linear layer is one batched matrix
product, a convolution one grouped convolution, activations and pooling one call over all
members) and one optimiser call updates every member. Per member this is the single-model
recipe step for step:

* **init**: member ``s`` is built right after ``torch.manual_seed(s)``, as ``train_new_model``
  and the ``retrain`` method build theirs, so its initial weights are the same;
* **data order**: member ``s`` draws each epoch's permutation from its own
  ``torch.Generator().manual_seed(s)``, as :func:`~unlearn_core.training.train` does, so it sees
  the same batches in the same order (every member has the same number of samples, so the
  batches line up, the last shorter one too);
* **loss, optimiser, schedule**: each member's cross-entropy (label smoothing included) on its
  own batch, summed, so one backward pass gives every member exactly its own gradient; Adam
  or SGD (momentum, weight decay) with the recipe's rate and one-cycle schedule, the same for
  every member since all take the same steps;
* **modes**: MLP and CNN hold no batch norm or dropout, so train and eval mode compute the same.

**Bit for bit on the CPU.** A batched kernel may sum in another order than the single-model one
(a grouped convolution over one input channel; with 2 torch threads some batched matrix
products), and a last-bit difference grows with training (Adam turns a near-zero gradient into
a full step): trained with ``torch.vmap`` over ``functional_call``, the digits MLP's weights
ended up to 0.05 away from the one-by-one ones after its 40-epoch recipe, the CNN's 0.1 after
15 epochs. So on the CPU each layer's batched forward and backward are first checked
bit-identical to the single-model kernels on random data of the run's exact shapes (K, both
batch sizes, the thread count; :func:`layer_plan`, cached per shape); a layer whose batched
kernel differs runs member by member inside the batched step (exact, as fast as alone), and the
result names it (:attr:`EnsembleTraining.per_member`). Exact by construction: a linear layer's
backward written out (:class:`_StackedLinear`) to take the products single-model autograd
takes; the loss one call per member (a batched mean sums in another order); the fused
optimiser over per-member views of the stacked tensors (over the stacked tensors themselves a
member's last elements fall elsewhere in the kernel's vector / scalar-tail split, and SGD with
momentum rounded them differently). ``tests/test_ensemble_training.py`` checks the weights and
histories equal with ``torch.equal``. Off the CPU nothing is checked (bf16 autocast on CUDA
rounds anyway): every layer runs batched, one optimiser over the stacked tensors, and
:attr:`EnsembleTraining.exact` is None; the recipe's ``channels_last`` and ``compile`` (speed
options) are not used there.

Models that cannot be batched train one by one through ``train_new_model``, and the result says
so (:attr:`EnsembleTraining.batched` False and :attr:`EnsembleTraining.reason`): a layer with
running statistics (batch norm in ResNet-18) or randomness (dropout), an architecture whose
forward pass is not a known chain of layers (:data:`CHAINS`), a layer this module does not
implement (:data:`BATCHABLE`), or an optimiser other than Adam and SGD.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import stack_module_state

from .models import MLP, SmallCNN, UnlearnModel, build_model
from .runtime.device import pick_device, seed_everything
from .runtime.progress import Progress, checkpoint, no_progress, reporting, sub_progress
from .training import (
    History,
    TrainConfig,
    autocast,
    default_recipe,
    make_optimizer,
    make_scheduler,
    train_new_model,
)

#: per model class, the layers its forward pass applies one after another
CHAINS: dict[type[nn.Module], Callable[[nn.Module], list[nn.Module]]] = {
    MLP: lambda m: [*m.body, m.head],
    SmallCNN: lambda m: [*m.body, m.head],
}
#: the layer types the batched step implements (no buffers, no randomness)
BATCHABLE: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten)
#: the optimisers whose update is element-wise (the same on stacked tensors)
OPTIMIZERS = ("adam", "sgd")
#: on the CPU, the most bytes of layer outputs one batched step may hold over all its members;
#: :func:`auto_group_size` splits larger ensembles into groups that fit. Measured on 2 shared
#: cores (``benchmarks/results/ensemble_training.md``): the digits CNN (1.9 MB a member at
#: batch 64) in one stacked group cost more CPU time per model the bigger K (1.27x faster than
#: one by one at K = 8, 1.06x at 32, 0.81x at 128; its steps are bound by memory traffic), in
#: groups of 8 1.1x-1.3x at every K; the MLP (0.1 MB a member) gained with K (about 2x at
#: K = 8, 2.5x at 128)
ACTIVATION_BUDGET = 16 * 2**20


@dataclass
class EnsembleTraining:
    """What :func:`train_many` trained: one model per seed, in seed order (eval mode)."""

    models: list[UnlearnModel]
    histories: list[History]
    seeds: list[int]
    #: True: trained together (stacked); False: one by one, for :attr:`reason`
    batched: bool
    #: why the models trained one by one (None when batched)
    reason: str | None = None
    #: batched: True when every kernel was checked bit-identical to the single-model one (the
    #: weights equal one-by-one training bit for bit), False when some could not be, None when
    #: not checked (not on the CPU). One by one: True.
    exact: bool | None = True
    #: the layers that ran member by member inside the batched step, to stay exact
    per_member: list[str] = field(default_factory=list)
    #: wall-clock seconds for all of them
    seconds: float = 0.0
    #: how many models each stacked group held (empty when one by one)
    groups: list[int] = field(default_factory=list)


def layer_chain(model: nn.Module) -> list[nn.Module] | None:
    """The layers ``model``'s forward pass applies in order, or None when not known."""
    make = CHAINS.get(type(model))
    return make(model) if make is not None else None


def batch_blocker(model: nn.Module, cfg: TrainConfig | None = None) -> str | None:
    """Why ``model`` (with recipe ``cfg``) cannot train batched, or None when it can."""
    name = type(model).__name__
    if any(True for _ in model.buffers()):
        kinds = sorted({type(m).__name__ for m in model.modules() if list(m.buffers(False))})
        return (
            f"{name} has {', '.join(kinds)} layers, whose running statistics each model "
            "updates in place as it trains; the batched step does not reproduce that"
        )
    chain = layer_chain(model)
    if chain is None:
        return f"{name}'s forward pass is not a known chain of layers (CHAINS)"
    odd = sorted({type(m).__name__ for m in chain if not _supported(m)})
    if odd:
        return f"{name} has layers the batched step does not implement: {', '.join(odd)}"
    if cfg is not None and cfg.optimizer not in OPTIMIZERS:
        return f"optimizer {cfg.optimizer!r} is not known to update element by element"
    return None


def _supported(m: nn.Module) -> bool:
    if not isinstance(m, BATCHABLE):
        return False
    if isinstance(m, nn.Conv2d):
        return m.groups == 1 and m.padding_mode == "zeros" and not isinstance(m.padding, str)
    if isinstance(m, nn.ReLU):
        return not m.inplace
    if isinstance(m, nn.MaxPool2d):
        return not m.return_indices
    if isinstance(m, nn.Flatten):
        return m.start_dim == 1 and m.end_dim == -1
    return True


# ----------------------------------------------------------------------------- layers
# Activations are member-major ``K x B x ...`` ("member") or, between convolutions, grouped
# ``B x (K*C) x H x W`` ("grouped"); each layer takes either and says what it returns.


class _StackedLinear(torch.autograd.Function):
    """``h @ w^T + b`` per member (``h``: K x B x I, ``w``: K x O x I, ``b``: K x O or None)
    with the products single-model autograd takes for ``F.linear``: ``grad_out @ w`` and
    ``grad_out^T @ h`` (autograd's own ``baddbmm`` backward takes ``h^T @ grad_out``, which
    sums in another order on some shapes)."""

    @staticmethod
    def forward(ctx, h, w, b):
        ctx.save_for_backward(h, w)
        ctx.has_bias = b is not None
        if b is None:
            return torch.bmm(h, w.transpose(1, 2))
        return torch.baddbmm(b.unsqueeze(1), h, w.transpose(1, 2))

    @staticmethod
    def backward(ctx, go):
        h, w = ctx.saved_tensors
        gh = torch.bmm(go, w) if ctx.needs_input_grad[0] else None
        gw = torch.bmm(go.transpose(1, 2), h) if ctx.needs_input_grad[1] else None
        gb = go.sum(1) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return gh, gw, gb


class _Swap(torch.autograd.Function):
    """The first two dimensions swapped, as a contiguous copy, and the gradient swapped back
    the same way (a transposed view's gradient would reach the layer before with strides that
    make its backward kernels several times slower)."""

    @staticmethod
    def forward(ctx, h):
        return h.transpose(0, 1).contiguous()

    @staticmethod
    def backward(ctx, g):
        return g.transpose(0, 1).contiguous()


def _to_member(h: torch.Tensor, layout: str, k: int) -> torch.Tensor:
    if layout == "member":
        return h
    b, kc = h.shape[:2]
    return _Swap.apply(h.reshape(b, k, kc // k, *h.shape[2:]))


def _to_grouped(h: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "grouped":
        return h
    k, b, c = h.shape[:3]
    return _Swap.apply(h).reshape(b, k * c, *h.shape[3:])


class _Layer:
    """One layer of the chain over K members: ``single`` is the one-model op (the reference),
    ``batched`` the op over all members, ``member`` the one-model op member by member."""

    def __init__(self, module: nn.Module, name: str, params: list[torch.Tensor], exact: bool):
        self.module, self.name, self.params, self.exact_mode = module, name, params, exact

    @property
    def label(self) -> str:
        return f"{self.name} ({type(self.module).__name__})"

    def single(self, x: torch.Tensor, *p: torch.Tensor) -> torch.Tensor:
        m = self.module
        if isinstance(m, nn.Linear):
            return F.linear(x, *p)
        if isinstance(m, nn.Conv2d):
            return F.conv2d(x, *p, m.stride, m.padding, m.dilation)
        return m(x)

    def batched(self, h, layout, params) -> tuple[torch.Tensor, str]:
        m, k = self.module, params[0].shape[0] if params else None
        if isinstance(m, nn.Linear):
            h = _to_member(h, layout, k)
            w, b = params[0], params[1] if len(params) > 1 else None
            if self.exact_mode:
                return _StackedLinear.apply(h, w, b), "member"
            out = torch.bmm(h, w.transpose(1, 2))
            return (out if b is None else out + b.unsqueeze(1)), "member"
        if isinstance(m, nn.Conv2d):
            w, b = params[0], params[1] if len(params) > 1 else None
            x = _to_grouped(h, layout)
            out = F.conv2d(
                x, w.reshape(-1, *w.shape[2:]), None if b is None else b.reshape(-1),
                m.stride, m.padding, m.dilation, k,
            )  # fmt: skip
            return out, "grouped"
        if layout == "grouped" or isinstance(m, nn.ReLU):
            return m(h), layout  # per plane / per element: the layout does not matter
        return m(h.flatten(0, 1)).unflatten(0, h.shape[:2]), "member"  # pooling, member-major

    def member(self, h, layout, params, k: int) -> tuple[torch.Tensor, str]:
        h = _to_member(h, layout, k)
        outs = [self.single(h[i], *(p[i] for p in params)) for i in range(k)]
        return torch.stack(outs), "member"


def _flatten_member(h: torch.Tensor, layout: str, k: int) -> torch.Tensor:
    return _to_member(h, layout, k).flatten(2)


def _forward(layers: list[_Layer], plan: Sequence[bool], x: torch.Tensor, k: int) -> torch.Tensor:
    """The K members' logits (K x B x classes) for inputs ``x`` (K x B x ...)."""
    h, layout = x, "member"
    for layer, batched in zip(layers, plan, strict=True):
        if isinstance(layer.module, nn.Flatten):
            h, layout = _flatten_member(h, layout, k), "member"
        elif batched:
            h, layout = layer.batched(h, layout, layer.params)
        else:
            h, layout = layer.member(h, layout, layer.params, k)
    return _to_member(h, layout, k)


def _losses(out: torch.Tensor, y: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Each member's cross-entropy (K values), one call per member: a batched one averages
    over the batch in another order (the gradient agrees, the loss value in the history not)."""
    return torch.stack(
        [F.cross_entropy(out[i], y[i], label_smoothing=smoothing) for i in range(len(out))]
    )


# ----------------------------------------------------------------------------- exactness checks


def _same(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(torch.equal(a, b))


def _check_layer(
    layer: _Layer, k: int, batch: int, in_shape, needs_grad: bool, batched: bool, dev
) -> tuple[bool, tuple[int, ...]]:
    """Whether ``layer``'s batched (or member-by-member) forward and backward equal the
    single-model op bit for bit on random data of these shapes; and its output shape."""
    g = torch.Generator().manual_seed(1234)
    xs = [torch.randn(batch, *in_shape, generator=g).to(dev) for _ in range(k)]
    ps = [
        [torch.randn(p.shape[1:], generator=g).to(dev) * 0.1 for _ in range(k)]
        for p in layer.params
    ]
    # the reference: one model at a time, fresh tensors, plain autograd
    ref = []
    for i in range(k):
        xi = xs[i].clone().requires_grad_(needs_grad)
        pi = [p[i].clone().requires_grad_() for p in ps]
        out = layer.single(xi, *pi)
        go = torch.randn(out.shape, generator=g).to(dev)
        if out.requires_grad:
            out.backward(go)
        ref.append((out.detach(), go, xi.grad, [q.grad for q in pi]))
    h = torch.stack(xs).requires_grad_(needs_grad)
    stacked = [torch.stack(p).requires_grad_() for p in ps]
    if isinstance(layer.module, nn.Flatten):
        out, layout = _flatten_member(h, "member", k), "member"
    elif batched:
        out, layout = layer.batched(h, "member", stacked)
    else:
        out, layout = layer.member(h, "member", stacked, k)
    out = _to_member(out, layout, k)
    if out.requires_grad:
        out.backward(torch.stack([r[1] for r in ref]))
    ok = all(
        _same(out[i].detach(), r[0])
        and (not needs_grad or _same(h.grad[i], r[2]))
        and all(_same(s.grad[i], q) for s, q in zip(stacked, r[3], strict=True))
        for i, r in enumerate(ref)
    )
    return ok, tuple(ref[0][0].shape[1:])


@dataclass(frozen=True)
class Plan:
    """Per layer, batched (True) or member by member (False), and whether every layer is then
    bit-identical to the single-model kernels (None: not checked)."""

    layers: tuple[bool, ...]
    exact: bool | None
    per_member: tuple[str, ...] = ()


def layer_plan(
    layers: list[_Layer], k: int, batches: Sequence[int], in_shape, dev: torch.device,
    check: bool = True,
) -> Plan:  # fmt: skip
    """Per layer, batched where its forward and backward are bit-identical to the single-model
    kernels for every batch size in ``batches`` (:func:`_check_layer`), else member by member;
    cached per shape. ``check`` False: nothing checked, every layer batched."""
    if not check:
        return Plan(tuple(True for _ in layers), None)
    key = (
        tuple((repr(layer.module), tuple(tuple(p.shape) for p in layer.params)) for layer in layers),
        k, tuple(sorted(set(batches))), tuple(in_shape), str(dev), torch.get_num_threads(),
    )  # fmt: skip
    if key not in _PLANS:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        _PLANS[key] = _check_plan(layers, k, key[2], tuple(in_shape), dev)
    return _PLANS[key]


_PLANS: dict[tuple, Plan] = {}


def _check_plan(layers: list[_Layer], k: int, batches: Sequence[int], shape, dev) -> Plan:
    choice, exact, per_member = [], True, []
    for i, layer in enumerate(layers):
        needs_grad = i > 0  # the data needs no gradient; every later activation does
        outs = [_check_layer(layer, k, b, shape, needs_grad, True, dev) for b in batches]
        if all(ok for ok, _ in outs):
            choice.append(True)
        elif all(_check_layer(layer, k, b, shape, needs_grad, False, dev)[0] for b in batches):
            choice.append(False)
            per_member.append(layer.label)
        else:  # pragma: no cover - no such layer known: run it batched, say it is not exact
            choice.append(True)
            exact = False
        shape = outs[0][1]
    return Plan(tuple(choice), exact, tuple(per_member))


def _member_leaves(params: Sequence[torch.Tensor], k: int) -> list[torch.Tensor]:
    """Per member, leaf tensors that share the stacked tensors' memory: a fused optimiser over
    these updates each member's tensors on their own, as over the single model's parameters."""
    return [p.detach()[i] for i in range(k) for p in params]


# ----------------------------------------------------------------------------- training


def train_stacked(
    models: Sequence[nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: TrainConfig,
    seeds: Sequence[int],
    *,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
    exact: bool | None = None,
) -> tuple[list[History], Plan]:
    """Train ``models`` (one architecture that :func:`batch_blocker` accepts) in place, member
    ``i`` as ``training.train(models[i], x, y, cfg, seed=seeds[i])`` would, in one batched loop;
    return the histories and the :class:`Plan` used.

    ``exact``: check every layer's batched kernels against the single-model ones and run the
    optimiser member by member, so the weights equal one-by-one training bit for bit (see the
    module text); None: on the CPU only. The data moves to the device once; each step gathers
    every member's batch (K x B indices into ``x``). Progress reports once an epoch;
    :func:`checkpoint` before every step lets the callback stop it (within a step)."""
    if len(models) != len(seeds) or not models:
        raise ValueError(f"{len(models)} models for {len(seeds)} seeds")
    blocker = batch_blocker(models[0], cfg)
    if blocker:
        raise ValueError(f"these models cannot train batched: {blocker}")
    if len(y) == 0:
        raise ValueError("no training samples")
    dev = torch.device(device) if device is not None else next(models[0].parameters()).device
    exact = dev.type == "cpu" if exact is None else bool(exact)
    for m in models:
        m.to(dev).train()
    x, y = x.to(dev), y.to(dev)
    k, n, bs = len(models), len(y), int(cfg.batch_size)
    params, _ = stack_module_state(list(models))  # leaf tensors K x ..., requiring grad
    names = {id(m): name for name, m in models[0].named_modules()}
    layers = []
    for m in layer_chain(models[0]):
        prefix = names[id(m)]
        own = [params[f"{prefix}.{p}"] for p, _ in m.named_parameters(recurse=False)]
        layers.append(_Layer(m, prefix, own, exact=exact))
    sizes = [min(bs, n)] + ([n % bs] if n % bs else [])
    plan = layer_plan(layers, k, sizes, tuple(x.shape[1:]), dev, check=exact)
    smoothing = float(cfg.label_smoothing)
    gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
    stacked = list(params.values())
    leaves = _member_leaves(stacked, k) if exact else stacked
    opt = make_optimizer(leaves, cfg.optimizer, cfg.lr, cfg.momentum, cfg.weight_decay)
    sched = make_scheduler(opt, cfg.schedule, cfg.epochs * -(-n // bs))
    hists = [History() for _ in range(k)]
    with reporting(progress, 0.0, f"epoch 1/{cfg.epochs}") as progress:
        for epoch in range(cfg.epochs):
            order = torch.stack([torch.randperm(n, generator=g) for g in gens]).to(dev)
            total_loss = torch.zeros(k, device=dev)
            correct = torch.zeros(k, device=dev, dtype=torch.long)
            for start in range(0, n, bs):
                checkpoint()
                idx = order[:, start : start + bs]
                yb = y[idx]
                with autocast(dev, cfg.mixed_precision):
                    out = _forward(layers, plan.layers, x[idx], k)
                    loss = _losses(out.float(), yb, smoothing)
                opt.zero_grad(set_to_none=True)
                for p in stacked:
                    p.grad = None
                loss.sum().backward()
                if exact:  # each member's leaves take their slices of the stacked gradients
                    grads = [p.grad[i] for i in range(k) for p in stacked]
                    for leaf, grad in zip(leaves, grads, strict=True):
                        leaf.grad = grad
                opt.step()
                if sched is not None:
                    sched.step()
                total_loss += loss.detach() * idx.shape[1]
                correct += (out.argmax(2) == yb).sum(1)
            for h, tl, c in zip(hists, total_loss.tolist(), correct.tolist(), strict=True):
                h.loss.append(tl / n)
                h.accuracy.append(100.0 * c / n)
            progress((epoch + 1) / cfg.epochs, f"epoch {epoch + 1}/{cfg.epochs}")
    with torch.no_grad():
        for i, m in enumerate(models):
            for name, p in m.named_parameters():
                p.copy_(params[name][i])
            m.eval()
    return hists, plan


def auto_group_size(model: nn.Module, in_shape, batch_size: int, device) -> int:
    """How many models of ``model``'s kind one stacked group holds by default: on the CPU as
    many as keep a step's layer outputs within :data:`ACTIVATION_BUDGET` (at least 1), on
    other devices no limit (0)."""
    if torch.device(device).type != "cpu":
        return 0
    return max(1, ACTIVATION_BUDGET // max(activation_bytes(model, in_shape, batch_size), 1))


@torch.no_grad()
def activation_bytes(model: nn.Module, in_shape, batch_size: int) -> int:
    """Bytes of the layer outputs one training step of ``model`` holds (float32)."""
    h = torch.zeros(1, *in_shape)
    total = 0
    for layer in layer_chain(model) or [model]:
        h = layer(h)
        total += h.numel()
    return 4 * total * int(batch_size)


def train_many(
    dataset,
    arch: str,
    cfg: TrainConfig | None = None,
    seeds: Sequence[int] = (0,),
    *,
    progress: Progress = no_progress,
    device: torch.device | str | None = None,
    model_kwargs: dict | None = None,
    indices: torch.Tensor | None = None,
    batched: bool = True,
    group_size: int | None = None,
    exact: bool | None = None,
) -> EnsembleTraining:
    """One model of ``arch`` per seed, trained on ``dataset`` (or its ``indices`` subset) with
    ``cfg``, each as ``train_new_model(dataset, arch, cfg, seed=s, ...)`` trains it alone.

    Batched when the model allows it (see the module text), in stacked groups of at most
    ``group_size`` models (None: :func:`auto_group_size`; ``exact`` as in
    :func:`train_stacked`); else, or
    with ``batched=False``, one by one, and :attr:`EnsembleTraining.reason` says why. The
    models are in eval mode on ``device``. Batched training does not feed the time estimates'
    throughput record (``remember_throughput``), which is per single model."""
    cfg = cfg or default_recipe(arch)
    seeds = [int(s) for s in seeds]
    dev = torch.device(device) if device is not None else pick_device()
    kwargs = dict(model_kwargs or {})
    t0 = time.perf_counter()
    probe = build_model(arch, dataset.input_shape, dataset.num_classes, **kwargs)
    reason = batch_blocker(probe, cfg) if batched else "batched training was switched off"
    n = len(dataset.y_train) if indices is None else len(indices)
    if reason is None and n == 0:
        reason = "no training samples"
    if reason is not None or not seeds:
        models, hists = [], []
        for i, s in enumerate(seeds):
            part = sub_progress(progress, i / len(seeds), (i + 1) / len(seeds), f"seed {s}: ")
            model, hist = train_new_model(
                dataset, arch, cfg, seed=s, progress=part, device=dev,
                model_kwargs=model_kwargs, indices=indices,
            )  # fmt: skip
            models.append(model)
            hists.append(hist)
        return EnsembleTraining(
            models, hists, seeds, batched=False, reason=reason or "no seeds",
            seconds=time.perf_counter() - t0,
        )  # fmt: skip
    x, y = dataset.x_train, dataset.y_train
    if indices is not None:
        x, y = x[indices], y[indices]
    size = max(1, int(group_size or auto_group_size(probe, x.shape[1:], cfg.batch_size, dev)))
    out = EnsembleTraining([], [], seeds, batched=True)
    all_exact: bool | None = True
    for g in range(0, len(seeds), size):
        part = seeds[g : g + size]
        members = []
        for s in part:
            seed_everything(s)  # as train_new_model and the retrain method build theirs
            members.append(build_model(arch, dataset.input_shape, dataset.num_classes, **kwargs))
        label = f"seeds {part[0]}-{part[-1]}: " if len(part) > 1 else f"seed {part[0]}: "
        report = sub_progress(progress, g / len(seeds), (g + len(part)) / len(seeds), label)
        hists, plan = train_stacked(
            members, x, y, cfg, part, device=dev, progress=report, exact=exact
        )
        out.models += members
        out.histories += hists
        out.groups.append(len(part))
        all_exact = None if None in (plan.exact, all_exact) else all_exact and plan.exact
        out.per_member += [p for p in plan.per_member if p not in out.per_member]
    out.exact = all_exact
    out.seconds = time.perf_counter() - t0
    return out


__all__ = [
    "ACTIVATION_BUDGET",
    "BATCHABLE",
    "CHAINS",
    "EnsembleTraining",
    "activation_bytes",
    "auto_group_size",
    "batch_blocker",
    "layer_chain",
    "train_many",
    "train_stacked",
]
