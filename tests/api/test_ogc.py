"""OGC API - Features as clients expect it: the landing page, conformance, capped limits, RFC 7946 winding.

The last test serves the block district over HTTP and reads it with OWSLib,
a client nobody here wrote.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from api.state.features import rfc7946_geometries
from layers.dataset import Dataset
from tests.api.helpers import client_for

BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"


def _rels(body: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in body["links"]}


def test_landing_page_json_links(blocks_client: TestClient):
    r = blocks_client.get("/", headers={"Accept": "application/json"}, follow_redirects=False)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert "accept" in r.headers["vary"].lower()
    body = r.json()
    assert body["title"] == "党群服务中心15分钟服务圈"
    links = _rels(body)
    assert set(links) == {"self", "service-desc", "service-doc", "conformance", "data", "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"}
    assert links["service-desc"] == {
        "href": "http://testserver/api",
        "rel": "service-desc",
        "type": "application/vnd.oai.openapi+json;version=3.0",
        "title": "接口定义(OpenAPI 3.0)",
    }
    assert (links["service-doc"]["href"], links["service-doc"]["type"]) == ("http://testserver/docs", "text/html")
    assert links["conformance"]["href"] == "http://testserver/conformance"
    assert links["data"]["href"] == "http://testserver/collections"
    # every link answers
    for rel in ("self", "service-desc", "conformance", "data"):
        assert blocks_client.get(links[rel]["href"]).status_code == 200, rel


def test_landing_page_f_json_and_english(blocks_client: TestClient):
    body = blocks_client.get("/?f=json&lang=en", follow_redirects=False).json()
    assert body["title"] == "Party-mass service centres: 15-minute service areas"
    links = _rels(body)
    assert links["data"]["title"] == "Collections"
    assert links["data"]["href"] == "http://testserver/collections?lang=en"
    assert links["self"]["href"] == "http://testserver/?f=json&lang=en"


def test_landing_links_follow_the_public_url(blocks_built: Dataset):
    with client_for(blocks_built, public_url="https://gis.example.gov.cn/dangjian/") as c:
        links = _rels(c.get("/?f=json").json())
    assert links["conformance"]["href"] == "https://gis.example.gov.cn/dangjian/conformance"
    assert links["service-desc"]["href"] == "https://gis.example.gov.cn/dangjian/api"


@pytest.mark.parametrize(
    ("accept", "query"),
    [(BROWSER_ACCEPT, ""), ("text/html", ""), ("application/json;q=0.5,text/html", ""), ("application/json", "?f=html")],
)
def test_browsers_still_go_to_the_map(blocks_client: TestClient, accept: str, query: str):
    r = blocks_client.get(f"/{query}", headers={"Accept": accept}, follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "maps/coverage"


@pytest.mark.parametrize("accept", ["*/*", None, "application/json", "application/json,text/html", "text/html", "x/y"])
def test_clients_get_the_landing_page_json(blocks_client: TestClient, accept: str | None):
    """``*/*`` or no ``Accept`` (OWSLib, GDAL, curl) is a client, not a browser; ``f=json`` overrides ``Accept``."""
    if accept is None:
        blocks_client.headers.pop("accept", None)
    query = "?f=json" if accept == "text/html" else ""
    r = blocks_client.get(f"/{query}", headers={"Accept": accept} if accept else {}, follow_redirects=False)
    assert r.status_code == 200
    assert _rels(r.json())["data"]["href"] == "http://testserver/collections"


def test_conformance_lists_only_what_is_met(blocks_client: TestClient):
    part2 = "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs"
    tiles = [f"http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{c}" for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt", "png")]
    assert blocks_client.get("/conformance").json() == {"conformsTo": [f"{CONF}/core", f"{CONF}/geojson", f"{CONF}/oas30", part2, *tiles]}


def test_limit_above_the_maximum_is_capped(blocks_client: TestClient):
    r = blocks_client.get("/collections/compounds/items?limit=50000&offset=1")
    assert r.status_code == 200
    fc = r.json()
    assert fc["numberMatched"] == 4 and fc["numberReturned"] == 3
    links = _rels(fc)
    assert links["self"]["href"] == "http://testserver/collections/compounds/items?limit=10000&offset=1"
    assert links["prev"]["href"] == "http://testserver/collections/compounds/items?limit=10000&offset=0"
    assert "next" not in links
    assert links["collection"]["href"] == "http://testserver/collections/compounds"
    # the API definition still tells clients the page size to ask for
    spec = blocks_client.get("/openapi.json").json()
    limit = next(p for p in spec["paths"]["/collections/{layer}/items"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 10000
    assert blocks_client.get("/collections/compounds/items?limit=0").status_code == 400


def test_next_link_uses_the_page_size_served(blocks_client: TestClient):
    fc = blocks_client.get("/collections/compounds/items?bbox=-180,-90,180,90&limit=3").json()
    assert _rels(fc)["next"]["href"] == "http://testserver/collections/compounds/items?bbox=-180%2C-90%2C180%2C90&limit=3&offset=3"


def test_rfc7946_winding_and_valid_after_rounding():
    cw_with_ccw_hole = shapely.Polygon([(0, 0), (0, 4), (4, 4), (4, 0)], holes=[[(1, 1), (2, 1), (2, 2), (1, 2)]])
    # a notch 0.6 wide: valid, but rounding to whole numbers folds it into a spike
    notched = shapely.Polygon([(0, 0), (10, 0), (10, 10), (5.3, 10), (5.3, 1), (4.7, 1), (4.7, 10), (0, 10)])
    assert notched.is_valid and not shapely.transform(notched, np.round).is_valid
    line = shapely.LineString([(0.1234567, 0), (1, 1)])
    out = rfc7946_geometries(np.array([cw_with_ccw_hole, notched, line, None], dtype=object), decimals=0)
    assert out[0].exterior.is_ccw and not out[0].interiors[0].is_ccw
    assert out[0].area == 15
    assert shapely.is_valid(out[1]) and out[1].exterior.is_ccw
    assert set(shapely.get_coordinates(out[1]).ravel()) <= {0.0, 1.0, 4.0, 5.0, 6.0, 10.0}
    assert shapely.equals(out[2], shapely.LineString([(0, 0), (1, 1)]))
    assert out[3] is None


def test_items_polygons_are_counter_clockwise(blocks_client: TestClient):
    for layer in ("compounds", "circles", "units"):
        fc = blocks_client.get(f"/collections/{layer}/items").json()
        polygons = [shapely.geometry.shape(f["geometry"]) for f in fc["features"] if f["geometry"]]
        parts = shapely.get_parts(np.array(polygons, dtype=object))
        parts = parts[shapely.get_type_id(parts) == 3]
        assert len(parts), layer
        assert all(p.exterior.is_ccw and not any(h.is_ccw for h in p.interiors) for p in parts), layer
        assert shapely.is_valid(parts).all(), layer
    one = blocks_client.get("/collections/compounds/items/A").json()
    assert shapely.geometry.shape(one["geometry"]).exterior.is_ccw


# ---------------------------------------------------------------------------
# a real client over HTTP


def test_owslib_reads_the_service(blocks_url: str):
    features = pytest.importorskip("owslib.ogcapi.features")
    api = features.Features(blocks_url)
    assert api.links and {link["rel"] for link in api.links} >= {"service-desc", "conformance", "data"}
    assert f"{CONF}/core" in api.conformance()["conformsTo"]
    ids = [c["id"] for c in api.collections()["collections"]]
    assert "compounds" in ids
    assert api.api()["paths"]["/collections/{layer}/items"]
    fc = api.collection_items("compounds", limit=2)
    assert fc["numberReturned"] == 2 and fc["numberMatched"] == 4
    polygon = shapely.geometry.shape(fc["features"][0]["geometry"])
    assert polygon.geom_type == "Polygon"
    assert shapely.LinearRing(polygon.exterior.coords).is_ccw
