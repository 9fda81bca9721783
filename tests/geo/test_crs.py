import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from geo.crs import WGS84, gauss_kruger_3deg, metric_crs, metric_crs_for_bounds, to_wgs84
from geo.errors import CRSError


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (109.78, 39.60, 4546),  # Kangbashi: CM 111E
        (116.40, 39.90, 4548),  # Beijing: CM 117E
        (121.47, 31.23, 4549),  # Shanghai: CM 120E
        (75.99, 39.47, 4534),  # Kashgar: CM 75E
    ],
)
def test_gauss_kruger_zone_for_chinese_cities(lon, lat, epsg):
    crs = metric_crs_for_bounds((lon - 0.01, lat - 0.01, lon + 0.01, lat + 0.01))
    assert crs.to_epsg() == epsg
    assert crs.axis_info[0].unit_name == "metre"


def test_utm_outside_china():
    assert metric_crs_for_bounds((2.30, 48.80, 2.40, 48.90)).to_epsg() == 32631  # Paris


def test_gauss_kruger_rejects_far_longitudes():
    with pytest.raises(CRSError):
        gauss_kruger_3deg(10.0)


def test_metric_crs_rejects_projected_extent():
    with pytest.raises(CRSError, match="not longitude/latitude"):
        metric_crs_for_bounds((500000, 4300000, 501000, 4301000))


def test_round_trip_through_metric_is_sub_millimetre():
    pts = gpd.GeoDataFrame(geometry=[Point(109.78, 39.60), Point(109.80, 39.61)], crs=WGS84)
    crs = metric_crs(pts)
    back = to_wgs84(pts.to_crs(crs))
    assert np.allclose(back.get_coordinates().to_numpy(), pts.get_coordinates().to_numpy(), atol=1e-9)
    # 0.02 deg of longitude at 39.6N = 1716 m, 0.01 deg of latitude = 1110 m; hypot = 2044 m.
    d = pts.to_crs(crs).geometry.iloc[0].distance(pts.to_crs(crs).geometry.iloc[1])
    assert d == pytest.approx(2044, abs=3)


def test_to_wgs84_assumes_degrees_without_crs_and_refuses_metres():
    raw = gpd.GeoDataFrame(geometry=[Point(109.78, 39.60)])
    assert to_wgs84(raw).crs.equals(WGS84)
    metres = gpd.GeoDataFrame(geometry=[Point(37_500_000, 4_383_000)])
    with pytest.raises(CRSError, match="has no CRS"):
        to_wgs84(metres, layer="roads")


def test_cgcs2000_taken_as_wgs84_without_shift():
    f = gpd.GeoDataFrame(geometry=[Point(109.78, 39.60)], crs=4490)
    out = to_wgs84(f)
    assert out.crs.equals(WGS84)
    assert out.geometry.iloc[0].equals(Point(109.78, 39.60))


def test_one_stray_feature_does_not_move_the_metric_crs():
    import geopandas as gpd
    from shapely.geometry import Point

    from geo.crs import metric_crs

    pts = [Point(109.78 + i * 0.001, 39.60) for i in range(9)] + [Point(2.35, 48.85)]
    frame = gpd.GeoDataFrame(geometry=pts, crs=4326)
    assert metric_crs(frame).to_epsg() == 4546  # the bulk's zone; the extent's centre (56E, 44N) would give UTM 40N
