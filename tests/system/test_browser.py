"""A real browser (headless Chromium through Selenium) draws the demo coverage map, offline.

Every request that does not go to the loopback address is blocked (DNS mapped
to nothing and a dead proxy for everything else), the page must draw all 209
compounds and 20 centres, log no console error, and show script-looking names
as text.  A screenshot goes to the test's temporary folder (and to
``$DANGJIAN_SCREENSHOT`` when set).
"""

from __future__ import annotations

import base64
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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

BOLD = "<b>中心</b>&amp;"


@pytest.fixture(scope="module")
def base_url(_demo_built: Dataset) -> Iterator[str]:
    ds = copy_dataset(_demo_built)
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
    assert js("return document.querySelector('.dj-gaps-head').textContent") == "Gaps: largest compounds not covered"
    assert js("return document.querySelector('.dj-print-control').textContent") == "PrintA4 landscapeA3 landscape"
    assert _console_errors(browser) == []


def _layer_checkbox(driver: webdriver.Chrome, label: str):
    for row in driver.find_elements("css selector", ".leaflet-control-layers-overlays label"):
        if row.text.strip() == label:
            return row.find_element("css selector", "input")
    pytest.fail(f"no layer switch {label!r}")


def _legend_keys(driver: webdriver.Chrome) -> set[str]:
    return set(driver.execute_script("return Array.from(document.querySelectorAll('.dj-legend [data-legend]')).map(r => r.dataset.legend)"))


def test_the_legend_lists_only_the_layers_that_are_on(browser, base_url: str):
    _load(browser, f"{base_url}/maps/coverage")
    keys = _legend_keys(browser)
    assert {"state-covered", "no-org", "land", "level-district", "status-planned", "rings", "boundary-community"} <= keys
    assert "units" not in keys and "grids" not in keys
    assert browser.execute_script("return document.querySelectorAll('.dj-legend .dj-ramp').length") == 1  # the gap ramp; cells are off
    _layer_checkbox(browser, "邻里单元").click()
    _layer_checkbox(browser, "党群服务中心").click()
    keys = _legend_keys(browser)
    assert "units" in keys and not any(k.startswith(("level-", "status-")) for k in keys)
    _layer_checkbox(browser, "分析格网").click()
    assert browser.execute_script("return document.querySelectorAll('.dj-legend .dj-ramp').length") == 2
    assert _console_errors(browser) == []


def test_labels_compounds_and_gaps_read_at_a_glance(browser, base_url: str, _demo_built: Dataset):
    _load(browser, f"{base_url}/maps/coverage")
    js = browser.execute_script
    comps = _demo_built["compounds"]
    # community labels never under a centre marker, at the district view and closer in
    for zoom in (None, 14.5, 15.5):
        if zoom is not None:
            js(f"window.DangjianMap.ctx.map.setZoom({zoom}, {{animate: false}})")
        js("window.DangjianMap.placeLabels()")
        assert js("return window.DangjianMap.labelCollisions()") == []
    js("window.DangjianMap.fit(); window.DangjianMap.placeLabels()")
    labels = js("return window.DangjianMap.labels")
    assert labels["moved"] >= 1 and labels["placed"] + labels["moved"] + labels["dropped"] == 8  # 和谐社区 sat under 街
    # land without compounds is hatched, under the road tiles
    assert js("return document.querySelectorAll('path.dj-land').length") == 1
    assert js("return getComputedStyle(document.querySelector('path.dj-land')).fill") == 'url("#dj-hatch")'
    assert js("return getComputedStyle(document.querySelector('.leaflet-dj-land-pane')).zIndex") == "150"
    # uncovered compounds on a gradient by minutes beyond the target; no party organisation has its own outline
    fills = js("return Array.from(document.querySelectorAll('path.dj-uncovered')).map(p => p.getAttribute('fill'))")
    assert len(fills) == 27 and len(set(fills)) >= 10
    assert js("return document.querySelectorAll('path.dj-no-org').length") == int((~comps["has_party_org"]).sum())
    assert js("return document.querySelector('path.dj-no-org').getAttribute('stroke-dasharray')") == "3 2"
    # the gap panel: the ten largest uncovered compounds, a click zooms there and opens the popup
    uncovered = comps[~comps["covered"]].sort_values("households", ascending=False, kind="stable")
    rows = js("return Array.from(document.querySelectorAll('.dj-gap .dj-gap-name')).map(n => n.textContent)")
    assert rows == uncovered["name"].head(10).tolist()
    first = js("return document.querySelector('.dj-gap .dj-gap-figures').textContent")
    worst = uncovered.iloc[0]
    assert first.startswith(f"{worst['households']:,}户") and "超" in first
    zoom = js("return window.DangjianMap.ctx.map.getZoom()")
    js("document.querySelectorAll('.dj-gap')[1].click()")
    title = "return (document.querySelector('.leaflet-popup-content .dj-popup-title') || {}).textContent"
    deadline = time.monotonic() + 5
    while js(title) != uncovered["name"].iloc[1] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert js(title) == uncovered["name"].iloc[1]
    assert js("return window.DangjianMap.ctx.map.getZoom()") > zoom
    assert _console_errors(browser) == []


def test_the_print_view(browser, base_url: str, tmp_path: Path):
    _load(browser, f"{base_url}/maps/coverage")
    js = browser.execute_script
    browser.execute_async_script("window.DangjianMap.preparePrint('a4').then(function () { arguments[0](); }.bind(null, arguments[0]))")
    size = js("var s = window.DangjianMap.ctx.map.getSize(); return [s.x, s.y]")
    assert size == [1060, 730]
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        shown = "return getComputedStyle(document.querySelector(arguments[0])).display !== 'none'"
        for selector in (".dj-title", ".dj-legend", ".leaflet-control-scale", ".dj-north", ".dj-print-date"):
            assert js(shown, selector), selector
        hidden = (".dj-search", ".dj-gaps", ".leaflet-control-layers", ".leaflet-control-zoom", ".leaflet-control-zoom-fullscreen", ".dj-print-control")
        for selector in hidden:
            assert not js(shown, selector), selector
        assert js("return document.querySelector('.dj-print-date').textContent").startswith("制图日期: 20")
        assert js("return document.querySelector('.dj-north text').textContent") == "北"
        shot = tmp_path / "print_a4.png"
        browser.save_screenshot(str(shot))
        if os.environ.get("DANGJIAN_PRINT_SCREENSHOT"):
            browser.save_screenshot(os.environ["DANGJIAN_PRINT_SCREENSHOT"])
        pdf = base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True})["data"])
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    pages = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert len(pages) == 1  # one sheet
    width, height = (float(v) for v in pages[0])
    assert abs(width - 841.9) < 2 and abs(height - 595.3) < 2  # A4 landscape in points
    js("window.DangjianMap.preparePrint('a3')")
    assert js("var s = window.DangjianMap.ctx.map.getSize(); return [s.x, s.y]") == [1524, 1060]
    js("window.DangjianMap.endPrint()")
    assert js("var s = window.DangjianMap.ctx.map.getSize(); return [s.x, s.y]") != [1524, 1060]
    assert _console_errors(browser) == []


#: The share of the viewport where the map shows: sampled every 2 px against the rects of every visible panel.
MAP_SHARE_JS = """
var sel = '.dj-phone-bar, .dj-sheet, .leaflet-control-container .leaflet-control';
var rects = Array.from(document.querySelectorAll(sel))
  .filter(function (e) { return e.offsetParent !== null && getComputedStyle(e).visibility !== 'hidden'; })
  .map(function (e) { return e.getBoundingClientRect(); });
var vw = window.innerWidth, vh = window.innerHeight, n = 0, covered = 0;
for (var y = 1; y < vh; y += 2) for (var x = 1; x < vw; x += 2) {
  n++;
  if (rects.some(function (r) { return x >= r.left && x < r.right && y >= r.top && y < r.bottom; })) covered++;
}
return 1 - covered / n;
"""

#: Whether the element of selector arguments[0], scrolled to within its panel, lies in the viewport and is what a
#: tap on its centre hits.
REACHABLE_JS = """
var e = document.querySelector(arguments[0]);
if (!e) return 'missing';
e.scrollIntoView({block: 'nearest'});
var r = e.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
if (r.width < 1 || r.height < 1 || r.left < 0 || r.top < 0 || r.right > window.innerWidth + 0.5 || r.bottom > window.innerHeight + 0.5) return 'outside';
var hit = document.elementFromPoint(x, y);
return hit === e || e.contains(hit) ? 'ok' : 'covered by ' + (hit && hit.className);
"""


@pytest.fixture(scope="module")
def phone() -> Iterator[webdriver.Chrome]:
    with offline_chromium("--disable-gpu", "--lang=zh-CN", window=(390, 844)) as driver:
        driver.execute_cdp_cmd(
            "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 2, "mobile": True}
        )
        yield driver


def test_the_map_on_a_phone(phone, base_url: str, tmp_path: Path, _demo_built: Dataset):
    _load(phone, f"{base_url}/maps/coverage")
    time.sleep(0.4)
    js = phone.execute_script
    assert js("return [window.innerWidth, window.innerHeight]") == [390, 844]
    assert js("return document.querySelector('.folium-map').classList.contains('dj-phone')")
    rect = js("var r = document.querySelector('.folium-map').getBoundingClientRect(); return [r.width, r.height]")
    assert rect == [390, 844]
    share = js(MAP_SHARE_JS)
    shot = tmp_path / "phone.png"
    assert phone.save_screenshot(str(shot))
    if os.environ.get("DANGJIAN_PHONE_SCREENSHOT"):
        phone.save_screenshot(os.environ["DANGJIAN_PHONE_SCREENSHOT"])
    assert share >= 0.70, share
    assert js("return document.querySelector('.dj-phone-name').textContent") == "康巴什示范区"
    # every control is reachable: on the map, in the bar and in each tab of the sheet
    for selector in (".leaflet-control-zoom-in", ".leaflet-control-zoom-out", ".leaflet-control-zoom-fullscreen", ".dj-print-control .dj-print-a4",
                     ".dj-phone-bar", ".dj-tab-search", ".dj-tab-layers", ".dj-tab-legend", ".dj-tab-gaps"):
        assert js(REACHABLE_JS, selector) == "ok", selector
    inside = {
        "search": ".dj-sheet .dj-search input",
        "layers": ".dj-sheet .leaflet-control-layers-overlays label:last-child input",
        "legend": ".dj-sheet .dj-legend [data-legend='rings']",
        "gaps": ".dj-sheet .dj-gap:last-child",
    }
    shares = {}
    for tab, selector in inside.items():
        js(f"document.querySelector('.dj-tab-{tab}').click()")
        assert js(REACHABLE_JS, selector) == "ok", tab
        shares[tab] = js(MAP_SHARE_JS)
        phone.save_screenshot(str(tmp_path / f"phone_{tab}.png"))
        if os.environ.get("DANGJIAN_PHONE_SCREENSHOT"):
            phone.save_screenshot(os.environ["DANGJIAN_PHONE_SCREENSHOT"].replace(".png", f"_{tab}.png"))
        js(f"document.querySelector('.dj-tab-{tab}').click()")  # closes it again
    assert min(shares.values()) >= 0.5, shares  # an open sheet still leaves half the map
    assert js("return window.DangjianMap.sheet()") is None
    js("document.querySelector('.dj-phone-bar').click()")
    assert js(REACHABLE_JS, ".dj-phone-bar .dj-title .dj-kpis") == "ok"
    js("document.querySelector('.dj-phone-bar').click()")
    # a gap chosen on the phone: the sheet folds and the popup opens on the map
    js("document.querySelector('.dj-tab-gaps').click()")
    js("document.querySelector('.dj-sheet .dj-gap').click()")
    title = "return (document.querySelector('.leaflet-popup-content .dj-popup-title') || {}).textContent"
    comps = _demo_built["compounds"]
    first = comps[~comps["covered"]].sort_values("households", ascending=False, kind="stable")["name"].iloc[0]
    deadline = time.monotonic() + 5
    while js(title) != first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert js(title) == first
    assert js("return window.DangjianMap.sheet()") is None
    assert _console_errors(phone) == []
    print(f"phone 390x844: map visible {share:.1%} (sheet open: {', '.join(f'{k} {v:.1%}' for k, v in shares.items())})")
