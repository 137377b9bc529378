"""Aligned UMAP in parts (``analysis.aligned_layout``): the stacked epoch kernel against
umap's own, reuse of graphs and reference layouts, progress."""

from __future__ import annotations

import time

import numpy as np
import pytest

from unlearn_core.analysis import aligned_layout as AL


def _features(n: int = 80, seed: int = 0) -> dict[str, np.ndarray]:
    """Three 'models' of the same samples: two near copies of one set of clusters, one other
    basis of the same clusters."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(4, 8))
    base = centres[np.arange(n) % 4] + rng.normal(size=(n, 8))
    rot = np.linalg.qr(rng.normal(size=(8, 8)))[0]
    return {
        "original": base.astype(np.float32),
        "m1": (base + 0.05 * rng.normal(size=base.shape)).astype(np.float32),
        "retrain": (base @ rot + 0.3 * rng.normal(size=base.shape)).astype(np.float32),
    }


@pytest.fixture(scope="module")
def graphs():
    feats = _features()
    return feats, {n: AL.model_graph(f, n_neighbors=8) for n, f in feats.items()}


def test_stacked_kernel_matches_umaps_kernel(graphs):
    """Five epochs of our kernel and of umap's own single-epoch kernel (typed lists) on the
    same start, graphs, relations and random state give the same layouts."""
    import numba
    from umap import layouts
    from umap.aligned_umap import build_neighborhood_similarities, expand_relations
    from umap.umap_ import make_epochs_per_sample

    _, gs = graphs
    g = [gs["original"], gs["m1"], gs["retrain"]]
    n = len(g[0].init)
    start = np.stack([x.init for x in g]).astype(np.float32)
    relations = expand_relations([{i: i for i in range(n)}] * 2, AL.WINDOW)
    f32, i32 = numba.types.float32, numba.types.int32
    indptr = numba.typed.List([x.graph.indptr.astype(np.int32) for x in g])
    indices = numba.typed.List([x.graph.indices.astype(np.int32) for x in g])
    reg = build_neighborhood_similarities(indptr, indices, relations)
    coos = [x.graph.tocoo() for x in g]
    eps = [make_epochs_per_sample(c.data, 20) for c in coos]
    ours = AL._epoch_kernel()
    umaps = numba.njit(layouts._optimize_layout_aligned_euclidean_single_epoch, fastmath=True)
    a, b = AL._ab(0.1)

    # umap's inputs: typed lists
    emb_u = numba.typed.List.empty_list(f32[:, ::1])
    for e in start.copy():
        emb_u.append(np.ascontiguousarray(e))
    heads_u = numba.typed.List.empty_list(i32[::1])
    tails_u = numba.typed.List.empty_list(i32[::1])
    eps_u = numba.typed.List.empty_list(numba.types.float64[::1])
    neg_u = numba.typed.List.empty_list(f32[::1])
    next_neg_u = numba.typed.List.empty_list(f32[::1])
    next_u = numba.typed.List.empty_list(f32[::1])
    for c, e in zip(coos, eps, strict=True):
        heads_u.append(c.row.astype(np.int32))
        tails_u.append(c.col.astype(np.int32))
        eps_u.append(e)
        neg_u.append((e / 5.0).astype(np.float32))
        next_neg_u.append((e / 5.0).astype(np.float32))
        next_u.append(e.astype(np.float32))
    # ours: stacked arrays
    m_e = max(c.nnz for c in coos)
    heads = np.zeros((3, m_e), np.int32)
    tails = np.zeros((3, m_e), np.int32)
    eps_s = np.zeros((3, m_e))
    for m, (c, e) in enumerate(zip(coos, eps, strict=True)):
        heads[m, : c.nnz], tails[m, : c.nnz], eps_s[m, : c.nnz] = c.row, c.col, e
    neg = (eps_s / 5.0).astype(np.float32)
    next_neg, nxt = neg.copy(), eps_s.astype(np.float32)
    n_edges = np.array([c.nnz for c in coos], np.int64)
    offsets = np.arange(-AL.WINDOW, AL.WINDOW + 1)
    coef = AL.LAMBDA * np.exp(-(np.abs(offsets) - 1.0))
    emb = start.copy()
    rs_u = np.array([7, 11, 13], np.int64)
    rs = rs_u.copy()
    for ep in range(5):
        alpha = 1.0 - ep / 20
        umaps(emb_u, emb_u, heads_u, tails_u, eps_u, a, b, reg, relations, rs_u, 1.0,
              AL.LAMBDA, 2, True, alpha, neg_u, next_neg_u, next_u, ep)  # fmt: skip
        ours(emb, heads, tails, n_edges, eps_s, a, b, reg, relations, coef, rs, 1.0, True,
             alpha, neg, next_neg, nxt, ep)  # fmt: skip
    assert not np.allclose(emb, start)  # the epochs moved the points
    np.testing.assert_allclose(emb, np.stack(list(emb_u)), rtol=1e-4, atol=1e-4)


def test_neighbourhood_similarities_match_umaps(graphs):
    """Our neighbourhood similarities (no parallel ``in1d``) equal umap's own, value for value,
    for identity relations and for relations that drop and permute samples."""
    import numba
    from umap.aligned_umap import expand_relations

    from unlearn_core.analysis._aligned_kernel import neighborhood_similarities
    from unlearn_core.analysis.umap_setup import UMAP_OWN

    _, gs = graphs
    g = [gs["original"], gs["m1"], gs["retrain"]]
    n = len(g[0].init)
    umaps = UMAP_OWN["build_neighborhood_similarities"].py_func  # umap's code, run as Python
    perm = np.random.default_rng(1).permutation(n)
    cases = {
        "identity": [{i: i for i in range(n)}] * 2,
        "partial, permuted": [
            {i: i for i in range(n) if i % 5},
            {i: int(perm[i]) for i in range(n)},
        ],
    }
    indptr = [x.graph.indptr.astype(np.int32) for x in g]
    indices = [x.graph.indices.astype(np.int32) for x in g]
    for name, dicts in cases.items():
        relations = expand_relations(dicts, AL.WINDOW)
        ours = neighborhood_similarities(
            numba.typed.List(indptr), numba.typed.List(indices), relations
        )
        theirs = umaps(indptr, indices, relations)
        assert ours.dtype == theirs.dtype == np.float32
        assert (ours > 0).sum() > n, name
        np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_frame_cache_reuses_graphs_and_the_reference_layout(graphs, monkeypatch):
    feats, _ = graphs
    built = []
    real = AL.model_graph
    monkeypatch.setattr(AL, "model_graph", lambda f, **kw: built.append(1) or real(f, **kw))
    reports: list[tuple[float, str]] = []
    cache = AL.FrameCache()
    kw = {"n_neighbors": 8, "n_epochs": 60}
    first = cache.frames(
        "c", feats, ("retrain", "original"), report=lambda f, m: reports.append((f, m)), **kw
    )
    assert len(built) == 3
    other = {**feats, "m2": feats["m1"] + 0.5}
    del other["m1"]
    second = cache.frames("c", other, ("retrain", "original"), **kw)
    assert len(built) == 4  # only m2's graph is new
    for name in ("original", "retrain"):  # the reference layout is reused as it is
        np.testing.assert_array_equal(first[name], second[name])
    assert set(second) == {"original", "m2", "retrain"}
    fractions = [f for f, _ in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and len(fractions) > 20
    assert any("epoch 30 of 60" in m for _, m in reports)
    # a near copy of the original lands near the original's points; the scale is the layout's
    spread = np.nanmean(np.linalg.norm(first["original"] - first["original"].mean(0), axis=1))
    moved = np.nanmean(np.linalg.norm(first["m1"] - first["original"], axis=1))
    assert moved < 0.5 * spread


def test_frame_cache_rejects_missing_references(graphs):
    feats, _ = graphs
    with pytest.raises(ValueError, match="reference models"):
        AL.FrameCache().frames("c", {"original": feats["original"]}, ("retrain", "original"))


def test_the_umap_worker_hands_back_frames_and_its_stage_times(graphs, monkeypatch):
    """A frame from the worker process comes with its stages' timings, which this process
    keeps for the next estimate; a prefetch lays out the references beforehand, so the frame
    lays out only its method; the estimate counts what is left of the worker's warm-up."""
    from unlearn_core.analysis.embeddings import UmapProcess
    from unlearn_core.runtime import estimates as E

    feats, _ = graphs
    E.forget_timings()
    monkeypatch.setattr(E, "cpu_share", lambda seconds=0: 1.0)
    proc = UmapProcess(warm=False)
    assert UmapProcess.started()
    try:
        est = proc.estimate(len(feats["original"]), 3)
        assert "the UMAP worker's warm-up" not in [s.name for s in est.stages]  # none asked
        kw = {"n_neighbors": 8, "n_epochs": 20}
        base = ("retrain", "original")
        proc.prefetch("w", {b: feats[b] for b in base}, base, **kw).result()  # the references
        assert len(E.recorded("umap_graph")) == 2 and len(E.recorded("umap_base_epoch")) == 1
        got = proc.frames("w", feats, base, **kw)
        assert set(got) == set(feats) and got["m1"].shape == (len(feats["m1"]), 2)
        # the frame laid out only the method: one more graph, no second joint layout
        for kind, n in (("umap_graph", 3), ("umap_base_epoch", 1), ("umap_add_epoch", 1)):
            assert len(E.recorded(kind)) == n, kind
        proc.started_at, proc.warm_up = time.monotonic(), _NotDone()
        waiting = proc.estimate(len(feats["original"]), 3)
        assert waiting.stages[0].name == "the UMAP worker's warm-up"
    finally:
        proc.shutdown()
        E.forget_timings()


class _NotDone:
    def done(self) -> bool:
        return False
