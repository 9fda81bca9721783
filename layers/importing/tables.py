"""CSV/TSV and XLSX tables with coordinate columns, headers in Chinese or English.

Coordinates come from a longitude/latitude pair of columns (``经度``/``纬度``,
``lon``/``lat``, surveyors' ``X``/``Y``), from one ``经纬度`` column holding
both, or from WKT; the user's ``--columns`` (``东经=lon``) pick them first.
Numbers may use full-width digits and degree marks.  A row whose coordinates
cannot be read keeps no geometry and a reason, so the import report names its
row.  Text encoding is detected (UTF-8 or GBK) unless given.
"""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.errors import InputError
from layers.importing.raw import RawLayer, detect_encoding, header_key, short_error

#: Header spellings of coordinate columns (compared after :func:`~layers.importing.raw.header_key`).
LON_HEADERS = ("lon", "lng", "long", "longitude", "经度", "东经", "x", "x坐标", "坐标x", "pointx", "横坐标", "e", "easting", "东坐标")
LAT_HEADERS = ("lat", "latitude", "纬度", "北纬", "y", "y坐标", "坐标y", "pointy", "纵坐标", "n", "northing", "北坐标")
PAIR_HEADERS = ("经纬度", "坐标", "lnglat", "lonlat", "location", "位置", "经纬度坐标")
WKT_HEADERS = ("wkt", "geometry", "geom", "the_geom", "shape", "几何")

#: Design names of the coordinate columns a ``--columns`` pair may point at.
COORDINATE_COLUMNS = frozenset({"lon", "lat", "x", "y", "wkt"})

#: A table's geometry (no CRS), the source columns it consumed, and why rows have none.
Points = tuple[gpd.GeoDataFrame, dict[str, str], dict[int, str]]


def _find(headers: dict[str, str], names: tuple[str, ...]) -> str | None:
    for n in names:
        if n in headers:
            return headers[n]
    return None


def _shown(value: object) -> str:
    """A cell as quoted text for messages; blank cells show as ``''``."""
    return "''" if value is None or (isinstance(value, float) and np.isnan(value)) else repr(value)


def _numbers(values: pd.Series) -> pd.Series:
    """Parse coordinates written as numbers, allowing full-width digits and degree marks."""
    text = values.astype("string").str.strip()
    text = text.str.translate(str.maketrans("０１２３４５６７８９．－，", "0123456789.-,"))
    text = text.str.replace(r"[°度\s]", "", regex=True)
    return pd.to_numeric(text, errors="coerce")


def _xy(x: pd.Series, y: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Points from parsed coordinates and the mask of rows that have none."""
    bad = (x.isna() | y.isna()).to_numpy()
    return shapely.points(x.to_numpy(dtype=float), y.to_numpy(dtype=float)), bad


def _with_geometry(table: pd.DataFrame, geoms: np.ndarray, bad: np.ndarray, consumed: list[str]) -> gpd.GeoDataFrame:
    """The table without its coordinate columns, the geometries (``None`` where ``bad``) as its geometry."""
    geoms[bad] = None
    return gpd.GeoDataFrame(table.drop(columns=consumed), geometry=gpd.GeoSeries(geoms, index=table.index))


def _lon_lat_points(table: pd.DataFrame, headers: dict[str, str], by_user: dict[str, str]) -> Points | None:
    lon = by_user.get("lon") or by_user.get("x") or _find(headers, LON_HEADERS)
    lat = by_user.get("lat") or by_user.get("y") or _find(headers, LAT_HEADERS)
    if lon is None or lat is None:
        return None
    geoms, bad = _xy(_numbers(table[lon]), _numbers(table[lat]))
    problems = {
        int(pos): f"no usable coordinates ({lon}={_shown(table[lon].iloc[pos])}, {lat}={_shown(table[lat].iloc[pos])})"
        for pos in np.flatnonzero(bad)
    }
    return _with_geometry(table, geoms, bad, [lon, lat]), {lon: "lon", lat: "lat"}, problems


def _pair_points(table: pd.DataFrame, headers: dict[str, str]) -> Points | None:
    pair = _find(headers, PAIR_HEADERS)
    if pair is None:
        return None
    parts = table[pair].astype("string").str.strip().str.split(r"[,，\s;；]+", n=1, expand=True, regex=True)
    if parts.shape[1] != 2:
        return None
    geoms, bad = _xy(_numbers(parts[0]), _numbers(parts[1]))
    problems = {int(pos): f"no usable coordinates ({pair}={_shown(table[pair].iloc[pos])})" for pos in np.flatnonzero(bad)}
    return _with_geometry(table, geoms, bad, [pair]), {pair: "lon,lat"}, problems


def _wkt_points(table: pd.DataFrame, headers: dict[str, str], by_user: dict[str, str]) -> Points | None:
    wkt = by_user.get("wkt") or _find(headers, WKT_HEADERS)
    if wkt is None:
        return None
    text = table[wkt].astype("string")
    geoms = np.asarray(shapely.from_wkt(text.fillna("").to_numpy(dtype=object), on_invalid="ignore"), dtype=object)
    bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    problems = {int(pos): f"no usable WKT geometry in `{wkt}`" for pos in np.flatnonzero(bad)}
    return _with_geometry(table, geoms, bad, [wkt]), {wkt: "wkt"}, problems


def table_points(table: pd.DataFrame, *, source: str, columns: dict[str, str] | None = None) -> Points:
    """Build point (or WKT) geometries from a table's coordinate columns.

    Parameters
    ----------
    table
        Rows as read; headers in English or Chinese.
    source
        File label for messages.
    columns
        The user's ``--columns`` mapping; a header mapped to ``lon``/``lat``
        (or ``x``/``y``, ``wkt``) picks the coordinate columns.

    Returns
    -------
    (GeoDataFrame without CRS, consumed columns, row problems)
        Rows whose coordinates are blank or not numbers get no geometry and a
        reason, so the importer reports them with their row number.
    """
    by_user = {dst: src for src, dst in (columns or {}).items() if dst in COORDINATE_COLUMNS and src in table.columns}
    headers = {header_key(c): str(c) for c in table.columns}
    found = _lon_lat_points(table, headers, by_user) or _pair_points(table, headers) or _wkt_points(table, headers, by_user)
    if found is not None:
        return found
    have = ", ".join(map(str, table.columns)) or "none"
    msg = (
        f"`{source}` has no coordinate columns: expected longitude/latitude (经度/纬度, lon/lat, X/Y) "
        f"or WKT; columns present: {have}. Name them with --columns, e.g. --columns 东经=lon,北纬=lat"
    )
    raise InputError(msg, field="columns")


def _clean_table(table: pd.DataFrame) -> pd.DataFrame:
    table = table.dropna(how="all")
    table = table.loc[:, [not str(c).startswith("Unnamed:") or table[c].notna().any() for c in table.columns]]
    table.columns = [str(c).strip() for c in table.columns]
    return table.reset_index(drop=True)


def read_csv(path: Path, *, encoding: str | None = None, columns: dict[str, str] | None = None) -> list[RawLayer]:
    """A CSV/TSV table with coordinate columns; encoding detected (UTF-8 or GBK) unless given."""
    data = path.read_bytes()
    notes: list[tuple[str, str]] = []
    enc = encoding or detect_encoding(data)
    if encoding is None and enc == "gb18030":
        notes.append(("encoding_detected", f"`{path.name}` decodes as GBK (GB18030), read as such"))
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError) as exc:
        msg = f"cannot decode `{path.name}` as {enc}: {exc}"
        raise InputError(msg, field="encoding") from exc
    try:
        table = pd.read_csv(io.StringIO(text), sep=None, engine="python", dtype=str, skipinitialspace=True)
    except Exception as exc:  # pandas raises ParserError, EmptyDataError ...
        msg = f"cannot read `{path.name}` as a table: {short_error(exc)}"
        raise InputError(msg, field="source") from exc
    table = _clean_table(table)
    frame, used, problems = table_points(table, source=path.name, columns=columns)
    return [
        RawLayer(source=path.name, frame=frame, fmt="csv", hint=path.stem, encoding=enc, columns=used, row_problems=problems, notes=notes)
    ]


def read_xlsx(path: Path, *, columns: dict[str, str] | None = None) -> list[RawLayer]:
    """Every sheet of a workbook that has coordinate columns (one raw layer per sheet)."""
    try:
        sheets = pd.read_excel(path, sheet_name=None, dtype=object, engine="openpyxl")
    except Exception as exc:  # zipfile.BadZipFile, openpyxl errors ...
        msg = f"cannot read `{path.name}` as an Excel workbook (.xlsx): {short_error(exc)}"
        raise InputError(msg, field="source") from exc
    out: list[RawLayer] = []
    skipped: list[str] = []
    first_error: InputError | None = None
    for name, table in sheets.items():
        table = _clean_table(table)
        if table.empty:
            continue
        label = path.name if len(sheets) == 1 else f"{path.name}:{name}"
        try:
            frame, used, problems = table_points(table, source=label, columns=columns)
        except InputError as exc:
            first_error = first_error or exc
            skipped.append(str(name))
            continue
        out.append(RawLayer(source=label, frame=frame, fmt="xlsx", hint=str(name) if len(sheets) > 1 else path.stem, columns=used, row_problems=problems))
    if not out:
        if first_error is not None:
            raise first_error
        msg = f"`{path.name}` has no rows"
        raise InputError(msg, field="source")
    if skipped:
        out[0].notes.append(("sheet_skipped", f"`{path.name}`: sheets without coordinates were left out: {', '.join(skipped)}"))
    return out
