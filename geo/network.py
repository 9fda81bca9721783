"""The walking network: build once, then coverage, service areas and distance matrices.

Everything here works in a metric projected CRS (metres) and on plain arrays;
no files, no web.  The network is the ``roads`` layer cut into straight
segments between consecutive vertices: every vertex is a node (vertices closer
than a tolerance are one node), every segment an undirected edge weighted by
its length in metres.  Lines that cross without a shared vertex do not connect
unless asked (``node_crossings=True``), so bridges and overpasses stay apart.

A point (a compound's access point, a centre) reaches the network by a
straight access leg to the nearest point ON the nearest edge (a projection,
not the nearest vertex).  Walking distance between two points is

    access leg + distance along edges + access leg

and is computed for all centres at once by one multi-source Dijkstra pass
(:func:`scipy.sparse.csgraph.dijkstra` with ``min_only=True``): each centre is
a virtual node with two out-edges to the ends of its edge, weighted by the
access leg plus the distance along the edge to that end.  Two points on the
same edge also get the direct distance along that edge.

Per-centre searches (:func:`distance_matrix`, :func:`service_areas`) run
Dijkstra on small subgraphs cut around spatial tiles of centres: a walk of at
most ``limit`` metres never leaves the square of half-side ``limit`` around
its start, so the answer is exact and each search costs the size of its
neighbourhood, not of the city.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from geo.errors import CRSError, GeometryError, InputError

__all__ = [
    "Attachment",
    "NetworkCoverage",
    "WalkNetwork",
    "attach_points",
    "build_walk_network",
    "distance_matrix",
    "group_service_areas",
    "service_areas",
    "union_service_areas",
    "walk_coverage",
]

#: Reasons a point gets no walking answer (values of the ``reason`` arrays).
REASON_OK = ""
REASON_FAR = "far_from_road"
REASON_DISCONNECTED = "disconnected"
REASON_NO_SOURCES = "no_sources"

# geometry type ids of shapely
_LINE_TYPES = (1, 2, 5)  # LineString, LinearRing, MultiLineString
_TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}

#: Dense distance blocks of per-source searches are kept under this many cells (float64).
_MAX_BLOCK_CELLS = 16_000_000


# ---------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class WalkNetwork:
    """An undirected walking network of straight edges, in a metric CRS.

    Build it with :func:`build_walk_network`; it is immutable and reused for
    coverage, service areas and distance matrices.

    Attributes
    ----------
    crs
        CRS of the coordinates (metric), or ``None`` when the roads had none.
    nodes_xy
        ``(n, 2)`` node coordinates in metres.
    u, v
        ``(m,)`` end nodes of each edge; the edge runs from ``u`` to ``v``.
    length_m
        ``(m,)`` edge length in metres (> 0).
    road
        ``(m,)`` position (``iloc``) of the input road row each edge came from.
    geometry
        ``(m,)`` shapely LineStrings, the straight segment from ``u`` to ``v``.
    adjacency
        ``(n, n)`` symmetric CSR matrix of edge lengths in metres.
    tree
        :class:`shapely.STRtree` over ``geometry``.
    component
        ``(n,)`` connected-component label of each node.
    report
        Counts from the build: ``lines``, ``empty``, ``segments``,
        ``zero_length``, ``duplicates``, ``merged_vertices``, ``crossings_noded``.
    """

    crs: CRS | None
    nodes_xy: np.ndarray
    u: np.ndarray
    v: np.ndarray
    length_m: np.ndarray
    road: np.ndarray
    geometry: np.ndarray
    adjacency: sp.csr_matrix
    tree: shapely.STRtree
    component: np.ndarray
    report: Mapping[str, int]
    _cache: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.nodes_xy.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of edges."""
        return int(self.u.shape[0])

    @property
    def total_length_m(self) -> float:
        """Sum of edge lengths in metres."""
        return float(self.length_m.sum())

    def __repr__(self) -> str:
        return (
            f"WalkNetwork(n_nodes={self.n_nodes}, n_edges={self.n_edges}, "
            f"length_km={self.total_length_m / 1000:.1f}, "
            f"components={len(np.unique(self.component)) if self.n_nodes else 0})"
        )


def build_walk_network(
    roads: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    tolerance_m: float = 0.5,
    node_crossings: bool = False,
) -> WalkNetwork:
    """Build the walking network from road lines in a metric CRS.

    Parameters
    ----------
    roads
        (Multi)LineStrings in a projected CRS (metres), already filtered to
        the walkable ones.  Empty and missing geometries are skipped and
        counted in ``report["empty"]``.
    tolerance_m
        Vertices closer than this (metres) become one node.  Every vertex of a
        line counts, so lines sharing an interior vertex connect; consecutive
        vertices of a line become edges.
    node_crossings
        Also connect lines where they cross or touch without a shared vertex
        (for hand-drawn data).  Off by default: bridges and overpasses must
        not connect to what they pass over.

    Returns
    -------
    WalkNetwork

    Raises
    ------
    CRSError
        The roads are in a geographic CRS (degrees).
    GeometryError
        A geometry is not a line, a coordinate is not finite, or no usable
        segment is left.
    """
    if not math.isfinite(tolerance_m) or tolerance_m < 0:
        msg = f"`tolerance_m` must be a finite number >= 0 metres, got {tolerance_m!r}"
        raise InputError(msg, field="tolerance_m")
    crs = CRS.from_user_input(roads.crs) if roads.crs is not None else None
    if crs is not None and crs.is_geographic:
        msg = f"layer `roads` must be in a metric CRS to build a walking network, got {crs.name}"
        raise CRSError(msg, field="roads")

    geoms = np.asarray(roads.geometry.array if hasattr(roads, "geometry") else roads, dtype=object)
    n_lines = len(geoms)
    missing = shapely.is_missing(geoms)
    geoms = geoms.copy()
    geoms[missing] = None
    empty = missing | shapely.is_empty(geoms)
    types = shapely.get_type_id(geoms)
    bad = ~empty & ~np.isin(types, _LINE_TYPES)
    if bad.any():
        kinds = sorted({_TYPE_NAMES.get(int(t), str(t)) for t in types[bad]})
        msg = (
            f"layer `roads` has {int(bad.sum())} geometries that are not lines "
            f"({', '.join(kinds)}); first at row {int(np.flatnonzero(bad)[0])}"
        )
        raise GeometryError(msg, field="roads")

    if (types == 5).any():  # MultiLineStrings: one part each, same row
        parts, part_row = shapely.get_parts(geoms[~empty], return_index=True)
        part_row = np.flatnonzero(~empty)[part_row]
    else:
        parts, part_row = geoms[~empty], np.flatnonzero(~empty)
    coords, vidx = shapely.get_coordinates(parts, return_index=True)
    if not np.isfinite(coords).all():
        msg = "layer `roads` has coordinates that are not finite numbers"
        raise GeometryError(msg, field="roads")
    start = np.flatnonzero(vidx[1:] == vidx[:-1])
    a = coords[start]
    b = coords[start + 1]
    row = part_row[vidx[start]]
    n_segments = len(start)

    n_noded = 0
    if node_crossings and n_segments:
        a, b, row, n_noded = _split_at_crossings(a, b, row, tolerance_m)

    nodes_xy, ends, n_merged = _merge_vertices(np.concatenate([a, b]), tolerance_m)
    u_all, v_all = ends[: len(a)], ends[len(a) :]

    zero = u_all == v_all
    lo = np.minimum(u_all, v_all).astype(np.int64)
    hi = np.maximum(u_all, v_all).astype(np.int64)
    key = lo * max(len(nodes_xy), 1) + hi
    keep = np.flatnonzero(~zero)
    _, first = np.unique(key[keep], return_index=True)
    keep = np.sort(keep[first])
    n_dupes = int((~zero).sum()) - len(keep)

    if len(keep) == 0:
        msg = "layer `roads` has no walkable line with a non-zero length to build a network from"
        raise GeometryError(msg, field="roads")

    u = u_all[keep].astype(np.int64)
    v = v_all[keep].astype(np.int64)
    # drop nodes that only belonged to dropped zero-length edges
    used = np.zeros(len(nodes_xy), dtype=bool)
    used[u] = True
    used[v] = True
    if not used.all():
        remap = np.cumsum(used) - 1
        nodes_xy = nodes_xy[used]
        u, v = remap[u], remap[v]
    n = len(nodes_xy)

    pu, pv = nodes_xy[u], nodes_xy[v]
    length = np.hypot(*(pv - pu).T)
    geometry = shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING,
        np.stack([pu, pv], axis=1).reshape(-1, 2),
        (np.arange(len(u) + 1, dtype=np.int64) * 2,),
    )
    idx_dtype = np.int32 if n < 2**31 - 1 else np.int64
    adjacency = sp.csr_matrix(
        (
            np.concatenate([length, length]),
            (np.concatenate([u, v]).astype(idx_dtype), np.concatenate([v, u]).astype(idx_dtype)),
        ),
        shape=(n, n),
    )
    _, component = connected_components(adjacency, directed=False)
    report = {
        "lines": n_lines,
        "empty": int(empty.sum()),
        "segments": n_segments,
        "zero_length": int(zero.sum()),
        "duplicates": n_dupes,
        "merged_vertices": n_merged,
        "crossings_noded": n_noded,
    }
    return WalkNetwork(
        crs=crs,
        nodes_xy=nodes_xy,
        u=u,
        v=v,
        length_m=length,
        road=row[keep].astype(np.int64),
        geometry=geometry,
        adjacency=adjacency,
        tree=shapely.STRtree(geometry),
        component=component.astype(np.int32),
        report=MappingProxyType(report),
    )


def _merge_vertices(pts: np.ndarray, tolerance_m: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Collapse vertices into nodes.

    Returns the node coordinates, the node of each input point and how many
    distinct positions were merged into another one by the tolerance.
    """
    c = np.ascontiguousarray(pts, dtype=np.float64) + 0.0  # +0.0 turns -0.0 into 0.0
    uniq, inv = np.unique(c.view(np.complex128).ravel(), return_inverse=True)
    nodes = np.column_stack([uniq.real, uniq.imag])
    n_merged = 0
    if tolerance_m > 0 and len(nodes) > 1:
        pairs = cKDTree(nodes).query_pairs(tolerance_m, output_type="ndarray")
        if len(pairs):
            g = sp.coo_matrix(
                (np.ones(len(pairs), dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
                shape=(len(nodes), len(nodes)),
            )
            _, lab = connected_components(g, directed=False)
            # representative: the first (lowest, lexicographic) position of each group
            first = np.full(lab.max() + 1, len(nodes), dtype=np.int64)
            np.minimum.at(first, lab, np.arange(len(nodes)))
            n_merged = len(nodes) - len(first)
            nodes = nodes[first]
            inv = lab[inv]
    return nodes, inv.astype(np.int64), n_merged


def _segment_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``i < j`` of segments whose envelopes intersect."""
    segs = shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING,
        np.stack([a, b], axis=1).reshape(-1, 2),
        (np.arange(len(a) + 1, dtype=np.int64) * 2,),
    )
    i, j = shapely.STRtree(segs).query(segs)
    keep = i < j
    return i[keep], j[keep]


def _cross2(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return p[:, 0] * q[:, 1] - p[:, 1] * q[:, 0]


def _interior_contacts(
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
    den = _cross2(r, w)
    eps = 1e-12 * np.maximum(lr * lw, 1e-300)
    proper = np.abs(den) > eps
    with np.errstate(divide="ignore", invalid="ignore"):
        t = _cross2(q, w) / den
        s = _cross2(q, r) / den
    # crossings and T-junctions
    tol_t = tol / np.maximum(lr, 1e-300)
    tol_s = tol / np.maximum(lw, 1e-300)
    hit = proper & (t >= -tol_t) & (t <= 1 + tol_t) & (s >= -tol_s) & (s <= 1 + tol_s)
    seg_out = [i[hit & (t > tol_t) & (t < 1 - tol_t)], j[hit & (s > tol_s) & (s < 1 - tol_s)]]
    t_out = [t[hit & (t > tol_t) & (t < 1 - tol_t)], s[hit & (s > tol_s) & (s < 1 - tol_s)]]
    # collinear overlaps: project each end of one segment on the other
    col = ~proper & (np.abs(_cross2(q, r)) <= tol * np.maximum(lr, 1e-300))
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


def _split_at_crossings(
    a: np.ndarray, b: np.ndarray, row: np.ndarray, tol: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Split segments where other segments cross or touch their interior."""
    i, j = _segment_pairs(a, b)
    seg, t = _interior_contacts(a, b, i, j, max(tol, 1e-9))
    if len(seg) == 0:
        return a, b, row, 0
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
    return na, nb, row[s0], len(np.unique(seg))


def _nonplanar_edges(net: WalkNetwork) -> np.ndarray:
    """Edges that cross, touch or overlap another edge away from shared nodes (cached)."""
    if "nonplanar" not in net._cache:
        a, b = net.nodes_xy[net.u], net.nodes_xy[net.v]
        i, j = net.tree.query(net.geometry)
        keep = i < j
        i, j = i[keep], j[keep]
        # crossings, T-junctions without a node and collinear overlaps
        seg, _ = _interior_contacts(a, b, i, j, 1e-6)
        flag = np.zeros(net.n_edges, dtype=bool)
        flag[seg] = True
        net._cache["nonplanar"] = flag
    return net._cache["nonplanar"]


# ---------------------------------------------------------------------------
# attaching points
# ---------------------------------------------------------------------------


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
    pts = _as_xy(xy, "xy")
    max_snap_m = _positive_metres(max_snap_m, "max_snap_m")
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
        diag = np.stack([p - r, p + r], axis=1).reshape(-1, 2)
        probes = shapely.from_ragged_array(
            shapely.GeometryType.LINESTRING, diag, (np.arange(len(p) + 1, dtype=np.int64) * 2,)
        )
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


# ---------------------------------------------------------------------------
# multi-source shortest paths
# ---------------------------------------------------------------------------


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


def _multi_source(
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


def _target_distances(
    net: WalkNetwork,
    dist: np.ndarray,
    which: np.ndarray,
    src: Attachment,
    s_idx: np.ndarray,
    tgt: Attachment,
    t_idx: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Walking metres from the nearest source to each target of ``t_idx``.

    ``dist``/``which`` come from :func:`_multi_source` over the sources
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
class NetworkCoverage:
    """Walking coverage of targets (compounds) by sources (centres).

    Attributes
    ----------
    nearest
        ``(n,)`` index of the nearest source by walking distance, ``-1`` if
        none is reachable at all.
    dist_m
        ``(n,)`` walking metres to it, both access legs included; ``inf`` if none.
    covered
        ``(n,)`` some source ``i`` reaches the target within ``limit_m[i]``.
    covering
        ``(n,)`` the nearest source among those that cover it, ``-1`` if uncovered.
    covering_dist_m
        ``(n,)`` walking metres to ``covering``; ``inf`` if uncovered.
    reason
        ``(n,)`` object array: ``""`` (reachable, covered or not),
        ``"far_from_road"`` (no edge within ``max_snap_m``), ``"disconnected"``
        (attached to a piece of network no source is attached to),
        ``"no_sources"`` (no source is attached to the network at all).
    source_reason
        ``(s,)`` object array per source: ``""`` or ``"far_from_road"``.
    """

    nearest: np.ndarray
    dist_m: np.ndarray
    covered: np.ndarray
    covering: np.ndarray
    covering_dist_m: np.ndarray
    reason: np.ndarray
    source_reason: np.ndarray


def walk_coverage(
    net: WalkNetwork,
    sources_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    limit_m: np.ndarray | float,
    max_snap_m: float = 300.0,
) -> NetworkCoverage:
    """Coverage of targets by sources walking on the network.

    A walk goes from the target straight to the nearest point of the nearest
    edge, along edges, and straight from the source's edge to the source.
    One unlimited multi-source Dijkstra pass over all sources gives every
    target its nearest source; targets the nearest source does not cover get
    one more multi-source pass per distinct limit that could still cover
    them (few levels), cut off at that limit.

    Parameters
    ----------
    net
        The network.
    sources_xy
        ``(s, 2)`` source (centre) coordinates, metres, in the network's CRS.
    targets_xy
        ``(n, 2)`` target (compound access point) coordinates, same CRS.
    limit_m
        Walking limit in metres, one for all or ``(s,)`` per source (e.g. a
        compound-level centre 333 m, a community centre 1000 m).
    max_snap_m
        Longest straight access leg in metres.

    Returns
    -------
    NetworkCoverage
    """
    s_xy = _as_xy(sources_xy, "sources_xy")
    t_xy = _as_xy(targets_xy, "targets_xy")
    n_s, n_t = len(s_xy), len(t_xy)
    limits = _as_limits(limit_m, n_s)
    both = attach_points(net, np.concatenate([s_xy, t_xy]), max_snap_m=max_snap_m)
    src, tgt = _split_attachment(both, n_s)

    nearest = np.full(n_t, -1, dtype=np.int64)
    dist = np.full(n_t, np.inf)
    covering = np.full(n_t, -1, dtype=np.int64)
    cov_dist = np.full(n_t, np.inf)
    reason = tgt.reason.copy()

    s_idx = np.flatnonzero(src.attached)
    t_idx = np.flatnonzero(tgt.attached)
    if len(s_idx) == 0:
        reason[t_idx] = REASON_NO_SOURCES
    elif len(t_idx):
        d_all, w_all = _multi_source(net, src.edge[s_idx], src.along_m[s_idx], src.offset_m[s_idx], np.inf)
        best, who = _target_distances(net, d_all, w_all, src, s_idx, tgt, t_idx)
        nearest[t_idx], dist[t_idx] = who, best
        reason[t_idx[who < 0]] = REASON_DISCONNECTED

        ok = who >= 0
        cov = np.zeros(len(t_idx), dtype=bool)
        cov[ok] = best[ok] <= limits[who[ok]]
        covering[t_idx[cov]] = who[cov]
        cov_dist[t_idx[cov]] = best[cov]

        levels = np.unique(limits[s_idx])
        if len(levels) > 1:
            for level in levels:
                open_ = t_idx[ok & ~cov & (best <= level)]
                if len(open_) == 0:
                    continue
                g = s_idx[limits[s_idx] == level]
                d_g, w_g = _multi_source(net, src.edge[g], src.along_m[g], src.offset_m[g], level)
                bg, wg = _target_distances(net, d_g, w_g, src, g, tgt, open_)
                hit = (wg >= 0) & (bg <= level) & (bg < cov_dist[open_])
                covering[open_[hit]] = wg[hit]
                cov_dist[open_[hit]] = bg[hit]
    return NetworkCoverage(
        nearest=nearest,
        dist_m=dist,
        covered=covering >= 0,
        covering=covering,
        covering_dist_m=cov_dist,
        reason=reason,
        source_reason=src.reason,
    )


# ---------------------------------------------------------------------------
# per-source searches on local subgraphs
# ---------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _LocalBlock:
    """Distances from a few sources over the subgraph around them."""

    sources: np.ndarray  # (k,) positions into the source arrays
    edges: np.ndarray  # (me,) global edge ids of the subgraph
    lu: np.ndarray  # (me,) local node index of u
    lv: np.ndarray  # (me,) local node index of v
    nodes: np.ndarray  # (nl,) global node ids
    dist: np.ndarray  # (k, nl) walking metres, inf beyond the limit


def _local_searches(
    net: WalkNetwork, s_xy: np.ndarray, src: Attachment, s_idx: np.ndarray, limit: float
) -> Iterator[_LocalBlock]:
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
        per = max(1, _MAX_BLOCK_CELLS // max(nl, 1))
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
            yield _LocalBlock(sources=chunk, edges=edges, lu=lu, lv=lv, nodes=nodes, dist=d[:, :nl])


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
    s_xy = _as_xy(sources_xy, "sources_xy")
    t_xy = _as_xy(targets_xy, "targets_xy")
    limit = float(_as_limits(limit_m, 1)[0])
    n_s, n_t = len(s_xy), len(t_xy)
    both = attach_points(net, np.concatenate([s_xy, t_xy]), max_snap_m=max_snap_m)
    src, tgt = _split_attachment(both, n_s)
    s_idx = np.flatnonzero(src.attached & (src.offset_m <= limit))
    t_att = np.flatnonzero(tgt.attached & (tgt.offset_m <= limit))
    t_order = t_att[np.argsort(tgt.edge[t_att], kind="stable")]
    t_edges_sorted = tgt.edge[t_order]
    rows_out: list[np.ndarray] = []
    cols_out: list[np.ndarray] = []
    vals_out: list[np.ndarray] = []
    for blk in _local_searches(net, s_xy, src, s_idx, limit):
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
        per = max(1, _MAX_BLOCK_CELLS // len(tt))  # rows per dense (sources x targets) block
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


# ---------------------------------------------------------------------------
# service areas
# ---------------------------------------------------------------------------


def service_areas(
    net: WalkNetwork,
    sources_xy: np.ndarray,
    *,
    limits_m: Sequence[float] | np.ndarray | float,
    buffer_m: float = 50.0,
    max_snap_m: float = 300.0,
    quad_segs: int = 4,
    workers: int | None = None,
) -> gpd.GeoDataFrame:
    """Network service areas: the walkable network within each limit, buffered.

    For each source and each limit, the network reachable within the limit
    (whole edges, the reached part of partly reached edges and the source's
    own access leg), buffered by ``buffer_m`` and unioned.  Holes stay where
    the network has them; this is not a hull.  Areas of nested limits nest.

    The buffer of the whole edges is built face by face: the faces the
    reached edges enclose are unioned (a coverage union), grown by the buffer
    and emptied of each face shrunk by the buffer; loose lines (dead ends,
    partly reached edges, legs, edges crossing without a node) are buffered
    one by one and added.  This equals the union of the lines' buffers and
    costs a fraction of it.

    Parameters
    ----------
    net
        The network.
    sources_xy
        ``(s, 2)`` source (centre) coordinates, metres.
    limits_m
        One or more walking limits in metres (e.g. ``[333, 667, 1000]`` for 5,
        10 and 15 minutes at 4 km/h).
    buffer_m
        Buffer around the reached lines, metres (> 0).
    max_snap_m
        Longest straight access leg in metres.
    quad_segs
        Segments per quarter circle of the buffer's round ends.
    workers
        Threads for the polygon work (shapely releases the GIL); default:
        the number of CPUs, at most 4.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per source and limit, ordered by source then limit:
        ``source`` (position in ``sources_xy``), ``limit_m``, ``reason``
        (``""`` or ``"far_from_road"``), ``geometry`` (Polygon or
        MultiPolygon, empty when nothing is reached), CRS of the network.
    """
    s_xy = _as_xy(sources_xy, "sources_xy")
    lims = _as_limit_list(limits_m)
    _positive_metres(buffer_m, "buffer_m")
    n_s, n_l = len(s_xy), len(lims)
    src = attach_points(net, s_xy, max_snap_m=max_snap_m)
    s_idx = np.flatnonzero(src.attached)

    full_area: list[np.ndarray] = []
    full_edge: list[np.ndarray] = []
    piece_area: list[np.ndarray] = []
    piece_xy: list[np.ndarray] = []
    nodes_xy = net.nodes_xy

    for blk in _local_searches(net, s_xy, src, s_idx, float(lims[-1])):
        length = net.length_m[blk.edges]
        pu = nodes_xy[net.u[blk.edges]]
        pv = nodes_xy[net.v[blk.edges]]
        unit = (pv - pu) / length[:, None]
        du = blk.dist[:, blk.lu]
        dv = blk.dist[:, blk.lv]
        for li, lim in enumerate(lims):
            ru = np.maximum(lim - du, 0.0)
            rv = np.maximum(lim - dv, 0.0)
            full = (ru + rv >= length) & ((ru > 0) | (rv > 0))
            si, ei = np.nonzero(full)
            full_area.append(blk.sources[si] * n_l + li)
            full_edge.append(blk.edges[ei])
            for rem, start, sign in ((ru, pu, 1.0), (rv, pv, -1.0)):
                si, ei = np.nonzero((rem > 0) & ~full)
                p0 = start[ei]
                p1 = p0 + sign * unit[ei] * rem[si, ei][:, None]
                piece_area.append(blk.sources[si] * n_l + li)
                piece_xy.append(np.stack([p0, p1], axis=1))

    for li, lim in enumerate(lims):
        owner, seg = _own_pieces(net, s_xy, src, s_idx, float(lim))
        piece_area.append(owner * n_l + li)
        piece_xy.append(seg)

    fa = np.concatenate(full_area) if full_area else np.zeros(0, np.int64)
    fe = np.concatenate(full_edge) if full_edge else np.zeros(0, np.int64)
    pa = np.concatenate(piece_area) if piece_area else np.zeros(0, np.int64)
    pxy = np.concatenate(piece_xy) if piece_xy else np.zeros((0, 2, 2))
    fo = np.argsort(fa, kind="stable")
    fa, fe = fa[fo], fe[fo]
    po = np.argsort(pa, kind="stable")
    pa, pxy = pa[po], pxy[po]
    pa = pa[np.hypot(*(pxy[:, 1] - pxy[:, 0]).T) > 0]
    pieces = _segments_to_lines(pxy)
    nonplanar = _nonplanar_edges(net)

    n_areas = n_s * n_l
    f_bounds = np.searchsorted(fa, np.arange(n_areas + 1))
    p_bounds = np.searchsorted(pa, np.arange(n_areas + 1))
    out = np.empty(n_areas, dtype=object)

    def work(ids: np.ndarray) -> None:
        for i in ids:
            edges = fe[f_bounds[i] : f_bounds[i + 1]]
            loose = pieces[p_bounds[i] : p_bounds[i + 1]]
            out[i] = _buffer_network(net, edges, nonplanar, loose, buffer_m, quad_segs)

    n_workers = workers or min(4, os.cpu_count() or 1)
    batches = [b for b in np.array_split(np.arange(n_areas), max(1, n_workers * 8)) if len(b)]
    if n_workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(max_workers=n_workers) as ex:
            list(ex.map(work, batches))
    else:
        for b in batches:
            work(b)
    empty = shapely.from_wkt("POLYGON EMPTY")
    out[[g is None for g in out]] = empty
    return gpd.GeoDataFrame(
        {
            "source": np.repeat(np.arange(n_s), n_l),
            "limit_m": np.tile(lims, n_s),
            "reason": np.repeat(src.reason, n_l),
        },
        geometry=gpd.GeoSeries(out, crs=net.crs),
        crs=net.crs,
    )


def _own_pieces(
    net: WalkNetwork, s_xy: np.ndarray, src: Attachment, s_idx: np.ndarray, limit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reached pieces of each source's own edge (direct, both ways) and of its access leg.

    Returns ``(owner, seg)``: the source of each piece and ``(p, 2, 2)`` end points.
    """
    e, a, o = src.edge[s_idx], src.along_m[s_idx], src.offset_m[s_idx]
    pu, pv = net.nodes_xy[net.u[e]], net.nodes_xy[net.v[e]]
    length = net.length_m[e]
    unit = (pv - pu) / length[:, None]
    rem = limit - o
    on = rem > 0
    t0 = np.clip(a - rem, 0.0, length)[on]
    t1 = np.clip(a + rem, 0.0, length)[on]
    edge_seg = np.stack([pu[on] + unit[on] * t0[:, None], pu[on] + unit[on] * t1[:, None]], 1)
    leg = o > 0
    frac = np.minimum(1.0, limit / np.where(leg, o, 1.0))[leg]
    p0 = s_xy[s_idx[leg]]
    p1 = p0 + (src.snapped_xy[s_idx[leg]] - p0) * frac[:, None]
    return (
        np.concatenate([s_idx[on], s_idx[leg]]),
        np.concatenate([edge_seg, np.stack([p0, p1], axis=1)]),
    )


def _segments_to_lines(seg: np.ndarray) -> np.ndarray:
    """``(p, 2, 2)`` end points to LineStrings, dropping zero-length ones."""
    seg = seg[np.hypot(*(seg[:, 1] - seg[:, 0]).T) > 0]
    return shapely.from_ragged_array(
        shapely.GeometryType.LINESTRING,
        seg.reshape(-1, 2),
        (np.arange(len(seg) + 1, dtype=np.int64) * 2,),
    )


def group_service_areas(
    net: WalkNetwork,
    sources_xy: np.ndarray,
    groups: Sequence[Any] | np.ndarray,
    *,
    limits_m: Sequence[float] | np.ndarray | float,
    buffer_m: float = 50.0,
    max_snap_m: float = 300.0,
    quad_segs: int = 4,
    workers: int | None = None,
) -> gpd.GeoDataFrame:
    """The union of the service areas of each group of sources (e.g. per level).

    Equal to unioning :func:`service_areas` per group and limit, but built
    straight from one multi-source Dijkstra pass per group: a point of the
    network is in the union when its nearest source of the group is within
    the limit.  Much faster than a polygon union of hundreds of areas.

    Parameters
    ----------
    net
        The network.
    sources_xy
        ``(s, 2)`` source coordinates, metres.
    groups
        ``(s,)`` group label of each source (e.g. the centre level).
    limits_m
        One or more walking limits in metres.
    buffer_m
        Buffer around the reached lines, metres (> 0).
    max_snap_m
        Longest straight access leg in metres.
    quad_segs
        Segments per quarter circle of the buffer's round ends.
    workers
        Threads for the polygon work; default: the number of CPUs, at most 4.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``group``, ``limit_m``, ``geometry`` (empty polygon when no
        source of the group is attached); one row per group and limit,
        ordered by group then limit; CRS of the network.
    """
    s_xy = _as_xy(sources_xy, "sources_xy")
    lims = _as_limit_list(limits_m)
    _positive_metres(buffer_m, "buffer_m")
    labels = np.asarray(groups, dtype=object)
    if labels.shape != (len(s_xy),):
        msg = f"`groups` must give one label per source ({len(s_xy)}), got shape {labels.shape}"
        raise InputError(msg, field="groups")
    src = attach_points(net, s_xy, max_snap_m=max_snap_m)
    nonplanar = _nonplanar_edges(net)
    pu, pv = net.nodes_xy[net.u], net.nodes_xy[net.v]
    unit = (pv - pu) / net.length_m[:, None]
    out_g, out_l, out_geom = [], [], []
    for g in _sorted_unique(labels):
        idx = np.flatnonzero((labels == g) & src.attached)
        dist, _ = _multi_source(net, src.edge[idx], src.along_m[idx], src.offset_m[idx], float(lims[-1]))
        du, dv = dist[net.u], dist[net.v]
        for lim in lims:
            ru = np.maximum(lim - du, 0.0)
            rv = np.maximum(lim - dv, 0.0)
            full = (ru + rv >= net.length_m) & ((ru > 0) | (rv > 0))
            segs = []
            for rem, start, sign in ((ru, pu, 1.0), (rv, pv, -1.0)):
                e = np.flatnonzero((rem > 0) & ~full)
                p0 = start[e]
                segs.append(np.stack([p0, p0 + sign * unit[e] * rem[e][:, None]], axis=1))
            segs.append(_own_pieces(net, s_xy, src, idx, float(lim))[1])
            loose = _segments_to_lines(np.concatenate(segs))
            geom = _buffer_network_tiled(
                net, np.flatnonzero(full), nonplanar, loose, buffer_m, quad_segs, workers=workers
            )
            out_g.append(g)
            out_l.append(float(lim))
            out_geom.append(geom if geom is not None else shapely.Polygon())
    return gpd.GeoDataFrame({"group": out_g, "limit_m": out_l}, geometry=out_geom, crs=net.crs)


def _sorted_unique(labels: np.ndarray) -> list[Any]:
    try:
        return sorted(set(labels.tolist()))
    except TypeError:  # mixed label types
        return list(dict.fromkeys(labels.tolist()))


def _as_limit_list(limits_m: Any) -> np.ndarray:
    lims = np.unique(np.atleast_1d(np.asarray(limits_m, dtype=np.float64)))
    if lims.size == 0 or not np.all(np.isfinite(lims)) or (lims < 0).any():
        msg = f"`limits_m` must be finite walking distances >= 0 metres, got {limits_m!r}"
        raise InputError(msg, field="limits_m")
    return lims


def _positive_metres(value: float, field: str) -> float:
    """``value`` as a float; :class:`InputError` naming ``field`` unless it is a positive, finite length."""
    if not (math.isfinite(value) and value > 0):
        msg = f"`{field}` must be a positive number of metres, got {value!r}"
        raise InputError(msg, field=field)
    return float(value)


def _buffer_network(
    net: WalkNetwork,
    edges: np.ndarray,
    nonplanar: np.ndarray,
    loose: np.ndarray,
    buffer_m: float,
    quad_segs: int,
) -> shapely.Geometry | None:
    """Union of the buffers of whole edges and loose lines (see :func:`service_areas`)."""
    parts: list[shapely.Geometry] = []
    lines = list(loose)
    if len(edges):
        planar = edges[~nonplanar[edges]]
        lines.extend(net.geometry[edges[nonplanar[edges]]])
        if len(planar):
            polys, cuts, dangles, invalid = shapely.polygonize_full(net.geometry[planar])
            faces = shapely.get_parts(polys)
            if len(faces):
                outer = shapely.buffer(shapely.coverage_union_all(faces), buffer_m, quad_segs=quad_segs)
                holes = shapely.buffer(faces, -buffer_m, quad_segs=quad_segs)
                holes = holes[~shapely.is_empty(holes)]
                if len(holes):
                    outer = shapely.difference(outer, shapely.multipolygons(shapely.get_parts(holes)))
                parts.append(outer)
            for rest in (cuts, dangles, invalid):
                lines.extend(shapely.get_parts(rest))
    if lines:
        merged = shapely.get_parts(shapely.line_merge(shapely.multilinestrings(lines)))
        caps = shapely.buffer(merged, buffer_m, quad_segs=quad_segs)
        if parts and len(caps) > 16:
            # capsules inside the face-built polygon add nothing; skip them in the union
            shapely.prepare(parts[0])
            caps = caps[~shapely.contains_properly(parts[0], caps)]
        parts.extend(caps)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return shapely.union_all(parts)


#: Side of the square tiles a large network buffer is built in, metres.
_TILE_M = 3000.0


def _buffer_network_tiled(
    net: WalkNetwork,
    edges: np.ndarray,
    nonplanar: np.ndarray,
    loose: np.ndarray,
    buffer_m: float,
    quad_segs: int,
    *,
    workers: int | None = None,
) -> shapely.Geometry | None:
    """:func:`_buffer_network` for large line sets, tile by tile.

    Inside a tile the buffer only depends on the lines within ``buffer_m`` of
    it, so each tile is built from the lines meeting the tile grown by the
    buffer, clipped to the tile, and the clipped pieces are unioned.  Small
    inputs go straight to :func:`_buffer_network`.
    """
    if len(edges) + len(loose) <= 4000:
        return _buffer_network(net, edges, nonplanar, loose, buffer_m, quad_segs)
    lines = np.concatenate([net.geometry[edges], loose])
    b = shapely.bounds(lines)
    x0, y0 = b[:, 0].min(), b[:, 1].min()
    nx_ = max(1, int(math.ceil((b[:, 2].max() - x0) / _TILE_M)))
    ny_ = max(1, int(math.ceil((b[:, 3].max() - y0) / _TILE_M)))
    gx, gy = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="ij")
    ix, iy = gx.ravel(), gy.ravel()
    tiles = shapely.box(x0 + ix * _TILE_M, y0 + iy * _TILE_M, x0 + (ix + 1) * _TILE_M, y0 + (iy + 1) * _TILE_M)
    grown = shapely.buffer(tiles, buffer_m * 1.01 + 1e-6, join_style="mitre")
    ti, li = shapely.STRtree(lines).query(grown)
    starts = np.searchsorted(ti, np.arange(len(tiles) + 1))
    ne = len(edges)
    pieces = np.empty(len(tiles), dtype=object)

    def work(ids: np.ndarray) -> None:
        for t in ids:
            sel = li[starts[t] : starts[t + 1]]
            if len(sel) == 0:
                continue
            geom = _buffer_network(net, edges[sel[sel < ne]], nonplanar, lines[sel[sel >= ne]], buffer_m, quad_segs)
            if geom is not None:
                pieces[t] = shapely.intersection(geom, tiles[t])

    n_workers = workers or min(4, os.cpu_count() or 1)
    batches = [x for x in np.array_split(np.arange(len(tiles)), max(1, n_workers * 4)) if len(x)]
    if n_workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(max_workers=n_workers) as ex:
            list(ex.map(work, batches))
    else:
        for x in batches:
            work(x)
    parts = pieces[[p is not None and not p.is_empty for p in pieces]]
    if len(parts) == 0:
        return None
    return shapely.union_all(parts)


def union_service_areas(areas: gpd.GeoDataFrame, by: Sequence[Any] | np.ndarray | str) -> gpd.GeoDataFrame:
    """Union service areas per group of sources and limit (e.g. per centre level).

    Parameters
    ----------
    areas
        The result of :func:`service_areas` (columns ``source``, ``limit_m``).
    by
        The group of each source, indexed by source position (a sequence as
        long as the sources given to :func:`service_areas`), or the name of
        a column of ``areas``.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``group``, ``limit_m``, ``geometry``; one row per group and
        limit, same CRS.
    """
    if isinstance(by, str):
        if by not in areas.columns:
            msg = f"`by` names no column of the service areas: {by!r}"
            raise InputError(msg, field="by")
        groups = areas[by].to_numpy()
    else:
        per_source = np.asarray(by, dtype=object)
        src = areas["source"].to_numpy()
        if len(src) and src.max() >= len(per_source):
            msg = f"`by` has {len(per_source)} entries but the areas name source {int(src.max())}"
            raise InputError(msg, field="by")
        groups = per_source[src]
    frame = gpd.GeoDataFrame(
        {"group": groups, "limit_m": areas["limit_m"].to_numpy()},
        geometry=areas.geometry.values,
        crs=areas.crs,
    )
    rows = []
    for (g, lim), sub in frame.groupby(["group", "limit_m"], sort=True):
        geom = shapely.union_all(sub.geometry.values)
        rows.append((g, lim, geom))
    return gpd.GeoDataFrame(
        {"group": [r[0] for r in rows], "limit_m": [r[1] for r in rows]},
        geometry=[r[2] for r in rows],
        crs=areas.crs,
    )


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _as_xy(xy: Any, name: str) -> np.ndarray:
    arr = np.asarray(xy, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        msg = f"`{name}` must be an array of shape (k, 2) in metres, got shape {arr.shape}"
        raise InputError(msg, field=name)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        msg = f"`{name}` has {int(bad.sum())} points without finite coordinates (first: row {int(np.flatnonzero(bad)[0])})"
        raise InputError(msg, field=name)
    return arr


def _as_limits(limit_m: Any, n: int) -> np.ndarray:
    lim = np.asarray(limit_m, dtype=np.float64)
    if lim.ndim == 0:
        lim = np.full(n, float(lim))
    if lim.shape != (n,):
        msg = f"`limit_m` must be one number or one per source ({n}), got shape {lim.shape}"
        raise InputError(msg, field="limit_m")
    if np.isnan(lim).any() or (lim < 0).any():
        msg = "`limit_m` must be walking distances >= 0 metres"
        raise InputError(msg, field="limit_m")
    return lim




def _split_attachment(att: Attachment, k: int) -> tuple[Attachment, Attachment]:
    def part(sl: slice) -> Attachment:
        return Attachment(
            edge=att.edge[sl],
            along_m=att.along_m[sl],
            offset_m=att.offset_m[sl],
            reason=att.reason[sl],
            snapped_xy=att.snapped_xy[sl],
        )

    return part(slice(0, k)), part(slice(k, None))
