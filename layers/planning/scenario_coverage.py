"""What a scenario does to coverage: the base dataset with its changes, and the difference from the base.

:func:`scenario_dataset` gives the base with the changes applied
(:func:`layers.planning.changes.apply_changes`) and coverage recomputed with
the base's build parameters (the base is never changed);
:func:`scenario_result` the coverage and the difference from the base:
compounds and households gained and lost, by community.  A centre counts for
coverage when its status is one the build counted (default ``existing``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.network import WalkNetwork
from geo.plain import json_records
from layers.build import BuildParams, centre_circles, centre_service_areas, coverage_kwargs, summarize
from layers.cells import cell_totals
from layers.coverage import Method, compound_coverage, parse_method
from layers.dataset import Dataset
from layers.planning.changes import apply_changes
from layers.planning.counts import coverage_counts
from layers.planning.scenarios import Scenario
from layers.shares import covered_shares
from layers.walking import SHARED_NETWORKS


def _walk_network(dataset: Dataset) -> WalkNetwork:
    """The walking network of the dataset's roads, built once per roads frame."""
    return SHARED_NETWORKS.get(dataset["roads"], metric_crs=dataset.metric_crs)


def _coverage(base: Dataset, centers: gpd.GeoDataFrame, params: BuildParams) -> gpd.GeoDataFrame:
    """Compounds with coverage columns from ``centers`` (network builds: the straight-line ones beside them)."""
    network = _walk_network(base) if parse_method(params.method) is Method.network else None
    return compound_coverage(base["compounds"], centers, network=network, **coverage_kwargs(base, params))


def scenario_dataset(base: Dataset, scenario: Scenario) -> Dataset:
    """The base dataset with the scenario's changes and coverage recomputed.

    Parameters
    ----------
    base
        A dataset (EPSG:4326), built or not; its build parameters
        (``meta["params"]``: method, minutes, speed, per-level minutes,
        counted statuses) are used.  It is not changed.
    scenario
        The changes.

    Returns
    -------
    Dataset
        New ``centers`` (with ``scenario_change``), ``compounds`` with the
        coverage columns recomputed, ``circles`` for the new centres and,
        when the base has them, ``units``, ``grids`` and ``cells`` with
        their covered counts refreshed; network builds also get
        ``service_areas``.  ``meta["scenario"]`` names the scenario and
        ``meta["summary"]`` holds the new headline figures.
    """
    params = BuildParams.from_meta(base.meta)
    centers = apply_changes(base["centers"], scenario.changes, dataset=base)
    compounds = _coverage(base, centers, params)
    layers: dict[str, gpd.GeoDataFrame] = {"centers": centers, "compounds": compounds}
    layers["circles"] = centre_circles(centers, base, params)
    if base.has("units"):
        layers["units"] = covered_shares(base["units"], compounds, "unit")
    if base.has("grids"):
        layers["grids"] = covered_shares(base["grids"], compounds, "grid")
    if base.has("cells") and "covered_households" in base["cells"].columns:
        layers["cells"] = cell_totals(base["cells"], compounds, metric_crs=base.metric_crs, households=False)
    if parse_method(params.method) is Method.network:
        layers["service_areas"] = centre_service_areas(_walk_network(base), centers, base, params)
    out = base.replace(**layers)
    out.meta["scenario"] = {"id": scenario.id, "name": scenario.name}
    out.meta["summary"] = summarize(out)
    return out


def _base_coverage(base: Dataset) -> gpd.GeoDataFrame:
    c = base["compounds"]
    if "covered" in c.columns:
        return c
    return _coverage(base, base["centers"], BuildParams.from_meta(base.meta))


@dataclass
class ScenarioResult:
    """A scenario's coverage and its difference from the base.

    Attributes
    ----------
    scenario
        The scenario.
    base, coverage
        Headline figures without and with the changes: ``compounds``,
        ``covered_compounds``, ``households``, ``covered_households``,
        ``share`` (of households), ``compound_share``.
    difference
        ``gained_compounds``, ``gained_households``, ``lost_compounds``,
        ``lost_households``, ``net_households``.
    by_community
        One row per community: ``community``, ``compounds``, ``households``,
        ``base_covered_households``, ``scenario_covered_households``,
        ``gained_*``, ``lost_*``, ``base_household_share``,
        ``scenario_household_share``; largest change first.
    changed
        Compounds whose coverage changed: ``id``, ``name``, ``community``,
        ``households``, ``change`` (``gained``/``lost``), ``walk_min_base``,
        ``walk_min``, ``nearest_center``.
    centers
        The scenario's centres (EPSG:4326) with ``scenario_change``.
    seconds
        Time to recompute (s).
    removed_centers
        Ids of base centres the scenario removes.
    """

    scenario: Scenario
    base: dict[str, Any]
    coverage: dict[str, Any]
    difference: dict[str, int]
    by_community: pd.DataFrame
    changed: pd.DataFrame
    centers: gpd.GeoDataFrame
    seconds: float
    removed_centers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        changed_centers = self.centers[self.centers["scenario_change"] != ""]
        return {
            "scenario": self.scenario.as_dict(),
            "base": self.base,
            "coverage": self.coverage,
            "difference": self.difference,
            "by_community": json_records(self.by_community),
            "changed_compounds": json_records(self.changed),
            "changed_centers": json_records(pd.DataFrame(changed_centers.drop(columns="geometry")).assign(
                lon=changed_centers.geometry.x.round(6).to_numpy(), lat=changed_centers.geometry.y.round(6).to_numpy()
            )),
            "removed_centers": self.removed_centers,
            "seconds": round(self.seconds, 3),
        }


def _headline(c: pd.DataFrame) -> dict[str, Any]:
    """:func:`~layers.planning.counts.coverage_counts` plus ``compound_share``."""
    cov = c["covered"].astype(bool).to_numpy()
    counts = coverage_counts(cov, c["households"].astype("int64").to_numpy())
    return {**counts, "compound_share": round(float(cov.sum()) / len(c), 4) if len(c) else 0.0}


def scenario_result(base: Dataset, scenario: Scenario) -> ScenarioResult:
    """The scenario's coverage and its difference from the base, by community.

    Parameters
    ----------
    base
        The base dataset (not changed).  Its stored coverage columns are the
        base when present, else the base coverage is computed the same way.
    scenario
        The changes.

    Returns
    -------
    ScenarioResult
    """
    t0 = time.perf_counter()
    before = _base_coverage(base)
    after_ds = scenario_dataset(base, scenario)
    after = after_ds["compounds"]
    b = before["covered"].astype(bool).to_numpy()
    a = after["covered"].astype(bool).to_numpy()
    hh = before["households"].astype("int64").to_numpy()
    gained, lost = a & ~b, b & ~a
    community = before["community"].fillna("").astype(str).to_numpy() if "community" in before else np.full(len(b), "")
    frame = pd.DataFrame(
        {
            "community": community,
            "compounds": 1,
            "households": hh,
            "base_covered_households": np.where(b, hh, 0),
            "scenario_covered_households": np.where(a, hh, 0),
            "gained_compounds": gained.astype(int),
            "gained_households": np.where(gained, hh, 0),
            "lost_compounds": lost.astype(int),
            "lost_households": np.where(lost, hh, 0),
        }
    )
    by = frame.groupby("community", sort=True).sum().reset_index()
    with np.errstate(invalid="ignore", divide="ignore"):
        by["base_household_share"] = np.round(by["base_covered_households"] / by["households"].where(by["households"] > 0), 4)
        by["scenario_household_share"] = np.round(
            by["scenario_covered_households"] / by["households"].where(by["households"] > 0), 4
        )
    by["_change"] = by["gained_households"] + by["lost_households"]
    by = by.sort_values(["_change", "households"], ascending=[False, False]).drop(columns="_change").reset_index(drop=True)
    moved = gained | lost
    changed = pd.DataFrame(
        {
            "id": before["id"].astype(str).to_numpy()[moved],
            "name": before["name"].astype(str).to_numpy()[moved],
            "community": community[moved],
            "households": hh[moved],
            "change": np.where(gained[moved], "gained", "lost"),
            "walk_min_base": pd.to_numeric(before["walk_min"], errors="coerce").to_numpy()[moved],
            "walk_min": pd.to_numeric(after["walk_min"], errors="coerce").to_numpy()[moved],
            "nearest_center": after["nearest_center"].astype(str).to_numpy()[moved],
        }
    ).sort_values(["households", "id"], ascending=[False, True]).reset_index(drop=True)
    difference = {
        "gained_compounds": int(gained.sum()),
        "gained_households": int(hh[gained].sum()),
        "lost_compounds": int(lost.sum()),
        "lost_households": int(hh[lost].sum()),
        "net_households": int(hh[gained].sum() - hh[lost].sum()),
    }
    return ScenarioResult(
        scenario=scenario,
        base=_headline(before),
        coverage=_headline(after),
        difference=difference,
        by_community=by,
        changed=changed,
        centers=after_ds["centers"],
        seconds=time.perf_counter() - t0,
        removed_centers=sorted(set(base["centers"]["id"].astype(str)) - set(after_ds["centers"]["id"].astype(str))),
    )
