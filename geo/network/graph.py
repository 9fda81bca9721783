"""The walking network: its type and how it is built from road lines.

The network is the ``roads`` layer cut into straight segments between
consecutive vertices and split at its junctions: every vertex is a node
(vertices closer than a tolerance are one node), every segment an undirected
edge weighted by its length in metres.  Roads connect where they share a
vertex, where one ends on another and where they cross on the same level; a
bridge, a tunnel or another ``layer`` crosses without a junction
(:mod:`geo.network.junctions`).  Everything is in a metric projected CRS
(metres).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import geopandas as gpd
import numpy as np
import scipy.sparse as sp
import shapely
from pyproj import CRS
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from geo.errors import CRSError, GeometryError, InputError
from geo.network.junctions import JunctionCounts, noded_segments
from geo.network.segments import segment_lines

__all__ = ["WalkNetwork", "build_walk_network"]


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
        ``zero_length``, ``duplicates``, ``merged_vertices``,
        ``junctions_added`` and the crossings kept apart,
        ``apart_bridge``, ``apart_tunnel``, ``apart_layer``.
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

    @property
    def largest_piece_share(self) -> float:
        """Share (0-1) of the road length in the largest connected piece; 1.0 for an empty network."""
        if not self.n_edges:
            return 1.0
        per_piece = np.bincount(self.component[self.u], weights=self.length_m)
        return float(per_piece.max() / per_piece.sum())

    @property
    def junctions(self) -> JunctionCounts:
        """Junctions added and crossings kept apart by the build."""
        r = self.report
        return JunctionCounts(
            added=r["junctions_added"], bridge=r["apart_bridge"], tunnel=r["apart_tunnel"], layer=r["apart_layer"]
        )

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
    junctions: bool = True,
) -> WalkNetwork:
    """Build the walking network from road lines in a metric CRS.

    Parameters
    ----------
    roads
        (Multi)LineStrings in a projected CRS (metres), already filtered to
        the walkable ones; a frame's ``bridge``, ``tunnel`` and ``layer``
        columns say which crossings stay apart
        (:func:`geo.network.junctions.road_levels`).  Empty and missing
        geometries are skipped and counted in ``report["empty"]``.
    tolerance_m
        Vertices closer than this (metres) become one node.  Every vertex of a
        line counts, so lines sharing an interior vertex connect; consecutive
        vertices of a line become edges.  A line ending within this of
        another road ends on it (a T-junction).
    junctions
        Connect roads where one ends on another and where they cross on the
        same level (the default, for every source).  ``False``: only shared
        vertices connect (for segments already split, as the tiles of
        :mod:`geo.network.partition` get them).

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

    noded = noded_segments(roads, tolerance_m=tolerance_m, junctions=junctions)
    a, b, row = noded.a, noded.b, noded.row
    seg, found = noded.lines, noded.junctions
    n_segments = len(seg)

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
    geometry = segment_lines(pu, pv)
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
        "lines": seg.n_lines,
        "empty": int(seg.empty.sum()),
        "segments": n_segments,
        "zero_length": int(zero.sum()),
        "duplicates": n_dupes,
        "merged_vertices": n_merged,
        "junctions_added": found.added,
        "apart_bridge": found.bridge,
        "apart_tunnel": found.tunnel,
        "apart_layer": found.layer,
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
