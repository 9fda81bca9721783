"""Spatial partitioning of one large district's walking-network pass.

A district with millions of road segments is cut into square tiles so that no
process needs the whole graph: each tile builds the network of the road
segments inside the tile grown by a *halo*, runs
:func:`geo.network.walk_coverage` on it for the targets (compound access
points) of the tile's core, and the per-tile answers are put back together.
Everything is in one metric CRS (metres); no files, no cluster: the caller
hands in any :class:`concurrent.futures.Executor` (a Dask
``Client.get_executor()`` or a process pool) to run the tiles.

Why the answer is exact
-----------------------
Let ``L`` be the cut-off (the largest walking limit of any source) and ``S``
the longest access leg (``max_snap_m``).  A tile's network holds every road
segment whose bounding box meets the core square grown by
``halo = L + S`` (plus a small margin for the vertex-merge tolerance), and its
sources are those within ``L`` of the core (square distance).  Then, for a
target in the core:

- its attachment is the single-process one: every segment within ``S`` of it
  is present;
- every source within ``L`` of it attaches as in the single process: every
  segment within ``S`` of such a source lies within ``L + S`` of the core;
- every walk of at most ``L`` metres from it stays within ``L`` of it, so all
  the segments it uses are present, and a subgraph never makes walks shorter.

Hence every walking distance up to ``L`` is the single-process one, to the
same centre: ``covered``, ``covering`` and ``covering_dist_m`` are identical
for all targets, and ``nearest`` / ``dist_m`` are identical wherever the
nearest centre is within the cut-off.

Beyond the cut-off
------------------
When no centre within the tile and its halo is within ``L``, the single
process may still find a nearest centre farther away; a tile cannot.  Such
targets are never covered (correct), are marked ``beyond_cutoff = True`` and
carry

- ``nearest`` / ``dist_m``: the nearest centre *found within the halo* and the
  walking metres to it along the tile's network, a real walk and so an upper
  bound for that centre, but the true nearest centre may be another one
  farther than ``L`` (``dist_m`` is always ``> L`` here);
- or, when no centre in the halo reaches them at all, ``nearest = -1``,
  ``dist_m = inf`` and ``reason = "beyond_cutoff"`` (the single process says
  ``"disconnected"`` when no centre can reach them anywhere; the split cannot
  tell the two apart, so it names neither).

``far_from_road`` and ``no_sources`` are the single-process reasons.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geo.errors import CRSError, GeometryError, InputError
from geo.network import (
    REASON_DISCONNECTED,
    REASON_FAR,
    REASON_NO_SOURCES,
    NetworkCoverage,
    build_walk_network,
    walk_coverage,
)

__all__ = [
    "REASON_BEYOND_CUTOFF",
    "PartitionedCoverage",
    "TilePlan",
    "TileResult",
    "TileTask",
    "halo_m",
    "merge_tiles",
    "partitioned_walk_coverage",
    "plan_tiles",
    "road_segments",
    "run_tile",
    "tile_tasks",
]

#: Reason of targets no centre within their tile's halo reaches (see the module docstring).
REASON_BEYOND_CUTOFF = "beyond_cutoff"

#: Default number of tiles a district is cut into (when ``tile_m`` is not given).
DEFAULT_TILES = 16
#: Tiles are never smaller than this many halos across (the halo overhead grows fast below it).
_MIN_TILE_HALOS = 3.0
_LINE_TYPES = (1, 2, 5)


def halo_m(cutoff_m: float, max_snap_m: float, *, tolerance_m: float = 0.5) -> float:
    """Width of the halo around a tile's core, metres.

    ``cutoff_m + max_snap_m`` (see the module docstring) plus a margin of
    ``10 * tolerance_m + 1`` m so that the vertex-merge tolerance of the
    network build cannot change a node inside the reach of the core.
    """
    return float(cutoff_m) + float(max_snap_m) + 10.0 * float(tolerance_m) + 1.0


def road_segments(roads: gpd.GeoDataFrame | gpd.GeoSeries | np.ndarray) -> np.ndarray:
    """The straight segments between consecutive vertices of road lines.

    Parameters
    ----------
    roads
        Walkable (Multi)LineStrings in a metric CRS; missing and empty
        geometries are skipped, as :func:`geo.network.build_walk_network` does.

    Returns
    -------
    numpy.ndarray
        ``(m, 2, 2)`` segment end points in metres, in the order the network
        build makes its edges (row by row, part by part, vertex by vertex).

    Raises
    ------
    GeometryError
        A geometry is not a line.
    """
    if isinstance(roads, gpd.GeoDataFrame):
        geoms = np.asarray(roads.geometry.array, dtype=object)
    elif isinstance(roads, gpd.GeoSeries):
        geoms = np.asarray(roads.array, dtype=object)
    else:
        geoms = np.asarray(roads, dtype=object)
    missing = shapely.is_missing(geoms)
    geoms = np.where(missing, None, geoms)
    empty = missing | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    bad = ~empty & ~np.isin(types, _LINE_TYPES)
    if bad.any():
        msg = f"layer `roads` has {int(bad.sum())} geometries that are not lines; first at row {int(np.flatnonzero(bad)[0])}"
        raise GeometryError(msg, field="roads")
    parts = shapely.get_parts(geoms[~empty])
    coords, vidx = shapely.get_coordinates(parts, return_index=True)
    start = np.flatnonzero(vidx[1:] == vidx[:-1])
    return np.stack([coords[start], coords[start + 1]], axis=1)


@dataclass(frozen=True)
class TilePlan:
    """A grid of square tiles over a district.

    Attributes
    ----------
    x0, y0
        Lower-left corner of tile ``(0, 0)``, metres.
    tile_m
        Side of a tile's core, metres.
    nx, ny
        Tiles across and up.
    halo_m
        Width of the halo around each core, metres (:func:`halo_m`).
    cutoff_m
        The cut-off ``L``: results are exact up to it, metres.
    """

    x0: float
    y0: float
    tile_m: float
    nx: int
    ny: int
    halo_m: float
    cutoff_m: float

    @property
    def n_tiles(self) -> int:
        """Number of tiles in the grid (also the empty ones)."""
        return self.nx * self.ny

    def tile_of(self, xy: np.ndarray) -> np.ndarray:
        """Tile index (``ix * ny + iy``) of each point's core; points on an edge go to the upper tile."""
        ix = np.clip(np.floor((xy[:, 0] - self.x0) / self.tile_m), 0, self.nx - 1).astype(np.int64)
        iy = np.clip(np.floor((xy[:, 1] - self.y0) / self.tile_m), 0, self.ny - 1).astype(np.int64)
        return ix * self.ny + iy

    def core(self, tile: int) -> tuple[float, float, float, float]:
        """``(minx, miny, maxx, maxy)`` of a tile's core, metres."""
        ix, iy = divmod(int(tile), self.ny)
        x, y = self.x0 + ix * self.tile_m, self.y0 + iy * self.tile_m
        return (x, y, x + self.tile_m, y + self.tile_m)

    def tiles_meeting(self, lo: np.ndarray, hi: np.ndarray, grow: float) -> tuple[np.ndarray, np.ndarray]:
        """Pairs ``(item, tile)`` where the box ``lo``-``hi`` of an item meets a core grown by ``grow`` metres.

        ``lo`` and ``hi`` are ``(k, 2)`` lower-left and upper-right corners.
        The test is inclusive (a box touching the grown core counts).
        """
        t = self.tile_m
        ix0 = np.clip(np.ceil((lo[:, 0] - grow - self.x0) / t) - 1, 0, self.nx - 1).astype(np.int64)
        ix1 = np.clip(np.floor((hi[:, 0] + grow - self.x0) / t), 0, self.nx - 1).astype(np.int64)
        iy0 = np.clip(np.ceil((lo[:, 1] - grow - self.y0) / t) - 1, 0, self.ny - 1).astype(np.int64)
        iy1 = np.clip(np.floor((hi[:, 1] + grow - self.y0) / t), 0, self.ny - 1).astype(np.int64)
        # the rounding above may admit one tile too many on each side: check exactly below
        cx, cy = ix1 - ix0 + 1, iy1 - iy0 + 1
        cnt = np.maximum(cx, 0) * np.maximum(cy, 0)
        item = np.repeat(np.arange(len(lo)), cnt)
        k = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt)
        ix = ix0[item] + k // cy[item]
        iy = iy0[item] + k % cy[item]
        cx0 = self.x0 + ix * t - grow
        cy0 = self.y0 + iy * t - grow
        keep = (
            (hi[item, 0] >= cx0)
            & (lo[item, 0] <= cx0 + t + 2 * grow)
            & (hi[item, 1] >= cy0)
            & (lo[item, 1] <= cy0 + t + 2 * grow)
        )
        return item[keep], (ix * self.ny + iy)[keep]


def plan_tiles(
    points_xy: np.ndarray,
    *,
    cutoff_m: float,
    max_snap_m: float,
    tile_m: float | None = None,
    n_tiles: int = DEFAULT_TILES,
    tolerance_m: float = 0.5,
) -> TilePlan:
    """Lay a grid of tiles over the extent of some points (targets and sources).

    Parameters
    ----------
    points_xy
        ``(k, 2)`` points in metres whose extent the grid covers.
    cutoff_m
        The largest walking limit, metres.
    max_snap_m
        Longest straight access leg, metres.
    tile_m
        Side of a tile's core in metres; default: the extent cut into about
        ``n_tiles`` squares, but never less than three halos.
    n_tiles
        Wanted number of tiles when ``tile_m`` is not given.
    tolerance_m
        Vertex-merge tolerance of the network build, metres.

    Returns
    -------
    TilePlan
    """
    if not (math.isfinite(cutoff_m) and cutoff_m >= 0):
        msg = f"a split network pass needs a finite cut-off in metres, got {cutoff_m!r}"
        raise InputError(msg, field="limit_m")
    halo = halo_m(cutoff_m, max_snap_m, tolerance_m=tolerance_m)
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    if len(pts):
        lo, hi = pts.min(0), pts.max(0)
    else:
        lo = hi = np.zeros(2)
    extent = float(max(hi - lo)) + 1.0
    if tile_m is None:
        tile_m = max(_MIN_TILE_HALOS * halo, extent / math.sqrt(max(1, n_tiles)))
    if not (math.isfinite(tile_m) and tile_m > 0):
        msg = f"`tile_m` must be a positive number of metres, got {tile_m!r}"
        raise InputError(msg, field="tile_m")
    nx = max(1, math.ceil((hi[0] - lo[0] + 1.0) / tile_m))
    ny = max(1, math.ceil((hi[1] - lo[1] + 1.0) / tile_m))
    return TilePlan(float(lo[0]), float(lo[1]), float(tile_m), nx, ny, halo, float(cutoff_m))


@dataclass(frozen=True, eq=False)
class TileTask:
    """Everything one tile needs, as plain arrays (cheap to pickle and ship to a worker).

    Attributes
    ----------
    tile
        Tile index in the plan.
    segments
        ``(m, 2, 2)`` road segments meeting the core grown by the halo, metres,
        in the single-process order.
    sources
        ``(s,)`` global positions of the sources within the cut-off of the core.
    sources_xy, limits_m
        Their coordinates (metres) and walking limits (metres).
    targets
        ``(t,)`` global positions of the targets in the core.
    targets_xy
        Their coordinates, metres.
    own_sources
        ``(s,)`` bool: the source lies in this tile's core (its attachment
        reason is taken from this tile).
    max_snap_m, tolerance_m
        Longest access leg and vertex-merge tolerance, metres.
    crs
        The metric CRS (WKT) or ``None``.
    """

    tile: int
    segments: np.ndarray
    sources: np.ndarray
    sources_xy: np.ndarray
    limits_m: np.ndarray
    targets: np.ndarray
    targets_xy: np.ndarray
    own_sources: np.ndarray
    max_snap_m: float
    tolerance_m: float
    crs: str | None

    @property
    def n_segments(self) -> int:
        """Road segments in the tile and its halo."""
        return int(self.segments.shape[0])


@dataclass(frozen=True, eq=False)
class TileResult:
    """The answer of one tile, indexed by global positions (see :class:`NetworkCoverage`).

    ``nearest`` and ``covering`` are global source positions (``-1`` for none);
    ``source_reason`` is given for the tile's own sources (``sources``).
    """

    tile: int
    targets: np.ndarray
    nearest: np.ndarray
    dist_m: np.ndarray
    covering: np.ndarray
    covering_dist_m: np.ndarray
    reason: np.ndarray
    sources: np.ndarray
    source_reason: np.ndarray
    n_edges: int
    seconds: float


def tile_tasks(
    segments: np.ndarray,
    sources_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    limit_m: np.ndarray | float,
    max_snap_m: float = 300.0,
    tile_m: float | None = None,
    n_tiles: int = DEFAULT_TILES,
    tolerance_m: float = 0.5,
    crs: CRS | None = None,
) -> tuple[TilePlan, list[TileTask]]:
    """Cut a network pass into one task per tile that holds a target or a source.

    Parameters
    ----------
    segments
        ``(m, 2, 2)`` road segments from :func:`road_segments`, metres.
    sources_xy, targets_xy
        ``(s, 2)`` centres and ``(n, 2)`` compound access points, metres.
    limit_m
        Walking limit in metres, one for all or one per source; the cut-off
        is the largest.
    max_snap_m
        Longest straight access leg, metres.
    tile_m, n_tiles
        Tile side in metres, or the wanted number of tiles (see :func:`plan_tiles`).
    tolerance_m
        Vertex-merge tolerance of the network build, metres.
    crs
        The metric CRS of all coordinates.

    Returns
    -------
    (TilePlan, list of TileTask)
    """
    s_xy = _as_xy(sources_xy, "sources_xy")
    t_xy = _as_xy(targets_xy, "targets_xy")
    lim = np.asarray(limit_m, dtype=np.float64)
    lim = np.full(len(s_xy), float(lim)) if lim.ndim == 0 else lim
    if lim.shape != (len(s_xy),) or np.isnan(lim).any() or (lim < 0).any():
        msg = f"`limit_m` must be one walking distance >= 0 m or one per source ({len(s_xy)})"
        raise InputError(msg, field="limit_m")
    if crs is not None and CRS.from_user_input(crs).is_geographic:
        msg = "a split network pass must run in a metric CRS, not degrees"
        raise CRSError(msg, field="crs")
    cutoff = float(lim.max()) if len(lim) else 0.0
    plan = plan_tiles(
        np.concatenate([s_xy, t_xy]), cutoff_m=cutoff, max_snap_m=max_snap_m, tile_m=tile_m,
        n_tiles=n_tiles, tolerance_m=tolerance_m,
    )
    seg = np.asarray(segments, dtype=np.float64).reshape(-1, 2, 2)
    seg_item, seg_tile = plan.tiles_meeting(seg.min(axis=1), seg.max(axis=1), plan.halo_m)
    src_item, src_tile = plan.tiles_meeting(s_xy, s_xy, cutoff)
    t_tile = plan.tile_of(t_xy)
    s_home = plan.tile_of(s_xy)
    active = np.unique(np.concatenate([t_tile, s_home]))
    seg_sorted = _group(seg_tile, seg_item)
    src_sorted = _group(src_tile, src_item)
    tgt_sorted = _group(t_tile, np.arange(len(t_xy)))
    wkt = CRS.from_user_input(crs).to_wkt() if crs is not None else None
    tasks = []
    for tile in active.tolist():
        seg_i = np.sort(seg_sorted(tile))  # keep the single-process edge order
        src_i = np.sort(src_sorted(tile))
        tgt_i = tgt_sorted(tile)
        tasks.append(
            TileTask(
                tile=int(tile),
                segments=seg[seg_i],
                sources=src_i,
                sources_xy=s_xy[src_i],
                limits_m=lim[src_i],
                targets=tgt_i,
                targets_xy=t_xy[tgt_i],
                own_sources=s_home[src_i] == tile,
                max_snap_m=float(max_snap_m),
                tolerance_m=float(tolerance_m),
                crs=wkt,
            )
        )
    return plan, tasks


def _group(keys: np.ndarray, values: np.ndarray) -> Callable[[int], np.ndarray]:
    """A lookup ``key -> values with that key`` over sorted arrays."""
    order = np.argsort(keys, kind="stable")
    k, v = keys[order], values[order]

    def get(key: int) -> np.ndarray:
        lo, hi = np.searchsorted(k, key, side="left"), np.searchsorted(k, key, side="right")
        return v[lo:hi]

    return get


def _as_xy(xy: Any, name: str) -> np.ndarray:
    arr = np.asarray(xy, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        msg = f"`{name}` must be an array of finite coordinates of shape (k, 2) in metres, got shape {arr.shape}"
        raise InputError(msg, field=name)
    return arr


def run_tile(task: TileTask) -> TileResult:
    """Build one tile's network and run :func:`geo.network.walk_coverage` on it.

    Runs anywhere (a Dask worker, a process pool): it needs only the task.

    Returns
    -------
    TileResult
        Answers for the tile's core targets and own sources, with global
        positions.  Targets of a tile without any road segment are
        ``far_from_road``, as in the single process.
    """
    t0 = time.perf_counter()
    n_t, n_s = len(task.targets), len(task.sources)
    if task.n_segments == 0:
        return TileResult(
            tile=task.tile, targets=task.targets, nearest=np.full(n_t, -1, np.int64), dist_m=np.full(n_t, np.inf),
            covering=np.full(n_t, -1, np.int64), covering_dist_m=np.full(n_t, np.inf),
            reason=np.full(n_t, REASON_FAR, dtype=object), sources=task.sources[task.own_sources],
            source_reason=np.full(int(task.own_sources.sum()), REASON_FAR, dtype=object), n_edges=0,
            seconds=time.perf_counter() - t0,
        )
    lines = shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING,
        task.segments.reshape(-1, 2),
        (np.arange(task.n_segments + 1, dtype=np.int64) * 2,),
    )
    crs = CRS.from_wkt(task.crs) if task.crs else None
    net = build_walk_network(gpd.GeoSeries(lines, crs=crs), tolerance_m=task.tolerance_m)
    res = walk_coverage(
        net, task.sources_xy, task.targets_xy,
        limit_m=task.limits_m if n_s else 0.0, max_snap_m=task.max_snap_m,
    )

    def glob(local: np.ndarray) -> np.ndarray:
        return np.where(local >= 0, task.sources[np.maximum(local, 0)] if n_s else -1, -1)

    return TileResult(
        tile=task.tile,
        targets=task.targets,
        nearest=glob(res.nearest),
        dist_m=res.dist_m,
        covering=glob(res.covering),
        covering_dist_m=res.covering_dist_m,
        reason=res.reason,
        sources=task.sources[task.own_sources],
        source_reason=res.source_reason[task.own_sources],
        n_edges=net.n_edges,
        seconds=time.perf_counter() - t0,
    )


@dataclass(frozen=True, eq=False)
class PartitionedCoverage(NetworkCoverage):
    """:class:`geo.network.NetworkCoverage` from a split pass, plus what the split could not see.

    Attributes
    ----------
    beyond_cutoff
        ``(n,)`` bool: the target reaches the network but no centre within the
        cut-off; ``nearest`` / ``dist_m`` are then the nearest centre found
        within the halo (``dist_m > cutoff_m``) or ``-1`` / ``inf`` with
        reason ``"beyond_cutoff"``.  Everything else is the single-process
        answer (see the module docstring).
    cutoff_m
        The cut-off ``L`` in metres.
    n_tiles
        Tiles that ran.
    tile_edges
        ``(n_tiles,)`` network edges of each tile (core and halo).
    tile_seconds
        ``(n_tiles,)`` seconds each tile took where it ran.
    """

    beyond_cutoff: np.ndarray = None  # type: ignore[assignment]
    cutoff_m: float = 0.0
    n_tiles: int = 0
    tile_edges: np.ndarray = None  # type: ignore[assignment]
    tile_seconds: np.ndarray = None  # type: ignore[assignment]


def merge_tiles(results: Iterable[TileResult], *, n_sources: int, n_targets: int, cutoff_m: float) -> PartitionedCoverage:
    """Put the tiles' answers back into one :class:`PartitionedCoverage`.

    Parameters
    ----------
    results
        One :class:`TileResult` per task of :func:`tile_tasks`.
    n_sources, n_targets
        Numbers of sources and targets of the whole pass.
    cutoff_m
        The cut-off ``L`` in metres.
    """
    nearest = np.full(n_targets, -1, dtype=np.int64)
    dist = np.full(n_targets, np.inf)
    covering = np.full(n_targets, -1, dtype=np.int64)
    cov_dist = np.full(n_targets, np.inf)
    reason = np.full(n_targets, REASON_FAR, dtype=object)
    source_reason = np.full(n_sources, REASON_FAR, dtype=object)
    edges, seconds = [], []
    for r in results:
        t = r.targets
        nearest[t], dist[t], covering[t], cov_dist[t], reason[t] = r.nearest, r.dist_m, r.covering, r.covering_dist_m, r.reason
        source_reason[r.sources] = r.source_reason
        edges.append(r.n_edges)
        seconds.append(r.seconds)
    any_source = bool((source_reason == "").any())
    unreached = np.isin(reason, [REASON_NO_SOURCES, REASON_DISCONNECTED])
    reason[unreached] = REASON_BEYOND_CUTOFF if any_source else REASON_NO_SOURCES
    nearest[unreached] = -1
    dist[unreached] = np.inf
    attached = reason != REASON_FAR
    beyond = attached & any_source & ~(dist <= cutoff_m)
    return PartitionedCoverage(
        nearest=nearest,
        dist_m=dist,
        covered=covering >= 0,
        covering=covering,
        covering_dist_m=cov_dist,
        reason=reason,
        source_reason=source_reason,
        beyond_cutoff=beyond,
        cutoff_m=float(cutoff_m),
        n_tiles=len(edges),
        tile_edges=np.asarray(edges, dtype=np.int64),
        tile_seconds=np.asarray(seconds, dtype=np.float64),
    )


def partitioned_walk_coverage(
    roads: gpd.GeoDataFrame | gpd.GeoSeries | np.ndarray,
    sources_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    limit_m: np.ndarray | float,
    max_snap_m: float = 300.0,
    tile_m: float | None = None,
    n_tiles: int = DEFAULT_TILES,
    tolerance_m: float = 0.5,
    executor: Executor | None = None,
) -> PartitionedCoverage:
    """:func:`geo.network.walk_coverage` over spatial tiles, one network per tile.

    Same arguments and meaning as :func:`geo.network.walk_coverage`, with the
    network given as its road lines.  The covered flags, covering centres
    and walking metres within the cut-off (the largest ``limit_m``) equal
    the single-process answer; beyond the cut-off see
    :class:`PartitionedCoverage` and the module docstring.

    Parameters
    ----------
    roads
        Walkable road lines in a metric CRS (metres), or ``(m, 2, 2)``
        segments from :func:`road_segments`.
    sources_xy, targets_xy
        ``(s, 2)`` centres and ``(n, 2)`` compound access points, metres.
    limit_m
        Walking limit in metres, one or one per source.
    max_snap_m
        Longest straight access leg, metres.
    tile_m, n_tiles
        Tile side in metres, or the wanted number of tiles.
    tolerance_m
        Vertex-merge tolerance of the network build, metres (as the single
        process uses).
    executor
        Where the tiles run: any ``concurrent.futures.Executor`` (a Dask
        ``Client.get_executor()``, a process pool); default: one after
        another in this process.

    Returns
    -------
    PartitionedCoverage
    """
    crs = None
    if isinstance(roads, np.ndarray) and roads.dtype != object:
        segments = roads
    else:
        crs = roads.crs if hasattr(roads, "crs") else None
        if crs is not None and CRS.from_user_input(crs).is_geographic:
            msg = f"layer `roads` must be in a metric CRS for a split network pass, got {CRS.from_user_input(crs).name}"
            raise CRSError(msg, field="roads")
        segments = road_segments(roads)
    plan, tasks = tile_tasks(
        segments, sources_xy, targets_xy, limit_m=limit_m, max_snap_m=max_snap_m, tile_m=tile_m,
        n_tiles=n_tiles, tolerance_m=tolerance_m, crs=crs,
    )
    results = executor.map(run_tile, tasks) if executor is not None else map(run_tile, tasks)
    return merge_tiles(
        results, n_sources=len(_as_xy(sources_xy, "sources_xy")), n_targets=len(_as_xy(targets_xy, "targets_xy")),
        cutoff_m=plan.cutoff_m,
    )
