"""Each browser's work its own on the Runs page (AppTest): runs record their owner, the page
lists this browser's runs (and those with no owner) by default and everyone's on request,
another owner's run cannot be deleted unless the server is an admin one, a shared link still
opens any run, and the status line names memory and the queue."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runstore_support import small_run  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

import app_ui.common as common  # noqa: E402
import app_ui.registries as registries  # noqa: E402
from app_ui import owners  # noqa: E402
from unlearn_core.store import RunStore  # noqa: E402
from unlearn_core.store.owners import owned_by  # noqa: E402

APP = str(ROOT / "app.py")
ALICE, BOB = "alice0000001", "bob000000002"


@pytest.fixture(autouse=True)
def fresh(monkeypatch, tmp_path):
    monkeypatch.setenv("UNLEARN_HOME", str(tmp_path / "runs"))
    monkeypatch.setenv("UNLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv(owners.ADMIN_ENV, raising=False)
    monkeypatch.setattr(common, "warm_up_in_background", lambda: None)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    for reg in (registries.comparison_registry(), registries.stored_runs()):
        reg.clear()
    yield tmp_path
    torch.set_num_threads(threads)


@pytest.fixture
def three_runs():
    """Runs stored by Alice, by Bob, and one with no owner (an older record, the CLI)."""
    data, _, comp = small_run()
    store = RunStore()
    out = {}
    for who in (ALICE, BOB, ""):
        with owned_by(who):
            out[who] = store.save_comparison(comp, dataset=data, save_models=False).id
    return out


def runs_page(**params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=90)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def listed(at: AppTest) -> set[str]:
    return set(at.table[0].value["run"])


def test_records_keep_their_owner_and_old_ones_read_as_nobodys(three_runs):
    store = RunStore()
    assert store.get_comparison(three_runs[ALICE]).owner == ALICE
    assert store.get_comparison(three_runs[BOB]).owner == BOB
    assert store.get_comparison(three_runs[""]).owner == ""
    from unlearn_core.store import ComparisonRecord

    old = store.get_comparison(three_runs[ALICE]).to_dict()
    old.pop("owner")  # a record written before owners existed
    assert ComparisonRecord.from_dict(old).owner == ""


def test_the_runs_page_shows_this_browsers_runs_and_everyones_on_request(three_runs):
    at = runs_page(owner=ALICE)
    assert at.session_state["owner"] == ALICE
    assert listed(at) == {three_runs[ALICE], three_runs[""]}
    captions = "\n".join(c.value for c in at.caption)
    assert "Yours: 1 of the 3 stored runs; 1 of other browsers" in captions
    assert "Memory" in captions and "Jobs: 0 running, 0 waiting" in captions
    at.toggle(key="runs_everyone").set_value(True).run()
    assert listed(at) == set(three_runs.values())


def test_another_owners_run_is_not_deleted_unless_the_server_is_admin(three_runs, monkeypatch):
    at = runs_page(owner=ALICE)
    at.toggle(key="runs_everyone").set_value(True).run()
    at.selectbox(key="runs_pick").set_value(three_runs[BOB]).run()
    assert not at.button(key="runs_open").disabled  # anyone opens it
    assert not [b for b in at.button if b.key == "runs_delete"]
    assert any("not yours to delete" in c.value for c in at.caption)
    # Alice's own run: deleted after the confirmation
    at.selectbox(key="runs_pick").set_value(three_runs[ALICE]).run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert not at.exception
    assert {r.id for r in RunStore().list_comparisons()} == {three_runs[BOB], three_runs[""]}
    # a server started with the admin setting deletes anyone's
    monkeypatch.setenv(owners.ADMIN_ENV, "1")
    at.selectbox(key="runs_pick").set_value(three_runs[BOB]).run()
    at.button(key="runs_delete").click().run()
    at.button(key="runs_delete_yes").click().run()
    assert not at.exception
    assert {r.id for r in RunStore().list_comparisons()} == {three_runs[""]}


def test_a_shared_link_opens_another_owners_run_read_only(three_runs):
    at = runs_page(owner=ALICE, run=three_runs[BOB])
    assert at.session_state["comparison_id"] == three_runs[BOB]
    assert three_runs[BOB] in listed(at)  # listed for its viewer, without Everyone's runs
    assert at.selectbox(key="runs_pick").value == three_runs[BOB]
    assert not [b for b in at.button if b.key == "runs_delete"]


def test_a_browser_that_keeps_cookies_is_known_by_its_cookie_not_by_a_link(three_runs, monkeypatch):
    """Bob's link carries his owner id in a browser without cookies; a browser that sends
    cookies ignores it: on a first visit (Streamlit's XSRF cookie only) it gets an id of its
    own, and with its owner cookie it is that cookie's owner. Neither writes an owner id into
    its URL, and Bob's run opens for it read-only."""
    monkeypatch.setattr(owners, "_cookies", lambda: {"_streamlit_xsrf": "2|x"})
    at = runs_page(owner=BOB, run=three_runs[BOB])
    me = at.session_state["owner"]
    assert me != BOB and owners.OWNER_ID.fullmatch(me)
    assert "owner" not in at.query_params
    assert at.session_state["comparison_id"] == three_runs[BOB]
    assert not [b for b in at.button if b.key == "runs_delete"]

    monkeypatch.setattr(
        owners, "_cookies", lambda: {"_streamlit_xsrf": "2|x", owners.COOKIE: ALICE}
    )
    at = runs_page(owner=BOB)
    assert at.session_state["owner"] == ALICE and "owner" not in at.query_params
    assert three_runs[ALICE] in listed(at) and three_runs[BOB] not in listed(at)


def test_another_owners_note_is_read_only(three_runs):
    at = runs_page(owner=ALICE, run=three_runs[BOB])
    (note,) = [t for t in at.text_area if t.label == "Note"]
    assert note.disabled and not [b for b in at.button if b.label == "Save the note"]
    at = runs_page(owner=ALICE, run=three_runs[ALICE])
    (note,) = [t for t in at.text_area if t.label == "Note"]
    assert not note.disabled and [b for b in at.button if b.label == "Save the note"]
