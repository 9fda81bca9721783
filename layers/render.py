"""Map styling and tile rendering: one palette for the folium map, PNG tiles and MVT.

The colours a planner sees are defined once here (:data:`PALETTE`,
:func:`layer_style`): compounds covered / uncovered / covered without a party
organisation, centres per level with their status, analysis cells on a
red-yellow-green coverage ramp.  The web map takes the same values as JSON,
and :class:`TileSource` draws them into 256/512-px PNG tiles (anti-aliased by
4x supersampling) or encodes the features as Mapbox Vector Tiles.

A :class:`TileSource` is prepared once per layer and dataset version: the
geometries projected to Web Mercator, a spatial index, per-feature colours
and MVT properties.  Rendering one tile then queries the index, clips with a
buffer, simplifies for the zoom and draws.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from threading import Lock
from typing import Any

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pandas as pd
import shapely
from mapbox_vector_tile.encoder import on_invalid_geometry_make_valid
from PIL import Image, ImageDraw

from geo.tiles import TileBox, clip_to_tile, simplify_for_zoom, to_mercator, to_tile_pixels

#: Layers that can be drawn as tiles.
TILE_LAYERS: tuple[str, ...] = (
    "compounds", "centers", "circles", "service_areas", "units", "grids", "cells", "boundary", "roads", "rivers",
)

#: Compound states, in legend order.
COMPOUND_STATES: tuple[str, ...] = ("covered", "covered_no_org", "uncovered")

PALETTE: dict[str, Any] = {
    "compound": {"covered": "#2f9e5a", "covered_no_org": "#f2a93b", "uncovered": "#d7301f"},
    "level": {"district": "#a50026", "subdistrict": "#e35a1a", "community": "#1f6fb4", "compound": "#6a3d9a"},
    "coverage_ramp": [[0.0, "#d73027"], [0.5, "#fee08b"], [1.0, "#1a9850"]],
    # uncovered compounds by minutes of walk beyond the target (0 = just over, 20 or more = far)
    "gap_ramp": [[0.0, "#fcbba1"], [5.0, "#fb6a4a"], [10.0, "#cb181d"], [20.0, "#67000d"]],
    "no_party_org": "#3f007d",
    "no_households": "#cfd8dc",
    "boundary": {"district": "#8b1a1a", "subdistrict": "#455a64", "community": "#78909c"},
    "units": "#37474f",
    "grids": "#7b1fa2",
    "road": "#ffffff",
    "road_casing": "#c8c0b2",
    "water": "#a9d3e6",
    "water_edge": "#7fb3d0",
    "paper": "#f4f2ee",
}

#: Road line widths per class (px at 1x) on the offline context tiles.
ROAD_WIDTH_PX: dict[str, float] = {"arterial": 5.0, "secondary": 3.5, "local": 2.0, "path": 1.2}

#: Marker radius of a centre per level (px at 1x).
CENTER_RADIUS_PX: dict[str, float] = {"district": 13.0, "subdistrict": 11.0, "community": 9.0, "compound": 7.5}

#: Attributes carried into vector tiles (and the map's GeoJSON), per layer.
TILE_FIELDS: dict[str, tuple[str, ...]] = {
    "compounds": (
        "id", "name", "state", "covered", "has_party_org", "households", "population", "community",
        "nearest_center_name", "walk_min", "walk_m", "flags",
    ),
    "centers": ("id", "name", "level", "status", "community"),
    "circles": ("center_id", "name", "level", "status", "minutes", "radius_m"),
    "service_areas": ("center_id", "name", "level", "status", "minutes"),
    "units": ("id", "name", "households", "compounds", "coverage"),
    "grids": ("id", "name", "parent", "households", "compounds", "coverage", "staffing"),
    "cells": ("id", "kind", "households", "covered_households", "coverage"),
    "boundary": ("id", "name", "level", "parent"),
    "roads": ("id", "name", "class"),
    "rivers": ("id", "name"),
}

#: PNG drawing: canvas pixels the tile is drawn at before downsampling (4x for 256 px, 2x for 512 px).
CANVAS_PX = 1024
#: Clip buffer as a fraction of the tile width (4 px at 256).
TILE_BUFFER = 1 / 64
#: Vector tile extent.
MVT_EXTENT = 4096


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``#rrggbb`` to an (r, g, b) tuple of 0-255 ints."""
    c = colour.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def _darker(colour: str, factor: float = 0.72) -> str:
    r, g, b = hex_rgb(colour)
    return "#{:02x}{:02x}{:02x}".format(*(int(v * factor) for v in (r, g, b)))


def compound_state(compounds: pd.DataFrame) -> pd.Series:
    """``covered``, ``covered_no_org`` (covered, no party organisation) or ``uncovered`` per compound."""
    covered = compounds["covered"].to_numpy(bool) if "covered" in compounds else np.zeros(len(compounds), bool)
    org = compounds["has_party_org"].to_numpy(bool) if "has_party_org" in compounds else np.ones(len(compounds), bool)
    state = np.where(covered, np.where(org, "covered", "covered_no_org"), "uncovered")
    return pd.Series(state, index=compounds.index, dtype=object)


def coverage_colours(share: np.ndarray) -> np.ndarray:
    """RGB (n x 3 uint8) of coverage shares 0-1 on the red-yellow-green ramp; NaN gets the no-households grey."""
    share = np.asarray(share, dtype=float)
    stops = np.array([s for s, _ in PALETTE["coverage_ramp"]])
    rgb = np.array([hex_rgb(c) for _, c in PALETTE["coverage_ramp"]], dtype=float)
    clipped = np.clip(np.nan_to_num(share, nan=0.0), 0.0, 1.0)
    out = np.column_stack([np.interp(clipped, stops, rgb[:, k]) for k in range(3)])
    out[np.isnan(share)] = hex_rgb(PALETTE["no_households"])
    return np.round(out).astype(np.uint8)


def layer_style() -> dict[str, Any]:
    """The map style of every layer as plain JSON (Leaflet path options and the palette).

    The web map's script and the PNG renderer read the same values.
    """
    compound = PALETTE["compound"]
    return {
        "palette": PALETTE,
        "center_radius": CENTER_RADIUS_PX,
        "compounds": {
            "fill": compound,
            "stroke": {k: _darker(v) for k, v in compound.items()},
            "weight": 1.0,
            "fillOpacity": 0.62,
            "no_party_org": {"color": PALETTE["no_party_org"], "weight": 1.6, "dashArray": "3 2"},
        },
        "cells": {"weight": 0.6, "color": "#ffffff", "fillOpacity": 0.6},
        "units": {"color": PALETTE["units"], "weight": 2.0, "dashArray": "6 4", "fillOpacity": 0.0},
        "grids": {"color": PALETTE["grids"], "weight": 1.0, "dashArray": "2 3", "fillOpacity": 0.0},
        "boundary": {
            "district": {"color": PALETTE["boundary"]["district"], "weight": 3.5, "fillOpacity": 0.0},
            "subdistrict": {"color": PALETTE["boundary"]["subdistrict"], "weight": 2.5, "fillOpacity": 0.0},
            "community": {"color": PALETTE["boundary"]["community"], "weight": 1.2, "dashArray": "5 4", "fillOpacity": 0.0},
        },
        "circles": {"weight": 1.2, "dashArray": "4 4", "fillOpacity": 0.04},
        "roads": {"color": PALETTE["road"], "casing": PALETTE["road_casing"], "width": ROAD_WIDTH_PX},
        "rivers": {"color": PALETTE["water_edge"], "fillColor": PALETTE["water"], "weight": 1.0, "fillOpacity": 1.0},
        "service_areas": {"weight": 1.5, "fillOpacity": 0.08},
    }


# --------------------------------------------------------------------------------------------
# per-feature paint (vectorised)


@dataclass(frozen=True)
class Paint:
    """Per-feature colours (RGBA uint8, alpha 0 = none) and widths (px at 1x) of one layer."""

    fill: np.ndarray
    stroke: np.ndarray
    width: np.ndarray
    radius: np.ndarray | None = None
    casing: np.ndarray | None = None


def _rgba(colours: np.ndarray | list[str], alpha: float | np.ndarray) -> np.ndarray:
    rgb = np.array([hex_rgb(c) for c in colours], dtype=np.uint8).reshape(-1, 3)
    a = np.broadcast_to(np.round(np.asarray(alpha, dtype=float) * 255), (len(rgb),)).astype(np.uint8)
    return np.column_stack([rgb, a])


def _level_colour(levels: pd.Series) -> np.ndarray:
    return levels.astype(str).map(PALETTE["level"]).fillna("#607d8b").to_numpy(dtype=object)


def layer_paint(layer: str, frame: pd.DataFrame) -> Paint:
    """Colours and widths of every feature of ``layer`` as the PNG tiles draw them."""
    n = len(frame)
    style = layer_style()
    none = np.zeros((n, 4), dtype=np.uint8)
    if layer == "compounds":
        state = compound_state(frame)
        fill = _rgba(state.map(style["compounds"]["fill"]).to_numpy(), style["compounds"]["fillOpacity"])
        stroke = _rgba(state.map(style["compounds"]["stroke"]).to_numpy(), 1.0)
        return Paint(fill, stroke, np.full(n, style["compounds"]["weight"]))
    if layer == "cells":
        rgb = coverage_colours(frame["coverage"].to_numpy(dtype=float))
        alpha = np.where(frame["households"].to_numpy(dtype=float) > 0, style["cells"]["fillOpacity"], 0.0)
        fill = np.column_stack([rgb, np.round(alpha * 255).astype(np.uint8)])
        stroke = np.tile(np.array([255, 255, 255, 140], dtype=np.uint8), (n, 1))
        stroke[alpha == 0] = 0
        return Paint(fill, stroke, np.full(n, style["cells"]["weight"]))
    if layer in ("units", "grids"):
        s = style[layer]
        return Paint(none, _rgba([s["color"]] * n, 1.0), np.full(n, s["weight"]))
    if layer == "boundary":
        lv = frame["level"].astype(str) if "level" in frame else pd.Series(["district"] * n)
        colours = lv.map(lambda v: style["boundary"].get(v, style["boundary"]["community"])["color"]).to_numpy()
        widths = lv.map(lambda v: style["boundary"].get(v, style["boundary"]["community"])["weight"]).to_numpy(dtype=float)
        return Paint(none, _rgba(colours, 1.0), widths)
    if layer in ("circles", "service_areas"):
        colours = _level_colour(frame["level"]) if "level" in frame else np.array(["#1f6fb4"] * n, dtype=object)
        s = style[layer]
        return Paint(_rgba(colours, s["fillOpacity"] * 1.5), _rgba(colours, 1.0), np.full(n, s["weight"]))
    if layer == "roads":
        cls = frame["class"].astype(str) if "class" in frame else pd.Series(["local"] * n)
        widths = cls.map(ROAD_WIDTH_PX).fillna(2.0).to_numpy(dtype=float)
        return Paint(none, _rgba([PALETTE["road"]] * n, 1.0), widths, casing=_rgba([PALETTE["road_casing"]] * n, 1.0))
    if layer == "rivers":
        is_line = np.isin(shapely.get_type_id(np.asarray(frame.geometry.to_numpy())), [1, 2, 5])
        stroke = _rgba(np.where(is_line, PALETTE["water"], PALETTE["water_edge"]), 1.0)
        return Paint(_rgba([PALETTE["water"]] * n, 1.0), stroke, np.where(is_line, 6.0, 1.0))
    if layer == "centers":
        colours = _level_colour(frame["level"])
        status = frame["status"].astype(str).to_numpy() if "status" in frame else np.full(n, "existing")
        fill = _rgba(colours, 1.0)
        fill[status != "existing"] = (255, 255, 255, 255)
        stroke = _rgba(colours, 1.0)
        stroke[status == "existing"] = (255, 255, 255, 255)
        radius = frame["level"].astype(str).map(CENTER_RADIUS_PX).fillna(6.0).to_numpy(dtype=float)
        return Paint(fill, stroke, np.where(status == "existing", 1.5, 2.5), radius)
    msg = f"no style for layer {layer!r}"
    raise KeyError(msg)


def draw_order(layer: str, frame: pd.DataFrame) -> np.ndarray:
    """Row order to draw in: wide circles under narrow ones, big centres on top of small ones."""
    if layer in ("circles", "service_areas") and "minutes" in frame:
        return np.argsort(-frame["minutes"].to_numpy(dtype=float), kind="stable")
    if layer == "centers" and "level" in frame:
        rank = frame["level"].astype(str).map({"compound": 0, "community": 1, "subdistrict": 2, "district": 3})
        return np.argsort(rank.fillna(0).to_numpy(), kind="stable")
    if layer == "roads" and "class" in frame:
        rank = frame["class"].astype(str).map({"path": 0, "local": 1, "secondary": 2, "arterial": 3})
        return np.argsort(rank.fillna(1).to_numpy(), kind="stable")
    if layer == "boundary" and "level" in frame:
        rank = frame["level"].astype(str).map({"community": 0, "subdistrict": 1, "district": 2})
        return np.argsort(rank.fillna(0).to_numpy(), kind="stable")
    return np.arange(len(frame))


def _mvt_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return None if math.isnan(f) else f
    if v is None:
        return None
    return str(v)


def feature_properties(layer: str, frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The MVT attributes of each feature (missing values left out)."""
    cols = [c for c in TILE_FIELDS.get(layer, ()) if c in frame.columns]
    table = frame[cols].copy()
    if layer == "compounds":
        table["state"] = compound_state(frame)
    records = table.to_dict(orient="records")
    return [{k: w for k, v in r.items() if (w := _mvt_value(v)) is not None} for r in records]


# --------------------------------------------------------------------------------------------
# tiles


def _empty_png(px: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (px, px), (0, 0, 0, 0)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


EMPTY_PNG: dict[int, bytes] = {1: _empty_png(256), 2: _empty_png(512)}
EMPTY_MVT: bytes = b""


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
    _fill_ink: list[tuple[int, ...] | None] = field(default_factory=list, init=False, repr=False)
    _stroke_ink: list[tuple[int, ...] | None] = field(default_factory=list, init=False, repr=False)
    _width_px: list[int] = field(default_factory=list, init=False, repr=False)
    _casing_ink: list[tuple[int, ...] | None] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        self.tree = shapely.STRtree(self.geoms)
        self._fill_ink = _inks(self.paint.fill)
        self._stroke_ink = _inks(self.paint.stroke)
        self._casing_ink = _inks(self.paint.casing) if self.paint.casing is not None else []
        ss = CANVAS_PX / 256.0
        self._width_px = [max(1, int(round(w * ss))) for w in np.asarray(self.paint.width, dtype=float).tolist()]
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

    def png(self, box: TileBox, *, scale: int = 1) -> bytes:
        """A transparent PNG tile (256 px, or 512 px when ``scale`` is 2), anti-aliased.

        Empty tiles come back as a shared, pre-encoded transparent image.
        """
        pad = float(self.paint.radius.max()) + 3 if self.kind == "point" and self.paint.radius is not None and len(self) else 0.0
        idx = self.query(box, pad_px=pad)
        if not len(idx):
            return EMPTY_PNG[scale]
        # Drawn premultiplied ("RGBa") so that downsampling averages colours without dark fringes.
        img = Image.new("RGBa", (CANVAS_PX, CANVAS_PX), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        ss = CANVAS_PX / 256.0
        if self.kind == "point":
            self._draw_points(draw, box, idx, ss)
        else:
            geoms = clip_to_tile(self._at_zoom(box.z)[idx], box, buffer=TILE_BUFFER)
            px = to_tile_pixels(geoms, box, extent=CANVAS_PX)
            self._draw_shapes(img, draw, px, idx, ss)
        out = img.reduce(CANVAS_PX // (256 * scale)).convert("RGBA")
        if out.getbbox() is None:
            return EMPTY_PNG[scale]
        buf = io.BytesIO()
        out.save(buf, "PNG", compress_level=1)
        return buf.getvalue()

    def _draw_points(self, draw: ImageDraw.ImageDraw, box: TileBox, idx: np.ndarray, ss: float) -> None:
        px = to_tile_pixels(self.geoms[idx], box, extent=CANVAS_PX)
        xy = shapely.get_coordinates(px)
        radius = self.paint.radius if self.paint.radius is not None else np.full(len(self), 5.0)
        for (x, y), i in zip(xy.tolist(), idx.tolist(), strict=True):
            r = radius[i] * ss
            draw.ellipse((x - r, y - r, x + r, y + r), fill=self._fill_ink[i], outline=self._stroke_ink[i], width=self._width_px[i])

    def _draw_shapes(self, img: Image.Image, draw: ImageDraw.ImageDraw, px: np.ndarray, idx: np.ndarray, ss: float) -> None:
        parts, owner = shapely.get_parts(px, return_index=True)
        if not len(parts):
            return
        tid = shapely.get_type_id(parts)
        polys = tid == 3
        lines = (tid == 1) | (tid == 2)
        feat = idx[owner]
        # Polygons: rings with their part and whether each is the exterior.
        p_parts, p_feat = parts[polys], feat[polys]
        rings, ring_part = shapely.get_rings(p_parts, return_index=True)
        n_rings = 1 + shapely.get_num_interior_rings(p_parts)
        first_ring = np.concatenate([[0], np.cumsum(n_rings)[:-1]]) if len(p_parts) else np.array([], int)
        ring_coords = _split_coords(rings)
        fills, strokes, widths = self._fill_ink, self._stroke_ink, self._width_px
        p_feat_l = p_feat.tolist()
        for k, (start, count) in enumerate(zip(first_ring.tolist(), n_rings.tolist(), strict=True)):
            colour = fills[p_feat_l[k]]
            if colour is None:
                continue
            if count == 1:
                draw.polygon(ring_coords[start], fill=colour)
            else:
                _fill_with_holes(img, ring_coords[start : start + count], colour)
        for r, part in zip(ring_coords, ring_part.tolist(), strict=True):
            f = p_feat_l[part]
            if strokes[f] is not None:
                draw.line(r, fill=strokes[f], width=widths[f], joint="curve" if widths[f] > 2 else None)
        if lines.any():
            line_coords = _split_coords(parts[lines])
            line_feat = feat[lines].tolist()
            if self._casing_ink:
                extra = max(2, int(round(1.5 * ss)))
                for coords, f in zip(line_coords, line_feat, strict=True):
                    draw.line(coords, fill=self._casing_ink[f], width=widths[f] + extra, joint="curve")
            for coords, f in zip(line_coords, line_feat, strict=True):
                if strokes[f] is not None:
                    draw.line(coords, fill=strokes[f], width=widths[f], joint="curve" if widths[f] > 2 else None)

    def mvt(self, box: TileBox) -> bytes:
        """A Mapbox Vector Tile (extent 4096) with one layer named after the layer; ``b""`` when empty."""
        idx = self.query(box)
        if not len(idx):
            return EMPTY_MVT
        geoms = self._at_zoom(box.z)[idx]
        if self.kind != "point":
            geoms = clip_to_tile(geoms, box, buffer=TILE_BUFFER)
        px = shapely.set_precision(to_tile_pixels(geoms, box, extent=MVT_EXTENT), 1.0)
        keep = ~shapely.is_empty(px) & ~shapely.is_missing(px)
        if not keep.any():
            return EMPTY_MVT
        features = [
            {"geometry": g, "properties": self.properties[i], "id": i + 1}
            for g, i in zip(px[keep].tolist(), idx[keep].tolist(), strict=True)
        ]
        return mapbox_vector_tile.encode(
            [{"name": self.layer, "features": features}],
            default_options={
                "extents": MVT_EXTENT,
                "y_coord_down": True,
                "on_invalid_geometry": on_invalid_geometry_make_valid,
            },
        )


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


def _inks(rgba: np.ndarray) -> list[tuple[int, ...] | None]:
    """Premultiplied RGBa ink tuples for Pillow (``None`` where alpha is 0)."""
    a = rgba[:, 3:4].astype(np.uint16)
    pm = np.column_stack([(rgba[:, :3].astype(np.uint16) * a + 127) // 255, a]).astype(np.uint8)
    return [tuple(v) if v[3] else None for v in pm.tolist()]


def _split_coords(geoms: np.ndarray) -> list[list[float]]:
    """Flat ``[x0, y0, x1, y1, ...]`` coordinate lists of rings or lines, one per geometry."""
    if not len(geoms):
        return []
    coords, owner = shapely.get_coordinates(geoms, return_index=True)
    cuts = np.flatnonzero(np.diff(owner)) + 1
    return [c.ravel().tolist() for c in np.split(coords, cuts)]


def _fill_with_holes(img: Image.Image, rings: list[list[float]], colour: tuple[int, ...]) -> None:
    """Fill a polygon with holes: draw a mask over its bounding box and paste the colour through it."""
    ext = np.asarray(rings[0]).reshape(-1, 2)
    x0, y0 = np.floor(ext.min(axis=0)).astype(int)
    x1, y1 = np.ceil(ext.max(axis=0)).astype(int)
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, img.width), min(y1, img.height)
    if x1 <= x0 or y1 <= y0:
        return
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    md = ImageDraw.Draw(mask)
    for k, ring in enumerate(rings):
        shifted = (np.asarray(ring).reshape(-1, 2) - (x0, y0)).ravel().tolist()
        md.polygon(shifted, fill=255 if k == 0 else 0)
    img.paste(Image.new(img.mode, mask.size, colour), (x0, y0), mask)


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
