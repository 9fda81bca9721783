"""Argument checks shared by the network functions: coordinates and distances in metres.

Each check returns the value as numpy/float and raises :class:`InputError`
naming the argument otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from geo.errors import InputError

__all__ = ["as_limit_list", "as_limits", "as_xy", "positive_metres"]


def as_xy(xy: Any, name: str) -> np.ndarray:
    """``(k, 2)`` float coordinates in metres; an empty input gives ``(0, 2)``."""
    arr = np.asarray(xy, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] != 2:
        msg = f"`{name}` must be an array of shape (k, 2) in metres, got shape {arr.shape}"
        raise InputError(msg, field=name)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        msg = f"`{name}` has {int(bad.sum())} points without finite coordinates (first: row {int(np.flatnonzero(bad)[0])})"
        raise InputError(msg, field=name)
    return arr


def as_limits(limit_m: Any, n: int) -> np.ndarray:
    """``(n,)`` walking limits in metres from one number or one per source (``inf`` allowed)."""
    lim = np.asarray(limit_m, dtype=np.float64)
    if lim.ndim == 0:
        lim = np.full(n, float(lim))
    if lim.shape != (n,):
        msg = f"`limit_m` must be one number or one per source ({n}), got shape {lim.shape}"
        raise InputError(msg, field="limit_m")
    if np.isnan(lim).any() or (lim < 0).any():
        msg = "`limit_m` must be walking distances >= 0 metres"
        raise InputError(msg, field="limit_m")
    return lim


def as_limit_list(limits_m: Any) -> np.ndarray:
    """The distinct finite walking limits in metres, ascending."""
    lims = np.unique(np.atleast_1d(np.asarray(limits_m, dtype=np.float64)))
    if lims.size == 0 or not np.all(np.isfinite(lims)) or (lims < 0).any():
        msg = f"`limits_m` must be finite walking distances >= 0 metres, got {limits_m!r}"
        raise InputError(msg, field="limits_m")
    return lims


def positive_metres(value: float, field: str) -> float:
    """``value`` as a float; :class:`InputError` naming ``field`` unless it is a positive, finite length."""
    if not (math.isfinite(value) and value > 0):
        msg = f"`{field}` must be a positive number of metres, got {value!r}"
        raise InputError(msg, field=field)
    return float(value)
