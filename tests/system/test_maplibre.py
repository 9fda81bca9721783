"""MapLibre GL JS (vendored, served by us) adds our vector TileJSON and PNG tiles in a headless browser, offline.

The test page is another origin (Python's ``http.server`` on a second port),
as a portal would be: it loads ``/static/vendor/maplibre-gl/maplibre-gl.js``
from the service and reads TileJSON and tiles across origins, allowed by the
service's CORS setting (``DANGJIAN_CORS_ORIGINS``).  Every request that does
not go to the loopback address is blocked.  A screenshot goes to the test's
temporary folder (and to ``$DANGJIAN_MAPLIBRE_SCREENSHOT`` when set).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.app import create_app
from api.settings import Settings
from layers.dataset import Dataset
from tests.api.helpers import copy_dataset, served_in_thread
from tests.helpers import DEMO
from tests.pgcluster import free_port
from tests.system.chromium import offline_chromium, skip_without_chromium

pytestmark = pytest.mark.browser

skip_without_chromium()

webdriver = pytest.importorskip("selenium.webdriver")
uvicorn = pytest.importorskip("uvicorn")

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>MapLibre and dangjian-map</title>
<link rel="stylesheet" href="{api}/static/vendor/maplibre-gl/maplibre-gl.css">
<script src="{api}/static/vendor/maplibre-gl/maplibre-gl.js"></script>
<style>html, body, #map {{ margin: 0; width: 100%; height: 100%; }}</style>
</head><body><div id="map"></div>
<script>
window.errors = [];
window.ready = false;
var map = new maplibregl.Map({{
  container: "map",
  center: {center},
  zoom: {zoom},
  fadeDuration: 0,
  style: {{
    version: 8,
    sources: {{
      compounds: {{ type: "vector", url: "{api}/tiles/compounds.json" }},
      centers: {{ type: "vector", url: "{api}/tiles/centers.json" }},
      roads: {{ type: "raster", tiles: ["{api}/tiles/roads/{{z}}/{{x}}/{{y}}.png"], tileSize: 256 }}
    }},
    layers: [
      {{ id: "paper", type: "background", paint: {{ "background-color": "#f4f2ee" }} }},
      {{ id: "roads", type: "raster", source: "roads" }},
      {{ id: "compounds", type: "fill", source: "compounds", "source-layer": "compounds",
         paint: {{ "fill-color": ["match", ["get", "state"], "covered", "#2f9e5a", "covered_no_org", "#f2a93b", "#d7301f"],
                   "fill-opacity": 0.6, "fill-outline-color": "#333333" }} }},
      {{ id: "centers", type: "circle", source: "centers", "source-layer": "centers",
         paint: {{ "circle-radius": 8, "circle-color": "#1f6fb4", "circle-stroke-color": "#ffffff", "circle-stroke-width": 2 }} }}
    ]
  }}
}});
map.on("error", function (e) {{ window.errors.push(String((e.error && e.error.message) || e)); }});
map.once("idle", function () {{ window.ready = true; }});
</script></body></html>
"""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


@pytest.fixture(scope="module")
def page_url(_blocks_built: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    api_port, page_port = free_port(), free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    app = create_app(Settings(dataset=DEMO, cors_origins=[page_origin]), dataset=copy_dataset(_blocks_built))
    from fastapi.testclient import TestClient

    tilejson = TestClient(app).get("/tiles/compounds.json").json()
    lon, lat, zoom = tilejson["center"]
    folder = tmp_path_factory.mktemp("portal")
    (folder / "index.html").write_text(
        PAGE.format(api=f"http://127.0.0.1:{api_port}", center=json.dumps([lon, lat]), zoom=zoom - 0.5), encoding="utf-8"
    )
    handler = functools.partial(_QuietHandler, directory=str(folder))
    portal = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    portal_thread = threading.Thread(target=portal.serve_forever, daemon=True)
    portal_thread.start()
    with served_in_thread(app, port=api_port):
        yield f"{page_origin}/index.html"
    portal.shutdown()
    portal_thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    # WebGL without a GPU: ANGLE on SwiftShader.
    with offline_chromium("--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist", window=(1000, 750)) as driver:
        yield driver


def test_maplibre_draws_our_vector_tilejson_and_png_tiles(browser, page_url: str, tmp_path: Path):
    browser.get(page_url)
    js = browser.execute_script
    deadline = time.monotonic() + 45
    while not js("return window.ready === true"):
        if time.monotonic() > deadline:
            pytest.fail(f"MapLibre did not become idle: {js('return window.errors')}")
        time.sleep(0.1)
    assert js("return window.errors") == []
    assert js("return map.loaded()") is True
    assert js("return map.getSource('compounds').tiles[0]").endswith("/tiles/compounds/{z}/{x}/{y}.mvt")
    compounds = js("return map.querySourceFeatures('compounds', {sourceLayer: 'compounds'}).map(f => f.properties.id)")
    assert set(compounds) == {"A", "B", "C", "D"}  # a compound cut by a tile edge comes once per tile
    states = js("return map.queryRenderedFeatures({layers: ['compounds']}).map(f => f.properties.state)")
    assert set(states) == {"covered", "covered_no_org"}
    assert len(set(js("return map.querySourceFeatures('centers', {sourceLayer: 'centers'}).map(f => f.properties.id)"))) >= 2
    assert js("return map.isSourceLoaded('roads')") is True
    resources = js("return performance.getEntriesByType('resource').map(e => e.name)")
    assert any("/tiles/roads/" in u and u.endswith(".png") for u in resources)  # MVT is fetched in the worker
    assert all(u.startswith("http://127.0.0.1:") or u.startswith("blob:") for u in resources), resources
    severe = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []
    shot = tmp_path / "maplibre.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    if os.environ.get("DANGJIAN_MAPLIBRE_SCREENSHOT"):
        browser.save_screenshot(os.environ["DANGJIAN_MAPLIBRE_SCREENSHOT"])


def test_the_vendored_files_and_licence_are_served(blocks_client):
    for name, media in (("maplibre-gl.js", "javascript"), ("maplibre-gl.css", "text/css"), ("LICENSE.txt", "text/plain")):
        r = blocks_client.get(f"/static/vendor/maplibre-gl/{name}")
        assert r.status_code == 200 and media in r.headers["content-type"] and r.headers["etag"]
    assert "MapLibre contributors" in blocks_client.get("/static/vendor/maplibre-gl/LICENSE.txt").text
    assert "MapLibre GL JS" in blocks_client.get("/static/vendor/maplibre-gl/maplibre-gl.js").text[:200]
