"""Aligned UMAP over models that embed the same samples, built in reusable parts.

``umap.AlignedUMAP`` fits every model's full UMAP embedding (then discards it), and refits
everything when one model changes. For the app's frames (the original, a method, retrain;
sample ``i`` of one model is sample ``i`` of the next) this module computes the same pieces
with umap's own functions, each once:

* :func:`model_graph`: a model's fuzzy k-NN graph (``UMAP(transform_mode="graph")``) and its
  scaled spectral start;
* :func:`fit_base`: the joint aligned layout of the reference models (original and retrain),
  ``AlignedUMAP.fit``'s optimisation (``move_other=True``);
* :func:`add_model`: one more model laid out against the fixed reference layouts, as
  ``AlignedUMAP.update`` does (the references' edges never fire; the new model starts from
  the last reference's layout), so a second method reuses the graphs and the base layout.

The epoch kernel is umap's ``_optimize_layout_aligned_euclidean_single_epoch`` (BSD-3) with
the embeddings stacked in one array instead of numba typed lists (the lists' per-access
reference counting made it ~5x slower than umap's plain layout kernel) and the
regularisation factors ``lambda * exp(-(|offset| - 1))`` computed once. Epochs run from a
Python loop that reports progress. ``umap`` and ``numba`` are imported on first use.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..runtime.estimates import UMAP_ADD_EPOCH_S, UMAP_BASE_EPOCH_S, UMAP_GRAPH_S
from .umap_setup import EXACT_LIMIT, euclidean_matrix, import_umap

#: umap's AlignedUMAP defaults
N_EPOCHS = 200
WINDOW = 3
LAMBDA = 5e-3
NEGATIVE_RATE = 5.0

Report = Callable[[float, str], None]


@dataclass
class ModelGraph:
    """One model's fuzzy simplicial set (CSR) and its spectral start scaled to +-10."""

    graph: object  # scipy.sparse.csr_matrix
    init: np.ndarray  # float32, n x 2


@dataclass
class AlignedLayout:
    """Layouts (n x 2, float32) of models fitted together; ``names`` in fitting order."""

    names: list[str]
    embeddings: list[np.ndarray]
    graphs: list[ModelGraph]


def _no_report(fraction: float, message: str) -> None:
    pass


def _epoch_kernel():
    """The stacked-array epoch kernel (compiled on first use, cached on disk)."""
    _umap()  # umap's own kernels first cache their code (they are called from ours)
    from ._aligned_kernel import epoch

    return epoch


def _similarities_kernel():
    """umap's neighbourhood similarities without its parallel ``in1d`` (cached on disk)."""
    _umap()
    from ._aligned_kernel import neighborhood_similarities

    return neighborhood_similarities


def _umap():
    return import_umap()


def model_graph(
    features: np.ndarray, *, n_neighbors: int = 15, min_dist: float = 0.1, seed: int = 0
) -> ModelGraph:
    """The fuzzy k-NN graph AlignedUMAP builds for one model (exact distances below 4096
    samples, as :func:`~unlearn_core.analysis.embeddings.aligned_umap` does) and its
    spectral start, scaled so its largest coordinate is 10."""
    import warnings

    from umap.spectral import spectral_layout

    umap = _umap()
    a = np.asarray(features, dtype=np.float64)
    n = len(a)
    if a.ndim != 2 or n < 3:
        raise ValueError(f"UMAP needs a 2-D array of at least 3 samples, got shape {a.shape}")
    exact = n < EXACT_LIMIT
    data = euclidean_matrix(a) if exact else a.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mapper = umap.UMAP(
            n_neighbors=max(2, min(n_neighbors, n - 1)),
            min_dist=min_dist,
            random_state=seed,
            metric="precomputed" if exact else "euclidean",
            transform_mode="graph",
        ).fit(data)
    init = spectral_layout(mapper._raw_data, mapper.graph_, 2, np.random.RandomState(seed))
    init = (init * (10.0 / np.abs(init).max())).astype(np.float32, order="C")
    return ModelGraph(graph=mapper.graph_.tocsr(), init=init)


def _ab(min_dist: float) -> tuple[float, float]:
    from umap.umap_ import find_ab_params

    a, b = find_ab_params(1.0, min_dist)
    return float(a), float(b)


def _optimise(
    emb: np.ndarray,
    graphs: Sequence[ModelGraph],
    moving: Sequence[bool],
    *,
    n_epochs: int,
    min_dist: float,
    seed: int,
    move_other: bool,
    report: Report,
) -> np.ndarray:
    """Run the aligned layout epochs on stacked ``emb`` (models x n x 2, changed in place);
    edges of models not ``moving`` never fire (as in ``AlignedUMAP.update``)."""
    import numba
    from umap.aligned_umap import expand_relations
    from umap.umap_ import make_epochs_per_sample

    m_count, n, _ = emb.shape
    ident = {i: i for i in range(n)}
    relations = expand_relations([ident] * (m_count - 1), WINDOW)
    indptr = numba.typed.List.empty_list(numba.types.int32[::1])
    indices = numba.typed.List.empty_list(numba.types.int32[::1])
    coos = []
    for g in graphs:
        indptr.append(g.graph.indptr.astype(np.int32))
        indices.append(g.graph.indices.astype(np.int32))
        coos.append(g.graph.tocoo())
    reg = _similarities_kernel()(indptr, indices, relations)
    max_e = max(c.nnz for c in coos)
    heads = np.zeros((m_count, max_e), np.int32)
    tails = np.zeros((m_count, max_e), np.int32)
    eps = np.zeros((m_count, max_e), np.float64)
    n_edges = np.array([c.nnz for c in coos], np.int64)
    for m, (c, mv) in enumerate(zip(coos, moving, strict=True)):
        heads[m, : c.nnz], tails[m, : c.nnz] = c.row, c.col
        eps[m, : c.nnz] = make_epochs_per_sample(c.data, n_epochs) if mv else n_epochs + 1
    eps_neg = (eps / NEGATIVE_RATE).astype(np.float32)
    next_neg = eps_neg.copy()
    next_sample = eps.astype(np.float32)
    offsets = np.arange(-WINDOW, WINDOW + 1)
    coef = (LAMBDA * np.exp(-(np.abs(offsets) - 1.0))).astype(np.float64)
    rng = np.random.RandomState(seed)
    rng_state = rng.randint(np.iinfo(np.int32).min, np.iinfo(np.int32).max, 3).astype(np.int64)
    a, b = _ab(min_dist)
    kernel = _epoch_kernel()
    step = max(1, n_epochs // 50)
    for epoch in range(n_epochs):
        alpha = 1.0 if epoch == 0 else 1.0 - (epoch - 1) / n_epochs  # umap's driver's schedule
        kernel(
            emb, heads, tails, n_edges, eps, a, b, reg, relations, coef, rng_state, 1.0,
            move_other, alpha, eps_neg, next_neg, next_sample, epoch,
        )  # fmt: skip
        if (epoch + 1) % step == 0 or epoch + 1 == n_epochs:
            report((epoch + 1) / n_epochs, f"epoch {epoch + 1} of {n_epochs}")
    return emb


def _nan_disconnected(emb: np.ndarray, g: ModelGraph) -> np.ndarray:
    out = emb.copy()
    out[np.asarray(g.graph.sum(axis=1)).ravel() == 0] = np.nan
    return out


def fit_base(
    names: Sequence[str],
    graphs: Sequence[ModelGraph],
    *,
    n_epochs: int = N_EPOCHS,
    min_dist: float = 0.1,
    seed: int = 0,
    report: Report = _no_report,
) -> AlignedLayout:
    """The joint aligned layout of the reference models (AlignedUMAP.fit's optimisation:
    spectral starts, each Procrustes-aligned onto the previous one, ``move_other``)."""
    from umap.aligned_umap import procrustes_align

    if len(names) != len(graphs) or not graphs:
        raise ValueError("need one graph per reference model, and at least one")
    n = len(graphs[0].init)
    anchors = np.vstack([np.arange(n), np.arange(n)])
    starts = [graphs[0].init]
    for g in graphs[1:]:
        starts.append(procrustes_align(starts[-1], g.init, anchors).astype(np.float32))
    emb = np.ascontiguousarray(np.stack(starts), dtype=np.float32)
    _optimise(
        emb, graphs, [True] * len(graphs), n_epochs=n_epochs, min_dist=min_dist, seed=seed,
        move_other=True, report=report,
    )  # fmt: skip
    return AlignedLayout(list(names), [e.copy() for e in emb], list(graphs))


def add_model(
    base: AlignedLayout,
    graph: ModelGraph,
    *,
    n_epochs: int = N_EPOCHS,
    min_dist: float = 0.1,
    seed: int = 0,
    report: Report = _no_report,
) -> np.ndarray:
    """One more model's layout against the fixed ``base`` layouts (AlignedUMAP.update: the
    new model follows the last reference by identity and starts from its layout); NaN rows
    for samples its graph disconnects."""
    emb = np.ascontiguousarray(np.stack([*base.embeddings, base.embeddings[-1]]), np.float32)
    graphs = [*base.graphs, graph]
    moving = [False] * len(base.graphs) + [True]
    _optimise(
        emb, graphs, moving, n_epochs=n_epochs, min_dist=min_dist, seed=seed,
        move_other=False, report=report,
    )  # fmt: skip
    return _nan_disconnected(emb[-1], graph)


class FrameCache:
    """Graphs and reference layouts kept between calls, per ``key`` (the last ``keep`` keys).

    ``frames(key, features, base)`` reuses what an earlier call with the same key computed:
    a model's graph, and the reference models' joint layout; only models new to the key are
    laid out (each against the references alone, so no frame depends on the others).
    """

    def __init__(self, keep: int = 8) -> None:
        self.keep = keep
        self._graphs: dict[tuple, ModelGraph] = {}
        self._bases: dict[tuple, AlignedLayout] = {}
        self._added: dict[tuple, np.ndarray] = {}
        self._keys: list = []
        #: ``(rate kind, units, seconds)`` of each stage the last :meth:`frames` call ran, for
        #: :func:`unlearn_core.runtime.estimates.observe` (graphs per n^2, the joint layout
        #: per sample x model x epoch, one more model per sample x epoch)
        self.timings: list[tuple[str, float, float]] = []

    def _touch(self, key) -> None:
        if key in self._keys:
            self._keys.remove(key)
        self._keys.append(key)
        for old in self._keys[: -self.keep]:
            for store in (self._graphs, self._bases, self._added):
                for k in [k for k in store if k[0] == old]:
                    del store[k]
        self._keys = self._keys[-self.keep :]

    def frames(
        self,
        key,
        features: dict[str, np.ndarray],
        base: Sequence[str],
        *,
        seed: int = 0,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        n_epochs: int = N_EPOCHS,
        report: Report = _no_report,
    ) -> dict[str, np.ndarray]:
        """One 2-D layout per name of ``features``: the ``base`` models fitted jointly, every
        other model added against them."""
        missing = [b for b in base if b not in features]
        if missing or not base:
            raise ValueError(f"the reference models {missing or base} have no features")
        self._touch(key)
        opts = (seed, n_neighbors, min_dist, n_epochs)
        extra = [n for n in features if n not in base]
        need_graph = [
            n
            for n in features
            if (key, n, opts) not in self._graphs and (key, n, opts) not in self._added
        ]
        need_base = (key, tuple(base), opts) not in self._bases
        new = [n for n in extra if (key, n, opts) not in self._added]
        n_samples = len(next(iter(features.values())))
        # progress in proportion to each stage's expected seconds (the measured default rates)
        graph_w = n_samples * n_samples * UMAP_GRAPH_S
        base_w = n_samples * len(base) * n_epochs * UMAP_BASE_EPOCH_S
        add_w = n_samples * n_epochs * UMAP_ADD_EPOCH_S
        total = graph_w * len(need_graph) + (base_w if need_base else 0) + add_w * len(new)
        total = total or 1.0
        done = 0.0
        self.timings = []

        def part(weight: float, what: str) -> Report:
            def sub(fraction: float, message: str) -> None:
                report((done + weight * fraction) / total, f"{what}: {message}")

            return sub

        for n in need_graph:
            part(graph_w, f"neighbour graph of {n}")(0.0, "building")
            t0 = time.perf_counter()
            self._graphs[(key, n, opts)] = model_graph(
                features[n], n_neighbors=n_neighbors, min_dist=min_dist, seed=seed
            )
            self.timings.append(("umap_graph", n_samples**2, time.perf_counter() - t0))
            done += graph_w
        if need_base:
            t0 = time.perf_counter()
            self._bases[(key, tuple(base), opts)] = fit_base(
                base,
                [self._graphs[(key, b, opts)] for b in base],
                n_epochs=n_epochs,
                min_dist=min_dist,
                seed=seed,
                report=part(base_w, "layout of " + " and ".join(base)),
            )
            units = n_samples * len(base) * n_epochs
            self.timings.append(("umap_base_epoch", units, time.perf_counter() - t0))
            done += base_w
        layout = self._bases[(key, tuple(base), opts)]
        for n in new:
            t0 = time.perf_counter()
            self._added[(key, n, opts)] = add_model(
                layout,
                self._graphs.pop((key, n, opts)),
                n_epochs=n_epochs,
                min_dist=min_dist,
                seed=seed,
                report=part(add_w, f"layout of {n}"),
            )
            units = n_samples * n_epochs
            self.timings.append(("umap_add_epoch", units, time.perf_counter() - t0))
            done += add_w
        report(1.0, "done")
        out = {
            b: _nan_disconnected(e, g)
            for b, e, g in zip(base, layout.embeddings, layout.graphs, strict=True)
        }
        return {n: out[n] if n in out else self._added[(key, n, opts)] for n in features}
