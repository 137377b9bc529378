"""What every page shares: the data and model a page needs, the forget split, the
comparison shown, charts and page links, the UMAP worker and the sidebar.

Heavy objects (datasets, trained models, comparisons) live in ``st.cache_resource``
registries keyed by the settings that made them; ``st.session_state`` holds only small keys.
Every computation is a library call.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app_ui import jobs, state
from app_ui.first_paint import BUILTIN  # noqa: F401 - the pages and persist read it here
from app_ui.forget_summary import in_use_summary
from app_ui.icons import PAGE_ICONS
from app_ui.registries import (  # noqa: F401 - the pages read model_registry, model_store here
    ModelEntry,
    cached_model_entry,
    comparison_registry,
    current_dataset,
    current_model,
    model_key,
    model_registry,
    model_store,
)
from app_ui.text import UPLOAD_PREFIX
from unlearn_core.data import DataError, Dataset
from unlearn_core.experiment import Comparison
from unlearn_core.forget import ForgetError, ForgetSplit
from unlearn_core.text_app import split_from_dict
from unlearn_core.training import TrainConfig


def init_state() -> None:
    """Every ``app`` key of :mod:`app_ui.state` at its default where the session has none."""
    state.init()


def save_uploads(uploads: list, max_bytes: int = 2 << 30) -> Path:
    """Write several uploaded files into one private temporary folder and return it (or the
    file itself when there is a single non-zip file). ``.zip`` archives are unpacked in
    place, refusing members that would land outside the folder or exceed ``max_bytes``."""
    folder = Path(tempfile.mkdtemp(prefix=UPLOAD_PREFIX))
    saved = []
    for up in uploads:
        path = folder / Path(up.name).name
        path.write_bytes(up.getbuffer())
        saved.append(path)
    for path in [p for p in saved if p.suffix.lower() == ".zip"]:
        _unzip(path, folder, max_bytes)
        path.unlink()
    if len(saved) == 1 and saved[0].suffix.lower() != ".zip":
        return saved[0]
    entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(entries) == 1 and entries[0].is_dir():  # an archive holding one top folder
        return entries[0]
    return folder


def _unzip(archive: Path, dest: Path, max_bytes: int) -> None:
    import zipfile

    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > max_bytes:
                raise DataError(
                    f"{archive.name} unpacks to more than {max_bytes >> 20} MiB; "
                    "upload a smaller archive or give its path on the server"
                )
            root = dest.resolve()
            for m in members:
                target = (dest / m.filename).resolve()
                if root not in target.parents and target != root:
                    raise DataError(
                        f"{archive.name}: the member {m.filename!r} would land outside the "
                        "archive's folder; re-create the archive with relative paths"
                    )
            zf.extractall(dest)
    except zipfile.BadZipFile as exc:
        raise DataError(
            f"{archive.name} is not a readable .zip archive; re-create it with a zip tool"
        ) from exc


def chart(fig, key: str, *, tools: bool = False, **kw):
    """Draw a plotly figure the app's way: the full width of its column and, unless ``tools``
    (for charts one selects on), without plotly's toolbar, which would cover the title."""
    config = {"displaylogo": False}
    if not tools:
        config["displayModeBar"] = False
    return st.plotly_chart(fig, key=key, width="stretch", config=config, **kw)


def page_link(page: str, label: str) -> None:
    """A link to one of the app's pages, with that page's icon."""
    st.page_link(page, label=label, icon=PAGE_ICONS[page])


def require_data_and_model() -> tuple[Dataset, ModelEntry]:
    """The current dataset and trained model; stops the page with a pointer back to the Data
    & model page when either is missing."""
    data = current_dataset()
    if data is None:
        st.stop()
    entry = current_model()
    if entry is None:
        st.warning("There is no model yet: train or load one on the Data & model page first.")
        page_link("pages/data_model.py", "Go to Data & model")
        st.stop()
    return data, entry


def find_cached_model(data: Dataset) -> ModelEntry | None:
    """A model already trained with exactly the current settings (memory, then disk)."""
    return cached_model_entry(model_key(), data)


# ---------------------------------------------------------------- forget set
def current_split(data: Dataset) -> ForgetSplit | None:
    req = state.FORGET.get()
    if not req:
        return None
    try:
        return split_from_dict(data, req)  # (either track's request)
    except ForgetError:
        return None


def current_comparison() -> Comparison | None:
    cid = state.COMPARISON_ID.get()
    return comparison_registry().get(cid) if cid else None


def comparison_split(data: Dataset, comp: Comparison) -> ForgetSplit | None:
    """The forget split the comparison was run on (rebuilt from its request), or None with an
    error shown when the current dataset no longer matches it."""
    try:
        split = split_from_dict(data, comp.forget)  # (either track's request)
    except ForgetError as exc:
        st.error(f"The comparison's forget set does not fit the current dataset: {exc}")
        return None
    if comp.dataset != data.name or split.n_forget != comp.forget.get("n_forget", split.n_forget):
        st.error(
            f"This comparison was run on {comp.dataset!r}, but the current dataset is "
            f"{data.name!r}. Go back to the Data page or run the comparison again."
        )
        return None
    return split


def require_comparison() -> tuple[Comparison, Dataset, ForgetSplit, str]:
    """The current comparison, its dataset, its forget split and its id; stops the page with
    a pointer to the Unlearn page (or the reason) when there is none that fits."""
    comp = current_comparison()
    data = current_dataset()
    if comp is None or data is None:
        no_comparison_pointer()
        st.stop()
    split = comparison_split(data, comp)
    if split is None:
        st.stop()
    return comp, data, split, state.COMPARISON_ID.get()


def no_comparison_pointer() -> None:
    """What a results page shows before any comparison exists."""
    job = jobs.running(jobs.COMPARE)
    if job is not None:
        st.info(f"Unlearning is still running ({job.fraction:.0%}). Its results appear here.")
    else:
        st.info("No comparison yet: train a model, mark a forget set, then run the methods.")
    page_link("pages/unlearn.py", "Go to 3 · Unlearn")


# ---------------------------------------------------------------- UMAP worker
@st.cache_resource
def umap_process():
    """The server's one UMAP worker process; creating it starts its numba warm-up there."""
    from unlearn_core.analysis.embeddings import UmapProcess

    return UmapProcess()


def warm_up_in_background() -> None:
    """Start the UMAP worker (and its ~10 s of compilation) off the server's process, so the
    Compare page's UMAP frame is ready soon after it is asked for."""
    umap_process()


# ---------------------------------------------------------------- sidebar
def sidebar() -> None:
    """The state of the flow, always visible."""
    data = current_dataset()
    arch = state.ARCH.get()
    with st.sidebar:
        st.markdown("### Session")
        if data is None:
            st.caption("No dataset")
            return
        st.markdown(
            f"**Data** · {data.name} ({data.n_train} train / {data.n_val} validation / "
            f"{data.n_test} test)"
        )
        entry = current_model()
        if entry is None:
            st.markdown(f"**Model** · {arch} — not trained yet")
        else:
            st.markdown(f"**Model** · {arch} — test acc {entry['test_acc']:.1f}%")
        split = current_split(data)
        if split is None:
            st.markdown("**Forget set** · none yet")
        else:
            st.markdown(f"**Forget set** · {in_use_summary(split, data.classes)}")
        comp = current_comparison()
        running = jobs.sidebar_line(jobs.COMPARE)  # live progress and Cancel on every page
        if not running and comp is not None:
            st.markdown(f"**Comparison** · {', '.join(r.method for r in comp.results if r.ok)}")
        elif not running:
            st.markdown("**Comparison** · none yet")
        for kind in jobs.KINDS.values():  # the other kinds shown while they run
            if kind.sidebar and kind is not jobs.COMPARE:
                jobs.sidebar_line(kind)


# ---------------------------------------------------------------- estimates
def comparison_estimate_text(
    data: Dataset, split: ForgetSplit, methods: list[str], include_retrain: bool, n_seeds: int
) -> str:
    """One line for the Unlearn page before a run: the whole comparison's estimated time on
    this machine (measured training steps, the methods' benchmark time ratios) and the cost
    of the dearest method when it is SISA or Fisher."""
    from unlearn_core.runtime.estimates import (
        comparison_estimate,
        method_cost_note,
        training_estimate,
    )

    arch, recipe = state.ARCH.get(), TrainConfig.from_dict(state.RECIPE.get())
    args = (data.input_shape, data.num_classes)
    est = comparison_estimate(
        data.n_train, split.n_forget, arch, recipe, methods, *args,
        include_retrain=include_retrain, n_test=data.n_test,
    )  # fmt: skip
    seeds = f" per seed, {n_seeds} seeds" if n_seeds > 1 else ""
    text = f"Estimated run time: {est.text()}{seeds} ({est.basis})."
    dear = [m for m in methods if m in ("sisa", "fisher")]
    if dear:
        retrain = training_estimate(split.n_retain, arch, recipe, *args).seconds
        text += " " + "; ".join(method_cost_note(m, arch, retrain) for m in dear) + "."
    return text
