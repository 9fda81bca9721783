"""Compound access the way people walk: entrances where the perimeter meets the roads, hand-worked walks."""

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import LineString, Point, Polygon

from layers.coverage import compound_coverage
from layers.units import assign_to_polygons
from layers.walking import access_points, perimeter_entrances
from tests.helpers import LOCAL, local

#: A diamond compound: its south corner (50, 0) faces the street 10 m below; a dead-end courtyard
#: lane comes in from the north to (50, 85), 10 m from the point inside it (50, 75).
DIAMOND = Polygon([(50, 0), (100, 50), (50, 100), (0, 50)])


def town() -> dict[str, gpd.GeoDataFrame]:
    roads = [
        LineString([(-200, -10), (400, -10)]),  # the street
        LineString([(-200, 200), (400, 200)]),  # the north street
        LineString([(400, -10), (400, 200)]),  # the east link
        LineString([(50, 85), (50, 200)]),  # the lane: ends on the north street (a T), dead end inside
    ]
    return {
        "roads": local(gpd.GeoDataFrame({"name": ["街", "北街", "东路", "巷"]}, geometry=roads)),
        "compounds": local(gpd.GeoDataFrame({"id": ["K"], "name": ["菱形小区"], "households": [100], "population": [262], "has_party_org": [True]}, geometry=[DIAMOND])),
        "centers": local(
            gpd.GeoDataFrame({"id": ["S"], "name": ["中心"], "level": ["community"], "status": ["existing"]}, geometry=[Point(150, -20)])
        ),
    }


def test_the_inside_point_is_nearest_the_lane():
    inside = shapely.point_on_surface(DIAMOND)
    assert (inside.x, inside.y) == (50.0, 75.0)
    lane, street = LineString([(50, 85), (50, 200)]), LineString([(-200, -10), (400, -10)])
    assert inside.distance(lane) == 10.0 < inside.distance(street) == 85.0


def test_entrances_are_the_perimeter_points_nearest_each_road_in_reach():
    roads = np.array([LineString([(-200, -10), (400, -10)]), LineString([(50, 85), (50, 200)]), LineString([(-200, 200), (400, 200)])])
    pts, owner = perimeter_entrances(np.array([DIAMOND]), roads, reach_m=30.0)
    # the lane crosses the perimeter at (50, 100) (0 m), the street is 10 m from the corner (50, 0); the north street is 100 m off
    assert [(p.x, p.y) for p in pts] == [(50.0, 100.0), (50.0, 0.0)] and owner.tolist() == [0, 0]
    one, _ = perimeter_entrances(np.array([DIAMOND]), roads, reach_m=30.0, max_per_compound=1)
    assert [(p.x, p.y) for p in one] == [(50.0, 100.0)]


def test_a_compound_facing_a_street_is_entered_from_it_not_from_the_lane():
    t = town()
    kw = {"metric_crs": LOCAL, "method": "network", "roads": t["roads"], "minutes": 5, "access_reach_m": 30.0}
    c = compound_coverage(t["compounds"], t["centers"], **kw).set_index("id")
    # corner (50, 0): 10 m to the street, 100 m along it to (150, -10), 10 m to the centre
    assert c.loc["K", "walk_m"] == 120.0 and c.loc["K", "covered"]
    # from the inside point (as before; a gate there) the lane: 10 + 115 north + 350 east + 210 south + 250 west + 10
    gate = local(gpd.GeoDataFrame({"compound": ["K"]}, geometry=[Point(50, 75)]))
    g = compound_coverage(t["compounds"], t["centers"], gates=gate, **kw).set_index("id")
    assert g.loc["K", "walk_m"] == 945.0 and not g.loc["K", "covered"]
    # straight line from the compound itself: its edge point (90, 40) is hypot(60, 60) from the centre
    # (from the inside point (50, 75), with the setting off: hypot(100, 95) = 137.9)
    circle = compound_coverage(t["compounds"], t["centers"], metric_crs=LOCAL, roads=t["roads"], access_reach_m=30.0).set_index("id")
    assert circle.loc["K", "straight_m"] == pytest.approx(84.9, abs=0.05)
    before = compound_coverage(t["compounds"], t["centers"], metric_crs=LOCAL, roads=t["roads"]).set_index("id")
    assert before.loc["K", "straight_m"] == pytest.approx(137.9, abs=0.05)


def test_without_a_road_in_reach_the_inside_point_remains():
    t = town()
    far = t["roads"].iloc[[1]]  # only the north street, 100 m off
    pts, owner = access_points(t["compounds"].to_crs(LOCAL), roads=far)
    assert len(pts) == 1 and owner.tolist() == [0]
    assert shapely.get_coordinates(local(gpd.GeoDataFrame(geometry=[Point(50, 75)])).to_crs(LOCAL).geometry.to_numpy()) == pytest.approx(
        shapely.get_coordinates(pts)
    )


def test_units_place_a_compound_by_its_gate():
    t = town()
    units = local(gpd.GeoDataFrame({"id": ["U1", "U2"]}, geometry=[shapely.box(-200, -100, 100, 300), shapely.box(100, -100, 400, 300)]))
    gate = local(gpd.GeoDataFrame({"compound": ["K"]}, geometry=[Point(120, 0)]))  # a gate out east, in U2
    assert assign_to_polygons(t["compounds"], units, metric_crs=LOCAL).tolist() == ["U1"]
    assert assign_to_polygons(t["compounds"], units, metric_crs=LOCAL, gates=gate).tolist() == ["U2"]
