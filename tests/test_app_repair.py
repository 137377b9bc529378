"""The app's repair flow: the Forget set page's repair choice (scenario, share, classes,
detection rate) shows the corrupted samples and puts the found ones in use; the Unlearn page runs
the comparison on the corrupted data and its table carries attack success and restoration."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_app_setup import (  # noqa: E402
    fresh,  # noqa: F401 - the autouse fixture: private caches and registries
    no_exception,
    texts,
    trained_app,
    wait_jobs,
)

from app_ui import registries  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402


def test_repair_choice_previews_and_runs_on_the_corrupted_data():
    at = trained_app()
    at.switch_page("pages/forget_set.py").run()
    no_exception(at)
    at.selectbox(key="p2_repair_kind").set_value("backdoor").run()
    at.slider(key="p2_repair_fraction").set_value(0.1).run()
    at.selectbox(key="p2_repair_target").set_value(0).run()
    no_exception(at)
    digits = load_dataset("digits")
    n = round(0.1 * int((digits.y_train != 0).sum()))
    assert f"{n} training samples corrupted, {n} found" in texts(at.markdown)
    assert "Triggered test images" in texts(at.caption)
    at.slider(key="p2_repair_detect").set_value(0.5).run()
    at.button(key="p2_repair_use").click().run()
    no_exception(at)
    found = at.session_state["forget"]["indices"]
    assert len(found) == round(0.5 * n)
    assert at.session_state["repair"]["settings"]["kind"] == "backdoor"
    assert "Repair scenario in use" in texts(at.success)
    assert at.button(key="p2_repair_use").disabled

    at.switch_page("pages/unlearn.py").run()
    no_exception(at)
    assert "Repair scenario in use: each seed's original trains" in texts(at.info)
    # the forget set is named as the found corrupted samples, here and in the sidebar
    shown = texts(at.markdown) + texts(at.sidebar.markdown)
    assert f"{len(found)} corrupted samples found (backdoor, 10% corrupted)" in shown
    assert "picked by hand" not in shown
    at.multiselect(key="p3_methods").set_value(["warnecke_first"]).run()
    at.button(key="p3_run").click().run()
    no_exception(at)
    wait_jobs()
    at.run()
    no_exception(at)
    comp = registries.comparison_registry()[at.session_state["comparison_id"]]
    assert [r.method for r in comp.results] == ["retrain", "warnecke_first", "clean"]
    assert comp.forget["scenario"]["kind"] == "backdoor"
    assert comp.get("warnecke_first").log["form"] == "repair"  # the fixed versions reached it
    assert comp.original.metrics["asr"] > comp.get("clean").metrics["asr"]
    table = at.table[0].value
    assert "attack success (%)" in table.columns and "restoration" in table.columns
    at.switch_page("pages/compare.py").run()
    no_exception(at)
    shown = "\n".join(str(t.value.columns.tolist()) for t in at.table)
    assert "attack success (%)" in shown
    # the header names the repair, not "N samples picked by hand"
    header = texts(at.caption)
    assert "repair of backdoor" in header and "corrupted samples found" in header
    assert "picked by hand" not in header
