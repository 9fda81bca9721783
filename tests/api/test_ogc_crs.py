"""CRS by reference (OGC API - Features Part 2, api.ogc_crs): the collection's crs list, ``crs=`` and ``bbox-crs=``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pydantic import ValidationError
from pyproj import Transformer

from api.ogc_crs import CRS84, geometries_in
from api.settings import Settings
from tests.api.helpers import client_for

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


def _first_centre(client: TestClient, query: str = "") -> dict:
    return client.get(f"/collections/centers/items?limit=1{query}").json()["features"][0]


def test_collection_lists_crs84_wgs84_cgcs2000_and_the_metric_zone(blocks_client: TestClient):
    doc = blocks_client.get("/collections/centers").json()
    assert doc["storageCrs"] == CRS84
    assert doc["crs"][:3] == [CRS84, EPSG + "4326", EPSG + "4490"]
    # the block district lies near 109.8 E: CGCS2000 3-degree Gauss-Kruger CM 111E, EPSG:4546
    assert doc["crs"][3] == EPSG + "4546"
    conf = blocks_client.get("/conformance").json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs" in conf


@pytest.mark.parametrize("code", [4326, 4490])
def test_geographic_epsg_answers_latitude_first(blocks_client: TestClient, code: int):
    lon, lat = _first_centre(blocks_client)["geometry"]["coordinates"]
    r = blocks_client.get(f"/collections/centers/items?limit=1&crs={EPSG}{code}")
    assert r.headers["Content-Crs"] == f"<{EPSG}{code}>"
    y, x = r.json()["features"][0]["geometry"]["coordinates"]
    assert 39 < y < 41 and 109 < x < 111  # latitude first
    np.testing.assert_allclose([x, y], [lon, lat], atol=2e-6)


def test_metric_zone_matches_pyproj(blocks_client: TestClient):
    lon, lat = _first_centre(blocks_client)["geometry"]["coordinates"]
    feat = blocks_client.get(f"/collections/centers/items?limit=1&crs={EPSG}4546").json()["features"][0]
    ex, ey = Transformer.from_crs(4326, 4546, always_xy=True).transform(lon, lat)
    # CM 111E, false easting 500 km: a point at 109.8 E lies ~100 km west of it
    assert 380_000 < ex < 420_000 and 4_300_000 < ey < 4_500_000
    np.testing.assert_allclose(feat["geometry"]["coordinates"], [ex, ey], atol=0.2)  # CRS84 is rounded to ~0.1 m


def test_hand_worked_point():
    # 110 E 40 N in EPSG:4546 (TM, CM 111E, k=1, FE 500000).  By hand: N(40) = a / sqrt(1 - e2 sin2) ~ 6386977 m,
    # easting offset ~ N cos(lat) dlon (1 + (dlon cos)^2 (1 - t2 + eta2) / 6) ~ 85395 m west of the CM -> ~414605;
    # pyproj: 414605.380 / 4430008.068
    point = np.array([shapely.Point(110.0, 40.0)])
    x, y = shapely.from_geojson(geometries_in(point, EPSG + "4546")[0]).coords[0]
    ex, ey = Transformer.from_crs(4326, 4546, always_xy=True).transform(110.0, 40.0)
    assert (x, y) == (round(ex, 3), round(ey, 3))
    assert abs(x - 414_605.380) < 0.01 and abs(y - 4_430_008.068) < 0.01
    assert abs(x - 414_605) < 2  # the hand estimate


def test_polygons_keep_rfc7946_winding_in_lon_lat_terms(blocks_client: TestClient):
    feat = blocks_client.get(f"/collections/compounds/items?limit=1&crs={EPSG}4326").json()["features"][0]
    ring = np.array(feat["geometry"]["coordinates"][0])[:, ::-1]  # back to lon,lat
    assert shapely.LinearRing(ring).is_ccw


def test_bbox_crs_in_lat_lon_and_metres(blocks_client: TestClient):
    lon, lat = _first_centre(blocks_client)["geometry"]["coordinates"]
    d = 0.001
    latlon = f"{lat - d},{lon - d},{lat + d},{lon + d}"
    r = blocks_client.get(f"/collections/centers/items?bbox={latlon}&bbox-crs={EPSG}4326")
    assert r.status_code == 200 and r.json()["numberMatched"] >= 1
    x, y = Transformer.from_crs(4326, 4546, always_xy=True).transform(lon, lat)
    r = blocks_client.get(f"/collections/centers/items?bbox={x - 50},{y - 50},{x + 50},{y + 50}&bbox-crs={EPSG}4546")
    assert r.status_code == 200 and r.json()["numberMatched"] >= 1


@pytest.mark.parametrize(
    ("query", "parameter"),
    [(f"crs={EPSG}3857", "crs"), ("crs=EPSG:4326", "crs"), (f"bbox-crs={EPSG}2000&bbox=0,0,1,1", "bbox-crs"),
     (f"crs={EPSG}4326&coords=gcj02", "crs")],
)
def test_unsupported_crs_answers_400(blocks_client: TestClient, query: str, parameter: str):
    r = blocks_client.get(f"/collections/centers/items?{query}")
    assert r.status_code == 400 and r.json()["parameter"] == parameter


def test_one_item_in_a_crs(blocks_client: TestClient):
    first = _first_centre(blocks_client)
    r = blocks_client.get(f"/collections/centers/items/{first['id']}?crs={EPSG}4326")
    assert r.status_code == 200 and r.headers["Content-Crs"] == f"<{EPSG}4326>"
    assert r.json()["geometry"]["coordinates"] == pytest.approx(first["geometry"]["coordinates"][::-1], abs=2e-6)


def _decimals(value: float) -> int:
    text = repr(value)
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize("decimals", [4, 8])
def test_coordinate_decimals_setting_rounds_degrees_and_metres(blocks_built, decimals: int):
    with client_for(blocks_built, coordinate_decimals=decimals) as client:
        items = client.get("/collections/compounds/items?limit=50").json()["features"]
        coords = np.concatenate([np.asarray(shapely.from_geojson(json.dumps(f["geometry"])).exterior.coords) for f in items])
        assert max(_decimals(float(v)) for v in coords.ravel()) <= decimals
        if decimals == 8:  # the stored coordinates have more digits than 4 or 6: 8 is really used
            assert max(_decimals(float(v)) for v in coords.ravel()) > 6
        for f in items:  # valid after rounding
            assert shapely.is_valid(shapely.from_geojson(json.dumps(f["geometry"])))
        metric = client.get(f"/collections/compounds/items?limit=5&crs={EPSG}4546").json()["features"]
        xy = np.asarray(metric[0]["geometry"]["coordinates"][0]).ravel()
        assert max(_decimals(float(v)) for v in xy) <= max(decimals - 3, 0)


def test_coordinate_decimals_out_of_range_is_refused():
    with pytest.raises(ValidationError, match="coordinate_decimals"):
        Settings(coordinate_decimals=0)
