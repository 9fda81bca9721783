"""What units and grids hold, counted from the compounds: one definition for every caller.

Units and grids count the compounds assigned to them (the compounds' ``unit``
and ``grid`` columns; cells are counted by :func:`layers.cells.cell_totals`).
The build, coverage variants, scenarios and incremental edits all count
through here, so a number on the map never depends on which of them produced it.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from layers.grids import staffing

#: Columns counted per unit / grid.
COUNT_COLUMNS: tuple[str, ...] = ("compounds", "households", "population")
#: Columns of covered compounds and households per unit / grid / cell.
SHARE_COLUMNS: tuple[str, ...] = ("covered_compounds", "covered_households", "coverage")


def _rows(frame: gpd.GeoDataFrame, ids: Sequence[str] | None) -> gpd.GeoDataFrame:
    if ids is None:
        return frame.copy()
    return frame[frame["id"].astype(str).isin([str(i) for i in ids])].copy()


def share(covered: np.ndarray, total: np.ndarray, *, min_total: float = 0.0) -> np.ndarray:
    total = np.asarray(total, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > min_total, np.round(np.asarray(covered, dtype=float) / total, 3), np.nan)


def covered_shares(
    polys: gpd.GeoDataFrame, compounds: pd.DataFrame, key: str, *, ids: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """``covered_compounds``, ``covered_households`` and ``coverage`` of units or grids.

    Parameters
    ----------
    polys
        Units or grids with ``id`` and ``households``.
    compounds
        Compounds with ``covered``, ``households`` and the ``key`` column
        naming their unit or grid.
    key
        ``unit`` or ``grid``.
    ids
        Only these rows of ``polys`` (default: all).

    Returns
    -------
    GeoDataFrame
        A copy of the (selected) rows with the three columns set; ``polys``
        unchanged when the compounds lack ``key`` or ``covered``.
    """
    out = _rows(polys, ids)
    if not len(polys) or key not in compounds.columns or "covered" not in compounds.columns or "id" not in polys.columns:
        return out
    cov = compounds["covered"].fillna(False).astype(bool).to_numpy()
    totals = (
        pd.DataFrame(
            {
                "key": compounds[key].astype(str).to_numpy(),
                "covered_compounds": cov.astype("int64"),
                "covered_households": compounds["households"].to_numpy(dtype="int64") * cov,
            }
        )
        .groupby("key")[["covered_compounds", "covered_households"]]
        .sum()
    )
    joined = totals.reindex(out["id"].astype(str).to_numpy()).fillna(0).astype("int64")
    out["covered_compounds"] = joined["covered_compounds"].to_numpy()
    out["covered_households"] = joined["covered_households"].to_numpy()
    if "households" in out.columns:
        out["coverage"] = share(out["covered_households"].to_numpy(), out["households"].to_numpy(dtype=float))
    return out


def polygon_counts(
    polys: gpd.GeoDataFrame, compounds: pd.DataFrame, key: str, *, ids: Sequence[str] | None = None
) -> gpd.GeoDataFrame:
    """``compounds``, ``households`` and ``population`` of units or grids from the compounds' ``key`` column.

    Returns a copy of the (selected) rows of ``polys``.
    """
    out = _rows(polys, ids)
    if not len(out) or key not in compounds.columns:
        return out
    population = compounds["population"] if "population" in compounds.columns else pd.Series(0, index=compounds.index)
    totals = (
        pd.DataFrame(
            {
                "key": compounds[key].astype(str).to_numpy(),
                "compounds": 1,
                "households": compounds["households"].to_numpy(dtype="int64"),
                "population": pd.to_numeric(population, errors="coerce").fillna(0).to_numpy(dtype="int64"),
            }
        )
        .groupby("key")[list(COUNT_COLUMNS)]
        .sum()
    )
    joined = totals.reindex(out["id"].astype(str).to_numpy()).fillna(0).astype("int64")
    for col in COUNT_COLUMNS:
        out[col] = joined[col].to_numpy()
    return out


def grid_attributes(
    grids: gpd.GeoDataFrame, compounds: pd.DataFrame, *, min_households: int, max_households: int
) -> gpd.GeoDataFrame:
    """``flags``, ``staffing`` and ``compound_ids`` of grids from their counts and the compounds' ``grid`` column.

    ``flags``: ``empty`` (no compound), ``oversize`` (more than
    ``max_households``), ``undersize`` (fewer than ``min_households``), as
    :func:`layers.grids.governance_grids` sets them.
    """
    out = grids.copy()
    if not len(out):
        return out
    hh = out["households"].to_numpy(dtype="int64")
    n = out["compounds"].to_numpy(dtype="int64")
    out["flags"] = np.where(n == 0, "empty", np.where(hh > max_households, "oversize", np.where(hh < min_households, "undersize", "")))
    out["staffing"] = staffing(hh)
    if "grid" in compounds.columns:
        grid = compounds["grid"].astype(str)
        mine = grid.isin(out["id"].astype(str)).to_numpy()
        ids = pd.Series(compounds["id"].astype(str).to_numpy()[mine], dtype=object)
        members = ids.groupby(grid.to_numpy()[mine]).agg(",".join)
        out["compound_ids"] = members.reindex(out["id"].astype(str).to_numpy()).fillna("").to_numpy()
    return out
