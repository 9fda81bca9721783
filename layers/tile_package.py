"""Static tile packages (MBTiles 1.3, PMTiles v3) of a built dataset, for portals that cannot reach the service.

The tiles are drawn by the same :class:`~layers.render.TileSource` the
service's ``/tiles/{layer}/{z}/{x}/{y}`` routes use, so a package tile is the
service's tile:

- PNG, one layer: the service's bytes.  Several layers: the service's tiles
  laid over one another (:data:`PNG_STACK` order, bottom first) and encoded once.
- MVT: the service's tiles of the layers, one after the other (protobuf
  messages concatenate into one tile with every layer), gzip-compressed as
  MBTiles 1.3 ("pbf" is gzip-compressed vector tile data) and PMTiles
  viewers expect; ``gzip.decompress`` gives the service's bytes back.

Only tiles that intersect the extent of the packaged layers are written
(``morecantile``'s ``tiles(bbox, zooms)``), empty ones included so a portal
shows a transparent tile, not a 404, inside the district; identical tiles
are stored once (MBTiles ``map``/``images`` tables behind a ``tiles`` view,
PMTiles run-length entries).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from geo.errors import InvalidValueError
from geo.files import atomic_output
from geo.tiles import MAX_ZOOM, TMS, fit_zoom, mercator_to_lonlat, tile_box
from layers.dataset import Dataset
from layers.i18n import text
from layers.render import EMPTY_PNG, TILE_LAYERS, TileSource, mvt_field_types

#: Layers packaged when none are named: the coverage picture.
DEFAULT_LAYERS: tuple[str, ...] = ("compounds", "centers", "circles")
#: Drawing order of PNG layers laid over one another (bottom first).
PNG_STACK: tuple[str, ...] = (
    "rivers", "roads", "cells", "grids", "units", "boundary", "service_areas", "circles", "compounds", "centers",
)
#: Packages above this many tiles are refused unless a larger ``max_tiles`` is given.
DEFAULT_MAX_TILES = 50_000
#: Tiles written per SQLite transaction batch.
_BATCH = 512


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


def parse_zoom_range(value: str) -> tuple[int, int]:
    """``"12-18"`` -> (12, 18), ``"15"`` -> (15, 15); zooms 0 to :data:`~geo.tiles.MAX_ZOOM`, lowest first."""
    lo, sep, hi = value.strip().partition("-")
    try:
        zooms = (int(lo), int(hi) if sep else int(lo))
    except ValueError:
        msg = f"`--zoom` takes MIN-MAX zooms like 12-18 (or one zoom); got {value!r}"
        raise InvalidValueError(msg, field="zoom") from None
    if not (0 <= zooms[0] <= zooms[1] <= MAX_ZOOM):
        msg = f"`--zoom` must be MIN-MAX with 0 <= MIN <= MAX <= {MAX_ZOOM}; got {value!r}"
        raise InvalidValueError(msg, field="zoom")
    return zooms


def package_layers(dataset: Dataset, layers: Sequence[str] | None) -> list[str]:
    """The tile layers to package: ``layers`` (``["all"]``: every tile layer), else :data:`DEFAULT_LAYERS`.

    Raises
    ------
    InvalidValueError
        A named layer is not a tile layer of ``dataset``, or none is left.
    """
    have = [n for n in TILE_LAYERS if n in dataset.layers]
    if not layers:
        chosen = [n for n in DEFAULT_LAYERS if n in have]
    elif list(layers) == ["all"]:
        chosen = have
    else:
        unknown = [n for n in layers if n not in have]
        if unknown:
            msg = f"`--layers`: unknown tile layer {', '.join(map(repr, unknown))}; tile layers: {', '.join(have)}, or all"
            raise InvalidValueError(msg, field="layers")
        chosen = list(dict.fromkeys(layers))
    if not chosen:
        msg = f"`--layers`: the dataset has none of the layers {', '.join(DEFAULT_LAYERS)}; name some of: {', '.join(have)}"
        raise InvalidValueError(msg, field="layers")
    return chosen


def tile_sources(dataset: Dataset, layers: Sequence[str]) -> dict[str, TileSource]:
    """One :class:`TileSource` per layer, prepared as the service prepares it for a request without options.

    Analysis cells show hexagons when there are any (else every cell), as the service's tiles do.
    """
    out: dict[str, TileSource] = {}
    for name in layers:
        frame = dataset.layers[name]
        if name == "cells" and "kind" in frame.columns and (frame["kind"] == "h3").any():
            frame = frame[frame["kind"] == "h3"]
        out[name] = TileSource.from_frame(name, frame)
    return out


def package_bounds(sources: Mapping[str, TileSource]) -> tuple[float, float, float, float]:
    """WGS84 (west, south, east, north) of every packaged feature; an error when the layers are empty."""
    boxes = np.array([s.bounds for s in sources.values() if len(s)], dtype=float).reshape(-1, 4)
    if not len(boxes):
        msg = f"`--layers`: {', '.join(sources)} have no features to tile"
        raise InvalidValueError(msg, field="layers")
    lon, lat = mercator_to_lonlat(
        np.array([boxes[:, 0].min(), boxes[:, 2].max()]), np.array([boxes[:, 1].min(), boxes[:, 3].max()])
    )
    return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])


def tile_addresses(bounds: Sequence[float], zooms: tuple[int, int]) -> list[tuple[int, int, int]]:
    """Every ``(z, x, y)`` tile meeting WGS84 ``bounds`` at the zooms, in PMTiles tile-id order (zoom, then Hilbert)."""
    from pmtiles.tile import zxy_to_tileid

    found = [(t.z, t.x, t.y) for t in TMS.tiles(*bounds, zooms=list(range(zooms[0], zooms[1] + 1)))]
    return sorted(found, key=lambda t: zxy_to_tileid(*t))


def count_tiles(bounds: Sequence[float], zooms: tuple[int, int]) -> int:
    """How many tiles :func:`tile_addresses` gives, without listing them."""
    total = 0
    for z in range(zooms[0], zooms[1] + 1):
        a, b = TMS.tile(bounds[0], bounds[3], z), TMS.tile(bounds[2], bounds[1], z)
        total += (b.x - a.x + 1) * (b.y - a.y + 1)
    return total


def render_tile(sources: Mapping[str, TileSource], fmt: TileFormat, z: int, x: int, y: int) -> bytes:
    """One package tile (uncompressed): the service's tile of each layer, stacked (PNG) or concatenated (MVT)."""
    box = tile_box(z, x, y)
    if fmt is TileFormat.mvt:
        return b"".join(s.mvt(box) for s in sources.values())
    drawn = [sources[n].png(box) for n in sorted(sources, key=PNG_STACK.index)]
    drawn = [p for p in drawn if p is not EMPTY_PNG[1]]
    if len(drawn) <= 1:
        return drawn[0] if drawn else EMPTY_PNG[1]
    base = Image.open(io.BytesIO(drawn[0])).convert("RGBA")
    for png in drawn[1:]:
        base.alpha_composite(Image.open(io.BytesIO(png)).convert("RGBA"))
    buf = io.BytesIO()
    base.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


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
        from pmtiles.tile import Compression, TileType

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


@dataclass(frozen=True)
class PackageResult:
    """A written package: path, tiles, distinct tiles, bytes and seconds spent rendering and writing."""

    path: Path
    info: PackageInfo
    tiles: int
    distinct: int
    empty: int
    size_bytes: int
    seconds: float

    @property
    def tiles_per_second(self) -> float:
        """Tiles rendered and written per second."""
        return self.tiles / self.seconds if self.seconds > 0 else math.inf


def _stored(data: bytes, fmt: TileFormat) -> bytes:
    return gzip.compress(data, compresslevel=6, mtime=0) if fmt is TileFormat.mvt else data


def _write_mbtiles(path: Path, info: PackageInfo, tiles: Iterable[tuple[int, int, int, bytes]]) -> tuple[int, int]:
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


def _write_pmtiles(path: Path, info: PackageInfo, tiles: Iterable[tuple[int, int, int, bytes]]) -> tuple[int, int]:
    """Write a PMTiles v3 archive at ``path`` with the ``pmtiles`` library (tiles come in tile-id order)."""
    from pmtiles.tile import zxy_to_tileid
    from pmtiles.writer import Writer

    count = 0
    with open(path, "xb") as fh:
        writer = Writer(fh)
        for z, x, y, data in tiles:
            writer.write_tile(zxy_to_tileid(z, x, y), data)
            count += 1
        distinct = len(writer.hash_to_offset)
        writer.finalize(info.pmtiles_header(), info.pmtiles_metadata())
    return count, distinct


def export_tile_package(
    dataset: Dataset,
    path: str | Path,
    *,
    zooms: tuple[int, int],
    layers: Sequence[str] | None = None,
    fmt: TileFormat = TileFormat.mvt,
    max_tiles: int = DEFAULT_MAX_TILES,
    lang: str = "zh",
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> PackageResult:
    """Write a static tile package of a built ``dataset`` to ``path`` (``.mbtiles`` or ``.pmtiles``).

    Parameters
    ----------
    dataset
        A built dataset (EPSG:4326 layers).
    path
        The package file; it appears only when complete (:func:`geo.files.atomic_output`), replacing an old one.
    zooms
        Lowest and highest zoom (:func:`parse_zoom_range`).
    layers
        Tile layers (:func:`package_layers`).
    fmt
        PNG (256 px) or MVT tiles.
    max_tiles
        Refuse a package of more tiles than this.
    lang
        Language of the name and descriptions.
    progress
        Called with the number of tiles just written (batches of a few).
    on_start
        Called once with the number of tiles about to be rendered.

    Raises
    ------
    InvalidValueError
        Bad layers, an empty extent or too many tiles (naming `--max-tiles`).
    """
    kind = package_kind(path)
    names = package_layers(dataset, layers)
    sources = tile_sources(dataset, names)
    bounds = package_bounds(sources)
    total = count_tiles(bounds, zooms)
    if total > max_tiles:
        msg = (
            f"`--zoom` {zooms[0]}-{zooms[1]} makes {total:,} tiles, more than `--max-tiles` {max_tiles:,}; "
            "lower the highest zoom or raise --max-tiles"
        )
        raise InvalidValueError(msg, field="max_tiles")
    summary = dataset.meta.get("summary", {})
    vector = tuple(
        {
            "id": n, "description": text("layer." + n, lang), "minzoom": zooms[0], "maxzoom": zooms[1],
            "fields": dict(mvt_field_types(n, dataset.layers[n])),
        }
        for n in names
    ) if fmt is TileFormat.mvt else ()
    info = PackageInfo(
        name=f"{summary.get('name', '')} {text('map.title', lang)}".strip(),
        description=", ".join(text("layer." + n, lang) for n in names),
        layers=tuple(names), fmt=fmt, zooms=zooms, bounds=bounds, vector_layers=vector,
    )
    addresses = tile_addresses(bounds, zooms)
    if on_start is not None:
        on_start(len(addresses))
    empty = 0

    def stream() -> Iterator[tuple[int, int, int, bytes]]:
        nonlocal empty
        for k, (z, x, y) in enumerate(addresses, 1):
            data = render_tile(sources, fmt, z, x, y)
            empty += data in (b"", EMPTY_PNG[1])
            yield z, x, y, _stored(data, fmt)
            if progress is not None and (k % 16 == 0 or k == len(addresses)):
                progress(16 if k % 16 == 0 else k % 16)

    started = time.perf_counter()
    writer = _write_mbtiles if kind is PackageKind.mbtiles else _write_pmtiles
    with atomic_output(path, field="tiles") as tmp:
        count, distinct = writer(tmp, info, stream())
        size = tmp.stat().st_size
    return PackageResult(Path(path), info, count, distinct, empty, size, time.perf_counter() - started)
