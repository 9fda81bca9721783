"""A real browser (headless Chromium, offline) clicks a compound on the coverage map and sees its walk drawn.

The demo district served with the network method: the uncovered compound
with the longest finite walk is clicked where it lies on the screen; the
page fetches its route, draws the line (the part beyond the target dashed
red) and a label with its minutes; closing the popup removes it.  The
screenshot goes to the test's temporary folder (and to
``$DANGJIAN_ROUTE_SCREENSHOT`` when set).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import Settings
from layers.dataset import Dataset
from tests.api.helpers import copy_dataset, served_in_thread
from tests.helpers import DEMO
from tests.system.chromium import offline_chromium, skip_without_chromium

pytestmark = pytest.mark.browser

skip_without_chromium()

webdriver = pytest.importorskip("selenium.webdriver")
ActionChains = pytest.importorskip("selenium.webdriver.common.action_chains").ActionChains


@pytest.fixture(scope="module")
def base_url(_demo_built: Dataset) -> Iterator[str]:
    app = create_app(Settings(dataset=DEMO), dataset=copy_dataset(_demo_built))
    with served_in_thread(app) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    with offline_chromium("--disable-gpu", "--lang=zh-CN", window=(1400, 900)) as driver:
        yield driver


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - the loopback test server
        return json.loads(r.read())


def _wait(driver: webdriver.Chrome, script: str, what: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while not (value := driver.execute_script(script)):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen: {driver.execute_script('return window.DangjianMap && window.DangjianMap.route')}")
        time.sleep(0.05)
    return value


def test_clicking_a_compound_draws_its_walk_and_minutes(browser, base_url: str, tmp_path: Path):
    fc = _get(f"{base_url}/collections/compounds/items?limit=10000&method=network&properties=walk_min,covered,name")
    uncovered = [f for f in fc["features"] if not f["properties"]["covered"] and f["properties"]["walk_min"] is not None]
    target = max(uncovered, key=lambda f: f["properties"]["walk_min"])
    cid, walk_min = target["id"], target["properties"]["walk_min"]
    route = _get(f"{base_url}/collections/compounds/items/{cid}/route?method=network")
    assert route["properties"]["walk_min"] == walk_min and route["geometry"]["type"] == "LineString"

    browser.get(f"{base_url}/maps/coverage?method=network")
    _wait(browser, "return document.documentElement.getAttribute('data-dj-ready') === '1'", "the map loading")
    js = browser.execute_script
    # bring the compound and its route into the part of the map the title card, gap panel and legend leave free,
    # then click the compound where the browser shows it
    js(
        """var ctx = window.DangjianMap.ctx, c = arguments[0];
        var b = L.geoJSON(c).getBounds();
        ctx.map.fitBounds(b, {paddingTopLeft: [420, 80], paddingBottomRight: [290, 80], maxZoom: 16, animate: false});""",
        route["geometry"],
    )
    point = js(
        """var ctx = window.DangjianMap.ctx, id = arguments[0], hit = null;
        ctx.groups.compounds.eachLayer(function (g) {
          if (g.eachLayer) g.eachLayer(function (l) { if (l.feature && l.feature.id === id) hit = l; });
        });
        var p = ctx.map.latLngToContainerPoint(hit.getBounds().getCenter()), r = ctx.map.getContainer().getBoundingClientRect();
        var top = document.elementFromPoint(r.left + p.x, r.top + p.y);
        return [p.x - r.width / 2, p.y - r.height / 2, top && String(top.className.baseVal || top.className)];""",
        cid,
    )
    assert "dj-compound" in point[2]  # nothing lies over the compound where it is clicked
    container = browser.find_element("css selector", ".leaflet-container")
    ActionChains(browser).move_to_element_with_offset(container, int(point[0]), int(point[1])).click().perform()
    _wait(browser, "return window.DangjianMap.route && window.DangjianMap.route.state === 'drawn'", "the route drawing")
    assert js("return window.DangjianMap.route.id") == cid
    assert js("return document.querySelector('.leaflet-popup-content .dj-popup-title').textContent") == target["properties"]["name"]
    assert js("return document.querySelectorAll('path.dj-route').length") == 2  # within the target, and beyond it
    assert js("return document.querySelectorAll('path.dj-route-beyond').length") == 1
    assert js("return document.querySelector('path.dj-route-beyond').getAttribute('stroke-dasharray')") == "7 6"
    label = js("return document.querySelector('.dj-route-label').textContent")
    assert f"步行{walk_min:.1f}分钟" in label and "超" in label and route["properties"]["center"]["name"] in label
    assert js("return document.querySelectorAll('path.dj-route-casing').length") == 1
    resources = js("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    assert any(f"/collections/compounds/items/{cid}/route?method=network" in u for u in resources)
    assert all(u.startswith(base_url) for u in resources), resources
    errors = [e["message"] for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    time.sleep(0.3)
    shot = tmp_path / "route.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 50_000
    if os.environ.get("DANGJIAN_ROUTE_SCREENSHOT"):
        browser.save_screenshot(os.environ["DANGJIAN_ROUTE_SCREENSHOT"])
    # closing the popup takes the route away
    js("window.DangjianMap.ctx.map.closePopup()")
    assert js("return document.querySelectorAll('path.dj-route').length") == 0
    assert js("return window.DangjianMap.route") is None
