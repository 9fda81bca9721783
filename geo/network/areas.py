"""Network service areas: the walkable network a source reaches within each limit, buffered.

For each source and limit, the reached network (whole edges, the reached
part of partly reached edges and the source's own access leg) is buffered
and unioned (:mod:`geo.network.buffer`); holes stay where the network has
them, this is not a hull.  Per group of sources (e.g. per centre level) the
union comes straight from one multi-source pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.errors import InputError
from geo.network.attach import Attachment, attach_points
from geo.network.buffer import NetworkBuffer, in_threads, segments_to_lines
from geo.network.checks import as_limit_list, as_xy, positive_metres
from geo.network.graph import WalkNetwork
from geo.network.paths import local_searches, multi_source

__all__ = ["group_service_areas", "service_areas", "union_service_areas"]


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

    The buffer is built face by face (see :mod:`geo.network.buffer`): it
    equals the union of the lines' buffers and costs a fraction of it.

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
    s_xy = as_xy(sources_xy, "sources_xy")
    lims = as_limit_list(limits_m)
    positive_metres(buffer_m, "buffer_m")
    n_s, n_l = len(s_xy), len(lims)
    src = attach_points(net, s_xy, max_snap_m=max_snap_m)
    s_idx = np.flatnonzero(src.attached)

    full_area: list[np.ndarray] = []
    full_edge: list[np.ndarray] = []
    piece_area: list[np.ndarray] = []
    piece_xy: list[np.ndarray] = []
    nodes_xy = net.nodes_xy

    for blk in local_searches(net, s_xy, src, s_idx, float(lims[-1])):
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
    pieces = segments_to_lines(pxy)
    buffer = NetworkBuffer(net, buffer_m=buffer_m, quad_segs=quad_segs)

    n_areas = n_s * n_l
    f_bounds = np.searchsorted(fa, np.arange(n_areas + 1))
    p_bounds = np.searchsorted(pa, np.arange(n_areas + 1))
    out = np.empty(n_areas, dtype=object)

    def work(ids: np.ndarray) -> None:
        for i in ids:
            edges = fe[f_bounds[i] : f_bounds[i + 1]]
            loose = pieces[p_bounds[i] : p_bounds[i + 1]]
            out[i] = buffer.of(edges, loose)

    in_threads(work, n_areas, workers=workers, batches_per_worker=8)
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
    limits_m, buffer_m, max_snap_m, quad_segs, workers
        As for :func:`service_areas`.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``group``, ``limit_m``, ``geometry`` (empty polygon when no
        source of the group is attached); one row per group and limit,
        ordered by group then limit; CRS of the network.
    """
    s_xy = as_xy(sources_xy, "sources_xy")
    lims = as_limit_list(limits_m)
    positive_metres(buffer_m, "buffer_m")
    labels = np.asarray(groups, dtype=object)
    if labels.shape != (len(s_xy),):
        msg = f"`groups` must give one label per source ({len(s_xy)}), got shape {labels.shape}"
        raise InputError(msg, field="groups")
    src = attach_points(net, s_xy, max_snap_m=max_snap_m)
    buffer = NetworkBuffer(net, buffer_m=buffer_m, quad_segs=quad_segs)
    pu, pv = net.nodes_xy[net.u], net.nodes_xy[net.v]
    unit = (pv - pu) / net.length_m[:, None]
    out_g, out_l, out_geom = [], [], []
    for g in _sorted_unique(labels):
        idx = np.flatnonzero((labels == g) & src.attached)
        dist, _ = multi_source(net, src.edge[idx], src.along_m[idx], src.offset_m[idx], float(lims[-1]))
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
            loose = segments_to_lines(np.concatenate(segs))
            geom = buffer.tiled(np.flatnonzero(full), loose, workers=workers)
            out_g.append(g)
            out_l.append(float(lim))
            out_geom.append(geom if geom is not None else shapely.Polygon())
    return gpd.GeoDataFrame({"group": out_g, "limit_m": out_l}, geometry=out_geom, crs=net.crs)


def _sorted_unique(labels: np.ndarray) -> list[Any]:
    try:
        return sorted(set(labels.tolist()))
    except TypeError:  # mixed label types
        return list(dict.fromkeys(labels.tolist()))


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
