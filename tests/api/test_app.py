"""The app as a whole: routers listed, health, docs offline, error bodies, CORS, static files, reloads."""

from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

import api.routers
from api.app import create_app
from api.errors import ERROR_STATUS, status_for
from api.routers import ROUTERS
from api.settings import Settings
from api.state.dataset import DatasetState
from geo.errors import (
    CRSError,
    DangjianError,
    DatasetNotFoundError,
    InvalidValueError,
    MissingColumnError,
    NotBuiltError,
    NotFoundError,
)
from layers.dataset import Dataset, write_dataset
from tests.api.helpers import client_for


def test_every_router_module_is_listed_and_mounted():
    modules = {info.name: importlib.import_module(f"api.routers.{info.name}") for info in pkgutil.iter_modules(api.routers.__path__)}
    with_router = {name: m.router for name, m in modules.items() if isinstance(getattr(m, "router", None), APIRouter)}
    assert dict(ROUTERS) == with_router
    assert {"features", "health", "maps", "tiles"} <= set(with_router)
    app = create_app(Settings(dataset="/nonexistent.gpkg"))
    paths = set(app.openapi()["paths"])
    for path in ("/maps/coverage", "/embed/coverage", "/tiles/{layer}/{z}/{x}/{tile}", "/tiles/{layer}.json",
                 "/collections", "/collections/{layer}/items", "/collections/{layer}/items/{feature_id}",
                 "/coverage/summary", "/health"):
        assert path in paths


def test_health_answers_without_loading_the_dataset(monkeypatch: pytest.MonkeyPatch):
    loads: list[object] = []
    load = DatasetState._load

    def counting_load(self: DatasetState) -> None:
        loads.append(self)
        load(self)

    monkeypatch.setattr(DatasetState, "_load", counting_load)
    with TestClient(create_app(Settings(dataset="/nonexistent/district.gpkg"))) as c:
        r = c.get("/health")
        assert loads == []  # neither opened nor read the dataset
        # A page that needs the dataset does try to load it (and finds it missing).
        assert c.get("/coverage/summary").status_code == 404
        assert len(loads) == 1
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "loaded": False}
    assert r.headers["x-content-type-options"] == "nosniff"


def test_health_reports_the_loaded_dataset(blocks_client: TestClient):
    body = blocks_client.get("/health").json()
    assert body["loaded"] is True
    assert body["dataset"] == "测试区"
    assert len(body["version"]) == 12


def test_docs_work_offline_and_list_examples(blocks_client: TestClient):
    page = blocks_client.get("/docs").text
    assert "cdn.jsdelivr" not in page and "unpkg" not in page
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page
    js = blocks_client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000
    spec = blocks_client.get("/openapi.json").json()
    items = spec["paths"]["/collections/{layer}/items"]["get"]
    params = {p["name"]: p for p in items["parameters"]}
    assert params["bbox"]["examples"]["example"]["value"] == "109.76,39.59,109.79,39.61"
    assert params["minutes"]["examples"]["example"]["value"] == 10
    tile = spec["paths"]["/tiles/{layer}/{z}/{x}/{tile}"]["get"]
    assert {p["name"] for p in tile["parameters"]} >= {"layer", "z", "x", "tile", "minutes", "method", "coords"}


def test_root_redirects_a_browser_to_the_map(blocks_client: TestClient):
    r = blocks_client.get("/", follow_redirects=False, headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert r.status_code == 307
    assert r.headers["location"] == "maps/coverage"


@pytest.mark.parametrize(
    ("url", "status", "field"),
    [
        ("/collections/nope/items", 404, "layer"),
        ("/collections/compounds/items?bbox=1,2,3", 400, "bbox"),
        ("/collections/compounds/items?bbox=a,b,c,d", 400, "bbox"),
        ("/collections/compounds/items?bbox=10,10,5,5", 400, "bbox"),
        ("/collections/compounds/items?limit=0", 400, "limit"),
        ("/collections/compounds/items?offset=-1", 400, "offset"),
        ("/collections/compounds/items?minutes=abc", 400, "minutes"),
        ("/collections/compounds/items?minutes=0", 400, "minutes"),
        ("/collections/compounds/items?minutes=121", 400, "minutes"),
        ("/collections/compounds/items?method=bus", 400, "method"),
        ("/collections/compounds/items?properties=name,secret", 400, "properties"),
        ("/collections/compounds/items/ZZZ", 404, "featureId"),
        ("/tiles/compounds/23/0/0.png", 422, "z"),
        ("/tiles/compounds/2/4/0.png", 422, "x"),
        ("/tiles/compounds/2/0/4.png", 422, "y"),
        ("/tiles/compounds/2/0/abc.png", 422, "y"),
        ("/tiles/compounds/2/0/0@2x.mvt", 422, "y"),
        ("/tiles/roadz/14/0/0.png", 404, "layer"),
        ("/tiles/nope.json", 404, "layer"),
        ("/maps/coverage?community=不存在社区", 404, "community"),
        ("/maps/coverage?layers=compounds,secrets", 422, "layers"),
        ("/maps/coverage?basemap=tianditu", 422, "basemap"),
        ("/maps/coverage?lang=fr", 422, "lang"),
        ("/coverage/summary?minutes=-5", 422, "minutes"),
    ],
)
def test_bad_requests_answer_json_naming_the_parameter(blocks_client: TestClient, url: str, status: int, field: str):
    r = blocks_client.get(url)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["field"] == field
    assert isinstance(body["detail"], str) and body["detail"]


def test_unknown_route_is_a_json_404(blocks_client: TestClient):
    r = blocks_client.get("/no/such/page")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found", "field": None}


def test_error_table_maps_the_error_classes():
    assert status_for(NotFoundError("x")) == 404
    assert status_for(DatasetNotFoundError("x")) == 404
    assert status_for(NotBuiltError("x")) == 409
    assert status_for(MissingColumnError("x")) == 422
    assert status_for(CRSError("x")) == 422
    assert status_for(InvalidValueError("x")) == 422

    class Odd(DangjianError):
        pass

    class OddNotFound(NotFoundError):
        pass

    assert status_for(Odd("x")) == 400
    assert status_for(OddNotFound("x")) == 404
    assert all(400 <= s < 500 for s in ERROR_STATUS.values())


@pytest.mark.parametrize(
    "url",
    [
        "/static/../api/settings.py",
        "/static/%2e%2e/settings.py",
        "/static/%2e%2e/%2e%2e/pyproject.toml",
        "/static/..%2fsettings.py",
        "/static//etc/passwd",
        "/static/vendor/../../settings.py",
    ],
)
def test_static_paths_cannot_leave_the_static_folder(blocks_client: TestClient, url: str):
    r = blocks_client.get(url)
    assert r.status_code == 404
    assert "pydantic" not in r.text and "root:" not in r.text


def test_static_assets_are_served_with_validators(blocks_client: TestClient):
    r = blocks_client.get("/static/vendor/leaflet/leaflet.js")
    assert r.status_code == 200
    assert r.content.startswith(b"/* @preserve\n * Leaflet 1.9.4")
    again = blocks_client.get("/static/vendor/leaflet/leaflet.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304
    for licence in ("vendor/leaflet/LICENSE", "vendor/leaflet.fullscreen/LICENSE", "vendor/swagger-ui/LICENSE"):
        assert blocks_client.get(f"/static/{licence}").status_code == 200


def test_cors_allows_only_the_configured_origins(blocks_built: Dataset):
    portal = "https://portal.example.gov.cn"
    with client_for(blocks_built, cors_origins=[portal]) as c:
        ok = c.get("/tiles/compounds.json", headers={"Origin": portal})
        assert ok.headers["access-control-allow-origin"] == portal
        assert "etag" in ok.headers["access-control-expose-headers"].lower()
        other = c.get("/tiles/compounds.json", headers={"Origin": "https://evil.example.com"})
        assert "access-control-allow-origin" not in other.headers
        pre = c.options(
            "/tiles/compounds/17/0/0.png",
            headers={"Origin": portal, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "If-None-Match"},
        )
        assert pre.status_code == 200
        assert "GET" in pre.headers["access-control-allow-methods"]
    with client_for(blocks_built) as c:
        r = c.get("/tiles/compounds.json", headers={"Origin": portal})
        assert "access-control-allow-origin" not in r.headers


def test_head_answers_headers_without_a_body(blocks_client: TestClient):
    get = blocks_client.get("/tiles/compounds.json")
    head = blocks_client.head("/tiles/compounds.json")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["etag"] == get.headers["etag"]


def test_replacing_the_dataset_changes_the_version_and_empties_the_tile_cache(blocks_client: TestClient, blocks_built: Dataset):
    state = blocks_client.app.state.dangjian
    first = blocks_client.get("/tiles/compounds/3/6/3.png")
    assert len(state.tiles) == 1
    old = state.version
    state.replace(blocks_built)
    assert state.version != old
    assert len(state.tiles) == 0
    second = blocks_client.get("/tiles/compounds/3/6/3.png")
    assert second.headers["etag"] != first.headers["etag"]
    stale = blocks_client.get("/tiles/compounds/3/6/3.png", headers={"If-None-Match": first.headers["etag"]})
    assert stale.status_code == 200


def test_a_rewritten_dataset_file_is_reloaded(tmp_path: Path, blocks_built: Dataset):
    path = write_dataset(blocks_built, tmp_path / "blocks.built.gpkg")
    with TestClient(create_app(Settings(dataset=path, reload_check_s=0.01))) as c:
        before = c.get("/collections/compounds/items/A").json()
        assert before["properties"]["households"] == 400
        v1 = c.get("/health").json()["version"]
        changed = blocks_built.layers["compounds"].copy()
        changed.loc[changed["id"] == "A", "households"] = 450
        write_dataset(blocks_built.replace(compounds=changed), path)
        time.sleep(0.05)
        after = c.get("/collections/compounds/items/A").json()
        assert after["properties"]["households"] == 450
        assert c.get("/health").json()["version"] != v1


def test_an_unbuilt_dataset_is_built_on_first_use(blocks_gpkg: Path):
    with TestClient(create_app(Settings(dataset=blocks_gpkg))) as c:
        summary = c.get("/coverage/summary").json()
    assert summary["compounds"] == {"total": 4, "covered": 4, "uncovered": 0, "share": 1.0}
    assert summary["households"]["total"] == 1900
