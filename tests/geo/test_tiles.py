"""Tile maths against morecantile and hand-worked Web Mercator numbers."""

from __future__ import annotations

import math

import morecantile
import numpy as np
import pytest
import shapely

from geo.errors import InvalidValueError
from geo.tiles import (
    ORIGIN_SHIFT_M,
    check_tile,
    clip_to_tile,
    fit_zoom,
    lonlat_tile,
    lonlat_to_mercator,
    mercator_to_lonlat,
    pixel_size_m,
    simplify_for_zoom,
    tile_box,
    to_mercator,
    to_tile_pixels,
)

TMS = morecantile.tms.get("WebMercatorQuad")


@pytest.mark.parametrize(("z", "x", "y"), [(0, 0, 0), (1, 1, 0), (14, 13188, 6226), (17, 105505, 49812), (22, 3376160, 1594000)])
def test_tile_bounds_match_morecantile(z: int, x: int, y: int):
    box = tile_box(z, x, y)
    ref = TMS.xy_bounds(morecantile.Tile(x, y, z))
    np.testing.assert_allclose([box.left, box.bottom, box.right, box.top], list(ref), atol=1e-6)


def test_zoom_zero_is_the_whole_square_and_pixels_halve_per_zoom():
    box = tile_box(0, 0, 0)
    assert (box.left, box.top) == (-ORIGIN_SHIFT_M, ORIGIN_SHIFT_M)
    assert math.isclose(pixel_size_m(0), 2 * math.pi * 6378137 / 256)
    assert math.isclose(pixel_size_m(17), pixel_size_m(16) / 2)


def test_mercator_round_trip_and_known_point():
    x, y = lonlat_to_mercator(np.array([109.78, 0.0]), np.array([39.60, 0.0]))
    assert math.isclose(x[0], math.radians(109.78) * 6378137)
    assert x[1] == 0.0 and abs(y[1]) < 1e-9
    lon, lat = mercator_to_lonlat(x, y)
    np.testing.assert_allclose(lon, [109.78, 0.0], atol=1e-9)
    np.testing.assert_allclose(lat, [39.60, 0.0], atol=1e-9)
    assert lonlat_tile(109.78, 39.60, 14) == (13188, 6226)


@pytest.mark.parametrize(("z", "x", "y", "field"), [(-1, 0, 0, "z"), (23, 0, 0, "z"), (3, 8, 0, "x"), (3, 0, 8, "y"), (3, -1, 0, "x")])
def test_impossible_tiles_name_the_coordinate(z: int, x: int, y: int, field: str):
    with pytest.raises(InvalidValueError) as info:
        check_tile(z, x, y)
    assert info.value.field == field


def test_pixels_put_the_tile_corners_on_the_canvas_corners():
    box = tile_box(15, 26376, 12452)
    corners = shapely.points([[box.left, box.top], [box.right, box.bottom], [(box.left + box.right) / 2, box.top]])
    px = shapely.get_coordinates(to_tile_pixels(corners, box, extent=4096))
    np.testing.assert_allclose(px, [[0, 0], [4096, 4096], [2048, 0]], atol=1e-6)


def test_clipping_keeps_a_buffer_of_a_sixty_fourth():
    box = tile_box(10, 800, 400)
    big = shapely.box(box.left - 1e5, box.bottom - 1e5, box.right + 1e5, box.top + 1e5)
    clipped = clip_to_tile(np.array([big]), box)
    px = shapely.get_coordinates(to_tile_pixels(clipped, box, extent=4096))
    np.testing.assert_allclose(px.min(axis=0), [-64, -64], atol=1e-6)
    np.testing.assert_allclose(px.max(axis=0), [4160, 4160], atol=1e-6)


def test_simplification_follows_the_zoom():
    circle = to_mercator(np.array([shapely.Point(109.78, 39.6).buffer(0.01, quad_segs=64)]))
    n = shapely.get_num_coordinates(circle)[0]
    coarse = shapely.get_num_coordinates(simplify_for_zoom(circle, 9))[0]
    fine = shapely.get_num_coordinates(simplify_for_zoom(circle, 18))[0]
    assert coarse < n / 2
    assert fine == n
    # Never moves a vertex by more than a quarter pixel.
    moved = shapely.hausdorff_distance(circle[0], simplify_for_zoom(circle, 9)[0])
    assert moved <= pixel_size_m(9) * 0.25 + 1e-6


def test_fit_zoom_puts_a_4_km_district_at_zoom_14():
    # 4.3 km x 3.1 km at 39.6N in a 1024 x 768 viewport: 4300 / cos(39.6) = 5.6 km of Mercator;
    # zoom 14 has 9.55 m/px -> 585 px wide (fits), zoom 15 -> 1170 px (does not).
    assert fit_zoom((109.754, 39.587, 109.804, 39.615)) == 14
