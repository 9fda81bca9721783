"""The organisation report (党组织覆盖) and the alliance report (大邻里党建联盟 "1+N+X" rosters).

Both read a built dataset: ``party_orgs`` as imported or edited, the units and
grids of the build (see :mod:`layers.orgs`).  Every count is an integer sum
over the layers, so the community rows add up to the district total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from layers.dataset import Dataset, district_name
from layers.i18n import text
from layers.orgs import NAME_SEPARATOR, fill_org_communities, place_orgs
from layers.reports.listing import TOTAL, Listing, ListingReport, ValueLabels, group_labels
from layers.schema import ORG_TYPES

#: Columns of the organisations-by-community table.
COMMUNITY_COLUMNS: tuple[str, ...] = (
    "community", "compounds", "org_compounds", "org_compound_share", "grids", "branch_grids", "grid_branch_share",
    "orgs", "org_members",
)
#: Columns of the roster of every organisation.
ROSTER_COLUMNS: tuple[str, ...] = ("id", "name", "type", "members", "community", "unit", "grid", "parent", "alliance", "role")
#: Columns of the alliance table.
ALLIANCE_TABLE_COLUMNS: tuple[str, ...] = (
    "unit", "name", "community", "households", "alliance_lead", "alliance_n", "alliance_x", "alliance_size", "alliance_roster",
)


def type_labels() -> ValueLabels:
    """The organisation types' names in both languages, for the ``type`` column."""
    return {"type": {lang: {t: text(f"org_type.{t}", lang) for t in ORG_TYPES} for lang in ("zh", "en")}}


def _placed_orgs(dataset: Dataset) -> pd.DataFrame:
    """The organisations with their community filled and the unit and grid they belong to."""
    orgs = fill_org_communities(dataset.layers.get("party_orgs"), dataset["boundary"], metric_crs=dataset.metric_crs)
    out = pd.DataFrame(orgs.drop(columns=orgs.geometry.name))
    for layer, key in (("units", "unit"), ("grids", "grid")):
        polys = dataset.layers.get(layer)
        placed = (
            place_orgs(orgs, polys, metric_crs=dataset.metric_crs, compounds=dataset["compounds"], key=key)
            if polys is not None
            else np.full(len(orgs), "", dtype=object)
        )
        out[key] = placed
    for column in ("id", "parent", "alliance", "role"):
        if column not in out.columns:
            out[column] = ""
    return out


def _share(num: int, den: int) -> float:
    return round(num / den, 6) if den else float("nan")


def org_report(dataset: Dataset) -> ListingReport:
    """Organisations by type and by community (compounds with one, grids with a grid branch) and the roster."""
    orgs = _placed_orgs(dataset)
    c = dataset["compounds"]
    members = pd.to_numeric(orgs["members"], errors="coerce").fillna(0).astype("int64") if len(orgs) else pd.Series([], dtype="int64")
    by_type = pd.DataFrame({"type": list(ORG_TYPES)})
    counts = orgs.assign(members=members).groupby("type").agg(orgs=("name", "size"), org_members=("members", "sum")) if len(orgs) else None
    by_type["orgs"] = counts["orgs"].reindex(ORG_TYPES).fillna(0).astype("int64").to_numpy() if counts is not None else 0
    by_type["org_members"] = counts["org_members"].reindex(ORG_TYPES).fillna(0).astype("int64").to_numpy() if counts is not None else 0

    grids = dataset.layers.get("grids")
    branch = (
        set(grids.loc[grids["grid_branch"].astype(bool), "id"].astype(str))
        if grids is not None and "grid_branch" in grids.columns
        else set(orgs.loc[orgs["type"] == "grid", "grid"].astype(str)) - {""}
    )
    comp = pd.DataFrame(
        {
            "community": c["community"].fillna("").astype(str).to_numpy(),
            "org": c["has_party_org"].astype(bool).to_numpy(),
            "grid": c["grid"].fillna("").astype(str).to_numpy() if "grid" in c.columns else "",
        }
    )
    rows = []
    communities = sorted(set(comp["community"]) | set(orgs["community"].astype(str) if len(orgs) else ()))
    for name in communities:
        mine = comp[comp["community"] == name]
        grid_ids = set(mine["grid"]) - {""}
        in_orgs = orgs[orgs["community"].astype(str) == name] if len(orgs) else orgs
        rows.append(
            {
                "community": name,
                "compounds": len(mine),
                "org_compounds": int(mine["org"].sum()),
                "grids": len(grid_ids),
                "branch_grids": len(grid_ids & branch),
                "orgs": len(in_orgs),
                "org_members": int(members[in_orgs.index].sum()) if len(in_orgs) else 0,
            }
        )
    total = {k: sum(int(r[k]) for r in rows) for k in ("compounds", "org_compounds", "grids", "branch_grids", "orgs", "org_members")}
    rows.append({"community": TOTAL, **total})
    table = pd.DataFrame(rows, columns=[c for c in COMMUNITY_COLUMNS if "share" not in c])
    table["org_compound_share"] = [_share(a, b) for a, b in zip(table["org_compounds"], table["compounds"], strict=True)]
    table["grid_branch_share"] = [_share(a, b) for a, b in zip(table["branch_grids"], table["grids"], strict=True)]
    roster = orgs.assign(members=members)[list(ROSTER_COLUMNS)] if len(orgs) else pd.DataFrame(columns=list(ROSTER_COLUMNS))
    return ListingReport(
        kind="orgs",
        district=district_name(dataset),
        cards=[
            ("orgs", total["orgs"]),
            ("org_members", total["org_members"]),
            ("org_compound_share", _share(total["org_compounds"], total["compounds"])),
            ("grid_branch_share", _share(total["branch_grids"], total["grids"])),
        ],
        listings=[
            Listing("by_community", table, COMMUNITY_COLUMNS, total_last=True),
            Listing("by_type", by_type, ("type", "orgs", "org_members")),
            Listing("roster", roster, ROSTER_COLUMNS),
        ],
        value_labels={**type_labels(), **group_labels("community")},
        built_at=str(dataset.meta.get("built_at", "")),
    )


def alliance_report(dataset: Dataset) -> ListingReport:
    """The alliance of every neighbourhood unit with households or members: lead, N, X and the roster."""
    units = dataset.layers.get("units")
    if units is None or "alliance_roster" not in units.columns:
        frame = pd.DataFrame(columns=list(ALLIANCE_TABLE_COLUMNS))
    else:
        frame = pd.DataFrame(units.drop(columns=units.geometry.name)).rename(columns={"id": "unit"})
        frame = frame[(frame["households"].astype("int64") > 0) | (frame["alliance_size"].astype("int64") > 0)]
        communities = dataset["compounds"].groupby("unit")["community"].agg(lambda s: NAME_SEPARATOR.join(sorted(set(s.astype(str)) - {""})))
        frame["community"] = frame["unit"].map(communities).fillna("")
        frame = frame[list(ALLIANCE_TABLE_COLUMNS)]
    led = int((frame["alliance_lead"].astype(str) != "").sum()) if len(frame) else 0
    return ListingReport(
        kind="alliance",
        district=district_name(dataset),
        cards=[
            ("alliance_units", len(frame)),
            ("alliance_led_units", led),
            ("alliance_members_total", int(frame["alliance_size"].astype("int64").sum()) if len(frame) else 0),
        ],
        listings=[Listing("units", frame, ALLIANCE_TABLE_COLUMNS)],
        built_at=str(dataset.meta.get("built_at", "")),
    )
