"""Page 1 · Data & model: choose a dataset, look at it, train (or load / reuse) a model."""

# ruff: noqa: E402  (the first paint runs before the heavy imports below)
from __future__ import annotations

import streamlit as st

from app_ui import first_paint
from app_ui.entry import through_app

if st.session_state.get(first_paint.LIGHT) and not first_paint.heavy_ready():
    first_paint.first_page()  # a fresh server: torch is still being imported
    st.stop()
through_app()  # a cold server's deep link runs the app's navigation first

from pathlib import Path

from app_ui.common import (
    BUILTIN,
    chart,
    current_model,
    find_cached_model,
    init_state,
    job_for,
    model_key,
    model_registry,
    page_link,
    save_uploads,
    start_training,
)
from app_ui.first_paint import CAPTION, SOURCE_HELP, SOURCE_LABELS, SOURCES, TITLE, TRAIN_ASAP
from app_ui.registries import POLL_S, job_registry, load_spec
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

S = st.session_state
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
def _bind(key: str, value) -> None:
    """Show ``value`` in widget ``key`` unless the widget already shows what it last wrote."""
    written = S.setdefault("_p1_written", {})
    if key not in S or written.get(key) != value:
        S[key] = value
        written[key] = value


def _wrote(key: str, value) -> None:
    S.setdefault("_p1_written", {})[key] = value


def _set_dataset(spec: dict) -> None:
    """Switch to ``spec``; a new dataset invalidates the forget set, picks and comparison."""
    if spec == S["dataset"]:
        return
    stale = [
        (what, many)
        for key, what, many in (
            ("forget", "the forget set", False),
            ("picked", "the picked samples", True),
            ("comparison_id", "the comparison", False),
        )
        if S.get(key)
    ]
    S["dataset"] = spec
    S["forget"], S["picked"], S["comparison_id"] = None, [], None
    if stale:
        verb = was_were(2 if len(stale) > 1 or stale[0][1] else 1)
        st.info(
            f"Dataset changed: {join(w for w, _ in stale)} belonged to the previous dataset "
            f"and {verb} cleared."
        )


def _use_model(key: str | None, origin: str) -> None:
    """Make ``key`` the current model; a different model makes the comparison stale."""
    if key != S["model_key"] and S.get("comparison_id"):
        S["comparison_id"] = None
        st.info("The model changed: the previous comparison was cleared.")
    S["model_key"] = key
    S["_p1_origin"] = origin


# ------------------------------------------------------------------ 1. dataset
st.title(TITLE)
st.caption(CAPTION)

st.subheader("Dataset")
spec = S["dataset"]
_bind("p1_source", spec["name"] if spec["name"] in BUILTIN else "your file")
source = st.selectbox(
    "Dataset", SOURCES, key="p1_source", format_func=SOURCE_LABELS.get, help=SOURCE_HELP
)
if source == "shapes":
    _bind("p1_shapes_size", int(spec.get("params", {}).get("size", BUILTIN["shapes"]["size"])))
    size = st.slider(
        "Image size (pixels)", 8, 64, step=8, key="p1_shapes_size", help="Side of each image."
    )
    _wrote("p1_shapes_size", size)
    params = spec.get("params", {})
    _bind("p1_shapes_n", int(params.get("n_train", BUILTIN["shapes"]["n_train"])))
    n_shapes = st.selectbox(
        "Training images",
        sorted({*SHAPES_SIZES, S["p1_shapes_n"]}),
        key="p1_shapes_n",
        format_func=lambda n: f"{n:,}",
        help="50,000 is CIFAR-10's size: pages draw a sample of it, training takes minutes.",
    )
    _wrote("p1_shapes_n", n_shapes)
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
            key="p1_format",
            format_func=lambda f: f"{f} · {FORMAT_HELP.get(f, '')}",
        )
        where = st.radio(
            "Where is it?", ["Upload", "Path on the server"], key="p1_where", horizontal=True
        )
        uploads, path_text = [], ""
        if where == "Upload":
            uploads = st.file_uploader(
                "Files (several for idx / cifar; a .zip for a folder)",
                accept_multiple_files=True,
                key="p1_upload",
            )
        else:
            path_text = st.text_input("File or folder path", key="p1_path")
        kwargs: dict = {}
        if fmt == "csv":
            kwargs["label"] = st.text_input("Label column", value="label", key="p1_csv_label")
        if st.button("Load this dataset", key="p1_load", type="primary"):
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
                    f"The current dataset, {dataset_title(S['dataset'])}, stays."
                )
            else:
                _set_dataset(new)
                st.success(
                    f"Loaded {loaded.name}: {loaded.n_train} train / {loaded.n_val} validation / "
                    f"{loaded.n_test} test."
                )

try:
    data: Dataset | None = load_spec(S["dataset"])
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
        key="p1_scatter",
    )
# an SVG, not a plotly chart: a new tab draws the Train button below without loading plotly
st.image(class_balance_svg(counts, data.class_counts("test"), data.classes))

# ------------------------------------------------------------------ 2. model settings
st.subheader("Model")
allowed = ["mlp", "cnn", "resnet18"] if data.kind == "image" else ["mlp"]
if S["arch"] not in allowed:
    S["arch"], S["recipe"] = "mlp", default_recipe("mlp").to_dict()
_bind("p1_arch", S["arch"])
c_arch, c_seed = st.columns([3, 1])
arch = c_arch.selectbox("Architecture", allowed, key="p1_arch", format_func=ARCH_LABELS.get)
_wrote("p1_arch", arch)
if data.kind != "image":
    c_arch.caption(
        f"CNN and ResNet-18 need images; {data.name} is {data.kind} data, so only the MLP fits."
    )
if arch != S["arch"]:
    S["arch"], S["recipe"] = arch, default_recipe(arch).to_dict()

recipe = dict(S["recipe"])
for field in ("epochs", "lr", "batch_size", "optimizer"):
    _bind(f"p1_{field}", recipe[field])
_bind("p1_seed", int(S["train_seed"]))
seed = c_seed.number_input("Seed", 0, 2**31 - 1, step=1, key="p1_seed")
c1, c2, c3, c4 = st.columns(4)
epochs = c1.number_input("Epochs", 1, 500, step=1, key="p1_epochs")
lr = c2.number_input("Learning rate", 1e-6, 10.0, step=1e-4, format="%g", key="p1_lr")
batch = c3.number_input("Batch size", 1, 8192, step=16, key="p1_batch_size")
opt = c4.selectbox("Optimizer", ["adam", "sgd"], key="p1_optimizer")
recipe.update(epochs=int(epochs), lr=float(lr), batch_size=int(batch), optimizer=opt)
for field in ("epochs", "lr", "batch_size", "optimizer"):
    _wrote(f"p1_{field}", recipe[field])
_wrote("p1_seed", int(seed))
S["recipe"], S["train_seed"] = recipe, int(seed)
if recipe != default_recipe(arch).to_dict():
    st.button(
        "Reset to the default recipe",
        key="p1_reset",
        on_click=lambda: S.update(recipe=default_recipe(S["arch"]).to_dict()),
    )


# ------------------------------------------------------------------ 3. train / reuse / load
def _load_checkpoint() -> None:
    """Button callback (runs before the page, so the page then shows the loaded model, its
    architecture and recipe, and one status line)."""
    S["_p1_ckpt_msg"] = None
    files = list(S.get("p1_ckpt_files") or [])
    typed = str(S.get("p1_ckpt_path") or "").strip()
    folder = ""
    try:
        data_now = load_spec(S["dataset"])
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
        S["_p1_ckpt_msg"] = (
            "error",
            f"Cannot use this checkpoint: {clause(scrub_paths(str(exc), folder))}.",
        )
        return
    key = settings_key(dataset=S["dataset"], checkpoint=weights_hash(model))
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
    S["arch"], S["recipe"] = arch_now, recipe_now.to_dict()
    if key != S["model_key"] and S.get("comparison_id"):
        S["comparison_id"] = None
    S["model_key"], S["_p1_origin"] = key, "checkpoint"
    S["_p1_settings"] = model_key()  # these settings now show the checkpoint's model
    trained_on = meta.get("dataset", {}).get("name")
    if trained_on and trained_on != data_now.name:
        S["_p1_ckpt_msg"] = (
            "warning",
            f"The checkpoint was trained on {trained_on}; its input shape and classes fit "
            f"{data_now.name}, so it is used as is.",
        )


def _estimate(d: Dataset):
    """How long training the current settings should take (measured steps, per process)."""
    return training_estimate(
        d.n_train, S["arch"], TrainConfig.from_dict(S["recipe"]), d.input_shape, d.num_classes
    )


settings = model_key()
job = job_for("train")
if job is not None and job.done and S.get("_p1_job_seen") != job.id:
    S["_p1_job_seen"] = job.id
    if job.state == "done" and job.result == settings:
        _use_model(job.result, "trained")
if S.get("_p1_settings") != settings:
    first_visit = S.get("_p1_settings") is None
    S["_p1_settings"] = settings
    keep = first_visit and current_model() is not None
    if not keep:
        cached = find_cached_model(data)
        _use_model(settings if cached else None, "cache" if cached else "")

running = job is not None and not job.done
entry = current_model()
if running:

    @st.fragment(run_every=POLL_S)
    def _training_progress(job_id: str) -> None:
        j = job_registry().get(job_id)
        if j is None or j.done:
            st.rerun()
        left = eta_text(j.fraction, j.elapsed)
        st.progress(
            j.fraction, text=f"{j.title} · {j.message or 'starting'} · {j.elapsed:.1f} s{left}"
        )
        if S.get("_p1_estimate"):
            st.caption(f"Estimated before it started: {S['_p1_estimate']}.")
        if st.button("Cancel training", key="p1_cancel"):
            j.cancel()

    _training_progress(job.id)
elif entry is None:
    # one status line: why there is no model, and what to do
    this_job = job is not None and S.get("_p1_train_for") == settings
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
    big = data.n_train * int(S["recipe"]["epochs"]) >= BIG_WORK
    if big:  # worth a measured step before the click (a fraction of a second)
        st.caption(f"Training {arch} on {data.n_train:,} images: {_estimate(data).text()}.")
    # (a click on the first paint's Train button, before the libraries were loaded, counts)
    if st.button("Train", key="p1_train", type="primary") or S.pop(TRAIN_ASAP, False):
        S["_p1_train_for"] = settings
        S["_p1_estimate"] = _estimate(data).text()
        start_training(data)
        st.rerun()

pending = S.pop("_p1_ckpt_msg", None)
with st.expander("Load a checkpoint instead (.safetensors + .json)", expanded=bool(pending)):
    st.caption(
        "A checkpoint saved by `unlearn train` brings its own architecture; it must fit "
        f"{data.name}'s inputs {tuple(data.input_shape)} and {data.num_classes} classes."
    )
    st.file_uploader(
        "Weights and description",
        type=["safetensors", "json"],
        accept_multiple_files=True,
        key="p1_ckpt_files",
    )
    st.text_input("…or its path on the server", key="p1_ckpt_path")
    st.button("Load checkpoint", key="p1_ckpt_load", on_click=_load_checkpoint)
    if pending:
        getattr(st, pending[0])(pending[1])

# ------------------------------------------------------------------ 4. the model's report
if entry is not None and not running:
    origin = S.get("_p1_origin", "")
    if origin == "cache":
        st.success(f"Loaded from cache ({entry['source']}): trained earlier with these settings.")
    elif origin == "checkpoint":
        st.success(f"Using {entry['source']}: a {ARCH_LABELS.get(S['arch'], S['arch'])}.")
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
        key="p1_per_class",
    )
    if entry.get("history", {}).get("loss"):
        chart(plots.training_curve(entry["history"]), key="p1_curve")
    else:
        st.caption("No training curve: this model came from a checkpoint without a history.")
    page_link("pages/forget_set.py", "Next: choose what to forget")
