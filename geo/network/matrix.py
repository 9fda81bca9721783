"""Origin-destination walking metres: every source to every target within a limit, as a sparse matrix.

Built from per-source searches on local subgraphs (:func:`geo.network.paths.local_searches`),
so the cost grows with the neighbourhood each source reaches, not the city.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from geo.network.attach import attach_points, split_attachment
from geo.network.checks import as_limits, as_xy
from geo.network.graph import WalkNetwork
from geo.network.paths import MAX_BLOCK_CELLS, local_searches

__all__ = ["distance_matrix"]


def distance_matrix(
    net: WalkNetwork,
    sources_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    limit_m: float,
    max_snap_m: float = 300.0,
) -> sp.csr_matrix:
    """Walking metres between every source and every target within a limit.

    Parameters
    ----------
    net
        The network.
    sources_xy
        ``(s, 2)`` source coordinates (e.g. candidate sites), metres.
    targets_xy
        ``(n, 2)`` target coordinates (e.g. compound access points), metres.
    limit_m
        Largest walking distance kept, metres.
    max_snap_m
        Longest straight access leg in metres.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(s, n)`` float64.  Stored entries are walking metres <= ``limit_m``
        (a stored ``0.0`` means zero metres, it is kept explicitly); a pair
        without an entry is farther apart or unreachable.  Rows and columns
        of points far from every road are empty.
    """
    s_xy = as_xy(sources_xy, "sources_xy")
    t_xy = as_xy(targets_xy, "targets_xy")
    limit = float(as_limits(limit_m, 1)[0])
    n_s, n_t = len(s_xy), len(t_xy)
    both = attach_points(net, np.concatenate([s_xy, t_xy]), max_snap_m=max_snap_m)
    src, tgt = split_attachment(both, n_s)
    s_idx = np.flatnonzero(src.attached & (src.offset_m <= limit))
    t_att = np.flatnonzero(tgt.attached & (tgt.offset_m <= limit))
    t_order = t_att[np.argsort(tgt.edge[t_att], kind="stable")]
    t_edges_sorted = tgt.edge[t_order]
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    for blk in local_searches(net, s_xy, src, s_idx, limit):
        lo = np.searchsorted(t_edges_sorted, blk.edges, side="left")
        hi = np.searchsorted(t_edges_sorted, blk.edges, side="right")
        cnt = hi - lo
        if cnt.sum() == 0:
            continue
        pos = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
        tt = t_order[pos]
        ledge = np.repeat(np.arange(len(blk.edges)), cnt)
        e = blk.edges[ledge]
        a, o = tgt.along_m[tt], tgt.offset_m[tt]
        cu, cv = o + a, o + net.length_m[e] - a
        lu_t, lv_t = blk.lu[ledge], blk.lv[ledge]
        per = max(1, MAX_BLOCK_CELLS // len(tt))  # rows per dense (sources x targets) block
        for r0 in range(0, len(blk.sources), per):
            srcs = blk.sources[r0 : r0 + per]
            rows = blk.dist[r0 : r0 + per]
            d = np.minimum(rows[:, lu_t] + cu, rows[:, lv_t] + cv)
            si, ti = np.nonzero(src.edge[srcs][:, None] == e[None, :])
            if len(si):
                sg = srcs[si]
                direct = src.offset_m[sg] + np.abs(src.along_m[sg] - a[ti]) + o[ti]
                d[si, ti] = np.minimum(d[si, ti], direct)
            si, ti = np.nonzero(d <= limit)
            rows_out.append(srcs[si])
            cols_out.append(tt[ti])
            vals_out.append(d[si, ti])
    if rows_out:
        rows, cols, vals = (np.concatenate(x) for x in (rows_out, cols_out, vals_out))
    else:
        rows = cols = np.zeros(0, dtype=np.int64)
        vals = np.zeros(0)
    mat = sp.coo_matrix((vals, (rows, cols)), shape=(n_s, n_t)).tocsr()
    mat.sort_indices()
    return mat
