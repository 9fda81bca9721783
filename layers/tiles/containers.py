"""The two containers of a static tile package: an MBTiles 1.3 SQLite file or a PMTiles v3 archive.

:class:`PackageInfo` is what a package holds (name, layers, tile format,
zooms, bounds) and gives each container its metadata; :func:`write_package`
writes tiles, in PMTiles tile-id order, into the container the file name
asks for.  Identical tiles are stored once: MBTiles ``map``/``images``
tables behind a ``tiles`` view (TMS rows), PMTiles run-length entries.
MVT tiles are stored gzip-compressed, as both containers' viewers expect.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from pmtiles.tile import Compression, TileType, zxy_to_tileid
from pmtiles.writer import Writer

from geo.errors import InvalidValueError
from geo.tiles import fit_zoom

#: Tiles written per SQLite transaction batch.
_BATCH = 512

#: A tile to store: zoom, column, row (XYZ) and its bytes.
Tile = tuple[int, int, int, bytes]


class PackageKind(StrEnum):
    """The container: an MBTiles SQLite file or a PMTiles v3 archive (from the file name)."""

    mbtiles = "mbtiles"
    pmtiles = "pmtiles"


class TileFormat(StrEnum):
    """What each tile holds: a 256-px PNG or a Mapbox Vector Tile."""

    png = "png"
    mvt = "mvt"


def package_kind(path: str | Path) -> PackageKind:
    """The container of ``path`` from its suffix (``.mbtiles`` or ``.pmtiles``); an error naming `--tiles` else."""
    suffix = Path(path).suffix.lower().lstrip(".")
    try:
        return PackageKind(suffix)
    except ValueError:
        msg = f"`--tiles` must name a .mbtiles or .pmtiles file; got {str(path)!r}"
        raise InvalidValueError(msg, field="tiles") from None



def parse_tile_format(value: str) -> TileFormat:
    """``png`` or ``mvt`` (``pbf`` is taken for ``mvt``); an error listing both else."""
    v = value.strip().lower()
    try:
        return TileFormat("mvt" if v == "pbf" else v)
    except ValueError:
        msg = f"`--format` must be one of png, mvt; got {value!r}"
        raise InvalidValueError(msg, field="format") from None


@dataclass(frozen=True)
class PackageInfo:
    """What a package holds, for its metadata and the command's summary.

    Attributes
    ----------
    name, description
        Texts in the planner's language.
    layers
        Packaged layer names (MVT layer ids).
    fmt
        Tile format.
    zooms
        Lowest and highest zoom.
    bounds
        WGS84 west, south, east, north (degrees).
    vector_layers
        TileJSON ``vector_layers`` (MVT only).
    """

    name: str
    description: str
    layers: tuple[str, ...]
    fmt: TileFormat
    zooms: tuple[int, int]
    bounds: tuple[float, float, float, float]
    vector_layers: tuple[dict[str, Any], ...] = ()

    @property
    def center(self) -> tuple[float, float, int]:
        """Centre lon, lat (degrees) and the zoom that fits the extent, within the packaged zooms."""
        w, s, e, n = self.bounds
        z = min(max(fit_zoom(self.bounds), self.zooms[0]), self.zooms[1])
        return round((w + e) / 2, 6), round((s + n) / 2, 6), z

    def mbtiles_metadata(self) -> dict[str, str]:
        """The MBTiles 1.3 ``metadata`` rows."""
        lon, lat, z = self.center
        rows = {
            "name": self.name,
            "format": "pbf" if self.fmt is TileFormat.mvt else "png",
            "bounds": ",".join(f"{v:.6f}" for v in self.bounds),
            "center": f"{lon:.6f},{lat:.6f},{z}",
            "minzoom": str(self.zooms[0]),
            "maxzoom": str(self.zooms[1]),
            "attribution": "dangjian-map",
            "description": self.description,
            "type": "overlay",
            "version": "1",
        }
        if self.fmt is TileFormat.mvt:
            rows["json"] = json.dumps({"vector_layers": list(self.vector_layers)}, ensure_ascii=False)
        return rows

    def pmtiles_metadata(self) -> dict[str, Any]:
        """The PMTiles JSON metadata (TileJSON-like keys)."""
        doc: dict[str, Any] = {
            "name": self.name, "description": self.description, "attribution": "dangjian-map", "type": "overlay", "version": "1",
        }
        if self.fmt is TileFormat.mvt:
            doc["vector_layers"] = list(self.vector_layers)
        return doc

    def pmtiles_header(self) -> dict[str, Any]:
        """The PMTiles v3 header fields this package sets (the writer fills offsets and counts)."""
        lon, lat, z = self.center
        w, s, e, n = self.bounds
        mvt = self.fmt is TileFormat.mvt
        return {
            "tile_type": TileType.MVT if mvt else TileType.PNG,
            "tile_compression": Compression.GZIP if mvt else Compression.NONE,
            "min_zoom": self.zooms[0], "max_zoom": self.zooms[1],
            "min_lon_e7": math.floor(w * 1e7), "min_lat_e7": math.floor(s * 1e7),
            "max_lon_e7": math.ceil(e * 1e7), "max_lat_e7": math.ceil(n * 1e7),
            "center_zoom": z, "center_lon_e7": round(lon * 1e7), "center_lat_e7": round(lat * 1e7),
        }



def stored_tile(data: bytes, fmt: TileFormat) -> bytes:
    """A tile as the containers store it: MVT gzip-compressed (``gzip.decompress`` gives it back), PNG as it is."""
    return gzip.compress(data, compresslevel=6, mtime=0) if fmt is TileFormat.mvt else data


def _write_mbtiles(path: Path, info: PackageInfo, tiles: Iterable[Tile]) -> tuple[int, int]:
    """Write MBTiles 1.3 at ``path`` (a new file): ``metadata``, ``map``/``images`` and the ``tiles`` view (TMS rows)."""
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA page_size = 4096;
            CREATE TABLE metadata (name TEXT, value TEXT);
            CREATE TABLE map (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_id TEXT);
            CREATE TABLE images (tile_id TEXT, tile_data BLOB);
            CREATE VIEW tiles AS
                SELECT map.zoom_level AS zoom_level, map.tile_column AS tile_column, map.tile_row AS tile_row,
                       images.tile_data AS tile_data
                FROM map JOIN images ON images.tile_id = map.tile_id;
            """
        )
        con.executemany("INSERT INTO metadata (name, value) VALUES (?, ?)", info.mbtiles_metadata().items())
        seen: set[str] = set()
        rows: list[tuple[int, int, int, str]] = []
        count = 0
        for z, x, y, data in tiles:
            key = hashlib.sha1(data, usedforsecurity=False).hexdigest()
            if key not in seen:
                seen.add(key)
                con.execute("INSERT INTO images (tile_id, tile_data) VALUES (?, ?)", (key, data))
            rows.append((z, x, (1 << z) - 1 - y, key))
            count += 1
            if len(rows) >= _BATCH:
                con.executemany("INSERT INTO map VALUES (?, ?, ?, ?)", rows)
                rows.clear()
        con.executemany("INSERT INTO map VALUES (?, ?, ?, ?)", rows)
        con.executescript(
            """
            CREATE UNIQUE INDEX map_index ON map (zoom_level, tile_column, tile_row);
            CREATE UNIQUE INDEX images_id ON images (tile_id);
            CREATE UNIQUE INDEX name ON metadata (name);
            """
        )
        con.commit()
    finally:
        con.close()
    return count, len(seen)


def _write_pmtiles(path: Path, info: PackageInfo, tiles: Iterable[Tile]) -> tuple[int, int]:
    """Write a PMTiles v3 archive at ``path`` with the ``pmtiles`` library (tiles come in tile-id order)."""
    count = 0
    with open(path, "xb") as fh:
        writer = Writer(fh)
        for z, x, y, data in tiles:
            writer.write_tile(zxy_to_tileid(z, x, y), data)
            count += 1
        distinct = len(writer.hash_to_offset)
        writer.finalize(info.pmtiles_header(), info.pmtiles_metadata())
    return count, distinct


def write_package(kind: PackageKind, path: Path, info: PackageInfo, tiles: Iterable[Tile]) -> tuple[int, int]:
    """Write ``tiles`` (stored form, in PMTiles tile-id order) as a new ``kind`` file at ``path``.

    Returns
    -------
    (tiles, distinct)
        How many tiles were written and how many different ones were stored.
    """
    writer = _write_mbtiles if kind is PackageKind.mbtiles else _write_pmtiles
    return writer(path, info, tiles)
