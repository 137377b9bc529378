"""Wording helpers for the app's messages: plain functions, no Streamlit, tested directly."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

#: prefix of the private folders uploads are written to (see ``common.save_uploads``)
UPLOAD_PREFIX = "unlearn-upload-"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 sample``, ``3 samples`` (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def join(items: Iterable[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def was_were(n: int) -> str:
    return "was" if n == 1 else "were"


def clause(text: str) -> str:
    """``text`` without trailing full stops or spaces, to be embedded in a sentence."""
    return str(text).strip().rstrip(".").rstrip()


def scrub_paths(text: str, *roots: str | Path) -> str:
    """``text`` without server folders: each of ``roots`` (and any private upload folder
    under the system temp directory) is cut, leaving the file names the user knows."""
    out = str(text)
    for root in roots:
        for form in {str(root), str(Path(root).resolve())}:
            if form and form not in (".", "/"):
                out = out.replace(form.rstrip("/") + "/", "").replace(form, "the upload")
    tmp = re.escape(tempfile.gettempdir().rstrip("/"))
    out = re.sub(rf"(?:/private)?{tmp}/{UPLOAD_PREFIX}[^/\s:'\"]*/?", "", out)
    return out


def dataset_title(spec: dict) -> str:
    """What the user calls the dataset of a session's dataset ``spec``."""
    if spec.get("name") != "file":
        return str(spec.get("name"))
    return str(spec.get("label") or Path(str(spec.get("path", "your file"))).name)


def forget_summary(
    kind: str,
    *,
    n_forget: int,
    classes: Sequence[int] = (),
    class_names: Sequence[str] | None = None,
    fraction: float | None = None,
    seed: int = 0,
) -> str:
    """One phrase for a forget set that says each thing once, e.g. ``class 3 (146 samples)``,
    ``97 samples picked by hand``, ``random 10% of the training set (seed 0): 144 samples``."""
    names = [class_names[c] if class_names else str(c) for c in classes]
    count = plural(n_forget, "sample")
    if kind == "indices":
        return f"{count} picked by hand"
    if kind == "class":
        return f"{'class' if len(names) == 1 else 'classes'} {join(names)} ({count})"
    where = f"of class {join(names)}" if names else "of the training set"
    return f"random {fraction:.0%} {where} (seed {seed}): {count}"


def split_summary(split, class_names: Sequence[str]) -> str:
    """:func:`forget_summary` of a ``ForgetSplit``."""
    r = split.request
    if r.kind in ("people", "people_fraction", "facts"):  # a text request: people or facts
        return f"{r.describe(list(class_names))} ({plural(split.n_forget, 'fact')})"
    return forget_summary(
        r.kind,
        n_forget=split.n_forget,
        classes=r.classes,
        class_names=class_names,
        fraction=r.fraction,
        seed=r.seed,
    )
