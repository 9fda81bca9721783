"""The batch manifest: a CSV or TOML list of datasets, each with its build settings.

See :mod:`layers.batch` for the columns.  :func:`read_manifest` turns a
manifest into :class:`BatchEntry` rows; a row with bad settings is kept, with
the reason in ``error``, so it is reported as failed without stopping the run.
"""

from __future__ import annotations

import csv
import io
import math
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from geo.errors import DangjianError, DatasetNotFoundError, InputError, InvalidValueError, MissingColumnError
from layers.build import BuildParams
from layers.circles import parse_level_minutes
from layers.coverage import Method, parse_method

__all__ = ["DEFAULT_TILE_M", "ROLLUP_STEM", "BatchEntry", "is_database", "read_manifest"]

#: Stem of the roll-up files (``province.xlsx``, ``province.html``); no dataset may take it.
ROLLUP_STEM = "province"
#: Default tile side of a split walking pass, metres.
DEFAULT_TILE_M = 10_000.0

_PARAM_FIELDS = {f.name: f for f in fields(BuildParams)}
_TUPLE_FIELDS = {"bands": float, "statuses": str, "unit_classes": str}
_FLOAT_FIELDS = {"minutes", "speed_kmh", "max_snap_m", "cell_size_m", "min_unit_area_m2", "area_buffer_m"}
_INT_FIELDS = {"h3_resolution", "min_households", "max_households"}
_ENTRY_COLUMNS = {"name", "path", "city", "split"}


@dataclass(frozen=True)
class BatchEntry:
    """One dataset of a manifest.

    Attributes
    ----------
    name
        Unique name; the outputs are ``<name>.gpkg`` and ``<name>.<report format>``.
    path
        The dataset (GeoPackage or folder), absolute.
    params
        Its build parameters (the run's defaults with the row's settings on top).
    city
        City it belongs to in the roll-up (``""`` when not given).
    split
        Network method only. ``None``: split the walking pass when the
        district has more road segments than the run's ``split_edges``;
        ``True`` / ``False``: always / never.
    tile_m
        Tile side of a split walking pass, metres.
    error
        Why the row cannot run (a bad setting); such an entry is reported as
        failed without running.
    """

    name: str
    path: str
    params: BuildParams = field(default_factory=BuildParams)
    city: str = ""
    split: bool | None = None
    tile_m: float = DEFAULT_TILE_M
    error: str = ""


def _split_list(value: str) -> list[str]:
    return [p.strip() for p in value.replace("；", ";").replace("，", ";").replace(",", ";").split(";") if p.strip()]


def _param_value(name: str, value: Any) -> Any:
    """A manifest cell (text, or a TOML value) as the type of the :class:`BuildParams` field."""
    if name == "level_minutes":
        if isinstance(value, dict):
            return {str(k): float(v) for k, v in value.items()}
        return parse_level_minutes(str(value))
    if name in _TUPLE_FIELDS:
        kind = _TUPLE_FIELDS[name]
        items = value if isinstance(value, list) else _split_list(str(value))
        return tuple(kind(v) for v in items)
    if name in _FLOAT_FIELDS:
        return float(value)
    if name in _INT_FIELDS:
        f = float(value)
        if not f.is_integer():
            msg = f"must be a whole number; got {value!r}"
            raise ValueError(msg)
        return int(f)
    if name == "method":
        return parse_method(str(value).strip()).value
    return str(value).strip()


def _parse_split(value: Any) -> tuple[bool | None, float | None]:
    """``auto`` | ``yes`` | ``no`` | tile side in km -> (split, tile metres)."""
    if isinstance(value, bool):
        return value, None
    s = str(value).strip().lower()
    if s in ("", "auto"):
        return None, None
    if s in ("yes", "true", "y", "是"):
        return True, None
    if s in ("no", "false", "n", "否"):
        return False, None
    km = float(s)
    if not (math.isfinite(km) and km > 0):
        raise ValueError(f"must be auto, yes, no or a tile side in km > 0; got {value!r}")
    return True, km * 1000.0


def _check_name(name: str, row: int) -> str:
    name = str(name).strip()
    bad = not name or name.startswith(".") or any(c in name for c in '/\\:*?"<>|\0') or name == ROLLUP_STEM
    if bad:
        msg = (
            f"manifest row {row}: `name` {name!r} cannot name output files "
            f"(no / \\ : * ? \" < > |, no leading dot, not {ROLLUP_STEM!r})"
        )
        raise InvalidValueError(msg, field="name")
    return name


def _entry(row: dict[str, Any], *, number: int, base: Path, defaults: BuildParams) -> BatchEntry:
    """One manifest row as a :class:`BatchEntry` (bad settings go to ``error``)."""
    name = _check_name(row.get("name", ""), number)
    raw_path = str(row.get("path", "") or "").strip()
    if not raw_path:
        msg = f"manifest row {number} ({name}): `path` is blank"
        raise InvalidValueError(msg, field="path")
    if is_database(raw_path):
        path: Path | str = raw_path
    else:
        path = Path(raw_path).expanduser()
        if not path.is_absolute():
            path = base / path
    city = str(row.get("city", "") or "").strip()
    overrides: dict[str, Any] = {}
    errors: list[str] = []
    split: bool | None = None
    tile_m = DEFAULT_TILE_M
    for key, value in row.items():
        if key in ("name", "path", "city") or value is None or (isinstance(value, str) and not value.strip()):
            continue
        try:
            if key == "split":
                split, tile = _parse_split(value)
                tile_m = tile or tile_m
            else:
                overrides[key] = _param_value(key, value)
        except (ValueError, TypeError, DangjianError) as exc:
            reason = exc.message if isinstance(exc, DangjianError) else str(exc)
            errors.append(f"`{key}` {reason}")
    params = defaults
    if not errors:
        try:
            params = replace(defaults, **overrides).validate()
        except DangjianError as exc:
            errors.append(exc.message)
    return BatchEntry(
        name=name, path=path if isinstance(path, str) else str(path.resolve()), params=params, city=city, split=split, tile_m=tile_m,
        error="; ".join(errors),
    )


def read_manifest(path: str | os.PathLike[str], *, defaults: BuildParams | None = None) -> tuple[list[BatchEntry], str]:
    """Read a CSV or TOML manifest.

    Parameters
    ----------
    path
        ``.csv`` (UTF-8, a byte-order mark is fine; GBK is tried when UTF-8
        fails) or ``.toml``.
    defaults
        Build parameters for settings a row leaves blank (default: the
        walking network method, 15 minutes at 4 km/h).

    Returns
    -------
    (entries, title)
        The datasets in manifest order, and the roll-up title (TOML
        ``title``; ``""`` otherwise).

    Raises
    ------
    DatasetNotFoundError
        The manifest does not exist.
    MissingColumnError
        No ``name`` or ``path`` column.
    InvalidValueError
        An unknown column, a blank or unusable name, a repeated name, or no rows.
        Bad *settings* in a row do not raise: the row's entry carries them in
        ``error`` and is reported as failed.
    """
    p = Path(path)
    if not p.is_file():
        msg = f"manifest `{p}` does not exist"
        raise DatasetNotFoundError(msg, field="manifest")
    defaults = defaults or BuildParams(method=Method.network.value)
    title = ""
    if p.suffix.lower() == ".toml":
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"manifest `{p.name}` is not valid TOML: {exc}"
            raise InputError(msg, field="manifest") from exc
        title = str(doc.get("title", "") or "")
        base_row = {str(k): v for k, v in (doc.get("defaults") or {}).items()}
        rows = [{**base_row, **{str(k): v for k, v in r.items()}} for r in doc.get("dataset", doc.get("datasets", []))]
        columns = set().union(*(r.keys() for r in rows)) if rows else set()
    else:
        raw = p.read_bytes()
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            content = raw.decode("gbk", errors="replace")
        reader = csv.DictReader(io.StringIO(content))
        columns = {str(c).strip() for c in (reader.fieldnames or []) if c is not None}
        rows = [
            {str(k).strip(): v for k, v in r.items() if k is not None}
            for r in reader
            if any((v or "").strip() for v in r.values() if isinstance(v, str))
        ]
    for required in ("name", "path"):
        if required not in columns:
            msg = f"manifest `{p.name}` has no `{required}` column (columns: {', '.join(sorted(columns)) or 'none'})"
            raise MissingColumnError(msg, field=required)
    unknown = sorted(columns - _ENTRY_COLUMNS - set(_PARAM_FIELDS))
    if unknown:
        known = ", ".join(["city", "split", *sorted(_PARAM_FIELDS)])
        msg = f"manifest `{p.name}` has unknown columns {', '.join(unknown)} (known: name, path, {known})"
        raise InvalidValueError(msg, field=unknown[0])
    if not rows:
        msg = f"manifest `{p.name}` lists no datasets"
        raise InvalidValueError(msg, field="manifest")
    entries = [_entry(r, number=i + 1, base=p.parent.resolve(), defaults=defaults) for i, r in enumerate(rows)]
    seen: dict[str, int] = {}
    for i, e in enumerate(entries, start=1):
        if e.name in seen:
            msg = f"manifest `{p.name}`: name {e.name!r} appears on rows {seen[e.name]} and {i}; names must be unique"
            raise InvalidValueError(msg, field="name")
        seen[e.name] = i
    return entries, title


def is_database(path: str | os.PathLike[str]) -> bool:
    """Whether a manifest path names a PostGIS schema (``postgresql://...?schema=NAME``)."""
    return str(path).startswith(("postgresql://", "postgres://"))
