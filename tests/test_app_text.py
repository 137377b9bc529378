"""The app's wording helpers (``app_ui.text``): each thing said once, in the singular when it
is one, without server folders."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from app_ui.text import (  # noqa: E402
    UPLOAD_PREFIX,
    clause,
    dataset_title,
    forget_summary,
    join,
    plural,
    scrub_paths,
)


def test_counts_and_lists_read_as_english():
    assert plural(1, "sample") == "1 sample" and plural(97, "sample") == "97 samples"
    assert join(["a"]) == "a" and join(["a", "b"]) == "a and b"
    assert join(["a", "b", "c"]) == "a, b and c"
    assert clause("no label column 'label'..") == "no label column 'label'"


def test_forget_summary_says_each_thing_once():
    assert forget_summary("indices", n_forget=97) == "97 samples picked by hand"
    assert forget_summary("indices", n_forget=1) == "1 sample picked by hand"
    names = [str(i) for i in range(10)]
    assert forget_summary("class", n_forget=146, classes=[3], class_names=names) == (
        "class 3 (146 samples)"
    )
    assert forget_summary("class", n_forget=290, classes=[3, 5], class_names=names) == (
        "classes 3 and 5 (290 samples)"
    )
    assert forget_summary("fraction", n_forget=144, fraction=0.1, seed=2) == (
        "random 10% of the training set (seed 2): 144 samples"
    )


def test_server_folders_are_cut_from_messages():
    folder = Path(tempfile.gettempdir()) / f"{UPLOAD_PREFIX}abc123"
    msg = f"{folder}/t.csv: no label column 'label'"
    assert scrub_paths(msg, folder) == "t.csv: no label column 'label'"
    # also without being told the folder
    assert scrub_paths(f"{folder}/sub/x.png: unreadable image") == "sub/x.png: unreadable image"


def test_dataset_title_is_what_the_user_calls_it():
    assert dataset_title({"name": "digits", "params": {}}) == "digits"
    spec = {"name": "file", "path": "/tmp/unlearn-upload-x/good.csv", "label": "good.csv"}
    assert dataset_title(spec) == "good.csv"
    assert dataset_title({"name": "file", "path": "/data/mnist"}) == "mnist"
