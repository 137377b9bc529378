"""A stored inversion attack in the app (AppTest): a fresh session on its URL, after a server
restart (empty registries) and without any model, shows it on the Inversion page; the Runs
page lists it as kind "inversion", shows its means, exports its HTML report (inline images),
opens it on the Inversion page, and deletes it only for its owner."""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the app imports ``app_ui`` from its own folder
    sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from unlearn_core.inversion import InversionConfig, run_inversion, save_inversion  # noqa: E402
from unlearn_core.store import RunStore  # noqa: E402
from unlearn_core.store.owners import owned_by  # noqa: E402
from unlearn_core.training import TrainConfig  # noqa: E402

APP = str(ROOT / "app.py")
OWNER = "ownerinvtest"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def result(digits, digits_mlp):
    """A real short attack: samples 5 and 17 forgotten one at a time by NegGrad."""
    return run_inversion(
        digits, "mlp", [5, 17], "neggrad", {"stop": "off"}, seed=0,
        recipe=TrainConfig(epochs=15, batch_size=64),
        cfg=InversionConfig(iterations=30, restarts=1, probes_per_class=2, probe_steps=30),
        device="cpu", original=digits_mlp,
    )  # fmt: skip


@pytest.fixture
def stored(monkeypatch, tmp_path, digits, result):
    """The attack stored by browser ``OWNER`` in a private run store; a cold server (the
    registries empty, no model)."""
    import app_ui.common as common
    import app_ui.registries as R
    from app_ui.inversion_store import inversion_registry

    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    for reg in (R.model_registry(), R.job_registry(), R.job_records(), inversion_registry()):
        reg.clear()
    with owned_by(OWNER):
        rec = save_inversion(RunStore(), result, digits, recipe=TrainConfig(epochs=15))
    return rec.id


def _url(at: AppTest) -> dict[str, str]:
    """The session's URL parameters (what a reload or a new tab opens)."""
    return {k: v[0] if isinstance(v, list) else v for k, v in at.query_params.items()}


def _fresh(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _gallery(at: AppTest, result) -> None:
    """The Inversion page shows ``result``: its means, three images per sample, the rows."""
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Mean PSNR"] == f"{result.psnr:.1f} dB"
    assert metrics["Baseline PSNR"] == f"{result.baseline_psnr:.1f} dB"
    assert metrics["Labels inferred"] == f"{100 * result.label_accuracy:.0f}%"
    assert [i.caption for img in at.image for i in img.proto.imgs] == [
        "true", "attack", "baseline"
    ] * 2  # fmt: skip
    rows = [m.value for m in at.markdown if m.value.startswith("**Sample #")]
    assert [r.split("**")[1] for r in rows] == ["Sample #5", "Sample #17"]
    assert f"attack: **{result.samples[1].psnr:.1f} dB**" in rows[1]


def test_a_link_reopens_the_stored_attack_after_a_restart_without_a_model(stored, result):
    at = _fresh({"inversion": stored})
    at.switch_page("pages/inversion.py").run()
    assert not at.exception, at.exception
    assert at.session_state["inversion_id"] == stored
    _gallery(at, result)
    assert any("train or load a model" in i.value for i in at.info)  # no form without a model
    assert _url(at)["inversion"] == stored  # the URL keeps naming it
    # a reload (another fresh session) on the written URL shows it again
    again = _fresh(_url(at))
    again.switch_page("pages/inversion.py").run()
    assert not again.exception, again.exception
    _gallery(again, result)


def test_an_id_of_another_kind_says_so(stored, digits):
    other = RunStore().save_comparison(
        {"dataset": "digits", "model": "mlp", "results": [{"method": "retrain"}]},
        dataset=digits, save_models=False,
    )  # fmt: skip
    at = _fresh({"inversion": other.id})
    assert any("not an inversion attack" in w.value for w in at.warning)
    assert "inversion" not in _url(at)
    at.switch_page("pages/inversion.py").run()
    assert not at.exception, at.exception
    assert not at.metric and any("no model yet" in w.value for w in at.warning)


def test_runs_page_lists_reports_opens_and_deletes_it_by_its_owner(stored, result, tmp_path):
    from streamlit import dataframe_util

    at = _fresh({"owner": "someoneelse"})
    at.switch_page("pages/runs.py").run()
    assert any("None of the stored runs is yours" in i.value for i in at.info)
    at.toggle(key="runs_everyone").set_value(True).run()  # another browser: sees, cannot delete
    assert at.table[0].value.set_index("run").loc[stored, "kind"] == "inversion"
    assert not [b for b in at.button if b.key == "runs_delete"]

    at = _fresh({"owner": OWNER})
    at.switch_page("pages/runs.py").run()
    assert not at.exception, at.exception
    overview = at.table[0].value.set_index("run")
    assert overview.loc[stored, "kind"] == "inversion"
    assert "neggrad" in overview.loc[stored, "methods"]
    one = dataframe_util.convert_arrow_bytes_to_pandas_df(
        at.table[1].proto.arrow_data.styler.display_values
    )
    assert one.loc[0, "PSNR (dB)"] == f"{result.psnr:.2f}"
    assert one.loc[0, "baseline PSNR (dB)"] == f"{result.baseline_psnr:.2f}"
    assert any("An inversion attack on samples #5, #17" in c.value for c in at.caption)
    # the HTML report: every sample's three images inline
    at.button(key="runs_prep_html").click().run()
    assert not at.exception, at.exception
    page = RunStore().export_html(stored, tmp_path / "report.html").read_text()
    assert len(re.findall(r"data:image/png;base64,", page)) == 6
    assert base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)", page).group(1))[:4] == (
        b"\x89PNG"
    )
    assert len(at.get("download_button")) == 2  # the JSON record and the report
    assert not [b for b in at.button if b.key == "runs_prep_models"]  # it keeps no models
    # open it: the Inversion page shows it
    at.button(key="runs_open").click().run()
    assert not at.exception, at.exception
    assert at.session_state["inversion_id"] == stored
    assert any("open on the Inversion page" in s.value for s in at.success)
    at.switch_page("pages/inversion.py").run()
    assert not at.exception, at.exception
    _gallery(at, result)
    # delete it (its owner): gone from the store and from the page
    at.switch_page("pages/runs.py").run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert not at.exception, at.exception
    assert RunStore().list_comparisons() == []
    assert at.session_state["inversion_id"] is None
    at.switch_page("pages/inversion.py").run()
    assert not at.exception, at.exception
    assert not at.metric
