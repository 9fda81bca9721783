"""The needs report (需求清单对接): residents' needs against the services centres offer within the walking limit.

Reads the ``needs`` and ``unmet_needs`` columns the build writes on compounds
(:mod:`layers.services.match`): per category, the compounds and households
needing it and those no centre offering it reaches; per community; and the
compounds with an unmet need, with the nearby centre that could add it.
"""

from __future__ import annotations

import pandas as pd

from layers.dataset import Dataset, district_name
from layers.reports.listing import TOTAL, Listing, ListingReport, ValueLabels, group_labels
from layers.services.catalogue import Category, catalogue_from
from layers.services.parse import parse_categories

#: Columns of the per-category and per-community tables.
CATEGORY_COLUMNS: tuple[str, ...] = ("category", "need_compounds", "need_households", "unmet_compounds", "unmet_households", "met_share")
COMMUNITY_NEED_COLUMNS: tuple[str, ...] = ("community", "need_compounds", "need_households", "unmet_compounds", "unmet_households")
#: Columns of the list of compounds with an unmet need.
UNMET_COLUMNS: tuple[str, ...] = ("id", "name", "community", "unit", "households", "needs", "unmet_needs", "unmet_needs_nearby")


def category_labels(catalogue: tuple[Category, ...]) -> ValueLabels:
    """The categories' names by language for the columns holding Chinese names (``category``, ``needs`` ...)."""
    names = {"zh": {c.zh: c.zh for c in catalogue}, "en": {c.zh: c.en for c in catalogue}}
    return {column: names for column in ("category", "needs", "unmet_needs", "unmet_needs_nearby")}


def needs_report(dataset: Dataset) -> ListingReport:
    """Needs by category and community, and every compound with an unmet need (most households first)."""
    catalogue = catalogue_from(dataset.meta.get("service_catalogue"))
    c = dataset["compounds"]
    zh = {cat.key: cat.zh for cat in catalogue}
    needs = [parse_categories(v, catalogue)[0] for v in (c["needs"] if "needs" in c.columns else [""] * len(c))]
    unmet = [parse_categories(v, catalogue)[0] for v in (c["unmet_needs"] if "unmet_needs" in c.columns else [""] * len(c))]
    hh = c["households"].astype("int64").to_numpy()
    rows = []
    for cat in catalogue:
        need = [cat.key in n for n in needs]
        miss = [cat.key in u for u in unmet]
        rows.append(
            {
                "category": cat.zh,
                "need_compounds": sum(need),
                "need_households": int(hh[need].sum()),
                "unmet_compounds": sum(miss),
                "unmet_households": int(hh[miss].sum()),
            }
        )
    by_category = pd.DataFrame(rows, columns=list(CATEGORY_COLUMNS[:-1]))
    by_category["met_share"] = [
        round(1 - u / n, 6) if n else float("nan") for u, n in zip(by_category["unmet_compounds"], by_category["need_compounds"], strict=True)
    ]
    flags = pd.DataFrame(
        {
            "community": c["community"].fillna("").astype(str).to_numpy(),
            "need": [bool(n) for n in needs],
            "unmet": [bool(u) for u in unmet],
            "households": hh,
        }
    )
    flags["need_households"] = flags["households"] * flags["need"]
    flags["unmet_households"] = flags["households"] * flags["unmet"]
    grouped = flags.groupby("community", sort=True).agg(
        need_compounds=("need", "sum"), need_households=("need_households", "sum"),
        unmet_compounds=("unmet", "sum"), unmet_households=("unmet_households", "sum"),
    ).reset_index()
    grouped = grouped[grouped["need_compounds"] > 0]
    total = {k: int(grouped[k].sum()) for k in COMMUNITY_NEED_COLUMNS[1:]}
    by_community = pd.concat([grouped, pd.DataFrame([{"community": TOTAL, **total}])], ignore_index=True)
    listed = c.assign(needs=["、".join(zh[k] for k in n) for n in needs])
    listed = listed[flags["unmet"].to_numpy()].sort_values(["households", "id"], ascending=[False, True])
    for column in UNMET_COLUMNS:
        if column not in listed.columns:
            listed[column] = ""
    return ListingReport(
        kind="needs",
        district=district_name(dataset),
        cards=[
            ("need_compounds", total["need_compounds"]),
            ("unmet_compounds", total["unmet_compounds"]),
            ("unmet_households", total["unmet_households"]),
        ],
        listings=[
            Listing("by_category", by_category, CATEGORY_COLUMNS),
            Listing("by_community", by_community, COMMUNITY_NEED_COLUMNS, total_last=True),
            Listing("compounds", pd.DataFrame(listed[list(UNMET_COLUMNS)]), UNMET_COLUMNS),
        ],
        value_labels={**category_labels(catalogue), **group_labels("community")},
        built_at=str(dataset.meta.get("built_at", "")),
    )
