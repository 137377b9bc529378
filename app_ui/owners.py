"""Each browser's work its own: an owner id per browser (``state.OWNER``), the admin setting
that lets a server's operator delete anyone's runs, and the Runs page's status line (memory
in use, the job queue).

Where the owner id lives: a cookie (:data:`COOKIE`, written by the page once per session).
A browser that sends cookies is known by its cookie only: a link's ``owner`` parameter is
ignored and not written into its URLs, so a shared link neither carries its sharer's id nor
gives it to whoever opens it (a first visit gets a new id; the link's run opens for it
without being its to delete). A browser that sends no cookies at all (one that refuses them,
AppTest) can only keep its id in the URL (``owner`` in ``state.URL_PARAMS``), so a reload
keeps it; such a browser's links do carry its id.

The runs a session stores carry its owner id (``unlearn_core.store.owners``: the job threads
and the URL writer store inside ``owned_by(owner_id())``). A link that names a run opens it
for anyone; only deleting is kept to the run's owner (:func:`delete_refusal`).
"""

from __future__ import annotations

import os
import re

import streamlit as st

from app_ui.state import OWNER
from unlearn_core.store.owners import delete_refusal as _refusal

#: the environment variable that makes this server's every session an admin (any true value:
#: 1, true, yes, on): sessions may then delete runs of any owner
ADMIN_ENV = "UNLEARN_ADMIN"
#: what an owner id looks like (a link's is checked before it is adopted)
OWNER_ID = re.compile(r"[0-9a-zA-Z_-]{4,40}")


#: the cookie that keeps a browser's owner id (a year)
COOKIE = "unlearn_owner"


def _cookies() -> dict:
    try:
        return dict(st.context.cookies)
    except Exception:  # noqa: BLE001 - no browser behind the session (AppTest)
        return {}


def _cookie() -> str | None:
    value = _cookies().get(COOKIE)
    return value if isinstance(value, str) and OWNER_ID.fullmatch(value) else None


def keeps_cookies() -> bool:
    """Whether the browser sent any cookie (Streamlit's own XSRF cookie, ours): then its
    owner id is its cookie's, never a link's."""
    return bool(_cookies())


def owner_id() -> str:
    """This browser's owner id: the session's, else its cookie's, else a new one (kept in
    the session)."""
    if not OWNER.present():
        OWNER.set(_cookie() or OWNER.default())
    return OWNER.get()


def url_owner() -> str | None:
    """The owner id to keep in the URL: only a browser that keeps no cookies needs it there."""
    return None if keeps_cookies() else owner_id()


def adopt_owner(value: str) -> None:
    """Take the owner id a reload names (``url_state``'s restore of ``owner``) in a browser
    that keeps no cookies; a browser that sends cookies is known by its cookie (or gets a new
    id), whatever a link says."""
    from unlearn_core.store import UnknownRunError

    if not OWNER_ID.fullmatch(value or ""):
        raise UnknownRunError(f"{value!r} is not an owner id")
    if not keeps_cookies():
        OWNER.set(value)


def remember_owner() -> None:
    """Write the owner cookie when the browser did not send it (an invisible script;
    ``url_state.write_url`` calls it after the page). On every full run of such a session,
    not once: a run a newer one interrupts may never reach the browser (the load benchmark's
    8 sessions: 4 had no owner cookie at the end when it was written once), and the cookie
    the browser sent is read only when the session connects."""
    me = owner_id()
    if _cookie() == me:
        return
    st.html(
        f"<script>document.cookie = '{COOKIE}={me}; path=/; max-age=31536000; "
        "SameSite=Lax';</script>",
        unsafe_allow_javascript=True,
    )


def is_admin() -> bool:
    """Whether the server was started with ``UNLEARN_ADMIN`` set to a true value."""
    return os.environ.get(ADMIN_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def delete_refusal(record_owner: str) -> str | None:
    """Why this session may not delete a run of ``record_owner`` (None: it may)."""
    why = _refusal(record_owner, owner_id(), admin=is_admin())
    if why is None:
        return None
    return (
        f"This run is not yours to delete: {why}. Anyone may open it; only its owner deletes "
        f"it, or any session of a server started with {ADMIN_ENV}=1."
    )
