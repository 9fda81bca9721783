"""Tests of the walking network (geo.network): hand-worked numbers on tiny networks."""

from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from geo.errors import CRSError, GeometryError, InputError
from geo.network import (
    attach_points,
    build_walk_network,
    distance_matrix,
    group_coverage,
    group_service_areas,
    service_areas,
    union_service_areas,
    walk_coverage,
)

METRIC = "EPSG:4547"  # CGCS2000 / 3-degree Gauss-Kruger CM 114E


def roads_of(lines: list, crs: str | None = METRIC) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=list(lines), crs=crs)


def grid_roads(n: int = 6, s: float = 100.0) -> gpd.GeoDataFrame:
    """n x n intersections; each row and column one line through all of them."""
    rows = [shapely.LineString([(x * s, y * s) for x in range(n)]) for y in range(n)]
    cols = [shapely.LineString([(x * s, y * s) for y in range(n)]) for x in range(n)]
    return roads_of(rows + cols)


def seg(*pts: tuple[float, float]) -> shapely.LineString:
    return shapely.LineString(pts)


@pytest.fixture(scope="module")
def grid():
    return build_walk_network(grid_roads())


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------


def test_grid_build_counts(grid):
    assert grid.n_nodes == 36
    assert grid.n_edges == 2 * 6 * 5
    assert grid.total_length_m == pytest.approx(60 * 100.0)
    assert len(np.unique(grid.component)) == 1
    assert grid.crs.to_epsg() == 4547


def test_interior_vertex_connects_lines():
    net = build_walk_network(roads_of([seg((0, 0), (100, 0), (200, 0)), seg((100, 0), (100, 100))]))
    assert net.n_nodes == 4 and net.n_edges == 3
    cov = walk_coverage(net, [[200, 0]], [[100, 100]], limit_m=1000)
    assert cov.dist_m[0] == pytest.approx(200.0)


def test_zero_length_duplicates_and_empties_are_dropped():
    lines = [
        seg((0, 0), (100, 0)),
        seg((0, 0), (100, 0)),  # duplicate
        seg((100, 0), (0, 0)),  # reversed duplicate
        seg((100, 0), (100, 0)),  # zero length
        seg((100, 0), (100, 0), (200, 0), (200, 0)),  # repeated vertices
        shapely.LineString(),  # empty
        None,  # missing
    ]
    net = build_walk_network(roads_of(lines))
    assert net.n_edges == 2
    assert net.report["duplicates"] == 2
    assert net.report["zero_length"] == 3
    assert net.report["empty"] == 2
    assert sorted(net.length_m.tolist()) == [100.0, 100.0]
    cov = walk_coverage(net, [[0, 0]], [[200, 10]], limit_m=500)
    assert cov.dist_m[0] == pytest.approx(210.0)


def test_vertices_within_tolerance_merge():
    near = [seg((0, 0), (100, 0)), seg((100.3, 0), (200, 0))]
    far = [seg((0, 0), (100, 0)), seg((100.8, 0), (200, 0))]
    assert len(np.unique(build_walk_network(roads_of(near)).component)) == 1
    assert build_walk_network(roads_of(near)).report["merged_vertices"] == 1
    assert len(np.unique(build_walk_network(roads_of(far)).component)) == 2
    assert len(np.unique(build_walk_network(roads_of(far), tolerance_m=1.0).component)) == 1


def test_crossings_connect_by_default_unless_asked_not_to():
    # a street crossing another without a shared vertex
    lines = [seg((0, 0), (200, 0)), seg((100, -100), (100, 100))]
    plain = build_walk_network(roads_of(lines), junctions=False)
    assert plain.n_edges == 2 and len(np.unique(plain.component)) == 2
    noded = build_walk_network(roads_of(lines))
    assert noded.n_edges == 4 and len(np.unique(noded.component)) == 1
    assert noded.report["junctions_added"] == 1
    cov = walk_coverage(noded, [[0, 0]], [[100, 100]], limit_m=500)
    assert cov.dist_m[0] == pytest.approx(200.0)
    # a T-junction without a vertex on the through street
    t = build_walk_network(roads_of([seg((0, 0), (200, 0)), seg((50, 0), (50, 80))]))
    assert t.n_edges == 3 and len(np.unique(t.component)) == 1


def test_multilinestring_parts_do_not_connect_across_the_gap():
    net = build_walk_network(roads_of([shapely.MultiLineString([[(0, 0), (100, 0)], [(300, 0), (400, 0)]])]))
    assert net.n_edges == 2 and len(np.unique(net.component)) == 2
    assert net.road.tolist() == [0, 0]


def test_build_errors():
    with pytest.raises(CRSError):
        build_walk_network(roads_of([seg((113, 23), (113.1, 23))], crs="EPSG:4326"))
    with pytest.raises(GeometryError, match="Polygon"):
        build_walk_network(roads_of([seg((0, 0), (1, 0)), shapely.box(0, 0, 1, 1)]))
    with pytest.raises(GeometryError):
        build_walk_network(roads_of([shapely.LineString(), seg((5, 5), (5, 5))]))
    with pytest.raises(InputError):
        build_walk_network(roads_of([seg((0, 0), (1, 0))]), tolerance_m=-1)


# ---------------------------------------------------------------------------
# attaching
# ---------------------------------------------------------------------------


def test_attach_projects_onto_the_edge_not_the_vertex():
    net = build_walk_network(roads_of([seg((0, 0), (100, 0), (100, 100))]))
    att = attach_points(net, [[40, 30], [130, -40], [95, 50], [50, 500]], max_snap_m=300)
    e0 = int(np.flatnonzero((net.nodes_xy[net.u] + net.nodes_xy[net.v]).sum(1) == 100)[0])
    assert att.edge[0] == e0
    assert att.offset_m[:3] == pytest.approx([30.0, 50.0, 5.0])
    assert att.snapped_xy[0] == pytest.approx([40.0, 0.0])
    assert att.snapped_xy[1] == pytest.approx([100.0, 0.0])
    assert att.snapped_xy[2] == pytest.approx([100.0, 50.0])
    u0 = net.nodes_xy[net.u[e0]]
    assert att.along_m[0] == pytest.approx(abs(40.0 - u0[0]))
    assert att.edge[3] == -1 and att.reason[3] == "far_from_road" and math.isinf(att.offset_m[3])
    assert list(att.reason[:3]) == ["", "", ""]


def test_attach_bad_input(grid):
    with pytest.raises(InputError):
        attach_points(grid, np.zeros((3, 3)))
    with pytest.raises(InputError):
        attach_points(grid, [[np.nan, 0.0]])
    with pytest.raises(InputError):
        attach_points(grid, [[0.0, 0.0]], max_snap_m=0)
    assert len(attach_points(grid, np.zeros((0, 2)))) == 0


# ---------------------------------------------------------------------------
# coverage
# ---------------------------------------------------------------------------


def test_grid_walking_distance_is_manhattan(grid):
    pts = np.array([(x * 100.0, y * 100.0) for x in range(6) for y in range(6)])
    sources = pts[[0, 14, 33]]
    cov = walk_coverage(grid, sources, pts, limit_m=300)
    manhattan = np.abs(pts[:, None, :] - sources[None, :, :]).sum(2)
    np.testing.assert_allclose(cov.dist_m, manhattan.min(1), atol=1e-9)
    np.testing.assert_allclose(manhattan[np.arange(len(pts)), cov.nearest], manhattan.min(1), atol=1e-9)
    np.testing.assert_array_equal(cov.covered, manhattan.min(1) <= 300)
    assert set(cov.reason) == {""}


def test_access_legs_count_at_both_ends(grid):
    # target 30 m north of the edge (100,0)-(200,0) at x=150; source 20 m east of x=500 column at y=250
    cov = walk_coverage(grid, [[520, 250]], [[150, 30]], limit_m=1000)
    # legs 20 + 30; along: (150,0) -> (200,0) -> (500,0) -> (500,250) = 50 + 300 + 250 ... via (200,100)?
    # shortest: (150,0)->(200,0)->... Manhattan from (150,0) to (500,250) on the grid = 350 + 250 = 600,
    # but the target sits on the row y=0 edge; going up first is no shorter.
    assert cov.dist_m[0] == pytest.approx(20 + 30 + 600)


def test_same_edge_source_and_target():
    net = build_walk_network(roads_of([seg((0, 0), (1000, 0)), seg((1000, 0), (1000, 1000))]))
    cov = walk_coverage(net, [[300, 10], [100, -5], [600, 0]], [[350, 20], [500, -40]], limit_m=200)
    # target 0: nearest is source 0: 10 + 50 + 20 = 80
    assert cov.nearest[0] == 0 and cov.dist_m[0] == pytest.approx(80.0)
    # target 1: source 2 at 600: 0 + 100 + 40 = 140; source 0: 10 + 200 + 40 = 250
    assert cov.nearest[1] == 2 and cov.dist_m[1] == pytest.approx(140.0)
    assert cov.covered.all()


def test_several_sources_on_one_edge_with_per_source_limits():
    net = build_walk_network(roads_of([seg((0, 0), (1000, 0))]))
    # the nearest source (small limit) does not cover; a farther one with a bigger limit does
    cov = walk_coverage(net, [[400, 0], [100, 0], [900, 0]], [[500, 0]], limit_m=[50.0, 500.0, 300.0])
    assert cov.nearest[0] == 0 and cov.dist_m[0] == pytest.approx(100.0)
    assert cov.covered[0]
    assert cov.covering[0] == 1 and cov.covering_dist_m[0] == pytest.approx(400.0)
    # nobody covers when the limits are all too short
    cov = walk_coverage(net, [[400, 0], [100, 0]], [[500, 0]], limit_m=[50.0, 300.0])
    assert not cov.covered[0] and cov.covering[0] == -1 and math.isinf(cov.covering_dist_m[0])
    assert cov.nearest[0] == 0


def test_river_without_bridge_in_reach_is_uncovered():
    # two embankment roads 60 m apart across a river; the only bridge is 2 km away
    roads = roads_of(
        [
            seg((0, 0), (1000, 0), (2000, 0)),
            seg((0, 60), (1000, 60), (2000, 60)),
            seg((2000, 0), (2000, 60)),  # the bridge
            seg((500, -100), (500, 160)),  # an overpass: crosses both without a vertex
        ]
    )
    roads["bridge"] = [False, False, True, True]
    net = build_walk_network(roads)
    assert net.report["apart_bridge"] == 2 and net.report["junctions_added"] == 0
    source, target = np.array([[1000.0, -10.0]]), np.array([[1000.0, 70.0]])
    straight = float(np.hypot(*(target - source)[0]))
    assert straight < 1000
    cov = walk_coverage(net, source, target, limit_m=1000)
    assert not cov.covered[0]
    assert cov.dist_m[0] == pytest.approx(10 + 1000 + 60 + 1000 + 10)
    assert cov.reason[0] == ""
    # not marked a bridge, the overpass would be a same-level crossing: 10 + 500 + 60 + 500 + 10
    cov = walk_coverage(build_walk_network(roads.assign(bridge=False)), source, target, limit_m=1000)
    assert cov.dist_m[0] == pytest.approx(1080.0)


def test_disconnected_far_and_no_sources():
    net = build_walk_network(roads_of([seg((0, 0), (100, 0)), seg((1000, 0), (1100, 0))]))
    cov = walk_coverage(net, [[0, 5], [5000, 5000]], [[50, 5], [1050, 5], [500, 900]], limit_m=300)
    assert list(cov.reason) == ["", "disconnected", "far_from_road"]
    assert list(cov.source_reason) == ["", "far_from_road"]
    assert cov.nearest.tolist() == [0, -1, -1]
    assert math.isinf(cov.dist_m[1]) and math.isinf(cov.dist_m[2])
    assert cov.covered.tolist() == [True, False, False]
    none = walk_coverage(net, np.zeros((0, 2)), [[50, 5], [500, 900]], limit_m=300)
    assert list(none.reason) == ["no_sources", "far_from_road"]
    far = walk_coverage(net, [[5000, 5000]], [[50, 5]], limit_m=300)
    assert list(far.reason) == ["no_sources"]
    empty = walk_coverage(net, [[0, 0]], np.zeros((0, 2)), limit_m=300)
    assert len(empty.covered) == 0


def test_coverage_bad_limits(grid):
    with pytest.raises(InputError):
        walk_coverage(grid, [[0, 0]], [[0, 0]], limit_m=-1)
    with pytest.raises(InputError):
        walk_coverage(grid, [[0, 0], [1, 1]], [[0, 0]], limit_m=[100.0])


def _random_grid(seed: int, n: int = 7, s: float = 100.0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    xy = np.stack(np.meshgrid(np.arange(n) * s, np.arange(n) * s), -1) + rng.uniform(-15, 15, (n, n, 2))
    lines = [seg(xy[i, j], xy[i, j + 1]) for i in range(n) for j in range(n - 1)]
    lines += [seg(xy[i, j], xy[i + 1, j]) for i in range(n - 1) for j in range(n)]
    keep = rng.random(len(lines)) > 0.25
    return roads_of([ln for ln, k in zip(lines, keep, strict=True) if k])


coords = st.floats(min_value=-80, max_value=680, allow_nan=False)
points = st.lists(st.tuples(coords, coords), min_size=1, max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), sources=points, targets=points)
def test_walking_is_never_shorter_than_straight_line(seed, sources, targets):
    net = build_walk_network(_random_grid(seed))
    s, t = np.array(sources), np.array(targets)
    cov = walk_coverage(net, s, t, limit_m=400)
    straight = np.hypot(*(t[:, None, :] - s[None, :, :]).transpose(2, 0, 1)).min(1)
    ok = np.isfinite(cov.dist_m)
    assert np.all(cov.dist_m[ok] >= straight[ok] - 1e-9)
    dm = distance_matrix(net, s, t, limit_m=400).tocoo()
    pair = np.hypot(*(s[dm.row] - t[dm.col]).T)
    assert np.all(dm.data >= pair - 1e-9)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sources=points,
    extra=st.tuples(coords, coords),
    targets=points,
    limit=st.floats(50, 800),
)
def test_adding_a_source_never_lowers_coverage(seed, sources, extra, targets, limit):
    net = build_walk_network(_random_grid(seed))
    s, t = np.array(sources), np.array(targets)
    before = walk_coverage(net, s, t, limit_m=limit)
    after = walk_coverage(net, np.vstack([s, extra]), t, limit_m=limit)
    assert np.all(after.covered >= before.covered)
    assert np.all(after.dist_m <= before.dist_m + 1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), sources=points, targets=points)
def test_distance_matrix_agrees_with_walk_coverage(seed, sources, targets):
    net = build_walk_network(_random_grid(seed))
    s, t = np.array(sources), np.array(targets)
    limit = 500.0
    dm = distance_matrix(net, s, t, limit_m=limit).toarray()
    stored = distance_matrix(net, s, t, limit_m=limit)
    mask = np.zeros_like(dm, dtype=bool)
    coo = stored.tocoo()
    mask[coo.row, coo.col] = True
    for i in range(len(s)):
        one = walk_coverage(net, s[i : i + 1], t, limit_m=limit)
        within = one.dist_m <= limit
        np.testing.assert_array_equal(mask[i], within)
        np.testing.assert_allclose(dm[i][within], one.dist_m[within], rtol=1e-9, atol=1e-6)
    cov = walk_coverage(net, s, t, limit_m=limit)
    best = np.where(mask.any(0), np.where(mask, dm, np.inf).min(0), np.inf)
    np.testing.assert_allclose(np.where(cov.covered, cov.dist_m, np.inf), best, rtol=1e-9, atol=1e-6)


def test_distance_matrix_same_edge_and_zero(grid):
    dm = distance_matrix(grid, [[150, 0], [500, 500]], [[150, 0], [180, 10], [0, 500]], limit_m=100)
    assert dm.shape == (2, 3)
    assert dm[0, 0] == 0.0 and dm.nnz == 2  # the explicit zero is stored
    assert dm[0, 1] == pytest.approx(40.0)


# ---------------------------------------------------------------------------
# service areas
# ---------------------------------------------------------------------------


def test_service_area_of_a_straight_road():
    net = build_walk_network(roads_of([seg((0, 0), (250, 0), (500, 0), (1000, 0))]))
    areas = service_areas(net, [[500, 0]], limits_m=100, buffer_m=10, quad_segs=4)
    assert len(areas) == 1 and areas["limit_m"].iloc[0] == 100.0
    n = 4 * 4  # the buffer's circle is a 16-gon
    expected = 200 * 20 + n / 2 * 10**2 * math.sin(2 * math.pi / n)
    assert areas.area.iloc[0] == pytest.approx(expected, rel=1e-9)
    assert areas.area.iloc[0] == pytest.approx(200 * 20 + math.pi * 10**2, rel=2e-3)
    assert areas.crs.to_epsg() == 4547
    minx, miny, maxx, maxy = areas.total_bounds
    assert (minx, maxx) == pytest.approx((390.0, 610.0))


def test_service_area_includes_the_access_leg():
    net = build_walk_network(roads_of([seg((0, 0), (1000, 0))]))
    areas = service_areas(net, [[500, 30]], limits_m=[20, 100], buffer_m=5)
    small, big = areas.geometry.iloc[0], areas.geometry.iloc[1]
    assert not small.intersects(shapely.Point(500, 0).buffer(4))  # 30 m leg not done in 20 m
    assert small.contains(shapely.Point(500, 15))
    assert big.contains(shapely.LineString([(430, 0), (570, 0)]))  # 100 - 30 = 70 m each way
    assert not big.contains(shapely.Point(580, 0))
    assert big.contains(small)


def _reference_area(net, src_node: int, limit: float, buffer_m: float) -> shapely.Geometry:
    """Union of the buffers of the reached pieces, from networkx distances."""
    g = nx.Graph()
    g.add_weighted_edges_from(zip(net.u.tolist(), net.v.tolist(), net.length_m.tolist(), strict=True))
    d = nx.single_source_dijkstra_path_length(g, src_node)
    pieces = []
    for a, b, length in zip(net.u, net.v, net.length_m, strict=True):
        pa, pb = net.nodes_xy[a], net.nodes_xy[b]
        ra, rb = limit - d.get(a, math.inf), limit - d.get(b, math.inf)
        if max(ra, 0) + max(rb, 0) >= length and (ra > 0 or rb > 0):
            pieces.append(seg(pa, pb))
            continue
        if ra > 0:
            pieces.append(seg(pa, pa + (pb - pa) * ra / length))
        if rb > 0:
            pieces.append(seg(pb, pb + (pa - pb) * rb / length))
    return shapely.union_all(shapely.buffer(pieces, buffer_m, quad_segs=4))


@pytest.mark.parametrize("limit", [150.0, 330.0, 1000.0])
def test_service_area_matches_union_of_buffered_pieces(limit):
    roads = _random_grid(3)
    net = build_walk_network(roads)
    node = int(np.argmin(np.hypot(*(net.nodes_xy - 300).T)))
    areas = service_areas(net, net.nodes_xy[[node]], limits_m=limit, buffer_m=25, quad_segs=4)
    ref = _reference_area(net, node, limit, 25)
    got = areas.geometry.iloc[0]
    assert got.is_valid
    assert shapely.symmetric_difference(got, ref).area / ref.area < 2e-3


def test_service_area_keeps_the_holes_of_the_network(grid):
    areas = service_areas(grid, [[200, 200]], limits_m=10_000, buffer_m=20)
    poly = areas.geometry.iloc[0]
    assert poly.geom_type == "Polygon"
    assert len(poly.interiors) == 25  # every 100 m block keeps a 60 m hole
    assert all(shapely.Polygon(r).area == pytest.approx(60 * 60) for r in poly.interiors)
    ref = shapely.union_all(shapely.buffer(grid.geometry, 20, quad_segs=4))
    assert shapely.symmetric_difference(poly, ref).area / ref.area < 1e-3


def test_service_areas_bands_nest_and_far_sources_are_empty(grid):
    areas = service_areas(grid, [[250, 250], [9000, 9000]], limits_m=[100, 200, 300], buffer_m=10)
    assert areas["source"].tolist() == [0, 0, 0, 1, 1, 1]
    assert areas["limit_m"].tolist() == [100, 200, 300] * 2
    g = areas.geometry.to_numpy()
    assert g[1].buffer(1e-6).contains(g[0]) and g[2].buffer(1e-6).contains(g[1])
    assert areas.area.iloc[0] < areas.area.iloc[1] < areas.area.iloc[2]
    assert areas["reason"].tolist()[3:] == ["far_from_road"] * 3
    assert shapely.is_empty(g[3:]).all()
    with pytest.raises(InputError):
        service_areas(grid, [[0, 0]], limits_m=[], buffer_m=10)
    with pytest.raises(InputError):
        service_areas(grid, [[0, 0]], limits_m=100, buffer_m=0)


def test_group_areas_equal_the_union_of_single_areas():
    net = build_walk_network(_random_grid(7))
    src = np.array([[100, 100], [450, 300], [300, 500], [600, 50]], dtype=float)
    levels = np.array(["community", "compound", "community", "compound"], dtype=object)
    single = service_areas(net, src, limits_m=[200, 400], buffer_m=30)
    unioned = union_service_areas(single, levels)
    grouped = group_service_areas(net, src, levels, limits_m=[200, 400], buffer_m=30)
    assert unioned["group"].tolist() == grouped["group"].tolist() == ["community"] * 2 + ["compound"] * 2
    assert unioned["limit_m"].tolist() == grouped["limit_m"].tolist() == [200.0, 400.0] * 2
    for a, b in zip(unioned.geometry, grouped.geometry, strict=True):
        assert shapely.symmetric_difference(a, b).area / b.area < 1e-3
    with pytest.raises(InputError):
        union_service_areas(single, ["only one"])
    with pytest.raises(InputError):
        group_service_areas(net, src, levels[:2], limits_m=200)


def test_group_coverage_equals_one_walk_coverage_per_group(grid):
    rng = np.random.default_rng(7)
    sources = rng.uniform(-20, 520, (30, 2))
    targets = rng.uniform(-20, 520, (400, 2))
    limits = rng.choice([120.0, 250.0, 400.0], 30)
    groups = [rng.choice(30, size=k, replace=False) for k in (0, 1, 5, 12, 30)]
    got = group_coverage(grid, sources, targets, limit_m=limits, groups=groups, max_snap_m=300)
    for g, members in enumerate(groups):
        if not len(members):
            assert not got[g].any()
            continue
        want = walk_coverage(grid, sources[members], targets, limit_m=limits[members], max_snap_m=300).covered
        np.testing.assert_array_equal(got[g], want)
    assert 0 < got[2].sum() < len(targets)  # the test means something: five sources cover some targets, not all
