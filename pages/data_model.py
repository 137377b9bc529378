"""Page 1 · Data & model: choose a dataset, look at it, train (or load / reuse) a model."""

# ruff: noqa: E402  (the first paint runs before the heavy imports below)
from __future__ import annotations

import streamlit as st

from app_ui import first_paint
from app_ui.entry import through_app
from app_ui.state import LIGHT

if LIGHT.get() and not first_paint.heavy_ready():
    first_paint.first_page()  # a fresh server: torch is still being imported
    st.stop()
through_app()  # a cold server's deep link runs the app's navigation first

from pathlib import Path

from app_ui import jobs
from app_ui.common import (
    BUILTIN,
    chart,
    current_model,
    find_cached_model,
    init_state,
    model_key,
    model_registry,
    page_link,
    save_uploads,
)
from app_ui.first_paint import CAPTION, SOURCE_HELP, SOURCE_LABELS, SOURCES, TITLE
from app_ui.registries import load_spec
from app_ui.runjobs import start_training
from app_ui.state import (
    ARCH,
    COMPARISON_ID,
    DATASET,
    FORGET,
    MODEL_KEY,
    P1,
    P1_CKPT_MSG,
    P1_ESTIMATE,
    P1_ORIGIN,
    P1_SETTINGS,
    PICKED,
    RECIPE,
    TRAIN_ASAP,
    TRAIN_SEED,
    WRITTEN_P1,
    bind,
    wrote,
)
from app_ui.text import clause, dataset_title, join, scrub_paths, was_were
from unlearn_core.data import FORMATS, DataError, Dataset
from unlearn_core.models import weights_hash
from unlearn_core.plots import setup as plots
from unlearn_core.plots.svg import class_balance_svg
from unlearn_core.runtime.estimates import eta_text, training_estimate
from unlearn_core.selection import examples_per_class
from unlearn_core.store.checkpoints import CheckpointError, load_checkpoint
from unlearn_core.store.model_cache import settings_key
from unlearn_core.training import (
    TrainConfig,
    default_recipe,
    evaluate,
    model_report,
)

init_state()  # (a run that began as the first paint skipped the entry's full path)
FORMAT_HELP = {
    "idx": "MNIST-style IDX: the four files (train/t10k images and labels, .gz allowed)",
    "cifar": "CIFAR-10 binary batches: data_batch_*.bin and test_batch.bin",
    "folder": "A folder of images, one sub-folder per class (upload it as a .zip)",
    "npz": "NumPy .npz holding x and y (optionally x_test, y_test, classes)",
    "csv": "CSV with a header row, numeric feature columns and a label column",
}
ARCH_LABELS = {"mlp": "MLP (fully connected)", "cnn": "Small CNN", "resnet18": "ResNet-18"}
IMAGE_ONLY = ("cnn", "resnet18")
#: samples x epochs from which the Train button shows an estimate before the click
BIG_WORK = 100_000
#: training-set sizes offered for shapes (50 000: CIFAR-10's)
SHAPES_SIZES = [2000, 10000, 50000]


# ------------------------------------------------------------------ widget <-> state binding
def _bind(widget: str, value) -> None:
    bind(widget, value, WRITTEN_P1)


def _wrote(widget: str, value) -> None:
    wrote(widget, value, WRITTEN_P1)


def _set_dataset(spec: dict) -> None:
    """Switch to ``spec``; a new dataset invalidates the forget set, picks and comparison."""
    if spec == DATASET.get():
        return
    stale = [
        (what, many)
        for key, what, many in (
            (FORGET, "the forget set", False),
            (PICKED, "the picked samples", True),
            (COMPARISON_ID, "the comparison", False),
        )
        if key.get()
    ]
    DATASET.set(spec)
    FORGET.set(None)
    PICKED.set([])
    COMPARISON_ID.set(None)
    if stale:
        verb = was_were(2 if len(stale) > 1 or stale[0][1] else 1)
        st.info(
            f"Dataset changed: {join(w for w, _ in stale)} belonged to the previous dataset "
            f"and {verb} cleared."
        )


def _use_model(key: str | None, origin: str) -> None:
    """Make ``key`` the current model; a different model makes the comparison stale."""
    if key != MODEL_KEY.get() and COMPARISON_ID.get():
        COMPARISON_ID.set(None)
        st.info("The model changed: the previous comparison was cleared.")
    MODEL_KEY.set(key)
    P1_ORIGIN.set(origin)


# ------------------------------------------------------------------ 1. dataset
st.title(TITLE)
st.caption(CAPTION)

st.subheader("Dataset")
spec = DATASET.get()
_bind(P1.SOURCE, spec["name"] if spec["name"] in BUILTIN else "your file")
source = st.selectbox(
    "Dataset", SOURCES, key=P1.SOURCE, format_func=SOURCE_LABELS.get, help=SOURCE_HELP
)
if source == "shapes":
    _bind(P1.SHAPES_SIZE, int(spec.get("params", {}).get("size", BUILTIN["shapes"]["size"])))
    size = st.slider(
        "Image size (pixels)", 8, 64, step=8, key=P1.SHAPES_SIZE, help="Side of each image."
    )
    _wrote(P1.SHAPES_SIZE, size)
    params = spec.get("params", {})
    _bind(P1.SHAPES_N, int(params.get("n_train", BUILTIN["shapes"]["n_train"])))
    n_shapes = st.selectbox(
        "Training images",
        sorted({*SHAPES_SIZES, P1.SHAPES_N.get()}),
        key=P1.SHAPES_N,
        format_func=lambda n: f"{n:,}",
        help="50,000 is CIFAR-10's size: pages draw a sample of it, training takes minutes.",
    )
    _wrote(P1.SHAPES_N, n_shapes)
    _set_dataset(
        {
            "name": "shapes",
            "params": {**BUILTIN["shapes"], "size": int(size), "n_train": int(n_shapes)},
        }
    )
elif source != "your file":
    _set_dataset({"name": source, "params": dict(BUILTIN[source])})
else:
    with st.container(border=True):
        fmt = st.selectbox(
            "Format",
            list(FORMATS),
            key=P1.FORMAT,
            format_func=lambda f: f"{f} · {FORMAT_HELP.get(f, '')}",
        )
        where = st.radio(
            "Where is it?", ["Upload", "Path on the server"], key=P1.WHERE, horizontal=True
        )
        uploads, path_text = [], ""
        if where == "Upload":
            uploads = st.file_uploader(
                "Files (several for idx / cifar; a .zip for a folder)",
                accept_multiple_files=True,
                key=P1.UPLOAD,
            )
        else:
            path_text = st.text_input("File or folder path", key=P1.PATH)
        kwargs: dict = {}
        if fmt == "csv":
            kwargs["label"] = st.text_input("Label column", value="label", key=P1.CSV_LABEL)
        if st.button("Load this dataset", key=P1.LOAD, type="primary"):
            what, folder = "this dataset", ""
            try:
                if where == "Upload":
                    if not uploads:
                        raise DataError("choose a file to upload first")
                    what = join(Path(u.name).name for u in uploads)
                    path = save_uploads(list(uploads))
                    folder = str(path if path.is_dir() else path.parent)
                else:
                    if not path_text.strip():
                        raise DataError("type the path of a file or folder first")
                    path = Path(path_text.strip()).expanduser()
                    what = path.name or str(path)
                new = {
                    "name": "file",
                    "path": str(path),
                    "format": fmt,
                    "kwargs": kwargs,
                    "label": what,
                }
                loaded = load_spec(new)
            except (DataError, OSError, ValueError) as exc:
                st.error(
                    f"Cannot load {what}: {clause(scrub_paths(str(exc), folder))}. "
                    f"The current dataset, {dataset_title(DATASET.get())}, stays."
                )
            else:
                _set_dataset(new)
                st.success(
                    f"Loaded {loaded.name}: {loaded.n_train} train / {loaded.n_val} validation / "
                    f"{loaded.n_test} test."
                )

try:
    data: Dataset | None = load_spec(DATASET.get())
except (DataError, OSError, ValueError) as exc:
    st.error(f"Cannot load the dataset: {clause(scrub_paths(str(exc)))}.")
    data = None
if data is None:
    st.stop()

counts = data.class_counts("train")
st.markdown(
    f"**{data.name}** · {data.kind} · input {tuple(data.input_shape)} · {data.num_classes} "
    f"classes · {data.n_train} train / {data.n_val} validation / {data.n_test} test"
)


# one block per row: thumbnails (or a scatter), then the class balance, legible at 1024 px
if data.kind == "image":
    ids = examples_per_class(data.y_train.numpy(), per_class=2)[:40]
    captions = [data.classes[int(data.y_train[i])] for i in ids]
    images, width = plots.tiles([data.image(i) for i in ids], captions, 56)
    st.image(images, caption=captions, width=width)
else:
    what = "2-D points" if data.kind == "points2d" else f"{data.kind} data"
    chart(
        plots.feature_scatter(
            data.x_train.numpy(),
            data.y_train.numpy(),
            data.classes,
            title=f"The training set ({what}), coloured by class",
        ),
        key=P1.SCATTER,
    )
# an SVG, not a plotly chart: a new tab draws the Train button below without loading plotly
st.image(class_balance_svg(counts, data.class_counts("test"), data.classes))

# ------------------------------------------------------------------ 2. model settings
st.subheader("Model")
allowed = ["mlp", "cnn", "resnet18"] if data.kind == "image" else ["mlp"]
if ARCH.get() not in allowed:
    ARCH.set("mlp")
    RECIPE.set(default_recipe("mlp").to_dict())
_bind(P1.ARCH, ARCH.get())
c_arch, c_seed = st.columns([3, 1])
arch = c_arch.selectbox("Architecture", allowed, key=P1.ARCH, format_func=ARCH_LABELS.get)
_wrote(P1.ARCH, arch)
if data.kind != "image":
    c_arch.caption(
        f"CNN and ResNet-18 need images; {data.name} is {data.kind} data, so only the MLP fits."
    )
if arch != ARCH.get():
    ARCH.set(arch)
    RECIPE.set(default_recipe(arch).to_dict())

recipe = dict(RECIPE.get())
for field, widget in P1.RECIPE_FIELDS.items():
    _bind(widget, recipe[field])
_bind(P1.SEED, int(TRAIN_SEED.get()))
seed = c_seed.number_input("Seed", 0, 2**31 - 1, step=1, key=P1.SEED)
c1, c2, c3, c4 = st.columns(4)
epochs = c1.number_input("Epochs", 1, 500, step=1, key=P1.EPOCHS)
lr = c2.number_input("Learning rate", 1e-6, 10.0, step=1e-4, format="%g", key=P1.LR)
batch = c3.number_input("Batch size", 1, 8192, step=16, key=P1.BATCH_SIZE)
opt = c4.selectbox("Optimizer", ["adam", "sgd"], key=P1.OPTIMIZER)
recipe.update(epochs=int(epochs), lr=float(lr), batch_size=int(batch), optimizer=opt)
for field, widget in P1.RECIPE_FIELDS.items():
    _wrote(widget, recipe[field])
_wrote(P1.SEED, int(seed))
RECIPE.set(recipe)
TRAIN_SEED.set(int(seed))
if recipe != default_recipe(arch).to_dict():
    st.button(
        "Reset to the default recipe",
        key=P1.RESET,
        on_click=lambda: RECIPE.set(default_recipe(ARCH.get()).to_dict()),
    )


# ------------------------------------------------------------------ 3. train / reuse / load
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
            path = Path(typed).expanduser()
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
    model_registry()[key] = {
        "model": model,
        "recipe": recipe_now,
        "history": meta.get("history", {}),
        "test_acc": evaluate(model, data_now.x_test, data_now.y_test),
        "source": f"checkpoint {path.name}",
    }
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


def _estimate(d: Dataset):
    """How long training the current settings should take (measured steps, per process)."""
    return training_estimate(
        d.n_train, ARCH.get(), TrainConfig.from_dict(RECIPE.get()), d.input_shape, d.num_classes
    )


settings = model_key()
job = jobs.adopt(jobs.TRAIN)  # a finished training for these settings gives their model
adopted_note = jobs.note(jobs.TRAIN)
if adopted_note:
    st.info(adopted_note)
if P1_SETTINGS.get() != settings:
    first_visit = P1_SETTINGS.get() is None
    P1_SETTINGS.set(settings)
    keep = first_visit and current_model() is not None
    if not keep:
        cached = find_cached_model(data)
        _use_model(settings if cached else None, "cache" if cached else "")

running = job is not None and not job.done
entry = current_model()
if running:
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
    # (a click on the first paint's Train button, before the libraries were loaded, counts)
    if st.button("Train", key=P1.TRAIN, type="primary") or TRAIN_ASAP.pop(False):
        P1_ESTIMATE.set(_estimate(data).text())
        start_training(data)
        st.rerun()

pending = P1_CKPT_MSG.pop()
with st.expander("Load a checkpoint instead (.safetensors + .json)", expanded=bool(pending)):
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

# ------------------------------------------------------------------ 4. the model's report
if entry is not None and not running:
    origin = P1_ORIGIN.get()
    if origin == "cache":
        st.success(f"Loaded from cache ({entry['source']}): trained earlier with these settings.")
    elif origin == "checkpoint":
        st.success(f"Using {entry['source']}: a {ARCH_LABELS.get(ARCH.get(), ARCH.get())}.")
    else:
        st.success("Model trained.")
    model = entry["model"]
    if "per_class_test" not in entry:
        report = model_report(model, data)
        entry["per_class_test"], entry["train_acc"] = report.per_class_test, report.train_acc
    n_params = sum(p.numel() for p in model.parameters())
    m1, m2, m3 = st.columns(3)
    m1.metric("Test accuracy", f"{entry['test_acc']:.1f}%")
    m2.metric("Train accuracy", f"{entry['train_acc']:.1f}%")
    m3.metric("Parameters", f"{n_params:,}")
    chart(
        plots.per_class_accuracy(entry["per_class_test"], data.classes, entry["test_acc"]),
        key=P1.PER_CLASS,
    )
    if entry.get("history", {}).get("loss"):
        chart(plots.training_curve(entry["history"]), key=P1.CURVE)
    else:
        st.caption("No training curve: this model came from a checkpoint without a history.")
    page_link("pages/forget_set.py", "Next: choose what to forget")
