"""What the Compare page's detail tabs show, computed once per comparison and kept for the
server: each model's penultimate features of the embedding sample, the embedding views, the
shift of each model, the aligned-UMAP frame (a background job, ``jobs.UMAP``), attribution
maps (with a progress bar), layer similarity and decision regions. The computations are the
library's (``unlearn_core.analysis``); here they are cached by comparison id. The dataset and
split arguments (``_data``, ``_split``) are the comparison's own, so they are not part of the
cache key.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import streamlit as st

from app_ui import jobs
from app_ui.common import umap_process
from app_ui.registries import (
    attribution_grids,
    cache_size,
    comparison_registry,
    umap_frames,
)
from unlearn_core.analysis.embeddings import BASE, UmapProcess, model_features
from unlearn_core.analysis.views import (
    EmbeddingView,
    decision_regions,
    displacements,
    embedding_sample,
    embedding_view,
    in_focus,
    layer_similarity,
)
from unlearn_core.data import Dataset
from unlearn_core.forget import ForgetSplit
from unlearn_core.runtime.jobs import Job

#: attribution methods shown side by side
ATTR_METHODS = ("integrated_gradients", "saliency", "lrp")


def _models(cid: str) -> dict:
    return comparison_registry()[cid].models()


@st.cache_resource(max_entries=8)
def embedding_ids(cid: str, _data: Dataset, _split: ForgetSplit) -> np.ndarray:
    """The training samples drawn in the embedding views (every forget sample, the same
    seeded draw of the others for every method)."""
    return embedding_sample(_data.n_train, _split.forget_idx.numpy())


@st.cache_resource(
    max_entries=cache_size("embeddings"), show_spinner="Reading the penultimate features…"
)
def features_of(cid: str, name: str, _data: Dataset, _split: ForgetSplit) -> np.ndarray:
    """One model's penultimate features of :func:`embedding_ids` (each model read once)."""
    ids = embedding_ids(cid, _data, _split)
    return model_features([_models(cid)[name]], _data.x_train[ids])[0]


@st.cache_resource(max_entries=cache_size("embeddings"))
def embedding_inputs(cid: str, method: str, _data: Dataset, _split: ForgetSplit) -> EmbeddingView:
    """The embedding view of ``method``: original, the method and retrain, PCA frame."""
    ids = embedding_ids(cid, _data, _split)
    feats = {n: features_of(cid, n, _data, _split) for n in in_focus(_models(cid), method)}
    return embedding_view(feats, ids, _data.y_train[ids].numpy(), _split.forget_idx.numpy())


@st.cache_resource(max_entries=8, show_spinner="Measuring how far the samples moved…")
def shifts(cid: str, _data: Dataset, _split: ForgetSplit) -> dict:
    """Each model's per-sample shift from the original's position (``moved``: name -> array,
    every model measured on its own) and the sample's forget mask (``is_forget``)."""
    comp, ms = comparison_registry()[cid], _models(cid)
    names = [n for n in ("original", *[r.method for r in comp.results if r.ok]) if n in ms]
    ids = embedding_ids(cid, _data, _split)
    is_forget = np.isin(ids, _split.forget_idx.numpy())
    feats = {n: features_of(cid, n, _data, _split) for n in names}
    return {"moved": displacements(feats), "is_forget": is_forget}


def umap_frame(cid: str, method: str) -> dict | None:
    """The finished aligned-UMAP frames of ``method``'s view ({"frames", "ids"}), if any."""
    return umap_frames().get((cid, method))


def umap_job(cid: str, method: str, view: EmbeddingView) -> Job:
    """The aligned-UMAP job of ``method``'s view (any session's), started when there is
    none, with its estimate in its context."""
    job = jobs.find(jobs.UMAP, (cid, method))
    if job is not None:
        return job
    from unlearn_core.runtime.estimates import eta_text

    fresh = not any(k[0] == cid for k in umap_frames())
    # every stage: what is left of the worker's warm-up, graphs, layouts, the redraw
    estimate = umap_process().estimate(len(view.ids), len(view.names) if fresh else 1).text()

    def work(job: Job) -> dict:
        n, k = len(view.ids), len(view.names)
        job.report(0.0, f"{n} samples x {k} models: waiting for the UMAP worker")
        named = dict(zip(view.names, view.features, strict=True))
        base = [b for b in BASE if b in named] or view.names[:1]
        start = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            job.report(fraction, f"{message}{eta_text(fraction, time.perf_counter() - start)}")

        got = umap_process().frames(cid, named, base, seed=0, progress=report)
        frames = [got[name] for name in view.names]
        umap_frames()[(cid, method)] = {"frames": frames, "ids": view.ids}
        return {"frames": frames}

    ctx = {"estimate": estimate}
    return jobs.start(jobs.UMAP, f"UMAP for {method}", work, tag=(cid, method), context=ctx)


#: comparisons whose reference layout the UMAP worker was handed (this server)
_prefetched: set[str] = set()


def prefetch_umap(cid: str, data: Dataset, split: ForgetSplit) -> None:
    """Hand the UMAP worker the reference models' (retrain, original) features of ``cid``
    while the page is read: it lays them out in the background (``UmapProcess.prefetch``), so
    the Embeddings tab's first frame only lays out its method. Once per comparison."""
    if cid in _prefetched or not UmapProcess.started() or any(k[0] == cid for k in umap_frames()):
        return  # (a worker is started by the app's warm-up, not for this)
    _prefetched.add(cid)
    base = [b for b in BASE if b in _models(cid)]

    def work() -> None:
        try:
            feats = {b: features_of(cid, b, data, split) for b in base}
        except KeyError:  # the comparison left the server's cache meanwhile: nothing to do
            return
        umap_process().prefetch(cid, feats, base, seed=0)  # the options umap_job uses

    if base:
        threading.Thread(target=work, name="umap-prefetch", daemon=True).start()


def retry_umap(cid: str, method: str) -> None:
    jobs.drop(jobs.UMAP, (cid, method))


def attributions(cid: str, method: str, sample_ids: tuple[int, ...], data: Dataset) -> dict:
    """Attribution maps of original / method / retrain for the chosen samples; computed with
    an estimate first and a progress bar (time left) that moves per batch, then kept."""
    from unlearn_core.analysis.attributions import PASSES, attribution_grid
    from unlearn_core.runtime.estimates import attribution_estimate, eta_text, observe

    def build() -> dict:
        arch = comparison_registry()[cid].model
        ms = _models(cid)
        chosen = {n: ms[n] for n in in_focus(ms, method)}
        idx = list(sample_ids)
        est = attribution_estimate(len(idx), len(chosen), ATTR_METHODS, arch=arch)
        bar = st.progress(0.0, text=f"Computing attributions: {est.text()}")
        start = time.perf_counter()

        def report(fraction: float, message: str) -> None:
            left = eta_text(fraction, time.perf_counter() - start)
            bar.progress(min(fraction, 1.0), text=f"Attributions: {message}{left}")

        grid = attribution_grid(
            chosen, data.x_train[idx], data.y_train[idx], methods=ATTR_METHODS, batch_size=1,
            progress=report,
        )  # fmt: skip
        passes = len(idx) * len(chosen) * sum(PASSES[m] for m in ATTR_METHODS)
        observe(f"attribution_pass:{arch}", passes, time.perf_counter() - start)
        bar.empty()
        return grid

    # once per key for every session (another session asking meanwhile waits for it); the
    # cache drops the least recently used grids beyond $UNLEARN_CACHE_ATTRIBUTIONS
    return attribution_grids().get_or_build((cid, method, sample_ids), build)


@st.cache_resource(max_entries=16, show_spinner="Comparing layer activations…")
def layer_cka(cid: str, method: str, _data: Dataset) -> dict[str, dict[str, float]]:
    """Linear CKA per layer of ``method`` against the original and retrain (``ValueError``
    where the layers cannot be compared)."""
    return layer_similarity(_models(cid), method, _data.x_test)


@st.cache_resource(max_entries=16, show_spinner="Evaluating the models over the plane…")
def boundary_grids(cid: str, method: str, _data: Dataset) -> dict:
    """The predicted class over the plane of original, ``method`` and retrain."""
    return decision_regions(_models(cid), method, _data.x_train)
