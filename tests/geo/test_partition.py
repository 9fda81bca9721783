"""The split walking pass equals the single-process one within the cut-off.

Hand-worked: one straight street along y = 0 from x = 0 to 4000 m (vertices
every 100 m), one centre at (0, 10): a 10 m access leg.  Limit 1000 m, snap
300 m, so the halo is 1000 + 300 + 10 * 0.5 + 1 = 1306 m; tiles of 1000 m
start at x = 0 (the centre is the lowest point).

- target (500, 20): 20 + 500 + 10 = 530 m, covered, in every answer;
- target (1900, 0): 1910 m, beyond the cut-off.  Its tile [1000, 2000) sees
  the centre (1000 m from the core, inclusive), so the split gives the same
  1910 m and flags it ``beyond_cutoff``;
- target (2500, 0): 2510 m.  Its tile [2000, 3000) holds no centre within
  1000 m, so the split says nearest -1, inf, reason ``beyond_cutoff``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import CRS

from bench.synth_city import make_city
from geo.crs import metric_crs
from geo.errors import CRSError, GeometryError, InputError
from geo.geometry import interior_points, xy
from geo.network import (
    REASON_BEYOND_CUTOFF,
    REASON_FAR,
    build_walk_network,
    halo_m,
    partitioned_walk_coverage,
    plan_tiles,
    road_segments,
    tile_tasks,
    walk_coverage,
)

GK = CRS.from_epsg(4547)  # CGCS2000 3-degree GK CM 114E, metres


def street() -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.LineString([(x, 0.0) for x in range(0, 4001, 100)])], crs=GK)


def test_halo_is_cutoff_plus_snap_plus_margin() -> None:
    assert halo_m(1000.0, 300.0) == 1306.0
    assert halo_m(1000.0, 300.0, tolerance_m=0.0) == 1301.0


def test_road_segments_follow_vertices_and_parts() -> None:
    roads = gpd.GeoSeries(
        [
            shapely.LineString([(0, 0), (100, 0), (100, 50)]),
            None,
            shapely.MultiLineString([[(0, 10), (0, 20)], [(5, 5), (6, 5)]]),
        ]
    )
    seg = road_segments(roads)
    assert seg.tolist() == [
        [[0, 0], [100, 0]],
        [[100, 0], [100, 50]],
        [[0, 10], [0, 20]],
        [[5, 5], [6, 5]],
    ]
    with pytest.raises(GeometryError, match="not lines"):
        road_segments(gpd.GeoSeries([shapely.Point(0, 0)]))


def test_hand_worked_street() -> None:
    src = np.array([[0.0, 10.0]])
    tgt = np.array([[500.0, 20.0], [1900.0, 0.0], [2500.0, 0.0], [1500.0, 900.0]])
    single = walk_coverage(build_walk_network(street()), src, tgt, limit_m=1000.0, max_snap_m=300.0)
    split = partitioned_walk_coverage(street(), src, tgt, limit_m=1000.0, max_snap_m=300.0, tile_m=1000.0)

    assert single.dist_m[:3].tolist() == pytest.approx([530.0, 1910.0, 2510.0])
    assert split.covered.tolist() == single.covered.tolist() == [True, False, False, False]
    assert split.covering_dist_m[0] == single.covering_dist_m[0] == pytest.approx(530.0)
    # beyond the cut-off: the nearest found within the halo ...
    assert split.nearest[1] == 0 and split.dist_m[1] == pytest.approx(1910.0)
    # ... or nothing, with its own reason
    assert split.nearest[2] == -1 and np.isinf(split.dist_m[2])
    assert split.reason[2] == REASON_BEYOND_CUTOFF
    assert split.beyond_cutoff.tolist() == [False, True, True, False]
    # 900 m off the street: far from road in both
    assert single.reason[3] == split.reason[3] == REASON_FAR
    assert split.n_tiles == 3  # tiles [0, 1000) centre and first target, [1000, 2000), [2000, 3000)
    assert split.cutoff_m == 1000.0


def test_tiles_hold_their_halo() -> None:
    seg = road_segments(street())
    plan, tasks = tile_tasks(seg, np.array([[0.0, 10.0]]), np.array([[2500.0, 0.0]]), limit_m=1000.0, tile_m=1000.0)
    assert plan.halo_m == 1306.0
    by_tile = {t.tile: t for t in tasks}
    far = by_tile[int(plan.tile_of(np.array([[2500.0, 0.0]]))[0])]
    # core [2000, 3000) grown by 1306 m: segments meeting [694, 4306]
    assert far.segments[:, :, 0].min() == 600.0 and far.segments[:, :, 0].max() == 4000.0
    assert len(far.sources) == 0 and far.targets.tolist() == [0]
    home = by_tile[int(plan.tile_of(np.array([[0.0, 10.0]]))[0])]
    assert home.own_sources.tolist() == [True]


def test_plan_defaults_to_about_n_tiles_but_three_halos() -> None:
    pts = np.array([[0.0, 0.0], [40_000.0, 40_000.0]])
    plan = plan_tiles(pts, cutoff_m=1000.0, max_snap_m=300.0, n_tiles=16)
    assert plan.tile_m == pytest.approx(40_001.0 / 4)
    assert (plan.nx, plan.ny) == (4, 4)
    small = plan_tiles(pts, cutoff_m=1000.0, max_snap_m=300.0, n_tiles=10_000)
    assert small.tile_m == pytest.approx(3 * 1306.0)


def test_bad_input_is_named() -> None:
    with pytest.raises(CRSError, match="metric"):
        partitioned_walk_coverage(street().to_crs(4326), np.zeros((1, 2)), np.zeros((1, 2)), limit_m=1000.0)
    with pytest.raises(InputError, match="finite cut-off"):
        partitioned_walk_coverage(street(), np.zeros((1, 2)), np.zeros((1, 2)), limit_m=np.inf)
    with pytest.raises(InputError, match="sources_xy"):
        partitioned_walk_coverage(street(), np.zeros((1, 3)), np.zeros((1, 2)), limit_m=1000.0)


@pytest.fixture(scope="module")
def city() -> dict[str, np.ndarray]:
    """A synthetic city of about 20,000 street segments, with a river, bridges and an expressway."""
    layers = make_city(20_000, 60, 2_500, seed=7)
    crs = metric_crs(layers["roads"])
    roads = layers["roads"][layers["roads"]["walkable"]].to_crs(crs)
    centres = layers["centers"].to_crs(crs)
    targets = xy(interior_points(layers["compounds"].to_crs(crs).geometry.to_numpy()))
    # a few points off the network: far from every road
    lo = roads.total_bounds
    far = np.array([[lo[0] - 2_000.0, lo[1] - 2_000.0], [lo[2] + 1_500.0, lo[3]]])
    # compound-level centres reach 5 minutes (333 m), the others 15 (1000 m)
    limit = np.where(centres["level"].to_numpy() == "compound", 1000.0 / 3, 1000.0)
    return {
        "roads": roads,
        "sources": xy(centres.geometry.to_numpy()),
        "targets": np.concatenate([targets, far]),
        "limit": limit,
    }


def assert_split_equals_single(single, split, cutoff: float) -> None:  # noqa: ANN001
    # covered flags, covering centres and walks: identical, bit for bit
    np.testing.assert_array_equal(split.covered, single.covered)
    np.testing.assert_array_equal(split.covering, single.covering)
    np.testing.assert_array_equal(split.covering_dist_m, single.covering_dist_m)
    # the nearest centre within the cut-off: identical
    within = single.dist_m <= cutoff
    np.testing.assert_array_equal(split.nearest[within], single.nearest[within])
    np.testing.assert_array_equal(split.dist_m[within], single.dist_m[within])
    # beyond it: flagged, and never nearer than the truth
    attached = single.reason != REASON_FAR
    np.testing.assert_array_equal(split.beyond_cutoff, attached & ~within)
    assert (split.dist_m[~within] >= single.dist_m[~within]).all()
    np.testing.assert_array_equal(split.reason == REASON_FAR, ~attached)
    np.testing.assert_array_equal(split.source_reason, single.source_reason)


def test_split_equals_single_process_on_a_synthetic_city(city: dict) -> None:
    net = build_walk_network(city["roads"])
    single = walk_coverage(net, city["sources"], city["targets"], limit_m=city["limit"], max_snap_m=300.0)
    split = partitioned_walk_coverage(
        city["roads"], city["sources"], city["targets"], limit_m=city["limit"], max_snap_m=300.0, tile_m=2_500.0
    )
    assert split.n_tiles >= 9
    # no tile holds the whole network
    assert split.tile_edges.max() < net.n_edges
    assert single.covered.sum() > 500 and (~single.covered).sum() > 500
    assert (single.dist_m > 1000.0).sum() > 100  # the beyond-cut-off case is exercised
    assert_split_equals_single(single, split, 1000.0)


def test_split_runs_on_a_dask_cluster(city: dict) -> None:
    distributed = pytest.importorskip("distributed")
    net = build_walk_network(city["roads"])
    single = walk_coverage(net, city["sources"], city["targets"], limit_m=city["limit"], max_snap_m=300.0)
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        split = partitioned_walk_coverage(
            city["roads"], city["sources"], city["targets"], limit_m=city["limit"], max_snap_m=300.0,
            n_tiles=9, executor=client.get_executor(pure=False),
        )
    assert split.n_tiles == 9
    assert_split_equals_single(single, split, 1000.0)
