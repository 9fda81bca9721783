"""Junctions at crossings, level-aware: a hand-drawn city whose streets are each one long line."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo.network import build_walk_network, road_levels, road_segments, walk_coverage

METRIC = "EPSG:32650"


def hand_drawn_city(overpass_layer: int = 1) -> gpd.GeoDataFrame:
    """Seven streets, each one straight line, crossing without shared vertices.

    ::

        y=600                 O (overpass, layer 1, dead end at its top)
        y=500        V1       |
        y=400  V0+---+--------+------------+ H2        (V0 ends at (0, 400): shared vertex)
                 |   |        |            |
                 |   |        |           V2 (ends 0.3 m short of H1)
        y=0      +---+--------+------------+ H1        (H1 starts on V0: a T)
        y=-100       V1 (dead end)
        y=-200 +-----------------+---------- H0        (O ends on H0: a T)
               x=0  300      500          800  1000
    """
    lines = {
        "H0": [(0, -200), (1000, -200)],
        "V0": [(0, -200), (0, 400)],
        "H1": [(0, 0), (1000, 0)],
        "H2": [(0, 400), (1000, 400)],
        "V1": [(300, -100), (300, 500)],
        "V2": [(800, 0.3), (800, 400)],
        "O": [(500, -200), (500, 600)],
    }
    return gpd.GeoDataFrame(
        {"name": list(lines), "layer": [0, 0, 0, 0, 0, 0, overpass_layer]},
        geometry=[shapely.LineString(c) for c in lines.values()],
        crs=METRIC,
    )


def test_hand_drawn_city_connects_at_crossings_and_keeps_the_overpass_apart():
    net = build_walk_network(hand_drawn_city())
    # V1 x H1, V1 x H2 (crossings); V2 on H1 (0.3 m short) and on H2, H1 on V0, O on H0 (T-junctions)
    assert net.report["junctions_added"] == 6
    # O over H1 and over H2: other layer
    assert net.report["apart_layer"] == 2 and net.report["apart_bridge"] == 0 == net.report["apart_tunnel"]
    assert len(np.unique(net.component)) == 1 and net.largest_piece_share == 1.0
    # centre 5 m beside the overpass, compound access 10 m beside H2
    centre, target = [[505.0, 200.0]], [[600.0, 410.0]]
    cov = walk_coverage(net, centre, target, limit_m=5000)
    # down O to H0 400, H0 west 500, V0 north to H2 600, H2 east to x=600 600, plus the legs 5 + 10
    assert cov.dist_m[0] == pytest.approx(5 + 400 + 500 + 600 + 600 + 10)
    # the same overpass on the ground crosses H2: 5 + 200 up O + 100 along H2 + 10
    ground = walk_coverage(build_walk_network(hand_drawn_city(overpass_layer=0)), centre, target, limit_m=5000)
    assert ground.dist_m[0] == pytest.approx(315.0)


def test_bridge_and_tunnel_cross_apart_and_are_counted_by_reason():
    roads = gpd.GeoDataFrame(
        {"bridge": ["yes", "", ""], "tunnel": [False, True, False]},
        geometry=[
            shapely.LineString([(0, -100), (0, 100)]),  # a bridge over the street
            shapely.LineString([(50, -100), (50, 100)]),  # a tunnel under it
            shapely.LineString([(-100, 0), (200, 0)]),  # the street
        ],
        crs=METRIC,
    )
    net = build_walk_network(roads)
    assert net.report["apart_bridge"] == 1 and net.report["apart_tunnel"] == 1
    assert net.report["junctions_added"] == 0
    assert len(np.unique(net.component)) == 3
    # each of three 200/200/300 m pieces: the street holds 300 of 700 m
    assert net.largest_piece_share == pytest.approx(300 / 700)
    # no junctions at all when asked: shared vertices only
    assert build_walk_network(roads.assign(bridge="", tunnel=False), junctions=False).report["junctions_added"] == 0


def test_road_levels_read_columns_and_default_to_the_ground():
    frame = pd.DataFrame({"bridge": ["是", "no", "viaduct"], "tunnel": [None, "building_passage", "0"], "layer": ["1", None, "-1"]})
    lv = road_levels(frame)
    assert lv.bridge.tolist() == [True, False, True]
    assert lv.tunnel.tolist() == [False, True, False]
    assert lv.layer.tolist() == [1, 0, -1]
    assert road_levels(gpd.GeoSeries([shapely.LineString([(0, 0), (1, 0)])])).layer.tolist() == [0]


def test_split_pass_segments_carry_the_junctions():
    # road_segments splits on the whole district so tiles see the same junctions
    seg = road_segments(hand_drawn_city())
    assert len(seg) == build_walk_network(hand_drawn_city()).n_edges
