"""Compound coverage: which residential compounds (居民小区) a service centre reaches.

A compound is covered at T minutes when one of its access points (its gates,
else where its perimeter meets the walkable roads, else a point inside its
polygon: :func:`layers.walking.access_points`) reaches some counted centre
within that centre's minutes on foot: straight-line (``circle``, from a gate
or else from the compound's polygon itself, its nearest perimeter point) or
along walkable roads (``network``, the best entrance).  The columns written onto ``compounds``: ``covered``,
``nearest_center``, ``nearest_center_name``, ``walk_m``, ``walk_min``,
``straight_m``, ``method``, ``unreachable`` and ``flags``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.errors import parse_choice
from geo.geometry import xy
from geo.network import NetworkCoverage, WalkNetwork, walk_coverage
from layers.circles import (
    DEFAULT_MINUTES,
    DEFAULT_SPEED_KMH,
    center_minutes,
    check_walk_params,
    walk_metres,
)
from layers.walking import ACCESS_REACH_M, access_points, gated, walking_network

COVERAGE_COLUMNS: tuple[str, ...] = (
    "covered",
    "nearest_center",
    "nearest_center_name",
    "walk_m",
    "walk_min",
    "straight_m",
    "method",
    "unreachable",
    "flags",
)
#: Written by the network method: the straight-line answer beside the walking one.
CIRCLE_COMPARISON_COLUMNS: tuple[str, ...] = ("covered_circle", "walk_m_circle")

#: Centre statuses that count towards coverage by default: only open centres.
DEFAULT_STATUSES: tuple[str, ...] = ("existing",)


class Method(StrEnum):
    """How walking distance is measured."""

    circle = "circle"
    network = "network"


def parse_method(value: str | Method) -> Method:
    """A :class:`Method` from text, with an error listing the valid values."""
    return parse_choice(Method, value, field="method")


def counted_centers(centers: gpd.GeoDataFrame, statuses: Iterable[str] = DEFAULT_STATUSES) -> gpd.GeoDataFrame:
    """The centres whose status counts towards coverage (``statuses``, default only open ones)."""
    if not len(centers):
        return centers
    return centers[centers["status"].isin(list(statuses))]


def _reduce_by_owner(owner: np.ndarray, n: int, value: np.ndarray, *extra: np.ndarray) -> list[np.ndarray]:
    """For each owner, pick the row with the smallest ``value`` (and the matching extras)."""
    order = np.lexsort((value, owner))
    first = np.ones(len(order), dtype=bool)
    first[1:] = owner[order][1:] != owner[order][:-1]
    chosen = order[first]
    out = []
    for arr in (value, *extra):
        full = np.full(n, np.nan if arr.dtype.kind == "f" else -1, dtype=arr.dtype)
        full[owner[chosen]] = arr[chosen]
        out.append(full)
    return out


def _circle(
    access: np.ndarray, centers_pts: np.ndarray, limit_m: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Straight-line nearest and covering centre for each access point.

    Returns nearest index, its distance, covered mask, covering index, covering distance.
    """
    tree = shapely.STRtree(centers_pts)
    (a_idx, c_idx), dist = tree.query_nearest(access, return_distance=True, all_matches=False)
    nearest = np.full(len(access), -1)
    nearest_d = np.full(len(access), np.inf)
    nearest[a_idx] = c_idx
    nearest_d[a_idx] = dist
    a2, c2 = tree.query(access, predicate="dwithin", distance=float(limit_m.max()))
    d2 = shapely.distance(access[a2], centers_pts[c2])
    ok = d2 <= limit_m[c2]
    cover_d, cover_i = _reduce_by_owner(a2[ok], len(access), d2[ok], c2[ok])
    covered = ~np.isnan(cover_d)
    cover_d[~covered] = np.inf
    return nearest, nearest_d, covered, cover_i, cover_d


def coverage_origins(
    compounds: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    gates: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    access_reach_m: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where coverage measures from: access points, their compounds' positions, and the straight-line origins.

    Access points are :func:`layers.walking.access_points` in ``metric_crs``
    (perimeter entrances only with ``access_reach_m > 0``); the straight
    line then starts from a gate, else from the compound itself (its nearest
    perimeter point; 0 m with a centre inside), otherwise from the access point.
    Every pass that must agree with :func:`compound_coverage` takes its points here.
    """
    cm = compounds.to_crs(metric_crs)
    gates_m = gates.to_crs(metric_crs) if gates is not None and len(gates) else None
    entered = access_reach_m > 0
    access, owner = access_points(cm, gates_m, roads=roads if entered else None, reach_m=access_reach_m or ACCESS_REACH_M)
    if not entered:
        return access, owner, access
    has_gate, _ = gated(cm, gates_m)
    return access, owner, np.where(has_gate[owner], access, cm.geometry.to_numpy()[owner])


def centre_limits_m(
    centers: pd.DataFrame, *, minutes: float, speed_kmh: float, level_minutes: Mapping[str, float] | None
) -> np.ndarray:
    """Each centre's walking limit in metres: its level's minutes at the walking speed."""
    return np.asarray(walk_metres(center_minutes(centers["level"], minutes=minutes, level_minutes=level_minutes), speed_kmh), dtype=float)


def compound_coverage(
    compounds: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    method: str | Method = Method.circle,
    minutes: float = DEFAULT_MINUTES,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    level_minutes: Mapping[str, float] | None = None,
    statuses: Iterable[str] = DEFAULT_STATUSES,
    gates: gpd.GeoDataFrame | None = None,
    roads: gpd.GeoDataFrame | None = None,
    max_snap_m: float = 300.0,
    access_reach_m: float = 0.0,
    network: WalkNetwork | None = None,
    network_pass: Callable[..., NetworkCoverage] | None = None,
) -> gpd.GeoDataFrame:
    """Write the coverage columns onto a copy of ``compounds``.

    Parameters
    ----------
    compounds
        Compounds in EPSG:4326 with ``id``, ``households``, ``has_party_org``.
    centers
        Centres in EPSG:4326 with ``id``, ``name``, ``level``, ``status``.
    metric_crs
        Projected CRS (metres) to measure in.
    method
        ``circle`` (straight line) or ``network`` (walking along ``roads``).
    minutes, speed_kmh, level_minutes
        A centre reaches ``speed x minutes`` metres; ``level_minutes`` sets
        minutes per centre level (e.g. ``{"compound": 5}``).
    statuses
        Centre statuses that count (default: only ``existing`` centres).
    gates
        Optional gates layer (EPSG:4326) giving compounds' access points.
    roads
        Roads in EPSG:4326 (``walkable`` honoured), needed for ``network``;
        compounds without gates are entered where their perimeter meets them
        (both methods).
    max_snap_m
        Network method: farthest a point may lie from a walkable road (metres).
    access_reach_m
        Above 0: compounds without gates are entered where their perimeter
        meets the walkable ``roads`` within this many metres
        (:func:`layers.walking.perimeter_entrances`) and the straight line
        measures from the compound itself.  0: a point inside the polygon.
    network
        Network method: a prebuilt :class:`geo.network.WalkNetwork` on the
        same roads in ``metric_crs``, to skip rebuilding it.
    network_pass
        Network method: run the walking pass with this instead of
        :func:`geo.network.walk_coverage` on the whole network, called as
        ``network_pass(centres_xy, access_xy, limit_m=..., max_snap_m=...)``
        (metres, ``metric_crs``) and returning a
        :class:`geo.network.NetworkCoverage`; e.g. the split pass of
        :func:`geo.network.partitioned_walk_coverage` over the roads.

    Returns
    -------
    GeoDataFrame
        ``compounds`` plus ``covered`` (bool), ``nearest_center`` (id, ``""``
        when none), ``nearest_center_name``, ``walk_m`` / ``walk_min`` (metres
        and minutes to the covering centre, else to the nearest; NaN when no
        centre is reachable), ``straight_m`` (straight-line metres to the
        nearest counted centre), ``method``, ``unreachable`` (reason code or
        ``""``) and ``flags`` (comma-separated codes: ``uncovered``,
        ``no_party_org``, ``far_from_road``, ``disconnected``, ``no_centers``).
    """
    check_walk_params(minutes, speed_kmh)
    method = parse_method(method)
    counted = centers[centers["status"].isin(list(statuses))].reset_index(drop=True)
    stale = [c for c in (*COVERAGE_COLUMNS, *CIRCLE_COMPARISON_COLUMNS) if c in compounds.columns]
    out = compounds.drop(columns=stale).copy()
    n = len(out)
    access, owner, from_geom = coverage_origins(out, metric_crs=metric_crs, gates=gates, roads=roads, access_reach_m=access_reach_m)
    reason = np.full(len(access), "", dtype=object)
    if not len(counted):
        nearest = np.full(len(access), -1)
        dist = np.full(len(access), np.inf)
        covered = np.zeros(len(access), dtype=bool)
        straight = np.full(len(access), np.inf)
        cov_c, circle_dist = covered, dist
        reason[:] = "no_centers"
    else:
        cpts = counted.to_crs(metric_crs).geometry.to_numpy()
        limit = centre_limits_m(counted, minutes=minutes, speed_kmh=speed_kmh, level_minutes=level_minutes)
        near_c, straight, cov_c, cover_i, cover_d = _circle(from_geom, cpts, np.asarray(limit))
        circle_dist = np.where(cov_c, cover_d, straight)
        if method is Method.circle:
            covered = cov_c
            nearest = np.where(cov_c, cover_i, near_c)
            dist = np.where(cov_c, cover_d, straight)
        else:
            if network_pass is not None:
                res = network_pass(xy(cpts), xy(access), limit_m=np.asarray(limit), max_snap_m=max_snap_m)
            else:
                if network is None:
                    network = walking_network(roads, metric_crs=metric_crs)
                res = walk_coverage(network, xy(cpts), xy(access), limit_m=np.asarray(limit), max_snap_m=max_snap_m)
            covered = res.covered
            nearest = np.where(covered, res.covering, res.nearest)
            dist = np.where(covered, res.covering_dist_m, res.dist_m)
            reason = np.asarray(res.reason, dtype=object)
    # Several gates: the best one counts (covered first, then shortest walk).
    best = _best_access(owner, n, covered, dist)
    straight_best = _reduce_by_owner(owner, n, np.asarray(straight, dtype=float))[0]
    c_ids = counted["id"].astype(str).to_numpy() if len(counted) else np.array([], dtype=object)
    c_names = counted["name"].astype(str).to_numpy() if len(counted) else np.array([], dtype=object)
    near = nearest[best]
    d = dist[best].astype(float)
    d[~np.isfinite(d)] = np.nan
    out["covered"] = covered[best].astype(bool)
    out["nearest_center"] = np.where(near >= 0, c_ids[np.clip(near, 0, None)] if len(c_ids) else "", "")
    out["nearest_center_name"] = np.where(near >= 0, c_names[np.clip(near, 0, None)] if len(c_names) else "", "")
    out["walk_m"] = np.round(d, 1)
    out["walk_min"] = np.round(d / (speed_kmh * 1000 / 60), 2)
    sb = straight_best.astype(float)
    sb[~np.isfinite(sb)] = np.nan
    out["straight_m"] = np.round(sb, 1)
    out["method"] = method.value
    out["unreachable"] = np.where(out["covered"], "", reason[best])
    out["flags"] = coverage_flags(out)
    if method is Method.network:
        circle_best = _best_access(owner, n, cov_c, circle_dist)
        cd = circle_dist[circle_best].astype(float)
        cd[~np.isfinite(cd)] = np.nan
        out["covered_circle"] = cov_c[circle_best].astype(bool)
        out["walk_m_circle"] = np.round(cd, 1)
    return out


def _best_access(owner: np.ndarray, n: int, covered: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """Per compound, the position of its best access point: covered first, then the shortest walk."""
    rank = np.where(covered, 0.0, 1e12) + np.where(np.isfinite(dist), dist, 1e11)
    _, best_pos = _reduce_by_owner(owner, n, rank, np.arange(len(dist)))
    return best_pos.astype(int)


def coverage_flags(compounds: pd.DataFrame) -> pd.Series:
    """Comma-separated problem codes per compound (``""`` when none).

    Codes: ``uncovered``, ``no_party_org``, and the unreachable reason
    (``far_from_road``, ``disconnected``, ``no_centers``) when there is one.
    """
    parts = [
        np.where(~compounds["covered"].to_numpy(bool), "uncovered", ""),
        np.where(~compounds["has_party_org"].to_numpy(bool), "no_party_org", ""),
        compounds["unreachable"].astype(str).to_numpy(),
    ]
    joined = pd.Series([",".join(p for p in row if p) for row in zip(*parts, strict=True)], index=compounds.index)
    return joined
