"""OpenStreetMap files read into tagged frames: ``.osm.pbf`` with pyrosm, ``.osm`` XML with GDAL.

Both readers reduce a file to the same :class:`OSMTables` (roads, water,
residential areas, buildings, candidate centres, administrative boundaries),
each with an ``osm_ref`` (``way/123``) and the tags the layer rules of
:mod:`layers.importing.osm` look at.  A file that cannot be read is an
:class:`~geo.errors.InputError` naming it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from geo.crs import WGS84
from geo.errors import InputError
from layers.importing.options import Progress

#: ``amenity`` values of service centres.
CENTER_AMENITIES = ("community_centre", "social_facility", "social_centre", "townhall")

#: Names (or official names) that make any feature a party-mass service centre, whatever its tags.
PARTY_CENTRE_NAME = re.compile(r"党群服务中心|党群服务站|党建服务中心|党员服务中心")

#: Tags kept on candidate centres (the rules of :mod:`layers.importing.osm_centres` read them).
CENTRE_TAGS = ("name", "official_name", "amenity", "office", "building")

#: Tags kept on buildings (households: :mod:`layers.importing.households`).
BUILDING_TAGS = ("building", "building:levels", "height", "building:flats", "name")
#: Tags kept on roads (:func:`layers.importing.osm.osm_roads` reads them).
ROAD_TAGS = ("name", "highway", "foot", "access", "bridge", "tunnel", "layer")


@dataclass
class OSMTables:
    """The tagged features of an OSM file that the layer rules use (EPSG:4326)."""

    roads: gpd.GeoDataFrame
    water: gpd.GeoDataFrame
    residential: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    pois: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"osm_ref": pd.Series(dtype=object)}, geometry=gpd.GeoSeries([], crs=WGS84))


def _frame(gdf: gpd.GeoDataFrame | None, columns: Sequence[str]) -> gpd.GeoDataFrame:
    """Keep ``osm_ref`` + ``columns`` (missing ones as NA) + geometry, EPSG:4326."""
    if gdf is None or not len(gdf):
        out = _empty()
        for c in columns:
            out[c] = pd.Series(dtype=object)
        return out
    if "osm_ref" not in gdf.columns:
        gdf = gdf.assign(osm_ref=gdf["osm_type"].astype(str) + "/" + gdf["id"].astype("int64").astype(str))
    data = {c: (gdf[c] if c in gdf.columns else pd.Series(pd.NA, index=gdf.index, dtype=object)) for c in ["osm_ref", *columns]}
    crs = gdf.crs or WGS84
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(gdf.geometry.to_numpy(), index=gdf.index, crs=crs)).reset_index(drop=True)


def read_pbf(path: Path, bbox: Sequence[float] | None, progress: Progress) -> OSMTables:
    """The tagged frames of a ``.osm.pbf`` file (pyrosm), each step reported to ``progress``."""
    try:
        from pyrosm import OSM  # imported here: pyrosm is heavy and only .osm.pbf files need it
    except ImportError as exc:  # pragma: no cover - pyrosm is a dependency
        msg = "reading .osm.pbf needs the `pyrosm` package"
        raise InputError(msg, field="source") from exc
    try:
        osm = OSM(str(path), bounding_box=list(bbox) if bbox is not None else None, progress=False)
    except Exception as exc:
        msg = f"cannot read `{path.name}` as an OpenStreetMap PBF file: {str(exc)[:200]}"
        raise InputError(msg, field="source") from exc

    def call(what: str, func: Callable[[], gpd.GeoDataFrame | None]) -> gpd.GeoDataFrame | None:
        progress(what)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return func()
        except Exception as exc:
            msg = f"cannot read `{path.name}` as an OpenStreetMap PBF file ({what}): {str(exc)[:200]}"
            raise InputError(msg, field="source") from exc

    roads = call("roads", lambda: osm.get_network("all", extra_attributes=["foot", "access", "layer"]))
    water = call(
        "rivers",
        lambda: osm.get_data_by_custom_criteria(
            custom_filter={"waterway": True, "natural": ["water"], "water": True},
            keep_nodes=False,
            tags_as_columns=["name", "waterway", "natural", "water"],
        ),
    )
    residential = call(
        "compounds",
        lambda: osm.get_data_by_custom_criteria(
            custom_filter={"landuse": ["residential"], "place": ["neighbourhood"]},
            keep_nodes=False,
            tags_as_columns=["name", "landuse", "place"],
        ),
    )
    buildings = call("buildings", lambda: osm.get_buildings(extra_attributes=["building:levels", "height", "building:flats"]))
    pois = call(
        "centres",
        lambda: osm.get_pois(custom_filter={"amenity": list(CENTER_AMENITIES), "office": True}, extra_attributes=["official_name"]),
    )
    homes = _frame(buildings, BUILDING_TAGS)
    tagged = _frame(pois, CENTRE_TAGS)
    pois = pd.concat([tagged[_is_centre(tagged)], _frame(homes[_party_named(homes)], CENTRE_TAGS)], ignore_index=True)
    boundaries = call("boundary", lambda: osm.get_boundaries(boundary_type="administrative"))
    return OSMTables(
        roads=_frame(roads, ROAD_TAGS),
        water=_frame(water, ["name", "waterway", "natural", "water"]),
        residential=_frame(residential, ["name", "landuse", "place"]),
        buildings=homes,
        pois=_frame(gpd.GeoDataFrame(pois.drop_duplicates("osm_ref"), geometry="geometry", crs=WGS84), CENTRE_TAGS),
        boundaries=_frame(boundaries, ["name", "admin_level"]),
    )


def _party_named(frame: pd.DataFrame) -> pd.Series:
    """Features whose name or official name says party-mass service centre."""
    named = pd.Series(False, index=frame.index)
    for column in ("name", "official_name"):
        if column in frame.columns:
            named |= frame[column].astype("string").fillna("").str.contains(PARTY_CENTRE_NAME).to_numpy(dtype=bool)
    return named


def _is_centre(frame: pd.DataFrame) -> pd.Series:
    """Candidate centres: a centre ``amenity``, ``office=government``, or a party-mass centre's name."""
    return frame["amenity"].isin(CENTER_AMENITIES) | (frame["office"] == "government") | _party_named(frame)


def _tag(other: pd.Series, key: str) -> pd.Series:
    """One key of GDAL's ``other_tags`` hstore text (``"k"=>"v","k2"=>"v2"``)."""
    pattern = r'"' + re.escape(key) + r'"=>"((?:[^"\\]|\\.)*)"'
    return other.astype("string").str.extract(pattern, expand=False).astype(object)


def _add_tags(frame: pd.DataFrame, keys: Sequence[str]) -> None:
    """Each key as a column: GDAL's own column where its configuration has one, else parsed from ``other_tags``."""
    for key in keys:
        if key not in frame.columns:
            frame[key] = _tag(frame["other_tags"], key)


def read_xml(path: Path, bbox: Sequence[float] | None, progress: Progress) -> OSMTables:
    """The tagged frames of an ``.osm`` XML file (GDAL's OSM driver; other tags parsed from ``other_tags``)."""
    def layer(name: str) -> gpd.GeoDataFrame:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pyogrio.read_dataframe(path, layer=name, bbox=tuple(bbox) if bbox is not None else None, use_arrow=False)
        except Exception as exc:
            msg = f"cannot read `{path.name}` as an OpenStreetMap XML file: {str(exc)[:200]}"
            raise InputError(msg, field="source") from exc

    progress("roads")
    lines = layer("lines")
    polys = layer("multipolygons")
    points = layer("points")
    for f in (lines, polys, points):
        if "other_tags" not in f.columns:
            f["other_tags"] = None
    lines["osm_ref"] = "way/" + lines["osm_id"].astype(str)
    polys["osm_ref"] = np.where(polys["osm_way_id"].notna(), "way/" + polys["osm_way_id"].astype(str), "relation/" + polys["osm_id"].astype(str))
    points["osm_ref"] = "node/" + points["osm_id"].astype(str)
    _add_tags(lines, ("foot", "access", "bridge", "tunnel", "layer"))
    _add_tags(polys, ("water", "waterway", *CENTRE_TAGS, *BUILDING_TAGS))
    _add_tags(points, CENTRE_TAGS)
    progress("rivers")
    water_lines = lines[lines["waterway"].notna()]
    water_polys = polys[(polys["natural"] == "water") | polys["water"].notna() | polys["waterway"].notna()]
    progress("compounds")
    residential = polys[(polys["landuse"] == "residential") | (polys["place"] == "neighbourhood")]
    progress("buildings")
    buildings = polys[polys["building"].notna()]
    progress("centres")
    pois = pd.concat([points[_is_centre(points)], polys[_is_centre(polys)]], ignore_index=True)
    progress("boundary")
    boundaries = polys[polys["boundary"] == "administrative"]
    return OSMTables(
        roads=_frame(lines[lines["highway"].notna()], ROAD_TAGS),
        water=_frame(pd.concat([water_lines, water_polys], ignore_index=True), ["name", "waterway", "natural", "water"]),
        residential=_frame(residential, ["name", "landuse", "place"]),
        buildings=_frame(buildings, BUILDING_TAGS),
        pois=_frame(gpd.GeoDataFrame(pois, geometry="geometry", crs=points.crs or WGS84), CENTRE_TAGS),
        boundaries=_frame(boundaries, ["name", "admin_level"]),
    )


def read_osm_tables(path: Path, bbox: Sequence[float] | None, progress: Progress) -> OSMTables:
    """The tagged frames of a ``.pbf`` (pyrosm) or ``.osm`` XML (GDAL) file, within ``bbox`` (degrees) if given."""
    return read_pbf(path, bbox, progress) if path.name.lower().endswith(".pbf") else read_xml(path, bbox, progress)
