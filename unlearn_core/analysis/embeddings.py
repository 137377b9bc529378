"""Embedding frames that make several models' penultimate features comparable.

Each model's features live in their own basis (a retrained model shares nothing with the
original), so a projection fitted on one model cannot be applied to another. Two frames are
offered, both giving one 2-D point per sample and per model, in a common coordinate system:

* ``pca_frame``: instant. PCA is fitted per model and every frame is aligned to the first
  by orthogonal Procrustes (rotation/reflection, optionally an isotropic scale).
* ``aligned_umap``: ``umap.AlignedUMAP`` with identity relations (sample ``i`` of one model is
  sample ``i`` of the next), so the layouts are fitted jointly and stay comparable.

``umap`` is imported lazily: the app must start fast. ``warm_up_umap`` compiles its numba code
once (call it from a background thread at server start-up).
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .aligned_layout import FrameCache
from .umap_setup import EXACT_LIMIT, euclidean_matrix, import_umap


def model_features(
    models: Sequence[nn.Module] | Mapping[str, nn.Module], x: torch.Tensor
) -> list[np.ndarray]:
    """Penultimate features (``model.features``) of ``x`` for each model, as float32 arrays.

    A mapping is read in its insertion order (its values).
    """
    from ..training import predict_features

    seq = list(models.values()) if isinstance(models, Mapping) else list(models)
    return [predict_features(m, x).numpy().astype(np.float32, copy=False) for m in seq]


def _check_features(features: Sequence[np.ndarray]) -> list[np.ndarray]:
    arrs = [np.asarray(f, dtype=np.float64) for f in features]
    if not arrs:
        raise ValueError("need the features of at least one model")
    n = len(arrs[0])
    for i, a in enumerate(arrs):
        if a.ndim != 2:
            raise ValueError(f"features[{i}] must be 2-D (samples x features), got {a.shape}")
        if len(a) != n:
            raise ValueError(
                f"every model must embed the same samples: features[0] has {n} rows, "
                f"features[{i}] has {len(a)}"
            )
    return arrs


def _pca_scores(a: np.ndarray, dim: int) -> np.ndarray:
    """Top-``dim`` principal-component scores of ``a``, signs fixed as in sklearn's svd_flip."""
    centred = a - a.mean(0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    k = min(dim, u.shape[1])
    u = u[:, :k]
    signs = np.sign(u[np.abs(u).argmax(0), np.arange(k)])
    signs[signs == 0] = 1.0
    scores = u * s[:k] * signs
    if k < dim:  # fewer features (or samples) than dims asked for: pad with zeros
        scores = np.hstack([scores, np.zeros((len(a), dim - k))])
    return scores


def procrustes_align(frame: np.ndarray, ref: np.ndarray, scale: bool = True) -> np.ndarray:
    """Rotate/reflect (and, if ``scale``, isotropically scale) centred ``frame`` onto ``ref``.

    Least squares: ``R = argmin ||frame R - ref||`` over orthogonal ``R`` (Schönemann 1966),
    ``s = trace(S) / ||frame||^2`` with ``S`` the singular values of ``frame^T ref``.
    """
    from scipy.linalg import orthogonal_procrustes

    f = frame - frame.mean(0)
    r = ref - ref.mean(0)
    rot, sv_sum = orthogonal_procrustes(f, r)
    out = f @ rot
    if scale:
        norm = float((f**2).sum())
        if norm > 0:
            out = out * (sv_sum / norm)
    return out + ref.mean(0)


def pca_frame(features: Sequence[np.ndarray], dim: int = 2, scale: bool = True) -> list[np.ndarray]:
    """A fast common frame: PCA per model, each aligned to the first by Procrustes.

    One PCA on the stacked features would be meaningless (each model has its own basis), so
    each model gets its own PCA (top ``dim`` components) and frames ``1..`` are rotated or
    reflected (and, with ``scale``, isotropically rescaled) onto frame 0 by orthogonal
    Procrustes over the shared samples. Two models whose features differ by a rotation and a
    scale give coinciding frames. Shown at once while ``aligned_umap`` runs.
    """
    arrs = _check_features(features)
    frames = [_pca_scores(a, dim) for a in arrs]
    ref = frames[0]
    return [ref.astype(np.float32)] + [
        procrustes_align(f, ref, scale).astype(np.float32) for f in frames[1:]
    ]


def aligned_umap(
    features: Sequence[np.ndarray],
    *,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    seed: int = 0,
    n_epochs: int | None = None,
) -> list[np.ndarray]:
    """2-D coordinates per model in one comparable frame, by ``umap.AlignedUMAP``.

    Consecutive models are related by the identity (sample ``i`` is sample ``i``), so this
    works for any models, a retrained one included. Deterministic for a ``seed``. For fewer
    than 4096 samples the exact Euclidean distance matrices are handed to umap as
    ``metric="precomputed"`` (the same k-NN graph umap would build, without its per-pair
    Python loop). Samples umap disconnects from the graph come back as NaN rows.
    """
    arrs = _check_features(features)
    n = len(arrs[0])
    if n < 3:
        raise ValueError(f"UMAP needs at least 3 samples, got {n}")
    umap = import_umap()
    k = max(2, min(n_neighbors, n - 1))
    exact = n < EXACT_LIMIT
    data = [euclidean_matrix(a) if exact else a.astype(np.float32) for a in arrs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random_state / precomputed-metric notices
        if len(data) == 1:
            mapper = umap.UMAP(
                n_neighbors=k,
                min_dist=min_dist,
                random_state=seed,
                n_epochs=n_epochs,
                metric="precomputed" if exact else "euclidean",
            )
            return [np.asarray(mapper.fit_transform(data[0]), dtype=np.float32)]
        relations = [{i: i for i in range(n)} for _ in range(len(data) - 1)]
        mapper = umap.AlignedUMAP(
            n_neighbors=k,
            min_dist=min_dist,
            random_state=seed,
            n_epochs=n_epochs,
            metric="precomputed" if exact else "euclidean",
        )
        mapper.fit(data, relations=relations)
    return [np.array(e, dtype=np.float32) for e in mapper.embeddings_]


def displacement(frames: Sequence[np.ndarray], ref: int = 0) -> list[np.ndarray]:
    """Per-sample Euclidean distance each frame's points moved from frame ``ref``."""
    base = np.asarray(frames[ref], dtype=np.float64)
    out = []
    for f in frames:
        f = np.asarray(f, dtype=np.float64)
        if f.shape != base.shape:
            raise ValueError(f"frame shapes differ: {f.shape} vs reference {base.shape}")
        out.append(np.linalg.norm(f - base, axis=1))
    return out


def shift_summary(disp: np.ndarray, forget_mask: np.ndarray) -> dict[str, float]:
    """Mean and median displacement of forget vs retain samples (NaN rows ignored).

    ``forget_mask`` is a boolean mask over the samples (or an index array of forget samples).
    """
    disp = np.asarray(disp, dtype=np.float64)
    mask = np.asarray(forget_mask)
    if mask.dtype != bool:
        m = np.zeros(len(disp), dtype=bool)
        m[mask.astype(np.int64)] = True
        mask = m
    if mask.shape != disp.shape:
        raise ValueError(f"forget_mask has shape {mask.shape}, displacement {disp.shape}")

    def stats(v: np.ndarray) -> tuple[float, float]:
        v = v[np.isfinite(v)]
        return (float(v.mean()), float(np.median(v))) if len(v) else (float("nan"),) * 2

    fm, fmed = stats(disp[mask])
    rm, rmed = stats(disp[~mask])
    return {
        "forget_mean": fm,
        "forget_median": fmed,
        "retain_mean": rm,
        "retain_median": rmed,
        "n_forget": int(mask.sum()),
        "n_retain": int((~mask).sum()),
    }


#: the warm-up's timing probe: samples and epochs of a small aligned layout of three models
PROBE_SAMPLES = 400
PROBE_EPOCHS = 40


def _probe_features(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Three 'models' of the same clustered samples (the probe's stand-in features)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(10, 32))
    base = centres[np.arange(n) % 10] + rng.normal(size=(n, 32))
    rot = np.linalg.qr(rng.normal(size=(32, 32)))[0]
    named = {"original": base, "method": base + 0.3 * rng.normal(size=base.shape)}
    named["retrain"] = base @ rot + 0.5 * rng.normal(size=base.shape)
    return {k: v.astype(np.float32) for k, v in named.items()}


def warm_up_umap(probe: bool = True) -> dict:
    """Import umap and fit a tiny AlignedUMAP once, so numba compiles its code now; then,
    with ``probe``, time a small aligned layout (:data:`PROBE_SAMPLES` samples, three models)
    so estimates know this machine's UMAP rates.

    Meant for a background worker at server start-up; returns the seconds each step took and,
    under ``"timings"``, the probe's ``(rate kind, units, seconds)``.
    """
    t0 = time.perf_counter()
    import_umap()
    t1 = time.perf_counter()
    rng = np.random.default_rng(0)
    base = rng.normal(size=(40, 8))
    feats = [base, base @ np.linalg.qr(rng.normal(size=(8, 8)))[0], base * 2.0]
    aligned_umap([f.astype(np.float32) for f in feats], n_neighbors=5, n_epochs=5)

    named = dict(zip(("original", "method", "retrain"), feats, strict=True))
    FrameCache().frames("warm-up", named, BASE, n_neighbors=5, n_epochs=5)
    t2 = time.perf_counter()
    out: dict = {"import_s": t1 - t0, "fit_s": t2 - t1, "timings": []}
    if probe:
        cache = FrameCache()
        cache.frames("probe", _probe_features(PROBE_SAMPLES), BASE, n_epochs=PROBE_EPOCHS)
        out["timings"] = list(cache.timings)
        out["probe_s"] = time.perf_counter() - t2
    return out


#: the models every frame is laid out against, fitted once per comparison (retrain first, so
#: a method's layout follows the original it was derived from most closely)
BASE = ("retrain", "original")

_worker_cache = None
_worker_queue = None


def _worker_init(queue) -> None:
    global _worker_queue
    _worker_queue = queue


def _worker_frames(task: int, key, features: dict, base, kwargs: dict) -> tuple[dict, list]:
    """In the worker: :meth:`FrameCache.frames` with the worker's cache, and the stages'
    timings; progress goes to the queue the pool was started with."""
    global _worker_cache

    if _worker_cache is None:
        _worker_cache = FrameCache()

    def report(fraction: float, message: str) -> None:
        if _worker_queue is not None:
            _worker_queue.put((task, fraction, message))

    frames = _worker_cache.frames(key, features, base, report=report, **kwargs)
    return frames, list(_worker_cache.timings)


def _observe_all(timings) -> None:
    from ..runtime.estimates import observe

    for kind, units, seconds in timings:
        observe(kind, units, seconds)


class UmapProcess:
    """Aligned UMAP fitted in one separate (spawned) worker process, warmed up at creation.

    numba compiles UMAP's code for ~10 s on first use, mostly holding the interpreter lock:
    in a server's own process that stalls every other thread (a training loop there ran about
    100x slower). A worker process keeps the compilation and the fits off the caller's lock;
    the caller only waits on a future. If the worker dies it is replaced once.
    """

    #: how many were created in this process (:meth:`started`)
    created = 0

    def __init__(self, *, warm: bool = True) -> None:
        self._warm = warm
        self._lock = threading.Lock()
        self._start()
        UmapProcess.created += 1

    @classmethod
    def started(cls) -> bool:
        """Whether this process has started a UMAP worker (work to hand one ahead of time,
        :meth:`prefetch`, is not worth starting one)."""
        return cls.created > 0

    def _start(self) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        ctx = multiprocessing.get_context("spawn")  # fork is unsafe in a threaded process
        self._queue = ctx.Queue()
        self._pool = ProcessPoolExecutor(
            max_workers=1, mp_context=ctx, initializer=_worker_init, initargs=(self._queue,)
        )
        self._task = 0
        self.started_at = time.monotonic()
        self.warm_up = self._pool.submit(warm_up_umap) if self._warm else None
        if self.warm_up is not None:
            self.warm_up.add_done_callback(self._warmed_up)

    def _warmed_up(self, fut) -> None:
        """Keep the warm-up's duration (the worker's start included) and its probe's rates."""
        from ..runtime.estimates import cpu_share, record

        if fut.cancelled() or fut.exception() is not None:
            return
        record("umap_warm_up", (time.monotonic() - self.started_at) * cpu_share())
        _observe_all(fut.result().get("timings", ()))

    def estimate(self, n_samples: int, n_models: int, **kwargs):
        """:func:`~unlearn_core.runtime.estimates.umap_estimate` of frames asked of this
        worker now, what is left of its warm-up included."""
        from ..runtime.estimates import umap_estimate, warm_up_left

        done = self.warm_up is None or self.warm_up.done()
        left = warm_up_left(self.started_at, done)
        return umap_estimate(n_samples, n_models, warm_up_left_s=left, **kwargs)

    def fit(self, features: Sequence[np.ndarray], **kwargs) -> list[np.ndarray]:
        """``aligned_umap(features, **kwargs)``, computed in the worker process."""
        from concurrent.futures.process import BrokenProcessPool

        arrays = [np.asarray(f, dtype=np.float32) for f in features]
        pool = self._pool
        try:
            return pool.submit(aligned_umap, arrays, **kwargs).result()
        except BrokenProcessPool:  # the worker died (killed, out of memory): one retry
            with self._lock:
                if self._pool is pool:  # not already replaced by another caller
                    self._start()
            return self._pool.submit(aligned_umap, arrays, **kwargs).result()

    def prefetch(
        self, key, features: Mapping[str, np.ndarray], base: Sequence[str] = BASE, **kwargs
    ):
        """Lay out the ``base`` models of ``key`` in the worker now (their neighbour graphs and
        joint layout, the part every method's frame shares), without waiting: a later
        :meth:`frames` call with the same key and options then lays out only its new models.
        ``features``: the base models' (more are laid out too). Returns the future."""
        arrays = {n: np.asarray(f, dtype=np.float32) for n, f in features.items()}
        with self._lock:
            self._task += 1
            task, pool = self._task, self._pool
        fut = pool.submit(_worker_frames, task, key, arrays, tuple(base), kwargs)

        def done(f) -> None:
            if not f.cancelled() and f.exception() is None:
                _observe_all(f.result()[1])

        fut.add_done_callback(done)
        return fut

    def frames(
        self,
        key,
        features: Mapping[str, np.ndarray],
        base: Sequence[str] = BASE,
        *,
        progress=None,
        **kwargs,
    ) -> dict[str, np.ndarray]:
        """Aligned UMAP frames of ``features`` (name -> array) in the worker, reusing the
        graphs and the ``base`` layout an earlier call with the same ``key`` computed there
        (:class:`~unlearn_core.analysis.aligned_layout.FrameCache`). ``progress(fraction,
        message)`` gets the worker's epoch reports in this process."""
        import queue as queue_mod
        from concurrent.futures.process import BrokenProcessPool

        arrays = {n: np.asarray(f, dtype=np.float32) for n, f in features.items()}
        for attempt in (0, 1):
            with self._lock:
                self._task += 1
                task, pool = self._task, self._pool
            fut = pool.submit(_worker_frames, task, key, arrays, tuple(base), kwargs)
            while True:
                try:
                    got_task, fraction, message = self._queue.get(timeout=0.2)
                except queue_mod.Empty:
                    if fut.done():
                        break
                    continue
                if got_task == task and progress is not None:
                    progress(fraction, message)
            try:
                frames, timings = fut.result()
            except BrokenProcessPool:
                if attempt:
                    raise
                with self._lock:
                    if self._pool is pool:
                        self._start()
                continue
            _observe_all(timings)
            return frames
        raise AssertionError("unreachable")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
