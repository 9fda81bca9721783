"""GDAL's OAPIF driver, a client nobody here wrote, reads every collection over HTTP.

The service runs in uvicorn on a free loopback port; a small ASGI wrapper
records every request it gets, so the tests can say how many GDAL needed.
GDAL learns its page size from the API definition (``service-desc``: the
``maximum`` of the ``limit`` parameter of the collection's items path), so
419 cells take five requests: the collections, the landing page, the API
definition, GDAL's 20-feature sample and one page of 10,000.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from api.app import create_app
from api.settings import Settings
from tests.api.helpers import served_in_thread
from tests.helpers import DEMO
from tests.pgcluster import free_port

pyogrio = pytest.importorskip("pyogrio")
uvicorn = pytest.importorskip("uvicorn")

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@dataclass
class Served:
    """A running server: its base URL and the requests it got (``path?query``), in order."""

    url: str
    requests: list[str] = field(default_factory=list)

    def get(self, path: str) -> Any:
        """A JSON document from the server, not counted among the client's requests."""
        with urllib.request.urlopen(f"{self.url}{path}", timeout=60) as r:  # noqa: S310 (loopback)
            return json.loads(r.read())


def _counting(app: Callable, requests: list[str]) -> Callable:
    """``app`` with every HTTP request's path and query appended to ``requests``."""

    async def counted(scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode("latin-1")
            requests.append(scope["path"] + (f"?{query}" if query else ""))
        await app(scope, receive, send)

    return counted


def _serve(dataset: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    served = Served("")
    app = create_app(Settings(dataset=dataset))
    with served_in_thread(_counting(app, served.requests)) as url:
        served.url = url
        served.get("/collections")  # the first load builds the dataset: not part of what GDAL is timed on
        served.requests.clear()
        yield served


@pytest.fixture
def blocks_served(blocks_gpkg: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The block district GeoPackage served by uvicorn."""
    yield from _serve(blocks_gpkg, monkeypatch)


@pytest.fixture
def demo_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A copy of the demo district (built by the service on first load) served by uvicorn."""
    path = tmp_path / DEMO.name
    shutil.copyfile(DEMO, path)
    yield from _serve(path, monkeypatch)


# ---------------------------------------------------------------------------
# a JSON-schema-like check (``jsonschema`` when installed, else the subset used here)

LINK = {"type": "object", "required": ["href", "rel"], "properties": {"href": {"type": "string"}, "rel": {"type": "string"}, "type": {"type": "string"}, "title": {"type": "string"}}}
LINKS = {"type": "array", "items": LINK, "minItems": 1}
LANDING = {"type": "object", "required": ["title", "description", "links"], "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "links": LINKS}}
BBOX = {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}
COLLECTION = {
    "type": "object",
    "required": ["id", "title", "description", "itemType", "extent", "crs", "storageCrs", "links"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "itemType": {"enum": ["feature"]},
        "crs": {"type": "array", "minItems": 1, "items": {"type": "string"}},
        "storageCrs": {"type": "string"},
        "extent": {
            "type": "object",
            "required": ["spatial"],
            "properties": {
                "spatial": {"type": "object", "required": ["crs"], "properties": {"bbox": {"type": "array", "minItems": 1, "items": BBOX}, "crs": {"type": "string"}}},
                "temporal": {"type": "object"},  # OGC extent.yaml: an object, or absent
            },
        },
        "links": LINKS,
    },
}
COLLECTIONS = {"type": "object", "required": ["collections", "links"], "properties": {"collections": {"type": "array", "items": COLLECTION}, "links": LINKS}}
TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "null": lambda v: v is None,
}


def _problems(value: Any, schema: dict, where: str = "$") -> list[str]:
    found = []
    kinds = schema.get("type")
    if kinds is not None and not any(TYPES[k](value) for k in ([kinds] if isinstance(kinds, str) else kinds)):
        return [f"{where}: {type(value).__name__}, not {kinds}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: {value!r} not one of {schema['enum']}")
    if isinstance(value, dict):
        found += [f"{where}: no {key!r}" for key in schema.get("required", []) if key not in value]
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                found += _problems(value[key], sub, f"{where}.{key}")
    if isinstance(value, list):
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            found.append(f"{where}: {len(value)} items")
        for i, item in enumerate(value):
            found += _problems(item, schema.get("items", {}), f"{where}[{i}]")
    return found


def check_schema(value: Any, schema: dict) -> None:
    """Fail with every place ``value`` does not fit ``schema``."""
    try:
        import jsonschema
    except ImportError:
        problems = _problems(value, schema)
        assert not problems, "\n".join(problems)
    else:
        jsonschema.validate(value, schema)


def test_the_schema_check_finds_problems():
    bad = {"id": 3, "title": "x", "itemType": "tile", "extent": {"spatial": {"bbox": [[1, 2, 3]], "crs": CRS84}}, "crs": [], "links": []}
    problems = _problems(bad, COLLECTION)
    assert "$.id: int, not string" in problems
    assert "$: no 'description'" in problems and "$: no 'storageCrs'" in problems
    assert any("itemType" in p for p in problems)
    assert "$.extent.spatial.bbox[0]: 3 items" in problems
    assert "$.crs: 0 items" in problems and "$.links: 0 items" in problems


# ---------------------------------------------------------------------------
# the documents GDAL reads


def test_landing_and_collections_documents(blocks_served: Served):
    landing = blocks_served.get("/")
    check_schema(landing, LANDING)
    body = blocks_served.get("/collections?lang=en")
    check_schema(body, COLLECTIONS)
    cells = next(c for c in body["collections"] if c["id"] == "cells")
    assert cells["title"] == "Analysis cells"
    assert (cells["crs"][0], cells["storageCrs"], cells["extent"]["spatial"]["crs"]) == (CRS84, CRS84, CRS84)
    assert "http://www.opengis.net/def/crs/EPSG/0/4326" in cells["crs"]  # Part 2, api.ogc_crs
    assert "temporal" not in cells["extent"]  # no time in these layers: absent, not null
    rels = {(link["rel"], link["type"]) for link in cells["links"]}
    assert {("self", "application/json"), ("items", "application/geo+json"), ("tiles", "application/json")} <= rels
    assert ("item", "application/vnd.mapbox-vector-tile") in rels and ("item", "image/png") in rels
    tilejson = next(link["href"] for link in cells["links"] if link["rel"] == "tiles")
    template = next(link for link in cells["links"] if link["type"] == "image/png")
    assert template["templated"] is True
    assert blocks_served.get(tilejson.removeprefix(blocks_served.url))["tiles"][0].endswith("/tiles/cells/{z}/{x}/{y}.mvt")
    zh = blocks_served.get("/collections/cells")
    check_schema(zh, COLLECTION)
    assert zh["title"] == "分析格网" and zh["description"].startswith("覆盖分析格网")
    from layers.tiles.source import TILE_LAYERS

    for c in body["collections"]:  # tile links exactly for the tiled layers
        assert any(link["rel"] == "tiles" for link in c["links"]) == (c["id"] in TILE_LAYERS), c["id"]


def test_the_api_definition_gives_each_collection_its_page_size(blocks_served: Served):
    links = {link["rel"]: link["href"] for link in blocks_served.get("/")["links"]}
    api = blocks_served.get(links["service-desc"].removeprefix(blocks_served.url))
    ids = [c["id"] for c in blocks_served.get("/collections")["collections"]]
    limit = api["components"]["parameters"]["limit"]
    assert (limit["name"], limit["in"], limit["schema"]["maximum"]) == ("limit", "query", 10_000)
    assert "default" not in limit["schema"]  # GDAL would page min(max(default, 1000), maximum)
    for layer in ids:
        params = api["paths"][f"/collections/{layer}/items"]["get"]["parameters"]
        assert {"$ref": "#/components/parameters/limit"} in params, layer
        assert not any(p.get("name") == "layer" for p in params), layer
    assert {"$ref": "#/components/parameters/limit"} in api["paths"]["/collections/{layer}/items"]["get"]["parameters"]


def test_six_number_bbox_ignores_heights(blocks_served: Served):
    four = blocks_served.get("/collections/compounds/items?bbox=-180,-90,180,90")
    six = blocks_served.get("/collections/compounds/items?bbox=-180,-90,-10,180,90,500&f=json")
    assert six["numberMatched"] == four["numberMatched"] == 4
    with pytest.raises(urllib.error.HTTPError) as err:
        blocks_served.get("/collections/compounds/items?bbox=1,2,3,4,5")
    assert err.value.code in (400, 422)


# ---------------------------------------------------------------------------
# GDAL reads everything


def _read_every_collection(served: Served) -> dict[str, tuple[int, int, float]]:
    """Read every collection with GDAL; check it against the served GeoJSON; ``{id: (features, requests, s)}``."""
    ids = [c["id"] for c in served.get("/collections")["collections"]]
    served.requests.clear()
    names = [str(n) for n in pyogrio.list_layers(f"OAPIF:{served.url}")[:, 0]]
    assert names == ids
    # the geometry types listed come from GDAL's 20-feature sample of each layer
    assert served.requests == ["/collections", "/", "/api", *(f"/collections/{n}/items?limit=20" for n in ids)]
    print(f"GDAL OAPIF list_layers: {len(ids)} layers, {len(served.requests)} requests")
    found = {}
    for layer in ids:
        served.requests.clear()
        t0 = time.perf_counter()
        frame = pyogrio.read_dataframe(f"OAPIF:{served.url}", layer=layer)
        seconds = time.perf_counter() - t0
        asked = list(served.requests)
        fc = served.get(f"/collections/{layer}/items?limit=10000")
        assert fc["numberReturned"] == fc["numberMatched"], layer  # one page holds every feature of these districts
        assert len(frame) == fc["numberMatched"], layer
        want = np.array([shapely.geometry.shape(f["geometry"]) if f["geometry"] else None for f in fc["features"]], dtype=object)
        got = frame.geometry.to_numpy()
        assert (shapely.is_missing(got) == shapely.is_missing(want)).all(), layer
        present = ~shapely.is_missing(want)
        assert shapely.equals_exact(got[present], want[present], tolerance=0).all(), layer
        found[layer] = (len(frame), len(asked), seconds)
        print(f"GDAL OAPIF {layer}: {len(frame)} features, {len(asked)} requests, {seconds:.2f} s: {asked}")
    return found


class _LogRequests:
    """The requests a server process logged since the last :meth:`clear` (``path?query``, in order)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = 0

    def clear(self) -> None:
        self.offset = self.log.stat().st_size

    def _paths(self) -> list[str]:
        time.sleep(0.3)  # the access line is written just after the answer
        text = self.log.read_bytes()[self.offset :].decode("utf-8", "replace")
        return re.findall(r'"GET (\S+) HTTP/1\.1"', text)

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths())

    def __len__(self) -> int:
        return len(self._paths())

    def __eq__(self, other: object) -> bool:
        return self._paths() == list(other)  # type: ignore[call-overload]

    __hash__ = None  # type: ignore[assignment]


def _serve_process(dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """``dangjian serve`` in its own process: GDAL's reads hold the GIL, so an in-thread server cannot answer them."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    pyogrio.set_gdal_config_options({"GDAL_HTTP_TIMEOUT": "60", "GDAL_HTTP_MAX_RETRY": "0"})
    port = free_port()
    log = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DANGJIAN_")}
    env.update({"DANGJIAN_DATA_DIR": str(tmp_path / "data"), "DANGJIAN_RATE_LIMIT_PER_MINUTE": "0", "PYTHONUNBUFFERED": "1"})
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dangjian")), "serve", str(dataset), "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the server did not answer /health within 120 s"
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2):  # noqa: S310 (loopback)
                    break
            except OSError:
                time.sleep(0.1)
        served = Served(url)
        served.requests = _LogRequests(log)  # type: ignore[assignment]
        yield served
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


@pytest.fixture
def blocks_process(blocks_gpkg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """The block district served by a ``dangjian serve`` process."""
    yield from _serve_process(blocks_gpkg, tmp_path, monkeypatch)


@pytest.fixture
def demo_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A copy of the demo district, built in place by ``dangjian serve`` in its own process."""
    path = tmp_path / DEMO.name
    shutil.copyfile(DEMO, path)
    yield from _serve_process(path, tmp_path, monkeypatch)


def test_gdal_reads_every_collection_of_the_blocks(blocks_process: Served):
    found = _read_every_collection(blocks_process)
    assert found["compounds"][0] == 4
    assert all(requests <= 5 for _, requests, _ in found.values()), found


def test_gdal_reads_every_collection_of_the_demo_in_few_requests(demo_process: Served):
    found = _read_every_collection(demo_process)
    features, requests, _ = found["cells"]
    assert features == 419
    assert requests <= 5
    assert all(r <= 5 for _, r, _ in found.values()), found  # no collection of the demo needs a second page
