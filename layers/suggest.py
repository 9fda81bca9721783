"""Site suggestions: where new service centres would cover the most households.

Two location models over one coverage problem:

- **Maximal covering** (MCLP, :func:`maximal_covering`): choose ``k`` sites
  for new centres, keeping the existing ones, to maximise the households of
  compounds they newly cover.  Compounds already covered stay covered and
  count for nothing.
- **Set covering** (:func:`set_covering`): the fewest new sites that cover
  every household some candidate can reach; the rest are listed as
  uncoverable.

A candidate covers a compound when one of the compound's access points (its
gates, else a point inside it) lies within ``speed x minutes`` of the site:
straight-line (``circle``, an STRtree ``dwithin`` query) or walking along
roads (``network``, :func:`geo.network.distance_matrix`).  Candidates are the
points given, else the access points of the uncovered compounds plus the road
intersections (network nodes of degree >= 3) within reach of them.

Both models are solved exactly with HiGHS (``highspy``) under a time limit,
warm-started from the greedy answer; when HiGHS stops early the best answer
found and its gap to HiGHS's bound are reported, and when HiGHS is not usable
the greedy answer is reported with its gap to the LP-relaxation bound.
Before solving, identical compounds (same candidate set) are merged with
their households summed and candidates with identical coverage are merged.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
from pyproj import CRS

from geo.crs import WGS84, to_wgs84
from geo.errors import GeometryError, InvalidValueError, parse_choice
from geo.files import atomic_output
from geo.geometry import xy
from layers.circles import DEFAULT_MINUTES, DEFAULT_SPEED_KMH, center_minutes, check_walk_params, walk_metres
from layers.coverage import DEFAULT_STATUSES, Method, access_points, compound_coverage, parse_method
from layers.dataset import Dataset
from layers.i18n import check_lang, text
from layers.schema import LEVELS


class CandidateSource(StrEnum):
    """Where a candidate site came from."""

    given = "given"
    compound = "compound"
    intersection = "intersection"


class Solver(StrEnum):
    """How a location model is solved."""

    highs = "highs"
    greedy = "greedy"


class SolveStatus(StrEnum):
    """How a solve ended."""

    optimal = "optimal"
    time_limit = "time_limit"
    greedy = "greedy"
    infeasible = "infeasible"


def parse_solver(value: str | Solver) -> Solver:
    """A :class:`Solver` from text, with an error listing the valid values."""
    return parse_choice(Solver, value, field="solver")


def _check_level(level: str) -> str:
    if level not in LEVELS:
        msg = f"`level` must be one of {', '.join(LEVELS)}; got {level!r}"
        raise InvalidValueError(msg, field="level")
    return level


# ---------------------------------------------------------------------------
# the coverage problem
# ---------------------------------------------------------------------------


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
        (:class:`CandidateSource`), ``source_ref`` (compound or input id).
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
        hh = self.compounds["households"].to_numpy("int64")
        total = int(hh.sum())
        return {
            "compounds": len(covered),
            "covered_compounds": int(covered.sum()),
            "households": total,
            "covered_households": int(hh[covered].sum()),
            "share": round(float(hh[covered].sum()) / total, 4) if total else 0.0,
        }


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


def _intersections(net: Any) -> np.ndarray:
    """``(n, 2)`` coordinates of network nodes where three or more edges meet."""
    degree = np.diff(net.adjacency.indptr)
    return np.asarray(net.nodes_xy[degree >= 3], dtype=float)


def _given_candidates(candidates: gpd.GeoDataFrame, metric_crs: CRS) -> gpd.GeoDataFrame:
    frame = to_wgs84(candidates.reset_index(drop=True), layer="candidates")
    geoms = frame.geometry.to_numpy()
    kinds = shapely.get_type_id(geoms)
    bad = (kinds != 0) | shapely.is_empty(geoms)
    if bad.any():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(bad)[:3])
        msg = f"layer `candidates` must hold points; rows {rows} are not (non-empty) points"
        raise GeometryError(msg, field="candidates")
    ids = frame["id"].astype(str) if "id" in frame.columns else pd.Series([f"P{i + 1:04d}" for i in range(len(frame))])
    names = frame["name"].fillna("").astype(str) if "name" in frame.columns else pd.Series([""] * len(frame))
    return gpd.GeoDataFrame(
        {"source": CandidateSource.given.value, "source_ref": ids.to_numpy(), "name": names.to_numpy()},
        geometry=frame.to_crs(metric_crs).geometry.to_numpy(),
        crs=metric_crs,
    )


def _generated_candidates(
    access_xy: np.ndarray, access_ref: np.ndarray, nodes_xy: np.ndarray, *, limit_m: float, merge_m: float, metric_crs: CRS
) -> gpd.GeoDataFrame:
    """Access points of uncovered compounds plus intersections within ``limit_m`` of one, merged within ``merge_m``."""
    near = np.zeros(len(nodes_xy), dtype=bool)
    if len(nodes_xy) and len(access_xy):
        tree = shapely.STRtree(shapely.points(access_xy))
        n_idx, _ = tree.query(shapely.points(nodes_xy), predicate="dwithin", distance=limit_m)
        near[np.unique(n_idx)] = True
    pts = np.concatenate([access_xy.reshape(-1, 2), nodes_xy[near].reshape(-1, 2)])
    source = np.concatenate(
        [np.full(len(access_xy), CandidateSource.compound.value, dtype=object),
         np.full(int(near.sum()), CandidateSource.intersection.value, dtype=object)]
    )
    ref = np.concatenate([access_ref.astype(object), np.array([f"N{i}" for i in np.flatnonzero(near)], dtype=object)])
    if len(pts) and merge_m > 0:
        cells = np.floor(pts / merge_m).astype(np.int64)
        _, first = np.unique(cells, axis=0, return_index=True)
        keep = np.sort(first)
        pts, source, ref = pts[keep], source[keep], ref[keep]
    return gpd.GeoDataFrame(
        {"source": source, "source_ref": ref, "name": ""},
        geometry=shapely.points(pts) if len(pts) else np.array([], dtype=object),
        crs=metric_crs,
    )


def _pairs_to_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=shape)
    m.sum_duplicates()
    m.sort_indices()
    return m


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
    network: Any | None = None,
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
            from layers.service_areas import walking_network

            network = walking_network(roads, metric_crs=crs)
    base = compound_coverage(
        dataset["compounds"], dataset["centers"], metric_crs=crs, method=how,
        minutes=float(p["minutes"]), speed_kmh=float(p["speed_kmh"]), level_minutes=p["level_minutes"],
        statuses=p["statuses"], gates=gates, roads=roads, max_snap_m=float(p["max_snap_m"]),
        network=network if how is Method.network else None,
    )
    hh = base["households"].to_numpy("int64")
    targets = np.flatnonzero(~base["covered"].to_numpy(bool) & (hh > 0))
    new_minutes = float(center_minutes([level], minutes=float(p["minutes"]), level_minutes=p["level_minutes"])[0])
    limit = float(walk_metres(new_minutes, float(p["speed_kmh"])))

    target_frame = base.iloc[targets].to_crs(crs)
    acc_pts, acc_owner = access_points(
        target_frame, gates.to_crs(crs) if gates is not None and len(gates) else None
    )
    acc_xy = xy(acc_pts) if len(acc_pts) else np.empty((0, 2))
    if candidates is not None:
        cand = _given_candidates(candidates, crs)
    else:
        nodes = _intersections(network) if network is not None else np.empty((0, 2))
        ref = target_frame["id"].astype(str).to_numpy()[acc_owner] if len(acc_owner) else np.array([], dtype=object)
        cand = _generated_candidates(acc_xy, ref, nodes, limit_m=limit, merge_m=merge_m, metric_crs=crs)
    cand_xy = xy(cand.geometry.to_numpy()) if len(cand) else np.empty((0, 2))
    shape_acc = (len(cand), len(acc_xy))
    if not len(cand) or not len(acc_xy):
        reach_acc = sp.csr_matrix(shape_acc, dtype=bool)
    elif how is Method.circle:
        tree = shapely.STRtree(acc_pts)
        c_idx, a_idx = tree.query(cand.geometry.to_numpy(), predicate="dwithin", distance=limit)
        d = np.hypot(*(cand_xy[c_idx] - acc_xy[a_idx]).T)
        ok = d <= limit
        reach_acc = _pairs_to_matrix(c_idx[ok], a_idx[ok], shape_acc)
    else:
        from geo.network import distance_matrix

        if network is None:
            reach_acc = sp.csr_matrix(shape_acc, dtype=bool)
        else:
            dm = distance_matrix(network, cand_xy, acc_xy, limit_m=limit, max_snap_m=float(p["max_snap_m"])).tocsr()
            reach_acc = sp.csr_matrix((np.ones(dm.nnz, dtype=bool), dm.indices, dm.indptr), shape=shape_acc)
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


# ---------------------------------------------------------------------------
# greedy
# ---------------------------------------------------------------------------


def greedy_max_cover(
    reach: sp.spmatrix, weights: np.ndarray, k: int, *, rows: np.ndarray | None = None
) -> tuple[list[int], float]:
    """Pick ``k`` rows one at a time, each covering the most not-yet-covered weight.

    Parameters
    ----------
    reach
        ``(n, m)`` boolean matrix: row ``i`` covers column ``j``.
    weights
        ``(m,)`` non-negative weights (households).
    k
        Rows to pick at most; stops early when no row adds anything.
    rows
        Only these rows may be picked (default all).

    Returns
    -------
    (chosen, covered_weight)
        Chosen row indices in pick order and the weight they cover.
    """
    r = sp.csr_matrix(reach, dtype=np.float64)
    c = r.tocsc()
    w = np.asarray(weights, dtype=float).copy()
    gains = np.asarray(r @ w).ravel()
    if rows is not None:
        mask = np.full(r.shape[0], -np.inf)
        mask[np.asarray(rows, dtype=int)] = 0.0
        gains = gains + mask
    chosen: list[int] = []
    total = 0.0
    for _ in range(max(int(k), 0)):
        if not len(gains):
            break
        i = int(np.argmax(gains))
        if not gains[i] > 0:
            break
        chosen.append(i)
        cols = r.indices[r.indptr[i] : r.indptr[i + 1]]
        cols = cols[w[cols] > 0]
        total += float(w[cols].sum())
        gains -= np.asarray(c[:, cols] @ w[cols]).ravel()
        w[cols] = 0.0
        gains[i] = -np.inf
    return chosen, total


def greedy_set_cover(reach: sp.spmatrix) -> list[int]:
    """Rows that together cover every coverable column, picked greedily (most new columns first)."""
    r = sp.csr_matrix(reach, dtype=np.float64)
    coverable = np.asarray(r.getnnz(axis=0) > 0)
    chosen, _ = greedy_max_cover(r, coverable.astype(float), r.shape[0])
    return chosen


# ---------------------------------------------------------------------------
# reductions and HiGHS
# ---------------------------------------------------------------------------


def _row_signatures(m: sp.csr_matrix, seed: int) -> np.ndarray:
    """Two random projections per row; equal rows (same column sets) get equal signatures."""
    rng = np.random.default_rng(seed)
    v = rng.random((m.shape[1], 2))
    f = sp.csr_matrix(m, dtype=np.float64)
    f.sort_indices()
    sig = np.asarray(f @ v)
    return sig


def _group_equal_rows(m: sp.csr_matrix, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row its group and for each group its first row (rows with equal column sets share a group)."""
    if m.shape[0] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    sig = _row_signatures(m, seed)
    nnz = np.diff(m.indptr).astype(float)
    keys = pd.MultiIndex.from_arrays([sig[:, 0], sig[:, 1], nnz])
    codes, _ = pd.factorize(keys)
    first = pd.Series(np.arange(m.shape[0])).groupby(codes).first().to_numpy()
    return codes.astype(np.int64), first


@dataclass
class _Reduced:
    reach: sp.csr_matrix  # (n_cand_r, n_group)
    weights: np.ndarray  # per target group
    cand: np.ndarray  # reduced candidate -> original candidate
    groups_of_target: np.ndarray  # per coverable target: group index


def _reduce(reach: sp.csr_matrix, weights: np.ndarray) -> _Reduced:
    coverable = np.asarray(reach.getnnz(axis=0) > 0)
    useful = np.flatnonzero(np.asarray(reach.getnnz(axis=1) > 0))
    r = reach[useful][:, np.flatnonzero(coverable)].tocsr()
    # merge targets with the same candidate set
    t_codes, t_first = _group_equal_rows(r.T.tocsr(), seed=1)
    w = np.bincount(t_codes, weights=np.asarray(weights, dtype=float)[coverable], minlength=len(t_first))
    r = r[:, t_first].tocsr()
    # merge candidates with the same target-group set
    c_codes, c_first = _group_equal_rows(r, seed=2)
    r = r[c_first].tocsr()
    r.sort_indices()
    return _Reduced(reach=r, weights=w, cand=useful[c_first], groups_of_target=t_codes)


_BANNER_LOCK = threading.Lock()
_BANNER_DONE = False


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    """Silence C-level stdout (HiGHS prints a banner when the first solver is made)."""
    try:
        fd = os.dup(1)
    except OSError:  # pragma: no cover - no stdout
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            try:
                yield
            finally:
                os.dup2(fd, 1)
    finally:
        os.close(fd)


def _new_highs(time_limit_s: float, mip_rel_gap: float) -> Any:
    import highspy

    global _BANNER_DONE
    with _BANNER_LOCK:
        if not _BANNER_DONE:
            with _quiet_stdout():
                h = highspy.Highs()
            _BANNER_DONE = True
        else:
            h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit_s))
    h.setOptionValue("mip_rel_gap", float(mip_rel_gap))
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    return h


def _pass_model(
    h: Any,
    *,
    cost: np.ndarray,
    col_lower: np.ndarray,
    col_upper: np.ndarray,
    row_lower: np.ndarray,
    row_upper: np.ndarray,
    a: sp.csc_matrix,
    integer: np.ndarray | None,
    maximize: bool,
) -> None:
    import highspy

    inf = highspy.kHighsInf
    lp = highspy.HighsLp()
    lp.num_col_ = int(a.shape[1])
    lp.num_row_ = int(a.shape[0])
    lp.col_cost_ = np.asarray(cost, dtype=np.float64)
    lp.col_lower_ = np.asarray(col_lower, dtype=np.float64)
    lp.col_upper_ = np.asarray(col_upper, dtype=np.float64)
    lp.row_lower_ = np.where(np.isfinite(row_lower), row_lower, -inf).astype(np.float64)
    lp.row_upper_ = np.where(np.isfinite(row_upper), row_upper, inf).astype(np.float64)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    lp.a_matrix_.num_col_ = int(a.shape[1])
    lp.a_matrix_.num_row_ = int(a.shape[0])
    lp.sense_ = highspy.ObjSense.kMaximize if maximize else highspy.ObjSense.kMinimize
    if integer is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in integer]
    h.passModel(lp)


def _covered_weight(red: _Reduced, chosen: list[int]) -> float:
    """Weight of the target groups the chosen reduced candidates cover."""
    if not chosen:
        return 0.0
    hit = np.asarray(red.reach[chosen].sum(axis=0)).ravel() > 0
    return float(red.weights[hit].sum())


def _mclp_matrix(r: sp.csr_matrix, k: int) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
    """Constraint matrix of the MCLP: y_j - sum_i a_ij x_i <= 0 and sum_i x_i <= k."""
    n, m = r.shape
    rt = r.T.tocsr().astype(np.float64)  # (m, n)
    top = sp.hstack([-rt, sp.identity(m, format="csr")], format="csr")
    card = sp.hstack([sp.csr_matrix(np.ones((1, n))), sp.csr_matrix((1, m))], format="csr")
    a = sp.vstack([top, card], format="csc")
    a.sort_indices()
    row_lower = np.full(m + 1, -np.inf)
    row_upper = np.concatenate([np.zeros(m), [float(k)]])
    return a, row_lower, row_upper


@dataclass
class SolveInfo:
    """How a location model was solved.

    Attributes
    ----------
    solver
        ``highs`` or ``greedy``.
    status
        ``optimal``, ``time_limit`` (best answer found, with a gap),
        ``greedy`` (greedy answer, gap to the LP bound) or ``infeasible``.
    objective
        Households newly covered (maximal covering) or sites (set covering).
    bound
        Upper bound on households (maximal covering) or lower bound on sites
        (set covering).
    gap
        Relative gap between ``objective`` and ``bound`` (0 when optimal).
    seconds
        Solve time (s), without setting up the problem.
    greedy_objective
        Maximal covering: households the greedy choice among the uncovered
        compounds' own sites newly covers (the baseline); set covering: sites
        greedy needs.
    note
        ``""``, ``all_reachable`` (k sites already reach every reachable
        household) or ``greedy_optimal`` (the baseline is optimal too), or a
        solver message.
    n_candidates, n_targets
        Size of the model after merging equal candidates and compounds.
    """

    solver: str
    status: str
    objective: float
    bound: float
    gap: float
    seconds: float
    greedy_objective: float = 0.0
    note: str = ""
    n_candidates: int = 0
    n_targets: int = 0

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form."""
        return {
            "solver": self.solver,
            "status": self.status,
            "objective": self.objective,
            "bound": self.bound,
            "gap": round(self.gap, 6),
            "seconds": round(self.seconds, 3),
            "greedy_objective": self.greedy_objective,
            "note": self.note,
            "n_candidates": self.n_candidates,
            "n_targets": self.n_targets,
        }


def _lp_bound(red: _Reduced, k: int | None, time_limit_s: float) -> float | None:
    """LP-relaxation bound: MCLP (k given) upper bound on households, else set-cover lower bound on sites."""
    try:
        h = _new_highs(time_limit_s, 0.0)
        n, m = red.reach.shape
        if k is not None:
            a, rl, ru = _mclp_matrix(red.reach, k)
            _pass_model(h, cost=np.concatenate([np.zeros(n), red.weights]), col_lower=np.zeros(n + m),
                        col_upper=np.ones(n + m), row_lower=rl, row_upper=ru, a=a, integer=None, maximize=True)
        else:
            a = red.reach.T.tocsc().astype(np.float64)
            _pass_model(h, cost=np.ones(n), col_lower=np.zeros(n), col_upper=np.ones(n), row_lower=np.ones(m),
                        row_upper=np.full(m, np.inf), a=a, integer=None, maximize=False)
        h.run()
        import highspy

        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        return float(h.getInfo().objective_function_value)
    except Exception:  # pragma: no cover - HiGHS unusable: the caller falls back to a trivial bound
        return None


def _solve_mclp(red: _Reduced, k: int, *, solver: Solver, time_limit_s: float, mip_rel_gap: float) -> tuple[list[int], SolveInfo]:
    """Solve the reduced MCLP; returns reduced candidate indices and the solve info."""
    t0 = time.perf_counter()
    n, m = red.reach.shape
    greedy, greedy_obj = greedy_max_cover(red.reach, red.weights, k)
    total = float(red.weights.sum())
    if n == 0 or k == 0:
        return [], SolveInfo("greedy", SolveStatus.optimal.value, 0.0, 0.0, 0.0, time.perf_counter() - t0, n_candidates=n, n_targets=m)
    if greedy_obj >= total - 1e-9:  # every coverable household is reached: nothing to improve
        return greedy, SolveInfo(solver.value, SolveStatus.optimal.value, greedy_obj, total, 0.0,
                                 time.perf_counter() - t0, greedy_objective=greedy_obj, note="all_reachable",
                                 n_candidates=n, n_targets=m)
    if solver is Solver.highs:
        try:
            import highspy

            h = _new_highs(time_limit_s, mip_rel_gap)
            a, rl, ru = _mclp_matrix(red.reach, k)
            _pass_model(h, cost=np.concatenate([np.zeros(n), red.weights]), col_lower=np.zeros(n + m),
                        col_upper=np.ones(n + m), row_lower=rl, row_upper=ru, a=a,
                        integer=np.concatenate([np.ones(n, bool), np.zeros(m, bool)]), maximize=True)
            start = np.zeros(n + m)
            start[greedy] = 1.0
            start[n:] = np.asarray(red.reach[greedy].sum(axis=0)).ravel() > 0
            sol = highspy.HighsSolution()
            sol.col_value = start.tolist()
            sol.value_valid = True
            h.setSolution(sol)
            h.run()
            status = h.getModelStatus()
            info = h.getInfo()
            x = np.asarray(h.getSolution().col_value[:n]) if info.primal_solution_status == int(highspy.kSolutionStatusFeasible) else None
            found = [int(i) for i in np.flatnonzero(x > 0.5)] if x is not None else []
            obj = _covered_weight(red, found) if x is not None else -np.inf
            bound = float(info.mip_dual_bound)
            if x is not None and obj >= greedy_obj:
                chosen = found
            else:
                chosen, obj = greedy, greedy_obj
            bound = max(min(bound, total), obj) if np.isfinite(bound) else total
            gap = (bound - obj) / bound if bound > 0 else 0.0
            optimal = status == highspy.HighsModelStatus.kOptimal
            st = SolveStatus.optimal if optimal and gap <= max(mip_rel_gap, 1e-9) else SolveStatus.time_limit
            if optimal and gap > max(mip_rel_gap, 1e-9):
                st = SolveStatus.optimal  # stopped at the requested relative gap
            return chosen, SolveInfo(Solver.highs.value, st.value, obj, bound, gap, time.perf_counter() - t0,
                                     greedy_objective=greedy_obj,
                                     note="" if optimal else h.modelStatusToString(status), n_candidates=n, n_targets=m)
        except Exception as exc:  # HiGHS missing or failing: greedy with its LP bound
            note = f"highs failed: {type(exc).__name__}: {exc}"
    else:
        note = ""
    lp = _lp_bound(red, k, time_limit_s)
    top_k = float(np.sort(np.asarray(red.reach @ red.weights).ravel())[::-1][:k].sum())
    bound = min(lp if lp is not None else np.inf, top_k, total)
    bound = max(bound, greedy_obj)
    gap = (bound - greedy_obj) / bound if bound > 0 else 0.0
    return greedy, SolveInfo(Solver.greedy.value, SolveStatus.greedy.value if gap > 1e-9 else SolveStatus.optimal.value,
                             greedy_obj, bound, gap, time.perf_counter() - t0, greedy_objective=greedy_obj, note=note,
                             n_candidates=n, n_targets=m)


def _solve_set_cover(red: _Reduced, *, solver: Solver, time_limit_s: float, mip_rel_gap: float) -> tuple[list[int], SolveInfo]:
    t0 = time.perf_counter()
    n, m = red.reach.shape
    greedy = greedy_set_cover(red.reach)
    if m == 0:
        return [], SolveInfo(solver.value, SolveStatus.optimal.value, 0.0, 0.0, 0.0, time.perf_counter() - t0)
    note = ""
    if solver is Solver.highs:
        try:
            import highspy

            h = _new_highs(time_limit_s, mip_rel_gap)
            a = red.reach.T.tocsc().astype(np.float64)
            _pass_model(h, cost=np.ones(n), col_lower=np.zeros(n), col_upper=np.ones(n), row_lower=np.ones(m),
                        row_upper=np.full(m, np.inf), a=a, integer=np.ones(n, bool), maximize=False)
            start = np.zeros(n)
            start[greedy] = 1.0
            sol = highspy.HighsSolution()
            sol.col_value = start.tolist()
            sol.value_valid = True
            h.setSolution(sol)
            h.run()
            status = h.getModelStatus()
            info = h.getInfo()
            x = np.asarray(h.getSolution().col_value) if info.primal_solution_status == int(highspy.kSolutionStatusFeasible) else None
            chosen = [int(i) for i in np.flatnonzero(x > 0.5)] if x is not None else greedy
            if len(chosen) > len(greedy):
                chosen = greedy
            bound = float(np.ceil(info.mip_dual_bound - 1e-6)) if np.isfinite(info.mip_dual_bound) else 1.0
            bound = min(bound, len(chosen))
            gap = (len(chosen) - bound) / len(chosen) if chosen else 0.0
            optimal = status == highspy.HighsModelStatus.kOptimal
            st = SolveStatus.optimal if optimal else SolveStatus.time_limit
            return chosen, SolveInfo(Solver.highs.value, st.value, float(len(chosen)), bound, gap,
                                     time.perf_counter() - t0, greedy_objective=float(len(greedy)),
                                     note="" if optimal else h.modelStatusToString(status), n_candidates=n, n_targets=m)
        except Exception as exc:
            note = f"highs failed: {type(exc).__name__}: {exc}"
    lp = _lp_bound(red, None, time_limit_s)
    bound = float(np.ceil(lp - 1e-6)) if lp is not None else 1.0
    bound = min(bound, len(greedy))
    gap = (len(greedy) - bound) / len(greedy) if greedy else 0.0
    return greedy, SolveInfo(Solver.greedy.value, SolveStatus.greedy.value if gap > 0 else SolveStatus.optimal.value,
                             float(len(greedy)), bound, gap, time.perf_counter() - t0,
                             greedy_objective=float(len(greedy)), note=note, n_candidates=n, n_targets=m)


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------


@dataclass
class SiteSuggestion:
    """Chosen sites for new centres and what they change.

    Attributes
    ----------
    model
        ``maximal_covering`` or ``set_covering``.
    k
        Sites asked for (maximal covering), else ``None``.
    sites
        EPSG:4326 points ranked by the households each newly covers (each
        compound counted once, for the first site in rank order that reaches
        it): ``id``, ``rank``, ``name``, ``level``, ``status`` (``proposed``),
        ``source``, ``source_ref``, ``candidate_id``, ``reach_households``
        (uncovered households in reach, overlaps included),
        ``new_households``, ``new_compounds``, ``new_compound_ids``,
        ``lon``, ``lat``.  Sites that would add nothing are left out.
    compounds
        Every compound (EPSG:4326) with the base coverage plus
        ``newly_covered``, ``new_site`` and ``covered_after``.
    uncoverable
        Uncovered compounds no candidate can reach.
    before, after
        Coverage counts (compounds, households, share) without and with the sites.
    solve
        How it was solved.
    problem
        The coverage problem solved.
    """

    model: str
    k: int | None
    sites: gpd.GeoDataFrame
    compounds: gpd.GeoDataFrame
    uncoverable: pd.DataFrame
    before: dict[str, Any]
    after: dict[str, Any]
    solve: SolveInfo
    problem: CoverageProblem = field(repr=False)

    @property
    def new_households(self) -> int:
        """Households newly covered by all sites together."""
        return int(self.after["covered_households"] - self.before["covered_households"])

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (sites as a GeoJSON FeatureCollection)."""
        import json

        return {
            "model": self.model,
            "k": self.k,
            "level": self.problem.level,
            "minutes": self.problem.minutes,
            "method": self.problem.method,
            "limit_m": round(self.problem.limit_m, 1),
            "sites": json.loads(self.sites.to_json(drop_id=True)),
            "before": self.before,
            "after": self.after,
            "new_households": self.new_households,
            "uncoverable": {
                "compounds": len(self.uncoverable),
                "households": int(self.uncoverable["households"].sum()),
                "items": self.uncoverable[["id", "name", "community", "households"]].to_dict("records"),
            },
            "candidates": {"total": len(self.problem.candidates), "useful": int(self.problem.useful.sum())},
            "solve": self.solve.as_dict(),
        }

    def table(self, lang: str = "zh") -> pd.DataFrame:
        """The sites as a table with headings in ``lang``."""
        lang = check_lang(lang)
        cols = ["rank", "name", "level", "source", "source_ref", "new_households", "new_compounds",
                "reach_households", "lon", "lat"]
        out = pd.DataFrame(self.sites[cols]).copy()
        out["level"] = [text(f"level.{v}", lang) for v in out["level"]]
        out["source"] = [text(f"source.{v}", lang) for v in out["source"]]
        out.columns = [text("col.site" if c == "name" else f"col.{c}", lang) for c in cols]
        return out

    def summary_lines(self, lang: str = "zh") -> list[str]:
        """The result in a few lines of ``lang``."""
        lang = check_lang(lang)
        p = self.problem
        s = self.solve
        lines = [
            text("suggest.title", lang, level=text(f"level.{p.level}", lang), minutes=p.minutes,
                 method=text(f"method.{p.method}", lang)),
            text("suggest.candidates", lang, n=len(p.candidates), useful=int(p.useful.sum()), targets=len(p.targets)),
            text("suggest.before", lang, covered=self.before["covered_households"], total=self.before["households"],
                 share=self.before["share"], covered_compounds=self.before["covered_compounds"],
                 compounds=self.before["compounds"]),
            text("suggest.after", lang, k=len(self.sites), covered=self.after["covered_households"],
                 total=self.after["households"], share=self.after["share"],
                 covered_compounds=self.after["covered_compounds"], compounds=self.after["compounds"]),
        ]
        if self.model == "maximal_covering":
            lines.append(text("suggest.solver", lang, solver=s.solver, status=text(f"solve.{s.status}", lang),
                              objective=int(round(s.objective)), bound=int(round(s.bound)), gap=s.gap, seconds=s.seconds))
            lines.append(text("suggest.greedy_compare", lang, k=self.k, greedy=int(round(s.greedy_objective))))
            if s.note in ("all_reachable", "greedy_optimal"):
                lines.append(text("suggest.equal_reason", lang, reason=text(f"suggest.reason.{s.note}", lang))
                             if abs(s.objective - s.greedy_objective) < 0.5 else text(f"suggest.reason.{s.note}", lang))
            if self.k is not None and len(self.sites) < self.k:
                lines.append(text("suggest.fewer_sites", lang, n=len(self.sites)))
        else:
            lines.append(text("suggest.min_sites", lang, n=len(self.sites)))
            lines.append(text("suggest.solver_cover", lang, solver=s.solver, status=text(f"solve.{s.status}", lang),
                              objective=int(s.objective), bound=int(s.bound), gap=s.gap, seconds=s.seconds))
        u = self.uncoverable
        lines.append(text("suggest.uncoverable", lang, n=len(u), households=int(u["households"].sum())))
        return lines


def _result(
    problem: CoverageProblem, chosen: list[int], solve: SolveInfo, *, model: str, k: int | None, lang: str = "zh"
) -> SiteSuggestion:
    """Rank the chosen candidates, attribute newly covered compounds, and assemble the result."""
    reach = problem.reach
    w = problem.weights.astype(float)
    order, _ = greedy_max_cover(reach[chosen], w, len(chosen)) if chosen else ([], 0.0)
    ranked = [chosen[i] for i in order]  # sites adding nothing are dropped
    newly = np.zeros(len(problem.targets), dtype=bool)
    site_of = np.full(len(problem.targets), -1)
    rows = []
    width = max(2, len(str(len(ranked))))
    comp = problem.compounds
    ids = comp["id"].astype(str).to_numpy()[problem.targets]
    for rank, ci in enumerate(ranked, start=1):
        cols = reach.indices[reach.indptr[ci] : reach.indptr[ci + 1]]
        new = cols[~newly[cols]]
        newly[new] = True
        site_of[new] = rank - 1
        rows.append(
            {
                "id": f"N{rank:0{width}d}",
                "rank": rank,
                "name": text("suggest.site_name", lang, n=rank),
                "level": problem.level,
                "status": "proposed",
                "source": problem.candidates["source"].iloc[ci],
                "source_ref": str(problem.candidates["source_ref"].iloc[ci]),
                "candidate_id": str(problem.candidates["id"].iloc[ci]),
                "reach_households": int(problem.weights[cols].sum()),
                "new_households": int(problem.weights[new].sum()),
                "new_compounds": len(new),
                "new_compound_ids": ",".join(ids[new]),
                "geometry": problem.candidates.geometry.iloc[ci],
            }
        )
    if rows:
        sites = gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs=WGS84)
        sites["lon"] = sites.geometry.x.round(6)
        sites["lat"] = sites.geometry.y.round(6)
        given_names = problem.candidates["name"].iloc[ranked].astype(str).to_numpy()
        sites["name"] = np.where(given_names != "", given_names, sites["name"].to_numpy())
    else:
        cols = ["id", "rank", "name", "level", "status", "source", "source_ref", "candidate_id", "reach_households",
                "new_households", "new_compounds", "new_compound_ids", "lon", "lat"]
        sites = gpd.GeoDataFrame(pd.DataFrame({c: [] for c in cols}), geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)
    compounds = problem.compounds.copy()
    flag = np.zeros(len(compounds), dtype=bool)
    flag[problem.targets[newly]] = True
    by_site = np.full(len(compounds), "", dtype=object)
    if rows:
        site_ids = sites["id"].to_numpy()
        by_site[problem.targets[newly]] = site_ids[site_of[newly]]
    compounds["newly_covered"] = flag
    compounds["new_site"] = by_site
    compounds["covered_after"] = compounds["covered"].to_numpy(bool) | flag
    return SiteSuggestion(
        model=model,
        k=k,
        sites=sites,
        compounds=compounds,
        uncoverable=problem.uncoverable(),
        before=problem.coverage_counts(),
        after=problem.coverage_counts(newly),
        solve=solve,
        problem=problem,
    )


def solve_maximal_covering(
    reach: sp.spmatrix,
    weights: np.ndarray,
    k: int,
    *,
    solver: str | Solver = Solver.highs,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> tuple[list[int], SolveInfo]:
    """Choose at most ``k`` rows of ``reach`` covering the most column weight (the MCLP on a matrix).

    Parameters
    ----------
    reach
        ``(n, m)`` boolean matrix: candidate ``i`` covers target ``j``.
    weights
        ``(m,)`` non-negative target weights (households).
    k
        Rows to choose at most (>= 1).
    solver, time_limit_s, mip_rel_gap
        See :func:`maximal_covering`.

    Returns
    -------
    (chosen, info)
        Chosen row indices (rows adding nothing may be included) and how it
        was solved; ``info.objective`` is the covered weight, exact.
    """
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        msg = f"`k` (new centres) must be a whole number >= 1; got {k!r}"
        raise InvalidValueError(msg, field="new_centers")
    if not time_limit_s > 0:
        msg = f"`time_limit_s` must be positive; got {time_limit_s!r}"
        raise InvalidValueError(msg, field="time_limit_s")
    how = parse_solver(solver)
    r = sp.csr_matrix(reach, dtype=bool)
    r.sort_indices()
    red = _reduce(r, np.asarray(weights))
    chosen_r, info = _solve_mclp(red, int(k), solver=how, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return [int(red.cand[i]) for i in chosen_r], info


def solve_set_covering(
    reach: sp.spmatrix,
    *,
    solver: str | Solver = Solver.highs,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
) -> tuple[list[int], SolveInfo]:
    """The fewest rows of ``reach`` that cover every coverable column (set covering on a matrix).

    Returns
    -------
    (chosen, info)
        Chosen row indices and how it was solved (``info.objective`` = rows
        chosen, ``info.bound`` a lower bound).
    """
    if not time_limit_s > 0:
        msg = f"`time_limit_s` must be positive; got {time_limit_s!r}"
        raise InvalidValueError(msg, field="time_limit_s")
    how = parse_solver(solver)
    r = sp.csr_matrix(reach, dtype=bool)
    r.sort_indices()
    red = _reduce(r, np.ones(r.shape[1]))
    chosen_r, info = _solve_set_cover(red, solver=how, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return [int(red.cand[i]) for i in chosen_r], info


def maximal_covering(
    problem: CoverageProblem,
    k: int,
    *,
    solver: str | Solver = Solver.highs,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
    lang: str = "zh",
) -> SiteSuggestion:
    """Choose ``k`` new sites that newly cover the most households (MCLP).

    Parameters
    ----------
    problem
        From :func:`coverage_problem`.
    k
        Number of new sites (>= 1).
    solver
        ``highs`` (exact, warm-started from greedy) or ``greedy``.
    time_limit_s
        HiGHS time limit in seconds; the best answer found by then is
        returned with its gap to HiGHS's bound.
    mip_rel_gap
        Relative gap at which HiGHS may stop (0 = prove optimality).
    lang
        Language of the site names.

    Returns
    -------
    SiteSuggestion
        ``solve.greedy_objective`` holds the baseline: the households that
        ``k`` uncovered compounds' own sites (their access points), chosen
        greedily, would newly cover (with given candidates: greedy over them).
    """
    chosen, info = solve_maximal_covering(
        problem.reach, problem.weights, k, solver=solver, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap
    )
    own = np.flatnonzero(problem.candidates["source"].to_numpy() == CandidateSource.compound.value)
    if len(own):
        _, baseline = greedy_max_cover(problem.reach, problem.weights, int(k), rows=own)
    else:  # given candidates: the baseline is greedy over them
        _, baseline = greedy_max_cover(problem.reach, problem.weights, int(k))
    info.greedy_objective = float(baseline)
    if not info.note and abs(info.objective - baseline) < 0.5 and info.status == SolveStatus.optimal.value:
        info.note = "greedy_optimal"
    return _result(problem, chosen, info, model="maximal_covering", k=int(k), lang=lang)


def set_covering(
    problem: CoverageProblem,
    *,
    solver: str | Solver = Solver.highs,
    time_limit_s: float = 30.0,
    mip_rel_gap: float = 0.0,
    lang: str = "zh",
) -> SiteSuggestion:
    """The fewest new sites that cover every household some candidate can reach.

    Parameters are those of :func:`maximal_covering`.  Uncovered compounds no
    candidate reaches are listed in ``uncoverable`` and need another kind of
    answer (a road, a gate, a compound-level station).
    """
    chosen, info = solve_set_covering(problem.reach, solver=solver, time_limit_s=time_limit_s, mip_rel_gap=mip_rel_gap)
    return _result(problem, chosen, info, model="set_covering", k=None, lang=lang)


def suggest_sites(
    dataset: Dataset,
    k: int | None,
    *,
    candidates: gpd.GeoDataFrame | None = None,
    level: str = "community",
    minutes: float | None = None,
    method: str | None = None,
    solver: str | Solver = Solver.highs,
    time_limit_s: float = 30.0,
    lang: str = "zh",
    **coverage: Any,
) -> SiteSuggestion:
    """Maximal covering for ``k`` sites, or set covering when ``k`` is ``None``, in one call.

    Keyword arguments beyond these go to :func:`coverage_problem`.
    """
    problem = coverage_problem(dataset, candidates=candidates, level=level, minutes=minutes, method=method, **coverage)
    if k is None:
        return set_covering(problem, solver=solver, time_limit_s=time_limit_s, lang=lang)
    return maximal_covering(problem, k, solver=solver, time_limit_s=time_limit_s, lang=lang)


# ---------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------

_LON_NAMES = ("lon", "lng", "longitude", "x", "经度")
_LAT_NAMES = ("lat", "latitude", "y", "纬度")


def read_candidates(path: str | os.PathLike[str]) -> gpd.GeoDataFrame:
    """Candidate points from a file: any vector format pyogrio reads, or CSV with lon/lat columns.

    CSV columns may be named ``lon``/``lat``, ``lng``, ``longitude``/``latitude``,
    ``x``/``y`` or ``经度``/``纬度`` (WGS84 degrees); ``id`` and ``name`` are kept.

    Raises
    ------
    InputError
        The file cannot be read or a CSV has no coordinate columns.
    """
    import pyogrio

    from geo.errors import InputError

    p = Path(path)
    if not p.exists():
        msg = f"candidates file `{p}` does not exist"
        raise InputError(msg, field="candidates")
    if p.suffix.lower() in (".csv", ".txt"):
        try:
            table = pd.read_csv(p, encoding="utf-8-sig")
        except Exception as exc:
            msg = f"cannot read `{p}` as CSV: {exc}"
            raise InputError(msg, field="candidates") from exc
        lower = {str(c).strip().lower(): c for c in table.columns}
        lon = next((lower[n] for n in _LON_NAMES if n in lower), None)
        lat = next((lower[n] for n in _LAT_NAMES if n in lower), None)
        if lon is None or lat is None:
            msg = f"candidates CSV `{p.name}` needs lon and lat columns; has {', '.join(map(str, table.columns))}"
            raise InputError(msg, field="candidates")
        x = pd.to_numeric(table[lon], errors="coerce")
        y = pd.to_numeric(table[lat], errors="coerce")
        bad = (x.isna() | y.isna()).to_numpy()
        if bad.any():
            rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:3])
            msg = f"candidates CSV `{p.name}`: lon/lat are not numbers on lines {rows}"
            raise InputError(msg, field="candidates")
        rest = table.drop(columns=[lon, lat])
        return gpd.GeoDataFrame(rest, geometry=gpd.points_from_xy(x, y), crs=WGS84)
    try:
        return pyogrio.read_dataframe(p, use_arrow=False)
    except Exception as exc:
        msg = f"cannot read candidates `{p}`: {exc}"
        raise InputError(msg, field="candidates") from exc


def suggestion_dataset(dataset: Dataset, result: SiteSuggestion) -> Dataset:
    """The dataset with the base coverage the suggestion was made from (for maps of the sites)."""
    out = dataset.replace(compounds=result.compounds)
    params = dict(out.meta.get("params") or {})
    params.update({k: v for k, v in result.problem.coverage_params.items() if k in (
        "minutes", "speed_kmh", "level_minutes", "method", "statuses")})
    out.meta["params"] = params
    return out


def write_suggestion(result: SiteSuggestion, path: str | os.PathLike[str], *, lang: str = "zh") -> Path:
    """Write the sites: ``.geojson``/``.json`` (points), ``.gpkg`` (layers ``sites``,
    ``newly_covered`` and ``uncoverable`` compounds) or ``.csv`` (the table, UTF-8 with BOM).

    The file is written under a temporary name and moved into place when
    complete (:func:`geo.files.atomic_output`); its folder must exist.
    """
    import pyogrio

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in (".geojson", ".json", ".gpkg", ".csv"):
        msg = f"sites file must end in .geojson, .json, .gpkg or .csv; got `{target.name}`"
        raise InvalidValueError(msg, field="output")
    with atomic_output(target) as tmp:
        if suffix in (".geojson", ".json"):
            tmp.write_text(result.sites.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
        elif suffix == ".csv":
            tmp.write_bytes(result.table(lang).to_csv(index=False).encode("utf-8-sig"))
        else:
            sites = result.sites.copy()
            pyogrio.write_dataframe(sites, tmp, layer="sites", driver="GPKG")
            c = result.compounds
            keep = [col for col in ("id", "name", "community", "households", "new_site", "walk_min", "flags") if col in c]
            newly = c[c["newly_covered"]][[*keep, "geometry"]]
            if len(newly):
                pyogrio.write_dataframe(newly, tmp, layer="newly_covered", driver="GPKG")
            ids = set(result.uncoverable["id"])
            lost = c[c["id"].astype(str).isin(ids)][[*keep, "geometry"]]
            if len(lost):
                pyogrio.write_dataframe(lost, tmp, layer="uncoverable", driver="GPKG")
    return target
