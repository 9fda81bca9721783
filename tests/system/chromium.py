"""Headless Chromium for the browser tests: offline (loopback only), one place for its flags."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

#: Flags of every test browser: headless, no background traffic, and offline: names resolve to nothing except
#: loopback, and anything else goes to a dead proxy.
_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--no-first-run",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)


def skip_without_chromium() -> None:
    """Skip the calling test module when Chromium, chromedriver or selenium is missing."""
    if not (CHROMIUM and CHROMEDRIVER):  # pragma: no cover - scripts/system-deps.sh installs both
        pytest.skip("headless Chromium and chromedriver are not installed (make system-deps)", allow_module_level=True)
    pytest.importorskip("selenium.webdriver")


@contextmanager
def offline_chromium(*extra: str, window: tuple[int, int]) -> Iterator[Any]:
    """A headless Chromium driven by selenium, with the browser console log kept; ``extra`` flags added."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (*_FLAGS, *extra, f"--window-size={window[0]},{window[1]}"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
