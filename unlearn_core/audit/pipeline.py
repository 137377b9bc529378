"""The audit: K originals, K retrained models and every chosen method on every original, each
piece one executor call; then per method the challenge's per-sample epsilons, forget quality and
final score, the Comparator's worst-case privacy score, mean accuracies and (when asked) the
relearning curves.

Work sent to the executor, in three rounds (the dataset, recipe and split travel once per round
as ``shared``; models travel as CPU state dicts):

1. train: original seed s (whole training set) and retrain seed s (the ``retrain`` method: the
   same recipe on the retain set, seeded s). Where the model can train batched
   (:func:`~unlearn_core.ensemble_training.batch_blocker`: the MLP and the CNN), each call trains
   a group of seeds of one role together (:func:`train_group_call`, the same weights as one by
   one, bit for bit on the CPU), in about as many calls as the executor has workers (at most
   :data:`MAX_GROUP` seeds a call); otherwise (ResNet-18: batch norm) ``2K`` calls of one model
   each (:func:`train_call`);
2. unlearn: ``K x methods`` calls, method m on original s with seed s (its per-architecture
   preset through ``run_method``);
3. relearn (optional): every seed's original, retrain and unlearned models, ``K x (methods + 2)``
   calls, each relearning one model with its seed's relearning set; the driver then scores each
   seed's curves against that seed's target (:mod:`unlearn_core.audit.recovery`).

Every call returns its model's scores (``experiment.score_model``) and its logits on the forget
samples (the first seed's also on retain and test, for the instance view); its weights travel
back only when a later round needs them (originals; every model when relearning).

**Ensemble lenses** (issue 19; ``metrics`` beyond "eps", ``attacks`` with "quantize"): every
call also returns its model's margins (:func:`~unlearn_core.audit.klom.margins`) on the forget,
retain and validation samples (one array per split serves all three lenses: KLoM bins it,
U-LiRA's confidence is the margin clipped as the challenge clips it, RMIA's signal is
:func:`~unlearn_core.audit.rmia.probability_from_margins`), and with "quantize" its forget
accuracy at full precision, int8 and 4-bit (:func:`~unlearn_core.audit.quantize.
quantized_accuracies`). The driver pairs each method's models with the retrains by seed (the
seeds where both finished) and computes per method KLoM, U-LiRA, RMIA (offline ``a`` =
:data:`RMIA_A` unless given) and the mean quantised forget accuracies; the originals the same;
the retrains their first half against their second half (KLoM's oracle baseline, and what
U-LiRA and RMIA read when there is nothing to find).

**Text** (a ``TextDataset``, ``kind == "text"``: tinylm models): originals train as the text
track trains them, each model is read by its true answers' sequence log-likelihood, carried as
two-column pseudo-logits so that every lens above runs unchanged, and the forget samples'
"labels" are their people (:mod:`unlearn_core.text.audit_scores` says what each lens reads;
our adaptation). The relearning attack is refused on text (the text comparison runs its own).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..data import Dataset
from ..ensemble_training import batch_blocker, train_many
from ..experiment import REFERENCE, model_logits, resolve_split, score_model
from ..forget import ForgetRequest, ForgetSplit
from ..methods import UnlearnTask, get_method, run_method
from ..models import build_model
from ..runtime.device import pick_device
from ..runtime.progress import Progress, no_progress, sub_progress
from ..training import TrainConfig, train_new_model
from .confidence import CONF_LIMIT, logit_scaled_confidence
from .executors import Executor, TaskFailure, make_executor
from .forget_quality import final_score, forget_quality, worst_case_privacy
from .records import (
    ACC_KEYS,
    ATTACKS,
    MARGIN_DECIMALS,
    METRICS,
    AuditResult,
    Lenses,
    MethodAudit,
    ModelLogits,
    ModelScore,
)
from .recovery import RelearnCurve, score_curves

if TYPE_CHECKING:
    from ..store.ensembles import EnsembleStore

#: the number of originals (and of retrained models) on the small built-in sets
DEFAULT_MODELS = 8
#: decimals kept in the stored first-seed logits
LOGIT_DECIMALS = 4
#: the roles of round 1, in call order
ROUND1 = ("original", "retrain")
#: the most models one batched training call trains (a stop waits for the calls running); on
#: the CPU a call trains them in stacked groups of ``ensemble_training.auto_group_size``
MAX_GROUP = 128
#: RMIA's offline coefficient a by default. The reference code's tuning (the first a of 0, 0.1,
#: .., 1 with the best AUC of originals against retrains) cannot choose on class forgetting:
#: every a < 1 separates them perfectly (``benchmarks/results/lenses_demo_k32.md``: AUC 1.000
#: for a = 0 .. 0.9), so it returns 0. And a < 1 floors ``Pr(x)`` at ``(1 - a) / 2``, which
#: swamps the retrains' near-zero probabilities of a forgotten class: every forget sample's
#: ratio is then near 0 under unlearned and retrained targets alike (the logit-suppression
#: demonstration reads 0.53 at a = 0.3, 0.79 at a = 1). a = 1 compares the target's probability
#: with the references' mean alone (at the cost of a weaker originals-vs-retrains AUC, 0.79).
RMIA_A = 1.0


@dataclass
class ModelRun:
    """What one executor call returns about one model (CPU tensors and plain numbers)."""

    role: str
    method: str
    seed: int
    metrics: dict = field(default_factory=dict)
    forget_logits: np.ndarray | None = None
    #: first seed only: logits on retain and test too
    logits: dict[str, np.ndarray] | None = None
    state: dict[str, torch.Tensor] | None = None
    #: training or unlearning time; a batched training group's time divided by its size
    seconds: float | None = None
    params: dict = field(default_factory=dict)
    preset: str | None = None
    error: str | None = None
    #: with lenses: the margins on "forget", "retain" and "val" (float64, sample order)
    margins: dict[str, np.ndarray] | None = None
    #: with the quantisation attack: forget accuracy (%) at "full", "int8" and "int4"
    quant: dict[str, float] | None = None


def _cpu_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def _finish(
    run: ModelRun, model: torch.nn.Module, data: Dataset, split: ForgetSplit, keep: bool,
    send_state: bool = False, lenses: bool = False, quantize: bool = False,
) -> ModelRun:  # fmt: skip
    if _is_text(data):  # a language model: read by its answers' likelihood (text.audit_scores)
        from ..text.audit_scores import finish_run

        return finish_run(run, model, data, split, keep=keep, send_state=send_state,
                          lenses=lenses, quantize=quantize)  # fmt: skip
    ev = model_logits(model, data, split)
    if not all(bool(torch.isfinite(t).all()) for t in (ev.forget, ev.retain, ev.test)):
        run.error = "the model's outputs are not finite numbers (the method diverged)"
        return run
    scores = score_model(ev, data, split, seed=run.seed)
    run.metrics = {k: scores.get(k) for k in ACC_KEYS}
    run.forget_logits = ev.forget.numpy()
    if keep:
        run.logits = {k: getattr(ev, k).numpy() for k in ("forget", "retain", "test")}
    if send_state or run.role == "original":  # originals feed the unlearn round
        run.state = _cpu_state(model)
    if lenses:
        from ..training import predict_logits
        from .klom import margins

        y_train = data.y_train.numpy()
        run.margins = {
            "forget": margins(ev.forget.numpy(), y_train[split.forget_idx.numpy()]),
            "retain": margins(ev.retain.numpy(), y_train[split.retain_idx.numpy()]),
        }
        if len(data.x_val):
            val = predict_logits(model, data.x_val).numpy()
            run.margins["val"] = margins(val, data.y_val.numpy())
    if quantize:
        from .quantize import quantized_accuracies

        f = split.forget_idx
        run.quant = quantized_accuracies(model, data.x_train[f], data.y_train[f])
    return run


def _is_text(data) -> bool:
    return getattr(data, "kind", None) == "text"


def _build(data: Dataset, arch: str, state: dict | None = None) -> torch.nn.Module:
    kwargs = {}
    if _is_text(data):  # the text track's tinylm size
        from ..text.audit_scores import model_kwargs

        kwargs = model_kwargs(data, arch)
    model = build_model(arch, data.input_shape, data.num_classes, **kwargs)
    if state is not None:
        model.load_state_dict(state)
    return model.to(pick_device()).eval()


def train_call(
    data: Dataset, arch: str, train_config: TrainConfig, split: ForgetSplit, *,
    role: str, seed: int, keep: bool, send_state: bool = False, lenses: bool = False,
    quantize: bool = False,
) -> ModelRun:  # fmt: skip
    """One executor call: train original ``seed`` (whole training set) or retrain ``seed``
    (the ``retrain`` method: the recipe on the retain set). ``keep``: logits on every set;
    ``send_state``: the weights too (originals always send theirs); ``lenses`` /
    ``quantize``: the margins / quantised forget accuracies too (module docstring)."""
    dev = pick_device()
    t0 = time.perf_counter()
    if role == "original" and _is_text(data):
        from ..text.audit_scores import train_original

        model = train_original(data, arch, train_config, seed=seed, device=dev)
        run = ModelRun(role=role, method="original", seed=seed)
    elif role == "original":
        model, _ = train_new_model(data, arch, train_config, seed=seed, device=dev)
        run = ModelRun(role=role, method="original", seed=seed)
    else:
        task = UnlearnTask(data=data, split=split, train_config=train_config, device=dev)
        out = run_method(REFERENCE, _build(data, arch), task, seed=seed)
        model = out.model
        run = ModelRun(role="retrain", method=REFERENCE, seed=seed)
    run.seconds = time.perf_counter() - t0
    return _finish(run, model, data, split, keep, send_state, lenses, quantize)


def train_group_call(
    data: Dataset, arch: str, train_config: TrainConfig, split: ForgetSplit, *,
    role: str, seeds: list[int], keep_seed: int | None = None, send_state: bool = False,
    lenses: bool = False, quantize: bool = False,
) -> list[ModelRun]:  # fmt: skip
    """One executor call: train the originals (whole training set) or the retrains (retain
    set) of ``seeds`` together (:func:`~unlearn_core.ensemble_training.train_many`), each the
    model :func:`train_call` trains for its seed; one :class:`ModelRun` per seed, in order.
    ``keep_seed``: the seed whose logits on every set are kept."""
    indices = None if role == "original" else split.retain_idx
    res = train_many(data, arch, train_config, seeds, device=pick_device(), indices=indices)
    method = "original" if role == "original" else REFERENCE
    runs = []
    for s, model in zip(seeds, res.models, strict=True):
        run = ModelRun(role=role, method=method, seed=s, seconds=res.seconds / len(seeds))
        runs.append(_finish(run, model, data, split, s == keep_seed, send_state, lenses, quantize))
    return runs


def score_call(
    data: Dataset, arch: str, train_config: TrainConfig, split: ForgetSplit, *,
    members: list[dict], lenses: bool = False, quantize: bool = False,
) -> list[ModelRun | None]:  # fmt: skip
    """One executor call: score stored models (from the ensemble store) as :func:`train_call`
    and :func:`unlearn_call` score the models they train. Each of ``members``: ``role``,
    ``method``, ``seed``, ``state``, ``info`` (what was stored with it: its training seconds,
    the method's parameters and preset), ``keep`` and ``send_state``. None for a member whose
    weights no longer fit the architecture."""
    out: list[ModelRun | None] = []
    for m in members:
        info = m["info"]
        run = ModelRun(
            role=m["role"],
            method=REFERENCE if m["role"] == "retrain" else m["method"],
            seed=m["seed"],
            seconds=info.get("seconds"),
            params=dict(info.get("params") or {}),
            preset=info.get("preset"),
        )
        try:
            model = _build(data, arch, m["state"])
        except (RuntimeError, KeyError, ValueError):
            out.append(None)
            continue
        out.append(_finish(run, model, data, split, m["keep"], m["send_state"], lenses, quantize))
    return out


def _groups(seeds: list[int], workers: int) -> list[list[int]]:
    """``seeds`` in consecutive groups of near-equal size: enough that both roles together
    give every worker a call, none larger than :data:`MAX_GROUP`."""
    n = min(max(-(-workers // 2), -(-len(seeds) // MAX_GROUP), 1), max(len(seeds), 1))
    q, r = divmod(len(seeds), n)
    bounds = [i * q + min(i, r) for i in range(n + 1)]
    return [seeds[bounds[i] : bounds[i + 1]] for i in range(n)]


def _train_round(
    ex, seeds, mode, shared, progress, end, should_stop, extra=None, need=None
) -> tuple[list, list]:
    """Round 1: every seed's original and retrain, batched where the model allows it (the
    first report says which), moving ``progress`` from 0 to ``end``; the runs (or failures)
    of the originals and of the retrains, in seed order. ``extra``: more arguments for every
    call (what the lenses need). ``need``: the seeds to train per role ("original",
    "retrain"; default every seed for both); the others' slots are None (taken from the
    ensemble store by the caller)."""
    extra = dict(extra or {})
    need = need or {"original": list(seeds), "retrain": list(seeds)}
    want = {role: [s for s in seeds if s in set(need.get(role, ()))] for role in ROUND1}
    out: dict[str, dict[int, object]] = {role: {} for role in ROUND1}
    data, arch, cfg = shared["data"], shared["arch"], shared["train_config"]
    blocker = batch_blocker(build_model(arch, data.input_shape, data.num_classes), cfg)
    n_o, n_r = len(want["original"]), len(want["retrain"])
    what = f"training {n_o} originals and {n_r} retrained models"

    def ordered() -> tuple[list, list]:
        return tuple([out[role].get(s) for s in seeds] for role in ROUND1)  # type: ignore[return-value]

    if not n_o and not n_r:
        return ordered()
    send = {
        role: bool(mode) or bool(extra.get("send_state")) or role == "original" for role in ROUND1
    }
    extra.pop("send_state", None)
    if blocker is not None:
        progress(0.0, f"{what} one by one ({blocker})")
        calls = [
            {"role": role, "seed": s, "keep": s == seeds[0], "send_state": send[role], **extra}
            for s in seeds
            for role in ROUND1
            if s in want[role]
        ]
        runs = ex.map(
            train_call,
            calls,
            shared=shared,
            progress=sub_progress(progress, 0.0, end, "training: "),
            should_stop=should_stop,
        )
        for call, run in zip(calls, runs, strict=True):
            out[call["role"]][call["seed"]] = run
        return ordered()
    both = n_o and n_r
    groups = {role: _groups(want[role], ex.workers if both else 2 * ex.workers) for role in ROUND1}
    if want["original"] == want["retrain"]:
        sizes = ", ".join(str(len(g)) for g in groups["original"])
        progress(0.0, f"{what}, batched (groups of {sizes} per side)")
    else:
        sizes = "; ".join(
            f"{role}s: " + ", ".join(str(len(g)) for g in groups[role])
            for role in ROUND1
            if want[role]
        )
        progress(0.0, f"{what}, batched (groups of {sizes})")
    calls = [
        {
            "role": role,
            "seeds": groups[role][i],
            "keep_seed": seeds[0],
            "send_state": send[role],
            **extra,
        }
        for i in range(max(len(groups["original"]), len(groups["retrain"])))
        for role in ROUND1
        if i < len(groups[role]) and groups[role][i]
    ]
    report = sub_progress(progress, 0.0, end, "training: ")
    done = ex.map(train_group_call, calls, shared=shared, progress=report, should_stop=should_stop)
    for call, got in zip(calls, done, strict=True):
        runs = [got] * len(call["seeds"]) if isinstance(got, TaskFailure) else got
        for s, run in zip(call["seeds"], runs, strict=True):
            out[call["role"]][s] = run
    return ordered()


def unlearn_call(
    data: Dataset, arch: str, train_config: TrainConfig, split: ForgetSplit, *,
    method: str, overrides: dict, seed: int, original: dict, keep: bool,
    send_state: bool = False, lenses: bool = False, quantize: bool = False,
) -> ModelRun:  # fmt: skip
    """One executor call: ``method`` on original ``seed`` (given as a CPU state dict)."""
    task = UnlearnTask(data=data, split=split, train_config=train_config, device=pick_device())
    out = run_method(method, _build(data, arch, original), task, overrides, seed=seed)
    run = ModelRun(
        role="unlearned",
        method=method,
        seed=seed,
        seconds=out.seconds,
        params=dict(out.params),
        preset=out.preset.name if out.preset is not None else None,
    )
    return _finish(run, out.model, data, split, keep, send_state, lenses, quantize)


def relearn_call(
    data: Dataset, arch: str, split: ForgetSplit, *,
    name: str, state: dict, mode: str, seed: int,
) -> dict:  # fmt: skip
    """One executor call: the relearning attack on one model of seed ``seed`` (its relearning
    set drawn with that seed); the unscored curve as a dict."""
    from .relearn import relearn

    curve = relearn(_build(data, arch, state), data, split, mode=mode, seed=seed, name=name)
    return curve.to_dict()


def _score(run: ModelRun | TaskFailure, role: str, method: str, seed: int) -> ModelScore:
    if isinstance(run, TaskFailure):
        return ModelScore(
            role=role, method=method, seed=seed, error=run.error, cancelled=run.cancelled
        )
    return ModelScore(
        role=role,
        method=method,
        seed=seed,
        seconds=run.seconds,
        error=run.error,
        **{k: run.metrics.get(k) for k in ACC_KEYS},
    )


def _logits(run: ModelRun) -> ModelLogits:
    return ModelLogits(
        **{k: np.round(v, LOGIT_DECIMALS).tolist() for k, v in (run.logits or {}).items()}
    )


def _ok(run: object) -> bool:
    return isinstance(run, ModelRun) and run.error is None


class _Reuse:
    """An audit's use of the ensemble store (``store.ensembles``): the keys of its groups,
    the stored members loaded as runs (scored here, in the driver), what it trained stored.
    A store that cannot be read or written never fails the audit: what cannot be loaded is
    trained, what cannot be stored is not."""

    def __init__(self, home, data, arch, cfg, split, mode, extra) -> None:
        from ..store.ensembles import EnsembleStore, forget_identity
        from ..store.fingerprint import dataset_fingerprint

        self.ensembles = home if isinstance(home, EnsembleStore) else EnsembleStore(home)
        self.data, self.arch, self.split, self.mode = data, arch, split, mode
        self.extra = {k: v for k, v in extra.items() if k in ("lenses", "quantize")}
        self.base = {"fingerprint": dataset_fingerprint(data), "arch": arch,
                     "recipe": cfg.to_dict()}  # fmt: skip
        self.forget = forget_identity(split)
        self.label = {
            "dataset": data.name,
            "forget": split.request.describe(data.classes),
            "n_forget": split.n_forget,
        }
        self.loaded: dict[str, int] = {}
        self.failed_writes = 0

    def key(self, role: str, method: str, overrides: dict):
        """The group's key; None when the method's parameters do not resolve (its calls
        fail with the reason, and nothing is reused or stored)."""
        from ..store.ensembles import EnsembleKey

        params: dict = {}
        if role == "unlearned":
            try:
                params = get_method(method).spec.resolve(overrides, arch=self.arch)
            except Exception:
                return None
        return EnsembleKey(
            **self.base, role=role, method=method, params=params,
            forget=None if role == "original" else self.forget, label=self.label,
        )  # fmt: skip

    def members(self, role, method, overrides, seeds) -> list[tuple[str, int, object]]:
        """The stored members of ``seeds`` (read and checked here, in the driver) as
        ``(method, seed, member)``; ``method`` is the role for originals and retrains."""
        key = self.key(role, method, overrides)
        try:
            found = self.ensembles.find(key, seeds) if key is not None else {}
        except OSError:
            found = {}
        return [(method, s, m) for s, m in found.items()]

    def score(self, ex, shared, items, keep_seed, progress, should_stop, at):
        """Score the stored members ``items`` (:meth:`members`) through the executor, in
        parallel like the trained ones (:func:`score_call`); the runs that scored, by
        ``(method, seed)``. A member that does not load (the architecture changed) or
        scores no finite outputs is left out: it is trained again."""
        for method, _, _ in items:
            self.loaded.setdefault(method, 0)
        if not items:
            return {}
        members = [
            {
                "role": self.role_of(method),
                "method": method,
                "seed": seed,
                "state": m.state,
                "info": m.info,
                "keep": seed == keep_seed,
                "send_state": bool(self.mode),
            }
            for method, seed, m in items
        ]
        n = max(1, min(ex.workers, len(members)))
        calls = [{"members": members[i::n], **self.extra} for i in range(n)]
        progress(at, f"scoring {len(members)} stored models")
        done = ex.map(score_call, calls, shared=shared, should_stop=should_stop)
        runs: list = [None] * len(members)
        for i, got in enumerate(done):
            if isinstance(got, list):
                runs[i::n] = got
        out = {}
        for (method, seed, _), run in zip(items, runs, strict=True):
            if _ok(run):
                out[(method, seed)] = run
                self.loaded[method] += 1
        return out

    @staticmethod
    def role_of(method: str) -> str:
        return method if method in ROUND1 else "unlearned"

    def count(self, method: str) -> int:
        return self.loaded.get(method, 0)

    @staticmethod
    def words(method: str, n: int, k: int) -> str:
        from .records import reuse_words

        return reuse_words({method: (n, k)})

    def store(self, role, method, overrides, runs) -> None:
        """Store every finished run of ``runs`` that carries its weights; drop the weights
        the rest of the audit does not need (retrains and unlearned models unless relearning)."""
        key = self.key(role, method, overrides)
        for run in runs:
            if not _ok(run) or run.state is None:
                continue
            if key is not None:
                info = {"seconds": run.seconds, "params": run.params, "preset": run.preset}
                try:
                    self.ensembles.put(key, run.seed, run.state, info)
                except (OSError, ValueError, RuntimeError):
                    self.failed_writes += 1
            if role != "original" and not self.mode:
                run.state = None


MethodChoice = str | tuple[str, dict]


def run_audit(
    data: Dataset,
    arch: str,
    train_config: TrainConfig,
    forget: ForgetRequest | ForgetSplit,
    methods: Sequence[MethodChoice],
    *,
    models: int = DEFAULT_MODELS,
    seed: int = 0,
    executor: Executor | None = None,
    relearn: bool | str = False,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] | None = None,
    metrics: Sequence[str] = ("eps",),
    attacks: Sequence[str] = (),
    rmia_a: float = RMIA_A,
    reuse: bool = False,
    ensembles: EnsembleStore | str | Path | None = None,
) -> AuditResult:
    """Audit ``methods`` (names or ``(name, overrides)``) on one forget request with ``models``
    originals and retrained models (seeds ``seed .. seed + models - 1``). ``executor``: one to
    reuse (not closed here), else a local one made and closed here. ``relearn``: True or
    "forget" (a few forget samples), "retain" (retain samples only), False to skip. A failed
    method keeps its error in its record; ``should_stop`` leaves unstarted work undone and the
    result marked ``cancelled``. ``metrics``: the lenses beside the epsilon score (always
    computed): "klom", "ulira", "rmia"; ``attacks``: "relearn" (as ``relearn=True`` unless
    ``relearn`` names a mode) and "quantize"; ``rmia_a``: RMIA's offline a (:data:`RMIA_A`).

    ``reuse``: take the originals, retrains and unlearned models already in the ensemble
    store (``ensembles``: an :class:`~unlearn_core.store.ensembles.EnsembleStore` or its home;
    default the run store's home) and train only the missing ones, then store what was
    trained; the result's ``reused`` and a progress message ("reusing 32 of 32 retrained
    models") say what was taken. Off by default: a library call neither reads nor writes the
    store unless asked (the CLI's ``unlearn audit`` asks, ``--no-reuse`` for a cold audit)."""
    metrics, attacks = (
        parse_choices(metrics, METRICS, "metric"),
        parse_choices(attacks, ATTACKS, "attack"),
    )
    if "relearn" in attacks and not relearn:
        relearn = True
    if "eps" not in metrics:
        metrics = ["eps", *metrics]
    lensed = len(metrics) > 1
    quantize = "quantize" in attacks
    extra = {"lenses": True} if lensed else {}
    if quantize:
        extra["quantize"] = True
    if models < 2:
        raise ValueError(f"an audit needs at least 2 models per side, not {models}")
    mode = "forget" if relearn is True else (relearn or None)
    if mode not in (None, "forget", "retain"):
        raise ValueError(f"relearn must be 'forget', 'retain', True or False, not {relearn!r}")
    if mode and _is_text(data):
        raise ValueError(
            "the audit's relearning attack trains classifiers; for text run it on a comparison "
            "(unlearn compare --dataset facts --attacks relearn)"
        )
    chosen = _normalise(methods)
    if not chosen:
        raise ValueError("choose at least one method to audit")
    split = resolve_split(data, forget)  # a text request resolves on its data
    specs = {}
    for name, _ in chosen:
        specs[name] = get_method(name).spec  # unknown names fail here, before any training
    own = executor is None
    ex = executor if executor is not None else make_executor("local")
    seeds = [seed + i for i in range(models)]
    shared = {"data": data, "arch": arch, "train_config": train_config, "split": split}
    t0 = time.perf_counter()
    share = (0.3, 0.9) if mode else (0.35, 1.0)
    stash = _Reuse(ensembles, data, arch, train_config, split, mode, extra) if reuse else None
    try:
        need: dict[str, list[int]] = {"original": list(seeds), "retrain": list(seeds)}
        found: dict[str, dict[int, ModelRun]] = {"original": {}, "retrain": {}}
        if stash is not None:
            items = [it for role in ROUND1 for it in stash.members(role, role, {}, seeds)]
            scored = stash.score(ex, shared, items, seeds[0], progress, should_stop, 0.0)
            for role in ROUND1:
                found[role] = {s: r for (m, s), r in scored.items() if m == role}
                need[role] = [s for s in seeds if s not in found[role]]
                progress(0.0, stash.words(role, len(found[role]), len(seeds)))
        store_extra = {**extra, "send_state": True} if stash is not None else extra
        trained_o, trained_r = _train_round(
            ex, seeds, mode, shared, progress, share[0], should_stop, store_extra, need
        )
        originals = [found["original"].get(s) or r for s, r in zip(seeds, trained_o, strict=True)]
        retrains = [found["retrain"].get(s) or r for s, r in zip(seeds, trained_r, strict=True)]
        if stash is not None:
            stash.store("original", "original", {}, [r for r in trained_o if r is not None])
            stash.store("retrain", "retrain", {}, [r for r in trained_r if r is not None])
        calls, slots = [], []
        by_method: dict[str, dict[int, ModelRun | TaskFailure]] = {n: {} for n, _ in chosen}
        wanted: dict[str, int] = {}
        ready = [s for s, orig in zip(seeds, originals, strict=True) if _ok(orig)]
        if stash is not None:
            items = [it for n, o in chosen for it in stash.members("unlearned", n, o, ready)]
            scored = stash.score(ex, shared, items, seeds[0], progress, should_stop, share[0])
            for (name, s), run in scored.items():
                by_method[name][s] = run
        for name, over in chosen:
            wanted[name] = len(ready)
            if stash is not None:
                progress(share[0], stash.words(name, len(by_method[name]), len(ready)))
            for s, orig in zip(seeds, originals, strict=True):
                if _ok(orig) and s not in by_method[name]:
                    calls.append(
                        {
                            "method": name,
                            "overrides": over,
                            "seed": s,
                            "original": orig.state,
                            "keep": s == seeds[0],
                            "send_state": bool(mode) or stash is not None,
                            **extra,
                        }
                    )
                    slots.append((name, s))
        progress(share[0], f"unlearning: {len(calls)} runs")
        done = ex.map(
            unlearn_call,
            calls,
            shared=shared,
            progress=sub_progress(progress, share[0], share[1], "unlearning: "),
            should_stop=should_stop,
        )
        for (name, s), run in zip(slots, done, strict=True):
            by_method[name][s] = run
        if stash is not None:
            for name, over in chosen:
                new = [run for (n, _), run in zip(slots, done, strict=True) if n == name]
                stash.store("unlearned", name, over, new)
        result = _assemble(data, arch, train_config, split, seeds, originals, retrains)
        if stash is not None:
            result.reused = {
                "original": (len(found["original"]), len(seeds)),
                "retrain": (len(found["retrain"]), len(seeds)),
                **{n: (stash.count(n), wanted[n]) for n, _ in chosen},
            }
            if stash.failed_writes:
                progress(
                    share[1],
                    f"could not store {stash.failed_writes} models in {stash.ensembles.root} "
                    "(the audit is complete; a later audit trains them again)",
                )
        result.executor, result.workers = ex.name, ex.workers
        result.device = str(pick_device())
        for name, _ in chosen:
            result.methods.append(
                _method_audit(
                    name, specs[name], by_method[name], originals, retrains, seeds, split, data
                )
            )
            first = by_method[name].get(seeds[0])
            if _ok(first) and first.logits:
                result.logits[name] = _logits(first)
        result.metrics = list(metrics)
        result.attacks = [a for a in ATTACKS if a in attacks or (a == "relearn" and mode)]
        if lensed or quantize:
            _lens_round(result, by_method, originals, retrains, seeds, rmia_a)
        if mode:
            _relearn_round(
                result,
                mode,
                by_method,
                originals,
                retrains,
                seeds,
                ex,
                shared,
                sub_progress(progress, share[1], 1.0, "relearning: "),
                should_stop,
            )
        stopped = should_stop is not None and should_stop()
        result.cancelled = bool(stopped)
        result.seconds = time.perf_counter() - t0
        progress(1.0, "cancelled" if stopped else "done")
        return result
    finally:
        if own:
            ex.close()


def _assemble(data, arch, cfg, split, seeds, originals, retrains) -> AuditResult:
    res = AuditResult(
        dataset=data.name,
        model=arch,
        forget={
            **split.request.to_dict(),
            "description": split.request.describe(data.classes),
            "n_forget": split.n_forget,
            "n_retain": split.n_retain,
            "forgotten_classes": list(split.forgotten_classes),
        },
        seeds=list(seeds),
        train_config=cfg.to_dict(),
        forget_ids=[int(i) for i in split.forget_idx.tolist()],
        forget_labels=_forget_labels(data, split),
        originals=[
            _score(r, "original", "original", s) for s, r in zip(seeds, originals, strict=True)
        ],
        retrains=[_score(r, "retrain", REFERENCE, s) for s, r in zip(seeds, retrains, strict=True)],
    )
    for role, runs in (("original", originals), (REFERENCE, retrains)):
        if _ok(runs[0]) and runs[0].logits:
            res.logits[role] = _logits(runs[0])
    return res


def _forget_labels(data, split: ForgetSplit) -> list[int]:
    """Each forget sample's class (text: its person, ``text.audit_scores.forget_people``)."""
    if _is_text(data):
        from ..text.audit_scores import forget_people

        return forget_people(data, split)
    return [int(y) for y in data.y_train[split.forget_idx].tolist()]


def _forget_targets(data, split: ForgetSplit) -> np.ndarray:
    """The target column of each forget row of ``ModelRun.forget_logits`` (text: the
    pseudo-logits' true-answer column, ``text.audit_scores.targets``)."""
    if _is_text(data):
        from ..text.audit_scores import targets

        return targets(split.n_forget)
    return data.y_train[split.forget_idx].numpy()


def _confidences(runs: Sequence[ModelRun], y: np.ndarray) -> np.ndarray:
    return np.stack([logit_scaled_confidence(r.forget_logits, y) for r in runs])


def _method_audit(name, spec, runs, originals, retrains, seeds, split, data) -> MethodAudit:
    scores = [_score(runs.get(s, _missing(s)), "unlearned", name, s) for s in seeds]
    audit = MethodAudit(method=name, label=spec.label, family=spec.family, models=scores)
    ok_u = [runs[s] for s in seeds if _ok(runs.get(s))]
    ok_r = [r for r in retrains if _ok(r)]
    first = runs.get(seeds[0])
    if _ok(first):
        audit.params, audit.preset = first.params, first.preset
    failed = [m for m in scores if not m.ok]
    if failed and not ok_u:
        audit.error = failed[0].error
        return audit
    if len(ok_u) < 2 or len(ok_r) < 2:
        audit.error = (
            f"forget quality needs at least 2 unlearned and 2 retrained models; "
            f"{len(ok_u)} and {len(ok_r)} finished"
        )
        return audit
    k = min(len(ok_u), len(ok_r))  # the same number of models on each side
    y = _forget_targets(data, split)
    audit.quality = forget_quality(_confidences(ok_u[:k], y), _confidences(ok_r[:k], y))
    means_u = audit.means
    ra_r = np.mean([r.metrics["retain_acc"] for r in ok_r])
    ta_r = np.mean([r.metrics["test_acc"] for r in ok_r])
    try:
        audit.final_score = final_score(
            audit.quality.score, means_u["retain_acc"], ra_r, means_u["test_acc"], ta_r
        )
    except (TypeError, ValueError):
        audit.final_score = None
    if _ok(first) and _ok(retrains[0]):
        audit.privacy = worst_case_privacy(first.forget_logits, retrains[0].forget_logits)
    if failed:
        audit.error = "; ".join(f"seed {m.seed}: {m.error}" for m in failed)
    return audit


def _missing(seed: int) -> TaskFailure:
    return TaskFailure(error=f"not run: the original of seed {seed} did not train")


def _relearn_round(result, mode, by_method, originals, retrains, seeds, ex, shared, progress,
                   should_stop) -> None:  # fmt: skip
    """Relearn every seed's original, retrain and unlearned models (one call each), then score
    each seed's curves against its own target."""
    targets: list[tuple[str, int, dict]] = []
    for s, orig, ret in zip(seeds, originals, retrains, strict=True):
        if not _ok(orig):
            continue  # no original: no target, and no unlearned model either
        targets.append(("original", s, orig.state))
        if _ok(ret) and ret.state is not None:
            targets.append((REFERENCE, s, ret.state))
        for name, runs in by_method.items():
            run = runs.get(s)
            if _ok(run) and run.state is not None:
                targets.append((name, s, run.state))
    calls = [{"name": n, "state": st, "mode": mode, "seed": s} for n, s, st in targets]
    shared_r = {k: shared[k] for k in ("data", "arch", "split")}
    done = ex.map(relearn_call, calls, shared=shared_r, progress=progress, should_stop=should_stop)
    curves = []
    for (name, s, _), out in zip(targets, done, strict=True):
        if isinstance(out, TaskFailure):
            curves.append(
                RelearnCurve(
                    model=name, mode=mode, steps=[], forget_acc=[], seed=s, error=out.error
                )
            )
        else:
            curves.append(RelearnCurve.from_dict(out))
    result.relearn_mode = mode
    result.relearn_curves = score_curves(curves)


def _normalise(methods: Sequence[MethodChoice]) -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for m in methods:
        name, over = (m, {}) if isinstance(m, str) else (m[0], dict(m[1] or {}))
        if name == REFERENCE:
            continue  # retrain is the reference, always there
        if name not in [n for n, _ in out]:
            out.append((name, over))
    return out


def parse_choices(given: Sequence[str] | str, allowed: Sequence[str], what: str) -> list[str]:
    """``given`` (names or one comma-separated string) checked against ``allowed``, in the
    order of ``allowed``."""
    names = [n.strip() for n in given.split(",")] if isinstance(given, str) else list(given)
    names = [n for n in names if n]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise ValueError(f"unknown {what}(s) {', '.join(bad)}; choose from {', '.join(allowed)}")
    return [n for n in allowed if n in names]


def _paired(runs: dict[int, object], retrains: dict[int, object], seeds) -> list[int]:
    """The seeds where both the model and the retrain finished with margins or accuracies."""
    return [
        s
        for s in seeds
        if _ok(runs.get(s))
        and _ok(retrains.get(s))
        and (runs[s].margins is not None or runs[s].quant is not None)
    ]


def _stack(runs: Sequence[ModelRun], split: str) -> np.ndarray:
    return np.stack([r.margins[split] for r in runs])


def _side_lenses(mine, ref, metrics, quantize, rmia_a, seeds, halves=False) -> Lenses:
    """The lenses of ``mine`` against ``ref`` (runs in pair order); each part left None when
    it cannot be computed (too few pairs, no validation samples)."""
    from .klom import klom
    from .rmia import probability_from_margins, rmia
    from .ulira import ulira

    out = Lenses(seeds=list(seeds), halves=halves)
    has_margins = bool(mine) and all(r.margins is not None for r in (*mine, *ref))
    if has_margins:
        splits = [k for k in ("forget", "retain", "val") if k in mine[0].margins]
        u = {k: _stack(mine, k) for k in splits}
        o = {k: _stack(ref, k) for k in splits}
        out.forget_margins = np.round(u["forget"], MARGIN_DECIMALS).tolist()
        p = {k: probability_from_margins(v) for k, v in u.items()}
        q = {k: probability_from_margins(v) for k, v in o.items()}
        lo, hi = -CONF_LIMIT, CONF_LIMIT
        lenses = {
            "klom": lambda: klom(u, o),
            "ulira": lambda: ulira(np.clip(u["forget"], lo, hi), np.clip(o["forget"], lo, hi)),
            "rmia": lambda: rmia(p["forget"], q["forget"], p["val"], q["val"], offline_a=rmia_a),
        }
        for name, compute in lenses.items():
            if name not in metrics or (name == "rmia" and "val" not in u):
                continue
            with contextlib.suppress(ValueError):  # too few pairs: the lens stays None
                setattr(out, name, compute())
    if quantize and mine and all(r.quant is not None for r in mine):
        out.quant = {k: [float(r.quant[k]) for r in mine] for k in mine[0].quant}
    return out


def _lens_round(result, by_method, originals, retrains, seeds, rmia_a) -> None:
    """Per method (and for the originals) the lenses against the retrains of the same seeds;
    for the retrains: every finished retrain's forget margins and quantised accuracies, and
    KLoM, U-LiRA and RMIA of their first half against their second half (``halves``); KLoM's
    oracle baseline."""
    from .klom import klom_baseline

    metrics = set(result.metrics)
    quantize = "quantize" in result.attacks
    ret = dict(zip(seeds, retrains, strict=True))
    result.rmia_a = float(rmia_a) if "rmia" in metrics else None

    def side(runs: dict[int, object]) -> Lenses:
        paired = _paired(runs, ret, seeds)
        mine, ref = [runs[s] for s in paired], [ret[s] for s in paired]
        return _side_lenses(mine, ref, metrics, quantize, rmia_a, paired)

    result.original_lenses = side(dict(zip(seeds, originals, strict=True)))
    for m in result.methods:
        m.lenses = side(by_method.get(m.method, {}))
    ok = [s for s in seeds if _ok(ret[s])]
    h = len(ok) // 2
    first, second = [ret[s] for s in ok[:h]], [ret[s] for s in ok[h : 2 * h]]
    halves = _side_lenses(first, second, metrics, False, rmia_a, ok, halves=True)
    every = [ret[s] for s in ok]
    if every and all(r.margins is not None for r in every):
        halves.forget_margins = np.round(_stack(every, "forget"), MARGIN_DECIMALS).tolist()
    if quantize and every and all(r.quant is not None for r in every):
        halves.quant = {k: [float(r.quant[k]) for r in every] for k in every[0].quant}
    result.retrain_lenses = halves
    if "klom" in metrics and h >= 1 and all(ret[s].margins is not None for s in ok):
        result.klom_baseline = klom_baseline(
            {k: _stack([ret[s] for s in ok], k) for k in ret[ok[0]].margins}
        )
