"""The Data & model page's model section: which model the settings have (trained earlier,
in the disk cache, or none), training it (the Train button, the job's progress, why there is no
model), loading a checkpoint instead, and the model's report."""

from __future__ import annotations

import contextlib
from pathlib import Path

import streamlit as st

from app_ui import jobs
from app_ui.common import (
    chart,
    current_model,
    find_cached_model,
    model_key,
    model_registry,
    model_store,
    page_link,
    save_uploads,
)
from app_ui.persist import server_path
from app_ui.registries import ModelEntry, load_spec
from app_ui.runjobs import start_training
from app_ui.state import (
    ARCH,
    COMPARISON_ID,
    DATASET,
    MODEL_KEY,
    P1,
    P1_CKPT_MSG,
    P1_ESTIMATE,
    P1_ORIGIN,
    P1_SETTINGS,
    RECIPE,
    TRAIN_ASAP,
)
from app_ui.text import clause, scrub_paths
from unlearn_core.data import DataError, Dataset
from unlearn_core.models import weights_hash
from unlearn_core.plots import setup as plots
from unlearn_core.runtime.estimates import Estimate, eta_text, training_estimate
from unlearn_core.runtime.jobs import Job
from unlearn_core.store.checkpoints import CheckpointError, load_checkpoint
from unlearn_core.store.model_cache import settings_key
from unlearn_core.text_app import test_score
from unlearn_core.training import TrainConfig, default_recipe

ARCH_LABELS = {"mlp": "MLP (fully connected)", "cnn": "Small CNN", "resnet18": "ResNet-18"}
#: samples x epochs from which the Train button shows an estimate before the click
BIG_WORK = 100_000


def _use_model(key: str | None, origin: str) -> str | None:
    """Make ``key`` the current model; a different model makes the comparison stale. Returns
    what to say about it (said once the session's state is complete)."""
    note = None
    if key != MODEL_KEY.get() and COMPARISON_ID.get():
        COMPARISON_ID.set(None)
        note = "The model changed: the previous comparison was cleared."
    MODEL_KEY.set(key)
    P1_ORIGIN.set(origin)
    return note


def match_model(data: Dataset, settings: str) -> None:
    """Make the model of ``settings`` the session's when the settings changed: the one
    already shown on a first visit (a restored model), else one trained earlier (memory or
    disk cache), else none.

    Every key is set before anything is drawn, and the settings are marked matched last.
    Streamlit stops a run at its next element when a click is waiting (and reruns with the
    click), so a run stopped half-way must leave either the old state (matched again by the
    next run) or the new one. It used to mark the settings matched, then say that the
    comparison was cleared, then set the model: a Train click right after switching the
    model, landing on that message, left the new settings with the old model, whose report
    the next run showed instead of the Train button, and the click was lost (issue 23)."""
    if P1_SETTINGS.get() == settings:
        return
    note = None
    keep = P1_SETTINGS.get() is None and current_model() is not None
    if not keep:
        cached = find_cached_model(data)
        note = _use_model(settings if cached else None, "cache" if cached else "")
    P1_SETTINGS.set(settings)
    if note:
        st.info(note)


def _estimate(d: Dataset) -> Estimate:
    """How long training the current settings should take (measured steps, per process)."""
    return training_estimate(
        d.n_train, ARCH.get(), TrainConfig.from_dict(RECIPE.get()), d.input_shape, d.num_classes,
        n_test=d.n_test,
    )  # fmt: skip


def train_section(data: Dataset, arch: str, settings: str, job: Job | None) -> None:
    """The running training's progress and Cancel, or (no model for ``settings``) why there
    is none and the Train button."""
    entry = current_model()
    if job is not None and not job.done:
        TRAIN_ASAP.pop()  # a click already served (its run was stopped after the start)
        estimate = P1_ESTIMATE.get()
        jobs.progress(
            job,
            text=lambda j: (
                f"{j.title} · {j.message or 'starting'} · {j.elapsed:.1f} s"
                + eta_text(j.fraction, j.elapsed)
            ),
            extra=lambda j: (
                st.caption(f"Estimated before it started: {estimate}.") if estimate else None
            ),
            cancel_key=P1.CANCEL,
            cancel_label="Cancel training",
        )
    elif entry is None:
        # one status line: why there is no model, and what to do
        this_job = job is not None and jobs.context(job).get("settings") == settings
        if this_job and job.state == "failed":
            st.error(
                f"Training failed: {clause(job.error)}. Change the settings and train again, or "
                "load a checkpoint below."
            )
        elif this_job and job.state == "cancelled":
            st.warning(
                "Training was cancelled, so there is no model for these settings yet: train "
                "again, or load a checkpoint below."
            )
        else:
            st.info("No model for these settings yet: train one, or load a checkpoint below.")
        big = data.n_train * int(RECIPE.get()["epochs"]) >= BIG_WORK
        if big:  # worth a measured step before the click (a fraction of a second)
            st.caption(f"Training {arch} on {data.n_train:,} images: {_estimate(data).text()}.")
        # The click is kept in TRAIN_ASAP by a callback, which runs at the start of the click's
        # run, so a newer run that stops that one cannot lose it; the flag is cleared only once
        # the job is started (a run stopped in between starts it, one stopped after finds it
        # running above). The first paint's Train button sets the same flag; a click on it
        # that a full page's run reads (its callback is the first paint's) also counts.
        clicked = st.button(
            "Train", key=P1.TRAIN, type="primary", on_click=TRAIN_ASAP.set, args=(True,)
        )
        if clicked or TRAIN_ASAP.get():
            P1_ESTIMATE.set(_estimate(data).text())
            start_training(data)
            TRAIN_ASAP.pop()
            st.rerun()


def _load_checkpoint() -> None:
    """Button callback (runs before the page, so the page then shows the loaded model, its
    architecture and recipe, and one status line)."""
    P1_CKPT_MSG.set(None)
    files = list(P1.CKPT_FILES.get() or [])
    typed = str(P1.CKPT_PATH.get() or "").strip()
    folder = ""
    try:
        data_now = load_spec(DATASET.get())
        if files:
            if {Path(f.name).suffix for f in files} != {".safetensors", ".json"}:
                raise CheckpointError("upload both the .safetensors file and its .json description")
            saved = save_uploads(files)
            folder = str(saved)
            path = next(saved.glob("*.safetensors"))
            sidecar = next(saved.glob("*.json"))
            if sidecar.stem != path.stem:
                sidecar.rename(path.with_suffix(".json"))
        elif typed:
            path = server_path(typed)  # only under the data roots
        else:
            raise CheckpointError("upload a checkpoint or type its path first")
        model, meta = load_checkpoint(path, dataset=data_now)  # it brings its architecture
        arch_now = str(meta["model"]["arch"])
    except (CheckpointError, DataError, OSError, KeyError) as exc:
        P1_CKPT_MSG.set(
            ("error", f"Cannot use this checkpoint: {clause(scrub_paths(str(exc), folder))}.")
        )
        return
    key = settings_key(dataset=DATASET.get(), checkpoint=weights_hash(model))
    recipe_now = TrainConfig.from_dict(
        meta.get("train_config") or default_recipe(arch_now).to_dict()
    )
    model_registry()[key] = ModelEntry(  # whole before any session sees it
        model=model,
        recipe=recipe_now,
        history=meta.get("history", {}),
        test_acc=test_score(model, data_now),  # (text: exact match on the world facts)
        source=f"checkpoint {path.name}",
    )
    with contextlib.suppress(OSError):  # so it comes back if memory drops it (LRU)
        kept = {"train_config": recipe_now.to_dict(), "history": meta.get("history", {})}
        model_store().put(
            key, model, data_now, {**kept, "test_acc": model_registry()[key].test_acc}
        )
    ARCH.set(arch_now)
    RECIPE.set(recipe_now.to_dict())
    if key != MODEL_KEY.get() and COMPARISON_ID.get():
        COMPARISON_ID.set(None)
    MODEL_KEY.set(key)
    P1_ORIGIN.set("checkpoint")
    P1_SETTINGS.set(model_key())  # these settings now show the checkpoint's model
    trained_on = meta.get("dataset", {}).get("name")
    if trained_on and trained_on != data_now.name:
        P1_CKPT_MSG.set(
            (
                "warning",
                f"The checkpoint was trained on {trained_on}; its input shape and classes fit "
                f"{data_now.name}, so it is used as is.",
            )
        )


def checkpoint_section(data: Dataset) -> None:
    """Load a checkpoint instead (.safetensors + .json), with the loader's one status line."""
    pending = P1_CKPT_MSG.pop()
    if pending:  # the loader's message is shown inside: keep the box open
        P1.CKPT_OPEN.set(True)
    # drawn only while open: the uploader is the first page's costliest part to draw, and most
    # visits never open this (a second tab's first page: 1.8 s against 1.5 s without it)
    box = st.expander(
        "Load a checkpoint instead (.safetensors + .json)", key=P1.CKPT_OPEN, on_change="rerun"
    )
    if not box.open:
        return
    with box:
        st.caption(
            "A checkpoint saved by `unlearn train` brings its own architecture; it must fit "
            f"{data.name}'s inputs {tuple(data.input_shape)} and {data.num_classes} classes."
        )
        st.file_uploader(
            "Weights and description",
            type=["safetensors", "json"],
            accept_multiple_files=True,
            key=P1.CKPT_FILES,
        )
        st.text_input("…or its path on the server", key=P1.CKPT_PATH)
        st.button("Load checkpoint", key=P1.CKPT_LOAD, on_click=_load_checkpoint)
        if pending:
            getattr(st, pending[0])(pending[1])


def report_section(entry: ModelEntry, data: Dataset) -> None:
    """Where the model came from, its accuracy (test, train, per class) and its training
    curve."""
    origin = P1_ORIGIN.get()
    if origin == "cache":
        st.success(f"Loaded from cache ({entry.source}): trained earlier with these settings.")
    elif origin == "checkpoint":
        st.success(f"Using {entry.source}: a {ARCH_LABELS.get(ARCH.get(), ARCH.get())}.")
    else:
        st.success("Model trained.")
    model = entry.model
    report = entry.report(data)  # once for all sessions, whole, under the entry's lock
    n_params = sum(p.numel() for p in model.parameters())
    m1, m2, m3 = st.columns(3)
    m1.metric("Test accuracy", f"{entry.test_acc:.1f}%")
    m2.metric("Train accuracy", f"{report.train_acc:.1f}%")
    m3.metric("Parameters", f"{n_params:,}")
    chart(
        plots.per_class_accuracy(report.per_class_test, data.classes, entry.test_acc),
        key=P1.PER_CLASS,
    )
    if (entry.history or {}).get("loss"):
        chart(plots.training_curve(dict(entry.history)), key=P1.CURVE)
    else:
        st.caption("No training curve: this model came from a checkpoint without a history.")
    page_link("pages/forget_set.py", "Next: choose what to forget")
