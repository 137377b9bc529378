"""Loaders for files a user already has (registered with ``file_format``).

Each loader is ``fn(path, **kw) -> Dataset`` and raises ``DataError`` naming the file and the
problem for anything malformed. None of them unpickles anything: IDX and CIFAR are parsed
byte by byte, ``.npz`` is read with ``allow_pickle=False``, CSV with the ``csv`` module.
"""

from __future__ import annotations

import csv
import gzip
import math
import zipfile
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

from .builtin import stratified_split
from .dataset import DataError, Dataset
from .registry import file_format

FASHION_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm"}


# --------------------------------------------------------------------------- shared helpers


def _where(p: Path, root: Path | None = None) -> str:
    """How a message names a file: its name (with its folders below ``root`` when given), never
    the server folders above it, which mean nothing to the user who uploaded it."""
    p = Path(p)
    if root is not None:
        try:
            rel = p.relative_to(root)
            return f"{Path(root).name}/{rel}" if str(rel) != "." else (Path(root).name or str(p))
        except ValueError:
            pass
    return p.name or str(p)


def _check_fraction(path: Path, test_fraction: float) -> None:
    if not 0.0 <= test_fraction < 1.0:
        raise DataError(f"{_where(path)}: test_fraction must lie in [0, 1), got {test_fraction}")


def _check_file(path: Path, fmt: str) -> None:
    if not path.is_file():
        raise DataError(f"{_where(path)}: the {fmt} format expects a file, not a folder")


def _raw(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DataError(f"{_where(path)}: cannot read ({e.strerror or e})") from e


def _check_labels(path: Path, y: np.ndarray, classes: list[str], hint: str = "") -> None:
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise DataError(
            f"{_where(path)}: label {bad} is out of range 0..{len(classes) - 1} "
            f"({len(classes)} classes){hint}"
        )


def _standardise(
    x_train: np.ndarray, x_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """Standardise both sets with the train mean/std (constant columns keep std 1)."""
    mean = x_train.mean(0)
    std = x_train.std(0)
    std = np.where(std > 0, std, 1.0)
    stats = {"mean": mean.tolist(), "std": std.tolist()}
    return (
        ((x_train - mean) / std).astype(np.float32),
        ((x_test - mean) / std).astype(np.float32),
        stats,
    )


# --------------------------------------------------------------------------- idx (MNIST)

_IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def _find_idx(folder: Path, stem: str) -> Path:
    """``stem`` or ``stem.gz`` (also the ``train-images.idx3-ubyte`` spelling) in ``folder``."""
    alt = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(f"{_where(folder)}: missing {stem} (or {stem}.gz)")


def _read_bytes(path: Path) -> bytes:
    """File contents, gunzipped when the file is gzip (by magic bytes, not only by name)."""
    raw = _raw(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise DataError(f"{_where(path)}: corrupt or truncated gzip data ({e})") from e
    return raw


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file with ``ndim`` dimensions (magic ``0x0000080<ndim>``)."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{_where(path)}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    want = 0x0800 | ndim
    if magic != want:
        raise DataError(
            f"{_where(path)}: bad magic number 0x{magic:08x}, expected 0x{want:08x} "
            f"(unsigned-byte IDX with {ndim} dimension{'s' if ndim > 1 else ''})"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{_where(path)}: truncated IDX header")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expect = math.prod(dims)
    got = len(raw) - header
    if got != expect:
        what = "truncated" if got < expect else "has trailing bytes"
        raise DataError(
            f"{_where(path)}: payload {what}: header dims {dims} need {expect} bytes, found {got}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


@file_format("idx")
def load_idx(path: Path, fashion: bool | None = None, classes: list[str] | None = None) -> Dataset:
    """MNIST-style IDX files (gzipped or not) in a folder.

    The folder holds ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (each optionally ``.gz``).
    Class names: ``classes`` if given, else Fashion-MNIST names when ``fashion`` is true (by
    default when the folder name contains "fashion"), else "0".."9".
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(
            f"{_where(path)}: the idx format expects a folder holding the four IDX files"
        )
    files = {k: _find_idx(path, stem) for k, stem in _IDX_FILES.items()}
    arrays = {k: read_idx(f, 3 if k.endswith("x") else 1) for k, f in files.items()}
    for part in ("train", "test"):
        nx, ny = len(arrays[f"{part}_x"]), len(arrays[f"{part}_y"])
        if nx != ny:
            raise DataError(
                f"{_where(files[part + '_x'])}: {nx} images but {files[part + '_y'].name} has {ny} labels"
            )
    if arrays["train_x"].shape[1:] != arrays["test_x"].shape[1:]:
        raise DataError(
            f"{_where(files['test_x'])}: image size {arrays['test_x'].shape[1:]} differs from the "
            f"training images' {arrays['train_x'].shape[1:]}"
        )
    if fashion is None:  # e.g. fashion-mnist/ or FashionMNIST/raw/
        fashion = any("fashion" in p.lower() for p in path.resolve().parts[-2:])
    if classes is None:
        classes = list(FASHION_CLASSES) if fashion else [str(i) for i in range(10)]
    classes = [str(c) for c in classes]
    hint = "; IDX labels must be class ids 0..9"
    _check_labels(files["train_y"], arrays["train_y"], classes, hint)
    _check_labels(files["test_y"], arrays["test_y"], classes, hint)

    def images(a: np.ndarray) -> np.ndarray:
        return (a[:, None, :, :].astype(np.float32)) / 255.0

    return Dataset(
        name=path.resolve().name or "idx",
        x_train=images(arrays["train_x"]),
        y_train=arrays["train_y"].astype(np.int64),
        x_test=images(arrays["test_x"]),
        y_test=arrays["test_y"].astype(np.int64),
        classes=classes,
        kind="image",
        meta={"format": "idx", "path": str(path), "files": [f.name for f in files.values()]},
    )


# --------------------------------------------------------------------------- CIFAR-10 binary

_CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar_bin(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 binary batch: records of 1 label byte + 3072 pixel bytes (R, G, B planes)."""
    raw = _raw(path)
    if len(raw) == 0:
        raise DataError(f"{_where(path)}: empty file")
    if len(raw) % _CIFAR_RECORD:
        raise DataError(
            f"{_where(path)}: size {len(raw)} bytes is not a multiple of the {_CIFAR_RECORD}-byte "
            f"record (1 label + 3072 pixels); truncated, or not a CIFAR-10 binary batch"
        )
    rec = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0].astype(np.int64)


@file_format("cifar")
def load_cifar(path: Path, classes: list[str] | None = None) -> Dataset:
    """CIFAR-10 *binary* version: a folder with ``data_batch_{1..5}.bin`` and ``test_batch.bin``.

    Any non-empty subset of the five training batches may be present; ``test_batch.bin`` is
    required. Class names come from ``classes``, else ``batches.meta.txt``, else the CIFAR-10
    names. A folder that holds ``cifar-10-batches-bin/`` is accepted too.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(
            f"{_where(path)}: the cifar format expects a folder of CIFAR-10 .bin batches"
        )
    if not any(path.glob("*.bin")) and (path / "cifar-10-batches-bin").is_dir():
        path = path / "cifar-10-batches-bin"
    train_files = [path / f"data_batch_{i}.bin" for i in range(1, 6)]
    train_files = [f for f in train_files if f.is_file()]
    if not train_files:
        raise DataError(
            f"{_where(path)}: no training batch found (data_batch_1.bin .. data_batch_5.bin)"
        )
    test_file = path / "test_batch.bin"
    if not test_file.is_file():
        raise DataError(f"{_where(path)}: missing test_batch.bin")
    meta_file = path / "batches.meta.txt"
    if classes is None:
        if meta_file.is_file():
            try:
                lines = _raw(meta_file).decode("utf-8").splitlines()
            except UnicodeDecodeError as e:
                raise DataError(f"{_where(meta_file)}: not a text file ({e})") from e
            classes = [ln.strip() for ln in lines if ln.strip()]
            if not classes:
                raise DataError(f"{_where(meta_file)}: holds no class names")
        else:
            classes = list(CIFAR10_CLASSES)
    classes = [str(c) for c in classes]
    parts = []
    for f in [*train_files, test_file]:
        x, y = read_cifar_bin(f)
        _check_labels(f, y, classes)
        parts.append((x, y))
    x_train = np.concatenate([p[0] for p in parts[:-1]]).astype(np.float32) / 255.0
    y_train = np.concatenate([p[1] for p in parts[:-1]])
    x_test = parts[-1][0].astype(np.float32) / 255.0
    return Dataset(
        name=path.resolve().name or "cifar",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=parts[-1][1],
        classes=classes,
        kind="image",
        meta={
            "format": "cifar",
            "path": str(path),
            "files": [f.name for f in [*train_files, test_file]],
        },
    )


# --------------------------------------------------------------------------- image folder

_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _class_dirs(folder: Path) -> dict[str, list[Path]]:
    """``{class name: image files}`` for each sub-folder of ``folder`` that holds images."""
    out = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _image_files(d)
        if files:
            out[d.name] = files
    return out


def _to_array(img, grey: bool, target: tuple[int, int]) -> np.ndarray:
    """A PIL image as float32 ``1 x H x W`` (grey) or ``3 x H x W`` in [0, 1], resized."""
    from PIL import Image

    h, w = target
    if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit grey: resize as float
        a = np.asarray(img, dtype=np.float32)
        if img.mode.startswith("I;16") or (img.mode == "I" and a.max() > 255):
            a = a / 65535.0
        elif img.mode == "I":
            a = a / 255.0
        if a.shape != target:
            a = np.asarray(Image.fromarray(a).resize((w, h), Image.Resampling.BILINEAR))
        a = np.clip(a, 0.0, 1.0)[None]
        return a if grey else np.repeat(a, 3, axis=0)
    img = img.convert("L" if grey else "RGB")
    if (img.height, img.width) != target:
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return a[None] if grey else a.transpose(2, 0, 1)


@file_format("folder")
def load_folder(
    path: Path,
    size: int | tuple[int, int] | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> Dataset:
    """A folder of images, one sub-folder per class.

    Layout ``root/<class>/*.png`` (split stratified by ``test_fraction`` with ``seed``) or
    ``root/train/<class>/...`` + ``root/test/<class>/...`` (+ ``root/val/<class>/...``, the
    validation split, if present). Class names are the sorted
    sub-folder names (sub-folders without images are ignored). Images are loaded with PIL and
    converted to grey ("L", one channel) when every image has a grey mode (L, 1, LA, I;16, a
    grey palette, ...), else to RGB (three channels; an alpha channel is dropped). They are resized (bilinear) to ``size`` (an int for square, or ``(H, W)``);
    by default to the most common size among the images, so a uniform folder is not resized.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_dir():
        raise DataError(f"{_where(path)}: the folder format expects a folder of class sub-folders")
    _check_fraction(path, test_fraction)
    if (path / "train").is_dir() and (path / "test").is_dir():
        split = {"train": _class_dirs(path / "train"), "test": _class_dirs(path / "test")}
        if (path / "val").is_dir():
            split["val"] = _class_dirs(path / "val")
        if not split["train"]:
            raise DataError(f"{_where(path / 'train', path)}: no class sub-folder holds images")
    else:
        split = {"all": _class_dirs(path)}
        if not split["all"]:
            raise DataError(
                f"{_where(path)}: no images found; expected root/<class>/*.png (or .jpg, ...) "
                "or root/train/<class> and root/test/<class>"
            )
    classes = sorted({c for part in split.values() for c in part})
    entries = {
        part: [(f, classes.index(c)) for c, fs in d.items() for f in fs]
        for part, d in split.items()
    }

    bad = (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError)
    # first pass: headers only (size, mode), which also finds files PIL cannot identify
    sizes: Counter[tuple[int, int]] = Counter()
    all_grey = True
    for part in entries.values():
        for f, _ in part:
            try:
                with Image.open(f) as im:
                    w, h = im.size
                    all_grey &= im.mode in _GREY_MODES or (
                        im.mode == "P" and _grey_palette(im.getpalette())
                    )
            except bad as e:
                raise DataError(
                    f"{_where(f, path)}: unreadable image (not a format Pillow opens, or a "
                    "damaged file)"
                ) from e
            sizes[(h, w)] += 1
    if size is None:
        target = sizes.most_common(1)[0][0]
    elif isinstance(size, int | np.integer):
        target = (int(size), int(size))
    elif isinstance(size, tuple | list) and len(size) == 2:
        target = (int(size[0]), int(size[1]))
    else:
        raise DataError(f"{_where(path)}: size must be an int or (height, width), got {size!r}")
    if min(target) < 1:
        raise DataError(f"{_where(path)}: size must be positive, got {size!r}")

    def load(part: list[tuple[Path, int]]) -> tuple[np.ndarray, np.ndarray]:
        c = 1 if all_grey else 3
        x = np.empty((len(part), c, *target), dtype=np.float32)
        for i, (f, _) in enumerate(part):
            try:
                with Image.open(f) as im:
                    x[i] = _to_array(im, all_grey, target)
            except bad as e:
                raise DataError(
                    f"{_where(f, path)}: unreadable image (not a format Pillow opens, or a "
                    "damaged file)"
                ) from e
        return x, np.array([lab for _, lab in part], dtype=np.int64)

    if "all" in entries:
        x, y = load(entries["all"])
        tr, te = stratified_split(y, test_fraction, seed)
        x_train, y_train, x_test, y_test = x[tr], y[tr], x[te], y[te]
    else:
        x_train, y_train = load(entries["train"])
        x_test, y_test = load(entries["test"])
    x_val, y_val = load(entries["val"]) if "val" in entries else (None, None)
    return Dataset(
        name=path.resolve().name or "folder",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        x_val=x_val,
        y_val=y_val,
        classes=classes,
        kind="image",
        meta={
            "format": "folder",
            "path": str(path),
            "size": list(target),
            "mode": "L" if all_grey else "RGB",
            "resized": sum(n for s, n in sizes.items() if s != target),
            "split": "folders" if "all" not in entries else {"test_fraction": test_fraction},
            "seed": seed,
        },
    )


def _grey_palette(palette: list[int] | None) -> bool:
    if not palette:
        return False
    p = np.asarray(palette).reshape(-1, 3)
    return bool((p[:, 0] == p[:, 1]).all() and (p[:, 1] == p[:, 2]).all())


# --------------------------------------------------------------------------- npz


def _npz_images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    """``N x H x W``, ``N x H x W x C`` or ``N x C x H x W`` -> float32 ``N x C x H x W``."""
    if x.ndim == 3:
        x = x[:, None]
    else:
        chans = (1, 3, 4)
        if x.shape[1] in chans:
            pass  # N x C x H x W (also when both axes could be channels)
        elif x.shape[3] in chans:
            x = x.transpose(0, 3, 1, 2)
        else:
            raise DataError(
                f"{_where(path)}: array {key!r} of shape {x.shape}: cannot tell the channel axis "
                "(expected 1, 3 or 4 channels first or last)"
            )
        if x.shape[1] == 4:
            x = x[:, :3]  # drop alpha
    if x.dtype == np.uint8:
        return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    if x.size == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    if lo >= 0.0 and hi <= 1.0:
        return x
    if lo >= 0.0 and hi <= 255.0:
        return x / 255.0
    raise DataError(
        f"{_where(path)}: image array {key!r} has values in [{lo:g}, {hi:g}]; "
        "expected [0, 1] floats or 0..255"
    )


def _npz_labels(path: Path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1 or len(y) != n:
        raise DataError(f"{_where(path)}: {key!r} must be 1-D with {n} labels, got shape {y.shape}")
    return y


@file_format("npz")
def load_npz(path: Path, test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """A NumPy ``.npz`` with ``x`` and ``y`` (optional ``x_test``/``y_test``,
    ``x_val``/``y_val`` (the validation split), ``classes``).

    Read with ``allow_pickle=False``: object arrays are refused, never unpickled. ``x`` of
    shape ``N x D`` is tabular (standardised with train statistics, stored in ``meta``);
    ``N x H x W``, ``N x H x W x C`` or ``N x C x H x W`` are images (uint8 or 0..255 values
    divided by 255, floats in [0, 1] kept, an alpha channel dropped). Integer labels index
    ``classes`` (default "0".."max"); string labels map to their sorted names. Without test
    arrays the data is split stratified by ``test_fraction`` and ``seed``.
    """
    path = Path(path)
    _check_file(path, "npz")
    _check_fraction(path, test_fraction)
    try:
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as e:
        raise DataError(f"{_where(path)}: cannot read ({e.strerror or e})") from e
    if head.startswith(b"\x93NUMPY"):
        raise DataError(
            f"{_where(path)}: a single .npy array; save x and y together in one archive with "
            "numpy.savez(file, x=..., y=...)"
        )
    if not head.startswith(b"PK"):
        raise DataError(
            f"{_where(path)}: not an .npz archive (an .npz is a zip of arrays written by "
            "numpy.savez); choose the format that matches the file"
        )
    try:
        npz = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        # numpy's own text may advise allow_pickle, which stays off here: not repeated
        raise DataError(f"{_where(path)}: a damaged or incomplete .npz archive") from e
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise DataError(f"{_where(path)}: expected an .npz archive with x and y")
    with npz:
        keys = set(npz.files)
        missing = [k for k in ("x", "y") if k not in keys]
        if missing:
            raise DataError(
                f"{_where(path)}: missing array {' and '.join(missing)}; found {sorted(keys) or 'none'}"
            )
        for part in ("test", "val"):
            if (f"x_{part}" in keys) != (f"y_{part}" in keys):
                raise DataError(f"{_where(path)}: give both x_{part} and y_{part}, or neither")
        arrs = {}
        for k in ("x", "y", "x_test", "y_test", "x_val", "y_val", "classes"):
            if k not in keys:
                continue
            try:
                arrs[k] = npz[k]
            except ValueError as e:  # object arrays need pickle, which stays off
                raise DataError(
                    f"{_where(path)}: array {k!r} is an object array, which would need pickle to "
                    "load; save plain numeric (or fixed-width string) arrays instead"
                ) from e
            except (OSError, zipfile.BadZipFile, EOFError) as e:
                raise DataError(f"{_where(path)}: array {k!r} is corrupt or truncated ({e})") from e

    has_test = "x_test" in arrs
    x, y = arrs["x"], arrs["y"]
    x_te = arrs.get("x_test", x[:0])
    x_va = arrs.get("x_val", x[:0])
    for k, a in (("x", x), ("x_test", x_te), ("x_val", x_va)):
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            raise DataError(f"{_where(path)}: array {k!r} is not numeric (dtype {a.dtype})")
        if a.ndim not in (2, 3, 4):
            raise DataError(
                f"{_where(path)}: array {k!r} has shape {a.shape}; expected N x D (tabular) or "
                "N x H x W, N x H x W x C, N x C x H x W (images)"
            )
        if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
            raise DataError(f"{_where(path)}: array {k!r} holds NaN or infinite values")
    for k, a in (("x_test", x_te), ("x_val", x_va)):
        if x.shape[1:] != a.shape[1:]:
            raise DataError(f"{_where(path)}: x is {x.shape} but {k} is {a.shape}: shapes differ")
    if len(x) == 0:
        raise DataError(f"{_where(path)}: array 'x' is empty")
    y = _npz_labels(path, "y", y, len(x))
    y_te = _npz_labels(path, "y_test", arrs.get("y_test", y[:0]), len(x_te))
    y_va = _npz_labels(path, "y_val", arrs.get("y_val", y[:0]), len(x_va))

    # labels -> class ids
    names = None
    if "classes" in arrs:
        names = [str(c) for c in np.asarray(arrs["classes"]).ravel()]
    if y.dtype.kind in "US":
        labels = np.concatenate([y, y_te, y_va]).astype(str)
        if names is None:
            names = sorted(set(labels.tolist()))
        lookup = {n: i for i, n in enumerate(names)}
        unknown = sorted(set(labels.tolist()) - set(lookup))
        if unknown:
            raise DataError(
                f"{_where(path)}: labels {unknown[:5]} are not among the classes {names}"
            )
        ids = np.array([lookup[v] for v in labels.tolist()], dtype=np.int64)
        y, y_te, y_va = np.split(ids, [len(y), len(y) + len(y_te)])
    else:
        for k, a in (("y", y), ("y_test", y_te), ("y_val", y_va)):
            if not np.issubdtype(a.dtype, np.number) or (
                np.issubdtype(a.dtype, np.floating) and not np.all(np.mod(a, 1) == 0)
            ):
                raise DataError(f"{_where(path)}: labels {k!r} must be integers (dtype {a.dtype})")
        y, y_te, y_va = y.astype(np.int64), y_te.astype(np.int64), y_va.astype(np.int64)
        if names is None:
            top = int(max(a.max() if len(a) else 0 for a in (y, y_te, y_va)))
            names = [str(i) for i in range(max(top + 1, 1))]
        for a in (y, y_te, y_va):
            _check_labels(path, a, names)

    if not has_test:
        tr, te = stratified_split(y, test_fraction, seed)
        x, x_te, y, y_te = x[tr], x[te], y[tr], y[te]
    meta: dict = {"format": "npz", "path": str(path), "seed": seed}
    if x.ndim == 2:
        kind = "tabular"
        x, x_te, stats = _standardise(x.astype(np.float64), x_te.astype(np.float64))
        x_va = ((x_va - np.asarray(stats["mean"])) / np.asarray(stats["std"])).astype(np.float32)
        meta.update(stats)
    else:
        kind = "image"
        x, x_te = _npz_images(path, "x", x), _npz_images(path, "x_test", x_te)
        x_va = _npz_images(path, "x_val", x_va)
    if not has_test:
        meta["split"] = {"test_fraction": test_fraction}
    return Dataset(
        name=path.stem,
        x_train=x,
        y_train=y,
        x_test=x_te,
        y_test=y_te,
        x_val=x_va,
        y_val=y_va,
        classes=names,
        kind=kind,
        meta=meta,
    )


# --------------------------------------------------------------------------- csv


@file_format("csv")
def load_csv(
    path: Path,
    label: str = "label",
    test_fraction: float = 0.2,
    seed: int = 0,
    delimiter: str = ",",
) -> Dataset:
    """A CSV with a header row: column ``label`` holds the class, the others numeric features.

    Integer labels are class ids (names "0".."max"); any other labels are strings mapped to
    their sorted names. Features are standardised with the train mean/std (kept in ``meta``).
    The rows are split stratified by ``test_fraction`` and ``seed``.
    """
    path = Path(path)
    _check_file(path, "csv")
    _check_fraction(path, test_fraction)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            # (line number in the file, cells), blank lines skipped
            rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except UnicodeDecodeError as e:
        raise DataError(
            f"{_where(path)}: not UTF-8 text (byte {e.start} cannot be read); save the CSV as UTF-8"
        ) from e
    except csv.Error as e:
        raise DataError(f"{_where(path)}: malformed CSV ({e})") from e
    except OSError as e:
        raise DataError(f"{_where(path)}: cannot read ({e.strerror or e})") from e
    if not rows:
        raise DataError(f"{_where(path)}: empty file (expected a header row and data rows)")
    header = [h.strip() for h in rows[0][1]]
    if label not in header:
        raise DataError(
            f"{_where(path)}: no label column {label!r}; the columns are "
            f"{', '.join(repr(h) for h in header)}. Name the column that holds the classes as "
            "the label column"
        )
    data = rows[1:]
    if not data:
        raise DataError(f"{_where(path)}: header only, no data rows")
    li = header.index(label)
    feat_cols = [i for i in range(len(header)) if i != li]
    if not feat_cols:
        raise DataError(f"{_where(path)}: only the label column {label!r}; no feature columns")
    x = np.empty((len(data), len(feat_cols)), dtype=np.float64)
    labels = []
    for r, (line, row) in enumerate(data):
        if len(row) != len(header):
            raise DataError(
                f"{_where(path)}: line {line} has {len(row)} cells, the header has {len(header)}"
            )
        for j, ci in enumerate(feat_cols):
            try:
                x[r, j] = float(row[ci])
            except ValueError:
                raise DataError(
                    f"{_where(path)}: line {line}, column {header[ci]!r}: {row[ci]!r} is not a number"
                ) from None
        labels.append(row[li].strip())
    if not np.isfinite(x).all():
        r, j = np.argwhere(~np.isfinite(x))[0]
        raise DataError(
            f"{_where(path)}: line {data[r][0]}, column {header[feat_cols[j]]!r}: NaN or infinite value"
        )
    if "" in labels:
        raise DataError(f"{_where(path)}: line {data[labels.index('')][0]} has an empty label")
    try:
        ints = [int(v) for v in labels]
    except ValueError:
        ints = None
    if ints is not None:
        y = np.asarray(ints, dtype=np.int64)
        if y.min() < 0:
            raise DataError(f"{_where(path)}: negative label {int(y.min())} in column {label!r}")
        classes = [str(i) for i in range(int(y.max()) + 1)]
    else:
        classes = sorted(set(labels))
        lookup = {c: i for i, c in enumerate(classes)}
        y = np.array([lookup[v] for v in labels], dtype=np.int64)
    tr, te = stratified_split(y, test_fraction, seed)
    x_train, x_test, stats = _standardise(x[tr], x[te])
    return Dataset(
        name=path.stem,
        x_train=x_train,
        y_train=y[tr],
        x_test=x_test,
        y_test=y[te],
        classes=classes,
        kind="tabular",
        meta={
            "format": "csv",
            "path": str(path),
            "label_column": label,
            "feature_names": [header[i] for i in feat_cols],
            "split": {"test_fraction": test_fraction},
            "seed": seed,
            **stats,
        },
    )
