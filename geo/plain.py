"""Plain Python and JSON values from numpy, pandas and shapely ones: the one converter.

- :func:`plain_scalar`: a numpy number or bool as the Python one (what a
  database driver binds, what an attribute table holds).
- :func:`jsonable`: any value as plain JSON data, recursively (numpy to
  Python, NaN and missing to ``None``, times to ISO text, geometries to
  GeoJSON, anything else to its text).
- :func:`json_records`: the rows of a frame as JSON-ready dicts.

Also ``json.dumps(value, default=jsonable)`` for values that are mostly
plain already.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import shapely

__all__ = ["is_missing", "json_records", "jsonable", "plain_scalar"]

_NATIVE = (str, bool, int, float, type(None))


def is_missing(value: Any) -> bool:
    """Whether a scalar is missing: ``None``, ``pd.NA``, ``pd.NaT`` or a float NaN."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def plain_scalar(value: Any) -> Any:
    """A numpy number or bool as the Python one; any other value as it is."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars to Python, NaN to ``None``, times to ISO text."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if is_missing(value):
        return None
    value = plain_scalar(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, shapely.Geometry):
        return json.loads(shapely.to_geojson(value))
    return str(value)


def json_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``frame`` as dicts of plain JSON data (missing values ``None``; see :func:`jsonable`).

    Numeric and bool columns come out of pandas as Python values already;
    only the values of other columns that are not plain go through
    :func:`jsonable`.  Infinite floats become ``None`` too (``json.dumps``
    would write ``Infinity``, which is not JSON).
    """
    floats = [c for c in frame.columns if frame[c].dtype.kind == "f"]
    if floats and not np.isfinite(frame[floats].to_numpy(dtype=float)[frame[floats].notna().to_numpy()]).all():
        frame = frame.copy()
        for c in floats:
            frame[c] = frame[c].where(np.isfinite(frame[c].to_numpy(dtype=float)) | frame[c].isna(), np.nan)
    rows = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
    odd = [c for c in frame.columns if frame[c].dtype.kind not in "biuf"]
    for row in rows:
        for c in odd:
            v = row[c]
            if not isinstance(v, _NATIVE):
                row[c] = jsonable(v)
    return rows
