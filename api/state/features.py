"""Layers ready to be served as GeoJSON: :class:`FeatureTable` (ids, spatial index, pre-serialised geometries).

Geometries are written as RFC 7946 says (rounded to :data:`GEOJSON_DECIMALS`,
valid, rings wound right) and can be shifted into GCJ-02 for AMap basemaps;
:func:`dumps` is the JSON text every feature answer uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.state.lru import LRU
from geo.chinacoords import transform_geometries
from geo.errors import InvalidValueError, NotFoundError
from geo.plain import json_records, jsonable
from layers.tiles.style import compound_state


def feature_ids(frame: pd.DataFrame) -> np.ndarray:
    """Stable text ids of a layer's rows: ``id``; ``center_id-minutes`` for circles; else the row number."""
    if "id" in frame.columns:
        ids = frame["id"].astype(str)
        if not ids.duplicated().any():
            return ids.to_numpy(dtype=object)
    if "center_id" in frame.columns and "minutes" in frame.columns:
        mins = frame["minutes"].map(lambda m: f"{float(m):g}")
        ids = frame["center_id"].astype(str) + "-" + mins
        if not ids.duplicated().any():
            return ids.to_numpy(dtype=object)
    return np.array([str(i + 1) for i in range(len(frame))], dtype=object)


def dumps(value: Any) -> str:
    """JSON text (UTF-8 characters kept, NaN refused)."""
    return json.dumps(value, ensure_ascii=False, default=jsonable, separators=(",", ":"))


def shift_geometries(geoms: np.ndarray, coords: str) -> np.ndarray:
    """WGS84 geometries moved into ``coords`` (``wgs84``: unchanged; ``gcj02``: AMap's offset)."""
    if coords == "wgs84":
        return geoms
    return transform_geometries(geoms, source="wgs84", target=coords)


#: Decimals of GeoJSON coordinates (about 0.1 m), as :class:`FeatureTable` writes them.
GEOJSON_DECIMALS = 6


def rfc7946_geometries(geoms: np.ndarray, *, decimals: int = GEOJSON_DECIMALS) -> np.ndarray:
    """Geometries as RFC 7946 writes them: rounded to ``decimals``, still valid, rings wound right.

    Exterior rings counter-clockwise, holes clockwise.  A geometry that was
    valid but became invalid by rounding (two vertices of a thin part merged)
    is snapped to the same grid with :func:`shapely.set_precision` instead,
    which keeps it valid; other rows are rounded plainly.
    """
    rounded = shapely.transform(geoms, lambda c: np.round(c, decimals))
    broken = shapely.is_valid(geoms) & ~shapely.is_valid(rounded)
    if broken.any():
        snapped = shapely.set_precision(geoms[broken], 10.0**-decimals)
        rounded[broken] = shapely.transform(snapped, lambda c: np.round(c, decimals))
    return shapely.orient_polygons(rounded, exterior_cw=False)


@dataclass
class FeatureTable:
    """One layer ready to be served as GeoJSON: ids, index and pre-serialised geometries.

    Attributes
    ----------
    layer
        Layer name.
    frame
        The rows (EPSG:4326), in stored order.
    ids
        Text id per row.
    geometry_json
        GeoJSON geometry text per row, shifted to ``coords``, by :func:`rfc7946_geometries`
        (``decimals`` decimals, 6 by default: about 0.1 m; valid; exterior rings counter-clockwise).
    coords
        ``wgs84`` or ``gcj02``.
    decimals
        Decimals of degrees in ``geometry_json`` (the ``coordinate_decimals`` setting).
    """

    layer: str
    frame: gpd.GeoDataFrame
    ids: np.ndarray
    geometry_json: np.ndarray
    coords: str = "wgs84"
    decimals: int = GEOJSON_DECIMALS
    tree: shapely.STRtree = field(init=False)
    _by_id: dict[str, int] = field(init=False, repr=False)
    _props: LRU = field(default_factory=lambda: LRU(8), init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.frame.geometry.to_numpy())
        self._by_id = {str(v): i for i, v in enumerate(self.ids.tolist())}

    @classmethod
    def from_frame(cls, layer: str, frame: gpd.GeoDataFrame, *, coords: str = "wgs84", decimals: int = GEOJSON_DECIMALS) -> FeatureTable:
        """Prepare ``frame`` (EPSG:4326) for serving, its geometries shifted to ``coords``, written as RFC 7946 says."""
        frame = frame.reset_index(drop=True)
        if layer == "compounds" and "state" not in frame.columns:
            frame = frame.assign(state=compound_state(frame).to_numpy())
        geoms = shift_geometries(frame.geometry.to_numpy(), coords)
        gj = shapely.to_geojson(rfc7946_geometries(geoms, decimals=decimals))
        gj = np.where(pd.isna(gj), "null", gj).astype(object)
        return cls(layer, frame, feature_ids(frame), gj, coords, decimals)

    @property
    def columns(self) -> list[str]:
        """Attribute columns (without geometry)."""
        return [c for c in self.frame.columns if c != self.frame.geometry.name]

    def __len__(self) -> int:
        return len(self.frame)

    def position(self, feature_id: str) -> int:
        """Row position of a feature id, :class:`NotFoundError` naming ``featureId`` if unknown."""
        try:
            return self._by_id[feature_id]
        except KeyError:
            msg = f"layer `{self.layer}` has no feature with id {feature_id!r}"
            raise NotFoundError(msg, field="featureId") from None

    def select(self, bbox: Sequence[float] | None) -> np.ndarray:
        """Row positions (stored order) intersecting a WGS84 ``bbox`` (all rows when ``None``; ``minx > maxx`` crosses the antimeridian)."""
        if bbox is None:
            return np.arange(len(self.frame))
        minx, miny, maxx, maxy = bbox
        if minx > maxx:  # crosses the antimeridian: the two boxes either side of it
            area = shapely.union(shapely.box(minx, miny, 180, maxy), shapely.box(-180, miny, maxx, maxy))
        else:
            area = shapely.box(minx, miny, maxx, maxy)
        idx = self.tree.query(area, predicate="intersects")
        idx.sort()
        return idx

    def check_properties(self, properties: Sequence[str] | None) -> tuple[str, ...]:
        """The property names to output; unknown names are an error naming ``properties``."""
        cols = self.columns
        if properties is None:
            return tuple(cols)
        unknown = [p for p in properties if p not in cols]
        if unknown:
            msg = f"`properties` names unknown columns of `{self.layer}`: {', '.join(unknown)} (columns: {', '.join(cols)})"
            raise InvalidValueError(msg, field="properties")
        return tuple(properties)

    def _properties_json(self, properties: tuple[str, ...]) -> list[str]:
        found = self._props.get(properties)
        if found is None:
            found = [dumps(r) for r in json_records(self.frame[list(properties)])]
            self._props.put(properties, found)
        return found

    def features(self, positions: np.ndarray, properties: tuple[str, ...], *, geometry_json: np.ndarray | None = None) -> list[str]:
        """GeoJSON Feature texts of the rows at ``positions``.

        ``geometry_json`` (one text per position) replaces the stored geometry
        texts, for output in another CRS (:func:`api.ogc_crs.geometries_in`).
        """
        props = self._properties_json(properties)
        ids = self.ids
        geoms = self.geometry_json[positions] if geometry_json is None else geometry_json
        return [
            f'{{"type":"Feature","id":{dumps(ids[i])},"geometry":{g},"properties":{props[i]}}}'
            for i, g in zip(positions.tolist(), geoms, strict=True)
        ]

