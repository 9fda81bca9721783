"""The gap analysis: which compounds no service centre reaches, how many households, where.

:func:`gap_report` turns a built dataset into plain tables (no formatting, no
language), a :class:`~layers.reports.gap_tables.GapReport`: a district
total, one row per group (subdistrict, community, neighbourhood unit or
governance grid) and the list of uncovered compounds.  Every household count
is an exact integer sum of the ``compounds`` layer, so the total row, the sum
of the group rows and the compounds layer agree to the household.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.errors import NotBuiltError
from layers.circles import DEFAULT_MINUTES, DEFAULT_SPEED_KMH
from layers.coverage import DEFAULT_STATUSES, counted_centers
from layers.dataset import Dataset, district_name
from layers.reports.gap_tables import COUNT_COLUMNS, GapReport, GroupBy, parse_group_by
from layers.schema import LEVELS


def coverage_params(dataset: Dataset) -> dict[str, Any]:
    """The build's coverage parameters with their defaults: ``minutes``, ``speed_kmh``, ``level_minutes``, ``statuses``."""
    params = dataset.meta.get("params") or {}
    return {
        "minutes": float(params.get("minutes", DEFAULT_MINUTES)),
        "speed_kmh": float(params.get("speed_kmh", DEFAULT_SPEED_KMH)),
        "level_minutes": dict(params.get("level_minutes") or {}),
        "statuses": list(params.get("statuses") or DEFAULT_STATUSES),
    }


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


def _target_minutes(c: pd.DataFrame, centers: pd.DataFrame, params: dict[str, Any]) -> np.ndarray:
    """Minutes of the nearest centre's level for each compound (NaN when there is none)."""
    if not len(centers):
        return np.full(len(c), np.nan)
    minutes, level_minutes = params["minutes"], params["level_minutes"]
    level_of = dict(zip(centers["id"].astype(str), centers["level"].astype(str), strict=True))
    near = c["nearest_center"].fillna("").astype(str)
    levels = near.map(level_of)
    target = levels.map(lambda lv: float(level_minutes.get(lv, minutes)) if isinstance(lv, str) else np.nan)
    return target.to_numpy(dtype=float)


def _compound_counts(c: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """One row per compound: its group key and its counts (1 compound, households, covered or not, ...)."""
    cov = c["covered"].astype(bool).to_numpy()
    hh = c["households"].astype("int64").to_numpy()
    pop = c["population"].astype("int64").to_numpy()
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
    if "covered_circle" in c.columns:
        ccov = c["covered_circle"].astype(bool).to_numpy()
        frame["circle_covered_compounds"] = ccov.astype("int64")
        frame["circle_covered_households"] = np.where(ccov, hh, 0)
    return frame


def _add_shares(rows: pd.DataFrame | dict[str, Any], *, prefix: str = "") -> None:
    """``{prefix}compound_share`` and ``{prefix}household_share`` beside the counts, in place (0-1, NaN of nothing)."""
    for what, of in (("compound", "compounds"), ("household", "households")):
        share = _share(rows[f"{prefix}covered_{of}"], rows[of])
        rows[f"{prefix}{what}_share"] = float(share) if isinstance(rows, dict) else share


def _group_rows(
    frame: pd.DataFrame, counted: gpd.GeoDataFrame, center_keys: pd.Series, names: dict[str, str]
) -> pd.DataFrame:
    """The group table: counts summed per key, centres counted per level, shares; most uncovered households first."""
    sums = frame.groupby("key", sort=True).sum()
    centre_counts = pd.crosstab(center_keys.to_numpy(), counted["level"].to_numpy()) if len(counted) else pd.DataFrame()
    centre_counts = centre_counts.reindex(columns=list(LEVELS), fill_value=0).add_prefix("centers_")
    groups = sums.join(centre_counts, how="outer").fillna(0)
    int_cols = [col for col in groups.columns if col in COUNT_COLUMNS or col.startswith("circle_covered")]
    groups[int_cols] = groups[int_cols].astype("int64")
    groups.index.name = "key"
    groups = groups.reset_index()
    groups["name"] = [names.get(k, k) for k in groups["key"]]
    _add_shares(groups)
    if "circle_covered_compounds" in groups.columns:
        _add_shares(groups, prefix="circle_")
    groups = groups.sort_values(["uncovered_households", "households", "key"], ascending=[False, False, True])
    return groups.reset_index(drop=True)


def _totals(frame: pd.DataFrame, counted: gpd.GeoDataFrame, district: str) -> dict[str, Any]:
    """The district total row: every count column summed, centres counted per level, the shares."""
    totals: dict[str, Any] = {"key": "", "name": district}
    for col in COUNT_COLUMNS:
        if col.startswith("centers_"):
            totals[col] = int((counted["level"] == col.removeprefix("centers_")).sum()) if len(counted) else 0
        else:
            totals[col] = int(frame[col].sum())
    _add_shares(totals)
    if "circle_covered_compounds" in frame.columns:
        totals["circle_covered_compounds"] = int(frame["circle_covered_compounds"].sum())
        totals["circle_covered_households"] = int(frame["circle_covered_households"].sum())
        _add_shares(totals, prefix="circle_")
    return totals


def _compare(c: pd.DataFrame, totals: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Covered compounds, households and shares by each method, and what the straight line counts wrongly."""
    cov = c["covered"].astype(bool).to_numpy()
    ccov = c["covered_circle"].astype(bool).to_numpy()
    hh = c["households"].astype("int64").to_numpy()
    over = ccov & ~cov
    under = cov & ~ccov
    fields = ("covered_compounds", "covered_households", "compound_share", "household_share")
    return {
        "circle": {k: totals[f"circle_{k}"] for k in fields},
        "network": {k: totals[k] for k in fields},
        "overcount": {"compounds": int(over.sum()), "households": int(hh[over].sum())},
        "undercount": {"compounds": int(under.sum()), "households": int(hh[under].sum())},
    }


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
    params = coverage_params(dataset)
    built_method = (dataset.meta.get("params") or {}).get("method", "circle")
    method = str(c["method"].iloc[0]) if "method" in c.columns and len(c) else built_method
    keys, names = _group_keys(dataset, by)
    frame = _compound_counts(c, keys)
    counted = counted_centers(dataset["centers"], params["statuses"])
    groups = _group_rows(frame, counted, _center_keys(dataset, by, counted), names)
    totals = _totals(frame, counted, district_name(dataset))
    return GapReport(
        by=by,
        district=str(totals["name"]),
        totals=totals,
        groups=groups,
        uncovered=_uncovered_list(c, dataset["centers"], params),
        compare=_compare(c, totals) if "covered_circle" in c.columns else None,
        params={"method": method, **params},
        built_at=str(dataset.meta.get("built_at", "")),
    )


def _uncovered_list(c: pd.DataFrame, centers: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The uncovered compounds with walking figures, largest first."""
    cov = c["covered"].astype(bool).to_numpy()
    target = _target_minutes(c, centers, params)
    walk_min = pd.to_numeric(c["walk_min"], errors="coerce").to_numpy(dtype=float)

    def text_col(name: str) -> np.ndarray:
        values = c[name].to_numpy() if name in c.columns else np.full(len(c), "", dtype=object)
        return pd.Series(values).fillna("").astype(str).to_numpy()

    def number_col(name: str) -> np.ndarray:
        return pd.to_numeric(c[name], errors="coerce").to_numpy(dtype=float)

    out = pd.DataFrame(
        {
            "id": c["id"].astype(str).to_numpy(),
            "name": c["name"].astype(str).to_numpy(),
            "community": text_col("community"),
            "subdistrict": text_col("subdistrict"),
            "unit": text_col("unit"),
            "grid": text_col("grid"),
            "households": c["households"].astype("int64").to_numpy(),
            "population": c["population"].astype("int64").to_numpy(),
            "has_party_org": c["has_party_org"].astype(bool).to_numpy(),
            "nearest_center": text_col("nearest_center_name"),
            "nearest_center_id": text_col("nearest_center"),
            "walk_min": walk_min,
            "walk_m": number_col("walk_m"),
            "target_min": target,
            "beyond_min": np.round(walk_min - target, 2),
            "straight_m": number_col("straight_m"),
            "flags": text_col("flags"),
        }
    )[~cov]
    out = out.sort_values(["households", "id"], ascending=[False, True], kind="stable")
    return out.reset_index(drop=True)
