"""A real browser (headless Chromium, WebGL on SwiftShader) draws the 3D party-building map of the demo, offline.

Every request that does not go to the loopback address is blocked.  The page
must draw from the vector tiles with a clean console: extruded compounds in
their three states, one column per centre, community labels as HTML markers;
search finds names in the tiles and, for a place out of view, through the
features API; names from the data stay text.  Screenshots go to the test's
temporary folder (and to ``$DANGJIAN_3D_SCREENSHOT`` when set); the page and
first-frame times are printed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from api.app import create_app
from api.settings import Settings
from layers.dataset import Dataset
from tests.api.helpers import EVIL, copy_dataset, served_in_thread
from tests.helpers import DEMO
from tests.system.chromium import offline_chromium, skip_without_chromium

pytestmark = pytest.mark.browser

skip_without_chromium()

webdriver = pytest.importorskip("selenium.webdriver")
uvicorn = pytest.importorskip("uvicorn")

PAPER = (0xF4, 0xF2, 0xEE)


@pytest.fixture(scope="module")
def base_url(_demo_built: Dataset) -> Iterator[str]:
    ds = copy_dataset(_demo_built)
    ds.layers["compounds"].loc[ds.layers["compounds"]["id"] == "XQ001", "name"] = EVIL
    with served_in_thread(create_app(Settings(dataset=DEMO), dataset=ds)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    # WebGL without a GPU: ANGLE on SwiftShader.
    flags = ("--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", "--lang=zh-CN")
    with offline_chromium(*flags, window=(1400, 900)) as driver:
        driver.set_script_timeout(30)
        yield driver


def _load(driver: webdriver.Chrome, url: str) -> dict:
    driver.get(url)
    deadline = time.monotonic() + 60
    while driver.execute_script("return document.documentElement.getAttribute('data-dj-ready')") != "1":
        if time.monotonic() > deadline:
            pytest.fail(f"3D map did not finish loading: {driver.execute_script('return window.DangjianMap3D && window.DangjianMap3D.errors')}")
        time.sleep(0.05)
    return driver.execute_script("return window.DangjianMap3D.times")


def _console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def _idle(driver: webdriver.Chrome) -> None:
    driver.execute_async_script("var done = arguments[0], m = window.DangjianMap3D.map; if (m.loaded()) done(); else m.once('idle', function () { done(); });")


def _popup_title(driver: webdriver.Chrome, want: str) -> str | None:
    title = "return (document.querySelector('.maplibregl-popup-content .dj-popup-title') || {}).textContent"
    deadline = time.monotonic() + 8
    while driver.execute_script(title) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return driver.execute_script(title)


def test_the_3d_map_draws_offline(browser, base_url: str, tmp_path: Path, _demo_built: Dataset):
    times = _load(browser, f"{base_url}/maps/3d")
    js = browser.execute_script
    assert js("return window.DangjianMap3D.errors") == []
    assert js("return document.querySelector('.dj-title-name').textContent") == "康巴什示范区"
    assert js("return document.querySelector('.dj-title-sub').textContent").startswith("三维党建地图")
    # the view's compounds from the tiles, extruded, in all three states; one column per centre
    states = js("return window.DangjianMap3D.map.queryRenderedFeatures({layers: ['compounds']}).map(f => f.properties.state)")
    assert set(states) == {"covered", "covered_no_org", "uncovered"}
    ids = set(js("return window.DangjianMap3D.map.querySourceFeatures('compounds', {sourceLayer: 'compounds'}).map(f => f.properties.id)"))
    assert ids == set(_demo_built["compounds"]["id"])
    assert js("return window.DangjianMap3D.map.getLayer('compounds').type") == "fill-extrusion"
    assert js("return window.DangjianMap3D.columns") == 20
    assert len(js("return window.DangjianMap3D.map.queryRenderedFeatures({layers: ['center-columns']})")) > 0
    labels = js("return Array.from(document.querySelectorAll('.dj3d-label')).map(n => n.textContent)")
    assert {"和谐社区", "康城社区", "康巴什示范区党群服务中心"} <= set(labels)
    overlapping = js(
        """var vis = s => Array.from(document.querySelectorAll(s)).filter(n => getComputedStyle(n).visibility !== 'hidden')
             .map(n => [n.textContent, n.getBoundingClientRect()]);
        var centres = vis('.dj3d-label-center'), out = [];
        vis('.dj3d-label-community').forEach(function (a) { centres.forEach(function (b) {
          var r = a[1], q = b[1];
          if (r.left < q.right && q.left < r.right && r.top < q.bottom && q.top < r.bottom) out.push(a[0] + '/' + b[0]);
        }); });
        return out;"""
    )
    assert overlapping == []  # 和谐社区 sat on 滨河街道党群服务中心
    assert js("return window.DangjianMap3D.map.getPitch()") > 30
    # offline: every request went to the service (tiles come through MapLibre's worker)
    resources = js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert resources and all(u.startswith((base_url, "blob:", "data:")) for u in resources), resources
    assert _console_errors(browser) == []
    shot = tmp_path / "map3d.png"
    assert browser.save_screenshot(str(shot))
    if os.environ.get("DANGJIAN_3D_SCREENSHOT"):
        browser.save_screenshot(os.environ["DANGJIAN_3D_SCREENSHOT"])
    canvas = js("var r = document.querySelector('canvas.maplibregl-canvas').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]")
    assert canvas[2] == 1400 and canvas[3] > 700
    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=int)
    drawn = np.abs(pixels - np.array(PAPER)).sum(axis=2) > 30
    assert drawn.mean() > 0.25  # not a blank canvas: roads, compounds and columns cover a quarter of it or more
    assert len(np.unique(pixels.reshape(-1, 3)[::7], axis=0)) > 200  # shaded extrusions, not flat fills
    assert times["firstFrame"] <= times["idle"]
    print(f"3D demo: map load {times['load']} ms, first frame {times['firstFrame']} ms, idle {times['idle']} ms after navigation")


def test_search_and_popups_in_3d(browser, base_url: str, _demo_built: Dataset):
    _load(browser, f"{base_url}/maps/3d")
    js, run = browser.execute_script, browser.execute_async_script
    search = "var done = arguments[arguments.length - 1]; window.DangjianMap.search(arguments[0]).then(done);"
    assert run(search, "泰瑞") == ["泰瑞湾家园"]  # any part of a name, from the tiles in view
    # a click on a compound opens its popup
    point = js(
        """var m = window.DangjianMap3D.map, c = m.getCanvas();
        for (var y = 200; y < c.clientHeight - 100; y += 23) for (var x = 450; x < c.clientWidth - 250; x += 23) {
          var f = m.queryRenderedFeatures([x, y]);
          if (f.length && f[0].layer.id === 'compounds') return [x, y, f[0].properties.name];
        }
        return null;"""
    )
    assert point is not None
    canvas = browser.find_element("css selector", "canvas.maplibregl-canvas")
    size = canvas.size
    webdriver.ActionChains(browser).move_to_element_with_offset(canvas, point[0] - size["width"] // 2, point[1] - size["height"] // 2).click().perform()
    assert _popup_title(browser, point[2]) == point[2]
    # out of view: the features API answers the exact name, and the map flies there
    js("document.querySelectorAll('.maplibregl-popup').forEach(p => p.remove()); window.DangjianMap3D.map.jumpTo({center: [0, 0], zoom: 14})")
    _idle(browser)
    assert run(search, "泰瑞") == []  # nothing in view
    assert run(search, "泰瑞湾家园") == ["泰瑞湾家园"]
    assert run(search, EVIL) == [EVIL]
    assert run("var done = arguments[1]; window.DangjianMap.searchGo(arguments[0]).then(done);", EVIL) == 1
    assert _popup_title(browser, EVIL) == EVIL  # shown as text
    assert js("return document.querySelectorAll('img[src=\"x\"]').length") == 0 and js("return window.__xss === undefined")
    evil = _demo_built["compounds"].set_index("id").geometry["XQ001"]
    assert abs(js("return window.DangjianMap3D.map.getCenter().lng") - evil.centroid.x) < 0.01  # flown there
    assert _console_errors(browser) == []


def test_the_3d_embed_in_english(browser, base_url: str):
    _load(browser, f"{base_url}/embed/3d?lang=en")
    js = browser.execute_script
    assert js("return document.querySelectorAll('.dj-title').length") == 0
    assert js("return document.querySelector('.dj3d-search input').placeholder") == "Find a compound or centre"
    assert js("return document.querySelector('.dj3d-legend').classList.contains('dj-collapsed')")
    assert js("return document.querySelector('.dj3d-legend .dj-legend-head').textContent") == "Legend"
    assert js("return window.DangjianMap3D.columns") == 20
    assert _console_errors(browser) == []
