"""The coverage map page: a folium map whose layers load from the service's own endpoints.

The page is small (a few kilobytes of HTML): folium lays out the Leaflet map,
the basemap and one empty layer group per layer; ``static/dangjian/map.js``
then fetches every layer as GeoJSON from ``/collections/{layer}/items`` and
draws it in the shared palette (:func:`layers.tiles.style.layer_style`), with
popups, tooltips, a legend, a search box and a title card.  Roads and rivers
come as the service's own PNG tiles, so the map reads well with no basemap.

Offline: folium's default CDN links are replaced by files shipped in
``api/static`` (Leaflet 1.9.4, leaflet.fullscreen 3.0.0, our script and
style); the only outside address a page may name is the basemap the settings
(or ``?basemap=``) choose.  Data reaches the page as JSON inside a
``<script type="application/json">`` block (``<``, ``>``, ``&`` escaped) and
from there only through ``textContent``.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

import folium
import shapely
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from api.maps.assets import json_for_script, static_url
from api.maps.focus import focus_bounds, shift_bounds
from api.maps.options import (
    BASEMAPS,
    CONTEXT_LAYERS,
    DEFAULT_SHOWN,
    MAP_LAYERS,
    MapOptions,
    check_basemap,
    coverage_query,
)
from api.maps.panels import legend, page_words, title_card
from api.settings import Settings
from api.state.dataset import DatasetState
from geo.tiles import fit_zoom
from layers.i18n import check_lang, text
from layers.tiles.style import layer_style

#: Attributes each layer's GeoJSON carries to the page (only those present are asked for).
MAP_PROPERTIES: dict[str, tuple[str, ...]] = {
    "boundary": ("name", "level", "parent"),
    "cells": ("kind", "households", "covered_households", "coverage"),
    "grids": ("name", "code", "parent", "households", "compounds", "coverage", "staffing", "orgs", "grid_branch"),
    "units": ("name", "bounded_by", "households", "compounds", "coverage", "orgs", "org_members", "alliance_lead", "alliance_size", "alliance_roster"),
    "circles": ("center_id", "level", "status", "minutes"),
    "service_areas": ("center_id", "level", "status", "minutes"),
    "compounds": (
        "name", "state", "households", "population", "community", "has_party_org",
        "nearest_center_name", "walk_min", "walk_m", "flags", "unmet_needs",
    ),
    "centers": ("name", "level", "status", "community", "services"),
    "party_orgs": ("name", "type", "members", "community", "alliance"),
}
#: Our scripts of the page, in load order (common.js first, map.js calls the others).
PAGE_SCRIPTS: tuple[str, ...] = ("common", "panels", "labels", "print", "phone", "route", "map")
#: Uncovered compounds the gap panel lists (the most households first).
GAP_ROWS = 10
#: Above this many features a layer is drawn on canvas instead of SVG.
CANVAS_ABOVE = 3000
#: Layers the page may draw from the service's PNG tiles instead of GeoJSON when they are big
#: (compounds and centres stay vector: their popups and the search need the features).
RASTER_OK: frozenset[str] = frozenset({"cells", "grids", "units", "circles", "service_areas", "boundary"})
#: Above this many vertices such a layer comes as PNG tiles (the demo's largest layer has ~6,000).
RASTER_ABOVE_VERTICES = 60_000

class _DangjianLayers(MacroElement):
    """Hands the layer groups and the page config to ``DangjianMap.init``."""

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <script type="application/json" id="dj-config">{{ this.config_json }}</script>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        DangjianMap.init({{ this._parent.get_name() }}, {{ this.groups_js }}, JSON.parse(document.getElementById("dj-config").textContent));
        {% endmacro %}
        """
    )

    def __init__(self, config: dict[str, Any], groups: dict[str, folium.FeatureGroup | folium.TileLayer]) -> None:
        super().__init__()
        self._name = "DangjianLayers"
        self.config_json = json_for_script(config)
        self.groups_js = "{" + ",".join(f"{json.dumps(k)}: {g.get_name()}" for k, g in groups.items()) + "}"


def _layer_url(prefix: str, layer: str, columns: list[str], opts: MapOptions, coords: str) -> str:
    props = [p for p in MAP_PROPERTIES.get(layer, ()) if p in columns or (layer == "compounds" and p == "state")]
    query = ["limit=10000", f"properties={quote(','.join(props), safe=',')}", *coverage_query(opts, coords=coords)]
    return f"{prefix}/collections/{layer}/items?" + "&".join(query)


def _route_url(prefix: str, opts: MapOptions, coords: str) -> str:
    """The URL template of a compound's walk (``{id}`` stands for its id, URL-quoted by the page)."""
    query = "&".join(coverage_query(opts, coords=coords))
    return f"{prefix}/collections/compounds/items/{{id}}/route" + (f"?{query}" if query else "")


def coverage_map_html(state: DatasetState, settings: Settings, opts: MapOptions, *, prefix: str = "") -> str:
    """The full HTML of the coverage map page (or its embeddable form).

    Parameters
    ----------
    state
        The served dataset.
    settings
        Deployment settings (Tianditu key).
    opts
        What to show.
    prefix
        Path the service is mounted at (``""`` at the root); every URL in the
        page is same-origin under it, except the basemap's.

    Returns
    -------
    str
        An HTML document with no inlined layer data.
    """
    lang = check_lang(opts.lang)
    check_basemap(opts.basemap, settings.tianditu_key)
    ds, _ = state.variant(opts.minutes, opts.method, opts.scenario)
    params = ds.meta.get("params", {})
    method = str(params.get("method", "circle"))
    coords = "gcj02" if opts.basemap == "amap" else "wgs84"
    bounds, focus = focus_bounds(state, opts)
    bounds = shift_bounds(bounds, opts.basemap)
    centre = [(bounds[1] + bounds[3]) / 2, (bounds[0] + bounds[2]) / 2]
    zoom = fit_zoom(bounds)
    shown = set(opts.layers) if opts.layers is not None else set(DEFAULT_SHOWN)
    if opts.layers is None:
        if opts.basemap != "none":
            shown -= set(CONTEXT_LAYERS)
        if method == "network" and ds.has("service_areas"):
            shown.discard("circles")  # the walking areas tell the truth; straight circles stay one click away
        else:
            shown.discard("service_areas")

    base = BASEMAPS.get(opts.basemap)
    m = folium.Map(
        location=centre,
        zoom_start=zoom,
        tiles=None,
        zoom_control=False,
        control_scale=False,
        min_zoom=3,
        max_zoom=int(base["max_zoom"]) if base else 20,
        font_size="13px",
        zoom_snap=0.25,
        zoom_delta=0.5,
    )
    m.default_js = [
        ("leaflet", static_url(prefix, "vendor/leaflet/leaflet.js")),
        ("leaflet_fullscreen", static_url(prefix, "vendor/leaflet.fullscreen/Control.FullScreen.js")),
        *((f"dangjian_{name}", static_url(prefix, f"dangjian/{name}.js")) for name in PAGE_SCRIPTS),
    ]
    m.default_css = [
        ("leaflet_css", static_url(prefix, "vendor/leaflet/leaflet.css")),
        ("leaflet_fullscreen_css", static_url(prefix, "vendor/leaflet.fullscreen/Control.FullScreen.css")),
        ("dangjian_css", static_url(prefix, "dangjian/map.css")),
    ]
    fig = m.get_root()
    assert isinstance(fig, Figure)
    fig.header.add_child(Element(f'<link rel="icon" type="image/svg+xml" href="{static_url(prefix, "dangjian/favicon.svg")}"/>'), name="favicon")
    fig.title = html.escape(f"{ds.meta.get('summary', {}).get('name', '')} {text('map.subtitle', lang, minutes=float(params.get('minutes', 15)))}".strip())

    if base is not None:
        key = settings.tianditu_key
        folium.TileLayer(
            tiles=base["url"].replace("{key}", key), attr=base["attr"], name=text("map.basemap." + opts.basemap, lang),
            subdomains=base.get("subdomains", "abc"), max_zoom=base["max_zoom"], overlay=False, control=True,
        ).add_to(m)
        if "labels" in base:
            folium.TileLayer(
                tiles=base["labels"].replace("{key}", key), attr=base["attr"], name=f'{text("map.basemap." + opts.basemap, lang)} {text("map.basemap.labels", lang)}',
                subdomains=base.get("subdomains", "abc"), max_zoom=base["max_zoom"], overlay=True, control=False,
            ).add_to(m)
    tile_query = "&".join(coverage_query(opts, coords=coords))
    groups: dict[str, folium.FeatureGroup | folium.TileLayer] = {}
    specs: list[dict[str, Any]] = []
    for layer in MAP_LAYERS:
        if not ds.has(layer):
            continue
        if layer in RASTER_OK and int(shapely.get_num_coordinates(ds[layer].geometry.to_numpy()).sum()) > RASTER_ABOVE_VERTICES:
            query = "&".join(q for q in (tile_query, f"cells={opts.cells}" if layer == "cells" else "") if q)
            groups[layer] = folium.TileLayer(
                tiles=f"{prefix}/tiles/{layer}/{{z}}/{{x}}/{{y}}{{r}}.png" + (f"?{query}" if query else ""),
                attr="dangjian-map", name=text("layer." + layer, lang), overlay=True, control=True,
                show=layer in shown, max_zoom=20, min_zoom=3, z_index=10 + MAP_LAYERS.index(layer),
            ).add_to(m)
            continue
        group = folium.FeatureGroup(name=text("layer." + layer, lang), show=layer in shown, overlay=True, control=True)
        group.add_to(m)
        groups[layer] = group
        columns = [str(c) for c in ds[layer].columns]
        specs.append({"name": layer, "url": _layer_url(prefix, layer, columns, opts, coords)})
    for z_index, layer in enumerate(CONTEXT_LAYERS, start=2):
        if not ds.has(layer):
            continue
        folium.TileLayer(
            tiles=f"{prefix}/tiles/{layer}/{{z}}/{{x}}/{{y}}{{r}}.png" + (f"?coords={coords}" if coords != "wgs84" else ""),
            attr="dangjian-map", name=text("layer." + layer, lang), overlay=True, control=True,
            show=layer in shown, max_zoom=20, min_zoom=3, z_index=z_index,
        ).add_to(m)

    config = {
        "lang": lang,
        "embed": opts.embed,
        "basemap": opts.basemap,
        "words": page_words(lang),
        "style": layer_style(),
        "layers": specs,
        "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        "focus": focus,
        "cellKind": opts.cells,
        "canvasAbove": CANVAS_ABOVE,
        "target": float(params.get("minutes", 15)),
        "gapRows": GAP_ROWS,
        "route": _route_url(prefix, opts, coords),
        "title": None if opts.embed else title_card(
            ds.meta.get("summary", {}), ds["compounds"], params, focus, lang, ds.meta.get("scenario") if opts.scenario else None
        ),
        "legend": legend(params, lang, method),
    }
    _DangjianLayers(config, groups).add_to(m)
    folium.LayerControl(position="topright", collapsed=opts.embed).add_to(m)
    page = fig.render()
    body_class = " ".join(c for c in ("dj-embed" if opts.embed else "", "dj-paper" if opts.basemap == "none" else "") if c)
    page = page.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    if body_class:
        page = page.replace("<body>", f'<body class="{body_class}">', 1)
    return page
