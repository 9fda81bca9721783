"""Buffers of reached network lines: the polygon work behind service areas.

The buffer of whole edges is built face by face: the faces the edges enclose
are unioned (a coverage union), grown by the buffer and emptied of each face
shrunk by the buffer; loose lines (dead ends, partly reached edges, access
legs, edges crossing without a node) are buffered one by one and added.
This equals the union of the lines' buffers and costs a fraction of it.
Large line sets are built tile by tile.  Shapely releases the GIL, so the
work runs in threads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import shapely

from geo.network.contacts import interior_contacts
from geo.network.graph import WalkNetwork
from geo.network.segments import segment_lines

__all__ = ["NetworkBuffer", "in_threads", "nonplanar_edges", "segments_to_lines"]

#: Side of the square tiles a large network buffer is built in, metres.
_TILE_M = 3000.0


def in_threads(work: Callable[[np.ndarray], None], n_items: int, *, workers: int | None, batches_per_worker: int) -> None:
    """Run ``work`` on batches of the item positions ``0 .. n_items - 1``, in threads.

    ``workers`` threads (default: the number of CPUs, at most 4), each given
    about ``batches_per_worker`` batches; one thread runs them in turn.
    """
    n_workers = workers or min(4, os.cpu_count() or 1)
    batches = [b for b in np.array_split(np.arange(n_items), max(1, n_workers * batches_per_worker)) if len(b)]
    if n_workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(max_workers=n_workers) as ex:
            list(ex.map(work, batches))
    else:
        for b in batches:
            work(b)


def nonplanar_edges(net: WalkNetwork) -> np.ndarray:
    """Edges that cross, touch or overlap another edge away from shared nodes (cached)."""
    if "nonplanar" not in net._cache:
        a, b = net.nodes_xy[net.u], net.nodes_xy[net.v]
        i, j = net.tree.query(net.geometry)
        keep = i < j
        i, j = i[keep], j[keep]
        # crossings, T-junctions without a node and collinear overlaps
        seg, _ = interior_contacts(a, b, i, j, 1e-6)
        flag = np.zeros(net.n_edges, dtype=bool)
        flag[seg] = True
        net._cache["nonplanar"] = flag
    return net._cache["nonplanar"]


def segments_to_lines(seg: np.ndarray) -> np.ndarray:
    """``(p, 2, 2)`` end points to LineStrings, dropping zero-length ones."""
    seg = seg[np.hypot(*(seg[:, 1] - seg[:, 0]).T) > 0]
    return segment_lines(seg[:, 0], seg[:, 1])


@dataclass(frozen=True, eq=False)
class NetworkBuffer:
    """How one run buffers reached lines of a network: the network and the buffer's shape.

    Attributes
    ----------
    net
        The network whose whole edges are buffered.
    buffer_m
        Buffer around the lines, metres (> 0).
    quad_segs
        Segments per quarter circle of the buffer's round ends.
    """

    net: WalkNetwork
    buffer_m: float
    quad_segs: int
    nonplanar: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nonplanar", nonplanar_edges(self.net))

    def of(self, edges: np.ndarray, loose: np.ndarray) -> shapely.Geometry | None:
        """Union of the buffers of whole edges and loose lines (see the module docstring); ``None`` for none."""
        net, nonplanar, buffer_m, quad_segs = self.net, self.nonplanar, self.buffer_m, self.quad_segs
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

    def tiled(self, edges: np.ndarray, loose: np.ndarray, *, workers: int | None = None) -> shapely.Geometry | None:
        """:meth:`of` for large line sets, tile by tile.

        Inside a tile the buffer only depends on the lines within ``buffer_m`` of
        it, so each tile is built from the lines meeting the tile grown by the
        buffer, clipped to the tile, and the clipped pieces are unioned.  Small
        inputs go straight to :meth:`of`.
        """
        if len(edges) + len(loose) <= 4000:
            return self.of(edges, loose)
        net, buffer_m = self.net, self.buffer_m
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
                geom = self.of(edges[sel[sel < ne]], lines[sel[sel >= ne]])
                if geom is not None:
                    pieces[t] = shapely.intersection(geom, tiles[t])

        in_threads(work, len(tiles), workers=workers, batches_per_worker=4)
        parts = pieces[[p is not None and not p.is_empty for p in pieces]]
        if len(parts) == 0:
            return None
        return shapely.union_all(parts)
