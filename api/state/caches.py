"""The caches of what is derived from the served dataset: rendered tiles, feature tables and tile sources.

Every key starts with the dataset's version (see
:attr:`api.state.dataset.DatasetState.version`), so nothing of an older
dataset is served.  After an edit, the entries the changed rows cannot have
touched are carried over to the new version instead of being made again.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from typing import Any

import geopandas as gpd
import numpy as np

from api.state.features import GEOJSON_DECIMALS, FeatureTable, shift_geometries
from api.state.lru import LRU
from geo.crs import WGS84
from layers.tiles.source import TileSource


def _tile_lonlat(z: int, x: int, y: int, margin: float) -> tuple[float, float, float, float]:
    """WGS84 bounds of tile ``z/x/y``, widened by ``margin`` tile widths on every side (symbols drawn over the edge)."""
    n = 1 << z

    def lon(v: float) -> float:
        return v / n * 360.0 - 180.0

    def lat(v: float) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * v / n))))

    return lon(x - margin), lat(y + 1 + margin), lon(x + 1 + margin), lat(y - margin)


def untouched_tiles(
    cached: list[tuple[Hashable, Any]], changed_boxes: dict[str, np.ndarray], old_version: str
) -> list[tuple[tuple[Any, ...], Any]]:
    """Cached base-variant tiles of ``old_version`` whose area no changed feature of their layer touches.

    ``changed_boxes`` gives, per changed layer, WGS84 boxes of its changed
    rows (old and new); other layers did not change.  Keys are the tile
    router's ``(version, layer, variant, coords, kind, fmt, scale, z, x, y)``.
    Tiles are widened by a quarter tile (markers and outlines drawn across the
    tile edge), and for tiles shifted to GCJ-02 the changed boxes by 0.01
    degrees (about 1 km, more than the shift).
    """
    kept = []
    for key, body in cached:
        if not (isinstance(key, tuple) and len(key) == 10 and key[0] == old_version and key[2] == ""):
            continue
        changed = changed_boxes.get(key[1])
        if changed is not None and len(changed):
            minx, miny, maxx, maxy = _tile_lonlat(int(key[7]), int(key[8]), int(key[9]), 0.25)
            pad = 0.0 if key[3] == "wgs84" else 0.01
            hit = (changed[:, 0] - pad <= maxx) & (changed[:, 2] + pad >= minx) & (changed[:, 1] - pad <= maxy) & (changed[:, 3] + pad >= miny)
            if hit.any():
                continue
        kept.append((key, body))
    return kept


class TileCache(LRU):
    """Rendered tiles (bytes), under a number of tiles and a byte budget."""

    def keep_untouched(
        self, cached: list[tuple[Hashable, Any]], boxes: dict[str, np.ndarray], *, old_version: str, new_version: str
    ) -> int:
        """Put back, under ``new_version``, the tiles of ``cached`` (taken at ``old_version``) no changed box touches.

        Returns how many were kept (see :func:`untouched_tiles`).
        """
        kept = untouched_tiles(cached, boxes, old_version)
        for key, body in kept:
            self.put((new_version, *key[1:]), body)
        return len(kept)


class DerivedCache:
    """Feature tables and tile sources per version, layer, variant and coordinate system, each made once.

    Keys are ``(version, kind, layer, variant key, coords)``; ``kind`` is
    ``features`` or ``tiles``.
    """

    def __init__(self, maxsize: int, *, decimals: int = GEOJSON_DECIMALS) -> None:
        self._lru = LRU(maxsize)
        self.decimals = decimals
        self._lock = threading.Lock()

    def _get(self, key: tuple[str, str, str, str, str], make: Callable[[], Any]) -> Any:
        found = self._lru.get(key)
        if found is None:
            with self._lock:
                found = self._lru.get(key)
                if found is None:
                    found = make()
                    self._lru.put(key, found)
        return found

    def features(self, frame: gpd.GeoDataFrame, *, version: str, layer: str, variant: str, coords: str) -> FeatureTable:
        """The :class:`FeatureTable` of ``frame`` (``layer`` of ``variant``), its geometries shifted to ``coords``."""
        return self._get(
            (version, "features", layer, variant, coords), lambda: FeatureTable.from_frame(layer, frame, coords=coords, decimals=self.decimals)
        )

    def tile_source(
        self, frame: gpd.GeoDataFrame, *, version: str, layer: str, variant: str, coords: str, cells: str
    ) -> TileSource:
        """The :class:`~layers.tiles.source.TileSource` of ``frame``; ``cells`` keeps only analysis cells of that kind."""

        def make() -> TileSource:
            f = frame
            if cells and "kind" in f.columns:
                f = f[f["kind"] == cells]
            if coords != "wgs84":
                f = f.set_geometry(gpd.GeoSeries(shift_geometries(f.geometry.to_numpy(), coords), index=f.index, crs=WGS84))
            return TileSource.from_frame(layer, f)

        return self._get((version, "tiles", layer, f"{variant}|{cells}", coords), make)

    def items(self) -> list[tuple[Hashable, Any]]:
        """A snapshot of the entries."""
        return self._lru.items()

    def clear(self) -> None:
        """Forget everything."""
        self._lru.clear()

    def keep_unchanged(
        self, cached: list[tuple[Hashable, Any]], changed_layers: set[str] | dict[str, Any], *, old_version: str, new_version: str
    ) -> None:
        """Put back, under ``new_version``, the base-variant entries of ``cached`` whose layer is not in ``changed_layers``."""
        for key, value in cached:
            if isinstance(key, tuple) and len(key) == 5 and key[0] == old_version and str(key[3]).split("|")[0] == "":
                if str(key[2]) not in changed_layers:
                    self._lru.put((new_version, *key[1:]), value)
