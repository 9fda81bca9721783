"""Walking coverage: which targets (compounds) some source (centre) reaches within its limit.

One unlimited multi-source pass gives every target its nearest source; one
more pass per distinct limit finds a covering source for the targets the
nearest one does not cover (see :func:`walk_coverage`).  :func:`group_coverage`
answers the same question for several groups of the sources at once (the
centres offering each service), attaching every point once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from geo.network.attach import attach_points, split_attachment
from geo.network.checks import as_limits, as_xy
from geo.network.graph import WalkNetwork
from geo.network.paths import multi_source, target_distances

__all__ = ["REASON_DISCONNECTED", "REASON_NO_SOURCES", "NetworkCoverage", "group_coverage", "walk_coverage"]

#: Reasons an attached target gets no walking answer: no source on its piece of network, no source attached at all.
REASON_DISCONNECTED = "disconnected"
REASON_NO_SOURCES = "no_sources"


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
    covering: np.ndarray
    covering_dist_m: np.ndarray
    reason: np.ndarray
    source_reason: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """``(n,)`` some source ``i`` reaches the target within ``limit_m[i]``."""
        return self.covering >= 0


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
    s_xy = as_xy(sources_xy, "sources_xy")
    t_xy = as_xy(targets_xy, "targets_xy")
    n_s, n_t = len(s_xy), len(t_xy)
    limits = as_limits(limit_m, n_s)
    both = attach_points(net, np.concatenate([s_xy, t_xy]), max_snap_m=max_snap_m)
    src, tgt = split_attachment(both, n_s)

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
        d_all, w_all = multi_source(net, src.edge[s_idx], src.along_m[s_idx], src.offset_m[s_idx], np.inf)
        best, who = target_distances(net, d_all, w_all, src, s_idx, tgt, t_idx)
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
                d_g, w_g = multi_source(net, src.edge[g], src.along_m[g], src.offset_m[g], level)
                bg, wg = target_distances(net, d_g, w_g, src, g, tgt, open_)
                hit = (wg >= 0) & (bg <= level) & (bg < cov_dist[open_])
                covering[open_[hit]] = wg[hit]
                cov_dist[open_[hit]] = bg[hit]
    return NetworkCoverage(
        nearest=nearest,
        dist_m=dist,
        covering=covering,
        covering_dist_m=cov_dist,
        reason=reason,
        source_reason=src.reason,
    )


def group_coverage(
    net: WalkNetwork,
    sources_xy: np.ndarray,
    targets_xy: np.ndarray,
    *,
    limit_m: np.ndarray | float,
    groups: list[np.ndarray],
    max_snap_m: float = 300.0,
) -> np.ndarray:
    """For each group of sources, which targets some source of the group covers within that source's limit.

    The same walk as :func:`walk_coverage`; every point is attached to the
    network once, then each group runs one multi-source pass per distinct
    limit among its sources, cut off at that limit (a target is covered by
    the group exactly when, for some limit, the nearest of the group's
    sources with that limit lies within it).

    Parameters
    ----------
    net, sources_xy, targets_xy, limit_m, max_snap_m
        As for :func:`walk_coverage`.
    groups
        Positions into ``sources_xy`` of each group's sources (groups may overlap or be empty).

    Returns
    -------
    numpy.ndarray
        ``(len(groups), n_targets)`` booleans.
    """
    s_xy = as_xy(sources_xy, "sources_xy")
    t_xy = as_xy(targets_xy, "targets_xy")
    n_s, n_t = len(s_xy), len(t_xy)
    limits = as_limits(limit_m, n_s)
    out = np.zeros((len(groups), n_t), dtype=bool)
    if not n_s or not n_t or not len(groups):
        return out
    both = attach_points(net, np.concatenate([s_xy, t_xy]), max_snap_m=max_snap_m)
    src, tgt = split_attachment(both, n_s)
    t_idx = np.flatnonzero(tgt.attached)
    if not len(t_idx):
        return out
    for g, members in enumerate(groups):
        members = np.asarray(members, dtype=np.int64)
        members = members[src.attached[members]]
        for level in np.unique(limits[members]):
            sel = members[limits[members] == level]
            d, w = multi_source(net, src.edge[sel], src.along_m[sel], src.offset_m[sel], level)
            best, who = target_distances(net, d, w, src, sel, tgt, t_idx)
            out[g, t_idx[(who >= 0) & (best <= level)]] = True
    return out
