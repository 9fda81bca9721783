"""Gap reports: which compounds no service centre reaches, how many households, where.

:func:`gap_report` turns a built dataset into plain tables (no formatting, no
language): a district total, one row per group (subdistrict, community,
neighbourhood unit or governance grid) and the list of uncovered compounds.
Every household count is an exact integer sum of the ``compounds`` layer, so
the total row, the sum of the group rows and the compounds layer agree to the
household.  :mod:`layers.report_formats` writes the tables as JSON, CSV, XLSX
and HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import NotBuiltError, parse_choice
from layers.circles import DEFAULT_MINUTES, DEFAULT_SPEED_KMH
from layers.coverage import DEFAULT_STATUSES
from layers.dataset import Dataset, district_name
from layers.schema import LEVELS


class GroupBy(StrEnum):
    """What the rows of a gap report are."""

    subdistrict = "subdistrict"
    community = "community"
    unit = "unit"
    grid = "grid"


def parse_group_by(value: str | GroupBy) -> GroupBy:
    """A :class:`GroupBy` from text, with an error listing the valid values."""
    return parse_choice(GroupBy, value, field="by")


#: Count columns of the group and total rows (integers), in report order.
COUNT_COLUMNS: tuple[str, ...] = (
    "compounds",
    "households",
    "population",
    "covered_compounds",
    "uncovered_compounds",
    "covered_households",
    "uncovered_households",
    "covered_population",
    "no_party_org",
    *(f"centers_{lv}" for lv in LEVELS),
)
#: Share columns (0-1 floats; NaN where the denominator is 0).
SHARE_COLUMNS: tuple[str, ...] = ("compound_share", "household_share")
#: Extra columns when the build computed both the straight line and the walking network.
CIRCLE_COLUMNS: tuple[str, ...] = (
    "circle_covered_compounds",
    "circle_compound_share",
    "circle_covered_households",
    "circle_household_share",
)
#: Columns of the group table, in report order (circle ones only when present).
GROUP_COLUMNS: tuple[str, ...] = (
    "key",
    "name",
    "compounds",
    "households",
    "population",
    "covered_compounds",
    "uncovered_compounds",
    "compound_share",
    "covered_households",
    "uncovered_households",
    "household_share",
    "covered_population",
    "no_party_org",
    *(f"centers_{lv}" for lv in LEVELS),
)
#: Columns of the uncovered-compounds list, in report order.
UNCOVERED_COLUMNS: tuple[str, ...] = (
    "id",
    "name",
    "community",
    "subdistrict",
    "unit",
    "grid",
    "households",
    "population",
    "has_party_org",
    "nearest_center",
    "nearest_center_id",
    "walk_min",
    "walk_m",
    "target_min",
    "beyond_min",
    "straight_m",
    "flags",
)


@dataclass
class GapReport:
    """The gap report of one dataset, as plain tables.

    Attributes
    ----------
    by
        The grouping of :attr:`groups`.
    district
        District name.
    totals
        The district total: the :data:`COUNT_COLUMNS` (int), the shares and,
        when both methods were computed, the :data:`CIRCLE_COLUMNS`.
    groups
        One row per group with :data:`GROUP_COLUMNS` (plus the circle ones),
        sorted by uncovered households, descending.  Compounds (or centres)
        outside every group make one row with ``key == ""``.
    uncovered
        The uncovered compounds with :data:`UNCOVERED_COLUMNS`, largest
        first.  ``walk_*`` is the walk to the nearest counted centre (NaN when
        none is reachable); ``target_min`` that centre's minutes;
        ``beyond_min`` = ``walk_min - target_min``.
    compare
        ``None``, or when the build used the walking network and also the
        straight line: ``{"circle": {...}, "network": {...}, "overcount":
        {...}}`` with covered compounds/households and shares per method.
    params
        ``method``, ``minutes``, ``speed_kmh``, ``level_minutes``, ``statuses``.
    built_at, generated_at
        ISO timestamps (UTC) of the build and of this report.
    """

    by: GroupBy
    district: str
    totals: dict[str, Any]
    groups: pd.DataFrame
    uncovered: pd.DataFrame
    compare: dict[str, dict[str, Any]] | None
    params: dict[str, Any]
    built_at: str = ""
    generated_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def has_compare(self) -> bool:
        """Whether the straight-line shares are reported beside the walking ones."""
        return self.compare is not None

    def group_columns(self) -> list[str]:
        """The columns of :attr:`groups` in report order."""
        return [*GROUP_COLUMNS, *(CIRCLE_COLUMNS if self.has_compare else ())]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (NaN becomes ``None``; shares rounded to 4 places)."""
        return {
            "district": self.district,
            "by": self.by.value,
            "params": self.params,
            "built_at": self.built_at,
            "generated_at": self.generated_at,
            "totals": _plain(self.totals),
            "groups": [_plain(r) for r in self.groups[self.group_columns()].to_dict("records")],
            "uncovered": [_plain(r) for r in self.uncovered[list(UNCOVERED_COLUMNS)].to_dict("records")],
            "compare": None if self.compare is None else {k: _plain(v) for k, v in self.compare.items()},
        }


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, (np.integer,)):
            v = int(v)
        elif isinstance(v, (float, np.floating)):
            v = None if not np.isfinite(v) else (round(float(v), 4) if "share" in k else round(float(v), 2))
        elif isinstance(v, np.bool_):
            v = bool(v)
        out[k] = v
    return out


def _share(num: pd.Series | np.ndarray | int, den: pd.Series | np.ndarray | int) -> Any:
    with np.errstate(invalid="ignore", divide="ignore"):
        num_f = np.asarray(num, dtype=float)
        den_f = np.asarray(den, dtype=float)
        return np.where(den_f > 0, num_f / np.where(den_f > 0, den_f, 1.0), np.nan)


def _group_keys(dataset: Dataset, by: GroupBy) -> tuple[pd.Series, dict[str, str]]:
    """Group key of every compound and the display name of every key."""
    c = dataset["compounds"]
    if by.value not in c.columns:
        msg = f"compounds carry no `{by.value}` column; build the dataset first (dangjian build)"
        raise NotBuiltError(msg, field="by")
    keys = c[by.value].fillna("").astype(str)
    names: dict[str, str] = {}
    layer = {"unit": "units", "grid": "grids"}.get(by.value)
    if layer and dataset.has(layer):
        frame = dataset[layer]
        names = dict(zip(frame["id"].astype(str), frame["name"].astype(str), strict=True))
    return keys, names


def _center_keys(dataset: Dataset, by: GroupBy, counted: gpd.GeoDataFrame) -> pd.Series:
    """Group key of every counted centre (``""`` when it lies in no group)."""
    if not len(counted):
        return pd.Series([], dtype=object)
    if by in (GroupBy.community, GroupBy.subdistrict):
        if by.value in counted.columns:
            return counted[by.value].fillna("").astype(str)
        return pd.Series("", index=counted.index, dtype=object)
    layer = "units" if by is GroupBy.unit else "grids"
    if not dataset.has(layer):
        return pd.Series("", index=counted.index, dtype=object)
    polys = dataset[layer]
    if by is GroupBy.unit and "water" in polys.columns:
        polys = polys[~polys["water"].astype(bool)]
    pts = counted.to_crs(dataset.metric_crs)
    hit = gpd.sjoin(pts[["geometry"]], polys.to_crs(dataset.metric_crs)[["id", "geometry"]], predicate="within")
    first = hit["id"].astype(str).groupby(level=0).first()
    return first.reindex(counted.index).fillna("").astype(str)


def _counted_centers(dataset: Dataset, statuses: list[str]) -> gpd.GeoDataFrame:
    centers = dataset["centers"]
    if not len(centers):
        return centers
    return centers[centers["status"].isin(statuses)]


def _target_minutes(c: pd.DataFrame, centers: pd.DataFrame, params: dict[str, Any]) -> np.ndarray:
    """Minutes of the nearest centre's level for each compound (NaN when there is none)."""
    minutes = float(params.get("minutes", DEFAULT_MINUTES))
    level_minutes = params.get("level_minutes") or {}
    if not len(centers):
        return np.full(len(c), np.nan)
    level_of = dict(zip(centers["id"].astype(str), centers["level"].astype(str), strict=True))
    near = c["nearest_center"].fillna("").astype(str)
    levels = near.map(level_of)
    target = levels.map(lambda lv: float(level_minutes.get(lv, minutes)) if isinstance(lv, str) else np.nan)
    return target.to_numpy(dtype=float)


def gap_report(dataset: Dataset, *, by: str | GroupBy = GroupBy.community) -> GapReport:
    """The gap report of a built dataset.

    Parameters
    ----------
    dataset
        A built dataset (``compounds`` carry ``covered``, ``walk_m``,
        ``walk_min``, ``straight_m``, ``nearest_center`` and the group
        columns ``subdistrict``, ``community``, ``unit``, ``grid``).
    by
        Grouping of the rows: ``subdistrict``, ``community``, ``unit`` or
        ``grid``.

    Returns
    -------
    GapReport
        Households and population are integers summed from the compounds
        layer; walking figures are metres and minutes; shares are 0-1.
        Centres counted per level are the ones whose status counted for
        coverage in the build (default ``existing``).

    Raises
    ------
    NotBuiltError
        The dataset has no coverage columns yet.
    InvalidValueError
        ``by`` is not a known grouping.
    """
    by = parse_group_by(by)
    c = dataset["compounds"]
    if "covered" not in c.columns:
        msg = "the dataset has no coverage yet; run `dangjian build` first"
        raise NotBuiltError(msg, field="dataset")
    params = dict(dataset.meta.get("params") or {})
    statuses = list(params.get("statuses") or DEFAULT_STATUSES)
    report_params = {
        "method": str(c["method"].iloc[0]) if "method" in c.columns and len(c) else params.get("method", "circle"),
        "minutes": float(params.get("minutes", DEFAULT_MINUTES)),
        "speed_kmh": float(params.get("speed_kmh", DEFAULT_SPEED_KMH)),
        "level_minutes": dict(params.get("level_minutes") or {}),
        "statuses": statuses,
    }
    keys, names = _group_keys(dataset, by)
    cov = c["covered"].astype(bool).to_numpy()
    hh = c["households"].astype("int64").to_numpy()
    pop = c["population"].astype("int64").to_numpy()
    has_circle = "covered_circle" in c.columns
    frame = pd.DataFrame(
        {
            "key": keys.to_numpy(),
            "compounds": 1,
            "households": hh,
            "population": pop,
            "covered_compounds": cov.astype("int64"),
            "uncovered_compounds": (~cov).astype("int64"),
            "covered_households": np.where(cov, hh, 0),
            "uncovered_households": np.where(cov, 0, hh),
            "covered_population": np.where(cov, pop, 0),
            "no_party_org": (~c["has_party_org"].astype(bool).to_numpy()).astype("int64"),
        }
    )
    if has_circle:
        ccov = c["covered_circle"].astype(bool).to_numpy()
        frame["circle_covered_compounds"] = ccov.astype("int64")
        frame["circle_covered_households"] = np.where(ccov, hh, 0)
    sums = frame.groupby("key", sort=True).sum()

    counted = _counted_centers(dataset, statuses)
    ckeys = _center_keys(dataset, by, counted)
    centre_counts = pd.crosstab(ckeys.to_numpy(), counted["level"].to_numpy()) if len(counted) else pd.DataFrame()
    centre_counts = centre_counts.reindex(columns=list(LEVELS), fill_value=0).add_prefix("centers_")
    groups = sums.join(centre_counts, how="outer").fillna(0)
    int_cols = [col for col in groups.columns if col in COUNT_COLUMNS or col.startswith("circle_covered")]
    groups[int_cols] = groups[int_cols].astype("int64")
    groups.index.name = "key"
    groups = groups.reset_index()
    groups["name"] = [names.get(k, k) for k in groups["key"]]
    groups["compound_share"] = _share(groups["covered_compounds"], groups["compounds"])
    groups["household_share"] = _share(groups["covered_households"], groups["households"])
    if has_circle:
        groups["circle_compound_share"] = _share(groups["circle_covered_compounds"], groups["compounds"])
        groups["circle_household_share"] = _share(groups["circle_covered_households"], groups["households"])
    groups = groups.sort_values(["uncovered_households", "households", "key"], ascending=[False, False, True])
    groups = groups.reset_index(drop=True)

    totals: dict[str, Any] = {"key": "", "name": district_name(dataset)}
    for col in COUNT_COLUMNS:
        if col.startswith("centers_"):
            totals[col] = int((counted["level"] == col.removeprefix("centers_")).sum()) if len(counted) else 0
        else:
            totals[col] = int(frame[col].sum())
    totals["compound_share"] = float(_share(totals["covered_compounds"], totals["compounds"]))
    totals["household_share"] = float(_share(totals["covered_households"], totals["households"]))
    compare = None
    if has_circle:
        totals["circle_covered_compounds"] = int(frame["circle_covered_compounds"].sum())
        totals["circle_covered_households"] = int(frame["circle_covered_households"].sum())
        totals["circle_compound_share"] = float(_share(totals["circle_covered_compounds"], totals["compounds"]))
        totals["circle_household_share"] = float(_share(totals["circle_covered_households"], totals["households"]))
        ccov = c["covered_circle"].astype(bool).to_numpy()
        over = ccov & ~cov
        under = cov & ~ccov
        compare = {
            "circle": {
                "covered_compounds": totals["circle_covered_compounds"],
                "covered_households": totals["circle_covered_households"],
                "compound_share": totals["circle_compound_share"],
                "household_share": totals["circle_household_share"],
            },
            "network": {
                "covered_compounds": totals["covered_compounds"],
                "covered_households": totals["covered_households"],
                "compound_share": totals["compound_share"],
                "household_share": totals["household_share"],
            },
            "overcount": {"compounds": int(over.sum()), "households": int(hh[over].sum())},
            "undercount": {"compounds": int(under.sum()), "households": int(hh[under].sum())},
        }
    return GapReport(
        by=by,
        district=str(totals["name"]),
        totals=totals,
        groups=groups,
        uncovered=_uncovered_list(c, dataset["centers"], params),
        compare=compare,
        params=report_params,
        built_at=str(dataset.meta.get("built_at", "")),
    )


def _uncovered_list(c: pd.DataFrame, centers: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The uncovered compounds with walking figures, largest first."""
    cov = c["covered"].astype(bool).to_numpy()
    target = _target_minutes(c, centers, params)
    walk_min = pd.to_numeric(c["walk_min"], errors="coerce").to_numpy(dtype=float)

    def col(name: str, default: Any = "") -> np.ndarray:
        return c[name].to_numpy() if name in c.columns else np.full(len(c), default, dtype=object)

    out = pd.DataFrame(
        {
            "id": c["id"].astype(str).to_numpy(),
            "name": c["name"].astype(str).to_numpy(),
            "community": pd.Series(col("community")).fillna("").astype(str).to_numpy(),
            "subdistrict": pd.Series(col("subdistrict")).fillna("").astype(str).to_numpy(),
            "unit": pd.Series(col("unit")).fillna("").astype(str).to_numpy(),
            "grid": pd.Series(col("grid")).fillna("").astype(str).to_numpy(),
            "households": c["households"].astype("int64").to_numpy(),
            "population": c["population"].astype("int64").to_numpy(),
            "has_party_org": c["has_party_org"].astype(bool).to_numpy(),
            "nearest_center": pd.Series(col("nearest_center_name")).fillna("").astype(str).to_numpy(),
            "nearest_center_id": pd.Series(col("nearest_center")).fillna("").astype(str).to_numpy(),
            "walk_min": walk_min,
            "walk_m": pd.to_numeric(c["walk_m"], errors="coerce").to_numpy(dtype=float),
            "target_min": target,
            "beyond_min": np.round(walk_min - target, 2),
            "straight_m": pd.to_numeric(c["straight_m"], errors="coerce").to_numpy(dtype=float),
            "flags": pd.Series(col("flags")).fillna("").astype(str).to_numpy(),
        }
    )[~cov]
    out = out.sort_values(["households", "id"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)


