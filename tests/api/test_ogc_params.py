"""Invalid parameter values of the OGC features routes answer 400 with the OGC exception body (api.ogc_params)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.ogc_params import parse_bbox
from geo.errors import InvalidValueError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("offset=x", "offset"),
        ("bbox=1,2,3", "bbox"),
        ("bbox=a,b,c,d", "bbox"),
        ("bbox=1,50,2,40", "bbox"),
        ("bbox=1,2,3,inf", "bbox"),
        ("crs=http://www.opengis.net/def/crs/EPSG/0/3857", "crs"),
        ("crs=http://www.opengis.net/def/crs/EPSG/0/4326&coords=gcj02", "crs"),
        ("bbox-crs=urn:nope", "bbox-crs"),
        ("properties=name,secret", "properties"),
        ("covered=maybe", "covered"),
        ("nonsense=1", "nonsense"),
    ],
)
def test_invalid_values_answer_400_naming_the_parameter(blocks_client: TestClient, query: str, parameter: str):
    r = blocks_client.get(f"/collections/compounds/items?{query}")
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["code"] == "InvalidParameterValue"
    assert body["parameter"] == parameter and body["field"] == parameter
    assert f"`{parameter}`" in body["description"] and "无效" in body["description"]


def test_description_in_english_on_request(blocks_client: TestClient):
    body = blocks_client.get("/collections/compounds/items?limit=abc&lang=en").json()
    assert body["description"].startswith("invalid value of parameter `limit`")


def test_one_item_route_answers_400_too(blocks_client: TestClient):
    first = blocks_client.get("/collections/compounds/items?limit=1").json()["features"][0]
    r = blocks_client.get(f"/collections/compounds/items/{first['id']}?minutes=abc")
    assert r.status_code == 400 and r.json()["parameter"] == "minutes"


def test_other_routes_keep_422(blocks_client: TestClient):
    assert blocks_client.get("/tiles/compounds/23/0/0.png").status_code == 422


def test_crs84_accepted_and_announced(blocks_client: TestClient):
    r = blocks_client.get(f"/collections/compounds/items?limit=1&crs={CRS84}&bbox-crs={CRS84}")
    assert r.status_code == 200
    assert r.headers["Content-Crs"] == f"<{CRS84}>"
    assert blocks_client.get("/collections/compounds/items?limit=1").headers["Content-Crs"] == f"<{CRS84}>"


def test_bbox_across_the_antimeridian_is_allowed(blocks_client: TestClient):
    assert parse_bbox("170,-10,-170,10") == (170.0, -10.0, -170.0, 10.0)
    whole = blocks_client.get("/collections/compounds/items?limit=1").json()["numberMatched"]
    # the demo lies near 109.8 E: a box from 100 E eastwards across 180 to 170 W holds it all, one from 120 E none
    assert blocks_client.get("/collections/compounds/items?bbox=100,-90,-170,90&limit=1").json()["numberMatched"] == whole
    assert blocks_client.get("/collections/compounds/items?bbox=120,-90,-170,90&limit=1").json()["numberMatched"] == 0


def test_bbox_parser_rejects_out_of_range():
    with pytest.raises(InvalidValueError):
        parse_bbox("-181,0,1,1")


def test_routes_outside_collections_keep_422(blocks_client: TestClient):
    assert blocks_client.get("/coverage/summary?minutes=-5").status_code == 422
