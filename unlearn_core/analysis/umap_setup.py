"""Importing umap once per process, with its compiled code cached on disk, and the exact
distances umap is handed for small data. Shared by :mod:`.embeddings` and
:mod:`.aligned_layout` (neither imports the other for it)."""

from __future__ import annotations

import contextlib
import threading

import numpy as np

#: Below this many samples UMAP computes all pairwise distances anyway; we hand it a
#: precomputed matrix instead (umap would call its numba metric once per pair from Python).
EXACT_LIMIT = 4096

_patch_lock = threading.Lock()
_patched = False
#: umap's own functions this module replaced (name -> umap's dispatcher), for comparison
UMAP_OWN: dict[str, object] = {}


def _optimize_layout_aligned_cached():
    """umap's ``optimize_layout_aligned_euclidean`` with its epoch kernel compiled only once.

    umap 0.5.x wraps the epoch kernel in a fresh ``numba.njit(..., parallel=True)`` on every
    call, so each ``AlignedUMAP.fit`` recompiles it (several seconds). The kernel has no
    ``prange``, so a sequential build computes the same thing; this driver is umap's own
    (BSD-3, same arguments and arithmetic) around one cached dispatcher.
    """
    import numba
    from umap import layouts

    kernel = numba.njit(
        layouts._optimize_layout_aligned_euclidean_single_epoch,
        fastmath=True,
        parallel=False,
        cache=True,
    )

    def optimize_layout_aligned_euclidean(
        head_embeddings,
        tail_embeddings,
        heads,
        tails,
        n_epochs,
        epochs_per_sample,
        regularisation_weights,
        relations,
        rng_state,
        a=1.576943460405378,
        b=0.8950608781227859,
        gamma=1.0,
        lambda_=5e-3,
        initial_alpha=1.0,
        negative_sample_rate=5.0,
        parallel=True,
        verbose=False,
        tqdm_kwds=None,
        move_other=False,
    ):
        dim = head_embeddings[0].shape[1]
        alpha = initial_alpha
        f32 = numba.types.float32[::1]
        per_neg = numba.typed.List.empty_list(f32)
        next_neg = numba.typed.List.empty_list(f32)
        next_sample = numba.typed.List.empty_list(f32)
        for m in range(len(heads)):
            per_neg.append(epochs_per_sample[m].astype(np.float32) / negative_sample_rate)
            next_neg.append(per_neg[m].astype(np.float32))
            next_sample.append(epochs_per_sample[m].astype(np.float32))
        for n in range(n_epochs):
            kernel(
                head_embeddings,
                tail_embeddings,
                heads,
                tails,
                epochs_per_sample,
                a,
                b,
                regularisation_weights,
                relations,
                rng_state,
                gamma,
                lambda_,
                dim,
                move_other,
                alpha,
                per_neg,
                next_neg,
                next_sample,
                n,
            )
            alpha = initial_alpha * (1.0 - (float(n) / float(n_epochs)))
        return head_embeddings

    return optimize_layout_aligned_euclidean


def _cache_umap_kernels() -> int:
    """Make umap's module-level numba functions cache their machine code on disk.

    umap declares them without ``cache=True``, so every new process compiles them again: ~40 s
    of CPU on a small 2-core machine before the first fit. Each not-yet-compiled dispatcher
    is rebuilt from its Python function with the same options plus ``cache=True`` and put
    back wherever umap's modules refer to it (numba resolves calls between jitted functions
    through those module globals at compile time). The code and arithmetic are umap's own;
    only where the compiled code is kept changes. Returns how many were replaced.
    """
    import importlib

    import numba
    from numba.core.registry import CPUDispatcher

    names = ("utils", "distances", "sparse", "spectral", "layouts", "umap_", "aligned_umap")
    mods = [importlib.import_module(f"umap.{n}") for n in names]
    new: dict[int, object] = {}
    for mod in mods:
        for obj in list(vars(mod).values()):
            if (
                isinstance(obj, CPUDispatcher)
                and id(obj) not in new
                and getattr(obj.py_func, "__module__", None) == mod.__name__
                and not obj.overloads
            ):
                opts = {k: v for k, v in obj.targetoptions.items() if k != "nopython"}
                new[id(obj)] = numba.njit(cache=True, **opts)(obj.py_func)
    replaced = 0
    for mod in mods:
        for name, obj in list(vars(mod).items()):
            if id(obj) in new:
                setattr(mod, name, new[id(obj)])
                replaced += 1
    return replaced


def import_umap():
    """Import umap (slow: numba) and, once, make its kernels cache their compiled code and
    install the cached aligned-layout driver."""
    global _patched
    import umap
    import umap.aligned_umap as au

    with _patch_lock:
        if not _patched:
            from umap import layouts

            # an umap with other internals just compiles as usual
            with contextlib.suppress(Exception):
                _cache_umap_kernels()

            # umap's neighbourhood similarities without its parallel in1d (same values)
            if hasattr(au, "build_neighborhood_similarities"):
                from ._aligned_kernel import neighborhood_similarities

                UMAP_OWN["build_neighborhood_similarities"] = au.build_neighborhood_similarities
                au.build_neighborhood_similarities = neighborhood_similarities

            # Only where the internals are the ones this driver reproduces.
            if hasattr(layouts, "_optimize_layout_aligned_euclidean_single_epoch") and getattr(
                au, "optimize_layout_aligned_euclidean", None
            ) is getattr(layouts, "optimize_layout_aligned_euclidean", None):
                au.optimize_layout_aligned_euclidean = _optimize_layout_aligned_cached()
            _patched = True
    return umap


def euclidean_matrix(a: np.ndarray) -> np.ndarray:
    """Exact pairwise Euclidean distances (float64, zero diagonal) for umap's precomputed mode."""
    sq = (a * a).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * (a @ a.T)
    np.maximum(d2, 0.0, out=d2)
    np.fill_diagonal(d2, 0.0)
    return np.sqrt(d2)
