"""Frames in and out of a store: column kinds, storage-ready frames, row digests, JSON-safe values.

Both backends store a layer as one table: an integer row key, one column per
attribute and one geometry column (EPSG:4326).  Every attribute column has a
*kind* (``bool``, ``int``, ``float``, ``text``, ``datetime``, ``blob``) chosen
here from the pandas dtype on the way in, and turned back into the same pandas
dtypes on the way out, so a layer read from either backend is the same frame:

- ``bool``: ``bool`` without missing values, else ``object`` (True/False/None);
- ``int``: ``int64`` without missing values, else ``float64`` with NaN;
- ``float``: ``float64``; ``text``: strings with missing values as NaN/None;
- ``datetime``: ``datetime64`` in UTC.

(These are the dtypes ``pyogrio`` gives for a GeoPackage, so frames read from
a store and from :func:`layers.dataset.read_dataset` behave alike.)
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import WGS84, to_wgs84
from geo.errors import InvalidValueError, NotFoundError
from geo.plain import is_missing, jsonable
from layers.dataset import check_ids as dataset_check_ids
from layers.schema import LAYER_SPECS

#: Layers whose features are edited one by one and carry a version.
VERSIONED_LAYERS: tuple[str, ...] = ("centers", "compounds", "party_orgs")
#: Column kinds a store knows.
KINDS: tuple[str, ...] = ("bool", "int", "float", "text", "datetime", "blob")
#: Names a layer may not take (the store's own tables and the GeoPackage's).
_RESERVED_PREFIXES = ("dj_", "gpkg_", "rtree_", "sqlite_", "pg_")
_RESERVED_NAMES = {"meta", "geometry", "spatial_ref_sys"}
_LAYER_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
#: Column names the tables use themselves.
_SYSTEM_COLUMNS = ("fid", "geom")
#: How a missing value reads in a digest (not a value any column holds).
_MISSING = "\x1emissing\x1e"


def check_layer_name(name: str) -> str:
    """Return ``name`` if it can be a layer of a store, else raise :class:`NotFoundError`.

    Layer names are lower-case letters, digits and ``_`` (at most 63), start
    with a letter and are none of the store's own tables.
    """
    ok = isinstance(name, str) and bool(_LAYER_RE.match(name))
    if not ok or name in _RESERVED_NAMES or name.startswith(_RESERVED_PREFIXES):
        msg = f"`{name}` is not a layer name (lower-case letters, digits and _, not one of the store's own tables)"
        raise NotFoundError(msg, field="layer")
    return name


def check_versioned(layer: str) -> str:
    """Return ``layer`` if its features are edited one by one (``centers``, ``compounds``)."""
    if layer not in VERSIONED_LAYERS:
        msg = f"features of layer `{layer}` cannot be edited one by one (only {', '.join(VERSIONED_LAYERS)})"
        raise InvalidValueError(msg, field="layer")
    return layer


# ---------------------------------------------------------------------------
# kinds
# ---------------------------------------------------------------------------


def column_kind(series: pd.Series) -> str:
    """The storage kind of a column from its dtype (object columns: from their values)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "int"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "boolean": "bool",
        "integer": "int",
        "floating": "float",
        "mixed-integer-float": "float",
        "decimal": "float",
        "datetime": "datetime",
        "datetime64": "datetime",
        "date": "datetime",
        "bytes": "blob",
    }.get(inferred, "text")


def _jsonish(value: Any) -> Any:
    """Lists, tuples, sets and dicts as JSON text (tables hold scalars only); anything else unchanged."""
    if isinstance(value, (list, tuple, dict, set)):
        return json.dumps(jsonable(list(value) if isinstance(value, set) else value), ensure_ascii=False)
    return value


def coerce_series(series: pd.Series, kind: str) -> pd.Series:
    """``series`` in the pandas dtype a column of ``kind`` is written from.

    ``bool`` and ``int`` columns with missing values become pandas' nullable
    ``boolean`` / ``Int64``; ``text`` becomes ``object`` strings with ``None``.
    """
    if kind == "bool":
        if series.dtype == bool:
            return series
        out = series.map(lambda v: None if is_missing(v) else bool(v))
        return out.astype("boolean")
    if kind == "int":
        if pd.api.types.is_integer_dtype(series.dtype) and not series.isna().any():
            return series.astype("int64")
        return pd.to_numeric(series, errors="raise").astype("Int64")
    if kind == "float":
        return pd.to_numeric(series, errors="raise").astype("float64")
    if kind == "datetime":
        return pd.to_datetime(series, utc=True, format="ISO8601")
    if kind == "blob":
        return series.astype(object).where(series.notna(), None)
    values = series.astype(object).map(_jsonish)
    return values.map(lambda v: None if is_missing(v) else str(v)).astype(object)


def storage_frame(name: str, frame: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """A layer ready to be stored, and the kind of each attribute column.

    Parameters
    ----------
    name
        Layer name (checked by the caller).
    frame
        A GeoDataFrame in any CRS (brought to EPSG:4326), or a plain DataFrame
        for a table without geometry.

    Returns
    -------
    (frame, kinds)
        A new frame with a fresh 0..n-1 index, the geometry column named
        ``geometry`` and last, a ``version`` / ``fid`` column dropped, values in
        the dtype of their kind; and column name to kind, in column order.

    Raises
    ------
    InvalidValueError
        A column name is not text, too long (over 63 bytes) or ``geom``; in
        ``centers`` / ``compounds``, an ``id`` is missing, blank or repeated.
    CRSError
        The frame carries no CRS and does not look like degrees.
    """
    has_geometry = isinstance(frame, gpd.GeoDataFrame) and frame._geometry_column_name in frame.columns
    if has_geometry:
        gdf = to_wgs84(frame, layer=name)
        geoms = gdf.geometry.to_numpy()
        attrs = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    else:
        geoms = None
        attrs = pd.DataFrame(frame).copy()
    attrs = attrs.reset_index(drop=True)
    attrs = attrs.drop(columns=[c for c in ("fid", "version") if c in attrs.columns])
    if "geometry" in attrs.columns:
        attrs = attrs.drop(columns="geometry")
    for col in attrs.columns:
        if not isinstance(col, str) or not col or len(col.encode()) > 63 or "\x00" in col:
            msg = f"layer `{name}`: column name {col!r} must be text of 1 to 63 bytes"
            raise InvalidValueError(msg, field=f"{name}.{col}")
        if col.lower() in _SYSTEM_COLUMNS:
            msg = f"layer `{name}`: a column may not be called `{col}` (the store's own column)"
            raise InvalidValueError(msg, field=f"{name}.{col}")
    if len({c.lower() for c in attrs.columns}) != len(attrs.columns):
        msg = f"layer `{name}`: column names differ only in case: {', '.join(attrs.columns)}"
        raise InvalidValueError(msg, field=name)
    if name in VERSIONED_LAYERS:
        attrs["id"] = check_ids(attrs, name)
    kinds: dict[str, str] = {}
    out: dict[str, pd.Series] = {}
    for col in attrs.columns:
        kind = column_kind(attrs[col])
        try:
            out[col] = coerce_series(attrs[col], kind)
        except (TypeError, ValueError):
            kind = "text"
            out[col] = coerce_series(attrs[col], kind)
        kinds[col] = kind
    table = pd.DataFrame(out, index=attrs.index)
    if geoms is None:
        return table, kinds
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geoms, crs=WGS84)), kinds


def check_ids(frame: pd.DataFrame, layer: str) -> pd.Series:
    """The ``id`` column as text; :class:`InvalidValueError` when missing, blank or repeated."""
    if "id" not in frame.columns:
        msg = f"layer `{layer}` needs an `id` column to be stored"
        raise InvalidValueError(msg, field=f"{layer}.id")
    return dataset_check_ids(frame, layer)


def python_values(series: pd.Series, kind: str) -> list[Any]:
    """The column's values as plain Python objects for a database driver (missing -> ``None``)."""
    if kind == "datetime":
        stamps = pd.to_datetime(series, utc=True, format="ISO8601")
        return [None if pd.isna(v) else v.to_pydatetime() for v in stamps]
    if kind == "bool":
        return [None if is_missing(v) else bool(v) for v in series.astype(object)]
    if kind == "int":
        return [None if is_missing(v) else int(v) for v in series.astype(object)]
    if kind == "float":
        values = pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
        return [None if math.isnan(v) else float(v) for v in values]
    if kind == "blob":
        return [None if is_missing(v) else bytes(v) for v in series.astype(object)]
    return [None if is_missing(v) else str(_jsonish(v)) for v in series.astype(object)]


def frame_from_columns(
    columns: Sequence[str],
    kinds: Sequence[str],
    values: Sequence[Sequence[Any]],
    geometry: np.ndarray | None,
) -> pd.DataFrame:
    """A layer from per-column Python values read from a table (see the module docstring for dtypes).

    Parameters
    ----------
    columns, kinds
        Attribute columns in table order and their kinds.
    values
        One sequence of values per column.
    geometry
        Shapely geometries (EPSG:4326), or ``None`` for a table without geometry.
    """
    data: dict[str, Any] = {}
    n = len(geometry) if geometry is not None else (len(values[0]) if values else 0)
    for col, kind, vals in zip(columns, kinds, values, strict=True):
        vals = list(vals)
        missing = [v is None for v in vals]
        has_missing = any(missing)
        if kind == "bool":
            data[col] = (
                pd.Series([None if v is None else bool(v) for v in vals], dtype=object)
                if has_missing
                else pd.Series([bool(v) for v in vals], dtype=bool)
            )
        elif kind == "int":
            data[col] = (
                pd.Series([np.nan if v is None else float(v) for v in vals], dtype="float64")
                if has_missing
                else pd.Series(vals, dtype="int64")
            )
        elif kind == "float":
            data[col] = pd.Series([np.nan if v is None else float(v) for v in vals], dtype="float64")
        elif kind == "datetime":
            data[col] = pd.to_datetime(pd.Series(vals, dtype=object), utc=True, format="ISO8601")
        elif kind == "blob":
            data[col] = pd.Series([None if v is None else bytes(v) for v in vals], dtype=object)
        else:
            data[col] = pd.Series(vals) if vals and not all(missing) else pd.Series(vals, dtype=object)
    attrs = pd.DataFrame(data, index=pd.RangeIndex(n), columns=list(columns))
    if geometry is None:
        return attrs
    return gpd.GeoDataFrame(attrs, geometry=gpd.GeoSeries(geometry, crs=WGS84))


# ---------------------------------------------------------------------------
# digests: whether a feature's editable content changed
# ---------------------------------------------------------------------------


def digest_columns(layer: str, columns: Sequence[str]) -> list[str]:
    """The columns whose change bumps a feature's version: ``id`` and the layer spec's columns.

    Columns the service derives (coverage: ``covered``, ``walk_m`` ...) are
    left out, so a recomputation does not invalidate the versions planners
    hold.  A spec column the frame lacks counts as missing values.
    """
    spec = LAYER_SPECS.get(layer)
    if spec is None:
        return list(columns)
    return list(dict.fromkeys(["id", *spec.required, *spec.optional]))


def _canonical(series: pd.Series) -> pd.Series:
    """Text that is equal for equal values whatever the dtype they travelled in (1 == 1.0 == True)."""
    kind = column_kind(series)
    if kind in ("bool", "int", "float"):
        num = pd.to_numeric(series.astype(object).map(lambda v: None if is_missing(v) else v), errors="coerce")
        num = num.astype("float64")
        return num.astype(str).where(num.notna(), _MISSING)
    if kind == "datetime":
        stamps = pd.to_datetime(series, utc=True, format="ISO8601")
        return stamps.astype(str).where(stamps.notna(), _MISSING)
    text = series.astype(object).map(lambda v: _MISSING if is_missing(v) else str(_jsonish(v)))
    return text.astype(str)


def row_digests(frame: gpd.GeoDataFrame, layer: str) -> np.ndarray:
    """One hex digest per row over the layer's editable columns and the geometry's WKB.

    Returns
    -------
    numpy.ndarray
        16-character hex strings, equal for rows whose editable content is equal.
    """
    cols = digest_columns(layer, [c for c in frame.columns if c != frame.geometry.name])
    canon = pd.DataFrame(
        {c: _canonical(frame[c]).to_numpy() if c in frame.columns else [_MISSING] * len(frame) for c in cols},
        index=pd.RangeIndex(len(frame)),
    )
    wkb = shapely.to_wkb(frame.geometry.to_numpy(), hex=True, byte_order=1)
    canon["__geometry__"] = pd.Series(wkb, dtype=object).fillna(_MISSING).astype(str).to_numpy()
    hashed = pd.util.hash_pandas_object(canon, index=False).to_numpy(dtype=np.uint64)
    return np.char.mod("%016x", hashed).astype(object)


def feature_json(feature_id: str, properties: Mapping[str, Any], geometry: Any, version: int | None) -> dict[str, Any]:
    """A GeoJSON Feature (``id``, ``version`` among the properties' neighbours) for the audit log."""
    geom = None if geometry is None else json.loads(shapely.to_geojson(geometry))
    out: dict[str, Any] = {"type": "Feature", "id": feature_id, "properties": jsonable(dict(properties)), "geometry": geom}
    if version is not None:
        out["version"] = int(version)
    return out
