"""Service circles (15分钟服务圈): straight-line circles around service centres."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import WGS84
from geo.errors import InvalidValueError
from layers.schema import LEVELS

#: Default walking speed (km/h) and time (minutes): 4 km/h x 15 min = 1000 m (GB 50180-2018).
DEFAULT_SPEED_KMH = 4.0
DEFAULT_MINUTES = 15.0
#: Columns of a service-area layer, straight-line circles and walking areas alike (then ``geometry``).
BAND_COLUMNS: tuple[str, ...] = ("center_id", "name", "level", "status", "minutes", "radius_m", "method")


def walk_metres(minutes: float | np.ndarray, speed_kmh: float) -> float | np.ndarray:
    """Metres walked in ``minutes`` at ``speed_kmh``."""
    return np.asarray(minutes, dtype=float) * speed_kmh * 1000.0 / 60.0


def check_walk_params(minutes: float, speed_kmh: float) -> None:
    """Reject non-positive or absurd minutes and speeds with a named error."""
    if not (0 < minutes <= 120) or not np.isfinite(minutes):
        msg = f"`minutes` must lie in (0, 120]; got {minutes!r}"
        raise InvalidValueError(msg, field="minutes")
    if not (0 < speed_kmh <= 20) or not np.isfinite(speed_kmh):
        msg = f"`speed_kmh` must lie in (0, 20]; got {speed_kmh!r}"
        raise InvalidValueError(msg, field="speed_kmh")


def center_minutes(
    levels: pd.Series | Iterable[str],
    *,
    minutes: float = DEFAULT_MINUTES,
    level_minutes: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Minutes each centre serves: ``level_minutes[level]`` where set, else ``minutes``.

    Parameters
    ----------
    levels
        Centre levels (``district`` ... ``compound``).
    minutes
        Default walking time in minutes.
    level_minutes
        Per-level overrides, e.g. ``{"compound": 5}``.
    """
    overrides = dict(level_minutes or {})
    unknown = set(overrides) - set(LEVELS)
    if unknown:
        msg = f"`level_minutes` has unknown levels {sorted(unknown)}; valid: {', '.join(LEVELS)}"
        raise InvalidValueError(msg, field="level_minutes")
    lv = pd.Series(list(levels), dtype=object)
    return lv.map(lambda v: overrides.get(v, minutes)).to_numpy(dtype=float)


def parse_level_minutes(value: str, *, option: str = "") -> dict[str, float]:
    """Per-level minutes from text: ``compound=5,community=15`` (pairs split by ``,`` or ``;``, full-width too).

    Parameters
    ----------
    value
        ``LEVEL=MINUTES`` pairs; blank pairs are skipped.  The levels are
        checked later (:func:`center_minutes`).
    option
        How the caller names the setting in errors (e.g. ``--level-minutes``);
        ``""``: the message starts with "takes".

    Raises
    ------
    InvalidValueError
        A pair without ``=`` or whose minutes are not a number, naming
        ``level_minutes``.
    """
    out: dict[str, float] = {}
    for part in value.replace("；", ";").replace("，", ";").replace(",", ";").split(";"):
        if not part.strip():
            continue
        key, sep, minutes = part.partition("=")
        try:
            out[key.strip()] = float(minutes)
        except ValueError:
            sep = ""
        if not sep:
            subject = f"`{option}` " if option else ""
            msg = f"{subject}takes LEVEL=MINUTES pairs split by , or ; like compound=5,community=15; got {part.strip()!r}"
            raise InvalidValueError(msg, field="level_minutes")
    return out


def service_circles(
    centers: gpd.GeoDataFrame,
    *,
    metric_crs: CRS,
    minutes: float = DEFAULT_MINUTES,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    level_minutes: Mapping[str, float] | None = None,
    bands: Iterable[float] = (),
    quad_segs: int = 16,
) -> gpd.GeoDataFrame:
    """Straight-line service circles of every centre, buffered in metres.

    Parameters
    ----------
    centers
        Centres in EPSG:4326 with ``id``, ``name``, ``level``, ``status``.
    metric_crs
        Projected CRS (metres) to buffer in.
    minutes, speed_kmh, level_minutes
        Radius = speed x minutes of the centre's level (metres).
    bands
        Extra walking times (minutes) drawn as nested circles (e.g. 5, 10);
        bands longer than a centre's own time are skipped.
    quad_segs
        Segments per quarter circle.

    Returns
    -------
    GeoDataFrame
        One row per centre and band in EPSG:4326: ``center_id``, ``name``,
        ``level``, ``status``, ``minutes``, ``radius_m``, ``method`` (``circle``),
        largest band first so smaller ones draw on top.
    """
    check_walk_params(minutes, speed_kmh)
    own = center_minutes(centers["level"], minutes=minutes, level_minutes=level_minutes)
    pts = centers.to_crs(metric_crs).geometry.to_numpy()
    frames = []
    for band in sorted({*map(float, bands), *own.tolist()}, reverse=True):
        keep = own >= band
        if not keep.any():
            continue
        radius = float(walk_metres(band, speed_kmh))
        frames.append(
            band_rows(
                centers, np.flatnonzero(keep), minutes=band, radius_m=radius, method="circle",
                geometry=shapely.buffer(pts[keep], radius, quad_segs=quad_segs),
            )
        )
    return band_layer(frames, metric_crs=metric_crs)


def band_rows(centers: pd.DataFrame, rows: np.ndarray, **columns: Any) -> pd.DataFrame:
    """Rows of a service-area layer: ``center_id``, ``name``, ``level``, ``status`` of ``centers`` at positions ``rows``, then ``columns``."""
    return pd.DataFrame(
        {
            "center_id": centers["id"].to_numpy()[rows],
            "name": centers["name"].to_numpy()[rows],
            "level": centers["level"].to_numpy()[rows],
            "status": centers["status"].to_numpy()[rows],
            **columns,
        }
    )


def band_layer(
    frames: list[pd.DataFrame], *, metric_crs: CRS, columns: tuple[str, ...] = BAND_COLUMNS
) -> gpd.GeoDataFrame:
    """:func:`band_rows` frames (geometry in ``metric_crs``) as one layer in EPSG:4326; no frames: an empty layer of ``columns``."""
    if not frames:
        return gpd.GeoDataFrame(columns=[*columns, "geometry"], geometry="geometry", crs=WGS84)
    out = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=metric_crs)
    return out.to_crs(WGS84)
