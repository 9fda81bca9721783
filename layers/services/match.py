"""Match compounds' needs to centres' services (issue 15).

A need is met when a counted (``existing``) centre offering the category lies
within the compound's walking limit, the same per-level limit and the same
access points coverage uses.  The compounds' access points and the centres are
placed once; each needed category then costs one multi-source pass over the
centres offering it, cut off at their limit (:func:`geo.network.group_coverage`;
straight-line distances for the circle method).  The pass over all centres is
the build's own (the compounds carry its ``covered`` and ``nearest_center``):
the covering centre of a compound with an unmet need necessarily lacks the
category, so it is the nearest centre that would meet the need if it added it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from geo.geometry import xy
from geo.network import WalkNetwork, group_coverage
from layers.circles import DEFAULT_MINUTES, DEFAULT_SPEED_KMH
from layers.coverage import (
    DEFAULT_STATUSES,
    Method,
    centre_limits_m,
    compound_coverage,
    coverage_origins,
    parse_method,
)
from layers.services.catalogue import DEFAULT_CATALOGUE, Category
from layers.services.parse import parse_categories
from layers.walking import walking_network

#: Columns :func:`match_needs` writes onto compounds.
NEEDS_COLUMNS: tuple[str, ...] = ("unmet_needs", "unmet_needs_nearby")


def has_needs(compounds: gpd.GeoDataFrame) -> bool:
    """Whether any compound lists a need (the build matches needs only then)."""
    return "needs" in compounds.columns and bool((compounds["needs"].fillna("").astype(str).str.strip() != "").any())


def _straight_groups(access: np.ndarray, points: np.ndarray, limit: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Per group of centres, which access points lie within some member's straight-line limit."""
    out = np.zeros((len(groups), len(access)), dtype=bool)
    for g, members in enumerate(groups):
        if not len(members):
            continue
        tree = shapely.STRtree(points[members])
        a, c = tree.query(access, predicate="dwithin", distance=float(limit[members].max()))
        ok = shapely.distance(access[a], points[members][c]) <= limit[members][c]
        out[g, a[ok]] = True
    return out


def met_by_category(
    compounds: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    offers: list[set[str]],
    keys: list[str],
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
    network_pass: Any = None,
) -> dict[str, np.ndarray]:
    """For each category key, which compounds a counted centre offering it reaches (``offers[i]``: centre ``i``'s keys).

    Takes the arguments of :func:`layers.coverage.compound_coverage`; with a
    ``network_pass`` (a district split into tiles) each category runs that pass.
    """
    counted = np.asarray(centers["status"].isin(list(statuses)).to_numpy(), dtype=bool) if len(centers) else np.zeros(0, bool)
    groups = [np.flatnonzero(counted & np.array([k in o for o in offers], dtype=bool)) for k in keys]
    if network_pass is not None:
        args = {"metric_crs": metric_crs, "method": method, "minutes": minutes, "speed_kmh": speed_kmh, "level_minutes": level_minutes,
                "statuses": statuses, "gates": gates, "roads": roads, "max_snap_m": max_snap_m, "network_pass": network_pass,
                "access_reach_m": access_reach_m}
        return {k: compound_coverage(compounds, centers.iloc[g], **args)["covered"].to_numpy(bool) if len(g) else np.zeros(len(compounds), bool)
                for k, g in zip(keys, groups, strict=True)}
    access, owner, from_geom = coverage_origins(compounds, metric_crs=metric_crs, gates=gates, roads=roads, access_reach_m=access_reach_m)
    points = centers.to_crs(metric_crs).geometry.to_numpy()
    limit = centre_limits_m(centers, minutes=minutes, speed_kmh=speed_kmh, level_minutes=level_minutes)
    if parse_method(method) is Method.network:
        net = network if network is not None else walking_network(roads, metric_crs=metric_crs)
        hit = group_coverage(net, xy(points), xy(access), limit_m=limit, groups=groups, max_snap_m=max_snap_m)
    else:
        hit = _straight_groups(from_geom, points, limit, groups)
    n = len(compounds)
    return {k: np.bincount(owner, weights=hit[i], minlength=n)[:n] > 0 for i, k in enumerate(keys)}


def _parsed(values: Iterable[Any], catalogue: tuple[Category, ...]) -> list[list[str]]:
    """The category keys of each list, parsing each distinct text once (a district repeats a few dozen lists)."""
    seen: dict[Any, list[str]] = {}
    out = []
    for v in values:
        key = v if isinstance(v, str) or v is None else str(v)
        if key not in seen:
            seen[key] = parse_categories(key, catalogue)[0]
        out.append(seen[key])
    return out


def match_needs(
    compounds: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    *,
    catalogue: tuple[Category, ...] = DEFAULT_CATALOGUE,
    **coverage: Any,
) -> gpd.GeoDataFrame:
    """A copy of ``compounds`` with ``unmet_needs`` and ``unmet_needs_nearby``.

    ``compounds.needs`` and ``centers.services`` are category lists (see
    :func:`layers.services.parse.parse_categories`); ``coverage`` are the
    arguments of :func:`layers.coverage.compound_coverage` (``metric_crs``,
    ``method``, ``roads``, ``network``, ...).  ``unmet_needs`` joins the
    Chinese names of unmet categories in catalogue order with 、;
    ``unmet_needs_nearby`` lists ``类别:centre id`` for unmet needs a
    reachable centre could meet.
    """
    out = compounds.copy()
    needs = _parsed(out.get("needs", [None] * len(out)), catalogue)
    offers = [set(ks) for ks in _parsed(centers.get("services", [None] * len(centers)), catalogue)]
    wanted = [c.key for c in catalogue if any(c.key in ks for ks in needs)]
    met = met_by_category(out, centers, offers, wanted, **coverage) if wanted else {}
    if not wanted or not len(centers):
        anyc = None
    elif {"covered", "nearest_center"} <= set(out.columns):  # the build's own pass over all centres
        anyc = out
    else:
        anyc = compound_coverage(out, centers, **coverage)
    names = {c.key: c.zh for c in catalogue}
    reached = anyc["covered"].to_numpy(dtype=bool) if anyc is not None else np.zeros(len(out), dtype=bool)
    centre = anyc["nearest_center"].astype(str).to_numpy() if anyc is not None else np.full(len(out), "", dtype=object)
    unmet, nearby = [], []
    for i, ks in enumerate(needs):
        miss = [k for k in ks if not met[k][i]]
        unmet.append("、".join(names[k] for k in miss))
        nearby.append("、".join(f"{names[k]}:{centre[i]}" for k in miss) if miss and reached[i] else "")
    out["unmet_needs"] = unmet
    out["unmet_needs_nearby"] = nearby
    return out
