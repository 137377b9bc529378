"""Without Chromium the browser tests skip on a developer's machine but fail under CI."""

from __future__ import annotations

import pytest

import browser_support
from browser_support import require_chromium_under_ci


def test_a_missing_chromium_fails_under_ci_and_is_a_skip_elsewhere(monkeypatch):
    monkeypatch.setattr(browser_support.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="CI=true but no Chromium"):
        require_chromium_under_ci({"CI": "true"})
    require_chromium_under_ci({})  # a developer's machine: the module's skipif applies
    require_chromium_under_ci({"CI": "false"})
    monkeypatch.setattr(browser_support.shutil, "which", lambda name: f"/usr/bin/{name}")
    require_chromium_under_ci({"CI": "true"})  # present: nothing to say
