"""Mapbox Vector Tiles: the attributes each layer carries and the encoding of one tile.

:data:`TILE_FIELDS` says which columns a layer's features carry into vector
tiles (and the map's GeoJSON); :func:`feature_properties` turns a frame into
those attributes once per layer, :func:`mvt_tile` encodes one tile's
features (extent :data:`MVT_EXTENT`, one layer named after the layer) and
:func:`mvt_field_types` gives TileJSON's ``vector_layers`` field types.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid

from geo.plain import plain_scalar
from geo.tiles import TileBox, to_tile_pixels
from layers.tiles.style import compound_state

#: Attributes carried into vector tiles (and the map's GeoJSON), per layer.
TILE_FIELDS: dict[str, tuple[str, ...]] = {
    "compounds": (
        "id", "name", "state", "covered", "has_party_org", "households", "population", "community",
        "nearest_center_name", "walk_min", "walk_m", "flags", "unmet_needs",
    ),
    "party_orgs": ("id", "name", "type", "members", "community", "alliance"),
    "centers": ("id", "name", "level", "status", "community"),
    "circles": ("center_id", "name", "level", "status", "minutes", "radius_m"),
    "service_areas": ("center_id", "name", "level", "status", "minutes"),
    "units": ("id", "name", "households", "compounds", "coverage", "orgs", "org_members", "alliance_lead", "alliance_size"),
    "grids": ("id", "code", "name", "parent", "households", "compounds", "coverage", "staffing", "orgs", "org_members", "grid_branch"),
    "cells": ("id", "kind", "households", "covered_households", "coverage"),
    "boundary": ("id", "name", "level", "parent"),
    "roads": ("id", "name", "class"),
    "rivers": ("id", "name"),
}

#: Vector tile extent.
MVT_EXTENT = 4096
#: The empty vector tile.
EMPTY_MVT: bytes = b""


def _mvt_value(v: Any) -> Any:
    v = plain_scalar(v)
    if isinstance(v, float) and math.isnan(v):
        return None
    return v if isinstance(v, (bool, int, float, type(None))) else str(v)


def feature_properties(layer: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The MVT attributes of each feature (missing values left out)."""
    cols = [c for c in TILE_FIELDS.get(layer, ()) if c in frame.columns]
    table = frame[cols].copy()
    if layer == "compounds":
        table["state"] = compound_state(frame)
    records = table.to_dict(orient="records")
    return [{k: w for k, v in r.items() if (w := _mvt_value(v)) is not None} for r in records]


def mvt_tile(layer: str, geoms: np.ndarray, idx: np.ndarray, box: TileBox, properties: list[dict[str, Any]]) -> bytes:
    """A Mapbox Vector Tile of the features ``idx`` (their clipped Web Mercator ``geoms``); ``b""`` when empty.

    Feature ids are the features' positions in the layer plus one; ``properties`` are the layer's attributes.
    """
    px = shapely.set_precision(to_tile_pixels(geoms, box, extent=MVT_EXTENT), 1.0)
    keep = ~shapely.is_empty(px) & ~shapely.is_missing(px)
    if not keep.any():
        return EMPTY_MVT
    features = [
        {"geometry": g, "properties": properties[i], "id": i + 1}
        for g, i in zip(px[keep].tolist(), idx[keep].tolist(), strict=True)
    ]
    return mapbox_vector_tile.encode(
        [{"name": layer, "features": features}],
        default_options={
            "extents": MVT_EXTENT,
            "y_coord_down": True,
            "on_invalid_geometry": on_invalid_geometry_make_valid,
        },
    )


def mvt_field_types(layer: str, frame: pd.DataFrame) -> Mapping[str, str]:
    """TileJSON ``vector_layers`` field types (``Number``, ``String``, ``Boolean``) of a layer."""
    out: dict[str, str] = {}
    for c in TILE_FIELDS.get(layer, ()):
        if c == "state" and layer == "compounds":
            out[c] = "String"
            continue
        if c not in frame.columns:
            continue
        kind = frame[c].dtype.kind
        out[c] = "Boolean" if kind == "b" else ("Number" if kind in "iuf" else "String")
    return out
