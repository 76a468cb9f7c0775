"""Debian's chromium for the studio's browser tests (Playwright), found and launched the same way by each."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def require_chromium() -> ModuleType:
    """playwright.sync_api; the calling test module is skipped, with the reason, when it or chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).is_file():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)", allow_module_level=True)
    return sync_api
