"""Web-map coordinates read as WGS84: a layer that fits the others only once converted back from GCJ-02 or BD-09.

AMap, Tencent (GCJ-02) and Baidu (BD-09) coordinates lie a few hundred
metres to a kilometre from WGS84, by an offset that changes across a city
(BD-09's by tens of metres over a district).  So each table is checked
against the layers of *other* files, point by point: its features as read,
and converted back with each candidate's exact inverse (vertex by vertex,
:func:`geo.chinacoords.transform_geometries`), are scored against

- the roads: points by their median distance to the nearest road (m),
  compounds by the length of main roads running through them (m);
- else the compounds (for centres and gates: the median distance to the
  nearest compound) or the centres (for compounds: the median distance from
  each centre to the nearest compound).

As controls, every feature is also moved by its own conversion vector turned
by 60, 120 ... 300 degrees.  Only a conversion that halves the score as read
*and* beats every control by half is reported: a regular street grid fits
some shifts by chance, but not one direction alone.  The warning names the
system, the shift in metres and the ``--crs`` that fixes it; nothing is moved
without the user saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.chinacoords import ChinaCRS, out_of_china, transform_geometries
from geo.crs import WGS84
from layers.importing.messages import say, word
from layers.importing.options import SourceCRS
from layers.importing.prepare import PreparedTable
from layers.importing.report import ImportReport

#: Turns (degrees) of each feature's conversion vector for the control shifts.
_CONTROL_TURNS = (60, 120, 180, 240, 300)

#: Features scored at most (evenly spaced), so a large layer stays quick.
_MAX_SAMPLE = 2000

_POINTS, _AREAS = {0, 4}, {3, 6}


@dataclass(frozen=True)
class Suspicion:
    """A table that fits a reference layer far better once converted back from a web-map system.

    Attributes
    ----------
    system
        ``gcj02`` or ``bd09``.
    measure
        What was scored (``near_road``, ``roads_inside``, ``near_compound``, ``centre_near``).
    reference
        The layer compared with (``roads``, ``compounds``, ``centers``).
    as_read, converted, control
        The score as read, converted back, and the best control (m).
    shift_m, shift_min_m, shift_max_m
        The conversion's median, smallest and largest shift of the features (m).
    """

    system: str
    measure: str
    reference: str
    as_read: float
    converted: float
    control: float
    shift_m: float
    shift_min_m: float
    shift_max_m: float


def _median_distance(points: np.ndarray, tree: shapely.STRtree) -> float:
    _, dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    return float(np.median(dist))


def _scorer(features: np.ndarray, reference: gpd.GeoDataFrame, layer: str, crs: CRS) -> tuple[str, float, Callable[[np.ndarray], float]] | None:
    """How features of this kind are scored against this reference: (measure, floor in m, score); ``None`` when they cannot be."""
    kinds = set(shapely.get_type_id(features).tolist())
    ref = reference
    if layer == "roads" and kinds <= _AREAS and "class" in ref.columns:
        ref = ref[ref["class"].isin(["arterial", "secondary"])]
    ref_m = ref.geometry.to_crs(crs).to_numpy()
    ref_m = ref_m[~(shapely.is_missing(ref_m) | shapely.is_empty(ref_m))]
    if not len(ref_m):
        return None
    tree = shapely.STRtree(ref_m)
    if layer in {"roads", "compounds"} and kinds <= _POINTS:
        return ("near_road" if layer == "roads" else "near_compound"), 15.0, lambda f: _median_distance(f, tree)
    if layer == "roads" and kinds <= _AREAS:

        def inside(f: np.ndarray) -> float:
            f_idx, r_idx = tree.query(f, predicate="intersects")
            return float(shapely.length(shapely.intersection(ref_m[r_idx], f[f_idx])).sum()) if len(f_idx) else 0.0

        return "roads_inside", 100.0, inside
    if layer == "centers" and kinds <= _AREAS and set(shapely.get_type_id(ref_m).tolist()) <= _POINTS:
        return "centre_near", 15.0, lambda f: _median_distance(ref_m, shapely.STRtree(f))
    return None


def _moved(geoms: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each geometry translated by its own vector (m)."""
    coords, index = shapely.get_coordinates(geoms, return_index=True)
    return shapely.set_coordinates(geoms.copy(), coords + vectors[index])


def _turned(vectors: np.ndarray, degrees: float) -> np.ndarray:
    t = np.radians(degrees)
    c, s = np.cos(t), np.sin(t)
    return np.column_stack([c * vectors[:, 0] - s * vectors[:, 1], s * vectors[:, 0] + c * vectors[:, 1]])


def _sample(geoms: np.ndarray) -> np.ndarray:
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) > _MAX_SAMPLE:
        geoms = geoms[np.linspace(0, len(geoms) - 1, _MAX_SAMPLE).astype(int)]
    return geoms


def shift_suspicion(features: gpd.GeoDataFrame, reference: gpd.GeoDataFrame, *, layer: str, crs: CRS) -> Suspicion | None:
    """Whether features (WGS84 degrees as read) fit ``reference`` far better converted back from GCJ-02 or BD-09.

    Parameters
    ----------
    features
        The table's features (EPSG:4326 as read).
    reference
        Features of another file (EPSG:4326): roads, compounds or centres.
    layer
        Which layer ``reference`` is.
    crs
        The metric CRS scores are measured in (m).

    Returns
    -------
    Suspicion or None
        The system whose conversion halves the score as read and beats every
        control by half (the better of the two when both do).
    """
    geoms = _sample(np.asarray(features.geometry.to_numpy(), dtype=object))
    if len(geoms) < 3 or not len(reference):
        return None
    centres = shapely.get_coordinates(shapely.centroid(geoms))
    if float(out_of_china(centres[:, 0], centres[:, 1]).mean()) > 0.5:
        return None
    scoring = _scorer(geoms, reference, layer, crs)
    if scoring is None:
        return None
    measure, floor, score = scoring
    as_read_m = gpd.GeoSeries(geoms, crs=WGS84).to_crs(crs).to_numpy()
    as_read = score(as_read_m)
    if as_read < floor:
        return None
    best: Suspicion | None = None
    for system in (ChinaCRS.gcj02, ChinaCRS.bd09):
        back = gpd.GeoSeries(transform_geometries(geoms, source=system, target=ChinaCRS.wgs84), crs=WGS84).to_crs(crs).to_numpy()
        converted = score(back)
        if converted > 0.5 * as_read or (best is not None and converted >= best.converted):
            continue
        vectors = shapely.get_coordinates(shapely.centroid(back)) - shapely.get_coordinates(shapely.centroid(as_read_m))
        control = min(score(_moved(as_read_m, _turned(vectors, a))) for a in _CONTROL_TURNS)
        if converted <= 0.5 * control:
            length = np.hypot(vectors[:, 0], vectors[:, 1])
            best = Suspicion(
                system=system.value, measure=measure, reference=layer, as_read=as_read, converted=converted, control=control,
                shift_m=float(np.median(length)), shift_min_m=float(length.min()), shift_max_m=float(length.max()),
            )
    return best


def _file_of(source: str) -> str:
    """The file part of a source label (``a.gpkg:roads`` -> ``a.gpkg``)."""
    return source.split(":", 1)[0]


#: The layers each layer is compared with, in order: the first that shows a shift is reported.
_REFERENCES = {"centers": ("roads", "compounds"), "gates": ("roads", "compounds"), "compounds": ("roads", "centers")}


def _reference(tables: dict[str, list[PreparedTable]], layer: str, file: str) -> gpd.GeoDataFrame | None:
    """The features of ``layer`` from files other than ``file`` (``None`` when there are none)."""
    frames = [t.frame for t in tables.get(layer, []) if _file_of(t.raw.source) != file and len(t.frame)]
    if not frames:
        return None
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry=frames[0].geometry.name, crs=WGS84)


def check_shifts(tables: dict[str, list[PreparedTable]], given: SourceCRS | None, crs: CRS, report: ImportReport) -> None:
    """Warn when centres, gates or compounds of a file fit the other files' layers only once converted from a web map.

    Not when ``--crs`` named a web map; OpenStreetMap tables are WGS84 by
    definition (but serve as references).
    """
    if given is not None and given.china is not None:
        return
    for layer, references in _REFERENCES.items():
        for table in tables.get(layer, []):
            raw = table.raw
            if raw.fmt == "osm" or not len(table.frame):
                continue
            for ref_layer in references:
                reference = _reference(tables, ref_layer, _file_of(raw.source))
                found = shift_suspicion(table.frame, reference, layer=ref_layer, crs=crs) if reference is not None else None
                if found:
                    _warn(found, raw.source, report)
                    break


def _warn(found: Suspicion, source: str, report: ImportReport) -> None:
    report.warn(
        f"{found.system}_suspected",
        source=source,
        file=source,
        system=say(f"system.{found.system}"),
        reference=word(f"layer.{found.reference}"),
        measure=say(f"measure.{found.measure}"),
        as_read=found.as_read,
        converted=found.converted,
        control=found.control,
        shift=found.shift_m,
        shift_min=found.shift_min_m,
        shift_max=found.shift_max_m,
        option=f"--crs {found.system}",
    )
