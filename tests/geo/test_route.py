"""The path of a walk (geo.network.walk_route): hand-worked routes on a small L-shaped road, and agreement with the coverage pass.

The road is one line (0,0) -> (400,0) -> (400,300) plus a spur (1000,0)-(1100,0)
nobody can reach; the centre stands at (420,200), 20 m east of the vertical leg::

    (400,300)
        |
        |  (420,200) centre: snaps to (400,200), 20 m
        |
    (0,0)------(100,0)---------(400,0)            (1000,0)--(1100,0)
             T0 (100,30): 30 m up
        T1 (50,-80): 80 m down

T0 walks 30 + 300 + 200 + 20 = 550 m, T1 80 + 350 + 200 + 20 = 650 m.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely

from geo.network import build_walk_network, walk_coverage, walk_route
from tests.geo.test_network import grid_roads, roads_of, seg

CENTRE = (420.0, 200.0)


@pytest.fixture(scope="module")
def ell():
    return build_walk_network(roads_of([seg((0, 0), (400, 0), (400, 300)), seg((1000, 0), (1100, 0))]))


def test_the_route_walks_to_the_road_along_it_and_to_the_centre(ell):
    route = walk_route(ell, CENTRE, [(50.0, -80.0), (100.0, 30.0)])
    assert route.found and route.target == 1
    assert route.length_m == pytest.approx(550.0)
    assert route.xy.tolist() == [[100, 30], [100, 0], [400, 0], [400, 200], [420, 200]]
    assert shapely.LineString(route.xy).length == pytest.approx(550.0)
    assert (route.access_m, route.roads_m, route.source_m) == pytest.approx((30.0, 500.0, 20.0))


def test_the_route_of_the_farther_target_alone(ell):
    route = walk_route(ell, np.array([CENTRE]), [(50.0, -80.0)])
    assert route.length_m == pytest.approx(650.0)
    assert route.xy.tolist() == [[50, -80], [50, 0], [400, 0], [400, 200], [420, 200]]


def test_a_target_on_the_centres_edge_walks_straight_along_it(ell):
    # both on (0,0)-(400,0): 40 down to (300,0), 100 west, 10 up to the centre at (200,10)
    route = walk_route(ell, (200.0, 10.0), [(300.0, -40.0)])
    assert route.length_m == pytest.approx(150.0)
    assert route.xy.tolist() == [[300, -40], [300, 0], [200, 0], [200, 10]]


def test_a_walk_of_zero_metres_is_one_point_twice(ell):
    route = walk_route(ell, (400.0, 100.0), [(400.0, 100.0)])
    assert route.length_m == 0.0
    assert route.xy.tolist() == [[400, 100], [400, 100]]


def test_no_walk_says_why(ell):
    assert walk_route(ell, CENTRE, [(1050.0, 10.0)]).reason == "disconnected"
    assert walk_route(ell, CENTRE, [(5000.0, 5000.0)]).reason == "far_from_road"
    assert walk_route(ell, (5000.0, 5000.0), [(100.0, 30.0)]).reason == "no_sources"
    lost = walk_route(ell, CENTRE, [(100.0, 30.0)], limit_m=400.0)  # the 550 m walk is beyond a 400 m search
    assert not lost.found and lost.reason == "disconnected" and math.isinf(lost.length_m)
    assert lost.xy.shape == (0, 2)


def test_the_route_is_the_walk_the_coverage_pass_measures():
    # a 6 x 6 grid of 100 m blocks with a few streets removed; 40 random centre/compound pairs
    roads = grid_roads()
    net = build_walk_network(roads.iloc[[0, 1, 3, 4, 5, 6, 7, 9, 11]])
    rng = np.random.default_rng(16)
    for _ in range(40):
        s, t = rng.uniform(-30, 530, (1, 2)), rng.uniform(-30, 530, (3, 2))
        route = walk_route(net, s, t)
        cov = walk_coverage(net, s, t, limit_m=math.inf)
        assert route.length_m == pytest.approx(cov.dist_m.min(), abs=1e-9)
        assert shapely.LineString(route.xy).length == pytest.approx(route.length_m, abs=1e-6)
        assert route.xy[0].tolist() == t[route.target].tolist() and route.xy[-1].tolist() == s[0].tolist()
