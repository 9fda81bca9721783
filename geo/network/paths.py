"""Shortest walks on the network: one multi-source pass, and per-source searches on local subgraphs.

Walking distance between two points is

    access leg + distance along edges + access leg

and is computed for all sources at once by one multi-source Dijkstra pass
(:func:`scipy.sparse.csgraph.dijkstra` with ``min_only=True``): each source is
a virtual node with two out-edges to the ends of its edge, weighted by the
access leg plus the distance along the edge to that end.  Two points on the
same edge also get the direct distance along that edge.

Per-source searches (for distance matrices and service areas) run Dijkstra
on small subgraphs cut around spatial tiles of sources: a walk of at most
``limit`` metres never leaves the square of half-side ``limit`` around its
start, so the answer is exact and each search costs the size of its
neighbourhood, not of the city.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from geo.network.attach import Attachment
from geo.network.graph import WalkNetwork

__all__ = ["LocalBlock", "local_searches", "multi_source", "single_source", "target_distances"]

#: Dense distance blocks of per-source searches are kept under this many cells (float64).
MAX_BLOCK_CELLS = 16_000_000


def _with_virtual_sources(net: WalkNetwork, edge: np.ndarray, along: np.ndarray, offset: np.ndarray) -> sp.csr_matrix:
    """The adjacency plus one virtual node per source (rows ``n .. n+k-1``).

    Each virtual node has two out-edges: to ``u`` of its edge weighted
    ``offset + along`` and to ``v`` weighted ``offset + length - along``.  No
    edge points into a virtual node, so a path can only start there; passing
    through one would never be shorter than the edge itself anyway.
    """
    adj = net.adjacency
    n, k = net.n_nodes, len(edge)
    length = net.length_m[edge]
    w = np.column_stack([offset + along, offset + (length - along)]).ravel()
    cols = np.column_stack([net.u[edge], net.v[edge]]).ravel().astype(adj.indices.dtype)
    indptr = np.concatenate([adj.indptr, adj.indptr[-1] + 2 * np.arange(1, k + 1, dtype=adj.indptr.dtype)])
    return sp.csr_matrix(
        (np.concatenate([adj.data, w]), np.concatenate([adj.indices, cols]), indptr),
        shape=(n + k, n + k),
    )


def multi_source(
    net: WalkNetwork, edge: np.ndarray, along: np.ndarray, offset: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """One multi-source Dijkstra pass.

    Returns ``(dist, which)``: per node the walking metres from the nearest
    source (``inf`` beyond ``limit``) and that source's position in the given
    arrays (``-1`` when none).
    """
    n, k = net.n_nodes, len(edge)
    if k == 0:
        return np.full(n, np.inf), np.full(n, -1, dtype=np.int64)
    graph = _with_virtual_sources(net, edge, along, offset)
    dist, _, src = dijkstra(
        graph,
        directed=True,
        indices=np.arange(n, n + k),
        min_only=True,
        limit=limit,
        return_predecessors=True,
    )
    src = src[:n].astype(np.int64)
    which = np.where(src >= n, src - n, -1)
    return dist[:n], which


def single_source(
    net: WalkNetwork, edge: int, along: float, offset: float, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """One Dijkstra search from one attached point, with the predecessors to walk its paths back.

    The point is the virtual node ``n`` of :func:`multi_source` (access leg
    plus the distance along its edge to either end), so the distances are
    the ones the multi-source pass gives for this source alone.

    Returns ``(dist, pred)``: per node the walking metres from the point
    (``inf`` beyond ``limit``) and the previous node on that walk: ``n`` (the
    point itself) for the ends of its edge reached straight from it, a
    negative number where the node is not reached.
    """
    graph = _with_virtual_sources(
        net, np.array([edge], dtype=np.int64), np.array([along], dtype=float), np.array([offset], dtype=float)
    )
    dist, pred = dijkstra(graph, directed=True, indices=net.n_nodes, limit=limit, return_predecessors=True)
    return dist[: net.n_nodes], pred[: net.n_nodes].astype(np.int64)


def _same_edge_pairs(t_edge: np.ndarray, s_edge: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``(target, source)`` attached to the same edge."""
    order = np.argsort(s_edge, kind="stable")
    se = s_edge[order]
    lo = np.searchsorted(se, t_edge, side="left")
    hi = np.searchsorted(se, t_edge, side="right")
    cnt = hi - lo
    ti = np.repeat(np.arange(len(t_edge)), cnt)
    pos = np.arange(cnt.sum()) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(lo, cnt)
    return ti, order[pos]


def target_distances(
    net: WalkNetwork,
    dist: np.ndarray,
    which: np.ndarray,
    src: Attachment,
    s_idx: np.ndarray,
    tgt: Attachment,
    t_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Walking metres from the nearest source to each target of ``t_idx``.

    ``dist``/``which`` come from :func:`multi_source` over the sources
    ``s_idx`` (positions into ``src``); the result names sources by their
    position in ``src`` (``-1`` and ``inf`` when unreached).
    """
    e = tgt.edge[t_idx]
    a = tgt.along_m[t_idx]
    o = tgt.offset_m[t_idx]
    du = dist[net.u[e]] + o + a
    dv = dist[net.v[e]] + o + (net.length_m[e] - a)
    use_v = dv < du
    best = np.where(use_v, dv, du)
    who = np.where(use_v, which[net.v[e]], which[net.u[e]])
    ti, si = _same_edge_pairs(e, src.edge[s_idx])
    if len(ti):
        sg = s_idx[si]
        direct = o[ti] + np.abs(a[ti] - src.along_m[sg]) + src.offset_m[sg]
        order = np.lexsort((si, direct, ti))
        first = order[np.r_[True, ti[order[1:]] != ti[order[:-1]]]]
        tt, dd, ss = ti[first], direct[first], si[first]
        better = dd < best[tt]
        best[tt[better]] = dd[better]
        who[tt[better]] = ss[better]
    who = np.where(np.isfinite(best) & (who >= 0), s_idx[np.maximum(who, 0)], -1)
    best = np.where(who >= 0, best, np.inf)
    return best, who


@dataclass(frozen=True, eq=False)
class LocalBlock:
    """Distances from a few sources over the subgraph around them."""

    sources: np.ndarray  # (k,) positions into the source arrays
    edges: np.ndarray  # (me,) global edge ids of the subgraph
    lu: np.ndarray  # (me,) local node index of u
    lv: np.ndarray  # (me,) local node index of v
    nodes: np.ndarray  # (nl,) global node ids
    dist: np.ndarray  # (k, nl) walking metres, inf beyond the limit


def local_searches(
    net: WalkNetwork, s_xy: np.ndarray, src: Attachment, s_idx: np.ndarray, limit: float
) -> Iterator[LocalBlock]:
    """One Dijkstra per source, run on subgraphs cut around tiles of sources.

    A walk of at most ``limit`` metres from a source point stays inside the
    square of half-side ``limit`` around that point, so every edge it uses
    intersects the box of its tile's sources grown by ``limit``: distances on
    that subgraph are exact up to ``limit``.
    """
    if len(s_idx) == 0:
        return
    if math.isfinite(limit):
        side = max(2.0 * limit, 250.0)
        cell = np.floor(s_xy[s_idx] / side).astype(np.int64)
        _, tile = np.unique(cell, axis=0, return_inverse=True)
        tile = tile.ravel()
    else:
        tile = np.zeros(len(s_idx), dtype=np.int64)
    order = np.argsort(tile, kind="stable")
    bounds = np.flatnonzero(np.r_[True, tile[order][1:] != tile[order][:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        members = s_idx[order[lo:hi]]
        if math.isfinite(limit):
            p = s_xy[members]
            box = shapely.box(*(p.min(0) - limit), *(p.max(0) + limit))
            edges = np.union1d(net.tree.query(box), src.edge[members])
        else:
            edges = np.arange(net.n_edges)
        nodes, inv = np.unique(np.concatenate([net.u[edges], net.v[edges]]), return_inverse=True)
        me, nl = len(edges), len(nodes)
        lu, lv = inv[:me], inv[me:]
        per = max(1, MAX_BLOCK_CELLS // max(nl, 1))
        for c0 in range(0, len(members), per):
            chunk = members[c0 : c0 + per]
            k = len(chunk)
            se = src.edge[chunk]
            pos = np.searchsorted(edges, se)
            length = net.length_m[se]
            w = np.concatenate(
                [
                    net.length_m[edges],
                    net.length_m[edges],
                    src.offset_m[chunk] + src.along_m[chunk],
                    src.offset_m[chunk] + length - src.along_m[chunk],
                ]
            )
            vnode = nl + np.arange(k)
            rows = np.concatenate([lu, lv, vnode, vnode])
            cols = np.concatenate([lv, lu, lu[pos], lv[pos]])
            graph = sp.csr_matrix((w, (rows, cols)), shape=(nl + k, nl + k))
            d = dijkstra(graph, directed=True, indices=vnode, limit=limit)
            yield LocalBlock(sources=chunk, edges=edges, lu=lu, lv=lv, nodes=nodes, dist=d[:, :nl])
