"""A stored inversion attack: the run-store round trip (kind "inversion", the dataset, model
and method it attacked, images included), refusals of other kinds, ``unlearn invert --save``
and ``--no-save``, and the HTML report (inline PNG images of true, reconstructed and baseline,
per-sample PSNR / SSIM / labels and the means; no external resource); ``unlearn runs list``,
``show`` and ``export --html`` on it."""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib

import numpy as np
import pytest

from unlearn_core.cli.main import main
from unlearn_core.inversion import (
    INVERSION_KIND,
    InversionConfig,
    InversionResult,
    load_inversion,
    run_inversion,
    save_inversion,
)
from unlearn_core.inversion.report import png_bytes
from unlearn_core.store import DatasetMismatchError, RunStore, UnknownRunError
from unlearn_core.training import TrainConfig

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def result(digits, digits_mlp) -> InversionResult:
    """A real (short) attack: samples 5 and 17 forgotten one at a time by NegGrad."""
    return run_inversion(
        digits, "mlp", [5, 17], "neggrad", {"stop": "off"}, seed=0,
        recipe=TrainConfig(epochs=15, batch_size=64),
        cfg=InversionConfig(iterations=30, restarts=1, probes_per_class=2, probe_steps=30),
        device="cpu", original=digits_mlp,
    )  # fmt: skip


def test_round_trip_keeps_everything_and_lists_as_inversion(tmp_path, digits, result):
    store = RunStore(tmp_path / "runs")
    rec = save_inversion(store, result, digits, recipe=TrainConfig(epochs=15))
    assert rec.kind == INVERSION_KIND and rec.id.startswith("c")
    assert (rec.dataset, rec.model, rec.methods) == ("digits", "mlp", ["neggrad"])
    assert rec.forget == "samples #5, #17 (one request each)" and rec.seeds == [0]
    assert rec.fingerprint is not None
    listed = store.list_comparisons()
    assert [(r.id, r.kind) for r in listed] == [(rec.id, "inversion")]
    row = listed[0].rows[0]
    assert row["psnr"] == pytest.approx(result.psnr) and row["samples"] == 2
    assert row["label_acc"] == pytest.approx(100 * result.label_accuracy)
    back, classes, doc = load_inversion(store, rec.id)
    assert back.to_dict() == json.loads(json.dumps(result.to_dict()))
    assert np.allclose(back.samples[1].reconstruction, result.samples[1].reconstruction)
    assert classes == list(digits.classes)
    assert doc["setup"]["recipe"]["epochs"] == 15
    assert doc["record"]["owner"] == ""  # stored outside the app: nobody's


def test_other_kinds_and_other_data_are_refused(tmp_path, digits, result):
    from unlearn_core.data import load_dataset

    store = RunStore(tmp_path / "runs")
    other = store.save_comparison(
        {"dataset": "digits", "model": "mlp", "results": [{"method": "retrain"}]},
        dataset=digits, save_models=False,
    )  # fmt: skip
    with pytest.raises(UnknownRunError, match="comparison, not an inversion"):
        load_inversion(store, other.id)
    with pytest.raises(DatasetMismatchError):
        save_inversion(store, result, load_dataset("moons"))
    assert [r.id for r in store.list_comparisons()] == [other.id]


def _png_size(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h, _depth, colour = struct.unpack(">IIBB", data[16:26])
    return w, h, colour


def test_png_encoder_writes_what_it_is_given():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    data = png_bytes(grey)
    assert _png_size(data) == (4, 3, 0)
    idat = data[data.index(b"IDAT") + 4 :]
    raw = zlib.decompress(idat[: struct.unpack(">I", data[data.index(b"IDAT") - 4 :][:4])[0]])
    assert raw == b"".join(b"\x00" + grey[i].tobytes() for i in range(3))
    assert _png_size(png_bytes(np.zeros((5, 2, 3), np.uint8))) == (2, 5, 2)
    with pytest.raises(ValueError):
        png_bytes(np.zeros((2, 2, 2), np.uint8))


def test_report_shows_every_sample_with_its_images_and_figures(tmp_path, digits, result):
    store = RunStore(tmp_path / "runs")
    rec = save_inversion(store, result, digits)
    page = store.export_html(rec.id, tmp_path / "report.html").read_text()
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(uris) == 3 * len(result.samples)  # true, reconstructed, baseline per sample
    for uri in uris:  # 8 x 8 digits, enlarged 12 times, grey
        assert _png_size(base64.b64decode(uri)) == (96, 96, 0)
    # the true image's pixels are the stored image's
    first = base64.b64decode(uris[0])
    lo, hi = result.value_range
    want = np.round(np.clip((np.asarray(result.samples[0].image[0]) - lo) / (hi - lo), 0, 1) * 255)
    idat = first[first.index(b"IDAT") + 4 : first.index(b"IEND") - 8]
    rows = zlib.decompress(idat)
    assert rows[1 : 1 + 96 : 12] == bytes(want[0].astype(np.uint8))
    for s in result.samples:
        assert f"#{s.index}" in page
        assert f"{s.psnr:.2f}" in page and f"{s.ssim:.3f}" in page
        assert f"{s.baseline_psnr:.2f}" in page
        assert f"<td>{digits.classes[s.true_label]}</td>" in page
        verdict = "right" if s.label_correct else "wrong"
        assert f'class="{verdict}">{digits.classes[s.inferred_label]}</span>' in page
    means = page[page.index('id="means"') :]
    assert f"{result.psnr:.2f}" in means and f"{result.baseline_psnr:.2f}" in means
    assert f"{100 * result.label_accuracy:.0f} %" in means
    assert "neggrad" in page and rec.id in page
    assert not re.search(r'(src|href)="(?!data:)', page)  # nothing loaded from elsewhere
    assert "Verdict against retraining" not in page  # not a comparison's report


def test_cli_saves_by_default_and_runs_commands_read_it(tmp_path, capsys):
    home = tmp_path / "runs"
    args = ["invert", "--dataset", "digits", "--model", "mlp", "--samples", "5",
            "--method", "neggrad", "--param", "stop=off", "--epochs", "2", "--iterations", "20",
            "--restarts", "1", "--json", "--no-progress", "--home", str(home)]  # fmt: skip
    assert main(args + ["--no-save"]) == 0
    assert "stored_id" not in json.loads(capsys.readouterr().out)
    assert RunStore(home).list_comparisons() == []
    assert main(args) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    rid = doc["stored_id"]
    assert f"saved inversion {rid}" in captured.err
    res, _, stored = load_inversion(RunStore(home), rid)
    assert res.psnr == pytest.approx(doc["psnr"]) and res.samples[0].index == 5
    assert stored["setup"]["recipe"]["epochs"] == 2
    assert main(["runs", "list", "--home", str(home)]) == 0
    listing = capsys.readouterr().out
    assert rid in listing and "inversion" in listing
    assert main(["runs", "show", rid, "--home", str(home), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kind"] == "inversion" and shown["inversion"]["method"] == "neggrad"
    assert main(["runs", "show", rid, "--home", str(home)]) == 0
    text = capsys.readouterr().out
    assert "baseline PSNR (dB)" in text and f"{res.psnr:.2f}" in text and "verdict" not in text
    out = tmp_path / "r.html"
    assert main(["runs", "export", rid, "--html", str(out), "--home", str(home)]) == 0
    assert out.read_text().count("data:image/png;base64,") == 3
