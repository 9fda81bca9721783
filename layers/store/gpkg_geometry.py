"""GeoPackage geometry blobs: decode them to shapely, encode shapely into them, and the SQL functions their R-tree triggers call.

A GeoPackage geometry blob (GeoPackage 1.2, 2.1.3) is a ``GP`` header, an
optional envelope and ISO WKB.  GDAL writes whole layers; the store writes
one-feature edits itself, and registers ``ST_IsEmpty`` and
``ST_MinX``..``ST_MaxY`` on its SQLite connections as GDAL does on its own,
because the file's R-tree triggers call them.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

#: Bytes of the envelope after the 8-byte header, by envelope code (GeoPackage 1.2, 2.1.3).
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def gpkg_wkb(blob: bytes | None) -> bytes | None:
    """The WKB inside a GeoPackage geometry blob (``None`` stays ``None``)."""
    if blob is None:
        return None
    b = bytes(blob)
    if b[:2] != b"GP":
        return b
    return b[8 + _ENVELOPE_BYTES.get((b[3] >> 1) & 0x07, 0) :]


def gpkg_decode(blobs: Sequence[bytes | None]) -> np.ndarray:
    """Shapely geometries from GeoPackage blobs (one vectorised WKB parse)."""
    wkbs = np.array([gpkg_wkb(b) for b in blobs], dtype=object)
    if not len(wkbs):
        return np.array([], dtype=object)
    return shapely.from_wkb(wkbs)


def gpkg_blob(geom: shapely.Geometry | None, srs_id: int = 4326) -> bytes | None:
    """A GeoPackage geometry blob: ``GP`` header (little-endian, envelope unless a point) and ISO WKB."""
    if geom is None:
        return None
    empty = bool(geom.is_empty)
    wkb = shapely.to_wkb(geom, byte_order=1, flavor="iso")
    if empty or shapely.get_type_id(geom) == 0:
        code, envelope = 0, b""
    else:
        minx, miny, maxx, maxy = geom.bounds
        code, envelope = 1, struct.pack("<4d", minx, maxx, miny, maxy)
    flags = 0x01 | (code << 1) | (0x10 if empty else 0)
    return b"GP" + bytes([0, flags]) + struct.pack("<i", srs_id) + envelope + wkb


def _bounds(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """``(minx, maxx, miny, maxy)`` of a blob, from its envelope or its WKB; ``None`` when empty."""
    if blob is None:
        return None
    b = bytes(blob)
    if b[:2] != b"GP":
        return None
    flags = b[3]
    if flags & 0x10:
        return None
    code = (flags >> 1) & 0x07
    if code:
        return struct.unpack_from("<4d" if flags & 0x01 else ">4d", b, 8)
    geom = shapely.from_wkb(b[8:])
    if geom is None or geom.is_empty:
        return None
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy


def _st_is_empty(blob: bytes | None) -> int | None:
    if blob is None:
        return None
    return 1 if _bounds(blob) is None else 0


def _st_bound(i: int) -> Any:
    def get(blob: bytes | None) -> float | None:
        b = _bounds(blob)
        return None if b is None else float(b[i])

    return get


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """Register ``ST_IsEmpty`` and ``ST_MinX``, ``ST_MaxX``, ``ST_MinY``, ``ST_MaxY`` (the R-tree triggers call them)."""
    conn.create_function("ST_IsEmpty", 1, _st_is_empty, deterministic=True)
    for i, fn in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(fn, 1, _st_bound(i), deterministic=True)
