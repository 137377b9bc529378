"""The Inversion page under AppTest: digits + a briefly trained MLP; two samples forgotten one
at a time by NegGrad (no early stop) and reconstructed in a background job (gallery of true,
attack and baseline images with their scores and labels), stored in the run store and named in
the URL; a long attack, followed from its URL in a fresh session, is cancelled there."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the app imports ``app_ui`` from its own folder
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from unlearn_core.training import TrainConfig  # noqa: E402

APP = str(ROOT / "app.py")
CFG = TrainConfig(epochs=15, batch_size=64)
KEY = "model-inversion-test"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _session(digits_mlp) -> AppTest:
    import app_ui.registries as R

    R.model_registry()[KEY] = R.ModelEntry(
        model=digits_mlp, recipe=CFG, test_acc=0.0, source="test"
    )
    at = AppTest.from_file(APP, default_timeout=90)
    at.run()
    at.session_state["dataset"] = {"name": "digits", "params": {}}
    at.session_state["arch"] = "mlp"
    at.session_state["recipe"] = CFG.to_dict()
    at.session_state["train_seed"] = 0
    at.session_state["model_key"] = KEY
    at.switch_page("pages/inversion.py").run()
    assert not at.exception, at.exception
    return at


def _job(at: AppTest):
    import app_ui.registries as R

    return R.job_registry()[at.session_state["jobs"]["inversion"]]


def test_inversion_page_runs_the_attack_and_shows_the_gallery(digits_mlp):
    at = _session(digits_mlp)
    assert at.title[0].value.startswith("Inversion")
    assert at.multiselect(key="inv_samples").value == [5, 17, 42, 99]
    at.multiselect(key="inv_samples").set_value([5, 17])
    at.number_input(key="inv_iterations").set_value(100)
    at.run()
    assert at.selectbox(key="inv_method").value == "neggrad"
    at.button(key="inv_run").click().run()
    assert not at.exception, at.exception
    job = _job(at)
    assert job.wait(120), "the inversion job did not finish"
    assert job.state == "done", (job.state, job.error, job.traceback)
    at.run()
    assert not at.exception, at.exception
    from app_ui.inversion_store import inversion_registry
    from unlearn_core.inversion import load_inversion
    from unlearn_core.store import RunStore

    # the job stored the attack; its run id is the session's shown attack and in the URL
    rid = job.result
    assert at.session_state["inversion_id"] == rid and at.query_params["inversion"] in (rid, [rid])
    res = inversion_registry()[rid].result
    assert load_inversion(RunStore(), rid)[0].psnr == pytest.approx(res.psnr)
    assert any(f"Stored as run **{rid}**" in c.value for c in at.caption)
    assert [s.index for s in res.samples] == [5, 17] and res.params["stop"] == "off"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean PSNR"] == f"{res.psnr:.1f} dB"
    assert metrics["Baseline PSNR"] == f"{res.baseline_psnr:.1f} dB"
    assert len(at.image) == 2  # one row per sample: true, attack, baseline
    caps = [i.caption for img in at.image for i in img.proto.imgs]
    assert caps == ["true", "attack", "baseline"] * 2
    rows = [m.value for m in at.markdown if m.value.startswith("**Sample #")]
    assert [r.split("**")[1] for r in rows] == ["Sample #5", "Sample #17"]
    first = res.samples[0]
    assert f"attack: **{first.psnr:.1f} dB**, SSIM {first.ssim:.2f}" in rows[0]
    assert f"baseline: {first.baseline_psnr:.1f} dB" in rows[0]


def test_inversion_job_is_cancelled(digits_mlp):
    at = _session(digits_mlp)
    at.multiselect(key="inv_samples").set_value([5])
    at.number_input(key="inv_iterations").set_value(5000)
    at.run()
    at.button(key="inv_run").click().run()
    job = _job(at)
    end = time.perf_counter() + 60
    while "matching" not in job.message and not job.done and time.perf_counter() < end:
        time.sleep(0.1)
    assert not job.done, (job.state, job.error)
    # the URL names the running job: a reload (a fresh session, no model) follows it and
    # cancels it there
    at.run()
    url = {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}
    assert url["ijob"] == job.id and "inversion" not in url
    fresh = AppTest.from_file(APP, default_timeout=60)
    fresh.query_params["ijob"] = job.id
    fresh.run()
    fresh.switch_page("pages/inversion.py").run()
    assert not fresh.exception, fresh.exception
    assert fresh.session_state["jobs"]["inversion"] == job.id
    fresh.button(key="inv_cancel").click().run()
    assert job.wait(10), "the cancel was not heard within 10 s"
    assert job.state == "cancelled"
    at.run()
    assert any("cancelled" in i.value for i in at.info)
