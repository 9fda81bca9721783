"""Readers for the files planners hold: GeoPackage, GeoJSON, Shapefile (also zipped), KML,
CSV and XLSX tables with coordinates.

Each reader turns one file into :class:`RawLayer` s: the rows exactly as read
(row ``i`` of the frame is data row ``i + 1`` of the file), the CRS the file
declares (or none), and what the reader had to decide (encoding, coordinate
columns).  Nothing here validates values or guesses layers; that is
:mod:`layers.importer`'s job.  Every failure is an :class:`~geo.errors.InputError`
naming the file, raised before anything is written.
"""

from __future__ import annotations

import io
import re
import shutil
import stat
import struct
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.errors import InputError

#: File endings this module reads, by format name.
FORMATS: dict[str, tuple[str, ...]] = {
    "gpkg": (".gpkg",),
    "geojson": (".geojson", ".json"),
    "shapefile": (".shp",),
    "kml": (".kml", ".kmz"),
    "csv": (".csv", ".txt", ".tsv"),
    "xlsx": (".xlsx", ".xlsm"),
    "zip": (".zip",),
    "osm": (".osm.pbf", ".pbf", ".osm"),
}

#: Default ceilings for a zip: total unpacked bytes and member count (zip bombs).
ZIP_MAX_BYTES = 2 * 1024**3
ZIP_MAX_MEMBERS = 10_000

#: Columns KML readers add that carry nothing a planner typed.
_KML_NOISE = {
    "id", "description", "timestamp", "begin", "end", "altitudemode", "tessellate",
    "extrude", "visibility", "draworder", "icon", "snippet",
}

#: Header spellings of coordinate columns (compared after :func:`header_key`).
LON_HEADERS = ("lon", "lng", "long", "longitude", "经度", "东经", "x", "x坐标", "坐标x", "pointx", "横坐标", "e", "easting", "东坐标")
LAT_HEADERS = ("lat", "latitude", "纬度", "北纬", "y", "y坐标", "坐标y", "pointy", "纵坐标", "n", "northing", "北坐标")
PAIR_HEADERS = ("经纬度", "坐标", "lnglat", "lonlat", "location", "位置", "经纬度坐标")
WKT_HEADERS = ("wkt", "geometry", "geom", "the_geom", "shape", "几何")


@dataclass
class RawLayer:
    """One table of rows as read from a file, before any validation.

    Attributes
    ----------
    source
        Label for messages: the file name, plus ``:layer`` or ``:sheet`` when
        the file holds several.
    frame
        The rows, geometry in the file's own coordinates.  Row ``i`` is data
        row ``i + 1`` of the file.
    fmt
        Format name (a key of :data:`FORMATS`).
    hint
        Layer or sheet name inside the file (used to guess the target layer).
    target
        The target layer when the reader knows it (OpenStreetMap, a dataset
        GeoPackage), else ``None``.
    encoding
        Text encoding used, when the reader chose one.
    columns
        Source columns the reader consumed, e.g. ``{"经度": "lon", "纬度": "lat"}``.
    row_problems
        Per 0-based row: why it has no geometry (bad coordinates ...).
    notes
        Warnings from reading, as ``(code, message)`` pairs.
    crs_fixed
        ``True`` when the coordinates are WGS84 by definition (OpenStreetMap).
    """

    source: str
    frame: gpd.GeoDataFrame
    fmt: str
    hint: str = ""
    target: str | None = None
    encoding: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    row_problems: dict[int, str] = field(default_factory=dict)
    notes: list[tuple[str, str]] = field(default_factory=list)
    crs_fixed: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def header_key(header: object) -> str:
    """A header reduced for matching: lower case, no spaces, underscores or bracketed units.

    ``"户数(户)"`` -> ``"户数"``, ``"Point_X"`` -> ``"pointx"``.
    """
    text = str(header).strip().lower()
    text = re.sub(r"[\(（\[【].*?[\)）\]】]", "", text)
    return re.sub(r"[\s_\-:：/]", "", text)


def source_format(path: Path) -> str:
    """The format of a file from its name; :class:`InputError` listing the known endings."""
    name = path.name.lower()
    for fmt, endings in FORMATS.items():
        if any(name.endswith(e) for e in endings):
            return fmt
    known = ", ".join(e for endings in FORMATS.values() for e in endings)
    msg = f"cannot import `{path.name}`: unknown file type (known: {known})"
    raise InputError(msg, field="source")


# --------------------------------------------------------------------------- encodings


def detect_encoding(data: bytes) -> str:
    """``utf-8`` if the bytes decode as UTF-8, else ``gb18030`` (a superset of GBK) if they do.

    Raises
    ------
    InputError
        Neither decodes: the caller should ask for ``--encoding``.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for enc in ("utf-8", "gb18030"):
        try:
            data.decode(enc)
        except UnicodeDecodeError:
            continue
        return enc
    msg = "the text is neither UTF-8 nor GBK/GB18030; give its encoding with --encoding"
    raise InputError(msg, field="encoding")


def _dbf_text(dbf: Path) -> bytes:
    """Field names and record bytes of a DBF file (the parts that hold text)."""
    data = dbf.read_bytes()
    if len(data) < 32:
        msg = f"`{dbf.name}` is too short to be a dBASE table (truncated?)"
        raise InputError(msg, field="source")
    header_len = struct.unpack("<H", data[8:10])[0]
    names = b"".join(data[pos : pos + 11].split(b"\x00")[0] for pos in range(32, header_len - 32, 32))
    return names + data[header_len:]


# --------------------------------------------------------------------------- helpers


def _read_ogr(path: Path | str, *, layer: str | None = None, encoding: str | None = None, **kw: Any) -> gpd.GeoDataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=False, **kw)
    except Exception as exc:
        msg = f"cannot read `{Path(str(path)).name}`" + (f" (layer {layer})" if layer else "") + f": {_short(exc)}"
        raise InputError(msg, field="source") from exc


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "malformed" in text or "not a database" in text or "file is not a database" in text:
        return "the file is damaged or truncated (" + text[:120] + ")"
    return text[:300]


def _list_layers(path: Path) -> list[tuple[str, str | None]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            info = pyogrio.list_layers(path)
    except Exception as exc:
        msg = f"cannot read `{path.name}`: {_short(exc)}"
        raise InputError(msg, field="source") from exc
    return [(str(n), None if t is None else str(t)) for n, t in info]


def _flat(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Drop Z/M (KML and some GeoJSON carry heights we do not use)."""
    geoms = frame.geometry.to_numpy()
    present = ~shapely.is_missing(geoms)
    if present.any() and shapely.has_z(geoms[present]).any():
        frame = frame.copy()
        frame[frame.geometry.name] = gpd.GeoSeries(shapely.force_2d(geoms), crs=frame.crs, index=frame.index)
    return frame


# --------------------------------------------------------------------------- vector files


def read_gpkg(path: Path) -> list[RawLayer]:
    """Every spatial layer of a GeoPackage (non-spatial tables such as ``meta`` are skipped)."""
    out = []
    for name, geom_type in _list_layers(path):
        if geom_type is None:
            continue
        frame = _flat(_read_ogr(path, layer=name))
        out.append(RawLayer(source=f"{path.name}:{name}", frame=frame, fmt="gpkg", hint=name))
    if not out:
        msg = f"`{path.name}` holds no spatial layer"
        raise InputError(msg, field="source")
    return out


def read_geojson(path: Path) -> list[RawLayer]:
    """A GeoJSON file (one layer; RFC 7946 files are WGS84)."""
    return [RawLayer(source=path.name, frame=_flat(_read_ogr(path)), fmt="geojson", hint=path.stem)]


def read_shapefile(path: Path, *, encoding: str | None = None) -> list[RawLayer]:
    """A Shapefile, with its attribute encoding from ``encoding``, the ``.cpg`` file, or detection.

    The ``.shx`` index and ``.dbf`` table must sit beside the ``.shp``; a
    missing one is a clear error rather than a silent repair.
    """
    siblings = {p.suffix.lower(): p for p in path.parent.glob(path.stem + ".*") if p.stem == path.stem}
    for part, what in ((".shx", "index"), (".dbf", "attribute table")):
        if part not in siblings:
            msg = f"Shapefile `{path.name}` lacks its {what} `{path.stem}{part}`; copy all its files (.shp, .shx, .dbf, .prj, .cpg) together"
            raise InputError(msg, field="source")
    notes: list[tuple[str, str]] = []
    used = encoding
    if encoding is None and ".cpg" not in siblings:
        try:
            used = detect_encoding(_dbf_text(siblings[".dbf"]))
        except InputError as exc:
            msg = f"Shapefile `{path.name}`: {exc.message}"
            raise InputError(msg, field="encoding") from None
        if used == "gb18030":
            notes.append(("encoding_detected", f"`{path.name}` has no .cpg; its attributes decode as GBK (GB18030), read as such"))
    elif encoding is None:
        used = siblings[".cpg"].read_text(errors="replace").strip() or None
    if ".prj" not in siblings:
        notes.append(("no_prj", f"`{path.name}` has no .prj: its coordinate system is not declared"))
    frame = _read_ogr(path, encoding=encoding if encoding else (used if ".cpg" not in siblings else None))
    return [RawLayer(source=path.name, frame=_flat(frame), fmt="shapefile", hint=path.stem, encoding=used, notes=notes)]


def read_kml(path: Path) -> list[RawLayer]:
    """Every folder of a KML/KMZ file; ``Name`` becomes ``name``, KML's styling columns are dropped."""
    out = []
    layers = _list_layers(path)
    for name, _ in layers:
        frame = _flat(_read_ogr(path, layer=name))
        if not len(frame):
            continue
        drop = [c for c in frame.columns if c != frame.geometry.name and header_key(c) in _KML_NOISE]
        frame = frame.drop(columns=drop)
        if "Name" in frame.columns and "name" not in frame.columns:
            frame = frame.rename(columns={"Name": "name"})
        label = path.name if len(layers) == 1 else f"{path.name}:{name}"
        out.append(RawLayer(source=label, frame=frame, fmt="kml", hint=name if len(layers) > 1 else path.stem))
    if not out:
        msg = f"`{path.name}` holds no placemarks"
        raise InputError(msg, field="source")
    return out


# --------------------------------------------------------------------------- tables


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


def table_points(
    table: pd.DataFrame, *, source: str, columns: dict[str, str] | None = None
) -> tuple[gpd.GeoDataFrame, dict[str, str], dict[int, str]]:
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
    user = {src: dst for src, dst in (columns or {}).items() if dst in {"lon", "lat", "x", "y", "wkt"}}
    headers = {header_key(c): str(c) for c in table.columns}
    by_user = {dst: src for src, dst in user.items() if src in table.columns}
    lon = by_user.get("lon") or by_user.get("x") or _find(headers, LON_HEADERS)
    lat = by_user.get("lat") or by_user.get("y") or _find(headers, LAT_HEADERS)
    problems: dict[int, str] = {}
    if lon is not None and lat is not None:
        x, y = _numbers(table[lon]), _numbers(table[lat])
        bad = (x.isna() | y.isna()).to_numpy()
        for pos in np.flatnonzero(bad):
            problems[int(pos)] = f"no usable coordinates ({lon}={_shown(table[lon].iloc[pos])}, {lat}={_shown(table[lat].iloc[pos])})"
        geoms = shapely.points(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
        geoms[bad] = None
        rest = table.drop(columns=[lon, lat])
        return gpd.GeoDataFrame(rest, geometry=gpd.GeoSeries(geoms, index=table.index)), {lon: "lon", lat: "lat"}, problems
    pair = _find(headers, PAIR_HEADERS)
    if pair is not None:
        parts = table[pair].astype("string").str.strip().str.split(r"[,，\s;；]+", n=1, expand=True, regex=True)
        if parts.shape[1] == 2:
            x, y = _numbers(parts[0]), _numbers(parts[1])
            bad = (x.isna() | y.isna()).to_numpy()
            for pos in np.flatnonzero(bad):
                problems[int(pos)] = f"no usable coordinates ({pair}={_shown(table[pair].iloc[pos])})"
            geoms = shapely.points(x.to_numpy(dtype=float), y.to_numpy(dtype=float))
            geoms[bad] = None
            rest = table.drop(columns=[pair])
            return gpd.GeoDataFrame(rest, geometry=gpd.GeoSeries(geoms, index=table.index)), {pair: "lon,lat"}, problems
    wkt = by_user.get("wkt") or _find(headers, WKT_HEADERS)
    if wkt is not None:
        text = table[wkt].astype("string")
        geoms = np.asarray(shapely.from_wkt(text.fillna("").to_numpy(dtype=object), on_invalid="ignore"), dtype=object)
        bad = shapely.is_missing(geoms) | shapely.is_empty(geoms)
        for pos in np.flatnonzero(bad):
            problems[int(pos)] = f"no usable WKT geometry in `{wkt}`"
        geoms[bad] = None
        rest = table.drop(columns=[wkt])
        return gpd.GeoDataFrame(rest, geometry=gpd.GeoSeries(geoms, index=table.index)), {wkt: "wkt"}, problems
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
        msg = f"cannot read `{path.name}` as a table: {_short(exc)}"
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
        msg = f"cannot read `{path.name}` as an Excel workbook (.xlsx): {_short(exc)}"
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


# --------------------------------------------------------------------------- zip


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's name, re-decoded as GBK when the zip (made on Chinese Windows) has no UTF-8 flag."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return name


def safe_extract(path: Path, dest: Path, *, max_bytes: int = ZIP_MAX_BYTES, max_members: int = ZIP_MAX_MEMBERS) -> list[Path]:
    """Unpack a zip into ``dest`` after checking every member; nothing is written if any fails.

    Refused: members whose path is absolute or climbs out with ``..``
    (zip-slip), symbolic links, more than ``max_members`` members or more
    than ``max_bytes`` unpacked (also enforced while copying, since headers
    can lie).

    Returns
    -------
    list of pathlib.Path
        The unpacked files.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"cannot read `{path.name}` as a zip archive: {_short(exc)}"
        raise InputError(msg, field="source") from exc
    with archive:
        infos = archive.infolist()
        if len(infos) > max_members:
            msg = f"`{path.name}` has {len(infos)} members; at most {max_members} are accepted"
            raise InputError(msg, field="source")
        plan: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
        total = 0
        for info in infos:
            name = _member_name(info).replace("\\", "/")
            rel = PurePosixPath(name)
            if rel.is_absolute() or ".." in rel.parts or re.match(r"^[A-Za-z]:", name):
                msg = f"`{path.name}` is refused: member `{name}` points outside the archive's folder"
                raise InputError(msg, field="source")
            if stat.S_ISLNK(info.external_attr >> 16):
                msg = f"`{path.name}` is refused: member `{name}` is a symbolic link"
                raise InputError(msg, field="source")
            total += info.file_size
            if not info.is_dir():
                plan.append((info, rel))
        if total > max_bytes:
            msg = f"`{path.name}` unpacks to {total / 1024**2:.0f} MB; at most {max_bytes / 1024**2:.0f} MB are accepted"
            raise InputError(msg, field="source")
        root = dest.resolve()
        written: list[Path] = []
        budget = max_bytes
        for info, rel in plan:
            target = (root / Path(*rel.parts)).resolve()
            if root not in target.parents:
                msg = f"`{path.name}` is refused: member `{rel}` points outside the archive's folder"
                raise InputError(msg, field="source")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as src, open(target, "wb") as dst:
                    while chunk := src.read(1 << 20):
                        budget -= len(chunk)
                        if budget < 0:
                            msg = f"`{path.name}` unpacks to more than {max_bytes / 1024**2:.0f} MB"
                            raise InputError(msg, field="source")
                        dst.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                msg = f"cannot unpack `{rel}` from `{path.name}`: {_short(exc)}"
                raise InputError(msg, field="source") from exc
            written.append(target)
    return written


def zip_members(files: list[Path]) -> list[Path]:
    """The importable files among unpacked zip members (not their Shapefile siblings, not macOS litter)."""
    out = []
    for f in sorted(files):
        if "__MACOSX" in f.parts or f.name.startswith("._"):
            continue
        try:
            fmt = source_format(f)
        except InputError:
            continue
        if fmt != "zip":
            out.append(f)
    return out


def remove_tree(path: Path) -> None:
    """Remove a scratch folder, ignoring errors."""
    shutil.rmtree(path, ignore_errors=True)
