"""What every reader hands over: a :class:`RawLayer`, the file formats by ending, header and text encoding rules.

A reader (:mod:`~layers.importing.readers`, :mod:`~layers.importing.tables`,
:mod:`~layers.importing.osm`) turns one file into raw layers: the rows exactly
as read, the CRS the file declares (or none), and what the reader had to
decide.  Nothing here validates values or guesses layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

from geo.errors import InputError

#: File endings the importer reads, by format name.
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
    extra
        What the importer notes on the way (``file_stem``, OSM ``skipped`` counts).
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


def short_error(exc: BaseException) -> str:
    """The first line of a library's error, for a message that names the file (damaged files said so)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "malformed" in text or "not a database" in text or "file is not a database" in text:
        return "the file is damaged or truncated (" + text[:120] + ")"
    return text[:300]
