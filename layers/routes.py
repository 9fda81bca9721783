"""A compound's walk to its centre, drawn: the line whose length is the compound's ``walk_m``.

The coverage columns (:mod:`layers.coverage`) say how far a compound walks
(``walk_m``) and to which centre (``nearest_center``: the covering one, else
the nearest); :func:`compound_route` draws that walk.  Network method: from
the compound's access point (:func:`layers.walking.access_points`) straight
to the nearest point of the nearest walkable road, along the roads, and
straight to the centre (:func:`geo.network.walk_route`, the model the
coverage pass measures, so the line is as long as ``walk_m``).  Circle
method: the straight line from the nearest access point to the centre.
"""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84
from geo.errors import NotBuiltError, NotFoundError
from geo.geometry import xy
from geo.network import WalkNetwork, walk_route
from layers.build import BuildParams
from layers.circles import center_minutes
from layers.coverage import Method, parse_method
from layers.dataset import Dataset
from layers.walking import SHARED_NETWORKS, access_points

__all__ = ["ROUTE_COLUMNS", "compound_route"]

#: Columns of :func:`compound_route`'s row, besides the geometry.
ROUTE_COLUMNS: tuple[str, ...] = (
    "compound",
    "name",
    "center_id",
    "center_name",
    "center_level",
    "walk_m",
    "walk_min",
    "minutes",
    "covered",
    "method",
    "access_m",
    "roads_m",
    "center_m",
    "unreachable",
)

#: Metres a stored ``walk_m`` (rounded to 0.1 m) may lie under the walk: the network search goes this much farther.
_SEARCH_MARGIN_M = 1.0


def _row(frame: gpd.GeoDataFrame, column: str, value: str, layer: str) -> pd.Series:
    hit = frame.index[frame[column].astype(str) == value]
    if not len(hit):
        msg = f"layer `{layer}` has no feature with id {value!r}"
        raise NotFoundError(msg, field="id")
    return frame.loc[hit[0]]


def _number(value: object) -> float:
    v = float(value) if value is not None else math.nan  # type: ignore[arg-type]
    return v if math.isfinite(v) else math.nan


def compound_route(
    dataset: Dataset, compound_id: str, *, params: BuildParams, network: WalkNetwork | None = None
) -> gpd.GeoDataFrame:
    """The walk of compound ``compound_id`` to its centre, as one row in EPSG:4326.

    Parameters
    ----------
    dataset
        A built dataset (its ``compounds`` carry the coverage columns), or a
        coverage variant of one; its ``roads``, ``centers`` and ``gates`` are
        the ones the coverage was computed from.
    compound_id
        The compound's ``id``.
    params
        The parameters the coverage was computed with (method, speed, minutes
        per level, ``max_snap_m``).
    network
        The walking network of the dataset's roads in its metric CRS (default:
        :data:`layers.walking.SHARED_NETWORKS`).

    Returns
    -------
    GeoDataFrame
        One row: ``compound`` (id) and ``name``; the centre walked to
        (``center_id``, ``center_name``, ``center_level``; ``""`` when none);
        ``walk_m``, ``walk_min`` (the compound's coverage columns), ``minutes``
        (the centre's walking limit), ``covered``, ``method``; the legs
        ``access_m`` (compound to road), ``roads_m`` (along roads) and
        ``center_m`` (road to centre; the circle method has only ``access_m``
        = ``walk_m``); ``unreachable`` (the reason when there is no walk, else
        ``""``).  The geometry is the LineString from the compound's access
        point to the centre, ``None`` when no centre is reachable.

    Raises
    ------
    NotFoundError
        No compound has that id (``field="id"``).
    NotBuiltError
        The compounds carry no coverage columns.
    """
    compounds = dataset["compounds"]
    if "nearest_center" not in compounds.columns or "walk_m" not in compounds.columns:
        msg = "the dataset is not built: compounds have no coverage columns to draw a route from"
        raise NotBuiltError(msg, field="dataset")
    row = _row(compounds, "id", str(compound_id), "compounds")
    method = parse_method(params.method)
    walk_m = _number(row["walk_m"])
    out: dict[str, object] = {
        "compound": str(row["id"]),
        "name": str(row["name"]),
        "center_id": "",
        "center_name": "",
        "center_level": "",
        "walk_m": walk_m,
        "walk_min": _number(row["walk_min"]),
        "minutes": math.nan,
        "covered": bool(row["covered"]),
        "method": method.value,
        "access_m": math.nan,
        "roads_m": math.nan,
        "center_m": math.nan,
        "unreachable": str(row.get("unreachable", "") or ""),
    }
    line: shapely.LineString | None = None
    center_id = str(row["nearest_center"] or "")
    if center_id and math.isfinite(walk_m):
        center = _row(dataset["centers"], "id", center_id, "centers")
        out |= {"center_id": center_id, "center_name": str(center["name"]), "center_level": str(center["level"])}
        out["minutes"] = float(
            center_minutes([center["level"]], minutes=params.minutes, level_minutes=params.level_minutes)[0]
        )
        crs = dataset.metric_crs
        one = compounds.loc[[row.name]].to_crs(crs)
        gates = dataset.layers.get("gates")
        access, _ = access_points(one, gates.to_crs(crs) if gates is not None and len(gates) else None)
        c_xy = xy(gpd.GeoSeries([center.geometry], crs=WGS84).to_crs(crs).to_numpy())[0]
        a_xy = xy(access)
        if method is Method.circle:
            d = np.hypot(*(a_xy - c_xy).T)
            line = shapely.LineString([a_xy[int(np.argmin(d))], c_xy])
            out["access_m"] = float(d.min())
        else:
            net = network if network is not None else SHARED_NETWORKS.get(dataset["roads"], metric_crs=crs)
            route = walk_route(net, c_xy, a_xy, max_snap_m=params.max_snap_m, limit_m=walk_m + _SEARCH_MARGIN_M)
            if not route.found:  # the stored walk is stale (say the roads changed since): the walk as it is now
                route = walk_route(net, c_xy, a_xy, max_snap_m=params.max_snap_m)
            if route.found:
                line = shapely.LineString(route.xy)
                out |= {"access_m": route.access_m, "roads_m": route.roads_m, "center_m": route.source_m}
            else:
                out["unreachable"] = route.reason
        if line is not None:
            line = gpd.GeoSeries([line], crs=crs).to_crs(WGS84).iloc[0]
    return gpd.GeoDataFrame([out], columns=list(ROUTE_COLUMNS), geometry=[line], crs=WGS84)
