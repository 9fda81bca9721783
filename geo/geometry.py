"""Geometry validation, repair and access points (vectorised shapely 2)."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

_POLYGONAL = {"Polygon", "MultiPolygon"}
_LINEAR = {"LineString", "MultiLineString", "LinearRing"}
_PUNTAL = {"Point", "MultiPoint"}

GEOMETRY_FAMILIES: dict[str, set[str]] = {
    "polygon": _POLYGONAL,
    "line": _LINEAR,
    "point": _PUNTAL,
    "line_or_polygon": _LINEAR | _POLYGONAL,
}


@dataclass(frozen=True)
class RepairResult:
    """Outcome of :func:`repair_geometries`.

    Attributes
    ----------
    geometry
        The repaired geometries, same length and order as the input (``None``
        where unusable).
    repaired
        Boolean mask of rows whose geometry was invalid and was made valid.
    unusable
        Object array: ``""`` for usable rows, else the reason code
        (``"missing_geometry"``, ``"empty_geometry"``, ``"wrong_geometry_type"``).
    """

    geometry: np.ndarray
    repaired: np.ndarray
    unusable: np.ndarray


def _extract_family(geoms: np.ndarray, family: set[str]) -> np.ndarray:
    """Keep from each geometry collection only the parts of the wanted family.

    ``make_valid`` may turn a bow-tie polygon into a collection of polygons and
    lines; only the polygons are kept for a polygon layer.  Collections are
    rare (repaired rows only), so a loop over them is cheap.
    """
    out = geoms.copy()
    coll = np.flatnonzero(shapely.get_type_id(out) == shapely.GeometryType.GEOMETRYCOLLECTION)
    wanted = [_TYPE_IDS[t] for t in family]
    for row in coll:
        parts = shapely.get_parts(out[row])
        parts = parts[np.isin(shapely.get_type_id(parts), wanted)]
        out[row] = shapely.union_all(parts) if len(parts) else None
    return out


_TYPE_IDS = {
    "Point": 0,
    "LineString": 1,
    "LinearRing": 2,
    "Polygon": 3,
    "MultiPoint": 4,
    "MultiLineString": 5,
    "MultiPolygon": 6,
}


def repair_geometries(geoms: np.ndarray | gpd.GeoSeries, *, family: str) -> RepairResult:
    """Repair invalid geometries and mark the unusable ones.

    Parameters
    ----------
    geoms
        Geometries in any CRS.
    family
        ``"polygon"``, ``"line"``, ``"point"`` or ``"line_or_polygon"``: the
        geometry types the layer accepts.

    Returns
    -------
    RepairResult
        Invalid geometries are made valid with ``shapely.make_valid``; parts of
        other families produced by the repair (e.g. a collapsed sliver becoming
        a line) are dropped.  Missing, empty and wrong-type geometries are
        reported as unusable, never silently removed.
    """
    arr = np.asarray(geoms, dtype=object)
    allowed = GEOMETRY_FAMILIES[family]
    missing = shapely.is_missing(arr)
    invalid = ~missing & ~shapely.is_valid(arr)
    out = arr.copy()
    if invalid.any():
        out[invalid] = shapely.make_valid(arr[invalid])
        out[invalid] = _extract_family(out[invalid], allowed)
        invalid &= ~shapely.is_missing(out)
    unusable = np.full(len(arr), "", dtype=object)
    unusable[missing] = "missing_geometry"
    now_missing = shapely.is_missing(out) & ~missing
    unusable[now_missing] = "empty_geometry"
    present = ~shapely.is_missing(out)
    empty = present & shapely.is_empty(out)
    unusable[empty] = "empty_geometry"
    ok = present & ~empty
    allowed_ids = [_TYPE_IDS[t] for t in allowed]
    wrong = ok & ~np.isin(shapely.get_type_id(out), allowed_ids)
    unusable[wrong] = "wrong_geometry_type"
    out[unusable != ""] = None
    return RepairResult(geometry=out, repaired=invalid & (unusable == ""), unusable=unusable)


def interior_points(polygons: np.ndarray | gpd.GeoSeries) -> np.ndarray:
    """A point guaranteed inside each polygon (``point_on_surface``), same CRS."""
    return np.asarray(shapely.point_on_surface(np.asarray(polygons, dtype=object)))


def xy(points: np.ndarray | gpd.GeoSeries) -> np.ndarray:
    """Coordinates of points as an ``(n, 2)`` float array."""
    arr = np.asarray(points, dtype=object)
    return np.column_stack([shapely.get_x(arr), shapely.get_y(arr)])


def containing_polygon(points: np.ndarray | gpd.GeoSeries, polygons: np.ndarray | gpd.GeoSeries) -> np.ndarray:
    """For each point, the position of the polygon it lies within (``-1`` when none); same CRS.

    A point within several (overlapping) polygons takes the first the spatial
    index reports.
    """
    pts = np.asarray(points, dtype=object)
    out = np.full(len(pts), -1, dtype=np.int64)
    if not len(pts) or not len(polygons):
        return out
    p_idx, poly_idx = shapely.STRtree(np.asarray(polygons, dtype=object)).query(pts, predicate="within")
    held, first = np.unique(p_idx, return_index=True)
    out[held] = poly_idx[first]
    return out
