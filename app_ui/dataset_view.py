"""The Data & model page's dataset section: the built-in picker (with the shapes' size and
count), a user's file (uploaded or a path on the server), switching datasets (which clears the
forget set, picks and comparison of the previous one), and a look at the chosen dataset:
thumbnails or a scatter, and the class balance."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_ui.common import BUILTIN, chart, save_uploads
from app_ui.first_paint import SOURCE_HELP, SOURCE_LABELS, SOURCES, thumbnails_svg
from app_ui.persist import server_path
from app_ui.registries import load_spec
from app_ui.state import COMPARISON_ID, DATASET, FORGET, P1, PICKED, WRITTEN_P1, bind, wrote
from app_ui.text import clause, dataset_title, join, scrub_paths, was_were
from app_ui.text_view import facts_params, show_text_dataset
from unlearn_core.data import FORMATS, DataError, Dataset
from unlearn_core.plots import setup as plots
from unlearn_core.plots.svg import class_balance_svg
from unlearn_core.selection import examples_per_class

FORMAT_HELP = {
    "idx": "MNIST-style IDX: the four files (train/t10k images and labels, .gz allowed)",
    "cifar": "CIFAR-10 binary batches: data_batch_*.bin and test_batch.bin",
    "folder": "A folder of images, one sub-folder per class (upload it as a .zip)",
    "npz": "NumPy .npz holding x and y (optionally x_test, y_test, classes)",
    "csv": "CSV with a header row, numeric feature columns and a label column",
    "jsonl": "JSON lines of {question, answer} (optional: person): text, for the tinylm",
}
#: training-set sizes offered for shapes (50 000: CIFAR-10's)
SHAPES_SIZES = [2000, 10000, 50000]


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


def pick_dataset() -> None:
    """The dataset picker: a built-in one (shapes with its options) or a user's file."""
    spec = DATASET.get()
    shown = spec["name"] if spec["name"] in BUILTIN else "your file"
    _bind(P1.SOURCE, shown)  # (and the default: a widget drawn afresh starts there)
    source = st.selectbox(
        "Dataset", SOURCES, index=SOURCES.index(shown), key=P1.SOURCE,
        format_func=SOURCE_LABELS.get, help=SOURCE_HELP,
    )  # fmt: skip
    if source == "shapes":
        side = int(spec.get("params", {}).get("size", BUILTIN["shapes"]["size"]))
        _bind(P1.SHAPES_SIZE, side)
        size = st.slider(
            "Image size (pixels)", 8, 64, side, step=8, key=P1.SHAPES_SIZE,
            help="Side of each image.",
        )  # fmt: skip
        _wrote(P1.SHAPES_SIZE, size)
        params = spec.get("params", {})
        _bind(P1.SHAPES_N, int(params.get("n_train", BUILTIN["shapes"]["n_train"])))
        sizes = sorted({*SHAPES_SIZES, P1.SHAPES_N.get()})
        n_shapes = st.selectbox(
            "Training images",
            sizes,
            index=sizes.index(P1.SHAPES_N.get()),
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
    elif source == "facts":  # the text track: its size options
        _set_dataset({"name": "facts", "params": facts_params(spec.get("params", {}))})
    elif source != "your file":
        _set_dataset({"name": source, "params": dict(BUILTIN[source])})
    else:
        with st.container(border=True):
            fmt = st.selectbox(
                "Format",
                [*FORMATS, "jsonl"],
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
                        what = Path(path_text.strip()).expanduser().name or path_text.strip()
                        path = server_path(path_text)  # only under the data roots
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


def load_current() -> Dataset | None:
    """The session's dataset, or None with the reason shown."""
    try:
        return load_spec(DATASET.get())
    except (DataError, OSError, ValueError) as exc:
        st.error(f"Cannot load the dataset: {clause(scrub_paths(str(exc)))}.")
        return None


def show_dataset(data: Dataset) -> None:
    """What the dataset is, a few of its samples (or a scatter) and its class balance."""
    if data.kind == "text":  # people and their facts, the world facts apart
        return show_text_dataset(data)
    counts = data.class_counts("train")
    st.markdown(
        f"**{data.name}** · {data.kind} · input {tuple(data.input_shape)} · {data.num_classes} "
        f"classes · {data.n_train} train / {data.n_val} validation / {data.n_test} test"
    )

    # one block per row: thumbnails (or a scatter), then the class balance, legible at 1024 px
    if data.kind == "image":
        ids = examples_per_class(data.y_train.numpy(), per_class=2)[:40]
        captions = [data.classes[int(data.y_train[i])] for i in ids]
        images, _ = plots.tiles([data.image(i) for i in ids], captions, 56)
        st.image(thumbnails_svg(images, captions))  # one element: a new tab draws it sooner
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
