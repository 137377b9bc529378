"""Who stored a run: an owner id on model and comparison records (``""`` for records written
before owners existed, and for runs stored outside any owner: the CLI).

A caller that stores on someone's behalf runs the saving code inside :func:`owned_by` (a
context variable, so a server's job threads each carry their own owner); ``RunStore`` stamps
the records it writes with :func:`current_owner`. :func:`delete_refusal` is the rule a shared
server applies before deleting: one's own runs and unowned ones, or anything for an admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_OWNER: ContextVar[str] = ContextVar("unlearn_owner", default="")


def current_owner() -> str:
    """The owner records stored here and now belong to (``""``: nobody in particular)."""
    return _OWNER.get()


@contextmanager
def owned_by(owner: str) -> Iterator[None]:
    """Records stored inside the block belong to ``owner``."""
    token = _OWNER.set(str(owner or ""))
    try:
        yield
    finally:
        _OWNER.reset(token)


def delete_refusal(record_owner: str, owner: str, *, admin: bool = False) -> str | None:
    """Why ``owner`` may not delete a run owned by ``record_owner``; None when it may (its
    own run, a run with no owner, or ``admin``)."""
    if admin or not record_owner or record_owner == owner:
        return None
    return "it belongs to another browser's owner id"


__all__ = ["current_owner", "delete_refusal", "owned_by"]
