"""Party organisations (党组织) in units and grids, and each unit's neighbourhood alliance ("1+N+X").

An organisation belongs to the unit or grid its point lies in, except a
compound organisation naming its compound (``compound`` = a compound id),
which belongs where that compound belongs.  Units and grids count their
organisations (``orgs``), their members (``org_members``), the organisations
of each type (``orgs_<type>``) and list them (``org_names``).

A unit's alliance (大邻里党建联盟) is "1+N+X":

- **1**, the lead: the community organisation of the unit's community (the
  community most of its households live in);
- **N**, the organisations inside the unit but the lead;
- **X**, organisations outside the unit tied to it: their ``alliance`` names
  the unit (its id or name), or the unit's community (a body paired with the
  community joins the alliance of each of its units); the roster gives the
  tie's ``role`` (结对, 包联, 驻区 ...) in brackets where one is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.geometry import containing_polygon
from layers.schema import LAYER_SPECS, ORG_TYPES

#: Columns written onto units and grids, besides ``orgs_<type>`` per type.
ORG_COLUMNS: tuple[str, ...] = ("orgs", "org_members", "org_names")
#: Columns written onto units by :func:`unit_alliances`.
ALLIANCE_COLUMNS: tuple[str, ...] = ("alliance_lead", "alliance_n", "alliance_x", "alliance_size", "alliance_roster")
#: Separator of names in a list (the enumeration comma of Chinese text).
NAME_SEPARATOR = "、"


def fill_org_communities(orgs: gpd.GeoDataFrame | None, boundary: gpd.GeoDataFrame, *, metric_crs: CRS) -> gpd.GeoDataFrame:
    """A copy of ``orgs`` (an empty layer when ``None``) with every optional column and a blank ``community`` filled.

    ``community`` comes from the community polygon the organisation lies in.
    """
    spec = LAYER_SPECS["party_orgs"]
    if orgs is None:
        return gpd.GeoDataFrame({c: [] for c in (*spec.required, *spec.optional)}, geometry=[], crs=4326)
    out = orgs.copy()
    for column, default in spec.optional.items():  # a layer read as stored (a planner's own GeoPackage) may lack them
        if column not in out.columns:
            out[column] = default
    polys = boundary[boundary["level"] == "community"] if len(boundary) else boundary
    blank = (out["community"].astype(str) == "").to_numpy()
    if blank.any() and len(polys):
        found = containing_polygon(out.to_crs(metric_crs).geometry.to_numpy(), polys.to_crs(metric_crs).geometry.to_numpy())
        names = np.where(found >= 0, polys["name"].astype(str).to_numpy()[np.clip(found, 0, None)], "")
        out.loc[blank, "community"] = names[blank]
    return out


def with_org_layers(
    units: gpd.GeoDataFrame, grids: gpd.GeoDataFrame, compounds: gpd.GeoDataFrame, orgs: gpd.GeoDataFrame, *, metric_crs: CRS
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Units and grids with their organisations counted, units with their alliance, grids with ``grid_branch``.

    Both unchanged when there are no organisations and they were never
    counted: a dataset without the layer says nothing about organisations
    rather than "none" (once counted, the last one deleted counts zero).
    """
    if not len(orgs) and "orgs" not in units.columns:
        return units, grids
    in_unit = place_orgs(orgs, units, metric_crs=metric_crs, compounds=compounds, key="unit")
    units = unit_alliances(org_counts(units, orgs, in_unit), orgs, in_unit, unit_communities(units, compounds))
    in_grid = place_orgs(orgs, grids, metric_crs=metric_crs, compounds=compounds, key="grid")
    grids = org_counts(grids, orgs, in_grid)
    grids["grid_branch"] = grids["orgs_grid"].to_numpy() > 0
    return units, grids


def type_columns() -> tuple[str, ...]:
    """The ``orgs_<type>`` count columns, one per organisation type, in report order."""
    return tuple(f"orgs_{t}" for t in ORG_TYPES)


def place_orgs(
    orgs: gpd.GeoDataFrame,
    polys: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    compounds: pd.DataFrame | None = None,
    key: str | None = None,
) -> np.ndarray:
    """For each organisation, the ``id`` of the polygon it belongs to (``""`` when none).

    Parameters
    ----------
    orgs
        Party organisations (points, any CRS) with ``type`` and ``compound``.
    polys
        Units or grids with ``id``.
    metric_crs
        CRS both are compared in.
    compounds
        Compounds with ``id`` and the ``key`` column (``unit`` or ``grid``):
        a compound organisation naming a known compound takes that
        compound's polygon, wherever its own point lies.
    key
        The compounds' column naming their polygon.
    """
    out = np.full(len(orgs), "", dtype=object)
    if not len(orgs) or not len(polys):
        return out
    pos = containing_polygon(orgs.to_crs(metric_crs).geometry.to_numpy(), polys.to_crs(metric_crs).geometry.to_numpy())
    ids = polys["id"].astype(str).to_numpy()
    out[pos >= 0] = ids[pos[pos >= 0]]
    if compounds is not None and key is not None and key in compounds.columns and len(compounds):
        where = pd.Series(compounds[key].astype(str).to_numpy(), index=compounds["id"].astype(str).to_numpy())
        where = where[~where.index.duplicated()]
        named = orgs["compound"].astype(str).to_numpy()
        found = (orgs["type"].astype(str).to_numpy() == "compound") & pd.Series(named).isin(where.index).to_numpy()
        out[found] = where.reindex(named[found]).to_numpy()
    return out


def org_counts(polys: gpd.GeoDataFrame, orgs: pd.DataFrame, placed: np.ndarray) -> gpd.GeoDataFrame:
    """A copy of ``polys`` with ``orgs``, ``org_members``, ``orgs_<type>`` and ``org_names``.

    ``placed`` gives each organisation's polygon id (:func:`place_orgs`);
    ``org_names`` lists the names in input order, joined with 、.
    """
    out = polys.copy()
    ids = out["id"].astype(str).to_numpy() if len(out) else np.array([], dtype=object)
    frame = pd.DataFrame(
        {
            "key": np.asarray(placed, dtype=object),
            "type": orgs["type"].astype(str).to_numpy() if len(orgs) else np.array([], dtype=object),
            "members": pd.to_numeric(orgs["members"], errors="coerce").fillna(0).to_numpy(dtype="int64") if len(orgs) else np.array([], dtype="int64"),
            "name": orgs["name"].astype(str).to_numpy() if len(orgs) else np.array([], dtype=object),
        }
    )
    frame = frame[frame["key"] != ""]
    grouped = frame.groupby("key")
    out["orgs"] = grouped.size().reindex(ids).fillna(0).astype("int64").to_numpy()
    out["org_members"] = grouped["members"].sum().reindex(ids).fillna(0).astype("int64").to_numpy()
    by_type = pd.crosstab(frame["key"], frame["type"]) if len(frame) else pd.DataFrame()
    for org_type, column in zip(ORG_TYPES, type_columns(), strict=True):
        counts = by_type[org_type] if org_type in by_type.columns else pd.Series(dtype="int64")
        out[column] = counts.reindex(ids).fillna(0).astype("int64").to_numpy()
    names = grouped["name"].agg(NAME_SEPARATOR.join) if len(frame) else pd.Series(dtype=object)
    out["org_names"] = names.reindex(ids).fillna("").astype(object).to_numpy()
    return out


def compounds_with_orgs(compounds: gpd.GeoDataFrame, orgs: gpd.GeoDataFrame, *, metric_crs: CRS) -> np.ndarray:
    """Which compounds have a compound party organisation (小区党组织) in the organisations layer.

    A compound organisation counts for the compound its ``compound`` names,
    else for the compound polygon its point lies in.
    """
    found = np.zeros(len(compounds), dtype=bool)
    if not len(compounds) or not len(orgs):
        return found
    mine = orgs[orgs["type"].astype(str) == "compound"]
    if not len(mine):
        return found
    named = mine["compound"].astype(str)
    ids = compounds["id"].astype(str)
    found |= ids.isin(set(named[named != ""])).to_numpy()
    loose = mine[~named.isin(set(ids)).to_numpy()]
    if len(loose):
        pos = containing_polygon(loose.to_crs(metric_crs).geometry.to_numpy(), compounds.to_crs(metric_crs).geometry.to_numpy())
        found[pos[pos >= 0]] = True
    return found


def mark_listed_orgs(compounds: gpd.GeoDataFrame, orgs: gpd.GeoDataFrame, *, metric_crs: CRS) -> gpd.GeoDataFrame:
    """Compounds with ``has_party_org`` set where ``party_orgs`` lists their organisation, and ``org_listed``.

    ``org_listed`` marks the compounds whose ``has_party_org`` is true only
    because of the list, so the planner's own value comes back when the
    organisation is deleted: the given value is ``has_party_org`` where
    ``org_listed`` is false.  Unchanged when neither the list nor an earlier
    marking exists.
    """
    if not len(orgs) and "org_listed" not in compounds.columns:
        return compounds
    out = compounds.copy()
    before = out["org_listed"].fillna(False).astype(bool).to_numpy() if "org_listed" in out.columns else np.zeros(len(out), bool)
    given = out["has_party_org"].fillna(False).astype(bool).to_numpy() & ~before
    listed = compounds_with_orgs(out, orgs, metric_crs=metric_crs)
    out["has_party_org"] = given | listed
    out["org_listed"] = listed & ~given
    return out


def unit_communities(units: pd.DataFrame, compounds: pd.DataFrame) -> np.ndarray:
    """Each unit's community: the ``community`` most of its households live in (``""`` when none)."""
    out = np.full(len(units), "", dtype=object)
    if not len(units) or "unit" not in compounds.columns or "community" not in compounds.columns:
        return out
    frame = pd.DataFrame(
        {
            "unit": compounds["unit"].astype(str).to_numpy(),
            "community": compounds["community"].astype(str).to_numpy(),
            "households": compounds["households"].to_numpy(dtype="int64"),
        }
    )
    frame = frame[(frame["unit"] != "") & (frame["community"] != "")]
    if not len(frame):
        return out
    sums = frame.groupby(["unit", "community"], sort=True)["households"].sum().reset_index()
    # Most households first; ties go to the community named first in sort order.
    best = sums.sort_values(["unit", "households", "community"], ascending=[True, False, True]).drop_duplicates("unit")
    return best.set_index("unit")["community"].reindex(units["id"].astype(str).to_numpy()).fillna("").to_numpy(dtype=object)


def _joined(names: Sequence[str]) -> str:
    return NAME_SEPARATOR.join(n for n in names if n)


def unit_alliances(units: gpd.GeoDataFrame, orgs: pd.DataFrame, placed: np.ndarray, communities: np.ndarray) -> gpd.GeoDataFrame:
    """A copy of ``units`` with each unit's alliance: lead, N, X, size and roster.

    Parameters
    ----------
    units
        Units with ``id`` (and ``name`` when they have one).
    orgs
        Party organisations with ``name``, ``type``, ``community`` and ``alliance``.
    placed
        Each organisation's unit id (:func:`place_orgs`).
    communities
        Each unit's community name (:func:`unit_communities`).

    Returns
    -------
    GeoDataFrame
        ``alliance_lead`` (the lead's name, ``""`` when the community has no
        organisation listed), ``alliance_n`` / ``alliance_x`` (counts),
        ``alliance_size`` (1 + N + X, without the 1 when there is no lead) and
        ``alliance_roster`` (``1: 名称; N: 名称、名称; X: 名称``).
    """
    out = units.copy()
    n = len(out)
    lead, n_count, x_count, roster = (np.full(n, "", dtype=object), np.zeros(n, "int64"), np.zeros(n, "int64"), np.full(n, "", dtype=object))
    if n and len(orgs):
        names = orgs["name"].astype(str).to_numpy()
        types = orgs["type"].astype(str).to_numpy()
        org_community = orgs["community"].astype(str).to_numpy()
        tie = orgs["alliance"].astype(str).str.strip().to_numpy()
        role = orgs["role"].astype(str).str.strip().to_numpy() if "role" in orgs.columns else np.full(len(orgs), "", dtype=object)
        outside_names = np.array([f"{nm}({r})" if r else nm for nm, r in zip(names, role, strict=True)], dtype=object)
        placed = np.asarray(placed, dtype=object)
        unit_ids = out["id"].astype(str).to_numpy()
        unit_names = out["name"].astype(str).to_numpy() if "name" in out.columns else np.full(n, "", dtype=object)
        is_community = types == "community"
        for i in range(n):  # one row per unit: a district has hundreds, not millions
            uid, community = unit_ids[i], str(communities[i])
            heads = np.flatnonzero(is_community & (org_community == community)) if community else np.array([], dtype=int)
            if not len(heads):  # no community organisation of its community: one inside the unit leads
                heads = np.flatnonzero(is_community & (placed == uid))
            head = int(heads[0]) if len(heads) else -1
            inside = np.flatnonzero(placed == uid)
            members_n = [int(j) for j in inside if j != head]
            named = (tie != "") & ((tie == uid) | ((tie == unit_names[i]) & (unit_names[i] != "")) | ((tie == community) & (community != "")))
            members_x = [int(j) for j in np.flatnonzero(named & (placed != uid)) if j != head]
            lead[i] = names[head] if head >= 0 else ""
            n_count[i], x_count[i] = len(members_n), len(members_x)
            parts = [f"1: {lead[i]}"] if head >= 0 else []
            if members_n:
                parts.append(f"N: {_joined(names[members_n].tolist())}")
            if members_x:
                parts.append(f"X: {_joined(outside_names[members_x].tolist())}")
            roster[i] = "; ".join(parts)
    out["alliance_lead"] = lead
    out["alliance_n"] = n_count
    out["alliance_x"] = x_count
    out["alliance_size"] = (lead != "").astype("int64") + n_count + x_count
    out["alliance_roster"] = roster
    return out
