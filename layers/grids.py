"""Governance grids (网格): partitions of communities into grids of a few hundred households.

Each parent polygon (a community, or a neighbourhood unit) is cut by
recursive bisection of its compounds' access points into groups of
``min_households``-``max_households`` households; a grid's area is the union
of the Voronoi cells of its compounds' access points, clipped to the parent,
so grids tile the parent without gaps or overlaps.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import WGS84
from geo.errors import InvalidValueError
from geo.geometry import containing_polygon
from layers.walking import compound_points

DEFAULT_MIN_HOUSEHOLDS = 300
DEFAULT_MAX_HOUSEHOLDS = 500
#: Households one part-time grid worker (兼职网格员) looks after in the "1+1+1+N" staffing.
HOUSEHOLDS_PER_PART_TIMER = 100


def _bisect(xy: np.ndarray, hh: np.ndarray, idx: np.ndarray, lo: int, hi: int) -> list[np.ndarray]:
    """Split compounds ``idx`` into groups of about ``lo``-``hi`` households.

    Recursive bisection along the longer axis of the group's extent, cutting
    where the cumulative households reach the share of the grids on each side.
    A single compound is never split.
    """
    total = int(hh[idx].sum())
    if len(idx) <= 1 or total <= hi:
        return [idx]
    target = (lo + hi) / 2
    k = max(2, round(total / target))
    span = xy[idx].max(axis=0) - xy[idx].min(axis=0)
    axis = 0 if span[0] >= span[1] else 1
    order = idx[np.argsort(xy[idx, axis], kind="stable")]
    cum = np.cumsum(hh[order])
    cut = int(np.searchsorted(cum, total * (k // 2) / k)) + 1
    cut = min(max(cut, 1), len(order) - 1)
    return _bisect(xy, hh, order[:cut], lo, hi) + _bisect(xy, hh, order[cut:], lo, hi)


def _tessellate(points: np.ndarray, parent: shapely.Geometry) -> np.ndarray:
    """Voronoi cell of each point clipped to ``parent`` (input order; duplicates share a cell)."""
    if len(points) == 1:
        return np.array([parent], dtype=object)
    coords = shapely.get_coordinates(points)
    uniq, inverse = np.unique(np.round(coords, 3), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    if len(uniq) == 1:
        return np.array([parent] * len(points), dtype=object)
    cells = shapely.get_parts(
        shapely.voronoi_polygons(shapely.multipoints(uniq), extend_to=parent, ordered=True)
    )
    clipped = shapely.intersection(cells, parent)
    return clipped[inverse]


def _merge_small(
    groups: list[np.ndarray], geoms: list[shapely.Geometry], hh: np.ndarray, lo: int, hi: int
) -> tuple[list[np.ndarray], list[shapely.Geometry]]:
    """Merge each group under ``lo`` households into the smallest adjacent group it fits with.

    Groups are adjacent when their areas share an edge; a merge never makes a
    group exceed ``hi``.  Groups that find no partner stay (and are flagged).
    """
    groups, geoms = list(groups), list(geoms)
    changed = True
    while changed and len(groups) > 1:
        changed = False
        totals = np.array([hh[g].sum() for g in groups])
        for i in np.argsort(totals):
            if totals[i] >= lo:
                break
            arr = np.array(geoms, dtype=object)
            shared = shapely.length(shapely.intersection(shapely.boundary(arr), shapely.boundary(arr[i])))
            shared[i] = 0
            fits = (shared > 1.0) & (totals + totals[i] <= hi)
            if not fits.any():
                continue
            j = int(np.flatnonzero(fits)[np.argmin(totals[fits])])
            groups[j] = np.concatenate([groups[j], groups[i]])
            geoms[j] = shapely.union_all([geoms[j], geoms[i]])
            del groups[i], geoms[i]
            changed = True
            break
    return groups, geoms


def staffing(households: np.ndarray | pd.Series) -> np.ndarray:
    """The "1+1+1+N" staffing suggestion: leader, manager, full-time worker and N part-timers.

    N is one part-time worker per :data:`HOUSEHOLDS_PER_PART_TIMER` households
    (at least one).
    """
    n = np.maximum(1, np.ceil(np.asarray(households, dtype=float) / HOUSEHOLDS_PER_PART_TIMER)).astype(int)
    return np.array([f"1+1+1+{k}" for k in n], dtype=object)


def governance_grids(
    compounds: gpd.GeoDataFrame,
    parents: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    min_households: int = DEFAULT_MIN_HOUSEHOLDS,
    max_households: int = DEFAULT_MAX_HOUSEHOLDS,
    parent_level: str = "community",
    gates: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """Partition each parent polygon into governance grids.

    Parameters
    ----------
    compounds
        Compounds in EPSG:4326 with ``id``, ``households``, ``population``.
    parents
        Polygons to partition (communities or units) in EPSG:4326 with ``id``
        and ``name``.
    metric_crs
        Projected CRS (metres) to work in.
    min_households, max_households
        Target size of a grid in households (default 300-500).
    parent_level
        Written into the ``parent_level`` column (``community`` or ``unit``).

    Returns
    -------
    (grids, compound_grid)
        ``grids`` in EPSG:4326 tile every parent: ``id`` (``<parent id>-01``),
        ``name`` (e.g. 锦绣社区第1网格), ``parent_id``, ``parent``,
        ``parent_level``, ``compounds``, ``households``, ``population``,
        ``staffing`` ("1+1+1+N"), ``flags`` (``oversize``: one compound larger
        than ``max_households``; ``undersize``: below ``min_households`` because
        the parent has too few; ``empty``: no compound) and ``compound_ids``.
        ``compound_grid`` gives each compound's grid id (index of ``compounds``;
        ``""`` for compounds outside every parent).
    """
    if not (0 < min_households <= max_households):
        msg = (
            "`min_households` must be positive and not above `max_households`; "
            f"got {min_households!r}, {max_households!r}"
        )
        raise InvalidValueError(msg, field="min_households")
    cm = compounds.to_crs(metric_crs).reset_index(drop=True)
    pm = parents.to_crs(metric_crs).reset_index(drop=True)
    pts = compound_points(cm, gates.to_crs(metric_crs) if gates is not None and len(gates) else None, roads=roads)
    xy = shapely.get_coordinates(pts)
    hh = cm["households"].to_numpy(dtype=np.int64)
    owner = containing_polygon(pts, pm.geometry.to_numpy())
    rows: list[dict[str, object]] = []
    compound_grid = np.full(len(cm), "", dtype=object)
    for p in range(len(pm)):
        members = np.flatnonzero(owner == p)
        pid, pname, pgeom = str(pm["id"].iloc[p]), str(pm["name"].iloc[p]), pm.geometry.iloc[p]
        if not len(members):
            rows.append(_grid_row(pid, pname, parent_level, 1, pgeom, [], 0, 0, "empty"))
            continue
        groups = _bisect(xy, hh, members, min_households, max_households)
        cells = _tessellate(pts[members], pgeom)
        cell_of = dict(zip(members.tolist(), cells, strict=True))
        geoms = [shapely.union_all([cell_of[i] for i in g.tolist()]) for g in groups]
        groups, geoms = _merge_small(groups, geoms, hh, min_households, max_households)
        order = sorted(range(len(groups)), key=lambda i: (-round(xy[groups[i], 1].mean(), -2), xy[groups[i], 0].mean()))
        for k, i in enumerate(order, start=1):
            g, geom = groups[i], geoms[i]
            total = int(hh[g].sum())
            flag = "oversize" if total > max_households else ("undersize" if total < min_households else "")
            ids = cm["id"].to_numpy()[g].astype(str).tolist()
            row = _grid_row(pid, pname, parent_level, k, geom, ids, total, int(cm["population"].to_numpy()[g].sum()), flag)
            rows.append(row)
            compound_grid[g] = row["id"]
    grids = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=metric_crs) if rows else gpd.GeoDataFrame(
        columns=["id", "geometry"], geometry="geometry", crs=metric_crs
    )
    if len(grids):
        grids["staffing"] = staffing(grids["households"])
    return grids.to_crs(WGS84), pd.Series(compound_grid, index=compounds.index, dtype=object)


def _grid_row(
    pid: str, pname: str, level: str, k: int, geom: shapely.Geometry, ids: list[str], hh: int, pop: int, flag: str
) -> dict[str, object]:
    return {
        "id": f"{pid}-{k:02d}",
        "name": f"{pname}第{k}网格",
        "parent_id": pid,
        "parent": pname,
        "parent_level": level,
        "compounds": len(ids),
        "households": hh,
        "population": pop,
        "flags": flag,
        "compound_ids": ",".join(ids),
        "geometry": geom,
    }


