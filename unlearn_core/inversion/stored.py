"""An inversion attack in the run store: a run of its own kind (``"inversion"``), stored as
audits and sweeps are (``RunStore.save_comparison`` of a body with a ``kind``), so that
``unlearn runs list|show|delete|export``, the app's Runs page and the owner rules apply.

The body (:func:`inversion_body`) holds the dataset, model, method, seed and the forgotten
samples in the fields every run has (the run store's headline reads them), one flat row with
the attack's means (:data:`INVERSION_COLUMNS`), the dataset's class names (so that the stored
attack is shown without rebuilding its data) and the whole :class:`InversionResult`, images
included, under ``"inversion"``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..evaluation.tables import Column
from .records import InversionResult

#: the run store's kind of a stored inversion attack (the body's and the record's ``kind``)
INVERSION_KIND = "inversion"

#: the headline row of a stored inversion (the Runs page's "One run" table)
INVERSION_COLUMNS: tuple[Column, ...] = (
    Column("method", "method", text=True),
    Column("samples", "samples", fmt=".0f", help="forgotten training samples reconstructed"),
    Column("psnr", "PSNR", "dB", help="mean over the samples; higher = closer to the true image"),
    Column(
        "baseline_psnr", "baseline PSNR", "dB", help="the same attack on an uninformative update"
    ),
    Column("ssim", "SSIM", fmt=".3f", help="mean structural similarity (1 = same image)"),
    Column("baseline_ssim", "baseline SSIM", fmt=".3f"),
    Column("label_acc", "labels right", "%", fmt=".0f", help="label inference's accuracy"),
    Column("seconds", "time", "s", fmt=".1f"),
)


class StoredInversionError(ValueError):
    """A stored run that is not (or no longer) a readable inversion attack."""


def forget_text(res: InversionResult) -> str:
    """What was forgotten, in words: ``samples #5, #17 (one request each)``."""
    idx = ", ".join(f"#{s.index}" for s in res.samples)
    how = "in one request" if res.together else "one request each"
    return f"sample{'s' * (len(res.samples) != 1)} {idx} ({how})"


def headline_row(res: InversionResult) -> dict:
    """The flat row of :data:`INVERSION_COLUMNS` (label accuracy in percent)."""
    acc = res.label_accuracy
    return {
        "method": res.method,
        "samples": len(res.samples),
        "psnr": res.psnr,
        "baseline_psnr": res.baseline_psnr,
        "ssim": res.ssim,
        "baseline_ssim": res.baseline_ssim,
        "label_acc": None if acc is None else 100.0 * acc,
        "seconds": res.seconds,
        "error": None,
    }


def inversion_body(res: InversionResult, classes: Sequence[str] | None = None) -> dict:
    """The run-store body of ``res`` (``RunStore.save_comparison`` takes it as a dict)."""
    return {
        "kind": INVERSION_KIND,
        "dataset": res.dataset,
        "model": res.model,
        "forget": {
            "description": forget_text(res),
            "indices": [s.index for s in res.samples],
            "together": res.together,
            "n_forget": len(res.samples),
        },
        "seeds": [res.seed],
        "classes": [str(c) for c in classes] if classes is not None else None,
        "results": [headline_row(res)],
        "inversion": res.to_dict(images=True),
    }


def read_inversion(body: object) -> tuple[InversionResult, list[str] | None]:
    """(the result, the class names or None) of a stored body; another kind of run, or a
    damaged one, raises :class:`StoredInversionError` saying which."""
    if not isinstance(body, Mapping):
        raise StoredInversionError("not an inversion record (expected a JSON object)")
    kind = body.get("kind")
    if kind != INVERSION_KIND:
        other = "comparison" if kind in (None, "multi_comparison") else kind
        raise StoredInversionError(f"it is a stored {other}, not an inversion attack")
    inv = body.get("inversion")
    if not isinstance(inv, Mapping):
        raise StoredInversionError("damaged inversion record: its 'inversion' part is missing")
    try:
        res = InversionResult.from_dict(dict(inv))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoredInversionError(f"damaged inversion record: {exc}") from exc
    classes = body.get("classes")
    return res, [str(c) for c in classes] if isinstance(classes, list) else None


def save_inversion(store, res: InversionResult, data=None, *, recipe=None, note: str = ""):
    """Store ``res`` in run store ``store`` as a run of kind ``"inversion"`` (no models);
    with ``data`` (the dataset it attacked) the record carries its content fingerprint and
    class names. Returns the ``ComparisonRecord``; its ``id`` names the stored attack."""
    classes = list(data.classes) if data is not None else None
    return store.save_comparison(
        inversion_body(res, classes), dataset=data, recipe=recipe, save_models=False, note=note
    )


def load_inversion(store, rid: str) -> tuple[InversionResult, list[str] | None, dict]:
    """(result, class names, the stored document) of stored inversion ``rid``; a run of
    another kind raises ``UnknownRunError``, a damaged one ``CorruptRunError``."""
    from ..store.errors import CorruptRunError, UnknownRunError

    doc = store.read_comparison(rid)
    body = doc.get("comparison") or {}
    if body.get("kind") != INVERSION_KIND:
        try:
            read_inversion(body)
        except StoredInversionError as exc:
            raise UnknownRunError(f"run {rid}: {exc}") from exc
    try:
        res, classes = read_inversion(body)
    except StoredInversionError as exc:
        raise CorruptRunError(f"run {rid}: {exc}") from exc
    return res, classes, doc
