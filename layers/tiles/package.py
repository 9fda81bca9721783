"""Static tile packages (MBTiles 1.3, PMTiles v3) of a built dataset, for portals that cannot reach the service.

The tiles are drawn by the same :class:`~layers.tiles.source.TileSource` the
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
are stored once (:mod:`layers.tiles.containers` writes the files).
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from pmtiles.tile import zxy_to_tileid

from geo.errors import InvalidValueError
from geo.files import atomic_output
from geo.tiles import MAX_ZOOM, TMS, mercator_to_lonlat, tile_box
from layers.dataset import Dataset
from layers.i18n import text
from layers.tiles.containers import (
    PackageInfo,
    Tile,
    TileFormat,
    package_kind,
    stored_tile,
    write_package,
)
from layers.tiles.mvt import mvt_field_types
from layers.tiles.raster import EMPTY_PNG
from layers.tiles.source import TILE_LAYERS, TileSource

#: Layers packaged when none are named: the coverage picture.
DEFAULT_LAYERS: tuple[str, ...] = ("compounds", "centers", "circles")
#: Drawing order of PNG layers laid over one another (bottom first).
PNG_STACK: tuple[str, ...] = (
    "rivers", "roads", "cells", "grids", "units", "boundary", "service_areas", "circles", "compounds", "party_orgs", "centers",
)
#: Packages above this many tiles are refused unless a larger ``max_tiles`` is given.
DEFAULT_MAX_TILES = 50_000


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



def _package_info(
    dataset: Dataset, names: Sequence[str], *, fmt: TileFormat, zooms: tuple[int, int],
    bounds: tuple[float, float, float, float], lang: str,
) -> PackageInfo:
    """Name, description and (MVT) ``vector_layers`` of the package in ``lang``."""
    summary = dataset.meta.get("summary", {})
    vector = tuple(
        {
            "id": n, "description": text("layer." + n, lang), "minzoom": zooms[0], "maxzoom": zooms[1],
            "fields": dict(mvt_field_types(n, dataset.layers[n])),
        }
        for n in names
    ) if fmt is TileFormat.mvt else ()
    return PackageInfo(
        name=f"{summary.get('name', '')} {text('map.title', lang)}".strip(),
        description=", ".join(text("layer." + n, lang) for n in names),
        layers=tuple(names), fmt=fmt, zooms=zooms, bounds=bounds, vector_layers=vector,
    )


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
    info = _package_info(dataset, names, fmt=fmt, zooms=zooms, bounds=bounds, lang=lang)
    addresses = tile_addresses(bounds, zooms)
    if on_start is not None:
        on_start(len(addresses))
    empty = 0

    def stream() -> Iterator[Tile]:
        nonlocal empty
        for k, (z, x, y) in enumerate(addresses, 1):
            data = render_tile(sources, fmt, z, x, y)
            empty += data in (b"", EMPTY_PNG[1])
            yield z, x, y, stored_tile(data, fmt)
            if progress is not None and (k % 16 == 0 or k == len(addresses)):
                progress(16 if k % 16 == 0 else k % 16)

    started = time.perf_counter()
    with atomic_output(path, field="tiles") as tmp:
        count, distinct = write_package(kind, tmp, info, stream())
        size = tmp.stat().st_size
    return PackageResult(Path(path), info, count, distinct, empty, size, time.perf_counter() - started)
