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

import time
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TypedDict, Unpack

import geopandas as gpd
import numpy as np
from pyproj import CRS

from geo.errors import CRSError
from geo.network.attach import REASON_FAR
from geo.network.checks import as_xy
from geo.network.coverage import REASON_DISCONNECTED, REASON_NO_SOURCES, NetworkCoverage, walk_coverage
from geo.network.graph import build_walk_network
from geo.network.junctions import road_segments
from geo.network.segments import segment_lines
from geo.network.tiling import TileTask, tile_tasks

__all__ = [
    "REASON_BEYOND_CUTOFF",
    "PartitionedCoverage",
    "TileResult",
    "TilingOptions",
    "merge_tiles",
    "partitioned_walk_coverage",
    "run_tile",
]

#: Reason of targets no centre within their tile's halo reaches (see the module docstring).
REASON_BEYOND_CUTOFF = "beyond_cutoff"


class TilingOptions(TypedDict, total=False):
    """How a split pass is cut into tiles: the keyword options of :func:`geo.network.tiling.tile_tasks`."""

    max_snap_m: float
    tile_m: float | None
    n_tiles: int
    tolerance_m: float


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
    lines = segment_lines(task.segments[:, 0], task.segments[:, 1])
    crs = CRS.from_wkt(task.crs) if task.crs else None
    # the segments were split at their junctions over the whole district (road_segments)
    net = build_walk_network(gpd.GeoSeries(lines, crs=crs), tolerance_m=task.tolerance_m, junctions=False)
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
    executor: Executor | None = None,
    **options: Unpack[TilingOptions],
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
        segments from :func:`geo.network.road_segments`.
    sources_xy, targets_xy
        ``(s, 2)`` centres and ``(n, 2)`` compound access points, metres.
    limit_m
        Walking limit in metres, one or one per source.
    executor
        Where the tiles run: any ``concurrent.futures.Executor`` (a Dask
        ``Client.get_executor()``, a process pool); default: one after
        another in this process.
    **options
        ``max_snap_m`` (longest access leg), ``tile_m`` / ``n_tiles`` (tile
        side in metres, or the wanted number of tiles) and ``tolerance_m``
        (vertex-merge tolerance, as the single process uses), as for
        :func:`geo.network.tiling.tile_tasks`.

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
        segments = road_segments(roads, tolerance_m=options.get("tolerance_m", 0.5))
    plan, tasks = tile_tasks(segments, sources_xy, targets_xy, limit_m=limit_m, crs=crs, **options)
    results = executor.map(run_tile, tasks) if executor is not None else map(run_tile, tasks)
    return merge_tiles(
        results, n_sources=len(as_xy(sources_xy, "sources_xy")), n_targets=len(as_xy(targets_xy, "targets_xy")),
        cutoff_m=plan.cutoff_m,
    )
