"""Analysis cells (分析格网): square cells and H3 hexagons for heat maps of coverage.

Households of a compound are shared among the cells it overlaps in proportion
to the overlapping area, so cell totals add up to the district total.
"""

from __future__ import annotations

from collections.abc import Iterable

import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import WGS84
from geo.errors import InvalidValueError
from layers.shares import share

DEFAULT_CELL_SIZE_M = 250.0
DEFAULT_H3_RESOLUTION = 9
CELL_KINDS: tuple[str, ...] = ("square", "h3")


def square_cells(area: shapely.Geometry, *, size_m: float) -> np.ndarray:
    """Square cells of ``size_m`` metres covering ``area`` (metric CRS), clipped to it.

    The lattice starts at the area's south-west corner, so a district's cells
    begin at its own edge.
    """
    if not size_m > 0:
        msg = f"`size_m` must be positive; got {size_m!r}"
        raise InvalidValueError(msg, field="cell_size_m")
    minx, miny, maxx, maxy = shapely.bounds(area)
    x0, y0 = minx, miny
    # Counts tolerate float noise so a 900 m district makes three 300 m columns, not four.
    xs = x0 + size_m * np.arange(max(1, int(np.ceil((maxx - minx) / size_m - 1e-6))))
    ys = y0 + size_m * np.arange(max(1, int(np.ceil((maxy - miny) / size_m - 1e-6))))
    if len(xs) * len(ys) > 2_000_000:
        msg = f"{len(xs) * len(ys):,} cells of {size_m} m is too many; choose a larger `size_m`"
        raise InvalidValueError(msg, field="cell_size_m")
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + size_m, gy.ravel() + size_m)
    shapely.prepare(area)
    boxes = boxes[shapely.intersects(area, boxes)]
    clipped = shapely.intersection(boxes, area)
    return clipped[shapely.area(clipped) > 1e-6 * size_m * size_m]


def h3_cells(area_wgs84: shapely.Geometry, *, resolution: int) -> tuple[list[str], np.ndarray]:
    """H3 cells of ``resolution`` overlapping ``area_wgs84`` (EPSG:4326), clipped to it."""
    if not 0 <= resolution <= 15:
        msg = f"`h3_resolution` must lie in 0-15; got {resolution!r}"
        raise InvalidValueError(msg, field="h3_resolution")
    shape = h3.geo_to_h3shape(shapely.geometry.mapping(area_wgs84))
    ids = sorted(h3.h3shape_to_cells_experimental(shape, resolution, contain="overlap"))
    hexes = np.array(
        [shapely.Polygon([(lng, lat) for lat, lng in h3.cell_to_boundary(c)]) for c in ids], dtype=object
    )
    if not len(hexes):
        return [], hexes
    clipped = shapely.intersection(hexes, area_wgs84)
    keep = ~shapely.is_empty(clipped) & (shapely.area(clipped) > 1e-6 * shapely.area(hexes))
    return [c for c, k in zip(ids, keep, strict=True) if k], clipped[keep]


def apportion(
    cells: np.ndarray, compounds_m: gpd.GeoDataFrame, *, columns: Iterable[str]
) -> pd.DataFrame:
    """Sum compound columns into cells in proportion to overlapping area (metric CRS)."""
    cols = list(columns)
    out = pd.DataFrame(0.0, index=range(len(cells)), columns=cols)
    if not len(cells) or not len(compounds_m):
        return out
    geoms = compounds_m.geometry.to_numpy()
    c_idx, k_idx = shapely.STRtree(geoms).query(cells, predicate="intersects")
    part = shapely.area(shapely.intersection(cells[c_idx], geoms[k_idx])) / shapely.area(geoms[k_idx])
    frame = pd.DataFrame({"cell": c_idx})
    for col in cols:
        frame[col] = compounds_m[col].to_numpy(dtype=float)[k_idx] * part
    sums = frame.groupby("cell")[cols].sum()
    out.loc[sums.index, cols] = sums.to_numpy()
    return out


def cell_totals(
    cells: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, *, metric_crs: CRS, households: bool = True
) -> gpd.GeoDataFrame:
    """Area-weighted ``households`` (with ``households``), ``covered_households`` and ``coverage`` of cells.

    Parameters
    ----------
    cells
        Analysis cells (any CRS) with ``households`` when ``households`` is false.
    compounds
        Compounds (any CRS) with ``households`` and ``covered``; only those
        overlapping ``cells`` matter, so a caller may pass just those.
    households
        Recount the cells' households too (compounds were added, removed or
        changed); else only the covered households and the share.

    Returns
    -------
    GeoDataFrame
        A copy of ``cells``; values rounded to 0.1 household, the share to
        0.001 (NaN where a cell holds half a household or less).
    """
    out = cells.copy()
    if not len(out):
        return out
    cm = compounds.to_crs(metric_crs)[["households", "geometry"]].copy()
    covered = compounds["covered"].fillna(False).astype(bool).to_numpy() if "covered" in compounds.columns else False
    cm["covered_households"] = cm["households"].to_numpy(dtype=float) * covered
    columns = ("households", "covered_households") if households else ("covered_households",)
    sums = apportion(out.to_crs(metric_crs).geometry.to_numpy(), cm, columns=columns)
    for col in columns:
        out[col] = sums[col].round(1).to_numpy()
    out["coverage"] = share(out["covered_households"].to_numpy(), out["households"].to_numpy(dtype=float), min_total=0.5)
    return out


def analysis_cells(
    area: shapely.Geometry,
    compounds: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    size_m: float = DEFAULT_CELL_SIZE_M,
    h3_resolution: int = DEFAULT_H3_RESOLUTION,
    kinds: Iterable[str] = CELL_KINDS,
) -> gpd.GeoDataFrame:
    """Square and H3 cells over the study area with households and coverage share.

    Parameters
    ----------
    area
        Study area polygon in ``metric_crs``.
    compounds
        Compounds in EPSG:4326 with ``households`` and, when coverage was
        computed, ``covered``.
    metric_crs
        Projected CRS (metres).
    size_m
        Side of square cells (metres, default 250).
    h3_resolution
        H3 resolution of the hexagons (default 9, about 0.1 km²).
    kinds
        Which kinds to make: ``square``, ``h3`` or both.

    Returns
    -------
    GeoDataFrame
        EPSG:4326 with ``id``, ``kind``, ``households``, ``covered_households``
        (area-weighted, 1 decimal), ``coverage`` (share 0-1, NaN where no
        households) and ``area_m2``.
    """
    kinds = list(kinds)
    bad = [k for k in kinds if k not in CELL_KINDS]
    if bad:
        msg = f"`kinds` must be among {', '.join(CELL_KINDS)}; got {bad}"
        raise InvalidValueError(msg, field="cells")
    parts: list[gpd.GeoDataFrame] = []
    if "square" in kinds:
        sq = square_cells(area, size_m=size_m)
        parts.append(gpd.GeoDataFrame({"id": [f"S{i + 1:05d}" for i in range(len(sq))], "kind": "square"}, geometry=sq, crs=metric_crs))
    if "h3" in kinds:
        area_wgs = gpd.GeoSeries([area], crs=metric_crs).to_crs(WGS84).iloc[0]
        ids, hexes = h3_cells(area_wgs, resolution=h3_resolution)
        hx = gpd.GeoDataFrame({"id": ids, "kind": "h3"}, geometry=hexes, crs=WGS84).to_crs(metric_crs)
        parts.append(hx)
    cells = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=metric_crs)
    cells = cell_totals(cells, compounds, metric_crs=metric_crs)
    cells["area_m2"] = cells.geometry.area.round(1)
    return cells.to_crs(WGS84)
