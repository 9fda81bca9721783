"""Web-map coordinates read as WGS84: points or compounds that sit off the roads by the GCJ-02 or BD-09 offset.

AMap, Tencent (GCJ-02) and Baidu (BD-09) coordinates lie a few hundred metres
from WGS84 in a direction nearly constant across a city.  When a layer's
features fit the roads (of another file) far better once moved back by that
offset than as read, and better than when moved as far in other directions,
the report warns and names the ``--crs`` to import them with.  Nothing is
moved without the user saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geo.chinacoords import ChinaCRS, out_of_china, transform_geometries
from geo.crs import WGS84
from layers.importing.options import SourceCRS
from layers.importing.prepare import PreparedTable
from layers.importing.report import ImportReport

#: Directions (degrees from the web-map offset) of the control shifts, each as long as the offset.
_CONTROL_TURNS = (60, 120, 180, 240, 300)

#: Display names of the web-map systems.
_SYSTEM_NAMES = {"gcj02": "GCJ-02 (AMap/Tencent)", "bd09": "BD-09 (Baidu)"}


def _nearest_road_m(points_m: np.ndarray, roads_m: np.ndarray, tree: shapely.STRtree) -> float:
    _, dist = tree.query_nearest(points_m, return_distance=True, all_matches=False)
    return float(np.median(dist))


def _road_length_inside_m(polys_m: np.ndarray, roads_m: np.ndarray, tree: shapely.STRtree) -> float:
    p_idx, r_idx = tree.query(polys_m, predicate="intersects")
    if not len(p_idx):
        return 0.0
    return float(shapely.length(shapely.intersection(roads_m[r_idx], polys_m[p_idx])).sum())


def _web_offset_m(system: ChinaCRS, lon: float, lat: float, crs: CRS) -> np.ndarray:
    """The web-map offset (east, north) in metres of ``crs`` at a WGS84 point."""
    shifted = transform_geometries([shapely.Point(lon, lat)], source=ChinaCRS.wgs84, target=system)[0]
    pts = gpd.GeoSeries([shapely.Point(lon, lat), shifted], crs=WGS84).to_crs(crs)
    return np.array([pts.iloc[1].x - pts.iloc[0].x, pts.iloc[1].y - pts.iloc[0].y])


@dataclass(frozen=True)
class _Scoring:
    """How features are scored against the roads: which roads, the score (m), what it measures, its floor (m)."""

    roads: gpd.GeoDataFrame
    score_of: Callable[[np.ndarray, np.ndarray, shapely.STRtree], float]
    kind: str
    floor: float


def _scoring(type_ids: set[int], roads: gpd.GeoDataFrame) -> _Scoring | None:
    """Points by their distance to the nearest road, areas by the main roads through them; other kinds not at all."""
    if type_ids <= {0, 4}:
        return _Scoring(roads, _nearest_road_m, "median distance to the nearest road", 15.0)
    if type_ids <= {3, 6}:
        major = roads[roads["class"].isin(["arterial", "secondary"])] if "class" in roads.columns else roads
        return _Scoring(major, _road_length_inside_m, "length of main roads running through them", 100.0)
    return None


def _turned(vector: np.ndarray, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    return np.array([np.cos(t) * vector[0] - np.sin(t) * vector[1], np.sin(t) * vector[0] + np.cos(t) * vector[1]])


def _best_system(score: Callable[[np.ndarray], float], as_read: float, centre: tuple[float, float], crs: CRS, kind: str) -> dict[str, Any] | None:
    """The web-map system whose offset, moved back, halves the score as read and beats every control by half."""
    best: dict[str, Any] | None = None
    for system in (ChinaCRS.gcj02, ChinaCRS.bd09):
        back = -_web_offset_m(system, centre[0], centre[1], crs)
        shifted = score(back)
        if shifted > 0.5 * as_read:
            continue
        control = min(score(_turned(back, a)) for a in _CONTROL_TURNS)
        if shifted <= 0.5 * control and (best is None or shifted < best["shifted"]):
            best = {
                "system": system.value,
                "as_read": as_read,
                "shifted": shifted,
                "control": control,
                "offset_m": float(np.hypot(*back)),
                "kind": kind,
            }
    return best


def shift_suspicion(features: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, *, crs: CRS) -> dict[str, Any] | None:
    """Whether features sit off the roads by the GCJ-02 (or BD-09) offset, in its direction.

    Points are scored by their median distance to the nearest road (m), areas
    by the length of arterial and secondary roads running through them (m).
    The features are moved back by the web-map offset (a few hundred metres,
    nearly constant across a city) and, as controls, by vectors of the same
    length in five other directions.  Only when the web-map direction halves
    the score as read *and* beats every control by half is it reported: a
    regular street grid fits some shifts by chance, but not one direction
    alone.

    Returns
    -------
    dict or None
        ``{"system": "gcj02"|"bd09", "as_read": m, "shifted": m, "control": m, "offset_m": m, "kind": ...}``
        when suspicious, else ``None``.
    """
    geoms = features.geometry.to_numpy()
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) < 3 or not len(roads):
        return None
    cx, cy = shapely.get_coordinates(shapely.centroid(geoms)).mean(axis=0)
    if bool(out_of_china(cx, cy)):
        return None
    scoring = _scoring(set(shapely.get_type_id(geoms).tolist()), roads)
    if scoring is None or not len(scoring.roads):
        return None
    roads_m = scoring.roads.geometry.to_crs(crs).to_numpy()
    tree = shapely.STRtree(roads_m)
    feats_m = gpd.GeoSeries(geoms, crs=WGS84).to_crs(crs).to_numpy()

    def score(vector: np.ndarray) -> float:
        return scoring.score_of(shapely.transform(feats_m, lambda c: c + vector), roads_m, tree)

    as_read = score(np.zeros(2))
    if as_read < scoring.floor:
        return None
    return _best_system(score, as_read, (float(cx), float(cy)), crs, scoring.kind)


def _file_of(source: str) -> str:
    """The file part of a source label (``a.gpkg:roads`` -> ``a.gpkg``)."""
    return source.split(":", 1)[0]


def check_shifts(
    layers: dict[str, gpd.GeoDataFrame], tables: dict[str, list[PreparedTable]], given: SourceCRS | None, crs: CRS, report: ImportReport
) -> None:
    """Warn when points or compounds sit off the roads by the web-map offset (not when ``--crs`` named a web map)."""
    roads = layers.get("roads")
    if roads is None or not len(roads) or (given is not None and given.china is not None):
        return
    road_files = {_file_of(t.raw.source) for t in tables.get("roads", [])}
    for layer in ("centers", "compounds", "gates"):
        for table in tables.get(layer, []):
            raw = table.raw
            if _file_of(raw.source) in road_files or raw.fmt == "osm":
                continue
            found = shift_suspicion(table.frame, roads, crs=crs)
            if found:
                name = _SYSTEM_NAMES[found["system"]]
                report.warn(
                    f"{found['system']}_suspected",
                    f"`{raw.source}`: {found['kind']} is {found['as_read']:.0f} m as read but {found['shifted']:.0f} m once moved back by "
                    f"the {name} offset (about {found['offset_m']:.0f} m here; {found['control']:.0f} m moved as far in other directions): "
                    f"the coordinates look like {name} read as WGS84; "
                    f"if they came from that map, import them again with --crs {found['system']}",
                    raw.source,
                )
