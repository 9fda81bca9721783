"""Candidate sites for new centres: the points given, else places generated near the uncovered compounds.

Generated candidates are the access points of the uncovered compounds (their
gates, else a point inside them) plus the road intersections (walking
network nodes of degree >= 3) within reach of one, merged on a grid of
``merge_m`` metres.  Every candidate records where it came from
(:class:`CandidateSource`) and what it came from (``source_ref``).
"""

from __future__ import annotations

from enum import StrEnum

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import to_wgs84
from geo.errors import GeometryError
from geo.network import WalkNetwork


class CandidateSource(StrEnum):
    """Where a candidate site came from."""

    given = "given"
    compound = "compound"
    intersection = "intersection"


def intersections(net: WalkNetwork) -> np.ndarray:
    """``(n, 2)`` coordinates of network nodes where three or more edges meet."""
    degree = np.diff(net.adjacency.indptr)
    return np.asarray(net.nodes_xy[degree >= 3], dtype=float)


def given_candidates(candidates: gpd.GeoDataFrame, *, metric_crs: CRS) -> gpd.GeoDataFrame:
    """Candidate points given by the planner (any CRS) in ``metric_crs``, keeping their ``id`` and ``name``.

    Raises
    ------
    GeometryError
        A row is not a (non-empty) point.
    """
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


def generated_candidates(
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
