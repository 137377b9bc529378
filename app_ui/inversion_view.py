"""The Inversion page's view: the form that starts an unlearning inversion attack as a job,
its live progress with an estimate and Cancel, and the gallery of true vs reconstructed images.

The work is ``unlearn_core.inversion.run_inversion`` on the session's trained model (the
original): each picked training sample is forgotten by the chosen method in a request of its
own (or all in one), reconstructed from the weight change and labelled by probe confidences;
the baseline attacks a weight change that carries nothing about the samples.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from app_ui import jobs
from app_ui.inversion_store import INVERSION, current_inversion, store_inversion
from app_ui.state import INV, TRAIN_SEED
from unlearn_core.data import Dataset
from unlearn_core.inversion import MAX_SAMPLES, InversionConfig, InversionResult
from unlearn_core.inversion.pipeline import job_call
from unlearn_core.methods import list_methods
from unlearn_core.plots import setup as P_setup
from unlearn_core.runtime.jobs import Job

#: the samples offered first (the CLI's example), where the training set has them
DEFAULT_SAMPLES = (5, 17, 42, 99)

EXPLANATION = """
**How the attack works.** Unlearning changes the model's weights. For gradient ascent
(NegGrad), the change is a few steps *up* the loss gradient of the forgotten sample, so
the difference between the weights before and after points along that sample's gradient.
An attacker who holds both models starts from random noise and adjusts the image until
the gradient it would produce points the same way (cosine close to 1), keeping the
picture smooth and its pixels in range. First the attacker guesses the label: it makes
*probe* inputs the original model is sure about, one set per class, and looks for the
class whose probes lost most confidence after unlearning.

**Reading the gallery.** PSNR (decibels, higher = closer to the true image) and SSIM
(1 = same structure, 0 = unrelated) score each reconstruction. The **baseline** runs the
same attack on a weight change of the same size that carries nothing about the samples
(the difference between two models trained with other seeds): a reconstruction well
above the baseline means the unlearning update itself leaked the sample.
(Hu et al., *Learn What You Want to Unlearn*, IEEE S&P 2024.)
"""


def _methods() -> list[str]:
    return [s.name for s in list_methods() if s.family in ("approximate", "exact")]


def inversion_form(data: Dataset, entry) -> None:
    """Pick 1-8 training samples and a method, then start the attack as a job."""
    if len(data.input_shape) != 3:
        st.info(f"The inversion attack reconstructs images; {data.name} holds no images.")
        return
    if INV.SAMPLES.get() is None:
        INV.SAMPLES.set([i for i in DEFAULT_SAMPLES if i < data.n_train][:MAX_SAMPLES])
    names = _methods()
    if INV.METHOD.get() not in names:
        INV.METHOD.set("neggrad" if "neggrad" in names else names[0])
    c1, c2 = st.columns([3, 2])
    with c1:
        picked = st.multiselect(
            f"Training samples to forget (1-{MAX_SAMPLES})",
            list(range(data.n_train)),
            key=INV.SAMPLES,
            max_selections=MAX_SAMPLES,
            format_func=lambda i: f"#{i} · {data.classes[int(data.y_train[i])]}",
        )
    with c2:
        method = st.selectbox("Unlearning method", names, key=INV.METHOD)
    o1, o2, o3 = st.columns(3)
    with o1:
        no_stop = st.checkbox(
            "No early stop",
            value=True,
            key=INV.NO_STOP,
            disabled=method != "neggrad",
            help="NegGrad only. Its preset stops once the forget set is as wrong as a retrained model "
            "would be; for one sample of a class the model knows well that is before the first "
            "step, and an unchanged model leaks nothing",
        )
    with o2:
        together = st.checkbox(
            "Forget them together",
            value=False,
            key=INV.TOGETHER,
            help="one request for all samples: one summed update, harder to invert "
            "(default: one request per sample, the paper's setting)",
        )
    with o3:
        iterations = st.number_input(
            "Attack steps", 50, 5000, value=600, step=50, key=INV.ITERATIONS
        )
    busy = jobs.running(INVERSION) is not None
    if st.button(
        "Run the inversion attack", key=INV.RUN, type="primary", disabled=busy or not picked
    ):
        params = {"stop": "off"} if method == "neggrad" and no_stop else {}
        start_inversion(data, entry, list(picked), method, params, bool(together), int(iterations))
        st.rerun()


def start_inversion(
    data: Dataset,
    entry,
    samples: list[int],
    method: str,
    params: dict,
    together: bool,
    iterations: int,
) -> Job:
    """Queue the attack on the session's model as this session's inversion job."""
    model, recipe = entry.model, entry.recipe
    arch = str(getattr(model, "spec", {}).get("arch", "mlp"))
    seed = int(TRAIN_SEED.get() or 0)
    cfg = InversionConfig(iterations=iterations)

    kwargs = {"data": data, "arch": arch, "samples": samples, "method": method,
              "params": params, "seed": seed, "together": together, "recipe": recipe,
              "cfg": cfg, "model": model}  # fmt: skip

    def work(job: Job) -> str:
        # in a job worker process, as training and comparisons: the attack's Python work
        # does not hold the server's interpreter lock (runtime.workers)
        res = jobs.job_workers().call(job_call, kwargs, progress=job.report)
        return store_inversion(job, res, data, recipe)  # stored: the URL names it

    title = f"Inversion attack on {method} ({len(samples)} sample{'s' * (len(samples) > 1)})"
    return jobs.start(INVERSION, title, work, context={"samples": samples, "method": method})


def _eta(job: Job) -> str:
    """Progress text with a remaining-time estimate from the pace so far."""
    text = f"**{job.title}** · {job.message or 'starting'} · {job.elapsed:.0f} s"
    if 0.05 < job.fraction < 1.0:
        left = job.elapsed * (1 - job.fraction) / job.fraction
        text += f" · about {left:.0f} s left"
    return text


def inversion_progress() -> None:
    job = jobs.running(INVERSION)
    if job is not None:
        jobs.progress(job, text=_eta, cancel_key=INV.CANCEL, toast="Inversion attack cancelled")


def _picture(image: list, lo: float, hi: float) -> np.ndarray:
    arr = (np.asarray(image, dtype=np.float64) - lo) / max(hi - lo, 1e-12)
    arr = arr[0] if arr.shape[0] == 1 else np.transpose(arr, (1, 2, 0))
    return (np.clip(arr, 0.0, 1.0) * 255).round().astype(np.uint8)


def _class(classes: list[str] | None, label: int) -> str:
    return str(classes[label]) if classes and 0 <= label < len(classes) else str(label)


def show_inversion() -> None:
    """How this session's last attack job ended (cancelled, failed), then the shown attack
    (the job's, or one reopened from the URL or the Runs page): its numbers and the gallery."""
    job = jobs.of(INVERSION)
    if job is not None and job.done:
        if job.state == "cancelled":
            st.info("The inversion attack was cancelled.")
        elif job.state == "failed":
            st.error(f"The inversion attack failed: {job.error}")
        elif job.error:  # finished, but not stored
            st.warning(job.error)
    got = current_inversion()
    if got is None:
        return
    iid, shown = got
    res: InversionResult = shown.result
    classes = shown.classes
    st.subheader(f"What {res.method} leaked")
    m = st.columns(4)
    m[0].metric("Mean PSNR", f"{res.psnr:.1f} dB", help="reconstruction vs the true image")
    m[1].metric("Baseline PSNR", f"{res.baseline_psnr:.1f} dB", help="the uninformative update")
    m[2].metric("Mean SSIM", f"{res.ssim:.2f}", help=f"baseline {res.baseline_ssim:.2f}")
    m[3].metric("Labels inferred", f"{100 * res.label_accuracy:.0f}%")
    lo, hi = res.value_range
    caps = ["true", "attack", "baseline"]
    for s in res.samples:
        name = _class(classes, s.true_label)
        guess = _class(classes, s.inferred_label)
        pics = [_picture(s.image, lo, hi), _picture(s.reconstruction, lo, hi),
                _picture(s.baseline_reconstruction, lo, hi)]  # fmt: skip
        tiles, width = P_setup.tiles(pics, caps, 72)
        left, right = st.columns([1, 1], vertical_alignment="center")
        left.image(tiles, caption=caps, width=width)
        right.markdown(
            f"**Sample #{s.index}** · class {name}  \n"
            f"attack: **{s.psnr:.1f} dB**, SSIM {s.ssim:.2f}, label **{guess}** "
            f"({'right' if s.label_correct else 'wrong'})  \n"
            f"baseline: {s.baseline_psnr:.1f} dB, SSIM {s.baseline_ssim:.2f}"
        )
    mode = "one request" if res.together else "one request per sample"
    st.caption(
        f"{res.dataset} / {res.model}, {res.method} ({mode}), seed {res.seed}, "
        f"{res.seconds:.0f} s. Baseline: {res.baseline}. " + " ".join(res.notes)
    )
    if shown.stored:
        st.caption(
            f"Stored as run **{iid}**: the page's address names it (a reload or a shared link "
            "shows it again); the Runs page lists it and exports its HTML report."
        )
