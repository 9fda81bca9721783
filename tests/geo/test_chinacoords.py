"""GCJ-02 / BD-09 conversions against published reference points.

Reference points (lat, lon order in their sources, written lon, lat here):

* googollee/eviltransform test suite, WGS84 -> GCJ-02: Shanghai, Shenzhen,
  Beijing (Krasovsky constants, matched to 1e-9 degrees).
* A geotool (Rust) test triple near Shanghai: WGS84 (121.0917077, 30.6107779)
  -> GCJ-02 (121.09626935575027, 30.608604331756705) -> BD-09
  (121.10271732371203, 30.61484572185035); it uses the WGS84 radius instead of
  Krasovsky's, a centimetre apart.
* The Beijing railway station pair GCJ-02 (116.42703, 39.90245) / BD-09
  (116.43351, 39.90851), published to 5 decimals (about 1 m).
* WGS84 (116.39089, 39.90734) -> GCJ-02 as returned by AMap's own conversion
  API: (116.39713623, 39.90874539); the open formula agrees to under a metre.
"""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import Geod

from geo.chinacoords import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_offset_m,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    parse_china_crs,
    transform_geometries,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from geo.errors import CRSError

GEOD = Geod(ellps="WGS84")

# lon, lat WGS84 -> lon, lat GCJ-02 (eviltransform tests)
WGS_GCJ = np.array(
    [
        (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),  # Shanghai
        (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),  # Shenzhen
        (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),  # Beijing
    ]
)
# lon, lat: WGS84, GCJ-02, BD-09 (geotool tests)
TRIPLE = ((121.0917077, 30.6107779), (121.09626935575027, 30.608604331756705), (121.10271732371203, 30.61484572185035))


def metres(lon1, lat1, lon2, lat2) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def test_wgs84_to_gcj02_matches_eviltransform_to_the_last_digit():
    lon, lat = wgs84_to_gcj02(WGS_GCJ[:, 0], WGS_GCJ[:, 1])
    np.testing.assert_allclose(lon, WGS_GCJ[:, 2], atol=1e-9)
    np.testing.assert_allclose(lat, WGS_GCJ[:, 3], atol=1e-9)


def test_wgs84_to_gcj02_agrees_with_amap_api_under_one_metre():
    lon, lat = wgs84_to_gcj02(116.39089, 39.90734)
    assert metres(lon, lat, 116.39713623, 39.90874539) < 1.0


def test_gcj02_inverse_is_accurate_to_half_a_metre_on_the_reference_points():
    lon, lat = gcj02_to_wgs84(WGS_GCJ[:, 2], WGS_GCJ[:, 3])
    assert metres(lon, lat, WGS_GCJ[:, 0], WGS_GCJ[:, 1]).max() < 0.5


def test_gcj02_inverse_round_trip_over_china_is_under_half_a_metre():
    rng = np.random.default_rng(6)
    lon = rng.uniform(75, 134, 5000)
    lat = rng.uniform(18, 53, 5000)
    back = gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat))
    err = metres(back[0], back[1], lon, lat)
    assert err.max() < 0.5
    assert err.max() < 0.001  # in fact millimetres


def test_offset_is_the_typical_few_hundred_metres():
    east, north = gcj02_offset_m(WGS_GCJ[:, 0], WGS_GCJ[:, 1])
    shift = np.hypot(east, north)
    assert ((shift > 300) & (shift < 700)).all()


def test_bd09_reference_points():
    gx, gy = bd09_to_gcj02(116.43351, 39.90851)  # Beijing railway station
    assert metres(gx, gy, 116.42703, 39.90245) < 1.5
    bx, by = gcj02_to_bd09(116.42703, 39.90245)
    assert metres(bx, by, 116.43351, 39.90851) < 1.5
    wgs, gcj, bd = TRIPLE
    assert metres(*wgs84_to_gcj02(*wgs), *gcj) < 0.05
    assert metres(*wgs84_to_bd09(*wgs), *bd) < 0.05
    assert metres(*bd09_to_wgs84(*bd), *wgs) < 0.5


def test_bd09_round_trip():
    lon, lat = np.array([109.78, 121.47]), np.array([39.60, 31.23])
    back = bd09_to_wgs84(*wgs84_to_bd09(lon, lat))
    assert metres(back[0], back[1], lon, lat).max() < 0.5


def test_outside_china_is_unchanged_and_nan_passes_through():
    lon, lat = np.array([24.94, 0.0, np.nan]), np.array([60.17, 0.0, 30.0])
    assert out_of_china(lon, lat).tolist() == [True, True, True]
    gx, gy = wgs84_to_gcj02(lon, lat)
    np.testing.assert_array_equal(gx[:2], lon[:2])
    np.testing.assert_array_equal(gy[:2], lat[:2])
    assert np.isnan(gx[2])
    assert out_of_china(116.4, 39.9).item() is False


def test_scalars_and_shapes():
    lon, lat = wgs84_to_gcj02(121.5272106, 31.1774276)
    assert lon.shape == () and float(lon) == pytest.approx(121.531541859215, abs=1e-9)
    grid_lon, grid_lat = np.meshgrid([110, 111], [30, 31, 32])
    out = gcj02_to_wgs84(grid_lon, grid_lat)
    assert out[0].shape == (3, 2)


def test_geometry_helper_moves_every_vertex():
    line = shapely.LineString([(121.5272106, 31.1774276), (113.912316, 22.543847)])
    poly = shapely.box(116.37, 39.90, 116.38, 39.91)
    out = transform_geometries([line, poly, None], source="wgs84", target="gcj02")
    coords = shapely.get_coordinates(out[0])
    np.testing.assert_allclose(coords[0], WGS_GCJ[0, 2:], atol=1e-9)
    np.testing.assert_allclose(coords[1], WGS_GCJ[1, 2:], atol=1e-9)
    assert out[2] is None
    back = transform_geometries(out[1], source="GCJ-02", target="wgs84")[0]
    assert back.symmetric_difference(poly).area < 1e-14


def test_unknown_system_names_the_choices():
    with pytest.raises(CRSError, match="wgs84, gcj02, bd09"):
        parse_china_crs("baidu")
