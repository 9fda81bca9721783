"""Web map tile maths: the XYZ Web Mercator grid, clipping with a buffer, simplifying per zoom.

Tiles follow the ``WebMercatorQuad`` matrix set (EPSG:3857, XYZ numbering with
``y`` growing southwards), the grid of OpenStreetMap, Leaflet and MapLibre.
Geometries are projected to Web Mercator metres once, then every tile only
clips (with a buffer of a few pixels, so strokes and fills meet without seams
at tile edges) and maps them to pixel space with one affine transform.
Everything is vectorised over shapely 2 arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import morecantile
import numpy as np
import shapely

from geo.errors import InvalidValueError

#: Radius of the Web Mercator sphere (m).
EARTH_RADIUS_M = 6378137.0
#: Half the width of the Web Mercator square (m).
ORIGIN_SHIFT_M = math.pi * EARTH_RADIUS_M
#: Latitude limit of Web Mercator (degrees).
MAX_LATITUDE = 85.0511287798066
#: Deepest zoom the service answers.
MAX_ZOOM = 22

TMS = morecantile.tms.get("WebMercatorQuad")


@dataclass(frozen=True)
class TileBox:
    """One XYZ tile and its Web Mercator bounds (metres).

    Attributes
    ----------
    z, x, y
        Zoom and column/row (row 0 at the north edge).
    left, bottom, right, top
        Bounds in EPSG:3857 metres.
    """

    z: int
    x: int
    y: int
    left: float
    bottom: float
    right: float
    top: float

    @property
    def size_m(self) -> float:
        """Width (= height) of the tile in Web Mercator metres."""
        return self.right - self.left

    def buffered(self, fraction: float) -> tuple[float, float, float, float]:
        """Bounds grown by ``fraction`` of the tile width on every side (metres)."""
        pad = self.size_m * fraction
        return (self.left - pad, self.bottom - pad, self.right + pad, self.top + pad)


def check_tile(z: int, x: int, y: int, *, max_zoom: int = MAX_ZOOM) -> None:
    """Raise :class:`InvalidValueError` naming ``z``, ``x`` or ``y`` when the tile does not exist.

    Parameters
    ----------
    z, x, y
        Zoom (0 to ``max_zoom``) and column/row (0 to 2**z - 1).
    """
    if not 0 <= z <= max_zoom:
        msg = f"zoom `z` must be between 0 and {max_zoom}; got {z}"
        raise InvalidValueError(msg, field="z")
    n = 1 << z
    if not 0 <= x < n:
        msg = f"tile column `x` must be between 0 and {n - 1} at zoom {z}; got {x}"
        raise InvalidValueError(msg, field="x")
    if not 0 <= y < n:
        msg = f"tile row `y` must be between 0 and {n - 1} at zoom {z}; got {y}"
        raise InvalidValueError(msg, field="y")


def tile_box(z: int, x: int, y: int) -> TileBox:
    """The Web Mercator bounds (metres) of tile ``z/x/y`` (checked with :func:`check_tile`)."""
    check_tile(z, x, y)
    size = 2 * ORIGIN_SHIFT_M / (1 << z)
    left = -ORIGIN_SHIFT_M + x * size
    top = ORIGIN_SHIFT_M - y * size
    return TileBox(z, x, y, left, top - size, left + size, top)


def pixel_size_m(z: int, *, tile_px: int = 256) -> float:
    """Web Mercator metres per pixel at zoom ``z`` for ``tile_px``-pixel tiles."""
    return 2 * ORIGIN_SHIFT_M / (tile_px * (1 << z))


def lonlat_to_mercator(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees to Web Mercator metres (EPSG:3857), latitudes clamped to +-85.0511."""
    lon = np.asarray(lon, dtype=float)
    lat = np.clip(np.asarray(lat, dtype=float), -MAX_LATITUDE, MAX_LATITUDE)
    x = np.radians(lon) * EARTH_RADIUS_M
    y = np.log(np.tan(np.pi / 4 + np.radians(lat) / 2)) * EARTH_RADIUS_M
    return x, y


def mercator_to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Web Mercator metres (EPSG:3857) to WGS84 degrees."""
    lon = np.degrees(np.asarray(x, dtype=float) / EARTH_RADIUS_M)
    lat = np.degrees(2 * np.arctan(np.exp(np.asarray(y, dtype=float) / EARTH_RADIUS_M)) - np.pi / 2)
    return lon, lat


def to_mercator(geoms: np.ndarray) -> np.ndarray:
    """Project WGS84 shapely geometries to Web Mercator metres (vectorised, vertex by vertex)."""

    def _project(coords: np.ndarray) -> np.ndarray:
        x, y = lonlat_to_mercator(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(np.asarray(geoms, dtype=object), _project)


def simplify_for_zoom(geoms: np.ndarray, z: int, *, tolerance_px: float = 0.25) -> np.ndarray:
    """Simplify Web Mercator geometries for display at zoom ``z``.

    Parameters
    ----------
    geoms
        Geometries in EPSG:3857 metres.
    z
        Zoom level the result is drawn at.
    tolerance_px
        Largest allowed shift of a vertex, in 256-px tile pixels (0.25 px is
        invisible even on 2x screens).

    Returns
    -------
    numpy.ndarray
        Simplified geometries (topology of each polygon kept).
    """
    return shapely.simplify(geoms, pixel_size_m(z) * tolerance_px, preserve_topology=True)


def clip_to_tile(geoms: np.ndarray, box: TileBox, *, buffer: float = 1 / 64) -> np.ndarray:
    """Clip Web Mercator geometries to a tile grown by ``buffer`` (a fraction of its width).

    The default buffer of 1/64 is 4 px of a 256-px tile (64 units of a 4096 MVT
    extent): wide enough that strokes drawn on neighbouring tiles meet.
    Empty results are returned as empty geometries; callers drop them.
    """
    return shapely.clip_by_rect(geoms, *box.buffered(buffer))


def to_tile_pixels(geoms: np.ndarray, box: TileBox, *, extent: float) -> np.ndarray:
    """Map Web Mercator geometries into tile pixel space (origin top-left, ``y`` down).

    Parameters
    ----------
    geoms
        Geometries in EPSG:3857 metres.
    box
        The tile.
    extent
        Pixels across the tile (256 or 512 for images, 4096 for MVT).
    """
    scale = extent / box.size_m
    left, top = box.left, box.top

    def _affine(coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0] = (coords[:, 0] - left) * scale
        out[:, 1] = (top - coords[:, 1]) * scale
        return out

    return shapely.transform(geoms, _affine)


def lonlat_tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    """Column and row of the tile holding a WGS84 point at zoom ``z``."""
    t = TMS.tile(lon, lat, z)
    return int(t.x), int(t.y)


def fit_zoom(bounds: Sequence[float], *, width_px: int = 1024, height_px: int = 768) -> int:
    """Highest zoom at which WGS84 ``bounds`` fit a viewport of the given size (pixels)."""
    (x0, x1), (y0, y1) = (lonlat_to_mercator(np.array([bounds[0], bounds[2]]), np.array([bounds[1], bounds[3]])))
    w, h = max(float(x1 - x0), 1e-9), max(float(y1 - y0), 1e-9)
    z = math.floor(min(math.log2(2 * ORIGIN_SHIFT_M * width_px / (256 * w)), math.log2(2 * ORIGIN_SHIFT_M * height_px / (256 * h))))
    return int(min(max(z, 0), MAX_ZOOM))


@dataclass(frozen=True)
class TileMatrix:
    """One zoom level of the ``WebMercatorQuad`` matrix set, as WMTS capabilities describe it.

    Attributes
    ----------
    z
        Zoom (the matrix identifier).
    scale_denominator
        Map scale at 0.28 mm pixels (OGC's standardised rendering pixel).
    top_left
        Easting and northing of the matrix's top-left corner (EPSG:3857 metres).
    tile_px
        Width (= height) of a tile in pixels.
    width, height
        Tiles across and down.
    """

    z: int
    scale_denominator: float
    top_left: tuple[float, float]
    tile_px: int
    width: int
    height: int


def tile_matrix(z: int) -> TileMatrix:
    """Zoom ``z`` of :data:`TMS` (morecantile's ``WebMercatorQuad``, the grid :func:`tile_box` cuts)."""
    m = TMS.matrix(z)
    x0, y0 = m.pointOfOrigin
    return TileMatrix(z, float(m.scaleDenominator), (float(x0), float(y0)), int(m.tileWidth), int(m.matrixWidth), int(m.matrixHeight))


def tile_limits(bounds: Sequence[float], z: int) -> tuple[int, int, int, int]:
    """``(min_col, max_col, min_row, max_row)`` of the tiles at zoom ``z`` covering WGS84 ``bounds``.

    Parameters
    ----------
    bounds
        ``west, south, east, north`` in degrees (latitudes beyond Web Mercator's are clamped).
    z
        Zoom.
    """
    west, south, east, north = (float(v) for v in bounds)
    south, north = max(south, -MAX_LATITUDE), min(north, MAX_LATITUDE)
    last = (1 << z) - 1
    col0, row0 = lonlat_tile(west, north, z)
    col1, row1 = lonlat_tile(east, south, z)
    return (min(max(col0, 0), last), min(max(col1, 0), last), min(max(row0, 0), last), min(max(row1, 0), last))
