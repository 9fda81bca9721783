"""Coordinate reference systems by reference (OGC API - Features Part 2) for the features routes.

A layer is stored in WGS84 longitude/latitude (CRS84).  Its items can also be
asked for (``crs=``) and filtered (``bbox-crs=``) in EPSG:4326 and EPSG:4490
(CGCS2000), both in the axis order their EPSG definition gives (latitude,
longitude), and in the dataset's metric CGCS2000 Gauss-Kruger zone
(:func:`geo.crs.metric_crs`, EPSG:4534..4554, easting/northing in metres).
Degrees are written with the ``coordinate_decimals`` setting's decimals
(6, about 0.1 m, by default), metres with three fewer (:func:`metre_decimals`); rings are wound as RFC 7946 says in
longitude/latitude terms (counter-clockwise exteriors) before any axis swap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from pyproj import CRS, Transformer

from api.state.features import GEOJSON_DECIMALS, FeatureTable, rfc7946_geometries
from api.state.lru import LRU
from geo.crs import metric_crs
from geo.errors import CRSError, InvalidValueError

CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
EPSG_URI = "http://www.opengis.net/def/crs/EPSG/0/{code}"
#: Geographic CRSs offered besides CRS84: WGS84 and CGCS2000, latitude first.
GEOGRAPHIC = (4326, 4490)

_METRIC: LRU = LRU(8)


def epsg_uri(code: int) -> str:
    """The OGC URI of an EPSG code."""
    return EPSG_URI.format(code=code)


def dataset_crs(version: str, frames: Mapping[str, object]) -> list[str]:
    """The CRS URIs the items of a dataset can be written in: CRS84, EPSG:4326, EPSG:4490, its metric zone.

    The metric zone (cached per dataset ``version``) is left out when the
    dataset has no geometry or its zone has no EPSG code.
    """
    uris = [CRS84, *(epsg_uri(c) for c in GEOGRAPHIC)]
    found = _METRIC.get(version)
    if found is None:
        try:
            code = metric_crs(*frames.values()).to_epsg()  # type: ignore[arg-type]
        except CRSError:
            code = None
        found = epsg_uri(code) if code else ""
        _METRIC.put(version, found)
    return [*uris, found] if found else uris


def parse_crs(value: str | None, allowed: Sequence[str], *, parameter: str) -> str:
    """``value`` if it is one of ``allowed`` (CRS84 when absent), else an error naming ``parameter``."""
    if value is None or value == "":
        return CRS84
    if value not in allowed:
        msg = f"`{parameter}` must be one of {', '.join(allowed)}; got {value!r}"
        raise InvalidValueError(msg, field=parameter)
    return value


def _code(uri: str) -> int:
    return int(uri.rsplit("/", 1)[1])


def is_lat_lon(uri: str) -> bool:
    """Whether coordinates in ``uri`` come latitude first (the geographic EPSG URIs)."""
    return uri != CRS84 and _code(uri) in GEOGRAPHIC


def _lon_lat_to(uri: str) -> Transformer:
    return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_epsg(_code(uri)), always_xy=True)


def _swap(geoms: np.ndarray) -> np.ndarray:
    return shapely.transform(geoms, lambda c: c[:, ::-1])


def metre_decimals(decimals: int) -> int:
    """Decimals of metres as precise as ``decimals`` decimals of degrees (6 -> 3, i.e. 0.1 m -> 1 mm; at least 0)."""
    return max(decimals - 3, 0)


def geometries_in(geoms: np.ndarray, uri: str, *, decimals: int = GEOJSON_DECIMALS) -> np.ndarray:
    """GeoJSON geometry texts of WGS84 ``geoms`` in ``uri`` (rounded, valid, RFC 7946 winding; ``null`` for gaps).

    Degrees get ``decimals`` decimals, metres :func:`metre_decimals` of it.
    """
    if uri == CRS84:
        out = rfc7946_geometries(geoms, decimals=decimals)
    elif is_lat_lon(uri):
        t = _lon_lat_to(uri)
        moved = shapely.transform(geoms, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))
        out = _swap(rfc7946_geometries(moved, decimals=decimals))
    else:
        t = _lon_lat_to(uri)
        moved = shapely.transform(geoms, lambda c: np.column_stack(t.transform(c[:, 0], c[:, 1])))
        out = rfc7946_geometries(moved, decimals=metre_decimals(decimals))
    texts = shapely.to_geojson(out)
    return np.where(shapely.is_missing(out), "null", texts).astype(object)


def bbox_to_crs84(box: tuple[float, float, float, float], uri: str) -> tuple[float, float, float, float]:
    """A ``bbox`` given in ``uri`` (lat,lon order for the geographic EPSG URIs) as CRS84 ``minlon,minlat,maxlon,maxlat``."""
    if uri == CRS84:
        return box
    if is_lat_lon(uri):
        box = (box[1], box[0], box[3], box[2])
    t = Transformer.from_crs(CRS.from_epsg(_code(uri)), CRS.from_epsg(4326), always_xy=True)
    minx, miny, maxx, maxy = t.transform_bounds(*box)
    return float(minx), float(miny), float(maxx), float(maxy)


def output_crs(crs: str | None, allowed: Sequence[str], *, coords: str) -> str:
    """The ``crs`` of an answer (CRS84 by default); another CRS with ``coords=gcj02`` is an error naming ``crs``."""
    out = parse_crs(crs, allowed, parameter="crs")
    if out != CRS84 and coords != "wgs84":
        msg = f"`crs` {out} cannot be combined with coords={coords} (GCJ-02 answers are CRS84 only)"
        raise InvalidValueError(msg, field="crs")
    return out


def table_geometries(table: FeatureTable, positions: np.ndarray, crs: str) -> np.ndarray | None:
    """Geometry texts of a table's rows at ``positions`` in ``crs``, or ``None`` for CRS84 (the stored texts)."""
    return None if crs == CRS84 else geometries_in(table.frame.geometry.to_numpy()[positions], crs, decimals=table.decimals)
