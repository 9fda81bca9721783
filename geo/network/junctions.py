"""Junctions where road lines meet without a shared vertex, level-aware.

Hand-drawn roads (survey Shapefiles, CAD exports, a planner's GeoJSON) cross
without a shared vertex and end on another road a little short or past it.
:func:`junction_segments` splits the straight segments of the roads where

- one road *ends* on another (a T-junction: a line's first or last vertex
  within the tolerance of the other's interior), whatever their levels: the
  ends of a bridge or a ramp are where it lands;
- two roads *cross* (interior on interior, or an interior vertex of one on
  the interior of the other) on the same level: neither is a bridge or a
  tunnel and both have the same ``layer``.  Other crossings are kept apart
  and counted by reason (``bridge`` before ``tunnel`` before ``layer``).

Roads that share a vertex connect anyway (the vertex merge of
:func:`geo.network.build_walk_network`), which is how OpenStreetMap ways
carry their junctions; on OSM data the step only adds the crossings a mapper
left without a node, and keeps bridges and tunnels apart by their tags.

Candidate pairs come from one STRtree query over the segments' envelopes;
the contact test is the two-segment parametrisation of
:mod:`geo.network.contacts`, on arrays (no loop over pairs).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.network.contacts import cross2, segment_pairs, split_segments
from geo.network.segments import RoadSegments, line_segments

__all__ = ["APART_REASONS", "JunctionCounts", "NodedSegments", "RoadLevels", "junction_segments", "noded_segments", "road_levels", "road_segments"]

#: Why a crossing is kept apart, in the order a reason is given.
APART_REASONS: tuple[str, ...] = ("bridge", "tunnel", "layer")

_TRUE_TEXT = frozenset({"true", "1", "yes", "y", "t", "是", "有", "√", "viaduct", "aqueduct", "boardwalk",
                        "building_passage", "culvert", "covered", "cantilever", "movable", "suspension"})


@dataclass(frozen=True, eq=False)
class RoadLevels:
    """The level of each road row: ``bridge`` / ``tunnel`` flags and the ``layer`` number (0 on the ground)."""

    bridge: np.ndarray
    tunnel: np.ndarray
    layer: np.ndarray

    @classmethod
    def ground(cls, n: int) -> RoadLevels:
        """``n`` roads on the ground (no bridge, no tunnel, layer 0)."""
        return cls(np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int64))


@dataclass(frozen=True)
class JunctionCounts:
    """What the junction step did: junction points added and crossings kept apart per reason."""

    added: int = 0
    bridge: int = 0
    tunnel: int = 0
    layer: int = 0

    @property
    def kept_apart(self) -> int:
        """Crossings kept apart, all reasons."""
        return self.bridge + self.tunnel + self.layer


def _flag(values: pd.Series) -> np.ndarray:
    if values.dtype == bool:
        return values.to_numpy(dtype=bool)
    text = values.astype("string").fillna("").str.strip().str.lower()
    return text.isin(_TRUE_TEXT).to_numpy(dtype=bool)


def road_levels(roads: gpd.GeoDataFrame | gpd.GeoSeries | np.ndarray) -> RoadLevels:
    """The levels of road rows from their ``bridge``, ``tunnel`` and ``layer`` columns.

    Missing columns mean the ground; ``bridge`` / ``tunnel`` accept booleans
    and yes/no text (是/否, OSM values such as ``viaduct`` or
    ``building_passage``); ``layer`` is a whole number, blank or unreadable
    values are 0.  A series or an array of geometries is all on the ground.
    """
    n = len(roads)
    if not isinstance(roads, pd.DataFrame):
        return RoadLevels.ground(n)
    bridge = _flag(roads["bridge"]) if "bridge" in roads.columns else np.zeros(n, bool)
    tunnel = _flag(roads["tunnel"]) if "tunnel" in roads.columns else np.zeros(n, bool)
    if "layer" in roads.columns:
        layer = pd.to_numeric(roads["layer"], errors="coerce").fillna(0).round().to_numpy(dtype=np.int64)
    else:
        layer = np.zeros(n, np.int64)
    return RoadLevels(bridge, tunnel, layer)


def _apart_reason(levels: RoadLevels, ra: np.ndarray, rb: np.ndarray) -> np.ndarray:
    """Per pair of road rows: 0 same level, 1 bridge, 2 tunnel, 3 other layer."""
    reason = np.zeros(len(ra), np.int8)
    reason[levels.layer[ra] != levels.layer[rb]] = 3
    reason[levels.tunnel[ra] | levels.tunnel[rb]] = 2
    reason[levels.bridge[ra] | levels.bridge[rb]] = 1
    return reason


def _line_ends(seg: RoadSegments) -> tuple[np.ndarray, np.ndarray]:
    """Whether each segment's start is its line's first vertex and its end the line's last vertex."""
    part = seg.part
    n = len(part)
    first = np.ones(n, bool)
    last = np.ones(n, bool)
    if n > 1:
        first[1:] = part[1:] != part[:-1]
        last[:-1] = part[1:] != part[:-1]
    return first, last


def _distinct_points(xy: np.ndarray) -> int:
    """Distinct positions at 1 mm."""
    if len(xy) == 0:
        return 0
    return len(np.unique(np.round(xy * 1000.0).astype(np.int64), axis=0))


def junction_segments(
    seg: RoadSegments, levels: RoadLevels, tolerance_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, JunctionCounts]:
    """Split road segments at their T-junctions and same-level crossings.

    Parameters
    ----------
    seg
        The roads' straight segments (:func:`geo.network.segments.line_segments`).
    levels
        The level of each road row (:func:`road_levels`).
    tolerance_m
        How near (metres) a line's end must be to another road to end on it,
        and how far from a segment's ends a contact must be to split it.

    Returns
    -------
    (a, b, row, counts)
        The split segments' starts and ends (metres), their road rows, and
        the :class:`JunctionCounts`.
    """
    a, b, row = seg.a, seg.b, seg.row
    if len(a) < 2:
        return a, b, row, JunctionCounts()
    tol = max(tolerance_m, 1e-9)
    i, j = segment_pairs(a, b, tol)
    first, last = _line_ends(seg)
    r = b[i] - a[i]
    w = b[j] - a[j]
    q = a[j] - a[i]
    lr = np.maximum(np.hypot(*r.T), 1e-300)
    lw = np.maximum(np.hypot(*w.T), 1e-300)
    den = cross2(r, w)
    proper = np.abs(den) > 1e-12 * lr * lw
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(proper, cross2(q, w) / den, np.nan)
        s = np.where(proper, cross2(q, r) / den, np.nan)
    tol_t, tol_s = tol / lr, tol / lw
    hit = proper & (t >= -tol_t) & (t <= 1 + tol_t) & (s >= -tol_s) & (s <= 1 + tol_s)
    in_i = hit & (t > tol_t) & (t < 1 - tol_t)  # the contact is inside segment i
    in_j = hit & (s > tol_s) & (s < 1 - tol_s)
    # where the contact is at an end of one segment, is that end a line end (a T) or an interior vertex?
    j_end_is_line_end = np.where(s <= 0.5, first[j], last[j])
    i_end_is_line_end = np.where(t <= 0.5, first[i], last[i])
    tee = (in_i & ~in_j & j_end_is_line_end) | (in_j & ~in_i & i_end_is_line_end)
    # collinear overlaps: an end of one segment inside the other
    col = ~proper & (np.abs(cross2(q, r)) <= tol * lr)
    ov_seg, ov_t, ov_pair, ov_tee = [], [], [], []
    if col.any():
        cp = np.flatnonzero(col)
        for seg_i, other, at_first, at_last in ((i[cp], j[cp], first, last), (j[cp], i[cp], first, last)):
            d = b[seg_i] - a[seg_i]
            l2 = np.maximum((d * d).sum(1), 1e-300)
            ln = np.sqrt(l2)
            for end, is_line_end in ((a[other], at_first[other]), (b[other], at_last[other])):
                tt = ((end - a[seg_i]) * d).sum(1) / l2
                inside = (tt * ln > tol) & (tt * ln < ln - tol)
                ov_seg.append(seg_i[inside])
                ov_t.append(tt[inside])
                ov_pair.append(cp[inside])
                ov_tee.append(is_line_end[inside])
    c_seg = np.concatenate([i[in_i], j[in_j], *ov_seg])
    c_t = np.concatenate([t[in_i], s[in_j], *ov_t])
    c_pair = np.concatenate([np.flatnonzero(in_i), np.flatnonzero(in_j), *ov_pair]).astype(np.int64)
    c_tee = np.concatenate([tee[in_i], tee[in_j], *ov_tee]).astype(bool)
    reason = _apart_reason(levels, row[i[c_pair]], row[j[c_pair]])
    ok = c_tee | (reason == 0)
    at = a[c_seg] + c_t[:, None] * (b[c_seg] - a[c_seg])
    counts = JunctionCounts(
        added=_distinct_points(at[ok]),
        **{name: _distinct_points(at[~ok & (reason == k + 1)]) for k, name in enumerate(APART_REASONS)},
    )
    na, nb, nrow = split_segments(a, b, row, c_seg[ok], c_t[ok])
    return na, nb, nrow, counts


@dataclass(frozen=True, eq=False)
class NodedSegments:
    """Road segments split at their junctions, as every network build uses them.

    Attributes
    ----------
    a, b, row
        ``(m, 2)`` starts and ends in metres and ``(m,)`` road rows.
    lines
        :class:`~geo.network.segments.RoadSegments` before the split (counts of lines, empties).
    junctions
        :class:`JunctionCounts` of the split.
    """

    a: np.ndarray
    b: np.ndarray
    row: np.ndarray
    lines: RoadSegments
    junctions: JunctionCounts


def noded_segments(
    roads: gpd.GeoDataFrame | gpd.GeoSeries | np.ndarray, *, tolerance_m: float = 0.5, junctions: bool = True
) -> NodedSegments:
    """Check road lines, cut them into straight segments and split those at junctions.

    Parameters
    ----------
    roads
        (Multi)LineStrings in a metric CRS; a frame may carry ``bridge``,
        ``tunnel`` and ``layer`` (:func:`road_levels`).
    tolerance_m
        Snapping tolerance of a T-junction, metres.
    junctions
        ``False``: no split, roads connect only at shared vertices.

    Raises
    ------
    GeometryError
        A geometry is not a line or a coordinate is not finite.
    """
    seg = line_segments(roads)
    if not junctions or len(seg) < 2:
        return NodedSegments(seg.a, seg.b, seg.row, seg, JunctionCounts())
    a, b, row, counts = junction_segments(seg, road_levels(roads), tolerance_m)
    return NodedSegments(a, b, row, seg, counts)


def road_segments(
    roads: gpd.GeoDataFrame | gpd.GeoSeries | np.ndarray, *, tolerance_m: float = 0.5, junctions: bool = True
) -> np.ndarray:
    """The straight segments of road lines, split at their junctions, as the network build makes its edges.

    The split (:func:`noded_segments`) happens here, on all the roads, so a
    tile of a split pass (:mod:`geo.network.partition`) that builds its
    network from some of these segments finds the same junctions as the
    whole network.

    Returns
    -------
    numpy.ndarray
        ``(m, 2, 2)`` segment end points in metres, row by row, part by
        part, vertex by vertex.

    Raises
    ------
    GeometryError
        A geometry is not a line.
    """
    seg = noded_segments(roads, tolerance_m=tolerance_m, junctions=junctions)
    return np.stack([seg.a, seg.b], axis=1)
