"""A real browser (headless Chromium through Selenium) draws the demo coverage map, offline.

Every request that does not go to the loopback address is blocked (DNS mapped
to nothing and a dead proxy for everything else), the page must draw all 209
compounds and 20 centres, log no console error, and show script-looking names
as text.  A screenshot goes to the test's temporary folder (and to
``$DANGJIAN_SCREENSHOT`` when set).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import Settings
from layers.dataset import Dataset
from tests.api.chromium import offline_chromium, skip_without_chromium
from tests.api.conftest import EVIL, _copy, served_in_thread
from tests.conftest import DEMO

pytestmark = pytest.mark.browser

skip_without_chromium()

webdriver = pytest.importorskip("selenium.webdriver")
uvicorn = pytest.importorskip("uvicorn")

BOLD = "<b>中心</b>&amp;"


@pytest.fixture(scope="module")
def base_url(_demo_built: Dataset) -> Iterator[str]:
    ds = _copy(_demo_built)
    compounds, centers = ds.layers["compounds"], ds.layers["centers"]
    compounds.loc[compounds["id"] == "XQ001", "name"] = EVIL
    centers.loc[centers["id"] == "DQ05", "name"] = BOLD
    app = create_app(Settings(dataset=DEMO), dataset=ds)
    with served_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with offline_chromium("--disable-gpu", "--lang=zh-CN", window=(1400, 900)) as driver:
        yield driver


def _load(driver: webdriver.Chrome, url: str) -> dict:
    driver.get(url)
    deadline = time.monotonic() + 30
    while driver.execute_script("return document.documentElement.getAttribute('data-dj-ready')") != "1":
        if time.monotonic() > deadline:
            pytest.fail(f"map did not finish loading: {driver.execute_script('return window.DangjianMap && window.DangjianMap.errors')}")
        time.sleep(0.05)
    return driver.execute_script("return window.DangjianMap.counts")


def _console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def test_the_coverage_map_draws_offline_without_errors(browser, base_url: str, tmp_path: Path):
    counts = _load(browser, f"{base_url}/maps/coverage")
    time.sleep(0.4)  # let the fit-to-district animation and tiles settle for the screenshot
    assert counts["compounds"] == 209 and counts["centers"] == 20
    js = browser.execute_script
    assert js("return document.querySelectorAll('path.dj-compound').length") == 209
    assert js("return document.querySelectorAll('.leaflet-marker-icon.dj-center').length") == 20
    assert js("return document.querySelectorAll('path.dj-uncovered').length") == 27
    assert js("return document.querySelectorAll('.leaflet-marker-icon.dj-status-existing').length") == 16
    assert js("return document.querySelector('.dj-title-name').textContent") == "康巴什示范区"
    assert js("return document.querySelector('.dj-legend-head').textContent") == "图例"
    assert js("return document.querySelector('.leaflet-control-scale-line').textContent").endswith("m")
    assert js("return document.querySelectorAll('.fullscreen-icon').length") == 1
    assert "居民小区" in js("return document.querySelector('.leaflet-control-layers').textContent")
    assert js("return document.querySelectorAll('img.leaflet-tile-loaded').length") > 0  # roads and rivers tiles
    resources = js("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert resources and all(u.startswith(base_url) for u in resources), resources
    assert _console_errors(browser) == []
    shot = tmp_path / "map_zh.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    if os.environ.get("DANGJIAN_SCREENSHOT"):
        browser.save_screenshot(os.environ["DANGJIAN_SCREENSHOT"])


def test_names_from_the_data_show_as_text(browser, base_url: str):
    _load(browser, f"{base_url}/maps/coverage")
    js = browser.execute_script
    assert js("return window.DangjianMap.search('onerror')") == [EVIL]
    hit = js("return document.querySelector('.dj-search-hit .dj-search-name').textContent")
    assert hit == EVIL
    js("document.querySelector('.dj-search-hit').click()")
    title = "return (document.querySelector('.leaflet-popup-content .dj-popup-title') || {}).textContent"
    deadline = time.monotonic() + 5
    while js(title) is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert js(title) == EVIL
    assert js("return document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert js("return window.__xss === undefined")
    assert js("return window.DangjianMap.search('中心</b>')") == [BOLD]
    assert js("return document.querySelectorAll('.dj-search-results b').length") == 0
    assert _console_errors(browser) == []


def test_the_embed_and_english_pages(browser, base_url: str):
    counts = _load(browser, f"{base_url}/embed/coverage?lang=en&community=康城社区")
    js = browser.execute_script
    assert counts["compounds"] == 209
    assert js("return document.querySelectorAll('.dj-title').length") == 0
    assert js("return document.querySelector('.dj-legend-head').textContent") == "Legend"
    assert js("return document.querySelector('.dj-legend').classList.contains('dj-collapsed')")
    assert js("return document.querySelector('.dj-search input').placeholder") == "Find a compound or centre"
    assert _console_errors(browser) == []
