"""The 3D party-building map page (三维党建地图): MapLibre GL JS on the service's own vector tiles.

The page is a small HTML document: the vendored MapLibre GL JS (``static/vendor/maplibre-gl``),
our ``common.js`` and ``map3d.js``, and the page's config as JSON in a
``<script type="application/json">`` block.  The script builds the style from
the layers' TileJSON (``/tiles/{layer}.json``), so features arrive tile by tile,
never all at once: compounds extruded by storeys (or households) and coloured
by coverage, centres as columns by level (made from the centres in the loaded
tiles), units, grids and boundaries as outlines, party organisations by type
when the dataset has them, roads and rivers as our PNG tiles.  Labels are HTML
markers (no glyph server), the title card and search are the 2D map's.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np

from api.maps.assets import json_for_script, static_url
from api.maps.focus import focus_bounds
from api.maps.options import MapOptions, coverage_query
from api.maps.panels import legend, page_words, title_card
from api.state.dataset import DatasetState
from geo.tiles import ORIGIN_SHIFT_M, lonlat_to_mercator
from layers.i18n import check_lang, text
from layers.tiles.source import TILE_LAYERS
from layers.tiles.style import PALETTE, layer_style

#: Vector tile layers the 3D map draws when the dataset has them (party_orgs may be missing).
VECTOR_LAYERS: tuple[str, ...] = ("rivers", "roads", "compounds", "centers", "units", "grids", "boundary", "party_orgs")
#: Layers drawn flat from the service's PNG tiles while the view is wider than their vector detail zoom.
OVERVIEW_LAYERS: tuple[str, ...] = ("roads", "compounds")
#: A vector tile should carry about this many features at most (the MVT encoder needs ~0.1-0.4 ms each).
FEATURES_PER_TILE = 500
#: Lowest zoom of the vector tiles (the TileJSON's minzoom).
MIN_TILE_ZOOM = 10
#: Column height (m) and footprint radius (m) of a centre, per level.
CENTER_COLUMNS: dict[str, dict[str, float]] = {
    "district": {"height": 320.0, "radius": 70.0},
    "subdistrict": {"height": 230.0, "radius": 55.0},
    "community": {"height": 150.0, "radius": 40.0},
    "compound": {"height": 90.0, "radius": 28.0},
}
#: Extrusion of a compound: metres per storey when it has ``storeys``, else a height from its households.
STOREY_M = 3.0
HOUSEHOLD_HEIGHTS: list[list[float]] = [[0.0, 6.0], [300.0, 24.0], [1000.0, 60.0], [3000.0, 150.0]]
_SCRIPTS = ("vendor/maplibre-gl/maplibre-gl.js", "dangjian/common.js", "dangjian/labels.js", "dangjian/panels3d.js", "dangjian/map3d.js")
_STYLES = ("vendor/maplibre-gl/maplibre-gl.css", "dangjian/map.css", "dangjian/map3d.css")


def detail_zoom(n_features: int, bounds: tuple[float, float, float, float], *, per_tile: int = FEATURES_PER_TILE) -> int:
    """Lowest tile zoom (from :data:`MIN_TILE_ZOOM`, at most 16) at which ``n_features`` spread over WGS84
    ``bounds`` come to no more than ``per_tile`` a tile on average.

    Below it the 3D map draws the layer from PNG tiles (or not at all), so a city-wide view never
    asks for vector tiles holding thousands of compounds.
    """
    (x0, x1), (y0, y1) = lonlat_to_mercator(np.array([bounds[0], bounds[2]]), np.array([bounds[1], bounds[3]]))
    width, height = abs(float(x1 - x0)), abs(float(y1 - y0))
    for z in range(MIN_TILE_ZOOM, 17):
        tile_m = 2 * ORIGIN_SHIFT_M / 2**z
        if not math.isfinite(width + height) or n_features <= per_tile * max(1.0, width / tile_m) * max(1.0, height / tile_m):
            return z
    return 16


def _config(state: DatasetState, opts: MapOptions, *, prefix: str, lang: str) -> dict[str, Any]:
    ds, _ = state.variant(opts.minutes, opts.method, opts.scenario)
    params = ds.meta.get("params", {})
    bounds, focus = focus_bounds(state, opts)
    query = "&".join(coverage_query(opts, token=False))
    suffix = f"?{query}" if query else ""
    layers = [n for n in VECTOR_LAYERS if n in TILE_LAYERS and ds.has(n)]
    # vector layers by their TileJSON (with the coverage variant) from the zoom their tiles stay light;
    # compounds and roads also as PNG tiles for the wider views
    area, _ = focus_bounds(state, MapOptions())
    detail = {n: detail_zoom(len(ds[n]), area) for n in layers}
    sources = {n: {"url": f"{prefix}/tiles/{n}.json{suffix}", "minzoom": detail[n]} for n in layers}
    overview = {
        n: f"{prefix}/tiles/{n}/{{z}}/{{x}}/{{y}}.png" + (suffix if n == "compounds" else "")
        for n in OVERVIEW_LAYERS if n in layers and detail[n] > MIN_TILE_ZOOM
    }
    return {
        "lang": lang,
        "embed": opts.embed,
        "words": page_words(lang),
        "style": layer_style(),
        "sources": sources,
        "overview": overview,
        "minTileZoom": MIN_TILE_ZOOM,
        "items": f"{prefix}/collections",
        "query": query,
        "accessToken": opts.access_token,
        "bounds": list(bounds),
        "focus": focus,
        "target": float(params.get("minutes", 15)),
        "columns": CENTER_COLUMNS,
        "storeyM": STOREY_M,
        "householdHeights": HOUSEHOLD_HEIGHTS,
        "partyOrgTypes": PALETTE["org_type"],
        "title": None if opts.embed else title_card(
            ds.meta.get("summary", {}), ds["compounds"], params, focus, lang, ds.meta.get("scenario") if opts.scenario else None
        ),
        "legend": {**legend(params, lang, str(params.get("method", "circle"))), "height": text("map3d.height", lang)},
        "coverageUrl": None if opts.embed else f"{prefix}/maps/coverage" + (f"?lang={lang}" if lang != "zh" else ""),
    }


def warm_tile_sources(state: DatasetState, opts: MapOptions) -> None:
    """Prepare the tile sources the 3D page is about to ask for (projected, indexed, painted).

    Run after the page is sent, while the browser starts MapLibre GL JS: on a city the first
    preparation takes seconds (95,000 roads), which the first tiles would otherwise wait for.
    """
    ds, _ = state.variant(opts.minutes, opts.method, opts.scenario)
    for layer in VECTOR_LAYERS:
        if layer in TILE_LAYERS and ds.has(layer):
            state.tile_source(layer, minutes=opts.minutes, method=opts.method, scenario=opts.scenario)


def map3d_html(state: DatasetState, opts: MapOptions, *, prefix: str = "") -> str:
    """The full HTML of the 3D party-building map (or, with ``opts.embed``, its form for iframes).

    Parameters
    ----------
    state
        The served dataset.
    opts
        What to show (language, coverage variant, focus; the basemap is always none: the page is offline).
    prefix
        Path the service is mounted at (``""`` at the root); every URL of the page is same-origin under it.

    Returns
    -------
    str
        An HTML document with no inlined layer data.
    """
    lang = check_lang(opts.lang)
    cfg = _config(state, opts, prefix=prefix, lang=lang)
    name = cfg["title"]["name"] if cfg["title"] else state.dataset().meta.get("summary", {}).get("name", "")
    title = html.escape(f"{name} {text('map3d.title', lang)}".strip())
    styles = "\n".join(f'<link rel="stylesheet" href="{static_url(prefix, s)}">' for s in _STYLES)
    scripts = "\n".join(f'<script src="{static_url(prefix, s)}"></script>' for s in _SCRIPTS)
    return f"""<!DOCTYPE html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/svg+xml" href="{static_url(prefix, "dangjian/favicon.svg")}">
{styles}
</head>
<body class="dj3d{" dj-embed" if opts.embed else ""}">
<div id="dj3d-map" class="dj3d-map"></div>
<script type="application/json" id="dj-config">{json_for_script(cfg)}</script>
{scripts}
</body>
</html>
"""
