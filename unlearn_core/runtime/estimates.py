"""Time estimates: before long work starts, and the time left while it runs.

An estimate is a sum of **stages** (train the retrained model, run each method, score every
model, lay out the UMAP graphs ...), each a size times a **rate measured on this machine**, and
it says how sure it is: a range from the spread of the measurements behind each rate.

Where a rate comes from, best first:

1. **Recorded durations** of the same work on this machine: a finished training run's
   samples per second (``train_new_model`` -> :func:`remember_throughput`), the UMAP worker's
   stage times (:func:`observe`), how far a whole comparison or audit ran from its estimate
   (:func:`record_outcome`). They are kept in this process and, once the app (or anyone)
   calls :func:`keep_timings`, in a small journal per machine (``<cache>/timings.json``), so
   a new server starts from them.
2. **A quick probe**: a few timed optimiser steps of the architecture at the recipe's batch
   (:func:`training_throughput`), corrected by how far probes missed real runs on this machine
   (``probe_factor``), or, before any run here, by :data:`PROBE_FACTOR` (measured on the
   2-core development machine, ``benchmarks/estimate_accuracy.py``).
3. **Defaults** measured on the 2-core development machine, with a wide range.

The range: several measurements give their own spread (min to max, at least
:data:`FLOOR_BAND` either side); one measurement gives :data:`ONE_BAND`; a probe or a
default the wider :data:`PROBE_BAND` / :data:`DEFAULT_BAND`. Stage ranges add up (the errors
of one machine move together: a busy machine is slow at every stage).

Method costs are time ratios to retraining from the benchmark matrix
(``benchmarks/results/*.csv``, median over cells and scenarios).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

#: median time ratio (method seconds / retrain seconds) in the benchmark matrix, per
#: architecture kind; a method missing here counts as :data:`UNKNOWN_RATIO`
TIME_RATIOS = {
    "mlp": {
        "finetune": 0.10, "fisher": 0.024, "l1_sparse": 0.10, "lrp": 0.001, "lrp_class": 0.001,
        "lrp_until": 0.009, "neggrad": 0.05, "neggrad_plus": 0.14, "random_labels": 0.078,
        "salun": 0.11, "scrub": 0.115, "sisa": 1.17, "ssd": 0.02, "ssd_adaptive": 0.019,
    },
    "cnn": {
        "finetune": 0.17, "fisher": 0.17, "l1_sparse": 0.14, "lrp": 0.001, "lrp_class": 0.001,
        "lrp_until": 0.033, "neggrad": 0.46, "neggrad_plus": 0.16, "random_labels": 0.14,
        "salun": 0.16, "scrub": 0.51, "sisa": 1.03, "ssd": 0.072, "ssd_adaptive": 0.069,
    },
    "resnet18": {
        "finetune": 0.21, "fisher": 0.21, "l1_sparse": 0.12, "lrp": 0.001, "lrp_class": 0.002,
        "lrp_until": 0.016, "neggrad": 0.16, "neggrad_plus": 0.14, "random_labels": 0.14,
        "salun": 0.16, "scrub": 1.0, "sisa": 0.96, "ssd": 0.15, "ssd_adaptive": 0.12,
    },
}  # fmt: skip
UNKNOWN_RATIO = 1.0
#: a method's time ratio over the matrix's cells, relative to its median (most methods lie
#: within 0.75-1.4x of their median; a few one-shot methods vary more)
RATIO_BAND = (0.75, 1.4)
#: methods that first train their own models on the whole training set (SISA's shards), an
#: extra original training before unlearning
TRAIN_FIRST = {"sisa": 1.0}

#: real training samples/s over the probe's, per architecture (``<arch>:small``: probed at
#: :data:`SMALL_PROBE_BATCH`), before this machine has measured one (2-core development
#: machine, one torch thread, benchmarks/results/estimate_accuracy.md: MLP 0.79-0.95, CNN
#: 0.89-1.04, ResNet-18 probed at 8 samples 1.17-1.35)
PROBE_FACTOR = {"mlp": 0.85, "cnn": 0.95, "resnet18": 0.95, "resnet18:small": 1.25}
#: a probe is taken again after this many seconds (the machine's load moves)
PROBE_TTL_S = 60.0
#: the share of a core free now (:func:`cpu_share`): each measurement this long, a new one
#: after this long, the median of those within the window
SHARE_PROBE_S = 0.1
SHARE_TTL_S = 5.0
SHARE_WINDOW_S = 60.0
#: the probe's batch where a step at the recipe's batch would overrun the probe's budget
SMALL_PROBE_BATCH = 8
#: relative half-widths of a rate's range: several measurements (at least), one measurement,
#: a corrected probe, a development-machine default
FLOOR_BAND = 0.10
ONE_BAND = 0.20
PROBE_BAND = 0.35
DEFAULT_BAND = 0.60
#: the most values kept per rate (the newest)
KEEP = 20

#: scoring one model (its logits on the forget, retain and test sets, and the membership
#: attacks' fits): seconds, plus seconds per sample scored at the training throughput's scale
SCORE_FIXED_S = 0.6
#: an evaluation pass runs about this many times the training throughput
EVAL_SPEEDUP = 3.0
#: storing a finished comparison (the JSON document and every model's weights), seconds
STORE_S = 0.3

#: an audit's process pool: starting it (each worker imports torch) and the share of the
#: cores the workers get (the server and the browser share them); measured on 2 cores
POOL_START_S = 4.6
PARALLEL_EFFICIENCY = 0.8
#: a model trained in a batched group (``ensemble_training.train_many``: the audit's MLPs
#: and CNNs) costs this share of its training alone, within this band (3 digits seeds on one
#: busy thread: 0.5-1.2)
BATCHED_COST = 0.75
BATCHED_BAND = (0.6, 1.6)
#: the architectures ``ensemble_training.batch_blocker`` lets the audit train batched, and
#: the pipeline's largest group (``audit.pipeline.MAX_GROUP``; a test keeps both in step)
BATCHED_ARCHS = ("mlp", "cnn")
AUDIT_MAX_GROUP = 128
#: relearning one model (a few dozen fine-tuning steps with evaluations), seconds
RELEARN_S_PER_MODEL = 1.0

#: UMAP (aligned layouts, ``analysis.aligned_layout``), seconds: per n^2 of a model's
#: neighbour graph (exact distances, k-NN, spectral start); per sample x model x epoch of the
#: reference models' joint layout; per sample x epoch of one more model laid out against
#: them; measured on the 2-core machine (1 295 digits samples: graphs 0.2 s each, the joint
#: layout of two models 2.0 s, one more model 0.9 s at 200 epochs)
UMAP_GRAPH_S = 1.3e-7
UMAP_BASE_EPOCH_S = 3.9e-6
UMAP_ADD_EPOCH_S = 3.5e-6
#: the UMAP worker's warm-up on a free machine (start the process, import umap, load its
#: compiled code, fit small layouts and the probe; ~18 s at 40 % of a core on the 2-core
#: machine), and a result's trip back to the page (the job's poll and the rerun), seconds
UMAP_WARM_UP_S = 7.0
REDRAW_S = 1.0
#: seconds per gradient pass of one sample (attributions; captum's per-call overhead
#: dominates for the small models: digits MLP 7.9e-4, shapes CNN 2.6e-4 measured)
ATTRIBUTION_PASS_S = 5e-4

_lock = threading.Lock()
#: "kind|key" -> measured values (this process's, and the journal's once kept)
_values: dict[str, list[float]] = {}
#: probe per throughput key (this process): (samples/s, when, probed at the small batch)
_throughput: dict[tuple, tuple[float, float, bool]] = {}
JOURNAL_ENV = "UNLEARN_TIMINGS"
#: the journal this process keeps its measurements in (a worker process started by one that
#: keeps a journal finds it in the environment)
_journal: Path | None = Path(os.environ[JOURNAL_ENV]) if os.environ.get(JOURNAL_ENV) else None
_journal_mtime = 0.0
#: this minute's measured shares of a core (:func:`cpu_share`): (when, share)
_shares: list[tuple[float, float]] = []
#: every share measured in this process (the newest thousand; benchmarks report them)
_share_log: list[float] = []


# ----------------------------------------------------------------------------- wording
def format_duration(seconds: float) -> str:
    """``"4 s"``, ``"1 min 20 s"``, ``"12 min"``, ``"2 h 5 min"`` (rounded for reading)."""
    s = max(0.0, float(seconds))
    if s < 1:
        return "under 1 s"
    if s < 60:
        return f"{round(s)} s"
    if s < 600:
        m, rest = divmod(round(s / 10) * 10, 60)
        return f"{m} min {rest} s" if rest else f"{m} min"
    if s < 3600:
        return f"{round(s / 60)} min"
    h, m = divmod(round(s / 60), 60)
    return f"{h} h {m} min" if m else f"{h} h"


def format_range(low: float, high: float) -> str:
    """``"20–35 s"``, ``"1 min 40 s – 3 min"``, ``"under 1 s"`` (both ends below a second)."""
    a, b = format_duration(low), format_duration(high)
    if b == "under 1 s":
        return b
    if a == "under 1 s":
        return f"up to {b}"
    if a == b:
        return a
    if a.endswith(" s") and b.endswith(" s") and "min" not in a + b:
        return f"{a[:-2]}–{b}"
    if a.endswith(" min") and b.endswith(" min") and a.count(" ") == b.count(" ") == 1:
        return f"{a[:-4]}–{b}"
    return f"{a} – {b}"


@dataclass(frozen=True)
class Stage:
    """One part of some work: its expected seconds and a plausible range."""

    name: str
    seconds: float
    low: float
    high: float

    @classmethod
    def of(cls, name: str, seconds: float, band: tuple[float, float]) -> Stage:
        """``seconds`` with a range of ``band`` (relative: (0.8, 1.3) is -20 % / +30 %)."""
        s = max(0.0, float(seconds))
        return cls(name, s, s * band[0], s * band[1])

    def scaled(
        self, factor: float, band: tuple[float, float] = (1.0, 1.0), name: str | None = None
    ) -> Stage:
        """This stage x ``factor``, its range widened by ``band``; renamed ``name``."""
        return Stage(
            self.name if name is None else name, self.seconds * factor,
            self.low * factor * band[0], self.high * factor * band[1],
        )  # fmt: skip


@dataclass(frozen=True)
class Estimate:
    """How long some work should take, the range it should fall in, and what it rests on."""

    seconds: float
    basis: str
    low: float | None = None
    high: float | None = None
    stages: tuple[Stage, ...] = field(default=(), compare=False)
    #: what :func:`record_outcome` files the real duration under ("" for none)
    kind: str = ""

    @classmethod
    def of(cls, stages: Iterable[Stage], basis: str = "", kind: str = "") -> Estimate:
        """The sum of ``stages`` (their ranges add up)."""
        st = tuple(s for s in stages if s.seconds > 0 or s.high > 0)
        return cls(
            sum(s.seconds for s in st), basis, sum(s.low for s in st), sum(s.high for s in st),
            st, kind,
        )  # fmt: skip

    def range_text(self) -> str:
        """``"20–35 s"``; the central figure alone when no range is known."""
        if self.low is None or self.high is None:
            return format_duration(self.seconds)
        return format_range(self.low, self.high)

    def text(self) -> str:
        """``"about 30 s (20–45 s) on this machine"``; ``"about 4 s on this machine"``
        without a range; ``"under 1 s on this machine"``."""
        d = format_duration(self.seconds)
        if self.seconds < 1 and (self.high is None or self.high < 1):
            return "under 1 s on this machine"
        about = d if self.seconds < 1 else "about " + d
        if self.low is None or self.high is None:
            return f"{about} on this machine"
        rng = self.range_text()
        same = rng == d or format_duration(self.low) == format_duration(self.high)
        return f"{about} on this machine" if same else f"{about} ({rng}) on this machine"

    def breakdown(self) -> str:
        """``"retrain ~12 s, scrub ~4 s, scoring ~3 s"`` (the stages, largest first)."""
        parts = sorted(self.stages, key=lambda s: s.seconds, reverse=True)
        return ", ".join(f"{s.name} ~{format_duration(s.seconds)}" for s in parts)


def time_left(fraction: float, elapsed: float) -> float | None:
    """Seconds left at ``fraction`` done after ``elapsed`` seconds (linear); None while too
    little is done to tell (under 3 % or under half a second)."""
    if not (0.03 <= fraction < 1.0) or elapsed < 0.5:
        return None
    return elapsed * (1.0 - fraction) / fraction


def eta_text(fraction: float, elapsed: float) -> str:
    """``" · about 12 s left"``, or ``""`` while :func:`time_left` cannot tell."""
    left = time_left(fraction, elapsed)
    return "" if left is None else f" · about {format_duration(left)} left"


# ----------------------------------------------------------------------------- measurements
def summarise(
    values: Sequence[float], default: float | None = None, *, prior: float = DEFAULT_BAND
) -> tuple[float, float, float, int]:
    """``(value, low, high, n)`` of measured ``values`` (positive, finite): the median, and a
    range from their spread (min to max, at least :data:`FLOOR_BAND` either side), or
    :data:`ONE_BAND` for a single value; without values, ``default`` +- ``prior``."""
    v = sorted(float(x) for x in values if x > 0 and math.isfinite(x))
    if not v:
        if default is None:
            raise ValueError("no measurement and no default")
        return default, default * (1 - prior), default * (1 + prior), 0
    med = statistics.median(v)
    if len(v) == 1:
        return med, med * (1 - ONE_BAND), med * (1 + ONE_BAND), 1
    low = min(v[0], med * (1 - FLOOR_BAND))
    high = max(v[-1], med * (1 + FLOOR_BAND))
    return med, low, high, len(v)


def band(value: float, low: float, high: float) -> tuple[float, float]:
    """``(low / value, high / value)``: a range as factors of its central value."""
    return (low / value, high / value) if value > 0 else (1.0, 1.0)


def share_of(cpu_s: float, wall_s: float) -> float:
    """The share of a core a thread had: its CPU seconds over the wall-clock seconds (0-1)."""
    return min(1.0, max(cpu_s, 1e-6) / wall_s) if wall_s > 0 else 1.0


def cpu_share(seconds: float = SHARE_PROBE_S) -> float:
    """The share of a core a busy thread gets now: the median of this minute's measurements
    (each hashing, which releases the interpreter lock, for ``seconds``: its thread's CPU
    time over the wall-clock time), a new one taken when the last is :data:`SHARE_TTL_S` old.
    Every measured duration is kept as on a free machine (x the share then) and every
    estimate scaled by the share now: on a machine whose other work comes and goes (the shared
    2-core development machine ran at load 2 to 15, much of it niced, so the load average
    alone misjudges it), a rate measured at one time says little about another."""
    now = time.monotonic()
    with _lock:
        recent = [(t, v) for t, v in _shares if now - t < SHARE_WINDOW_S]
        fresh = bool(recent) and now - recent[-1][0] < SHARE_TTL_S
    if not fresh:
        import hashlib

        buf = bytes(1 << 18)
        w0, c0 = time.perf_counter(), time.thread_time()
        while time.perf_counter() - w0 < seconds:
            hashlib.sha256(buf).digest()
        recent.append(
            (time.monotonic(), share_of(time.thread_time() - c0, time.perf_counter() - w0))
        )
        _share_log.append(recent[-1][1])
        del _share_log[:-1000]
    with _lock:
        _shares[:] = recent
    return statistics.median(v for _, v in recent)


def machine() -> str:
    """This machine in the journal: host name, cores, processor."""
    return f"{platform.node()}|{os.cpu_count()}|{platform.machine()}"


def keep_timings(path: str | Path | None = None) -> Path:
    """Keep measured durations in the journal at ``path`` (default: ``$UNLEARN_TIMINGS``, else
    ``timings.json`` in the model cache folder) and read what it already holds for this
    machine. Sets ``$UNLEARN_TIMINGS``, so worker processes started afterwards (an audit's
    pool) keep theirs there too. Returns the path."""
    global _journal, _journal_mtime
    if path is None:
        env = os.environ.get(JOURNAL_ENV)
        if env:
            path = env
        else:
            root = os.environ.get("UNLEARN_CACHE", Path.cwd() / ".unlearn_cache")
            path = Path(root) / "timings.json"
    p = Path(path)
    os.environ[JOURNAL_ENV] = str(p)
    with _lock:
        if p != _journal:
            _journal, _journal_mtime = p, 0.0
    _refresh()
    return p


def forget_timings() -> None:
    """Stop keeping a journal and drop every measurement this process holds (tests)."""
    global _journal
    with _lock:
        _journal = None
        _values.clear()
        _throughput.clear()
    os.environ.pop(JOURNAL_ENV, None)


def _read_journal(p: Path) -> dict[str, list[float]]:
    try:
        doc = json.loads(p.read_text())
    except (OSError, ValueError):
        return {}
    mine = doc.get(machine(), {}) if isinstance(doc, dict) else {}
    return {k: [float(x) for x in v] for k, v in mine.items() if isinstance(v, list)}


def _refresh() -> None:
    """Take in what other processes wrote to the journal since it was last read."""
    global _journal_mtime
    p = _journal
    if p is None:
        return
    try:
        mtime = p.stat().st_mtime
    except OSError:
        return
    if mtime == _journal_mtime:
        return
    disk = _read_journal(p)
    with _lock:
        _journal_mtime = mtime
        for k, vals in disk.items():
            mine = _values.get(k, [])
            if vals[-KEEP:] != mine[-KEEP:]:  # the journal holds the newest of every process
                _values[k] = vals[-KEEP:]


def _write_journal(name: str, value: float) -> None:
    p = _journal
    if p is None:
        return
    with contextlib.suppress(OSError):
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p.with_suffix(".lock"), "a") as lock:
            try:
                import fcntl

                fcntl.flock(lock, fcntl.LOCK_EX)
            except (ImportError, OSError):  # no file locks here: last writer wins
                pass
            try:
                doc = json.loads(p.read_text()) if p.exists() else {}
            except ValueError:
                doc = {}
            if not isinstance(doc, dict):
                doc = {}
            mine = doc.setdefault(machine(), {})
            mine[name] = [*mine.get(name, []), float(value)][-KEEP:]
            tmp = p.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
            os.replace(tmp, p)


def record(kind: str, value: float, key: str = "") -> None:
    """Keep one measured value of ``kind`` (for ``key``): in this process and in the journal."""
    if not (value > 0 and math.isfinite(value)):
        return
    name = f"{kind}|{key}"
    with _lock:
        _values[name] = [*_values.get(name, []), float(value)][-KEEP:]
    _write_journal(name, value)


def recorded(kind: str, key: str = "") -> list[float]:
    """The values of ``kind`` (for ``key``) measured on this machine, oldest first."""
    _refresh()
    with _lock:
        return list(_values.get(f"{kind}|{key}", []))


def observe(kind: str, units: float, seconds: float) -> None:
    """Remember a measured rate (seconds per unit) of ``kind`` for later estimates, as on a
    free machine (x :func:`cpu_share` now)."""
    if units > 0 and seconds > 0 and math.isfinite(seconds):
        record(kind, seconds / units * cpu_share())


def rate(kind: str, default: float) -> float:
    """The median measured rate of ``kind`` (on a free machine), or ``default``."""
    return summarise(recorded(kind), default)[0]


def rate_stage(name: str, kind: str, units: float, default: float) -> Stage:
    """``units`` x the rate of ``kind`` (its measured spread, or ``default`` +- the default
    band; ``default`` is for a free machine), at the machine's load now."""
    value, low, high, _ = summarise(recorded(kind), default)
    share = cpu_share()
    return Stage(name, units * value / share, units * low / share, units * high / share)


def record_outcome(estimate: Estimate, seconds: float) -> None:
    """File how long work of ``estimate.kind`` really took against its estimate: later
    estimates of that kind are scaled by the median of these ratios (:func:`calibrated`)."""
    if estimate.kind and estimate.seconds > 0:
        record("outcome", seconds / estimate.seconds, estimate.kind)


def calibrated(estimate: Estimate) -> Estimate:
    """``estimate`` scaled by how far this machine's earlier work of its kind ran from its
    estimate (:func:`record_outcome`), its range by the spread of those ratios; unchanged
    before any."""
    ratios = recorded("outcome", estimate.kind) if estimate.kind else []
    if not ratios:
        return estimate
    f, lo, hi, n = summarise(ratios)
    b = band(f, lo, hi)
    stages = tuple(s.scaled(f, b) for s in estimate.stages)
    note = f"; scaled x{f:.2f} by {n} earlier run{'s' if n > 1 else ''} on this machine"
    return Estimate.of(stages, estimate.basis + note, estimate.kind)


# ----------------------------------------------------------------------------- training
def _throughput_key(arch, input_shape, num_classes, batch_size, dev, threads=None) -> tuple:
    import torch

    t = torch.get_num_threads() if threads is None else int(threads)
    return (arch, tuple(input_shape), num_classes, batch_size, str(dev), t)


def _key_text(key: tuple) -> str:
    arch, shape, classes, batch, dev, threads = key
    return f"{arch}:{'x'.join(map(str, shape))}:{classes}:b{batch}:{dev}:t{threads}"


def _factor_key(arch: str, small: bool) -> str:
    """Probe factors of probes at the recipe's batch and at :data:`SMALL_PROBE_BATCH` differ
    (a small batch does less per sample), so they are kept apart."""
    return f"{arch}:small" if small else arch


def remember_throughput(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    batch_size: int,
    samples_per_s: float,
    *,
    device,
) -> None:
    """Keep the throughput a real training run measured (``train_new_model`` calls this):
    the next estimate for the same model, batch and thread count uses it, and, where this
    process probed the same model, how far the probe was off (``probe_factor``)."""
    if not (samples_per_s > 0 and math.isfinite(samples_per_s)):
        return
    key = _throughput_key(arch, input_shape, num_classes, batch_size, device)
    free = samples_per_s / cpu_share()  # as on a free machine
    record("train_sps", free, _key_text(key))
    with _lock:
        probe = _throughput.get(key)
    if probe:
        record("probe_factor", free / probe[0], _factor_key(arch, probe[2]))


def _probe_entry(key: tuple) -> tuple[float, float, bool] | None:
    """A probe of ``key`` taken less than :data:`PROBE_TTL_S` ago: (samples/s, when, small)."""
    with _lock:
        hit = _throughput.get(key)
    return hit if hit is not None and time.monotonic() - hit[1] < PROBE_TTL_S else None


def settled_steps(
    step: Callable[[], float], budget_s: float, most: int = 200, clock=time.perf_counter
) -> list[float]:
    """Seconds of repeated ``step()`` calls: at least 3, for about ``budget_s``, and on (to
    four times that) until the fast steps (within 1.5x of the fastest) are at least half: a
    fresh process's first steps can be slow (torch's thread pool starting on a busy machine:
    0.25 s steps that then take 1 ms), and must not be taken for the machine's speed."""
    times: list[float] = []
    t0 = clock()
    while len(times) < most:
        times.append(step())
        elapsed = clock() - t0
        if len(times) < 3 or elapsed < budget_s:
            continue
        fast = sum(t <= 1.5 * min(times) for t in times)
        if 2 * fast >= len(times) or elapsed >= 4 * budget_s:
            break
    return times


def training_throughput(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    batch_size: int,
    *,
    device=None,
    budget_s: float = 0.3,
) -> float:
    """Probe: training samples per second of ``arch`` at ``batch_size`` on this machine.

    Optimiser steps (the training loop's fused Adam) timed for about ``budget_s`` seconds
    (:func:`settled_steps`: longer while a fresh process's first steps are still speeding up);
    the median of the later half counts (one step slowed by other work does not move it). Where one step at ``batch_size`` would take longer than the budget
    (a big model on a CPU: the full ResNet-18 trains ~20 samples/s on one core), the steps run
    at :data:`SMALL_PROBE_BATCH` samples instead. With one torch thread the steps are timed in
    the thread's CPU time. Returns samples per second as on a free machine
    (:func:`cpu_share`). Kept for :data:`PROBE_TTL_S` seconds: a later estimate probes again."""
    import torch

    from ..models import build_model
    from .device import pick_device

    dev = torch.device(device) if device is not None else pick_device()
    key = _throughput_key(arch, input_shape, num_classes, batch_size, dev)
    hit = _probe_entry(key)
    if hit is not None:
        return hit[0]
    gen = torch.Generator().manual_seed(0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(arch, tuple(input_shape), num_classes).to(dev).train()
    fused = {"fused": True} if dev.type in ("cpu", "cuda") else {}  # as the training loop's
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, **fused)
    loss_fn = torch.nn.CrossEntropyLoss()

    tokens = isinstance(getattr(model, "tok", None), torch.nn.Embedding)  # a language model

    def batch(n: int):
        if tokens:  # token ids in, the next token at every position out
            ids = torch.randint(0, num_classes, (n, *input_shape), generator=gen).to(dev)
            return ids, ids.roll(-1, 1).flatten()
        x = torch.rand((n, *input_shape), generator=gen).to(dev)
        return x, torch.randint(0, num_classes, (n,), generator=gen).to(dev)

    # one torch thread on the CPU: the thread's CPU time, which other work on the machine does
    # not stretch (the load is applied to the estimate itself); else the wall clock
    cpu = dev.type == "cpu" and torch.get_num_threads() == 1
    clock = time.thread_time if cpu else time.perf_counter

    def step(xy) -> float:
        t0 = clock()
        opt.zero_grad(set_to_none=True)
        out = model(xy[0])
        loss_fn(out.flatten(0, -2) if out.dim() > 2 else out, xy[1]).backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return clock() - t0

    small_n = min(batch_size, SMALL_PROBE_BATCH)
    small = batch(small_n)
    # the fastest small step (a step slowed by other work must not decide); a small model's
    # step is mostly overhead, so this overstates a full batch: room is left for it
    per_sample = min(settled_steps(lambda: step(small), budget_s)) / small_n
    n = batch_size if per_sample * batch_size <= 2 * budget_s else small_n
    xy = batch(n) if n != small_n else small
    times = settled_steps(lambda: step(xy), budget_s)
    sps = n / max(statistics.median(times[len(times) // 2 :]), 1e-9)
    if not cpu:  # a wall-clock probe ran at the load now: as on a free machine
        sps /= cpu_share()
    with _lock:
        _throughput[key] = (sps, time.monotonic(), n < batch_size)
    return sps


@dataclass(frozen=True)
class Throughput:
    """Training samples per second (central, slow end, fast end) and where it comes from."""

    sps: float
    slow: float
    fast: float
    source: str

    def seconds(self, name: str, samples: float) -> Stage:
        """A stage of ``samples`` training samples at this throughput."""
        return Stage(name, samples / self.sps, samples / self.fast, samples / self.slow)


def train_rate(
    arch: str,
    input_shape: Sequence[int],
    num_classes: int,
    batch_size: int,
    *,
    device=None,
    threads: int | None = None,
) -> Throughput:
    """How fast ``arch`` trains at ``batch_size`` here and now, best source first:

    1. a probe now x how far probes of ``arch`` missed its real runs on this machine (the
       probe follows the machine now, the factor what a probe does not see);
    2. the throughput real runs measured for the same model, batch and threads;
    3. a probe now x :data:`PROBE_FACTOR` (with the wide :data:`PROBE_BAND`).

    Each as on a free machine, x the share of a core the run will get now
    (:func:`cpu_share`). For ``threads`` fewer than this process's (an audit's calls run one
    thread each), a probe is scaled down by the square root of the ratio, for want of better."""
    import torch

    from .device import pick_device

    dev = torch.device(device) if device is not None else pick_device()
    key = _throughput_key(arch, input_shape, num_classes, batch_size, dev, threads)
    real = recorded("train_sps", _key_text(key))
    now = torch.get_num_threads()
    scale, note = 1.0, ""
    if threads is not None and threads < now:
        scale, note = math.sqrt(threads / now), f", {threads} of {now} threads"
    share = cpu_share()
    if share < 1:
        note += f", {share:.0%} of a core free now"
    scale *= share

    def probe() -> tuple[float, bool]:
        sps = training_throughput(arch, input_shape, num_classes, batch_size, device=dev)
        hit = _probe_entry(_throughput_key(arch, input_shape, num_classes, batch_size, dev))
        return sps * scale, bool(hit and hit[2])

    own_small = recorded("probe_factor", _factor_key(arch, True))
    own_full = recorded("probe_factor", _factor_key(arch, False))
    if (own_small or own_full) and (threads is None or threads >= now or not real):
        sps, small = probe()
        own = own_small if small else own_full
        f, lo, hi, n = summarise(own or own_full or own_small)
        lo, hi = min(lo, f * (1 - FLOOR_BAND)), max(hi, f * (1 + FLOOR_BAND))
        if not own:  # the factor of a probe at the other batch: roughly
            lo, hi = min(lo, f * (1 - PROBE_BAND)), max(hi, f * (1 + PROBE_BAND))
        runs = f"{n} real run{'s' if n > 1 else ''}"
        return Throughput(sps * f, sps * lo, sps * hi, f"probe now x{f:.2f} ({runs}){note}")
    if real:
        v, lo, hi, n = summarise(real)
        runs = f"{n} training run{'s' if n > 1 else ''} here"
        return Throughput(v * share, lo * share, hi * share, runs + note)
    sps, small = probe()
    f = PROBE_FACTOR.get(_factor_key(arch, small), PROBE_FACTOR.get(arch, 0.8))
    lo, hi = f * (1 - PROBE_BAND), f * (1 + PROBE_BAND)
    return Throughput(sps * f, sps * lo, sps * hi, f"probe x{f:.2f} (typical){note}")


def training_stages(
    n_train: int, arch: str, recipe, input_shape, num_classes, *, device=None, threads=None,
    name: str = "training",
) -> tuple[list[Stage], Throughput]:  # fmt: skip
    """The stages of one training run: the epochs, and building the model with a test pass."""
    batch = max(1, min(int(recipe.batch_size), int(n_train)))
    tp = train_rate(arch, input_shape, num_classes, batch, device=device, threads=threads)
    epochs = tp.seconds(name, recipe.epochs * n_train)
    return [epochs], tp


def training_estimate(
    n_train: int,
    arch: str,
    recipe,
    input_shape: Sequence[int],
    num_classes: int,
    *,
    device=None,
    n_test: int = 0,
) -> Estimate:
    """Training ``arch`` with ``recipe`` (a ``TrainConfig``) on ``n_train`` samples, and the
    test accuracy after it (``n_test`` samples)."""
    stages, tp = training_stages(n_train, arch, recipe, input_shape, num_classes, device=device)
    if n_test:
        stages.append(Stage.of("test accuracy", n_test / (EVAL_SPEEDUP * tp.sps), (0.5, 2.0)))
    batch = max(1, min(int(recipe.batch_size), int(n_train)))
    return Estimate.of(
        stages,
        f"{recipe.epochs} epochs x {n_train} samples at {tp.sps:,.0f} samples/s "
        f"({arch} at batch {batch}: {tp.source})",
        kind=f"train:{arch}",
    )


# ----------------------------------------------------------------------------- comparisons
def _ratio_kind(arch: str) -> str:
    return arch if arch in TIME_RATIOS else "cnn"


def method_ratio(method: str, arch: str) -> float:
    """A method's seconds over retraining's, with SISA's shard training counted."""
    return TIME_RATIOS[_ratio_kind(arch)].get(method, UNKNOWN_RATIO) + TRAIN_FIRST.get(method, 0)


def scoring_stage(n_models: int, n_scored: int, tp: Throughput, name: str = "scoring") -> Stage:
    """Scoring ``n_models`` models: an evaluation pass over ``n_scored`` samples each (at
    :data:`EVAL_SPEEDUP` x the training throughput) and the attacks' fits."""
    per = rate_stage(name, "score_fixed", 1, SCORE_FIXED_S)
    passes = n_models * n_scored
    return Stage(
        name,
        n_models * per.seconds + passes / (EVAL_SPEEDUP * tp.sps),
        n_models * per.low + passes / (EVAL_SPEEDUP * tp.fast),
        n_models * per.high + passes / (EVAL_SPEEDUP * tp.slow),
    )


def comparison_stages(
    n_train: int, n_forget: int, arch: str, recipe, methods: Sequence[str], input_shape,
    num_classes: int, *, include_retrain: bool = True, device=None, threads=None,
    n_test: int = 0,
) -> tuple[list[Stage], Stage]:  # fmt: skip
    """A comparison's stages (retrain, each method, scoring every model and the store), and
    the retraining stage alone (what the methods' ratios refer to)."""
    n_retain = max(n_train - n_forget, 1)
    (retrain,), tp = training_stages(
        n_retain, arch, recipe, input_shape, num_classes, device=device, threads=threads,
        name="retrain",
    )  # fmt: skip
    stages = [retrain] if include_retrain else []
    stages += [
        retrain.scaled(method_ratio(m, arch), RATIO_BAND, m) for m in methods if m != "retrain"
    ]
    n_models = 1 + int(include_retrain) + len([m for m in methods if m != "retrain"])
    stages.append(scoring_stage(n_models, n_train + n_test, tp))
    stages.append(Stage.of("storing", STORE_S, (0.5, 3.0)))
    return stages, retrain


def comparison_estimate(
    n_train: int,
    n_forget: int,
    arch: str,
    recipe,
    methods: Sequence[str],
    input_shape: Sequence[int],
    num_classes: int,
    *,
    include_retrain: bool = True,
    device=None,
    n_test: int = 0,
) -> Estimate:
    """A comparison: retraining on the retain set, each method as its benchmark time ratio
    to retraining (SISA also trains its shards first), scoring every model (an evaluation
    pass over the training and test data and the attacks' fits) and storing the run; scaled
    by how earlier comparisons here ran against their estimates."""
    stages, retrain = comparison_stages(
        n_train, n_forget, arch, recipe, methods, input_shape, num_classes,
        include_retrain=include_retrain, device=device, n_test=n_test,
    )  # fmt: skip
    slow = sorted((s for s in stages if s.name in methods), key=lambda s: s.seconds)[-1:]
    note = f"; {slow[0].name} the longest method" if slow else ""
    basis = (
        f"retrain ~{format_duration(retrain.seconds)}, methods by their benchmark time ratios to "
        f"retrain{note}, scoring {sum(1 for s in stages if s.name in methods) + 1 + include_retrain}"
        " models"
    )
    return calibrated(Estimate.of(stages, basis, kind=f"compare:{arch}"))


def method_cost_note(method: str, arch: str, retrain_seconds: float) -> str:
    """One line on what ``method`` costs next to retraining (``retrain_seconds``)."""
    seconds = retrain_seconds * method_ratio(method, arch)
    extra = TRAIN_FIRST.get(method, 0.0)
    first = " (it first trains its shard models on the whole training set)" if extra else ""
    return f"{method}: about {format_duration(seconds)}{first}"


# ----------------------------------------------------------------------------- audits
def parallel_stage(name: str, calls: Sequence[Stage], workers: int) -> Stage:
    """Independent ``calls`` over ``workers`` processes: their sum over the workers (at
    :data:`PARALLEL_EFFICIENCY`), never less than the longest call."""
    if not calls:
        return Stage(name, 0.0, 0.0, 0.0)
    w = max(1, int(workers))
    eff = 1.0 if w == 1 else PARALLEL_EFFICIENCY

    def span(attr: str) -> float:
        vals = [getattr(c, attr) for c in calls]
        return max(sum(vals) / (w * eff), max(vals))

    return Stage(name, span("seconds"), span("low"), span("high"))


def audit_estimate(
    n_train: int,
    n_forget: int,
    arch: str,
    recipe,
    methods: Sequence[str],
    input_shape: Sequence[int],
    num_classes: int,
    *,
    models: int,
    workers: int = 1,
    relearn: bool = False,
    n_test: int = 0,
    device=None,
    batched: bool | None = None,
) -> Estimate:
    """An audit (``audit.pipeline.run_audit``): with several workers the pool's start (each
    process imports torch and the library); round one, ``models`` originals (whole training
    set) and as many retrained models, trained in batched groups where the model allows it
    (``batched``; by default the :data:`BATCHED_ARCHS`; :data:`BATCHED_COST` per model) or
    one by one; round two, every method on every
    original; each call scoring its models; then, when asked, a relearning round over every
    model. Calls run one torch thread each (``audit.executors.CALL_THREADS``), in parallel
    over ``workers``; scaled by how earlier audits here ran against their estimates."""
    from ..audit.executors import CALL_THREADS

    k, w = int(models), max(1, int(workers))
    kw = {"device": device, "threads": CALL_THREADS}
    (orig,), tp = training_stages(n_train, arch, recipe, input_shape, num_classes, **kw)
    n_retain = max(n_train - n_forget, 1)
    (retrain,), _ = training_stages(n_retain, arch, recipe, input_shape, num_classes, **kw)
    score = scoring_stage(1, n_train + n_test, tp)

    def plus(a: Stage, name: str, times: int = 1, cost: tuple = (1.0, 1.0, 1.0)) -> Stage:
        return Stage(
            name, times * (a.seconds * cost[0] + score.seconds),
            times * (a.low * cost[1] + score.low), times * (a.high * cost[2] + score.high),
        )  # fmt: skip

    batched = arch in BATCHED_ARCHS if batched is None else batched
    stages = []
    if w > 1:
        stages.append(rate_stage("starting the workers", "pool_start", 1, POOL_START_S))
    if batched:  # the pipeline's groups: one call per group and role
        n_groups = min(max(-(-w // 2), -(-k // AUDIT_MAX_GROUP), 1), max(k, 1))
        sizes = [k // n_groups + (i < k % n_groups) for i in range(n_groups)]
        cost = (BATCHED_COST, BATCHED_BAND[0] * BATCHED_COST, BATCHED_BAND[1] * BATCHED_COST)
        calls = [plus(orig, "originals", g, cost) for g in sizes]
        calls += [plus(retrain, "retrains", g, cost) for g in sizes]
        what = f"{2 * k} trainings (batched)"
    else:
        calls = [plus(orig, "original")] * k + [plus(retrain, "retrain")] * k
        what = f"{2 * k} trainings"
    stages.append(parallel_stage(what, calls, w))
    calls = [
        plus(retrain.scaled(method_ratio(m, arch), RATIO_BAND, m), m)
        for m in methods
        if m != "retrain"
        for _ in range(k)
    ]
    stages.append(parallel_stage(f"{len(calls)} unlearning runs", calls, w))
    if relearn:
        n = k * (len(methods) + 2)
        one = Stage.of("relearn", RELEARN_S_PER_MODEL, (0.5, 2.0))
        stages.append(parallel_stage(f"relearning {n} models", [one] * n, w))
    basis = (
        f"{k} seeds x (original ~{format_duration(orig.seconds)} + retrain and "
        f"{len(methods)} method(s)) over {w} worker(s), one torch thread each"
        + (", originals and retrains batched" if batched else "")
        + (", relearning" if relearn else "")
    )
    return calibrated(Estimate.of(stages, basis, kind=f"audit:{arch}"))


# ----------------------------------------------------------------------------- analyses
def umap_estimate(
    n_samples: int,
    n_models: int,
    *,
    n_epochs: int = 200,
    base_models: int | None = None,
    warm_up_left_s: float = 0.0,
    redraw_s: float = REDRAW_S,
) -> Estimate:
    """Aligned UMAP frames of ``n_models`` models not laid out before: each one's neighbour
    graph, the ``base_models`` reference models' joint layout (default: two of them when
    three or more models are new, the comparison's first frame; none for one more method),
    every other new model laid out against them; plus what is left of the worker's warm-up
    and the page's redraw. Rates: this machine's recorded stage times (the worker's warm-up
    probe and earlier frames), else the development machine's."""
    n = int(n_samples)
    new = int(n_models)
    if base_models is None:  # the first frame: retrain and original; else one more model
        base_models = 2 if new >= 3 else (1 if new == 2 else 0)
    base = min(int(base_models), new)
    added = max(new - base, 0)
    stages = []
    if warm_up_left_s > 0:
        stages.append(Stage.of("the UMAP worker's warm-up", warm_up_left_s, (0.5, 2.0)))
    stages.append(rate_stage(f"{new} neighbour graph(s)", "umap_graph", new * n * n, UMAP_GRAPH_S))
    if base:
        units = n * base * n_epochs
        stages.append(rate_stage("joint layout of the references", "umap_base_epoch", units,
                                 UMAP_BASE_EPOCH_S))  # fmt: skip
    if added:
        stages.append(rate_stage(f"{added} more layout(s)", "umap_add_epoch", added * n * n_epochs,
                                 UMAP_ADD_EPOCH_S))  # fmt: skip
    if redraw_s > 0:
        stages.append(Stage.of("drawing", redraw_s, (0.5, 2.0)))
    return Estimate.of(stages, f"{new} layout(s) x {n} samples x {n_epochs} epochs", kind="umap")


def warm_up_left(started_at: float | None, done: bool) -> float:
    """Seconds of the UMAP worker's warm-up still to come (its recorded durations, else
    :data:`UMAP_WARM_UP_S`), for a worker started at ``started_at`` (``time.monotonic``)."""
    if done or started_at is None:
        return 0.0
    total = summarise(recorded("umap_warm_up"), UMAP_WARM_UP_S)[0] / cpu_share()
    return max(total - (time.monotonic() - started_at), 0.5)


def attribution_estimate(
    n_samples: int, n_models: int, methods: Sequence[str], *, arch: str = ""
) -> Estimate:
    """Attribution maps: gradient passes (:data:`~unlearn_core.analysis.attributions.PASSES`
    per sample) x samples x models, at the seconds per pass this process observed for
    ``arch`` (``observe("attribution_pass:" + arch, ...)``) or the measured default."""
    from ..analysis.attributions import PASSES

    passes = n_samples * n_models * sum(PASSES.get(m, 1) for m in methods)
    stage = rate_stage("gradient passes", f"attribution_pass:{arch}", passes, ATTRIBUTION_PASS_S)
    return Estimate.of([stage], f"{passes} gradient passes", kind="attributions")
