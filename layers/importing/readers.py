"""Readers for the vector files planners hold: GeoPackage, GeoJSON, Shapefile and KML/KMZ.

Each reader turns one file into :class:`~layers.importing.raw.RawLayer` s with
the CRS the file declares (or none) and what the reader decided (a Shapefile's
attribute encoding).  Tables with coordinate columns are read by
:mod:`layers.importing.tables`, zips unpacked by :mod:`layers.importing.archives`.
Every failure is an :class:`~geo.errors.InputError` naming the file, raised
before anything is written.
"""

from __future__ import annotations

import struct
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import shapely

from geo.errors import InputError
from layers.importing.raw import RawLayer, detect_encoding, header_key, short_error

#: Columns KML readers add that carry nothing a planner typed.
_KML_NOISE = {
    "id", "description", "timestamp", "begin", "end", "altitudemode", "tessellate",
    "extrude", "visibility", "draworder", "icon", "snippet",
}


def _dbf_text(dbf: Path) -> bytes:
    """Field names and record bytes of a DBF file (the parts that hold text)."""
    data = dbf.read_bytes()
    if len(data) < 32:
        msg = f"`{dbf.name}` is too short to be a dBASE table (truncated?)"
        raise InputError(msg, field="source")
    header_len = struct.unpack("<H", data[8:10])[0]
    names = b"".join(data[pos : pos + 11].split(b"\x00")[0] for pos in range(32, header_len - 32, 32))
    return names + data[header_len:]


def _read_ogr(path: Path | str, *, layer: str | None = None, encoding: str | None = None, **kw: Any) -> gpd.GeoDataFrame:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, use_arrow=False, **kw)
    except Exception as exc:
        msg = f"cannot read `{Path(str(path)).name}`" + (f" (layer {layer})" if layer else "") + f": {short_error(exc)}"
        raise InputError(msg, field="source") from exc


def _list_layers(path: Path) -> list[tuple[str, str | None]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            info = pyogrio.list_layers(path)
    except Exception as exc:
        msg = f"cannot read `{path.name}`: {short_error(exc)}"
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
    used, notes = _shapefile_encoding(path, siblings, encoding)
    if ".prj" not in siblings:
        notes.append(("no_prj", f"`{path.name}` has no .prj: its coordinate system is not declared"))
    frame = _read_ogr(path, encoding=encoding if encoding else (used if ".cpg" not in siblings else None))
    return [RawLayer(source=path.name, frame=_flat(frame), fmt="shapefile", hint=path.stem, encoding=used, notes=notes)]


def _shapefile_encoding(path: Path, siblings: dict[str, Path], encoding: str | None) -> tuple[str | None, list[tuple[str, str]]]:
    """The attribute encoding: the one given, else the ``.cpg`` file's, else detected from the ``.dbf`` (with a note)."""
    if encoding is not None:
        return encoding, []
    if ".cpg" in siblings:
        return siblings[".cpg"].read_text(errors="replace").strip() or None, []
    try:
        used = detect_encoding(_dbf_text(siblings[".dbf"]))
    except InputError as exc:
        msg = f"Shapefile `{path.name}`: {exc.message}"
        raise InputError(msg, field="encoding") from None
    if used == "gb18030":
        return used, [("encoding_detected", f"`{path.name}` has no .cpg; its attributes decode as GBK (GB18030), read as such")]
    return used, []


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
