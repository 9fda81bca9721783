"""Road lines as straight segments: the checks and the cut every network build starts from.

A road line (LineString, LinearRing or each part of a MultiLineString) is cut
into the straight segments between its consecutive vertices, row by row,
part by part, vertex by vertex.  Missing and empty geometries are skipped;
anything else that is not a line is an error naming its type and first row.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import GeometryError

__all__ = ["RoadSegments", "line_segments", "segment_lines"]

# geometry type ids of shapely
_LINE_TYPES = (1, 2, 5)  # LineString, LinearRing, MultiLineString
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


@dataclass(frozen=True, eq=False)
class RoadSegments:
    """The straight segments of some road lines.

    Attributes
    ----------
    a, b
        ``(m, 2)`` start and end of each segment, metres (the lines' CRS).
    row
        ``(m,)`` position (``iloc``) of the road row each segment came from.
    part
        ``(m,)`` the line part each segment belongs to (one per LineString
        and per part of a MultiLineString, numbered in order).
    n_lines
        Number of input rows.
    empty
        ``(n_lines,)`` bool: the row's geometry is missing or empty.
    """

    a: np.ndarray
    b: np.ndarray
    row: np.ndarray
    part: np.ndarray
    n_lines: int
    empty: np.ndarray

    def __len__(self) -> int:
        return int(self.a.shape[0])


def line_segments(roads: gpd.GeoDataFrame | gpd.GeoSeries | np.ndarray) -> RoadSegments:
    """Check road lines and cut them into straight segments.

    Parameters
    ----------
    roads
        (Multi)LineStrings (a frame, a series or an array of geometries);
        missing and empty geometries are skipped.

    Returns
    -------
    RoadSegments

    Raises
    ------
    GeometryError
        A geometry is not a line or a coordinate is not finite.
    """
    geoms = np.asarray(roads.geometry.array if hasattr(roads, "geometry") else roads, dtype=object)
    missing = shapely.is_missing(geoms)
    geoms = geoms.copy()
    geoms[missing] = None
    empty = missing | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    bad = ~empty & ~np.isin(types, _LINE_TYPES)
    if bad.any():
        kinds = sorted({_TYPE_NAMES.get(int(t), str(t)) for t in types[bad]})
        msg = (
            f"layer `roads` has {int(bad.sum())} geometries that are not lines "
            f"({', '.join(kinds)}); first at row {int(np.flatnonzero(bad)[0])}"
        )
        raise GeometryError(msg, field="roads")

    if (types == 5).any():  # MultiLineStrings: one part each, same row
        parts, part_row = shapely.get_parts(geoms[~empty], return_index=True)
        part_row = np.flatnonzero(~empty)[part_row]
    else:
        parts, part_row = geoms[~empty], np.flatnonzero(~empty)
    coords, vidx = shapely.get_coordinates(parts, return_index=True)
    if not np.isfinite(coords).all():
        msg = "layer `roads` has coordinates that are not finite numbers"
        raise GeometryError(msg, field="roads")
    start = np.flatnonzero(vidx[1:] == vidx[:-1])
    return RoadSegments(
        a=coords[start],
        b=coords[start + 1],
        row=part_row[vidx[start]],
        part=vidx[start],
        n_lines=len(geoms),
        empty=empty,
    )


def segment_lines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Two-point LineStrings from ``(m, 2)`` start and end points (vectorised)."""
    return shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING,
        np.stack([a, b], axis=1).reshape(-1, 2),
        (np.arange(len(a) + 1, dtype=np.int64) * 2,),
    )
