"""The one walking-network cache: keyed by the roads' content, bounded, reused across copies of the roads."""

import geopandas as gpd
import pytest
import shapely

import layers.walking as walking
from layers.walking import WalkingNetworks, roads_key

CRS = "EPSG:32649"


def roads(*lines, walkable=None) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(geometry=[shapely.LineString(line) for line in lines], crs=CRS).to_crs(4326)
    if walkable is not None:
        frame["walkable"] = walkable
    return frame


STREETS = ([(500_000, 2_500_000), (500_100, 2_500_000)], [(500_100, 2_500_000), (500_100, 2_500_100)])


def test_the_key_follows_the_content_not_the_frame():
    a = roads(*STREETS)
    assert roads_key(a, metric_crs=CRS) == roads_key(a.copy(), metric_crs=CRS) == roads_key(roads(*STREETS), metric_crs=CRS)
    moved = roads(STREETS[0], [(500_100, 2_500_000), (500_100, 2_500_101)])
    assert roads_key(moved, metric_crs=CRS) != roads_key(a, metric_crs=CRS)
    assert roads_key(roads(*STREETS[::-1]), metric_crs=CRS) != roads_key(a, metric_crs=CRS)
    assert roads_key(a, metric_crs="EPSG:4547") != roads_key(a, metric_crs=CRS)
    # a road no one may walk is no part of the network, so it is no part of the key either
    closed = roads(*STREETS, [(500_000, 2_500_000), (500_000, 2_500_100)], walkable=[True, True, False])
    assert roads_key(closed, metric_crs=CRS) == roads_key(a, metric_crs=CRS)
    opened = roads(*STREETS, [(500_000, 2_500_000), (500_000, 2_500_100)], walkable=[True, True, True])
    assert roads_key(opened, metric_crs=CRS) != roads_key(a, metric_crs=CRS)
    # the same coordinates split into other parts are another network
    a_, b_, c_, d_, e_ = (500_000, 2_500_000), (500_100, 2_500_000), (500_100, 2_500_100), (500_200, 2_500_100), (500_300, 2_500_100)
    joined = gpd.GeoDataFrame(geometry=[shapely.MultiLineString([[a_, b_], [c_, d_, e_]])], crs=CRS).to_crs(4326)
    split = gpd.GeoDataFrame(geometry=[shapely.MultiLineString([[a_, b_, c_], [d_, e_]])], crs=CRS).to_crs(4326)
    assert roads_key(joined, metric_crs=CRS) != roads_key(split, metric_crs=CRS)


def test_the_key_follows_bridges_tunnels_and_layers():
    a = roads(*STREETS)
    ground = roads(*STREETS).assign(bridge=False, tunnel=False, layer=0)
    assert roads_key(ground, metric_crs=CRS) == roads_key(a, metric_crs=CRS)
    for column, value in (("bridge", [True, False]), ("tunnel", [False, True]), ("layer", [0, 1])):
        assert roads_key(ground.assign(**{column: value}), metric_crs=CRS) != roads_key(a, metric_crs=CRS)


def test_networks_are_built_once_per_content_and_the_least_recent_goes(monkeypatch: pytest.MonkeyPatch):
    built = []
    real = walking.walking_network
    monkeypatch.setattr(walking, "walking_network", lambda *a, **k: built.append(1) or real(*a, **k))
    cache = WalkingNetworks(capacity=2)
    a, b, c = roads(*STREETS), roads(STREETS[0]), roads(STREETS[1])
    net = cache.get(a, metric_crs=CRS)
    assert cache.get(a.copy(), metric_crs=CRS) is net and len(built) == 1
    assert net.n_edges == 2
    cache.get(b, metric_crs=CRS)
    cache.get(a, metric_crs=CRS)  # a is the most recent again
    cache.get(c, metric_crs=CRS)  # so b goes
    assert len(cache) == 2 and len(built) == 3
    assert cache.get(a, metric_crs=CRS) is net and len(built) == 3
    cache.get(b, metric_crs=CRS)
    assert len(built) == 4
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="capacity"):
        WalkingNetworks(capacity=0)
