"""Where straight segments meet away from their end points: crossings, T-junctions, overlaps.

Plain numpy on segment end points (metres): candidate pairs come from an
STRtree over the segments' envelopes, the contact test is the usual
two-segment parametrisation.  Used to split segments at junctions when a
network is built (:mod:`geo.network.junctions`) and to find the edges that
are not planar when service areas are drawn.
"""

from __future__ import annotations

import numpy as np
import shapely

from geo.network.segments import segment_lines

__all__ = ["cross2", "interior_contacts", "segment_pairs", "split_segments"]


def segment_pairs(a: np.ndarray, b: np.ndarray, tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of segments whose envelopes, grown by ``tol`` metres, intersect.

    Envelopes only (no predicate): the contact test that follows is exact,
    and an envelope query is about three times faster than ``dwithin``.
    """
    segs = segment_lines(a, b)
    tree = shapely.STRtree(segs)
    if tol > 0:
        lo, hi = np.minimum(a, b) - tol, np.maximum(a, b) + tol
        i, j = tree.query(shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1]))
    else:
        i, j = tree.query(segs)
    keep = i < j
    return i[keep], j[keep]


def cross2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise 2-D cross product of ``(k, 2)`` vectors."""
    return p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]


def interior_contacts(
    a: np.ndarray, b: np.ndarray, i: np.ndarray, j: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where segment pairs touch away from their end points.

    Returns ``(seg, t)``: segment ``seg`` is touched at parameter ``t`` in
    ``(0, 1)`` (away from its ends by more than ``tol`` metres) by the other
    segment of a pair; collinear overlaps give the other segment's ends.
    """
    r = b[i] - a[i]
    w = b[j] - a[j]
    q = a[j] - a[i]
    lr = np.hypot(*r.T)
    lw = np.hypot(*w.T)
    den = cross2(r, w)
    eps = 1e-12 * np.maximum(lr * lw, 1e-300)
    proper = np.abs(den) > eps
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cross2(q, w) / den
        s = cross2(q, r) / den
    # crossings and T-junctions
    tol_t = tol / np.maximum(lr, 1e-300)
    tol_s = tol / np.maximum(lw, 1e-300)
    hit = proper & (t >= -tol_t) & (t <= 1 + tol_t) & (s >= -tol_s) & (s <= 1 + tol_s)
    seg_out = [i[hit & (t > tol_t) & (t < 1 - tol_t)], j[hit & (s > tol_s) & (s < 1 - tol_s)]]
    t_out = [t[hit & (t > tol_t) & (t < 1 - tol_t)], s[hit & (s > tol_s) & (s < 1 - tol_s)]]
    # collinear overlaps: project each end of one segment on the other
    col = ~proper & (np.abs(cross2(q, r)) <= tol * np.maximum(lr, 1e-300))
    if col.any():
        ci, cj = i[col], j[col]
        for seg, other in ((ci, cj), (cj, ci)):
            d = b[seg] - a[seg]
            l2 = np.maximum((d * d).sum(1), 1e-300)
            ln = np.sqrt(l2)
            for end in (a[other], b[other]):
                tt = ((end - a[seg]) * d).sum(1) / l2
                inside = (tt * ln > tol) & (tt * ln < ln - tol)
                seg_out.append(seg[inside])
                t_out.append(tt[inside])
    return np.concatenate(seg_out), np.concatenate(t_out)


def split_segments(
    a: np.ndarray, b: np.ndarray, row: np.ndarray, seg: np.ndarray, t: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split segments ``seg`` at parameters ``t`` in ``(0, 1)`` (vectorised); returns the pieces and their rows."""
    if len(seg) == 0:
        return a, b, row
    n = len(a)
    all_seg = np.concatenate([np.arange(n), np.arange(n), seg])
    all_t = np.concatenate([np.zeros(n), np.ones(n), t])
    order = np.lexsort((all_t, all_seg))
    all_seg, all_t = all_seg[order], all_t[order]
    same = all_seg[1:] == all_seg[:-1]
    s0, t0, t1 = all_seg[:-1][same], all_t[:-1][same], all_t[1:][same]
    d = b[s0] - a[s0]
    na = a[s0] + t0[:, None] * d
    nb = a[s0] + t1[:, None] * d
    # exact end points where t is 0 or 1, so shared vertices stay shared
    na[t0 == 0] = a[s0][t0 == 0]
    nb[t1 == 1] = b[s0][t1 == 1]
    return na, nb, row[s0]
