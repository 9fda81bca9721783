"""Cutting one large district's walking pass into square tiles, each with a halo.

A tile's task holds the road segments meeting its core grown by the halo,
the sources within the cut-off of the core and the targets in the core, as
plain arrays that are cheap to ship to another process.  Why the halo makes
the split exact: :mod:`geo.network.partition`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pyproj import CRS

from geo.errors import CRSError, InputError
from geo.network.checks import as_xy

__all__ = ["DEFAULT_TILES", "TilePlan", "TileTask", "halo_m", "plan_tiles", "tile_tasks"]

#: Default number of tiles a district is cut into (when ``tile_m`` is not given).
DEFAULT_TILES = 16
#: Tiles are never smaller than this many halos across (the halo overhead grows fast below it).
_MIN_TILE_HALOS = 3.0


def halo_m(cutoff_m: float, max_snap_m: float, *, tolerance_m: float = 0.5) -> float:
    """Width of the halo around a tile's core, metres.

    ``cutoff_m + max_snap_m`` (see the module docstring) plus a margin of
    ``10 * tolerance_m + 1`` m so that the vertex-merge tolerance of the
    network build cannot change a node inside the reach of the core.
    """
    return float(cutoff_m) + float(max_snap_m) + 10.0 * float(tolerance_m) + 1.0


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
    s_xy = as_xy(sources_xy, "sources_xy")
    t_xy = as_xy(targets_xy, "targets_xy")
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
