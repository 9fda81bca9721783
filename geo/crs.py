"""Coordinate reference systems: WGS84 at the edges, metres inside.

Storage and the API speak WGS84 longitude/latitude (EPSG:4326); CGCS2000
(EPSG:4490) is taken as equal to it at city scale.  Every length, area and
buffer is computed in a metric CRS chosen here from the data's extent: the
CGCS2000 3-degree Gauss-Kruger zone (EPSG:4534-4554, central meridians 75E to
135E) inside China's longitudes, else the UTM zone.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.aoi import AreaOfInterest
from pyproj.database import query_utm_crs_info

from geo.errors import CRSError

WGS84 = CRS.from_epsg(4326)
CGCS2000 = CRS.from_epsg(4490)

#: EPSG code of "CGCS2000 / 3-degree Gauss-Kruger CM 75E"; codes go up by one per 3 degrees.
_GK3_FIRST_EPSG = 4534
_GK3_FIRST_CM = 75
_GK3_LAST_CM = 135


def gauss_kruger_3deg(lon: float) -> CRS:
    """The CGCS2000 3-degree Gauss-Kruger CRS (no zone prefix) for a longitude.

    Parameters
    ----------
    lon
        Longitude in degrees east, within 73.5-136.5.

    Returns
    -------
    pyproj.CRS
        Transverse Mercator on the central meridian nearest ``lon``, metres.
    """
    cm = int(round(lon / 3.0)) * 3
    if not _GK3_FIRST_CM <= cm <= _GK3_LAST_CM:
        msg = f"longitude {lon:.3f} lies outside the CGCS2000 3-degree zones (73.5E-136.5E)"
        raise CRSError(msg, field="crs")
    return CRS.from_epsg(_GK3_FIRST_EPSG + (cm - _GK3_FIRST_CM) // 3)


def metric_crs_for_bounds(bounds: Sequence[float]) -> CRS:
    """Choose the metric CRS for a WGS84 extent.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in degrees (EPSG:4326).

    Returns
    -------
    pyproj.CRS
        The CGCS2000 3-degree Gauss-Kruger zone of the extent's centre when it
        lies in China's longitudes (73.5E-136.5E, 0-56N), else its UTM zone.
    """
    minx, miny, maxx, maxy = (float(v) for v in bounds)
    if not np.all(np.isfinite([minx, miny, maxx, maxy])):
        msg = "cannot choose a metric CRS for an empty extent"
        raise CRSError(msg, field="geometry")
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = f"extent {bounds!r} is not longitude/latitude; reproject to EPSG:4326 first"
        raise CRSError(msg, field="crs")
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    if 73.5 <= lon <= 136.5 and 0 <= lat <= 56:
        return gauss_kruger_3deg(lon)
    infos = query_utm_crs_info(
        datum_name="WGS 84",
        area_of_interest=AreaOfInterest(lon, lat, lon, lat),
    )
    if not infos:  # pragma: no cover - every point on Earth has a UTM zone
        msg = f"no UTM zone found for {lon:.3f}, {lat:.3f}"
        raise CRSError(msg, field="crs")
    return CRS.from_epsg(int(infos[0].code))


def metric_crs(*frames: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS:
    """Choose one metric CRS for the joint extent of WGS84 frames.

    Parameters
    ----------
    *frames
        Frames in EPSG:4326 (empty ones are skipped).

    Returns
    -------
    pyproj.CRS
        See :func:`metric_crs_for_bounds`.
    """
    lon, lat = bulk_centre(*frames)
    return metric_crs_for_bounds((lon, lat, lon, lat))


def bulk_centre(*frames: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[float, float]:
    """The median longitude and latitude (degrees) of the features' bounding-box centres in WGS84 frames.

    Robust against a stray feature: one polygon in Paris does not move the
    centre of a Chinese district (the extent's centre would).

    Raises
    ------
    CRSError
        No frame holds a geometry.
    """
    geoms = [np.asarray(f.geometry if isinstance(f, gpd.GeoDataFrame) else f) for f in frames if f is not None and len(f)]
    b = shapely.bounds(np.concatenate(geoms)) if geoms else np.empty((0, 4))
    b = b[np.isfinite(b).all(axis=1)]
    if not len(b):
        msg = "the dataset has no geometry to choose a metric CRS from"
        raise CRSError(msg, field="geometry")
    return float(np.median((b[:, 0] + b[:, 2]) / 2)), float(np.median((b[:, 1] + b[:, 3]) / 2))


def distance_from_km(lon: np.ndarray, lat: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """Approximate ground distances (km) from ``centre`` (equirectangular; good to ~1 % within a few hundred km)."""
    lon0, lat0 = centre
    dx = (np.asarray(lon, dtype=float) - lon0) * 111.32 * np.cos(np.radians(lat0))
    dy = (np.asarray(lat, dtype=float) - lat0) * 110.57
    return np.hypot(dx, dy)


def to_wgs84(frame: gpd.GeoDataFrame, *, layer: str = "layer", assume: CRS | None = None) -> gpd.GeoDataFrame:
    """Bring a frame to EPSG:4326 (CGCS2000 counts as WGS84).

    Parameters
    ----------
    frame
        Any CRS; a frame without CRS is taken as ``assume`` when given, else
        as WGS84 if its coordinates look like degrees.
    layer
        Name used in error messages.
    assume
        CRS for frames that carry none.

    Returns
    -------
    geopandas.GeoDataFrame
        A new frame in EPSG:4326.
    """
    if frame.crs is None:
        if assume is not None:
            frame = frame.set_crs(assume)
        else:
            if len(frame) and not frame.is_empty.all():
                minx, miny, maxx, maxy = frame.total_bounds
                if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
                    msg = (
                        f"layer `{layer}` has no CRS and its coordinates are not degrees "
                        f"(extent {minx:.0f},{miny:.0f},{maxx:.0f},{maxy:.0f}); give its CRS"
                    )
                    raise CRSError(msg, field=layer)
            frame = frame.set_crs(WGS84)
    crs = CRS.from_user_input(frame.crs)
    if crs.equals(WGS84):
        return frame.copy()
    if crs.equals(CGCS2000):
        return frame.set_crs(WGS84, allow_override=True)
    return frame.to_crs(WGS84)
