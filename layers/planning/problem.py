"""The coverage problem: which candidate sites would newly cover which uncovered compounds.

:func:`coverage_problem` sets it up from a dataset: the compounds the
existing centres leave uncovered (with households) are the *targets*, the
candidate sites come from :mod:`layers.planning.sites`, and ``reach`` says
which candidate would cover which target from a new centre of the given
level.  A candidate covers a compound when one of the compound's access
points (its gates, else a point inside it) lies within ``speed x minutes``
of the site: straight-line (``circle``, an STRtree ``dwithin`` query) or
walking along roads (``network``, :func:`geo.network.distance_matrix`).
The location models (:mod:`layers.planning.solve`) work on ``reach`` and the
targets' households.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS

from geo.crs import WGS84
from geo.errors import InvalidValueError
from geo.geometry import xy
from geo.network import WalkNetwork, distance_matrix
from layers.circles import DEFAULT_MINUTES, DEFAULT_SPEED_KMH, center_minutes, check_walk_params, walk_metres
from layers.coverage import DEFAULT_STATUSES, Method, compound_coverage, parse_method
from layers.dataset import Dataset
from layers.planning.counts import coverage_counts
from layers.planning.sites import generated_candidates, given_candidates, intersections
from layers.schema import LEVELS
from layers.walking import ACCESS_REACH_M, access_points, walking_network


def _check_level(level: str) -> str:
    if level not in LEVELS:
        msg = f"`level` must be one of {', '.join(LEVELS)}; got {level!r}"
        raise InvalidValueError(msg, field="level")
    return level


@dataclass
class CoverageProblem:
    """Which candidate sites would newly cover which uncovered compounds.

    Attributes
    ----------
    compounds
        Every compound (EPSG:4326) with the base coverage columns
        (:func:`layers.coverage.compound_coverage`).
    candidates
        Candidate sites (EPSG:4326): ``id``, ``name``, ``source``
        (:class:`~layers.planning.sites.CandidateSource`), ``source_ref`` (compound or input id).
    targets
        Positions in ``compounds`` of the uncovered compounds with households.
    weights
        Households of each target (int64).
    reach
        ``(n_candidates, n_targets)`` boolean CSR: candidate ``i`` would
        cover target ``j`` from a new centre of ``level``.
    level, minutes, speed_kmh, limit_m, method
        The new centres' level, their walking time (min) and speed (km/h),
        reach (metres) and how it was measured.
    metric_crs
        The projected CRS distances were measured in.
    seconds
        Time to set the problem up (s).
    coverage_params
        The coverage rule of the existing centres (``minutes``,
        ``speed_kmh``, ``level_minutes``, ``method``, ``statuses``, ``max_snap_m``).
    """

    compounds: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    targets: np.ndarray
    weights: np.ndarray
    reach: sp.csr_matrix
    level: str
    minutes: float
    speed_kmh: float
    limit_m: float
    method: str
    metric_crs: CRS
    seconds: float = 0.0
    coverage_params: dict[str, Any] = field(default_factory=dict)

    @property
    def coverable(self) -> np.ndarray:
        """Per target: whether some candidate reaches it."""
        return np.asarray(self.reach.getnnz(axis=0) > 0)

    @property
    def useful(self) -> np.ndarray:
        """Per candidate: whether it reaches some target."""
        return np.asarray(self.reach.getnnz(axis=1) > 0)

    def uncoverable(self) -> pd.DataFrame:
        """The uncovered compounds no candidate can reach, largest first (``id``, ``name``, ``community``, ``households``)."""
        pos = self.targets[~self.coverable]
        c = self.compounds.iloc[pos]
        out = pd.DataFrame(
            {
                "id": c["id"].astype(str).to_numpy(),
                "name": c["name"].astype(str).to_numpy(),
                "community": c["community"].fillna("").astype(str).to_numpy() if "community" in c else "",
                "households": c["households"].astype("int64").to_numpy(),
                "walk_min": pd.to_numeric(c["walk_min"], errors="coerce").to_numpy(),
                "flags": c["flags"].astype(str).to_numpy(),
            }
        )
        return out.sort_values(["households", "id"], ascending=[False, True]).reset_index(drop=True)

    def coverage_counts(self, newly: np.ndarray | None = None) -> dict[str, Any]:
        """Compounds and households covered by the existing centres, plus ``newly`` (target mask)."""
        covered = self.compounds["covered"].to_numpy(bool).copy()
        if newly is not None:
            covered[self.targets[newly]] = True
        return coverage_counts(covered, self.compounds["households"].to_numpy("int64"))


def _params_from(dataset: Dataset, **given: Any) -> dict[str, Any]:
    stored = dict(dataset.meta.get("params") or {})
    defaults = {
        "minutes": DEFAULT_MINUTES,
        "speed_kmh": DEFAULT_SPEED_KMH,
        "level_minutes": {},
        "method": Method.circle.value,
        "statuses": list(DEFAULT_STATUSES),
        "max_snap_m": 300.0,
    }
    out = {k: stored.get(k, v) if stored.get(k) is not None else v for k, v in defaults.items()}
    out.update({k: v for k, v in given.items() if v is not None})
    return out


def _pairs_to_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.sort_indices()
    return m


def _access_reach(
    sites: np.ndarray, access: np.ndarray, *, method: Method, limit_m: float, network: WalkNetwork | None, max_snap_m: float
) -> sp.csr_matrix:
    """``(n_sites, n_access)`` boolean CSR: which access points lie within ``limit_m`` (metres) of which site."""
    shape = (len(sites), len(access))
    if not len(sites) or not len(access):
        return sp.csr_matrix(shape, dtype=bool)
    site_xy, access_xy = xy(sites), xy(access)
    if method is Method.circle:
        s_idx, a_idx = shapely.STRtree(access).query(sites, predicate="dwithin", distance=limit_m)
        ok = np.hypot(*(site_xy[s_idx] - access_xy[a_idx]).T) <= limit_m
        return _pairs_to_matrix(s_idx[ok], a_idx[ok], shape)
    if network is None:
        return sp.csr_matrix(shape, dtype=bool)
    dm = distance_matrix(network, site_xy, access_xy, limit_m=limit_m, max_snap_m=max_snap_m).tocsr()
    return sp.csr_matrix((np.ones(dm.nnz, dtype=bool), dm.indices, dm.indptr), shape=shape)


def coverage_problem(
    dataset: Dataset,
    *,
    candidates: gpd.GeoDataFrame | None = None,
    level: str = "community",
    minutes: float | None = None,
    speed_kmh: float | None = None,
    level_minutes: dict[str, float] | None = None,
    method: str | None = None,
    statuses: list[str] | tuple[str, ...] | None = None,
    max_snap_m: float | None = None,
    merge_m: float = 10.0,
    network: WalkNetwork | None = None,
) -> CoverageProblem:
    """Set up which candidate sites would newly cover which uncovered compounds.

    Parameters
    ----------
    dataset
        Input or built dataset (EPSG:4326 layers).
    candidates
        Candidate points (any CRS; ``id`` and ``name`` used when present).
        Default: access points of uncovered compounds plus road intersections
        within reach of them.
    level
        Level of the new centres; it sets their minutes through
        ``level_minutes``.
    minutes, speed_kmh, level_minutes, method, statuses, max_snap_m
        Coverage rule (minutes, km/h, per-level minutes, ``circle`` or
        ``network``, counted statuses, longest access leg in metres); unset
        ones come from the dataset's build parameters, else the defaults
        (15 min at 4 km/h, straight line, existing centres).
    merge_m
        Generated candidates closer than this (metres) are merged.
    network
        A prebuilt :class:`geo.network.WalkNetwork` of the walkable roads in
        the dataset's metric CRS (network method), to skip rebuilding it.

    Returns
    -------
    CoverageProblem
    """
    t0 = time.perf_counter()
    level = _check_level(level)
    p = _params_from(
        dataset, minutes=minutes, speed_kmh=speed_kmh, level_minutes=level_minutes, method=method,
        statuses=list(statuses) if statuses is not None else None, max_snap_m=max_snap_m,
    )
    check_walk_params(float(p["minutes"]), float(p["speed_kmh"]))
    how = parse_method(p["method"])
    crs = dataset.metric_crs
    gates = dataset.layers.get("gates")
    roads = dataset["roads"]
    if how is Method.network or candidates is None:
        if network is None and len(roads):
            network = walking_network(roads, metric_crs=crs)
    base = compound_coverage(
        dataset["compounds"], dataset["centers"], metric_crs=crs, method=how,
        minutes=float(p["minutes"]), speed_kmh=float(p["speed_kmh"]), level_minutes=p["level_minutes"],
        statuses=p["statuses"], gates=gates, roads=roads, max_snap_m=float(p["max_snap_m"]),
        access_reach_m=float(p.get("access_reach_m", 0.0)),
        network=network if how is Method.network else None,
    )
    hh = base["households"].to_numpy("int64")
    targets = np.flatnonzero(~base["covered"].to_numpy(bool) & (hh > 0))
    new_minutes = float(center_minutes([level], minutes=float(p["minutes"]), level_minutes=p["level_minutes"])[0])
    limit = float(walk_metres(new_minutes, float(p["speed_kmh"])))

    target_frame = base.iloc[targets].to_crs(crs)
    acc_pts, acc_owner = access_points(
        target_frame, gates.to_crs(crs) if gates is not None and len(gates) else None,
        roads=roads if float(p.get("access_reach_m", 0.0)) > 0 else None,
        reach_m=float(p.get("access_reach_m", 0.0)) or ACCESS_REACH_M,
    )
    acc_xy = xy(acc_pts) if len(acc_pts) else np.empty((0, 2))
    if candidates is not None:
        cand = given_candidates(candidates, metric_crs=crs)
    else:
        nodes = intersections(network) if network is not None else np.empty((0, 2))
        ref = target_frame["id"].astype(str).to_numpy()[acc_owner] if len(acc_owner) else np.array([], dtype=object)
        cand = generated_candidates(acc_xy, ref, nodes, limit_m=limit, merge_m=merge_m, metric_crs=crs)
    reach_acc = _access_reach(
        cand.geometry.to_numpy(), acc_pts, method=how, limit_m=limit, network=network, max_snap_m=float(p["max_snap_m"])
    )
    owner = sp.csr_matrix(
        (np.ones(len(acc_owner), dtype=np.int32), (np.arange(len(acc_owner)), acc_owner)), shape=(len(acc_owner), len(targets))
    )
    reach = (reach_acc.astype(np.int32) @ owner).astype(bool).tocsr()
    reach.sort_indices()
    width = max(4, len(str(len(cand))))
    cand = cand.to_crs(WGS84)
    cand.insert(0, "id", [f"K{i + 1:0{width}d}" for i in range(len(cand))])
    return CoverageProblem(
        compounds=base,
        candidates=cand,
        targets=targets,
        weights=hh[targets],
        reach=reach,
        level=level,
        minutes=new_minutes,
        speed_kmh=float(p["speed_kmh"]),
        limit_m=limit,
        method=how.value,
        metric_crs=crs,
        seconds=time.perf_counter() - t0,
        coverage_params={**p, "method": how.value},
    )
