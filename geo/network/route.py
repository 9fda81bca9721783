"""The walk itself: the path from a source (a centre) to the nearest of a few targets (a compound's access points).

The route follows the walk :func:`geo.network.walk_coverage` measures, leg
by leg, so its length is the coverage pass's walking distance:

    target point -> nearest point of its edge   (the target's access leg)
    -> along its edge to a node -> nodes of the shortest path -> along the
    source's edge to the source's nearest point   (the roads walked)
    -> source point   (the source's access leg)

Points join the network by :func:`geo.network.attach_points` (one call for
the source and the targets, as the coverage pass attaches them); the path
comes from one Dijkstra search from the source with predecessors
(:func:`geo.network.paths.single_source`); a target on the source's own
edge may walk straight along it, as :func:`geo.network.paths.target_distances`
allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from geo.network.attach import REASON_FAR, REASON_OK, attach_points, split_attachment
from geo.network.checks import as_xy
from geo.network.coverage import REASON_DISCONNECTED, REASON_NO_SOURCES
from geo.network.graph import WalkNetwork
from geo.network.paths import single_source

__all__ = ["WalkRoute", "walk_route"]


@dataclass(frozen=True, eq=False)
class WalkRoute:
    """The shortest walk from a target to the source, as a polyline in the network's metric CRS.

    Attributes
    ----------
    length_m
        Walking metres, both access legs included (``inf`` when no target is reached).
    target
        Position of the target the walk starts from (``-1`` when none).
    xy
        ``(k, 2)`` vertices from the target point to the source point, metres
        (``(0, 2)`` when none); consecutive repeats are dropped, so a walk of
        zero metres has its one point twice.
    access_m, roads_m, source_m
        Lengths of the target's access leg, of the part along the roads and of
        the source's access leg (NaN when none).
    reason
        ``""``, or why no walk: ``"no_sources"`` (the source is far from every
        road), ``"far_from_road"`` (every target is), ``"disconnected"`` (no
        target reached within the limit).
    """

    length_m: float
    target: int
    xy: np.ndarray
    access_m: float
    roads_m: float
    source_m: float
    reason: str

    @property
    def found(self) -> bool:
        """A walk was found."""
        return self.target >= 0


def _none(reason: str) -> WalkRoute:
    nan = math.nan
    return WalkRoute(math.inf, -1, np.zeros((0, 2)), nan, nan, nan, reason)


def walk_route(
    net: WalkNetwork,
    source_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    max_snap_m: float = 300.0,
    limit_m: float = math.inf,
) -> WalkRoute:
    """The shortest walk from the nearest of ``targets_xy`` to ``source_xy``, with its path.

    Parameters
    ----------
    net
        The network.
    source_xy
        ``(2,)`` or ``(1, 2)`` the source point (a centre), metres, in the network's CRS.
    targets_xy
        ``(k, 2)`` target points (a compound's access points), same CRS.
    max_snap_m
        Longest straight access leg in metres (as the coverage pass used).
    limit_m
        Walks longer than this many metres are not looked for (a known
        walking distance plus a margin keeps the search local).

    Returns
    -------
    WalkRoute
    """
    s_xy = as_xy(np.reshape(np.asarray(source_xy, dtype=float), (-1, 2)), "source_xy")
    if len(s_xy) != 1:
        msg = f"`source_xy` must be one point, got {len(s_xy)}"
        raise ValueError(msg)
    t_xy = as_xy(targets_xy, "targets_xy")
    src, tgt = split_attachment(attach_points(net, np.concatenate([s_xy, t_xy]), max_snap_m=max_snap_m), 1)
    if not src.attached[0]:
        return _none(REASON_NO_SOURCES)
    t_idx = np.flatnonzero(tgt.attached)
    if not len(t_idx):
        return _none(REASON_FAR)
    s_edge, s_along, s_off = int(src.edge[0]), float(src.along_m[0]), float(src.offset_m[0])
    dist, pred = single_source(net, s_edge, s_along, s_off, limit_m)

    e, a, o = tgt.edge[t_idx], tgt.along_m[t_idx], tgt.offset_m[t_idx]
    via_u = dist[net.u[e]] + o + a
    via_v = dist[net.v[e]] + o + (net.length_m[e] - a)
    direct = np.where(e == s_edge, o + np.abs(a - s_along) + s_off, np.inf)
    ways = np.column_stack([via_u, via_v, direct])
    ways[ways > limit_m] = np.inf
    pick = int(np.argmin(ways))
    i, how = divmod(pick, 3)
    length = float(ways[i, how])
    if not math.isfinite(length):
        return _none(REASON_DISCONNECTED)

    ti = int(t_idx[i])
    pts = [t_xy[ti], tgt.snapped_xy[ti]]
    if how < 2:
        node = int(net.u[e[i]] if how == 0 else net.v[e[i]])
        chain = [node]
        while pred[node] >= 0 and pred[node] != net.n_nodes:
            node = int(pred[node])
            chain.append(node)
        pts.extend(net.nodes_xy[chain])
    pts += [src.snapped_xy[0], s_xy[0]]
    line = np.asarray(pts, dtype=float)
    keep = np.r_[True, np.any(line[1:] != line[:-1], axis=1)]
    line = line[keep]
    if len(line) == 1:
        line = np.vstack([line, line])
    return WalkRoute(
        length_m=length,
        target=ti,
        xy=line,
        access_m=float(o[i]),
        roads_m=length - float(o[i]) - s_off,
        source_m=s_off,
        reason=REASON_OK,
    )
