"""OpenStreetMap extracts as dataset layers: the rules that map OSM tags onto the design's input layers.

``.osm.pbf`` files (pyrosm) and ``.osm`` XML files (small hand or JOSM
exports, GDAL) are read by :mod:`layers.importing.osm_files` into the same
tagged frames; households of residential areas are estimated by
:mod:`layers.importing.households`.  One set of rules turns the frames into
layers:

=====================  ==============================================================
OSM                    layer
=====================  ==============================================================
``highway=*``          ``roads``: primary/trunk -> arterial, secondary/tertiary ->
                       secondary, residential/service/unclassified -> local,
                       footway/path/pedestrian/steps -> path; motorways and
                       ``foot=no`` are not walkable; ``bridge``, ``tunnel`` and
                       ``layer`` kept (crossings of other levels stay apart;
                       ways still connect at their shared nodes)
``waterway=*`` lines,  ``rivers`` (ditches and drains are left out)
``natural=water``,
``water=*`` areas
``landuse=residential``  ``compounds``; households estimated from the residential
``place=neighbourhood``  floor area of the buildings inside (flats, else footprint x
                       levels, height / 3 m or a default by type, / m² per household),
                       else from the area; marked and checked against GB 50180 densities
``amenity=community_centre``, ``social_facility``, ``social_centre``, ``townhall``,
``office=government`` named like a 党群/社区/街道 office, anything named 党群服务中心:
                       ``centers`` with status ``existing``, one per facility, level from
                       the tags (:mod:`layers.importing.osm_centres`)
``boundary=administrative``  ``boundary`` (admin_level 5-6 district, 7-8 subdistrict,
                       9-10 community)
=====================  ==============================================================

Everything is returned in EPSG:4326, ready for :func:`layers.dataset.prepare_layer`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, metric_crs
from geo.errors import InputError
from geo.geometry import repair_geometries
from layers.importing.households import estimate_households
from layers.importing.messages import listing, word
from layers.importing.options import DEFAULT_OSM, OSMOptions, Progress, nothing
from layers.importing.osm_centres import osm_centers
from layers.importing.osm_files import read_osm_tables

#: ``highway`` value -> road class; values not listed are not roads for us (construction, platform ...).
HIGHWAY_CLASSES: dict[str, str] = {
    **dict.fromkeys(("motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"), "arterial"),
    **dict.fromkeys(("secondary", "secondary_link", "tertiary", "tertiary_link"), "secondary"),
    **dict.fromkeys(("residential", "service", "unclassified", "living_street", "road", "busway"), "local"),
    **dict.fromkeys(
        ("footway", "path", "pedestrian", "steps", "cycleway", "track", "bridleway", "trail", "sidewalk", "crossing"),
        "path",
    ),
}
_NOT_WALKABLE_HIGHWAY = {"motorway", "motorway_link"}
_NOT_WALKABLE_ACCESS = {"no", "private"}

#: ``waterway`` values kept as rivers (small ditches and drains would cut every block).
WATERWAYS = ("river", "canal", "stream", "riverbank", "tidal_channel")


@dataclass
class OSMResult:
    """Layers read from an OSM file (EPSG:4326), what was left out of each and the notes on each (layer -> (code, values)s)."""

    layers: dict[str, gpd.GeoDataFrame]
    skipped: dict[str, int] = field(default_factory=dict)
    notes: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)


def _names(frame: pd.DataFrame) -> pd.Series:
    name = frame["name"].astype("string").fillna("").str.strip()
    return name.where(name != "", "OSM " + frame["osm_ref"].astype(str)).astype(object)


def _keep_family(frame: gpd.GeoDataFrame, types: set[str]) -> tuple[gpd.GeoDataFrame, int]:
    ok = frame.geom_type.isin(list(types)).to_numpy() if len(frame) else np.zeros(0, bool)
    return frame.loc[ok].reset_index(drop=True), int((~ok).sum())


def _osm_yes(tag: pd.Series) -> np.ndarray:
    """An OSM ``bridge`` / ``tunnel`` tag as a flag: any value but ``no`` (``yes``, ``viaduct``, ``building_passage`` ...)."""
    text = tag.astype("string").fillna("").str.strip().str.lower()
    return (~text.isin(["", "no", "false", "0"])).to_numpy(dtype=bool)


def osm_roads(raw: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """``highway`` ways as the roads layer; returns the layer and the number of ways left out."""
    lines, wrong = _keep_family(raw, {"LineString", "MultiLineString"})
    cls = lines["highway"].map(HIGHWAY_CLASSES)
    known = cls.notna().to_numpy()
    lines, cls = lines.loc[known], cls[known]
    walkable = ~(
        lines["highway"].isin(_NOT_WALKABLE_HIGHWAY)
        | (lines["foot"].astype("string").fillna("") == "no")
        | (lines["access"].isin(_NOT_WALKABLE_ACCESS) & ~lines["foot"].isin(["yes", "designated", "permissive"]))
    )
    out = gpd.GeoDataFrame(
        {
            "name": lines["name"].astype("string").fillna("").astype(object).to_numpy(),
            "class": cls.to_numpy(),
            "walkable": walkable.to_numpy(dtype=bool),
            "highway": lines["highway"].astype(str).to_numpy(),
            "bridge": _osm_yes(lines["bridge"]),
            "tunnel": _osm_yes(lines["tunnel"]),
            "layer": pd.to_numeric(lines["layer"], errors="coerce").fillna(0).round().astype("int64").to_numpy(),
            "osm_ref": lines["osm_ref"].to_numpy(),
        },
        geometry=gpd.GeoSeries(lines.geometry.to_numpy(), crs=WGS84),
    )
    return out, wrong + int((~known).sum())


def osm_rivers(raw: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """Waterway lines and water areas as the rivers layer (ditches, drains and points left out)."""
    if not len(raw):
        return gpd.GeoDataFrame({"name": [], "kind": [], "osm_ref": []}, geometry=gpd.GeoSeries([], crs=WGS84)), 0
    kind = raw["waterway"].astype("string")
    area = (raw["natural"] == "water") | raw["water"].notna() | (kind == "riverbank")
    is_line = raw.geom_type.isin(["LineString", "MultiLineString"])
    is_area = raw.geom_type.isin(["Polygon", "MultiPolygon"])
    keep = ((is_line & kind.isin(WATERWAYS).fillna(False)) | (is_area & area)).to_numpy(dtype=bool)
    sel = raw.loc[keep]
    out = gpd.GeoDataFrame(
        {
            "name": sel["name"].astype("string").fillna("").astype(object).to_numpy(),
            "kind": sel["waterway"].fillna(sel["water"]).fillna(sel["natural"]).astype(str).to_numpy(),
            "osm_ref": sel["osm_ref"].to_numpy(),
        },
        geometry=gpd.GeoSeries(sel.geometry.to_numpy(), crs=WGS84),
    )
    return out, int((~keep).sum())


def _usable_areas(raw: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, np.ndarray, int]:
    """Areas that validation will keep (as read), their repaired shapes for measuring, and how many are not areas."""
    polys, wrong = _keep_family(raw, {"Polygon", "MultiPolygon"})
    fixed = repair_geometries(polys.geometry.to_numpy(), family="polygon")
    usable = fixed.unusable == ""
    return polys.loc[usable].reset_index(drop=True), fixed.geometry[usable], wrong + int((~usable).sum())


def osm_compounds(
    raw: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, *, options: OSMOptions = DEFAULT_OSM
) -> tuple[gpd.GeoDataFrame, int, int]:
    """Residential areas as compounds with estimated households (:mod:`layers.importing.households`).

    Areas that contain another compound's interior point are left out (the
    inner, more specific areas are kept) so no household is counted twice;
    so are areas that collapse to lines.  Compounds carry
    ``households_estimated``, ``households_source`` and ``storeys`` (the
    average storeys of their homes, empty when estimated from the area).

    Returns
    -------
    (compounds, left out, nested)
        The layer, the number of features left out as no area, and the number
        of enclosing areas dropped in favour of the ones inside them.
    """
    polys, shapes, wrong = _usable_areas(raw)
    if not len(polys):
        columns = ("name", "households", "households_estimated", "households_source", "storeys", "osm_ref")
        return gpd.GeoDataFrame({c: [] for c in columns}, geometry=gpd.GeoSeries([], crs=WGS84)), wrong, 0
    inner = shapely.point_on_surface(shapes)
    p_idx, c_idx = shapely.STRtree(shapes).query(inner, predicate="within")
    containers = np.unique(c_idx[p_idx != c_idx])
    keep = np.ones(len(polys), bool)
    keep[containers] = False
    polys, shapes = polys.loc[keep].reset_index(drop=True), shapes[keep]
    measured = gpd.GeoSeries(shapes, crs=WGS84)
    estimate = estimate_households(measured, buildings, metric=metric_crs(measured), options=options)
    out = gpd.GeoDataFrame(
        {
            "name": _names(polys).to_numpy(),
            "households": estimate.households,
            "households_estimated": np.ones(len(polys), bool),
            "households_source": estimate.source,
            "storeys": np.round(estimate.storeys, 1),
            "osm_ref": polys["osm_ref"].to_numpy(),
        },
        geometry=gpd.GeoSeries(polys.geometry.to_numpy(), crs=WGS84),
    )
    return out, wrong, int(len(containers))


#: OSM admin_level -> boundary level (China: 5-6 district/county, 7-8 street/town, 9-10 community/village).
ADMIN_LEVELS: dict[str, str] = {"5": "district", "6": "district", "7": "subdistrict", "8": "subdistrict", "9": "community", "10": "community"}


def osm_boundary(raw: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """Administrative boundaries as the boundary layer, each with its ``parent`` by containment."""
    polys, wrong = _keep_family(raw, {"Polygon", "MultiPolygon"})
    level = polys["admin_level"].astype("string").str.strip().map(ADMIN_LEVELS) if len(polys) else pd.Series(dtype=object)
    keep = level.notna().to_numpy(dtype=bool)
    polys, level = polys.loc[keep].reset_index(drop=True), level[keep].reset_index(drop=True)
    out = gpd.GeoDataFrame(
        {
            "name": _names(polys).to_numpy() if len(polys) else np.array([], dtype=object),
            "level": level.to_numpy(dtype=object),
            "parent": np.full(len(polys), "", dtype=object),
            "osm_ref": polys["osm_ref"].to_numpy(),
        },
        geometry=gpd.GeoSeries(polys.geometry.to_numpy(), crs=WGS84),
    )
    if len(out) > 1:
        rank = out["level"].map({"district": 0, "subdistrict": 1, "community": 2}).to_numpy()
        inner = shapely.point_on_surface(out.geometry.to_numpy())
        i_idx, o_idx = out.sindex.query(inner, predicate="within")
        ok = rank[o_idx] == rank[i_idx] - 1
        parents = pd.Series(out["name"].to_numpy()[o_idx[ok]], index=i_idx[ok])
        parents = parents[~parents.index.duplicated()]
        out.loc[parents.index, "parent"] = parents.to_numpy()
    return out, wrong + int((~keep).sum())


def _centre_notes(centers: gpd.GeoDataFrame, merged: int) -> list[tuple[str, dict[str, Any]]]:
    """What the report says about OSM centres: existing ones, by level, and nodes merged into their buildings."""
    if not len(centers):
        return []
    levels = centers["level"].value_counts()
    by_level = listing(f"{word('level.' + str(k))} {v}" for k, v in levels.items())
    return [("osm_centers", {"count": len(centers), "by_level": by_level, "merged": merged})]


def read_osm(
    path: str | Path,
    *,
    bbox: Sequence[float] | None = None,
    layers: Sequence[str] | None = None,
    options: OSMOptions = DEFAULT_OSM,
    progress: Progress = nothing,
) -> OSMResult:
    """Read an OpenStreetMap extract into dataset input layers.

    Parameters
    ----------
    path
        ``.osm.pbf`` (pyrosm) or ``.osm`` XML (GDAL).
    bbox
        ``(minx, miny, maxx, maxy)`` in degrees (EPSG:4326) to read only an
        area of the file.
    layers
        Input layers wanted (default: all five).
    options
        Household estimation parameters (m² per household, floor area ratio).
    progress
        Called with the name of each step as it starts.

    Returns
    -------
    OSMResult
        Layers in EPSG:4326 with the design's columns plus ``osm_ref`` (and
        ``households_estimated`` / ``households_source`` on compounds); counts
        of features left out; notes.
    """
    p = Path(path)
    if not p.exists():
        msg = f"`{p}` does not exist"
        raise InputError(msg, field="source")
    wanted = set(layers or ("boundary", "rivers", "roads", "compounds", "centers"))
    raw = read_osm_tables(p, bbox, progress)
    result = OSMResult(layers={})
    if "roads" in wanted:
        result.layers["roads"], result.skipped["roads"] = osm_roads(raw.roads)
    if "rivers" in wanted:
        result.layers["rivers"], result.skipped["rivers"] = osm_rivers(raw.water)
    if "compounds" in wanted:
        result.layers["compounds"], result.skipped["compounds"], nested = osm_compounds(raw.residential, raw.buildings, options=options)
        if nested:
            result.notes.setdefault("compounds", []).append(("nested_areas", {"count": nested}))
    if "centers" in wanted:
        result.layers["centers"], result.skipped["centers"], merged = osm_centers(raw.pois, options=options)
        result.notes["centers"] = _centre_notes(result.layers["centers"], merged)
    if "boundary" in wanted:
        result.layers["boundary"], result.skipped["boundary"] = osm_boundary(raw.boundaries)
    if not any(len(f) for f in result.layers.values()):
        msg = f"`{p.name}` holds no roads, rivers, residential areas, community centres or boundaries" + (" inside the bounding box" if bbox else "")
        raise InputError(msg, field="source")
    return result
