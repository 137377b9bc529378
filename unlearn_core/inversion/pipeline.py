"""The inversion attack end to end: train the original (and the baseline's two originals),
unlearn each sample (or all of them at once) with a registered method through ``run_method``,
infer labels, reconstruct, score. Everything reports through ``progress(fraction, message)``;
a callback that raises (the app's Cancel) stops the run at its next report.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data import Dataset
from ..forget import ForgetRequest, make_split
from ..methods import UnlearnTask, get_method, run_method
from ..models import clone_model
from ..runtime.device import pick_device
from ..runtime.progress import Progress, no_progress, reporting, sub_progress
from ..training import TrainConfig, default_recipe, train_new_model
from .attack import (
    InversionConfig,
    InversionError,
    attack_target,
    check_model,
    confidence_change,
    flat_params,
    gradient_cosine,
    infer_labels,
    make_probes,
    match_gradients,
    weight_delta,
    with_delta,
)
from .records import InversionResult, SampleInversion
from .scores import psnr, ssim

#: at most this many samples per request (a larger summed update is beyond the attack)
MAX_SAMPLES = 8
#: the seeds of the baseline's two originals are the run's seed plus these
BASELINE_SEED_OFFSETS = (1000, 2000)


@dataclass
class Problem:
    """One unlearning request to invert: its samples and the weight change it made."""

    indices: list[int]
    x: torch.Tensor  # (k, C, H, W) true images (scores only)
    y: torch.Tensor  # (k,) true labels (scores only, or labels="true")
    delta: torch.Tensor
    unlearned: nn.Module


def value_range(data: Dataset) -> tuple[float, float]:
    """The box the reconstructions stay in: the training images' min and max."""
    return float(data.x_train.min()), float(data.x_train.max())


def check_request(data: Dataset, indices: Sequence[int]) -> list[int]:
    """The indices as a list; refuse non-image data, bad, repeated or too many indices."""
    if len(data.input_shape) != 3:
        raise InversionError(
            f"the inversion attack reconstructs images; {data.name} has inputs of shape "
            f"{tuple(data.input_shape)}"
        )
    idx = [int(i) for i in indices]
    if not idx:
        raise InversionError("name at least one training sample to forget")
    if len(idx) > MAX_SAMPLES:
        raise InversionError(f"at most {MAX_SAMPLES} samples per attack, got {len(idx)}")
    if len(set(idx)) != len(idx):
        raise InversionError("a sample is listed twice")
    bad = [i for i in idx if not 0 <= i < data.n_train]
    if bad:
        raise InversionError(f"training indices out of range 0..{data.n_train - 1}: {bad}")
    return idx


def _pairing(recs: torch.Tensor, truth: torch.Tensor, rng: float) -> list[int]:
    """For each true image, the reconstruction scored against it: the assignment that
    maximises the summed PSNR (evaluation only; the attack never sees the true images)."""
    k = len(truth)
    if k == 1:
        return [0]
    from scipy.optimize import linear_sum_assignment

    cost = torch.tensor([[-psnr(recs[j], truth[i], rng) for j in range(k)] for i in range(k)])
    rows, cols = linear_sum_assignment(cost.numpy())
    out = [0] * k
    for r, c in zip(rows, cols, strict=True):
        out[int(r)] = int(c)
    return out


def invert_problems(
    original: nn.Module,
    problems: list[Problem],
    baseline_delta: torch.Tensor,
    *,
    num_classes: int,
    box: tuple[float, float],
    cfg: InversionConfig,
    seed: int = 0,
    progress: Progress = no_progress,
) -> list[SampleInversion]:
    """Attack every problem's update and the baseline update (``baseline_delta`` scaled to
    each problem's norm), then score the reconstructions against the true images."""
    original.eval()
    shape = tuple(problems[0].x.shape[1:])
    check_model(original, shape)
    rng = box[1] - box[0]
    theta = flat_params(original)
    progress(0.0, "probes: making inputs the original is sure of, per class")
    probes = make_probes(
        original, num_classes, shape, box, cfg, seed=seed, progress=sub_progress(progress, 0, 0.05)
    )
    targets, labels, inferred, base_inferred = [], [], [], []
    base_targets = []
    for p in problems:
        k = len(p.indices)
        norm = float(p.delta.norm())
        scaled = baseline_delta * (norm / max(float(baseline_delta.norm()), 1e-30))
        target = attack_target(p.delta, theta, cfg.remove_decay)
        base_target = attack_target(scaled, theta, cfg.remove_decay)
        if cfg.label_scale is None:
            probe_model, base_model = p.unlearned, with_delta(original, scaled)
        else:
            size = cfg.label_scale * float(theta.norm())
            probe_model = with_delta(original, target * size / max(float(target.norm()), 1e-30))
            base_model = with_delta(
                original, base_target * size / max(float(base_target.norm()), 1e-30)
            )
        inf = infer_labels(confidence_change(original, probe_model, probes), k)
        binf = infer_labels(confidence_change(original, base_model, probes), k)
        inferred.append(inf)
        base_inferred.append(binf)
        targets.append(target)
        base_targets.append(base_target)
        labels.append([int(v) for v in p.y] if cfg.labels == "true" else inf)
    base_labels = [
        [int(v) for v in p.y] if cfg.labels == "true" else b
        for p, b in zip(problems, base_inferred, strict=True)
    ]
    recs = match_gradients(
        original,
        targets + base_targets,
        labels + base_labels,
        shape,
        box,
        cfg,
        seed=seed,
        progress=sub_progress(progress, 0.05, 1.0),
    )
    n = len(problems)
    out = []
    for p, rec, brec in zip(problems, recs[:n], recs[n:], strict=True):
        pair = _pairing(rec.images, p.x, rng)
        bpair = _pairing(brec.images, p.x, rng)
        cos = gradient_cosine(original, p.x, p.y, attack_target(p.delta, theta, cfg.remove_decay))
        for j, idx in enumerate(p.indices):
            truth, label = p.x[j], int(p.y[j])
            r, b = rec.images[pair[j]], brec.images[bpair[j]]
            out.append(
                SampleInversion(
                    index=idx,
                    true_label=label,
                    inferred_label=rec.labels[pair[j]],
                    label_correct=rec.labels[pair[j]] == label,
                    psnr=psnr(r, truth, rng),
                    ssim=ssim(r, truth, rng),
                    match_loss=rec.match_loss,
                    baseline_label=brec.labels[bpair[j]],
                    baseline_label_correct=brec.labels[bpair[j]] == label,
                    baseline_psnr=psnr(b, truth, rng),
                    baseline_ssim=ssim(b, truth, rng),
                    baseline_match_loss=brec.match_loss,
                    gradient_cosine=0.0 if math.isnan(cos) else cos,
                    update_norm=float(p.delta.norm()),
                    image=truth.tolist(),
                    reconstruction=r.tolist(),
                    baseline_reconstruction=b.tolist(),
                )
            )
    return out


def run_inversion(
    data: Dataset,
    arch: str,
    indices: Sequence[int],
    method: str,
    params: dict | None = None,
    *,
    seed: int = 0,
    together: bool = False,
    recipe: TrainConfig | None = None,
    cfg: InversionConfig | None = None,
    device: torch.device | str | None = None,
    progress: Progress = no_progress,
    original: nn.Module | None = None,
    baseline_originals: tuple[nn.Module, nn.Module] | None = None,
) -> InversionResult:
    """Train the original (unless given), forget each of ``indices`` in a request of its own
    (``together``: all in one request) with ``method`` via ``run_method``, and attack each
    update; the baseline is the difference of two originals trained with seeds
    ``seed + BASELINE_SEED_OFFSETS`` (unless given), scaled to each update's norm.

    The originals train with the same call the CLI uses (``train_new_model``), the methods run
    through ``run_method``; nothing here trains otherwise."""
    cfg = cfg or InversionConfig()
    idx = check_request(data, indices)
    get_method(method)  # an unknown method fails before any training
    recipe = recipe or default_recipe(arch)
    dev = torch.device(device) if device is not None else pick_device()
    t0 = time.perf_counter()
    stages: dict[str, float] = {}
    requests = [idx] if together else [[i] for i in idx]
    with reporting(progress) as report:
        t = time.perf_counter()
        n_train = (original is None) + 2 * (baseline_originals is None)
        done = 0
        span = 0.35

        def train_one(s: int, what: str) -> nn.Module:
            nonlocal done
            lo = span * done / max(n_train, 1)
            hi = span * (done + 1) / max(n_train, 1)
            m, _ = train_new_model(
                data, arch, recipe, seed=s, device=dev,
                progress=sub_progress(report, lo, hi, f"training {what} (seed {s}): "),
            )  # fmt: skip
            done += 1
            return m

        if original is None:
            original = train_one(seed, "the original")
        if baseline_originals is None:
            a, b = (seed + o for o in BASELINE_SEED_OFFSETS)
            baseline_originals = (train_one(a, "baseline original A"), train_one(b, "baseline B"))
        stages["train"] = time.perf_counter() - t
        if next(original.parameters()).device != dev:  # a given model elsewhere: a copy moves
            original = clone_model(original).to(dev)
        original.eval()
        check_model(original, tuple(data.input_shape))
        base = weight_delta(baseline_originals[0], baseline_originals[1])

        t = time.perf_counter()
        problems: list[Problem] = []
        notes: list[str] = []
        params = dict(params or {})
        for r, req in enumerate(requests):
            lo = span + 0.1 * r / len(requests)
            hi = span + 0.1 * (r + 1) / len(requests)
            split = make_split(data, ForgetRequest(indices=tuple(req), seed=seed))
            task = UnlearnTask(data=data, split=split, train_config=recipe, device=dev)
            out = run_method(
                method, original, task, params, seed=seed,
                progress=sub_progress(report, lo, hi, f"{method} forgets {req}: "),
            )  # fmt: skip
            delta = weight_delta(original, out.model)
            if float(delta.norm()) == 0.0:
                notes.append(
                    f"{method} left the weights unchanged when forgetting {req} "
                    f"(log: stopped_at {out.log.get('stopped_at')}); nothing to invert there"
                )
            t_idx = torch.tensor(req)
            problems.append(
                Problem(
                    indices=list(req),
                    x=data.x_train[t_idx].to(dev),
                    y=data.y_train[t_idx].to(dev),
                    delta=delta,
                    unlearned=out.model,
                )
            )
        resolved = out.params
        stages["unlearn"] = time.perf_counter() - t

        t = time.perf_counter()
        samples = invert_problems(
            original,
            problems,
            base,
            num_classes=data.num_classes,
            box=value_range(data),
            cfg=cfg,
            seed=seed,
            progress=sub_progress(report, span + 0.1, 1.0),
        )
        stages["attack"] = time.perf_counter() - t
        report(1.0, "done")
    return InversionResult(
        dataset=data.name,
        model=arch,
        method=method,
        params=dict(resolved),
        seed=seed,
        together=together,
        samples=samples,
        config=cfg.to_dict(),
        image_shape=list(data.input_shape),
        value_range=list(value_range(data)),
        baseline=(
            "difference of two originals trained with seeds "
            f"{', '.join(str(seed + o) for o in BASELINE_SEED_OFFSETS)}, scaled to each "
            "update's norm"
        ),
        seconds=time.perf_counter() - t0,
        stage_seconds=stages,
        notes=notes,
    )


def invert_stored_run(
    store,
    run_id: str,
    method: str,
    data: Dataset,
    *,
    cfg: InversionConfig | None = None,
    device: torch.device | str | None = None,
    progress: Progress = no_progress,
) -> InversionResult:
    """Attack a stored run: its original and ``method``'s unlearned model (both stored with the
    run), its forget set forgotten in one request (so the samples are reconstructed together
    from one summed update, at most :data:`MAX_SAMPLES`). The baseline's two originals are
    trained with the run's recipe (seed + ``BASELINE_SEED_OFFSETS``)."""
    cfg = cfg or InversionConfig()
    dev = torch.device(device) if device is not None else pick_device()
    doc = store.read_comparison(run_id)
    record, comp = doc["record"], doc.get("comparison", {})
    models = record.get("models") or {}
    if "original" not in models:
        raise InversionError(f"run {run_id} stored no original model (saved without models?)")
    if method not in models:
        stored = ", ".join(m for m in models if m != "original") or "none"
        raise InversionError(
            f"run {run_id} has no stored model of method {method!r} (stored: {stored})"
        )
    forget = comp.get("forget") or {}
    idx = [int(i) for i in make_split(data, ForgetRequest.from_dict(forget)).forget_idx]
    if len(idx) > MAX_SAMPLES:
        raise InversionError(
            f"run {run_id} forgot {len(idx)} samples in one request; the attack reconstructs "
            f"at most {MAX_SAMPLES} from one update"
        )
    idx = check_request(data, idx)
    seed = int(comp.get("seed") or (record.get("seeds") or [0])[0])
    recipe = TrainConfig.from_dict(doc.get("setup", {}).get("recipe") or {})
    t0 = time.perf_counter()
    with reporting(progress) as report:
        report(0.0, f"opening run {run_id}")
        original, _ = store.open_model(models["original"], data, device=dev)
        unlearned, _ = store.open_model(models[method], data, device=dev)
        original.eval()
        unlearned.eval()
        arch = str(getattr(original, "spec", {}).get("arch", record.get("model", "")))
        base = []
        for j, off in enumerate(BASELINE_SEED_OFFSETS):
            m, _ = train_new_model(
                data, arch, recipe, seed=seed + off, device=dev,
                progress=sub_progress(report, 0.3 * j, 0.3 * (j + 1), f"baseline original {j + 1}: "),
                model_kwargs=(getattr(original, "spec", {}) or {}).get("kwargs") or None,
            )  # fmt: skip
            base.append(m)
        t = time.perf_counter()
        t_idx = torch.tensor(idx)
        problem = Problem(
            indices=idx,
            x=data.x_train[t_idx].to(dev),
            y=data.y_train[t_idx].to(dev),
            delta=weight_delta(original, unlearned),
            unlearned=unlearned,
        )
        samples = invert_problems(
            original,
            [problem],
            weight_delta(base[0], base[1]),
            num_classes=data.num_classes,
            box=value_range(data),
            cfg=cfg,
            seed=seed,
            progress=sub_progress(report, 0.6, 1.0),
        )
        attack_s = time.perf_counter() - t
        report(1.0, "done")
    params = next(
        (r.get("params") or {} for r in comp.get("results") or [] if r.get("method") == method),
        {},
    )
    return InversionResult(
        dataset=data.name,
        model=arch,
        method=method,
        params=dict(params),
        seed=seed,
        together=True,
        samples=samples,
        config=cfg.to_dict(),
        image_shape=list(data.input_shape),
        value_range=list(value_range(data)),
        baseline=(
            "difference of two originals trained with the run's recipe and seeds "
            f"{', '.join(str(seed + o) for o in BASELINE_SEED_OFFSETS)}, scaled to the "
            "update's norm"
        ),
        seconds=time.perf_counter() - t0,
        stage_seconds={"attack": attack_s},
        notes=[] if float(problem.delta.norm()) else [f"{method} left the weights unchanged"],
        run_id=run_id,
    )


def job_call(
    *,
    data: Dataset,
    arch: str,
    samples: list[int],
    method: str,
    params: dict,
    seed: int,
    together: bool,
    recipe: TrainConfig,
    cfg: InversionConfig,
    model: nn.Module,
    progress: Progress,
    emit=None,  # noqa: ARG001 - nothing to hand back early
) -> InversionResult:
    """:func:`run_inversion` on a given original, in the form the app's job worker processes
    call (``runtime.workers``: ``fn(progress=..., emit=..., **kwargs)``); a cancel is a
    raising ``progress``."""
    return run_inversion(
        data, arch, samples, method, params, seed=seed, together=together, recipe=recipe,
        cfg=cfg, device="cpu", progress=progress, original=model,
    )  # fmt: skip
