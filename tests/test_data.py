"""Built-in sources and file loaders: real small files written to tmp_path, malformed ones too."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn_core.data import DataError, list_datasets, load_dataset
from unlearn_core.data import load_file as load_file_with_validation
from unlearn_core.data.loaders import CIFAR10_CLASSES, FASHION_CLASSES
from unlearn_core.data.synthetic import SHAPE_CLASSES


def load_file(path, fmt, **kw):
    """The loaders as they read a file: most tests here check a format's own train / test
    split, so no validation split is carved (the validation tests call the real default)."""
    return load_file_with_validation(path, fmt, **{"val_fraction": 0, **kw})


# --------------------------------------------------------------------------- built-in sources


def test_registry_lists_builtins():
    assert {"digits", "moons", "blobs", "shapes"} <= set(list_datasets())
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("nope")


def test_digits():
    d = load_dataset("digits")
    # 1438 training samples before the validation split: 10% of each class held out
    assert (d.n_train, d.n_val, d.n_test) == (1295, 143, 359)
    assert d.class_counts("val").tolist() == [
        round(0.1 * n) for n in (d.class_counts("train") + d.class_counts("val")).tolist()
    ]
    assert d.input_shape == (1, 8, 8) and d.num_classes == 10
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) <= 1.0


@pytest.mark.parametrize(
    ("name", "kw", "classes"),
    [
        ("moons", {}, ["moon A", "moon B"]),
        ("blobs", {"centers": 3}, ["blob 0", "blob 1", "blob 2"]),
    ],
)
def test_toy_points(name, kw, classes):
    d = load_dataset(name, n_train=300, n_test=100, seed=1, **kw)
    assert d.kind == "points2d" and d.classes == classes
    # 300 generated for training, of which 10% are held out for validation
    assert d.x_train.shape == (270, 2) and d.x_val.shape == (30, 2)
    assert d.x_test.shape == (100, 2)
    # standardised with the statistics of the 300 generated for training
    both = torch.cat([d.x_train, d.x_val])
    assert torch.allclose(both.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(both.std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert len(d.meta["mean"]) == 2 and all(s > 0 for s in d.meta["std"])
    assert set(d.y_train.tolist()) == set(range(len(classes)))
    again = load_dataset(name, n_train=300, n_test=100, seed=1, **kw)
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_test, again.y_test)
    other = load_dataset(name, n_train=300, n_test=100, seed=2, **kw)
    assert not torch.equal(d.x_train, other.x_train)
    thumb = d.image(0)
    assert thumb.dtype == np.uint8 and thumb.ndim == 2


def test_toy_points_validate():
    with pytest.raises(DataError, match="n_train"):
        load_dataset("moons", n_train=1)
    with pytest.raises(DataError, match="noise"):
        load_dataset("moons", noise=-1.0)
    with pytest.raises(DataError, match="centers"):
        load_dataset("blobs", centers=1)


def test_shapes():
    d = load_dataset("shapes", n_train=500, n_test=100, seed=3, val_fraction=0)
    assert d.kind == "image" and d.classes == SHAPE_CLASSES and d.num_classes == 10
    assert len(set(SHAPE_CLASSES)) == 10
    assert d.x_train.shape == (500, 3, 32, 32) and d.x_test.shape == (100, 3, 32, 32)
    assert d.x_train.dtype == torch.float32
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) <= 1.0
    assert d.class_counts("train").tolist() == [50] * 10
    assert d.class_counts("test").tolist() == [10] * 10
    # deterministic per seed, different across seeds; the test set ignores n_train
    again = load_dataset("shapes", n_train=500, n_test=100, seed=3, val_fraction=0)
    assert torch.equal(d.x_train, again.x_train) and torch.equal(d.y_train, again.y_train)
    assert not torch.equal(d.x_train, load_dataset("shapes", n_train=500, seed=4).x_train)
    bigger = load_dataset("shapes", n_train=600, n_test=100, seed=3)
    assert torch.equal(d.x_test, bigger.x_test)
    img = d.image(0)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    # images of one class differ (colour, position, noise), and are not blank
    same = d.x_train[d.y_train == 0]
    assert not torch.equal(same[0], same[1])
    assert float(d.x_train.std(dim=(1, 2, 3)).min()) > 0.05


def test_shapes_classes_are_distinct():
    """Mean shape masks per class differ: a nearest-centroid on a foreground map separates them."""
    d = load_dataset("shapes", n_train=1000, n_test=500, size=24, seed=0)

    def fg(x: torch.Tensor) -> torch.Tensor:  # distance of each pixel to the image's corners
        corners = torch.stack([x[:, :, 0, 0], x[:, :, 0, -1], x[:, :, -1, 0], x[:, :, -1, -1]])
        ref = corners.median(0).values[:, :, None, None]
        return ((x - ref).abs().sum(1) > 0.5).float().flatten(1)

    ftr, fte = fg(d.x_train), fg(d.x_test)
    cent = torch.stack([ftr[d.y_train == c].mean(0) for c in range(10)])
    acc = float((torch.cdist(fte, cent).argmin(1) == d.y_test).float().mean())
    assert acc > 0.25  # far above chance (0.1; measured 0.35) despite position and scale


def test_shapes_sizes_and_validation():
    small = load_dataset("shapes", n_train=100, n_test=0, size=8, val_fraction=0)
    assert small.x_train.shape == (100, 3, 8, 8) and small.n_test == 0
    with pytest.raises(DataError, match="size"):
        load_dataset("shapes", size=7)
    with pytest.raises(DataError, match="per class"):
        load_dataset("shapes", n_train=99)
    with pytest.raises(DataError, match="n_test"):
        load_dataset("shapes", n_test=-1)


# --------------------------------------------------------------------------- idx


def _idx_bytes(arr: np.ndarray) -> bytes:
    magic = 0x0800 | arr.ndim
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_idx_folder(folder: Path, gz: bool, n_train=20, n_test=10, seed=0) -> dict:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }
    for name, arr in arrays.items():
        raw = _idx_bytes(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (folder / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx(tmp_path, gz):
    arrays = _write_idx_folder(tmp_path / "mnist", gz)
    d = load_file(tmp_path / "mnist", "idx")
    assert d.kind == "image" and d.input_shape == (1, 28, 28)
    assert (d.n_train, d.n_test) == (20, 10)
    assert d.classes == [str(i) for i in range(10)]
    assert d.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert d.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert np.array_equal(d.image(3), arrays["train-images-idx3-ubyte"][3])
    assert np.array_equal(d.image(2, "test"), arrays["t10k-images-idx3-ubyte"][2])
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) <= 1.0


def test_idx_class_names(tmp_path):
    _write_idx_folder(tmp_path / "fashion-mnist", gz=True)
    assert load_file(tmp_path / "fashion-mnist", "idx").classes == FASHION_CLASSES
    assert load_file(tmp_path / "fashion-mnist", "idx", fashion=False).classes[0] == "0"
    names = [f"c{i}" for i in range(10)]
    assert load_file(tmp_path / "fashion-mnist", "idx", classes=names).classes == names
    with pytest.raises(DataError, match="out of range"):
        load_file(tmp_path / "fashion-mnist", "idx", classes=["a", "b"])


def test_idx_malformed(tmp_path):
    folder = tmp_path / "mnist"
    arrays = _write_idx_folder(folder, gz=False)
    # bad magic: a labels file (0x801) where images (0x803) are expected
    img = folder / "train-images-idx3-ubyte"
    img.write_bytes(_idx_bytes(arrays["train-labels-idx1-ubyte"]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*magic"):
        load_file(folder, "idx")
    # truncated payload
    img.write_bytes(_idx_bytes(arrays["train-images-idx3-ubyte"])[:-100])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte.*truncated"):
        load_file(folder, "idx")
    # truncated gzip stream
    img.unlink()
    gz = gzip.compress(_idx_bytes(arrays["train-images-idx3-ubyte"]))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz"):
        load_file(folder, "idx")
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gz)
    # label count differs from image count
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte.*3 labels"):
        load_file(folder, "idx")
    # label out of range
    (folder / "t10k-labels-idx1-ubyte").write_bytes(_idx_bytes(np.full(10, 12, np.uint8)))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*label 12"):
        load_file(folder, "idx")
    # missing file
    (folder / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_file(folder, "idx")


# --------------------------------------------------------------------------- cifar


def _cifar_records(n: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 10).astype(np.uint8)
    pix = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    rec = np.concatenate([labels[:, None], pix.reshape(n, -1)], axis=1)
    return rec.tobytes(), labels, pix


def test_cifar(tmp_path):
    b1, y1, p1 = _cifar_records(12, 1)
    b3, y3, p3 = _cifar_records(8, 3)
    bt, yt, pt = _cifar_records(10, 9)
    (tmp_path / "data_batch_1.bin").write_bytes(b1)
    (tmp_path / "data_batch_3.bin").write_bytes(b3)  # any subset of the five
    (tmp_path / "test_batch.bin").write_bytes(bt)
    d = load_file(tmp_path, "cifar")
    assert d.classes == CIFAR10_CLASSES
    assert d.x_train.shape == (20, 3, 32, 32) and d.x_test.shape == (10, 3, 32, 32)
    assert d.y_train.tolist() == [*y1.tolist(), *y3.tolist()]
    assert d.y_test.tolist() == yt.tolist()
    assert np.array_equal(d.image(13), p3[1].transpose(1, 2, 0))  # H x W x RGB
    assert np.array_equal(d.image(0, "test"), pt[0].transpose(1, 2, 0))
    names = [f"k{i}" for i in range(10)]
    (tmp_path / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    assert load_file(tmp_path, "cifar").classes == names


def test_cifar_malformed(tmp_path):
    bt, _, _ = _cifar_records(4, 0)
    (tmp_path / "test_batch.bin").write_bytes(bt)
    with pytest.raises(DataError, match="data_batch_1.bin"):
        load_file(tmp_path, "cifar")  # no training batch
    (tmp_path / "data_batch_1.bin").write_bytes(bt[:-5])
    with pytest.raises(DataError, match=r"data_batch_1\.bin.*multiple of the 3073"):
        load_file(tmp_path, "cifar")
    bad = bytearray(bt)
    bad[0] = 10  # label 10 with ten classes
    (tmp_path / "data_batch_1.bin").write_bytes(bytes(bad))
    with pytest.raises(DataError, match=r"data_batch_1\.bin.*label 10"):
        load_file(tmp_path, "cifar")
    (tmp_path / "data_batch_1.bin").write_bytes(bt)
    (tmp_path / "test_batch.bin").unlink()
    with pytest.raises(DataError, match="test_batch.bin"):
        load_file(tmp_path, "cifar")


# --------------------------------------------------------------------------- image folder


def _png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_folder_rgb_split(tmp_path):
    rng = np.random.default_rng(0)
    for c in ("cat", "dog", "eel"):
        for i in range(10):
            _png(tmp_path / c / f"{i}.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    # one odd-sized grey image: resized to the common size, expanded to RGB
    _png(tmp_path / "dog" / "odd.png", np.full((20, 20), 7, np.uint8))
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    d = load_file(tmp_path, "folder", test_fraction=0.2, seed=0)
    assert d.classes == ["cat", "dog", "eel"] and d.kind == "image"
    assert d.input_shape == (3, 12, 10)
    assert d.n_train + d.n_test == 31 and d.class_counts("test").tolist() == [2, 2, 2]
    assert d.meta["size"] == [12, 10] and d.meta["resized"] == 1 and d.meta["mode"] == "RGB"
    assert float(d.x_train.min()) >= 0.0 and float(d.x_train.max()) <= 1.0
    img = d.image(0)
    assert img.shape == (12, 10, 3) and img.dtype == np.uint8
    assert np.array_equal(d.image(0), np.asarray(_first_image(tmp_path / "cat")))
    # explicit size
    assert load_file(tmp_path, "folder", size=8).input_shape == (3, 8, 8)


def _first_image(folder: Path):
    from PIL import Image

    return Image.open(sorted(folder.glob("*.png"))[0]).convert("RGB")


def test_folder_grey_train_test(tmp_path):
    for part, n in (("train", 4), ("test", 2)):
        for c in ("a", "b"):
            for i in range(n):
                _png(tmp_path / part / c / f"{i}.png", np.full((9, 9), 40 * i + 1, np.uint8))
    d = load_file(tmp_path, "folder")
    assert d.input_shape == (1, 9, 9) and d.meta["mode"] == "L"
    assert (d.n_train, d.n_test) == (8, 4)
    assert d.y_train.tolist() == [0] * 4 + [1] * 4
    assert d.image(1).shape == (9, 9) and int(d.image(1)[0, 0]) == 41


def test_folder_malformed(tmp_path):
    (tmp_path / "empty" / "cls").mkdir(parents=True)
    with pytest.raises(DataError, match="empty.*no images"):
        load_file(tmp_path / "empty", "folder")
    bad = tmp_path / "bad"
    _png(bad / "a" / "ok.png", np.zeros((4, 4), np.uint8))
    (bad / "a" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DataError, match=r"broken\.png.*unreadable"):
        load_file(bad, "folder")


# --------------------------------------------------------------------------- npz


def test_npz_images_nhwc_split(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 6, 5, 3), dtype=np.uint8)
    y = np.arange(40) % 4
    f = tmp_path / "imgs.npz"
    np.savez(f, x=x, y=y, classes=np.array(["w", "x", "y", "z"]))
    d = load_file(f, "npz", test_fraction=0.2, seed=1)
    assert d.kind == "image" and d.input_shape == (3, 6, 5)
    assert d.classes == ["w", "x", "y", "z"]
    assert (d.n_train, d.n_test) == (32, 8) and d.class_counts("test").tolist() == [2] * 4
    # each train image is one of the originals, unchanged
    i = int(np.flatnonzero(np.all(x.reshape(40, -1) == d.image(0).reshape(-1), axis=1))[0])
    assert int(d.y_train[0]) == y[i]


def test_npz_images_given_test_and_nchw_floats(tmp_path):
    x = np.random.default_rng(1).random((10, 1, 4, 4)).astype(np.float32)
    f = tmp_path / "f.npz"
    np.savez(f, x=x, y=np.arange(10) % 2, x_test=x[:3], y_test=np.array([1, 0, 1]))
    d = load_file(f, "npz")
    assert d.input_shape == (1, 4, 4) and (d.n_train, d.n_test) == (10, 3)
    assert torch.equal(d.x_train, torch.from_numpy(x))  # floats in [0, 1] kept as they are
    assert d.classes == ["0", "1"]
    assert d.image(0).shape == (4, 4)


def test_npz_tabular_string_labels(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(5.0, 3.0, (50, 4))
    y = np.array(["spam", "ham"] * 25)
    f = tmp_path / "tab.npz"
    np.savez(f, x=x, y=y)
    d = load_file(f, "npz")
    assert d.kind == "tabular" and d.input_shape == (4,) and d.classes == ["ham", "spam"]
    assert torch.allclose(d.x_train.mean(0), torch.zeros(4), atol=1e-5)
    assert len(d.meta["mean"]) == 4
    assert d.image(0).dtype == np.uint8


class _Canary:
    """Unpickling this sets a flag: proof that a loader unpickled something."""

    fired = False

    def __reduce__(self):
        return (_fire, ())


def _fire():
    _Canary.fired = True
    return "boom"


def test_npz_refuses_object_arrays(tmp_path):
    f = tmp_path / "evil.npz"
    obj = np.empty(3, dtype=object)
    obj[:] = [_Canary(), _Canary(), _Canary()]
    np.savez(f, x=np.zeros((3, 2)), y=obj)  # savez pickles object arrays
    _Canary.fired = False
    with pytest.raises(DataError, match=r"evil\.npz.*object array"):
        load_file(f, "npz")
    assert not _Canary.fired
    # a plain pickle file renamed .npz is refused as well
    g = tmp_path / "pickled.npz"
    g.write_bytes(pickle.dumps({"x": _Canary()}))
    with pytest.raises(DataError, match=r"pickled\.npz"):
        load_file(g, "npz")
    assert not _Canary.fired


def test_npz_malformed(tmp_path):
    f = tmp_path / "m.npz"
    np.savez(f, x=np.zeros((4, 2)))
    with pytest.raises(DataError, match=r"m\.npz.*missing array y"):
        load_file(f, "npz")
    np.savez(f, x=np.zeros((4, 2)), y=np.arange(3))
    with pytest.raises(DataError, match=r"m\.npz.*4 labels"):
        load_file(f, "npz")
    np.savez(f, x=np.zeros((4, 2)), y=np.array([0, 1, -1, 0]))
    with pytest.raises(DataError, match=r"m\.npz.*label -1"):
        load_file(f, "npz")
    np.savez(f, x=np.zeros(4), y=np.arange(4))
    with pytest.raises(DataError, match=r"m\.npz.*shape"):
        load_file(f, "npz")
    np.savez(f, x=np.full((4, 3, 3), -2.0), y=np.arange(4))
    with pytest.raises(DataError, match=r"m\.npz.*values"):
        load_file(f, "npz")
    good = f.read_bytes()
    f.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"m\.npz"):
        load_file(f, "npz")


# --------------------------------------------------------------------------- csv


def test_csv_string_labels(tmp_path):
    rng = np.random.default_rng(0)
    rows = ["a,b,species,c"]
    for i in range(30):
        v = rng.normal(size=3) * [1, 10, 100] + [0, 5, -3]
        rows.append(f"{v[0]:.4f},{v[1]:.4f},{['setosa', 'virginica', 'iris'][i % 3]},{v[2]:.4f}")
    f = tmp_path / "flowers.csv"
    f.write_text("\n".join(rows) + "\n\n")
    d = load_file(f, "csv", label="species", test_fraction=0.2, seed=0)
    assert d.kind == "tabular" and d.input_shape == (3,)
    assert d.classes == ["iris", "setosa", "virginica"]
    assert (d.n_train, d.n_test) == (24, 6) and d.class_counts("test").tolist() == [2, 2, 2]
    assert d.meta["feature_names"] == ["a", "b", "c"]
    assert torch.allclose(d.x_train.mean(0), torch.zeros(3), atol=1e-5)
    assert torch.allclose(d.x_train.std(0, unbiased=False), torch.ones(3), atol=1e-4)
    # undoing the standardisation gives back rows of the file, with their labels
    cells = [r.split(",") for r in rows[1:]]
    raw = np.array([[float(c[0]), float(c[1]), float(c[3])] for c in cells])
    names = [c[2] for c in cells]
    back = d.x_train.double().numpy() * d.meta["std"] + d.meta["mean"]
    for row, lab in zip(back, d.y_train.tolist(), strict=True):
        i = int(np.abs(raw - row).sum(1).argmin())
        assert np.allclose(raw[i], row, atol=1e-3) and names[i] == d.classes[lab]
    assert d.image(0).ndim == 2


def test_csv_int_labels(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("x1,label\n" + "".join(f"{i},{i % 3}\n" for i in range(15)))
    d = load_file(f, "csv")
    assert d.classes == ["0", "1", "2"] and d.n_train + d.n_test == 15
    # labels follow their rows: x1 % 3 == label
    x_raw = d.x_train[:, 0] * d.meta["std"][0] + d.meta["mean"][0]
    assert torch.equal(x_raw.round().long() % 3, d.y_train)


def test_csv_malformed(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("a,b,target\n1,2,0\n3,4,1\n")
    with pytest.raises(DataError, match=r"bad\.csv.*no label column 'label'.*'target'"):
        load_file(f, "csv")
    f.write_text("a,b,label\n1,2,0\n3,oops,1\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 3, column 'b': 'oops' is not a number"):
        load_file(f, "csv")
    f.write_text("a,b,label\n1,2,0\n3,1\n")
    with pytest.raises(DataError, match=r"bad\.csv: line 3 has 2 cells"):
        load_file(f, "csv")
    f.write_text("")
    with pytest.raises(DataError, match=r"bad\.csv.*empty"):
        load_file(f, "csv")


def test_load_file_errors(tmp_path):
    with pytest.raises(DataError, match="unknown format"):
        load_file(tmp_path, "xls")
    with pytest.raises(DataError, match="no such file"):
        load_file(tmp_path / "absent.csv", "csv")
    with pytest.raises(DataError, match="expects a file"):
        load_file(tmp_path, "csv")
    (tmp_path / "x.npz").write_bytes(b"")
    with pytest.raises(DataError, match="expects a folder"):
        load_file(tmp_path / "x.npz", "idx")


# ------------------------------------------------------------------ messages a user reads


def test_npz_messages_name_the_problem_without_numpy_advice(tmp_path):
    f = tmp_path / "random.npz"
    f.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(DataError) as exc:
        load_file(f, "npz")
    msg = str(exc.value)
    assert msg.startswith("random.npz: not an .npz archive")
    assert "pickle" not in msg.lower()  # numpy's "allow_pickle" advice does not apply here
    g = tmp_path / "single.npz"
    with g.open("wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(DataError, match=r"single\.npz: a single \.npy array; save x and y"):
        load_file(g, "npz")


def test_csv_without_label_column_says_what_to_do_once(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("a,b\n1,2\n3,4\n")
    with pytest.raises(DataError) as exc:
        load_file(f, "csv")
    msg = str(exc.value)
    assert msg == (
        "t.csv: no label column 'label'; the columns are 'a', 'b'. Name the column that holds "
        "the classes as the label column"
    )
    assert ".." not in msg and "label=<" not in msg


def test_loader_messages_never_show_the_server_folders(tmp_path):
    """Uploads land in a temporary folder: messages name the file, not where it was put."""
    cases = []
    (tmp_path / "r.npz").write_bytes(b"not an archive")
    cases.append((tmp_path / "r.npz", "npz"))
    (tmp_path / "t.csv").write_text("a,label\n1,x\n2,\n")
    cases.append((tmp_path / "t.csv", "csv"))
    (tmp_path / "b.bin").mkdir()
    (tmp_path / "b.bin" / "data_batch_1.bin").write_bytes(b"\0" * 10)
    (tmp_path / "b.bin" / "test_batch.bin").write_bytes(b"\0" * 10)
    cases.append((tmp_path / "b.bin", "cifar"))
    imgs = tmp_path / "imgs" / "cat"
    imgs.mkdir(parents=True)
    (imgs / "broken.png").write_bytes(b"no png")
    cases.append((tmp_path / "imgs", "folder"))
    (tmp_path / "mnist").mkdir()
    cases.append((tmp_path / "mnist", "idx"))
    for path, fmt in cases:
        with pytest.raises(DataError) as exc:
            load_file(path, fmt)
        assert str(tmp_path) not in str(exc.value), (fmt, str(exc.value))
    with pytest.raises(DataError, match=r"imgs/cat/broken\.png: unreadable image"):
        load_file(tmp_path / "imgs", "folder")


def test_validation_split_is_carved_seeded_and_disjoint():
    whole = load_dataset("digits", val_fraction=0)
    d = load_dataset("digits")
    assert whole.n_val == 0 and whole.n_train == d.n_train + d.n_val
    assert d.meta["validation"] == {"fraction": 0.1, "seed": 0}
    w = torch.randn(64, dtype=torch.float64)  # a row's "hash": train + val is the old train set

    def keys(x):
        return torch.sort(x.flatten(1).double() @ w).values

    assert torch.allclose(keys(torch.cat([d.x_train, d.x_val])), keys(whole.x_train))
    assert torch.equal(load_dataset("digits").x_val, d.x_val)  # seeded
    other = load_dataset("digits", seed=1)  # one seed draws the whole split
    assert not torch.equal(other.x_val, d.x_val)
    assert d.with_validation(0.2) is d  # a dataset that has one keeps it
    assert d.without_test().n_test == 0 and d.without_test().n_val == d.n_val


def test_npz_and_folder_bring_their_own_validation(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(60, 4)), np.repeat([0, 1, 2], 20)
    path = tmp_path / "own.npz"
    np.savez(path, x=x, y=y, x_test=x[:9], y_test=y[:9], x_val=x[:6] + 1, y_val=y[:6])
    d = load_file_with_validation(path, "npz")
    assert (d.n_train, d.n_val, d.n_test) == (60, 6, 9)
    assert "validation" not in d.meta  # the file's own split, not a carved one
    # the file's x_val is standardised with the training statistics like x_test
    mean, std = x.mean(0), x.std(0)
    assert np.allclose(d.x_val.numpy(), (x[:6] + 1 - mean) / std, atol=1e-5)
    np.savez(path, x=x, y=y, x_val=x[:6])
    with pytest.raises(DataError, match="x_val and y_val"):
        load_file_with_validation(path, "npz")
