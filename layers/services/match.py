"""Match compounds' needs to centres' services (issue 15).

A need is met when a counted (``existing``) centre offering the category lies
within the compound's walking limit, the same per-level limit coverage uses.
One coverage pass per category over the centres offering it (one multi-source
pass on the network, or the circle method), plus the pass over all centres
(the build's own, when the compounds carry its ``covered`` and
``nearest_center``): its covering centre for a compound with an unmet need
necessarily lacks the category, so it is the nearest centre that would meet
the need if it added it.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np

from layers.coverage import compound_coverage
from layers.services.catalogue import DEFAULT_CATALOGUE, Category
from layers.services.parse import parse_categories

#: Columns :func:`match_needs` writes onto compounds.
NEEDS_COLUMNS: tuple[str, ...] = ("unmet_needs", "unmet_needs_nearby")


def has_needs(compounds: gpd.GeoDataFrame) -> bool:
    """Whether any compound lists a need (the build matches needs only then)."""
    return "needs" in compounds.columns and bool((compounds["needs"].fillna("").astype(str).str.strip() != "").any())


def match_needs(
    compounds: gpd.GeoDataFrame,
    centers: gpd.GeoDataFrame,
    *,
    catalogue: tuple[Category, ...] = DEFAULT_CATALOGUE,
    **coverage: Any,
) -> gpd.GeoDataFrame:
    """A copy of ``compounds`` with ``unmet_needs`` and ``unmet_needs_nearby``.

    ``compounds.needs`` and ``centers.services`` are category lists (see
    :func:`layers.services.parse.parse_categories`); ``coverage`` goes to
    :func:`layers.coverage.compound_coverage` (``metric_crs``, ``method``,
    ``roads``, ``network``, ...).  ``unmet_needs`` joins the Chinese names of
    unmet categories in catalogue order with 、; ``unmet_needs_nearby`` lists
    ``类别:centre id`` for unmet needs a reachable centre could meet.
    """
    out = compounds.copy()
    needs = [parse_categories(v, catalogue)[0] for v in out.get("needs", [None] * len(out))]
    offers = [set(parse_categories(v, catalogue)[0]) for v in centers.get("services", [None] * len(centers))]
    wanted = {k for ks in needs for k in ks}
    met: dict[str, np.ndarray] = {}
    for cat in catalogue:
        if cat.key not in wanted:
            continue
        mask = np.array([cat.key in o for o in offers], dtype=bool)
        if not mask.any():
            met[cat.key] = np.zeros(len(out), dtype=bool)
            continue
        res = compound_coverage(out, centers[mask], **coverage)
        met[cat.key] = res["covered"].to_numpy(dtype=bool)
    if not wanted or not len(centers):
        anyc = None
    elif {"covered", "nearest_center"} <= set(out.columns):  # the build's own pass over all centres
        anyc = out
    else:
        anyc = compound_coverage(out, centers, **coverage)
    names = {c.key: c.zh for c in catalogue}
    unmet, nearby = [], []
    for i, ks in enumerate(needs):
        miss = [k for k in ks if not met[k][i]]
        unmet.append("、".join(names[k] for k in miss))
        near = ""
        if miss and anyc is not None and bool(anyc["covered"].iloc[i]):
            cid = str(anyc["nearest_center"].iloc[i])
            near = "、".join(f"{names[k]}:{cid}" for k in miss)
        nearby.append(near)
    out["unmet_needs"] = unmet
    out["unmet_needs_nearby"] = nearby
    return out
