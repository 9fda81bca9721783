"""PNG tiles: a tile's features drawn with Pillow, anti-aliased by supersampling.

A tile is drawn on a :data:`CANVAS_PX` canvas (4x for 256 px, 2x for 512 px)
in premultiplied colour, then reduced, so edges are smooth without dark
fringes.  The colours come from :func:`layers.tiles.style.layer_paint`,
prepared once per layer as :class:`Inks`; empty tiles are one shared,
pre-encoded transparent image (:data:`EMPTY_PNG`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import shapely
from PIL import Image, ImageDraw

from geo.tiles import TileBox, to_tile_pixels
from layers.tiles.style import Paint

#: Canvas pixels the tile is drawn at before downsampling (4x for 256 px, 2x for 512 px).
CANVAS_PX = 1024
#: Canvas pixels per tile pixel at 256 px (line widths and radii are given at 1x).
_SS = CANVAS_PX / 256.0


def _empty_png(px: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (px, px), (0, 0, 0, 0)).save(buf, "PNG", optimize=True)
    return buf.getvalue()


#: The transparent tile by scale (1: 256 px, 2: 512 px).
EMPTY_PNG: dict[int, bytes] = {1: _empty_png(256), 2: _empty_png(512)}

Ink = tuple[int, ...] | None


def _inks(rgba: np.ndarray) -> list[Ink]:
    """Premultiplied RGBa ink tuples for Pillow (``None`` where alpha is 0)."""
    a = rgba[:, 3:4].astype(np.uint16)
    pm = np.column_stack([(rgba[:, :3].astype(np.uint16) * a + 127) // 255, a]).astype(np.uint8)
    return [tuple(v) if v[3] else None for v in pm.tolist()]


@dataclass(frozen=True)
class Inks:
    """A layer's paint ready for Pillow: premultiplied inks, line widths and marker radii in canvas pixels."""

    fill: list[Ink]
    stroke: list[Ink]
    casing: list[Ink]
    width_px: list[int]
    radius: np.ndarray

    @classmethod
    def of(cls, paint: Paint) -> Inks:
        """The inks of ``paint`` (one entry per feature; markers of 5 px where the paint gives no radius)."""
        n = len(paint.width)
        return cls(
            fill=_inks(paint.fill),
            stroke=_inks(paint.stroke),
            casing=_inks(paint.casing) if paint.casing is not None else [],
            width_px=[max(1, int(round(w * _SS))) for w in np.asarray(paint.width, dtype=float).tolist()],
            radius=paint.radius if paint.radius is not None else np.full(n, 5.0),
        )


def png_tile(kind: str, geoms: np.ndarray, idx: np.ndarray, box: TileBox, inks: Inks, *, scale: int = 1) -> bytes:
    """A transparent PNG tile (256 px, or 512 px when ``scale`` is 2) of the features ``idx``.

    Parameters
    ----------
    kind
        ``point``, ``line`` or ``polygon``.
    geoms
        The features' Web Mercator geometries, clipped to the tile (points as they are).
    idx
        Their positions in the layer (for their inks), in draw order.
    box
        The tile.
    inks
        The layer's inks.
    """
    # Drawn premultiplied ("RGBa") so that downsampling averages colours without dark fringes.
    img = Image.new("RGBa", (CANVAS_PX, CANVAS_PX), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    px = to_tile_pixels(geoms, box, extent=CANVAS_PX)
    if kind == "point":
        _draw_points(draw, px, idx, inks)
    else:
        _draw_shapes(img, draw, px, idx, inks)
    out = img.reduce(CANVAS_PX // (256 * scale)).convert("RGBA")
    if out.getbbox() is None:
        return EMPTY_PNG[scale]
    buf = io.BytesIO()
    out.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _draw_points(draw: ImageDraw.ImageDraw, px: np.ndarray, idx: np.ndarray, inks: Inks) -> None:
    xy = shapely.get_coordinates(px)
    for (x, y), i in zip(xy.tolist(), idx.tolist(), strict=True):
        r = inks.radius[i] * _SS
        draw.ellipse((x - r, y - r, x + r, y + r), fill=inks.fill[i], outline=inks.stroke[i], width=inks.width_px[i])


def _draw_shapes(img: Image.Image, draw: ImageDraw.ImageDraw, px: np.ndarray, idx: np.ndarray, inks: Inks) -> None:
    parts, owner = shapely.get_parts(px, return_index=True)
    if not len(parts):
        return
    tid = shapely.get_type_id(parts)
    polys = tid == 3
    lines = (tid == 1) | (tid == 2)
    feat = idx[owner]
    _draw_polygons(img, draw, parts[polys], feat[polys].tolist(), inks)
    if lines.any():
        _draw_lines(draw, _split_coords(parts[lines]), feat[lines].tolist(), inks)


def _draw_polygons(img: Image.Image, draw: ImageDraw.ImageDraw, polys: np.ndarray, feat: list[int], inks: Inks) -> None:
    """Fill each polygon (with its holes), then stroke every ring."""
    rings, ring_part = shapely.get_rings(polys, return_index=True)
    n_rings = 1 + shapely.get_num_interior_rings(polys)
    first_ring = np.concatenate([[0], np.cumsum(n_rings)[:-1]]) if len(polys) else np.array([], int)
    ring_coords = _split_coords(rings)
    for k, (start, count) in enumerate(zip(first_ring.tolist(), n_rings.tolist(), strict=True)):
        colour = inks.fill[feat[k]]
        if colour is None:
            continue
        if count == 1:
            draw.polygon(ring_coords[start], fill=colour)
        else:
            _fill_with_holes(img, ring_coords[start : start + count], colour)
    for r, part in zip(ring_coords, ring_part.tolist(), strict=True):
        f = feat[part]
        if inks.stroke[f] is not None:
            w = inks.width_px[f]
            draw.line(r, fill=inks.stroke[f], width=w, joint="curve" if w > 2 else None)


def _draw_lines(draw: ImageDraw.ImageDraw, line_coords: list[list[float]], feat: list[int], inks: Inks) -> None:
    """Lines, each over its casing (roads) when the layer has one."""
    widths = inks.width_px
    if inks.casing:
        extra = max(2, int(round(1.5 * _SS)))
        for coords, f in zip(line_coords, feat, strict=True):
            draw.line(coords, fill=inks.casing[f], width=widths[f] + extra, joint="curve")
    for coords, f in zip(line_coords, feat, strict=True):
        if inks.stroke[f] is not None:
            draw.line(coords, fill=inks.stroke[f], width=widths[f], joint="curve" if widths[f] > 2 else None)


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
