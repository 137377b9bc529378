"""The Learn page's section on forgetting vs restoring (issue 20): what attack success and
restoration mean, why a method can forget the corrupted samples without restoring what a clean
model knows, and what Warnecke et al.'s update does; with the committed benchmark's figures
(``benchmarks/results/repair.md``, the digits CNN backdoor) when that file is there."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_ui.tables import Column, show_table

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results" / "repair.md"
#: the benchmark cell the section quotes, and the rows it shows
CELL = "backdoor_cnn"
SHOWN = ("original", "retrain", "finetune", "ssd", "warnecke_first", "warnecke_second", "clean")
#: benchmark header -> row key
HEADERS = {
    "method": "method",
    "forget acc (%)": "forget_acc",
    "attack success (%)": "asr",
    "true-label acc (%)": "true_label_acc",
    "test acc (%)": "test_acc",
}
COLUMNS = [
    Column("method", "model", text=True),
    Column("forget_acc", "forget acc", "%", text=True),
    Column("asr", "attack success", "%", text=True),
    Column("true_label_acc", "true-label acc", "%", text=True),
    Column("test_acc", "test acc", "%", text=True),
]

INTRO = """
## Forgetting is not repairing

Often a model must unlearn some training samples because they were **wrong**: mislabelled
images, or poisoned ones. A *backdoor* is a poison: an attacker stamps a small white square on
some training images and relabels them as one target class; the model learns the shortcut
"square → target", and later any image with the square is put in the target class while clean
images still look fine. The Forget set page's *Repair* choice builds such data (label noise, a
backdoor, a spurious patch) and makes the corrupted samples the forget set.

Two questions then differ:

- **Forgetting**: does the model behave as if it had *never seen* those samples? The reference
  is **retrain**, trained without them.
- **Restoring**: does the model behave as if those samples had been *right*? The reference is
  the **clean** model, trained on the uncorrupted data. A repair should undo the damage, not
  only erase the samples.

When every corrupted sample is found, retrain is usually close to clean. When only some are
found (the *detection rate*), retrain still learns from the poisoned samples nobody found, so
it keeps part of the damage.

**The numbers a repair adds**

- **Attack success**: of the test images of the *other* classes, with the square stamped on,
  the share the model puts in the target class. The poisoned original is near 100 %, the clean
  model near 0 %. Lower is better. (For the spurious patch the same number reads as *reliance*:
  stamped images put in the class that carried the patch.)
- **True-label accuracy**: accuracy on the corrupted training samples against their *true*
  labels. *Forget accuracy* on the same samples uses the labels they were given, the wrong
  ones: it going down means the model stopped repeating the mistake, not that it learnt what is
  right.
- **Restoration** = (after − before) / (clean − before), Warnecke et al.'s measure: the share
  of the gap between the damaged original (*before*) and the clean model that a method closes,
  on clean test accuracy (and, as *restoration, true labels*, on true-label accuracy).
  0: nothing undone, 1: as good as the clean model, below 0: worse than before. When the clean
  model beats the original by only a few test images, each image moves the ratio a lot, so read
  it next to the accuracies it is made of.

**Why a method can forget without restoring**

Most unlearning methods only push the model *away* from the forget samples: gradient ascent
raises their loss, others fine-tune on the remaining data or dampen the weights those samples
rely on. Nothing in them says what the right answer is. A model that is merely pushed away can
stop predicting the wrong label and still not predict the true one, or lose accuracy on
everything (a negative restoration). And a backdoor can survive forgetting: no remaining
training image carries the square, so fine-tuning on them never asks the model to unlearn the
shortcut, and triggered images keep going to the target class.

**What the Warnecke update does**

Warnecke, Pirch, Wressnegger & Rieck ("Machine Unlearning of Features and Labels", NDSS 2023)
*replace* each corrupted sample by its fixed version instead of only deleting it: its true
label (for the backdoor, the patched image with its true label, which teaches that the square
means nothing; for the spurious patch, the image without it). They compute how the gradient of
the training loss changes with that swap, Δ = (1/n) Σ (∇loss(fixed) − ∇loss(corrupted)), and move
the weights once, in closed form, with no training loop:

- **first order**: θ ← θ − τ·Δ, one gradient step of size τ (here picked on the validation data);
- **second order**: θ ← θ − H⁻¹·Δ, where H is the curvature (Hessian) of the training loss. This
  is the influence-function estimate of where retraining on the fixed data would land: exact
  for a quadratic loss, close for logistic regression (the workbench's known-answer test), an
  approximation for a network, where the product H⁻¹·Δ is solved without forming H (conjugate
  gradients or LiSSA) and damped.

Because the update moves *towards* the true labels, it can restore and not only forget.
"""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def parse_cell(text: str, cell: str = CELL) -> dict | None:
    """The benchmark table of ``## <cell>: ...`` in ``repair.md`` as ``{"title", "rows"}`` (row:
    keys of :data:`HEADERS`, the cells as printed, "mean ± std"); None when it is not there."""
    lines = text.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith(f"## {cell}:")), None)
    if start is None:
        return None
    head = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("| method")), None)
    if head is None:
        return None
    headers = _cells(lines[head])
    rows = []
    for ln in lines[head + 2 :]:
        if not ln.startswith("|"):
            break
        row = {HEADERS[h]: c for h, c in zip(headers, _cells(ln), strict=False) if h in HEADERS}
        rows.append(row)
    title = lines[start].split(":", 1)[1].strip()
    return {"title": title, "rows": rows} if rows else None


def repair_story(path: Path = RESULTS) -> None:
    """The section: the explanation, then the benchmark's backdoor rows when committed."""
    st.markdown(INTRO)
    try:
        found = parse_cell(path.read_text(encoding="utf-8"))
    except OSError:
        found = None
    if found is None:
        return
    rows = {r["method"]: r for r in found["rows"]}
    shown = [rows[m] for m in SHOWN if m in rows]
    if len(shown) < 3:
        return
    st.markdown(
        f"**In numbers**: digits, {found['title']}; mean ± standard deviation over seeds. "
        "Forget accuracy is measured against the labels the samples were given (the target)."
    )
    show_table(shown, COLUMNS, notes=False)
    st.caption(
        "From the committed repair benchmark (benchmarks/results/repair.md). Read attack "
        "success against retrain's and clean's, and test accuracy against the original's: "
        "a method that lowers attack success by damaging the whole model has not repaired it."
    )
