"""Attaching points to the walking network: the straight access leg to the nearest edge.

A point (a compound's access point, a centre) reaches the network by a
straight access leg to the nearest point ON the nearest edge (a projection,
not the nearest vertex).  Points farther than ``max_snap_m`` from every edge
are not attached (reason ``"far_from_road"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from geo.network.checks import as_xy, positive_metres
from geo.network.graph import WalkNetwork
from geo.network.segments import segment_lines

__all__ = ["REASON_FAR", "REASON_OK", "Attachment", "attach_points", "split_attachment"]

#: Reasons a point gets no walking answer (values of the ``reason`` arrays): none, and too far from a road.
REASON_OK = ""
REASON_FAR = "far_from_road"


@dataclass(frozen=True, eq=False)
class Attachment:
    """Where points join the network.

    Attributes
    ----------
    edge
        ``(k,)`` edge index, ``-1`` where the point is not attached.
    along_m
        ``(k,)`` metres from the edge's ``u`` node along the edge to the
        projected point (NaN where not attached).
    offset_m
        ``(k,)`` length of the straight access leg from the point to the edge
        in metres (the distance to the nearest edge; ``inf`` when no edge is
        within the snapping distance).
    reason
        ``(k,)`` object array: ``""`` attached, ``"far_from_road"`` when no
        edge lies within ``max_snap_m``.
    snapped_xy
        ``(k, 2)`` the projected point on the edge (NaN where not attached).
    """

    edge: np.ndarray
    along_m: np.ndarray
    offset_m: np.ndarray
    reason: np.ndarray
    snapped_xy: np.ndarray

    @property
    def attached(self) -> np.ndarray:
        """``(k,)`` bool, the point reached an edge."""
        return self.edge >= 0

    def __len__(self) -> int:
        return int(self.edge.shape[0])


def attach_points(net: WalkNetwork, xy: np.ndarray, *, max_snap_m: float = 300.0) -> Attachment:
    """Attach points to the nearest point on the nearest edge.

    Candidates come from the network's STRtree, queried with a square around
    each point whose half-side grows (from about half the median edge length,
    doubling, up to ``max_snap_m``) until the nearest candidate lies within
    it, which proves no edge outside the square is nearer; the point-segment
    projection and the per-point minimum are numpy.  Ties go to the first
    candidate the tree returns.

    Parameters
    ----------
    net
        The network.
    xy
        ``(k, 2)`` point coordinates in the network's metric CRS (metres).
    max_snap_m
        Points farther than this (metres) from every edge are not attached
        (reason ``"far_from_road"``).

    Returns
    -------
    Attachment
    """
    pts = as_xy(xy, "xy")
    max_snap_m = positive_metres(max_snap_m, "max_snap_m")
    k = len(pts)
    edge = np.full(k, -1, dtype=np.int64)
    along = np.full(k, np.nan)
    offset = np.full(k, np.inf)
    snapped = np.full((k, 2), np.nan)
    todo = np.arange(k)
    r = min(max_snap_m, max(1.0, _snap_radius0(net, pts, max_snap_m)))
    while todo.size:
        last = r >= max_snap_m
        p = pts[todo]
        # the tree tests envelopes only (no predicate): a diagonal segment of the
        # square has the square as envelope and is quicker to make than a box
        probes = segment_lines(p - r, p + r)
        pi, ei = net.tree.query(probes)
        done = np.zeros(len(todo), dtype=bool)
        if len(pi):
            if np.any(pi[1:] < pi[:-1]):  # the tree answers in input order; make sure
                order = np.argsort(pi, kind="stable")
                pi, ei = pi[order], ei[order]
            d, t = _project(p[pi], net.nodes_xy[net.u[ei]], net.nodes_xy[net.v[ei]])
            # per-point minimum without sorting: reduceat over the runs of pi
            starts = np.flatnonzero(np.r_[True, pi[1:] != pi[:-1]])
            dmin = np.minimum.reduceat(d, starts)
            hit = np.flatnonzero(d == np.repeat(dmin, np.diff(np.r_[starts, len(pi)])))
            firsts = hit[np.r_[True, pi[hit[1:]] != pi[hit[:-1]]]]
            bp, bd = pi[firsts], d[firsts]
            ok = bd <= (max_snap_m if last else r)
            bp, be, bt, bd = bp[ok], ei[firsts][ok], t[firsts][ok], bd[ok]
            tgt = todo[bp]
            edge[tgt] = be
            along[tgt] = bt * net.length_m[be]
            offset[tgt] = bd
            a = net.nodes_xy[net.u[be]]
            snapped[tgt] = a + bt[:, None] * (net.nodes_xy[net.v[be]] - a)
            done[bp] = True
        if last:
            break
        todo = todo[~done]
        r = min(max_snap_m, 2.0 * r)
    reason = np.where(edge >= 0, REASON_OK, REASON_FAR).astype(object)
    return Attachment(edge=edge, along_m=along, offset_m=offset, reason=reason, snapped_xy=snapped)


def _snap_radius0(net: WalkNetwork, pts: np.ndarray, max_snap_m: float) -> float:
    """First search half-side for :func:`attach_points`, metres.

    The 90th percentile of the true snapping distance of a small sample of
    the points (a nearest query on 200 points costs next to nothing), so most
    points resolve in the first round and few candidates are tested.
    """
    if len(pts) == 0:
        return max_snap_m
    step = max(1, len(pts) // 200)
    sample = shapely.points(pts[::step])
    _, dist = net.tree.query_nearest(sample, max_distance=max_snap_m, return_distance=True, all_matches=False)
    if len(dist) == 0:
        return max_snap_m
    return float(np.percentile(dist, 90)) * 1.05 + 0.5


def _project(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distance from points ``p`` to segments ``a-b`` and the parameter ``t`` in [0, 1]."""
    d = b - a
    l2 = (d * d).sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(l2 > 0, ((p - a) * d).sum(1) / l2, 0.0)
    np.clip(t, 0.0, 1.0, out=t)
    q = a + t[:, None] * d
    return np.hypot(p[:, 0] - q[:, 0], p[:, 1] - q[:, 1]), t


def split_attachment(att: Attachment, k: int) -> tuple[Attachment, Attachment]:
    """The first ``k`` points' attachment and the rest's (one attach call for sources and targets)."""

    def part(sl: slice) -> Attachment:
        return Attachment(
            edge=att.edge[sl],
            along_m=att.along_m[sl],
            offset_m=att.offset_m[sl],
            reason=att.reason[sl],
            snapped_xy=att.snapped_xy[sl],
        )

    return part(slice(0, k)), part(slice(k, None))
