"""Walking service areas (步行网络服务圈): the part of the road network a centre reaches on foot.

Thin layer over :mod:`geo.network`: turns per-centre reachable parts of the
walking network (:mod:`layers.walking`) into polygons with
nested time bands (5/10/15 minutes), in the same shape as the straight-line
``circles`` layer so the map and tiles treat both alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS

from geo.geometry import xy
from geo.network import WalkNetwork, service_areas
from layers.circles import (
    BAND_COLUMNS,
    DEFAULT_MINUTES,
    DEFAULT_SPEED_KMH,
    band_layer,
    band_rows,
    center_minutes,
    walk_metres,
)

AREA_COLUMNS: tuple[str, ...] = (*BAND_COLUMNS, "reason")


def walking_service_areas(
    network: WalkNetwork,
    centers: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    minutes: float = DEFAULT_MINUTES,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    level_minutes: Mapping[str, float] | None = None,
    bands: Iterable[float] = (),
    buffer_m: float = 50.0,
    max_snap_m: float = 300.0,
) -> gpd.GeoDataFrame:
    """Network service areas of every centre, one row per centre and time band.

    Parameters
    ----------
    network
        From :func:`layers.walking.walking_network`, in ``metric_crs``.
    centers
        Centres in EPSG:4326 with ``id``, ``name``, ``level``, ``status``.
    minutes, speed_kmh, level_minutes
        Each centre's own walking time (min) and the speed (km/h).
    bands
        Extra times (min) for nested rings; bands above a centre's own time are skipped.
    buffer_m
        Buffer around the reached roads (m).
    max_snap_m
        Longest straight leg from a centre to the road (m).

    Returns
    -------
    GeoDataFrame
        EPSG:4326 with ``center_id``, ``name``, ``level``, ``status``,
        ``minutes``, ``radius_m`` (walking metres of the band), ``method``
        (``network``), ``reason`` (``far_from_road`` when the centre is off the
        network) — largest band first so smaller ones draw on top.
    """
    own = center_minutes(centers["level"], minutes=minutes, level_minutes=level_minutes)
    pts = xy(centers.to_crs(metric_crs).geometry.to_numpy())
    frames: list[pd.DataFrame] = []
    for group_minutes in np.unique(own):
        members = np.flatnonzero(own == group_minutes)
        times = sorted({float(b) for b in bands if b <= group_minutes} | {float(group_minutes)})
        areas = service_areas(
            network,
            pts[members],
            limits_m=[float(walk_metres(t, speed_kmh)) for t in times],
            buffer_m=buffer_m,
            max_snap_m=max_snap_m,
        )
        frames.append(
            band_rows(
                centers, members[areas["source"].to_numpy()],
                minutes=np.round(areas["limit_m"].to_numpy() / (speed_kmh * 1000 / 60), 2),
                radius_m=areas["limit_m"].to_numpy(), method="network", reason=areas["reason"].to_numpy(),
                geometry=areas.geometry.to_numpy(),
            )
        )
    out = band_layer(frames, metric_crs=metric_crs, columns=AREA_COLUMNS)
    return out.sort_values(["minutes", "center_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
