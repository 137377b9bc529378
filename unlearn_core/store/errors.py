"""Errors of the run store; each message says what is wrong and what to do."""

from __future__ import annotations


class RunStoreError(Exception):
    """The run store cannot do what was asked; nothing in it was changed."""


class UnknownRunError(RunStoreError, LookupError):
    """No run, model or forget set with that id."""


class CorruptRunError(RunStoreError):
    """A stored file is missing or damaged (the rest of the store is unaffected)."""


class DatasetMismatchError(RunStoreError):
    """A stored run or model is being reopened against data other than its own."""


class SchemaVersionError(RunStoreError):
    """A record or index written by another version of unlearning-lab."""
