"""``/collections/compounds/items/{id}/route``: the drawn walk is as long as ``walk_m``, on a hand-made lane and on the demo.

The lane (local metres, 15 minutes at 4 km/h = 1000 m)::

    孤路 (0,800)-(300,800)        R (150,900): 100 m from 孤路, which reaches no centre
                                                              东路 x = 1000, y 0-600
                 F (600,500): 400 m and more from every road   K community (1020,400)
    P (200,100)            Q (900,200): 100 m from 东路
    南街 (0,0) ------------------------------------------ (1000,0)

P walks 100 (down to 南街) + 800 (east) + 400 (north on 东路) + 20 (to K) = 1320 m,
19.8 min, not covered; straight it is hypot(820, 300) = 873.155 m, covered.
Q walks 100 + 200 + 20 = 320 m.  R is disconnected, F far from every road.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import LineString, Point, shape

from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset, empty_layer
from tests.api.helpers import client_for
from tests.helpers import LOCAL, ORIGIN, local, make_dataset, square


def lane() -> Dataset:
    ids = ["P", "Q", "R", "F"]
    centres = {"P": (200, 100), "Q": (900, 200), "R": (150, 900), "F": (600, 500)}
    layers = {
        "boundary": local(gpd.GeoDataFrame({"name": ["小区"], "level": ["district"], "parent": [""]}, geometry=[shapely.box(0, 0, 1100, 1000)])),
        "roads": local(
            gpd.GeoDataFrame(
                {"name": ["南街", "东路", "孤路"], "class": ["arterial", "arterial", "local"]},
                geometry=[LineString([(0, 0), (1000, 0)]), LineString([(1000, 0), (1000, 600)]), LineString([(0, 800), (300, 800)])],
            )
        ),
        "compounds": local(
            gpd.GeoDataFrame(
                {"id": ids, "name": [f"{i}苑" for i in ids], "households": [100] * 4, "has_party_org": [True] * 4},
                geometry=[square(*centres[i]) for i in ids],
            )
        ),
        "centers": local(
            gpd.GeoDataFrame({"id": ["K"], "name": ["东路中心"], "level": ["community"], "status": ["existing"]}, geometry=[Point(1020, 400)])
        ),
    }
    ds = make_dataset(layers)
    ds.layers["rivers"] = empty_layer("rivers")
    return build_dataset(ds, BuildParams(method="network"))


@pytest.fixture(scope="module")
def lane_client() -> Iterator[TestClient]:
    with client_for(lane()) as c:
        yield c


def in_local_metres(geometry: dict) -> list[list[float]]:
    line = gpd.GeoSeries([shape(geometry)], crs=4326).to_crs(LOCAL).iloc[0]
    return [[round(x - ORIGIN[0], 1), round(y - ORIGIN[1], 1)] for x, y in line.coords]


def metric_length(geometry: dict, crs: object) -> float:
    return float(gpd.GeoSeries([shape(geometry)], crs=4326).to_crs(crs).length.iloc[0])


def test_the_route_walks_to_the_road_along_it_and_to_the_centre(lane_client: TestClient):
    r = lane_client.get("/collections/compounds/items/P/route")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    f = r.json()
    assert f["type"] == "Feature" and f["id"] == "P" and f["geometry"]["type"] == "LineString"
    assert in_local_metres(f["geometry"]) == [[200, 100], [200, 0], [1000, 0], [1000, 400], [1020, 400]]
    p = f["properties"]
    assert p["walk_m"] == 1320.0 and p["walk_min"] == 19.8 and p["minutes"] == 15.0 and p["covered"] is False
    assert p["center"] == {"id": "K", "name": "东路中心", "level": "community"}
    assert p["legs_m"] == {"access": 100.0, "roads": 1200.0, "center": 20.0}
    assert p["method"] == "network" and p["unreachable"] == ""
    assert metric_length(f["geometry"], LOCAL) == pytest.approx(1320.0, abs=0.05)
    assert r.headers["etag"]


def test_a_short_covered_walk(lane_client: TestClient):
    f = lane_client.get("/collections/compounds/items/Q/route").json()
    assert in_local_metres(f["geometry"]) == [[900, 200], [1000, 200], [1000, 400], [1020, 400]]
    assert f["properties"]["walk_m"] == 320.0 and f["properties"]["covered"] is True


def test_no_reachable_centre_is_a_feature_without_geometry_and_its_reason(lane_client: TestClient):
    for cid, reason in (("R", "disconnected"), ("F", "far_from_road")):
        f = lane_client.get(f"/collections/compounds/items/{cid}/route").json()
        assert f["geometry"] is None and f["properties"]["unreachable"] == reason
        assert f["properties"]["walk_m"] is None and f["properties"]["center"] is None


def test_the_circle_method_draws_the_straight_line(lane_client: TestClient):
    f = lane_client.get("/collections/compounds/items/P/route?method=circle").json()
    assert in_local_metres(f["geometry"]) == [[200, 100], [1020, 400]]
    assert f["properties"]["walk_m"] == 873.2 and f["properties"]["covered"] is True and f["properties"]["method"] == "circle"
    legs = f["properties"]["legs_m"]
    assert legs["access"] == pytest.approx(873.155, abs=0.01) and legs["roads"] is None and legs["center"] is None
    assert f["links"][0]["href"].endswith("/collections/compounds/items/P/route?method=circle")


def test_an_unknown_compound_answers_404_as_items_does(lane_client: TestClient):
    r = lane_client.get("/collections/compounds/items/nope/route")
    assert r.status_code == 404
    assert r.json() == lane_client.get("/collections/compounds/items/nope").json()
    assert r.json() == {"detail": "layer `compounds` has no feature with id 'nope'", "field": "featureId"}


def test_the_route_is_in_the_openapi_document(lane_client: TestClient):
    op = lane_client.get("/openapi.json").json()["paths"]["/collections/compounds/items/{feature_id}/route"]["get"]
    assert {"200", "404"} <= set(op["responses"])
    assert "RouteFeature" in str(op["responses"]["200"])


def test_another_target_keeps_the_walk_and_moves_the_target(lane_client: TestClient):
    f = lane_client.get("/collections/compounds/items/Q/route?minutes=5").json()
    assert f["properties"]["walk_m"] == 320.0 and f["properties"]["minutes"] == 5.0 and f["properties"]["covered"] is True
    f = lane_client.get("/collections/compounds/items/Q/route?minutes=10&coords=gcj02").json()
    assert f["links"][0]["href"].endswith("/route?minutes=10&coords=gcj02")
    start = f["geometry"]["coordinates"][0]
    plain = lane_client.get("/collections/compounds/items/Q/route?minutes=10").json()["geometry"]["coordinates"][0]
    assert 0.001 < abs(start[0] - plain[0]) + abs(start[1] - plain[1]) < 0.02  # AMap's offset: a few hundred metres


@pytest.mark.parametrize("method", ["network", "circle"])
def test_every_demo_route_is_as_long_as_its_walk(demo_client: TestClient, method: str):
    fc = demo_client.get(f"/collections/compounds/items?limit=10000&method={method}&properties=walk_m").json()
    crs = demo_client.app.state.dangjian.dataset().metric_crs
    finite = 0
    for feat in fc["features"]:
        walk = feat["properties"]["walk_m"]
        f = demo_client.get(f"/collections/compounds/items/{feat['id']}/route?method={method}").json()
        if walk is None or not math.isfinite(walk):
            assert f["geometry"] is None and f["properties"]["unreachable"]
            continue
        finite += 1
        assert f["properties"]["walk_m"] == walk
        assert metric_length(f["geometry"], crs) == pytest.approx(walk, rel=0.02), feat["id"]
        assert metric_length(f["geometry"], crs) == pytest.approx(walk, abs=0.2), feat["id"]  # in fact to the decimetre
    assert finite == len(fc["features"]) == 209
