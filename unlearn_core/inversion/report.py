"""The self-contained HTML report of a stored inversion attack (``unlearn runs export ID
--html``, the Runs page's report): per forgotten sample the true image, its reconstruction
from the unlearning update and from the baseline update as inline PNG data (no files, no
network), PSNR, SSIM and the inferred against the true label; the means; the setup.

``evaluation.report.render_html`` hands a stored inversion here (with its stylesheet); this
module imports nothing of the report, so there is no import circle.
"""

from __future__ import annotations

import base64
import html
import struct
import zlib
from collections.abc import Mapping, Sequence

import numpy as np

from .records import InversionResult, SampleInversion
from .stored import StoredInversionError, read_inversion

#: the images' shown size (pixels, the longer side), scaled up by whole pixels
SHOWN_PX = 96

_EXTRA_CSS = """
table.gallery td{vertical-align:middle}table.gallery img{image-rendering:pixelated;
border:1px solid #ccc;display:block}figure{margin:0;text-align:center;font-size:.8rem;color:#555}
.right{color:#1a7f37;font-weight:600}.wrong{color:#b42318;font-weight:600}
"""


def png_bytes(pixels: np.ndarray) -> bytes:
    """A PNG (8-bit grey for ``(h, w)``, RGB for ``(h, w, 3)``) of ``uint8`` pixels, written
    with zlib alone."""
    arr = np.ascontiguousarray(pixels, dtype=np.uint8)
    if arr.ndim == 2:
        colour, h, w = 0, *arr.shape
    elif arr.ndim == 3 and arr.shape[2] == 3:
        colour, h, w = 2, arr.shape[0], arr.shape[1]
    else:
        raise ValueError(f"a PNG needs (h, w) or (h, w, 3) pixels, not {arr.shape}")
    raw = b"".join(b"\x00" + arr[i].tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    head = struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def pixels(image: Sequence, lo: float, hi: float, shown: int = SHOWN_PX) -> np.ndarray:
    """An image as stored (channels first, the data's value range ``lo``..``hi``) as ``uint8``
    pixels, enlarged by a whole factor (nearest neighbour) to about ``shown`` pixels a side."""
    arr = (np.asarray(image, dtype=np.float64) - lo) / max(hi - lo, 1e-12)
    arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[2] != 3:  # another channel count: their mean, in grey
        arr = arr.mean(axis=2)
    out = (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)
    scale = max(1, shown // max(out.shape[0], out.shape[1]))
    return np.repeat(np.repeat(out, scale, axis=0), scale, axis=1)


def data_uri(image: Sequence, lo: float, hi: float) -> str:
    """``data:image/png;base64,...`` of a stored image."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(pixels(image, lo, hi))).decode()


def _e(v: object) -> str:
    return html.escape("—" if v is None or v == "" else str(v))


def _n(v: float | None, fmt: str) -> str:
    return "—" if v is None else f"{v:{fmt}}"


def _name(classes: Sequence[str] | None, label: int) -> str:
    if classes and 0 <= label < len(classes):
        return f"{classes[label]}"
    return str(label)


def _img(image: Sequence | None, lo: float, hi: float, caption: str) -> str:
    if image is None:
        return f"<figure>(not stored)<figcaption>{_e(caption)}</figcaption></figure>"
    return (
        f'<figure><img src="{data_uri(image, lo, hi)}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _sample_row(s: SampleInversion, lo: float, hi: float, classes) -> str:
    verdict = "right" if s.label_correct else "wrong"
    return (
        f'<tr><td class="num">#{s.index}</td>'
        f"<td>{_img(s.image, lo, hi, 'true')}</td>"
        f"<td>{_img(s.reconstruction, lo, hi, 'attack')}</td>"
        f"<td>{_img(s.baseline_reconstruction, lo, hi, 'baseline')}</td>"
        f'<td class="num">{s.psnr:.2f}</td><td class="num">{s.ssim:.3f}</td>'
        f'<td class="num">{s.baseline_psnr:.2f}</td><td class="num">{s.baseline_ssim:.3f}</td>'
        f"<td>{_e(_name(classes, s.true_label))}</td>"
        f'<td><span class="{verdict}">{_e(_name(classes, s.inferred_label))}</span> '
        f"({verdict})</td></tr>"
    )


def _means_html(res: InversionResult) -> str:
    acc, bacc = res.label_accuracy, res.baseline_label_accuracy
    rows = [
        ("PSNR (dB)", _n(res.psnr, ".2f"), _n(res.baseline_psnr, ".2f")),
        ("SSIM", _n(res.ssim, ".3f"), _n(res.baseline_ssim, ".3f")),
        (
            "labels inferred right",
            _n(None if acc is None else 100 * acc, ".0f") + " %",
            _n(None if bacc is None else 100 * bacc, ".0f") + " %",
        ),
        ("gradient cosine (diagnostic)", _n(res.gradient_cosine, ".3f"), "—"),
    ]
    trs = "".join(
        f'<tr><td>{_e(k)}</td><td class="num">{a}</td><td class="num">{b}</td></tr>'
        for k, a, b in rows
    )
    return (
        '<table id="means"><thead><tr><th>mean over the samples</th><th>attack</th>'
        f"<th>baseline</th></tr></thead><tbody>{trs}</tbody></table>"
    )


def _setup_html(doc: Mapping, res: InversionResult) -> str:
    rec = doc.get("record") or {}
    setup = doc.get("setup") or {}
    ds = setup.get("dataset") or {}
    versions = setup.get("versions") or {}
    cfg = res.config or {}
    items = [
        ("run", f"{rec.get('id', '')} — saved {rec.get('created', '')}"),
        ("dataset", f"{res.dataset} (fingerprint {ds.get('fingerprint') or 'not recorded'})"),
        ("model", res.model),
        ("unlearning method", f"{res.method} {res.params or ''}".strip()),
        ("forgotten", rec.get("forget")),
        ("seed", res.seed),
        ("baseline update", res.baseline),
        (
            "attack",
            ", ".join(
                f"{k} {cfg[k]}"
                for k in ("iterations", "restarts", "lr", "tv", "labels")
                if k in cfg
            )
            or "not recorded",
        ),  # fmt: skip
        ("time", f"{res.seconds:.1f} s"),
        ("attacked stored run", res.run_id or "—"),
        ("software", ", ".join(f"{k} {v}" for k, v in versions.items()) or "not recorded"),
    ]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    return f'<dl class="setup">{dl}</dl>'


def inversion_html(doc: Mapping, css: str = "") -> str:
    """The report of a stored inversion (a run-store document, ``RunStore.read_comparison``)."""
    try:
        res, classes = read_inversion(doc.get("comparison"))
    except StoredInversionError as exc:
        raise ValueError(str(exc)) from exc
    rec = doc.get("record") or {}
    lo, hi = (res.value_range + [0.0, 1.0])[:2] if res.value_range else (0.0, 1.0)
    title = f"Unlearning inversion attack — {res.dataset} / {res.model} / {res.method}"
    sub = f"{rec.get('forget', '')} · run {rec.get('id', '?')} · {rec.get('created', '')}"
    note = rec.get("note")
    trs = "".join(_sample_row(s, lo, hi, classes) for s in res.samples)
    mode = "in one request (one summed update)" if res.together else "each in a request of its own"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>{css}{_EXTRA_CSS}</style>",
        "</head><body>",
        f'<header><h1>{_e(title)}</h1><p class="sub">{_e(sub)}</p></header>',
        f'<p class="note">{_e(note)}</p>' if note else "",
        '<section id="what"><h2>What the attack did</h2>',
        f"<p>{len(res.samples)} training sample{'s' * (len(res.samples) != 1)} were forgotten "
        f"by {_e(res.method)} {_e(mode)}. An attacker holding the model before and after "
        "unlearning rebuilt each one from the weight change by gradient matching, and guessed "
        "its label from how much the model's confidence in probe inputs of each class fell "
        "(Hu et al., <i>Learn What You Want to Unlearn</i>, IEEE S&amp;P 2024). The baseline "
        "runs the same attack on a weight change of the same size that carries nothing about "
        "the samples: a reconstruction well above the baseline means the unlearning update "
        "itself leaked the sample.</p>",
        _means_html(res),
        "</section>",
        '<section id="samples"><h2>Per sample</h2>',
        "<p>PSNR in decibels (higher = closer to the true image), SSIM (1 = same structure, "
        "0 = unrelated); the images in the data's value range.</p>",
        '<table class="gallery"><thead><tr><th>sample</th><th>true</th><th>reconstructed</th>'
        "<th>baseline</th><th>PSNR (dB)</th><th>SSIM</th><th>baseline PSNR (dB)</th>"
        "<th>baseline SSIM</th><th>true label</th><th>inferred label</th></tr></thead>"
        f"<tbody>{trs}</tbody></table>",
        "</section>",
        '<section id="setup"><h2>Setup</h2>',
        _setup_html(doc, res),
        "".join(f"<p>{_e(n)}</p>" for n in res.notes),
        "</section>",
        "<footer>Made by unlearning-lab. This file is self-contained: it loads nothing from "
        "the network.</footer>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)
