"""A layer prepared for tiling once per dataset version, and its tiles: PNG (:mod:`~layers.tiles.raster`) or MVT.

:class:`TileSource` holds the layer's geometries projected to Web Mercator
in draw order (:func:`layers.tiles.style.draw_order`), a spatial index,
per-feature paint and MVT attributes.  Rendering one tile then queries the
index, simplifies for the zoom (kept per zoom), clips with a buffer and
hands the features to the PNG drawer or the MVT encoder.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

from geo.tiles import TileBox, clip_to_tile, simplify_for_zoom, to_mercator
from layers.tiles.mvt import EMPTY_MVT, feature_properties, mvt_tile
from layers.tiles.raster import EMPTY_PNG, Inks, png_tile
from layers.tiles.style import Paint, draw_order, layer_paint

#: Layers that can be drawn as tiles.
TILE_LAYERS: tuple[str, ...] = (
    "compounds", "centers", "party_orgs", "circles", "service_areas", "units", "grids", "cells", "boundary", "roads", "rivers",
)
#: Clip buffer as a fraction of the tile width (4 px at 256).
TILE_BUFFER = 1 / 64


@dataclass
class TileSource:
    """One layer prepared for tiling: Web Mercator geometries, index, paint and attributes.

    Build with :meth:`from_frame`; :meth:`png` and :meth:`mvt` render tiles.
    """

    layer: str
    geoms: np.ndarray
    paint: Paint
    properties: list[dict[str, Any]]
    kind: str
    tree: shapely.STRtree = field(init=False)
    bounds: tuple[float, float, float, float] = field(init=False)
    _simplified: dict[int, np.ndarray] = field(default_factory=dict, init=False, repr=False)
    _lock: Lock = field(default_factory=Lock, init=False, repr=False)
    _inks: Inks = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.geoms)
        self._inks = Inks.of(self.paint)
        if len(self.geoms):
            b = shapely.total_bounds(self.geoms)
            self.bounds = (float(b[0]), float(b[1]), float(b[2]), float(b[3]))
        else:
            self.bounds = (math.nan,) * 4  # type: ignore[assignment]

    @classmethod
    def from_frame(cls, layer: str, frame: gpd.GeoDataFrame) -> TileSource:
        """Prepare ``frame`` (EPSG:4326, or already shifted to GCJ-02 degrees) for tiling as ``layer``."""
        frame = frame[~(frame.geometry.isna() | frame.geometry.is_empty)]
        order = draw_order(layer, frame)
        frame = frame.iloc[order]
        geoms = frame.geometry.to_numpy()
        if layer == "service_areas":
            geoms = fill_holes(geoms)
        geoms = to_mercator(geoms)
        types = set(shapely.get_type_id(geoms).tolist())
        kind = "point" if types <= {0, 4} and types else ("line" if types <= {1, 2, 5} and types else "polygon")
        return cls(layer, geoms, layer_paint(layer, frame), feature_properties(layer, frame), kind)

    def __len__(self) -> int:
        return len(self.geoms)

    def _at_zoom(self, z: int) -> np.ndarray:
        if self.kind == "point":
            return self.geoms
        found = self._simplified.get(z)
        if found is None:
            with self._lock:
                found = self._simplified.get(z)
                if found is None:
                    found = simplify_for_zoom(self.geoms, z)
                    self._simplified[z] = found
        return found

    def query(self, box: TileBox, *, buffer: float = TILE_BUFFER, pad_px: float = 0.0) -> np.ndarray:
        """Positions of features touching the tile grown by ``buffer`` (+ ``pad_px`` pixels), in draw order."""
        b = box.buffered(buffer + pad_px / 256.0)
        idx = self.tree.query(shapely.box(*b))
        idx.sort()
        return idx

    def _in_tile(self, box: TileBox, idx: np.ndarray) -> np.ndarray:
        """The features ``idx`` simplified for the tile's zoom and clipped to it (points as they are)."""
        geoms = self._at_zoom(box.z)[idx]
        return geoms if self.kind == "point" else clip_to_tile(geoms, box, buffer=TILE_BUFFER)

    def png(self, box: TileBox, *, scale: int = 1) -> bytes:
        """A transparent PNG tile (256 px, or 512 px when ``scale`` is 2), anti-aliased.

        Empty tiles come back as a shared, pre-encoded transparent image.
        """
        pad = float(self.paint.radius.max()) + 3 if self.kind == "point" and self.paint.radius is not None and len(self) else 0.0
        idx = self.query(box, pad_px=pad)
        if not len(idx):
            return EMPTY_PNG[scale]
        return png_tile(self.kind, self._in_tile(box, idx), idx, box, self._inks, scale=scale)

    def mvt(self, box: TileBox) -> bytes:
        """A Mapbox Vector Tile (extent 4096) with one layer named after the layer; ``b""`` when empty."""
        idx = self.query(box)
        if not len(idx):
            return EMPTY_MVT
        return mvt_tile(self.layer, self._in_tile(box, idx), idx, box, self.properties)


def fill_holes(geoms: np.ndarray) -> np.ndarray:
    """Polygons without their interior rings (vectorised; other geometry types pass unchanged).

    A walking service area is the buffer of the roads reached; the blocks
    those roads enclose are reached too, so maps draw the area without holes.
    """
    geoms = np.asarray(geoms, dtype=object)
    poly = np.isin(shapely.get_type_id(geoms), [3, 6])
    if not poly.any():
        return geoms
    parts, owner = shapely.get_parts(geoms[poly], return_index=True)
    solid = shapely.polygons(shapely.get_exterior_ring(parts))
    out = geoms.copy()
    out[np.flatnonzero(poly)] = _regroup(solid, owner, int(poly.sum()))
    return out


def _regroup(parts: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """One MultiPolygon (or Polygon when single) per owner from its parts."""
    multi = shapely.multipolygons(parts, indices=owner)
    counts = np.bincount(owner, minlength=n)
    single = counts == 1
    out = np.asarray(multi, dtype=object)
    if single.any():
        first = np.searchsorted(owner, np.flatnonzero(single))
        out[single] = parts[first]
    return out
