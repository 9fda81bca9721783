"""Coordinates brought to WGS84, checked against the coordinate system they are said to be in.

A table's CRS is the one ``--crs`` gives, else the one its file declares,
else WGS84 degrees.  Before converting, the extent is checked: metres
declared as degrees, degrees declared as metres and latitudes over 90 are
errors with a hint (the Gauss-Kruger zone of zoned eastings, ``--swap-xy``
for surveyors' X/Y); longitude and latitude swapped, a projected CRS landing
outside its area of use, and a ``--crs`` overriding a declared one are
warnings.  GCJ-02/BD-09 web-map degrees are moved back to WGS84 by
:mod:`geo.chinacoords`; CGCS2000 is taken as WGS84 (they differ by
centimetres).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS
from pyproj.aoi import AreaOfUse

from geo.chinacoords import ChinaCRS, out_of_china, transform_geometries
from geo.crs import CGCS2000, WGS84
from geo.errors import CRSError
from layers.importing.options import SourceCRS
from layers.importing.raw import RawLayer
from layers.importing.report import ImportReport

#: Degrees of slack around a CRS's area of use before a warning says the data lies outside it.
_AREA_MARGIN = 3.0


def _zone_code(v: float) -> str | None:
    """The CGCS2000 Gauss-Kruger CRS of the zone number a zoned easting starts with (millions of metres)."""
    zone = int(v // 1_000_000)
    if 25 <= zone <= 45:
        return f"EPSG:{4513 + zone - 25} (CGCS2000 3-degree Gauss-Kruger zone {zone})"
    if 13 <= zone <= 23:
        return f"EPSG:{4491 + zone - 13} (CGCS2000 Gauss-Kruger zone {zone})"
    return None


def _zoned_hint(minx: float, miny: float, maxx: float, maxy: float) -> str | None:
    """The Gauss-Kruger CRS (and ``--swap-xy``) for eastings that carry a zone number, if either coordinate does."""
    if 1e7 <= minx and maxx < 1e8 and (code := _zone_code(minx)):
        return f"eastings like {minx:.0f} carry a zone number: try --crs {code}"
    if 1e7 <= miny and maxy < 1e8 and (code := _zone_code(miny)) and 1e6 <= minx:
        return f"the second coordinate looks like a zoned easting and the first a northing (surveyors' X/Y): try --swap-xy --crs {code}"
    return None


def _gk_hint(minx: float, miny: float, maxx: float, maxy: float) -> str:
    """Suggest a CRS for projected coordinates (Chinese Gauss-Kruger first)."""
    if zoned := _zoned_hint(minx, miny, maxx, maxy):
        return zoned
    if 1e5 <= minx and maxx <= 9e5 and 1e6 <= miny and maxy <= 7e6:
        return (
            "they look like Gauss-Kruger metres without a zone number: give the CGCS2000 3-degree zone of "
            "your city's central meridian, e.g. --crs EPSG:4546 for 111E (EPSG:4534-4554 cover 75E-135E)"
        )
    if 1e5 <= miny and maxy <= 9e5 and 1e6 <= minx and maxx <= 7e6:
        return "the first coordinate looks like a northing (surveyors' X): try --swap-xy with the Gauss-Kruger --crs of your city"
    return "give the coordinate system with --crs (e.g. EPSG:4546)"


def bounds(frame: gpd.GeoDataFrame) -> np.ndarray | None:
    """``(minx, miny, maxx, maxy)`` of the present geometries, ``None`` when there are none."""
    geoms = frame.geometry.to_numpy()
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return None
    return np.asarray(shapely.total_bounds(geoms[ok]))


def swap_xy(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame with the two coordinates of every geometry swapped (lat/lon, or surveyors' X/Y)."""
    out = frame.copy()
    out[out.geometry.name] = gpd.GeoSeries(
        shapely.transform(frame.geometry.to_numpy(), lambda c: c[:, ::-1]), index=frame.index, crs=frame.crs
    )
    return out


def _chosen_crs(raw: RawLayer, declared: CRS | None, given: SourceCRS | None, report: ImportReport) -> tuple[CRS | None, str]:
    """The CRS to read a table in and its label: ``--crs`` over the declared one (with a warning), else the declared one."""
    if given is None:
        return declared, (declared.to_string() if declared else "")
    if declared is not None and given.china is None and not given.crs.equals(declared):
        report.warn("crs_overridden", f"`{raw.source}` declares {declared.name}; read as {given.label} as --crs says", raw.source)
    if given.china is not None and declared is not None and not declared.is_geographic:
        msg = f"`{raw.source}` is in {declared.name} (metres); --crs {given.china.value} applies to longitude/latitude only"
        raise CRSError(msg, field="crs")
    return given.crs, given.label


def _check_degrees(raw: RawLayer, extent: tuple[float, float, float, float], crs: CRS | None, report: ImportReport) -> None:
    """Coordinates said to be degrees: an error when they cannot be, a warning when they look swapped."""
    minx, miny, maxx, maxy = extent
    if not (-180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90):
        if -90 <= minx and maxx <= 90 and -180 <= miny and maxy <= 180:
            msg = f"`{raw.source}`: latitudes over 90 (extent {minx:.4f},{miny:.4f},{maxx:.4f},{maxy:.4f}); longitude and latitude look swapped: add --swap-xy"
            raise CRSError(msg, field="crs")
        what = f"declared as {crs.name}" if crs is not None else "given no CRS"
        msg = (
            f"`{raw.source}` has coordinates in metres (extent {minx:.0f},{miny:.0f},{maxx:.0f},{maxy:.0f}) "
            f"but is {what}, which is in degrees; {_gk_hint(minx, miny, maxx, maxy)}"
        )
        raise CRSError(msg, field="crs")
    if 0.8 <= minx and maxx <= 55.8 and 72 <= miny and maxy <= 137.8:
        report.warn(
            "lon_lat_swapped",
            f"`{raw.source}`: the first coordinate ranges {minx:.3f}-{maxx:.3f} and the second {miny:.3f}-{maxy:.3f}; "
            "longitude and latitude look swapped (China lies at 73-135E, 18-54N): if so, import again with --swap-xy",
            raw.source,
        )


def _check_metres(raw: RawLayer, extent: tuple[float, float, float, float], label: str) -> None:
    """Coordinates said to be metres: an error when they all fit in degrees."""
    minx, miny, maxx, maxy = extent
    if max(abs(minx), abs(maxx)) <= 180 and max(abs(miny), abs(maxy)) <= 90:
        msg = f"`{raw.source}` has coordinates in degrees (extent {minx:.4f},{miny:.4f},{maxx:.4f},{maxy:.4f}) but {label} is in metres; use --crs wgs84 (or gcj02/bd09)"
        raise CRSError(msg, field="crs")


def _from_web_map(
    raw: RawLayer, frame: gpd.GeoDataFrame, system: ChinaCRS, label: str, b: np.ndarray | None, report: ImportReport
) -> gpd.GeoDataFrame:
    """GCJ-02/BD-09 degrees moved back to WGS84 (a warning when the data lies outside China, where nothing moves)."""
    moved = transform_geometries(frame.geometry.to_numpy(), source=system, target=ChinaCRS.wgs84)
    out = gpd.GeoDataFrame(frame.drop(columns=frame.geometry.name), geometry=gpd.GeoSeries(moved, index=frame.index, crs=WGS84))
    if b is not None and bool(out_of_china((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)):
        report.warn("not_shifted", f"`{raw.source}` lies outside China, where {label} equals WGS84: nothing was shifted", raw.source)
    return out


def _inside(area: AreaOfUse, x: float, y: float) -> bool:
    """Whether a point (degrees) lies within a CRS's area of use, give or take :data:`_AREA_MARGIN`."""
    m = _AREA_MARGIN
    return bool(area.west - m <= x <= area.east + m and area.south - m <= y <= area.north + m)


def _check_area_of_use(raw: RawLayer, framed: gpd.GeoDataFrame, out: gpd.GeoDataFrame, crs: CRS, report: ImportReport) -> None:
    """Warn when converted data lands outside its CRS's area of use, saying whether swapped X/Y would fit."""
    area = crs.area_of_use
    b = bounds(out)
    if area is None or b is None:
        return
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    if _inside(area, cx, cy):
        return
    swapped = bounds(swap_xy(framed).to_crs(WGS84))
    hint = ""
    if swapped is not None and _inside(area, (swapped[0] + swapped[2]) / 2, (swapped[1] + swapped[3]) / 2):
        hint = "; with X and Y swapped it would fit (Chinese surveys write X as the northing): if so, import again with --swap-xy"
    report.warn(
        "xy_swapped" if hint else "outside_crs_area",
        f"`{raw.source}` lands at {cx:.3f}E {cy:.3f}N, outside the area of {crs.name}{hint}",
        raw.source,
    )


def _projected_to_wgs84(raw: RawLayer, frame: gpd.GeoDataFrame, crs: CRS, report: ImportReport) -> gpd.GeoDataFrame:
    """The frame read in ``crs`` and converted to WGS84 (CGCS2000 and WGS84 relabelled, others checked against their area)."""
    framed = frame.set_crs(crs, allow_override=True)
    if crs.equals(WGS84) or crs.equals(CGCS2000):
        return framed.set_crs(WGS84, allow_override=True)
    out = framed.to_crs(WGS84)
    _check_area_of_use(raw, framed, out, crs, report)
    return out


def to_wgs84_checked(raw: RawLayer, frame: gpd.GeoDataFrame, given: SourceCRS | None, report: ImportReport) -> tuple[gpd.GeoDataFrame, str]:
    """Bring a table to EPSG:4326, checking the coordinates against the CRS they are said to be in.

    Returns
    -------
    (GeoDataFrame, label)
        The frame in EPSG:4326 and the CRS used, for the report.

    Raises
    ------
    CRSError
        Coordinates that cannot be in the declared CRS (metres as degrees,
        degrees as metres, latitudes over 90), with a hint.
    """
    declared = CRS.from_user_input(frame.crs) if frame.crs is not None else None
    if raw.crs_fixed:
        wgs84 = frame.to_crs(WGS84) if declared and not declared.equals(WGS84) else frame.set_crs(WGS84, allow_override=True)
        return wgs84, "EPSG:4326 (OpenStreetMap)"
    crs, label = _chosen_crs(raw, declared, given, report)
    b = bounds(frame)
    if b is not None:
        extent = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        if crs is None or crs.is_geographic:
            _check_degrees(raw, extent, crs, report)
        else:
            _check_metres(raw, extent, label)
    if given is not None and given.china is not None:
        return _from_web_map(raw, frame, given.china, given.label, b, report), label
    if crs is None:
        return frame.set_crs(WGS84), "EPSG:4326 (assumed: degrees, no CRS declared)"
    return _projected_to_wgs84(raw, frame, crs, report), label or crs.to_string()
