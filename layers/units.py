"""Neighbourhood units (邻里单元): areas enclosed by main roads, rivers and the boundary.

Built as one vectorised chain (after momepy's enclosures):
``polygonize(node(barriers))``, keep the faces inside the study area, then
merge slivers into the neighbour they share the longest edge with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from geo.crs import WGS84
from geo.errors import InvalidValueError
from geo.geometry import containing_polygon, interior_points
from layers.walking import compound_points

#: Road classes that bound neighbourhood units by default.
DEFAULT_UNIT_CLASSES: tuple[str, ...] = ("arterial", "secondary")
#: Units smaller than this (m²) are merged into a neighbour.
DEFAULT_MIN_UNIT_AREA_M2 = 5000.0
#: A road or river counts as bounding a unit when it runs along it this far (m).
_BOUNDING_MIN_M = 30.0
#: Barrier lines are lengthened by this much (m) so near-misses at junctions close.
_SNAP_M = 2.0
#: Precision grid (m) for noding barrier lines.
_GRID_M = 0.01


def study_area(
    boundary: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, metric_crs: CRS
) -> shapely.Geometry:
    """The area to tile, in ``metric_crs``.

    The union of the ``district`` rows of the boundary layer (or of all rows
    when none is marked district); without a boundary, the convex hull of the
    roads.
    """
    if len(boundary):
        b = boundary.to_crs(metric_crs)
        district = b[b["level"] == "district"] if "level" in b.columns else b
        if not len(district):
            district = b
        return shapely.union_all(district.geometry.to_numpy())
    if len(roads):
        return shapely.convex_hull(shapely.union_all(roads.to_crs(metric_crs).geometry.to_numpy()))
    msg = "neither a boundary nor roads: cannot tell the area to divide into units"
    raise InvalidValueError(msg, field="boundary")


#: Data covering less than this share of the boundary limits units, grids and cells to where it lies.
DATA_SHARE_LIMIT = 0.5
#: Margin (m) kept around the data's footprint (its convex hull) when the study area is limited to it.
DATA_MARGIN_M = 500.0
#: Name of the unit holding the part of the boundary without data.
NO_DATA_NAME = "无数据区域"


@dataclass(frozen=True)
class DataExtent:
    """Where the data lies within the study area.

    Attributes
    ----------
    area
        The area to divide into units, grids and cells (metric CRS).
    rest
        The part of the study area without data, one "no data" unit; ``None`` when the data fills the area.
    boundary_km2, data_km2
        Areas of the whole study area and of ``area`` (km²).
    """

    area: shapely.Geometry
    rest: shapely.Geometry | None
    boundary_km2: float
    data_km2: float


def data_extent(
    area: shapely.Geometry,
    roads: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    margin_m: float = DATA_MARGIN_M,
    share: float = DATA_SHARE_LIMIT,
) -> DataExtent:
    """The study area limited to the data when compounds and roads cover little of it.

    The data's footprint is the convex hull of every compound and road vertex
    grown by ``margin_m``; when its part of ``area`` is less than ``share``
    of it (a district boundary with data in one corner), that part is what
    gets divided and the rest becomes one "no data" area.
    """
    total = float(shapely.area(area))
    frames = [f.to_crs(metric_crs).geometry.to_numpy() for f in (compounds, roads) if f is not None and len(f)]
    coords = np.concatenate([shapely.get_coordinates(g) for g in frames]) if frames else np.empty((0, 2))
    if not len(coords) or total <= 0:
        return DataExtent(area, None, total / 1e6, total / 1e6)
    footprint = shapely.buffer(shapely.convex_hull(shapely.multipoints(coords)), margin_m)
    focus = shapely.intersection(area, footprint)
    if float(shapely.area(focus)) >= share * total or shapely.is_empty(focus):
        return DataExtent(area, None, total / 1e6, total / 1e6)
    return DataExtent(focus, shapely.difference(area, focus), total / 1e6, float(shapely.area(focus)) / 1e6)


def _barriers(
    area: shapely.Geometry, roads: gpd.GeoDataFrame, rivers: gpd.GeoDataFrame, classes: Iterable[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Barrier lines (metric) and their display names."""
    main = roads[roads["class"].isin(list(classes))] if len(roads) else roads
    river_lines = shapely.boundary(rivers.geometry.to_numpy()) if len(rivers) else np.array([])
    # boundary() of a line gives its end points: use the line itself for linear rivers.
    if len(rivers):
        is_line = np.isin(shapely.get_type_id(rivers.geometry.to_numpy()), [1, 2, 5])
        river_lines = np.where(is_line, rivers.geometry.to_numpy(), river_lines)
    lines = np.concatenate(
        [main.geometry.to_numpy() if len(main) else [], river_lines, [shapely.boundary(area)]]
    ).astype(object)
    names = np.concatenate(
        [
            main["name"].astype(str).to_numpy() if len(main) else [],
            rivers["name"].astype(str).to_numpy() if len(rivers) else [],
            [""],
        ]
    ).astype(object)
    return lines, names


def extend_line_ends(lines: np.ndarray, distance_m: float) -> np.ndarray:
    """Lengthen every line at both ends by ``distance_m`` along its end segments.

    Roads drawn to end *on* a boundary or another road rarely do so to the
    last bit of a float; extending them a little makes the crossing real, and
    the overshoot becomes a dangle that polygonize ignores.
    """
    parts = shapely.get_parts(lines)
    parts = parts[shapely.get_type_id(parts) == 1]
    parts = parts[shapely.length(parts) > 0]
    if not len(parts):
        return parts
    coords, idx = shapely.get_coordinates(parts, return_index=True)
    count = np.bincount(idx, minlength=len(parts))
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    end = start + count - 1

    def _push(tip: np.ndarray, prev: np.ndarray) -> np.ndarray:
        vec = coords[tip] - coords[prev]
        norm = np.hypot(vec[:, 0], vec[:, 1])
        norm[norm == 0] = 1.0
        return coords[tip] + vec / norm[:, None] * distance_m

    coords = coords.copy()
    new_start, new_end = _push(start, start + 1), _push(end, end - 1)
    coords[start], coords[end] = new_start, new_end
    return shapely.linestrings(coords, indices=idx)


def _merge_slivers(faces: np.ndarray, min_area_m2: float, *, rounds: int = 6) -> np.ndarray:
    """Merge faces under ``min_area_m2`` into the neighbour sharing the longest edge."""
    for _ in range(rounds):
        area = shapely.area(faces)
        small = np.flatnonzero(area < min_area_m2)
        if not len(small) or len(faces) < 2:
            break
        tree = shapely.STRtree(faces)
        s_idx, n_idx = tree.query(faces[small], predicate="intersects")
        s_idx = small[s_idx]
        keep = s_idx != n_idx
        s_idx, n_idx = s_idx[keep], n_idx[keep]
        shared = shapely.length(shapely.intersection(shapely.boundary(faces[s_idx]), shapely.boundary(faces[n_idx])))
        ok = shared > 0
        if not ok.any():
            break
        frame = pd.DataFrame({"s": s_idx[ok], "n": n_idx[ok], "len": shared[ok]})
        best = frame.sort_values(["s", "len"], ascending=[True, False]).drop_duplicates("s")
        graph = coo_matrix(
            (np.ones(len(best)), (best["s"].to_numpy(), best["n"].to_numpy())), shape=(len(faces), len(faces))
        )
        _, labels = connected_components(graph, directed=False)
        merged = gpd.GeoDataFrame({"label": labels}, geometry=faces).dissolve("label", method="coverage")
        faces = merged.geometry.to_numpy()
    return faces


def bounding_names(
    units: np.ndarray, lines: np.ndarray, names: np.ndarray, *, min_length_m: float = _BOUNDING_MIN_M
) -> list[str]:
    """Names of the named lines running along each unit's edge for at least ``min_length_m``."""
    named = names != ""
    lines, names = lines[named], names[named]
    out: list[list[str]] = [[] for _ in range(len(units))]
    if not len(lines):
        return ["" for _ in out]
    rims = shapely.buffer(shapely.boundary(units), 2.0)
    u_idx, l_idx = shapely.STRtree(lines).query(rims, predicate="intersects")
    along = shapely.length(shapely.intersection(lines[l_idx], rims[u_idx]))
    frame = pd.DataFrame({"u": u_idx, "name": names[l_idx], "len": along})
    frame = frame[frame["len"] >= min_length_m].groupby(["u", "name"], sort=False)["len"].sum().reset_index()
    frame = frame.sort_values(["u", "len"], ascending=[True, False])
    for u, group in frame.groupby("u"):
        out[int(u)] = list(group["name"])
    return ["、".join(n) for n in out]


def neighbourhood_units(
    boundary: gpd.GeoDataFrame,
    roads: gpd.GeoDataFrame,
    rivers: gpd.GeoDataFrame,
    compounds: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    unit_classes: Iterable[str] = DEFAULT_UNIT_CLASSES,
    min_area_m2: float = DEFAULT_MIN_UNIT_AREA_M2,
    extent: DataExtent | None = None,
) -> gpd.GeoDataFrame:
    """Divide the study area into neighbourhood units bounded by main roads and rivers.

    Parameters
    ----------
    boundary, roads, rivers, compounds
        Input layers in EPSG:4326 (``roads`` with ``class`` and ``name``).
    metric_crs
        Projected CRS (metres) to work in.
    unit_classes
        Road classes that bound units (default arterial and secondary roads).
    min_area_m2
        Units smaller than this (m²) are merged into the neighbour they share
        the longest edge with.
    extent
        Where the data lies (:func:`data_extent`): only its ``area`` is
        divided, its ``rest`` is one more unit named 无数据区域 (and every unit
        gets ``no_data``).  Default: the whole study area.

    Returns
    -------
    GeoDataFrame
        Units in EPSG:4326 that tile the study area without gaps or overlaps:
        ``id`` (``U001``...), ``name``, ``area_m2``, ``water`` (the unit lies in
        a river), ``compounds``, ``households``, ``population`` (by compound
        access point) and ``bounded_by`` (names of the roads and rivers along
        its edge, longest first).
    """
    if min_area_m2 < 0:
        msg = f"`min_area_m2` must be >= 0; got {min_area_m2!r}"
        raise InvalidValueError(msg, field="min_area_m2")
    area = extent.area if extent is not None else study_area(boundary, roads, metric_crs=metric_crs)
    r = roads.to_crs(metric_crs) if len(roads) else roads
    w = rivers.to_crs(metric_crs) if len(rivers) else rivers
    lines, names = _barriers(area, r, w, unit_classes)
    # Snap-rounding to 1 cm makes roads drawn along the boundary coincide with it exactly,
    # so duplicates dissolve instead of leaving zero-width faces.
    merged = shapely.get_parts(shapely.line_merge(shapely.union_all(shapely.get_parts(lines), grid_size=_GRID_M)))
    noded = shapely.union_all(extend_line_ends(merged, _SNAP_M), grid_size=_GRID_M)
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > _GRID_M**2]
    inside = shapely.contains_properly(area, shapely.point_on_surface(faces)) if len(faces) else np.array([], bool)
    faces = faces[inside]
    faces = _merge_slivers(faces, min_area_m2)
    faces = np.asarray(shapely.normalize(faces))
    order = np.lexsort((shapely.get_x(shapely.centroid(faces)), -np.round(shapely.get_y(shapely.centroid(faces)), -2)))
    faces = faces[order]
    ids = [f"U{i + 1:03d}" for i in range(len(faces))]
    units = gpd.GeoDataFrame(
        {"id": ids, "name": [f"邻里单元{i + 1}" for i in range(len(faces))], "area_m2": np.round(shapely.area(faces), 1)},
        geometry=faces,
        crs=metric_crs,
    )
    water = shapely.union_all(w.geometry.to_numpy()) if len(w) else None
    if water is not None and shapely.get_type_id(water) in (3, 6, 7):
        inter = shapely.area(shapely.intersection(faces, water))
        units["water"] = inter > 0.5 * shapely.area(faces)
    else:
        units["water"] = False
    stats = _compound_totals(units, compounds.to_crs(metric_crs))
    units = units.join(stats)
    units["bounded_by"] = bounding_names(faces, lines, names)
    if extent is not None and extent.rest is not None:
        units["no_data"] = False
        rest = {"id": f"U{len(units) + 1:03d}", "name": NO_DATA_NAME, "area_m2": round(float(shapely.area(extent.rest)), 1),
                "water": False, "compounds": 0, "households": 0, "population": 0, "bounded_by": "", "no_data": True}
        units = gpd.GeoDataFrame(
            pd.concat([units, gpd.GeoDataFrame([rest], geometry=[extent.rest], crs=metric_crs)], ignore_index=True),
            geometry="geometry", crs=metric_crs,
        )
    return units.to_crs(WGS84)


def _compound_totals(polys: gpd.GeoDataFrame, compounds_m: gpd.GeoDataFrame) -> pd.DataFrame:
    """Compound count, households and population per polygon, by access point."""
    cols = ["compounds", "households", "population"]
    if not len(compounds_m):
        return pd.DataFrame(0, index=polys.index, columns=cols)
    pos = containing_polygon(interior_points(compounds_m.geometry.to_numpy()), polys.geometry.to_numpy())
    inside = pos >= 0
    frame = pd.DataFrame(
        {
            "poly": pos[inside],
            "compounds": 1,
            "households": compounds_m["households"].to_numpy()[inside],
            "population": compounds_m["population"].to_numpy()[inside],
        }
    )
    sums = frame.groupby("poly")[cols].sum()
    sums.index = polys.index[sums.index.to_numpy()]
    return sums.reindex(polys.index, fill_value=0).astype("int64")


def assign_to_polygons(
    compounds: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    column: str = "id",
    gates: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> pd.Series:
    """For each compound, ``polygons[column]`` of the polygon holding its access point (``""`` if none).

    The access point is the first of :func:`layers.walking.access_points`
    with the same ``gates`` and ``roads`` as its coverage (a gate, else the
    perimeter entrance nearest a road, else a point inside).
    """
    if not len(compounds) or not len(polygons):
        return pd.Series("", index=compounds.index, dtype=object)
    gates_m = gates.to_crs(metric_crs) if gates is not None and len(gates) else None
    pts = compound_points(compounds.to_crs(metric_crs), gates_m, roads=roads)
    pos = containing_polygon(pts, polygons.to_crs(metric_crs).geometry.to_numpy())
    values = np.full(len(compounds), "", dtype=object)
    values[pos >= 0] = polygons[column].astype(str).to_numpy()[pos[pos >= 0]]
    return pd.Series(values, index=compounds.index, dtype=object)
