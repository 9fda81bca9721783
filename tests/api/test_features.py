"""OGC API - Features style endpoints and the coverage summary, on the hand-worked block district."""

from __future__ import annotations

import csv
import io
import math

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from geo.chinacoords import wgs84_to_gcj02
from layers.dataset import Dataset
from tests.api.helpers import client_for


def test_collections_list_layers_with_extents(blocks_client: TestClient, blocks_built: Dataset):
    body = blocks_client.get("/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids[:2] == ["compounds", "centers"]
    assert {"circles", "units", "grids", "cells", "boundary", "roads", "rivers"} <= set(ids)
    comp = next(c for c in body["collections"] if c["id"] == "compounds")
    assert comp["title"] == "居民小区"
    assert comp["numberOfFeatures"] == 4
    np.testing.assert_allclose(comp["extent"]["spatial"]["bbox"][0], blocks_built["compounds"].total_bounds)
    rels = {(link["rel"], link["type"]) for link in comp["links"]}
    assert ("items", "application/geo+json") in rels and ("items", "text/csv") in rels and ("tiles", "application/json") in rels
    en = blocks_client.get("/collections/compounds?lang=en").json()
    assert en["title"] == "Residential compounds"


def test_items_are_geojson_with_counts(blocks_client: TestClient):
    r = blocks_client.get("/collections/compounds/items")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == fc["numberReturned"] == 4
    by_id = {f["id"]: f["properties"] for f in fc["features"]}
    assert {k: v["households"] for k, v in by_id.items()} == {"A": 400, "B": 200, "C": 1000, "D": 300}
    assert {k: v["state"] for k, v in by_id.items()} == {"A": "covered", "B": "covered_no_org", "C": "covered", "D": "covered"}
    assert by_id["B"]["nearest_center"] == "S1"
    assert math.isclose(by_id["B"]["walk_m"], 335.4, abs_tol=0.2)  # sqrt(300² + 150²)
    assert fc["features"][0]["geometry"]["type"] == "Polygon"


def test_paging_follows_next_links_to_every_feature(blocks_client: TestClient):
    seen: list[str] = []
    url = "/collections/compounds/items?limit=3"
    pages = 0
    while url:
        fc = blocks_client.get(url).json()
        pages += 1
        seen += [f["id"] for f in fc["features"]]
        nxt = [link["href"] for link in fc["links"] if link["rel"] == "next"]
        url = nxt[0].replace("http://testserver", "") if nxt else ""
    assert pages == 2
    assert sorted(seen) == ["A", "B", "C", "D"]
    last = blocks_client.get("/collections/compounds/items?limit=3&offset=3").json()
    assert last["numberReturned"] == 1 and last["numberMatched"] == 4
    assert {link["rel"] for link in last["links"]} == {"self", "prev", "collection"}


def test_links_are_absolute_from_the_public_url(blocks_built: Dataset):
    with client_for(blocks_built, public_url="https://gis.example.gov.cn/dangjian/") as c:
        fc = c.get("/collections/compounds/items?limit=1").json()
    nxt = next(link["href"] for link in fc["links"] if link["rel"] == "next")
    assert nxt == "https://gis.example.gov.cn/dangjian/collections/compounds/items?limit=1&offset=1"


def test_bbox_selects_features_it_touches(blocks_client: TestClient, blocks_built: Dataset):
    a = blocks_built["compounds"].set_index("id").geometry["A"]
    x0, y0, x1, y1 = a.bounds
    fc = blocks_client.get(f"/collections/compounds/items?bbox={x0},{y0},{x1},{y1}").json()
    assert [f["id"] for f in fc["features"]] == ["A"]
    empty = blocks_client.get("/collections/compounds/items?bbox=0,0,1,1").json()
    assert empty["numberMatched"] == 0 and empty["features"] == []


def test_properties_selects_columns(blocks_client: TestClient):
    fc = blocks_client.get("/collections/compounds/items?properties=name,households").json()
    assert all(set(f["properties"]) == {"name", "households"} for f in fc["features"])


def test_one_item_by_id(blocks_client: TestClient):
    f = blocks_client.get("/collections/centers/items/S3").json()
    assert f["id"] == "S3"
    assert f["properties"]["status"] == "planned"
    assert f["geometry"]["type"] == "Point"
    assert {link["rel"] for link in f["links"]} == {"self", "collection"}


def test_circles_have_stable_ids(blocks_client: TestClient):
    fc = blocks_client.get("/collections/circles/items").json()
    ids = sorted(f["id"] for f in fc["features"])
    assert ids == sorted(f"S{i}-{m}" for i in (1, 2, 3) for m in (5, 10, 15))  # every centre x 3 bands
    radius = {f["id"]: f["properties"]["radius_m"] for f in fc["features"]}
    assert math.isclose(radius["S1-15"], 1000.0) and math.isclose(radius["S2-5"], 1000 / 3, rel_tol=1e-3)


def test_other_minutes_recompute_coverage(blocks_client: TestClient):
    fc = blocks_client.get("/collections/compounds/items?minutes=5").json()
    covered = {f["id"]: f["properties"]["covered"] for f in fc["features"]}
    assert covered == {"A": True, "B": False, "C": True, "D": False}  # B 335 m and D 450 m > 333 m
    units = blocks_client.get("/collections/units/items?minutes=5").json()["features"]
    assert sum(u["properties"]["covered_households"] for u in units) == 1400
    cells = blocks_client.get("/collections/cells/items?minutes=5&properties=kind,covered_households").json()["features"]
    square = sum(c["properties"]["covered_households"] for c in cells if c["properties"]["kind"] == "square")
    assert math.isclose(square, 1400, abs_tol=1)
    state = blocks_client.app.state.dangjian
    assert state.variant_key(5, None) == "m5-circle" and state.variant_key(15, "circle") == ""
    again = blocks_client.get("/collections/compounds/items?minutes=5").json()
    assert again["features"] == fc["features"]


def test_summary_has_the_build_figures(blocks_client: TestClient):
    s = blocks_client.get("/coverage/summary").json()
    assert s["compounds"] == {"total": 4, "covered": 4, "uncovered": 0, "share": 1.0}
    assert s["households"] == {"total": 1900, "covered": 1900, "uncovered": 0, "share": 1.0}
    assert s["no_party_org"] == 1
    assert s["centers"]["counted"] == 2 and s["centers"]["total"] == 3
    assert s["variant"] == "built" and s["minutes"] == 15
    five = blocks_client.get("/coverage/summary?minutes=5&lang=en").json()
    assert five["households"] == {"total": 1900, "covered": 1400, "uncovered": 500, "share": 0.736842}
    assert five["variant"] == "m5-circle"
    assert "Households 1,900: covered 1,400, not covered 500 (73.7% covered)" in five["lines"]


def test_csv_is_an_attribute_table_excel_can_open(evil_blocks: Dataset):
    layers = evil_blocks.layers["compounds"].copy()
    layers.loc[layers["id"] == "B", "name"] = "=HYPERLINK(\"http://x\")"
    with client_for(evil_blocks.replace(compounds=layers)) as c:
        r = c.get("/collections/compounds/items?f=csv&properties=name,households,covered")
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == 'attachment; filename="compounds.csv"'
    assert r.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["name", "households", "covered", "lon", "lat"]
    assert len(rows) == 5
    names = [row[0] for row in rows[1:]]
    assert "'=HYPERLINK(\"http://x\")" in names
    assert '<img src=x onerror="window.__xss=1">' in names
    assert [row[1] for row in rows[1:]] == ["400", "200", "1000", "300"]


def test_etag_and_304(blocks_client: TestClient):
    r = blocks_client.get("/collections/compounds/items")
    etag = r.headers["etag"]
    assert r.headers["cache-control"] == "no-cache"
    again = blocks_client.get("/collections/compounds/items", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = blocks_client.get("/collections/compounds/items?minutes=5", headers={"If-None-Match": etag})
    assert other.status_code == 200


def test_large_answers_are_gzipped(demo_client: TestClient):
    r = demo_client.get("/collections/compounds/items", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.json()["numberMatched"] == 209
    plain = demo_client.get("/collections/compounds/items", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert len(plain.content) > 8192


@pytest.mark.parametrize("layer", ["compounds", "centers"])
def test_gcj02_output_is_shifted_like_amap(blocks_client: TestClient, layer: str):
    wgs = blocks_client.get(f"/collections/{layer}/items").json()["features"]
    gcj = blocks_client.get(f"/collections/{layer}/items?coords=gcj02").json()["features"]
    for a, b in zip(wgs, gcj, strict=True):
        ga, gb = shapely.geometry.shape(a["geometry"]), shapely.geometry.shape(b["geometry"])
        x, y = shapely.get_coordinates(ga)[0]
        ex, ey = wgs84_to_gcj02(np.array([x]), np.array([y]))
        np.testing.assert_allclose(shapely.get_coordinates(gb)[0], [ex[0], ey[0]], atol=2e-6)
        shift_m = math.dist((x, y), (ex[0], ey[0])) * 111_000
        assert 100 < shift_m < 1000
    bad = blocks_client.get(f"/collections/{layer}/items?coords=bd09")
    assert bad.status_code == 400 and bad.json()["field"] == "coords"


def test_network_coverage_on_the_fly(blocks_client: TestClient):
    fc = blocks_client.get("/collections/compounds/items?method=network&properties=walk_m,straight_m,method").json()
    for f in fc["features"]:
        p = f["properties"]
        assert p["method"] == "network"
        assert p["walk_m"] >= p["straight_m"] - 1e-6  # a walk along roads is never shorter than the straight line
    areas = blocks_client.get("/collections/service_areas/items?method=network").json()
    assert areas["numberMatched"] > 0
    assert {f["properties"]["center_id"] for f in areas["features"]} <= {"S1", "S2"}  # only existing centres walk
    summary = blocks_client.get("/coverage/summary?method=network").json()
    assert summary["method"] == "network" and summary["variant"] == "m15-network"
