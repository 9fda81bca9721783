"""The coverage map page: a folium map whose layers load from the service's own endpoints.

The page is small (a few kilobytes of HTML): folium lays out the Leaflet map,
the basemap and one empty layer group per layer; ``static/dangjian/map.js``
then fetches every layer as GeoJSON from ``/collections/{layer}/items`` and
draws it in the shared palette (:func:`layers.render.layer_style`), with
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

import hashlib
import html
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import folium
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

from api.deps import DatasetState
from api.settings import Settings
from geo.errors import InvalidValueError, NotFoundError
from geo.tiles import fit_zoom
from layers.i18n import CATALOGUES, check_lang, text
from layers.render import COMPOUND_STATES, PALETTE, layer_style
from layers.schema import LEVELS, CenterStatus

STATIC_DIR = Path(__file__).resolve().parent / "static"

#: Vector layers the page draws from GeoJSON, in the layer switcher's order (panes set the drawing order).
MAP_LAYERS: tuple[str, ...] = ("centers", "compounds", "circles", "service_areas", "boundary", "units", "grids", "cells")
#: Context layers drawn from the service's own PNG tiles (the offline "basemap").
CONTEXT_LAYERS: tuple[str, ...] = ("rivers", "roads")
#: Shown when the page opens, unless ``?layers=`` says otherwise.
DEFAULT_SHOWN: frozenset[str] = frozenset({"boundary", "circles", "service_areas", "compounds", "centers", "rivers", "roads"})
#: Attributes each layer's GeoJSON carries to the page (only those present are asked for).
MAP_PROPERTIES: dict[str, tuple[str, ...]] = {
    "boundary": ("name", "level", "parent"),
    "cells": ("kind", "households", "covered_households", "coverage"),
    "grids": ("name", "parent", "households", "compounds", "coverage", "staffing"),
    "units": ("name", "bounded_by", "households", "compounds", "coverage"),
    "circles": ("center_id", "level", "status", "minutes"),
    "service_areas": ("center_id", "level", "status", "minutes"),
    "compounds": (
        "name", "state", "households", "population", "community", "has_party_org",
        "nearest_center_name", "walk_min", "walk_m", "flags",
    ),
    "centers": ("name", "level", "status", "community"),
}
#: Above this many features a layer is drawn on canvas instead of SVG.
CANVAS_ABOVE = 3000
#: Layers the page may draw from the service's PNG tiles instead of GeoJSON when they are big
#: (compounds and centres stay vector: their popups and the search need the features).
RASTER_OK: frozenset[str] = frozenset({"cells", "grids", "units", "circles", "service_areas", "boundary"})
#: Above this many vertices such a layer comes as PNG tiles (the demo's largest layer has ~6,000).
RASTER_ABOVE_VERTICES = 60_000

BASEMAPS: dict[str, dict[str, Any]] = {
    "osm": {
        "url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "attr": '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a>',
        "hosts": ["https://tile.openstreetmap.org"],
        "max_zoom": 19,
    },
    "tianditu": {
        "url": (
            "https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
        ),
        "labels": (
            "https://t{s}.tianditu.gov.cn/cva_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=cva"
            "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}"
        ),
        "attr": "&copy; 天地图 Tianditu",
        "subdomains": "01234567",
        "hosts": ["https://*.tianditu.gov.cn"],
        "max_zoom": 18,
    },
    "amap": {
        "url": "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        "attr": "&copy; 高德地图 AutoNavi",
        "subdomains": "1234",
        "hosts": ["https://*.is.autonavi.com"],
        "max_zoom": 18,
    },
}
_TIANDITU_KEY = re.compile(r"^[A-Za-z0-9]{8,64}$")


@dataclass(frozen=True)
class MapOptions:
    """What one map page shows.

    Attributes
    ----------
    lang
        ``zh`` or ``en``.
    minutes, method
        Coverage to show (``None``: as built).
    layers
        Layers switched on when the page opens (``None``: the defaults).
    community, subdistrict
        Zoom to one community or subdistrict (by name).
    basemap
        ``none``, ``osm``, ``tianditu`` or ``amap`` (our layers shift to GCJ-02).
    cells
        Analysis cells to draw: ``h3`` hexagons or ``square`` cells.
    embed
        Without the title card, for iframes.
    scenario
        A stored what-if scenario to show instead of the base (its id).
    access_token
        A read token the page passes on to its feature and tile URLs (when reads need one).
    """

    lang: str = "zh"
    minutes: float | None = None
    method: str | None = None
    scenario: str | None = None
    access_token: str | None = None
    layers: tuple[str, ...] | None = None
    community: str | None = None
    subdistrict: str | None = None
    basemap: str = "none"
    cells: str = "h3"
    embed: bool = False


def parse_layers(value: str | None) -> tuple[str, ...] | None:
    """``compounds,centers`` -> a tuple of map layer names; an error naming ``layers`` for unknown ones."""
    if value is None:
        return None
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    known = (*MAP_LAYERS, *CONTEXT_LAYERS)
    bad = [n for n in names if n not in known]
    if bad:
        msg = f"`layers` has unknown layers {', '.join(map(repr, bad))}; choose from {', '.join(known)}"
        raise InvalidValueError(msg, field="layers")
    return names


def basemap_hosts(basemap: str) -> list[str]:
    """Origins the page may load basemap images from (for the Content-Security-Policy)."""
    return list(BASEMAPS.get(basemap, {}).get("hosts", []))


@cache
def _asset_version(relative: str) -> str:
    return hashlib.sha1((STATIC_DIR / relative).read_bytes()).hexdigest()[:10]


def static_url(prefix: str, relative: str) -> str:
    """Same-origin URL of a shipped asset, with a content hash so browsers never keep a stale copy."""
    return f"{prefix}/static/{relative}?v={_asset_version(relative)}"


def json_for_script(value: Any) -> str:
    """JSON safe to place inside a ``<script>`` element (``<``, ``>``, ``&`` and line separators escaped)."""
    s = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        s = s.replace(a, b)
    return s


def _finite_bounds(b: np.ndarray) -> tuple[float, float, float, float] | None:
    if b is None or len(b) != 4 or not np.all(np.isfinite(b)):
        return None
    return float(b[0]), float(b[1]), float(b[2]), float(b[3])


def focus_bounds(state: DatasetState, opts: MapOptions) -> tuple[tuple[float, float, float, float], dict[str, str] | None]:
    """WGS84 bounds the page opens on, and the community/subdistrict in focus.

    Raises
    ------
    NotFoundError
        Naming ``community`` or ``subdistrict`` when no boundary polygon or
        compound carries that name.
    """
    ds = state.dataset()
    boundary, compounds = ds["boundary"], ds["compounds"]
    for field, name in (("community", opts.community), ("subdistrict", opts.subdistrict)):
        if not name:
            continue
        hit = boundary[(boundary["level"] == field) & (boundary["name"] == name)] if len(boundary) else boundary
        if len(hit):
            return _finite_bounds(hit.total_bounds) or (0, 0, 0, 0), {"name": name, "level": field}
        if field in compounds.columns:
            inside = compounds[compounds[field].astype(str) == name]
            if len(inside):
                return _finite_bounds(inside.total_bounds) or (0, 0, 0, 0), {"name": name, "level": field}
        known = sorted(set(boundary.loc[boundary["level"] == field, "name"].astype(str))) if len(boundary) else []
        if not known and field in compounds.columns:
            known = sorted(set(compounds[field].astype(str)) - {""})
        msg = f"`{field}` {name!r} is not in the dataset" + (f"; {field} names: {', '.join(known[:20])}" if known else "")
        raise NotFoundError(msg, field=field)
    district = boundary[boundary["level"] == "district"] if len(boundary) else boundary
    for frame in (district, boundary, compounds, ds["roads"]):
        b = _finite_bounds(frame.total_bounds) if len(frame) else None
        if b:
            return b, None
    return (73.5, 18.0, 135.0, 53.5), None


def _shift_bounds(bounds: tuple[float, float, float, float], basemap: str) -> tuple[float, float, float, float]:
    if basemap != "amap":
        return bounds
    from geo.chinacoords import wgs84_to_gcj02

    lon, lat = wgs84_to_gcj02(np.array([bounds[0], bounds[2]]), np.array([bounds[1], bounds[3]]))
    return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])


def _words(lang: str) -> dict[str, str]:
    prefixes = ("layer.", "field.", "state.", "level.", "status.", "flag.", "map.", "method.")
    cat = {**CATALOGUES["zh"], **CATALOGUES[lang]}
    return {k: v for k, v in cat.items() if k.startswith(prefixes) or k in ("yes", "no")}


def _tone(share: float) -> str:
    return "good" if share >= 0.95 else ("warn" if share >= 0.8 else "bad")


def _title(
    summary: dict[str, Any], compounds: pd.DataFrame, params: dict[str, Any], focus: dict[str, str] | None, lang: str,
    scenario: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The title card: district name, subtitle and the three headline figures (of the focus area when zoomed).

    ``scenario`` (``meta["scenario"]`` of a what-if dataset) adds a line naming the scenario shown.
    """
    if focus is not None and focus["level"] in compounds.columns:
        part = compounds[compounds[focus["level"]].astype(str) == focus["name"]]
    else:
        part = compounds
    cov = part["covered"].astype(bool).to_numpy() if "covered" in part else np.zeros(len(part), bool)
    hh = part["households"].to_numpy(dtype="int64")
    n, n_cov = len(part), int(cov.sum())
    h, h_cov = int(hh.sum()), int(hh[cov].sum())
    c_share = n_cov / n if n else 0.0
    h_share = h_cov / h if h else 0.0
    return {
        "name": summary.get("name", ""),
        "subtitle": text("map.subtitle", lang, minutes=float(params.get("minutes", 15))),
        "kpis": [
            {"label": text("map.kpi.compounds", lang), "value": f"{c_share:.1%}", "sub": text("map.kpi.compounds_of", lang, covered=n_cov, total=n), "tone": _tone(c_share)},
            {"label": text("map.kpi.households", lang), "value": f"{h_share:.1%}", "sub": text("map.kpi.households_of", lang, covered=h_cov, total=h), "tone": _tone(h_share)},
            {"label": text("map.kpi.uncovered", lang), "value": str(n - n_cov), "sub": text("map.kpi.uncovered_of", lang, households=h - h_cov), "tone": "good" if n == n_cov else "bad"},
        ],
        "note": text(
            "map.note", lang,
            method=text("method." + str(params.get("method", "circle")), lang),
            speed=float(params.get("speed_kmh", 4.0)),
            centers=int(summary.get("centers", {}).get("counted", 0)),
        ),
        "focus": text("map.focus", lang, name=focus["name"]) if focus else None,
        "scenario": text("map.scenario", lang, name=scenario.get("name") or scenario.get("id", "")) if scenario else None,
    }


def _legend(params: dict[str, Any], lang: str, method: str) -> dict[str, Any]:
    bands = sorted({float(b) for b in params.get("bands", []) if float(b) < float(params.get("minutes", 15))} | {float(params.get("minutes", 15))})
    return {
        "title": text("map.legend", lang),
        "compounds": text("layer.compounds", lang),
        "states": [{"key": s, "label": text("state." + s, lang)} for s in COMPOUND_STATES],
        "centers": text("layer.centers", lang),
        "levels": [{"key": lv, "label": text("level." + lv, lang)} for lv in LEVELS],
        "status": text("map.legend.status", lang),
        "statuses": [{"key": s.value, "label": text("status." + s.value, lang)} for s in CenterStatus],
        "circles": text("map.legend.circles", lang, minutes="/".join(f"{b:g}" for b in bands)),
        "circle_note": text("layer.service_areas" if method == "network" else "layer.circles", lang),
        "network": method == "network",
        "cells": text("map.legend.cells", lang),
    }


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

    def __init__(self, config: dict[str, Any], groups: dict[str, folium.FeatureGroup]) -> None:
        super().__init__()
        self._name = "DangjianLayers"
        self.config_json = json_for_script(config)
        self.groups_js = "{" + ",".join(f"{json.dumps(k)}: {g.get_name()}" for k, g in groups.items()) + "}"


def _layer_url(prefix: str, layer: str, columns: list[str], opts: MapOptions, coords: str) -> str:
    props = [p for p in MAP_PROPERTIES.get(layer, ()) if p in columns or (layer == "compounds" and p == "state")]
    query = ["limit=10000", f"properties={','.join(props)}"]
    if opts.minutes is not None:
        query.append(f"minutes={opts.minutes:g}")
    if opts.method is not None:
        query.append(f"method={opts.method}")
    if opts.scenario:
        query.append(f"scenario={opts.scenario}")
    if opts.access_token:
        query.append(f"access_token={opts.access_token}")
    if coords != "wgs84":
        query.append(f"coords={coords}")
    return f"{prefix}/collections/{layer}/items?" + "&".join(quote(q, safe="=,") for q in query)


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
    if opts.basemap == "tianditu" and not _TIANDITU_KEY.match(settings.tianditu_key or ""):
        msg = "`basemap` tianditu needs a Tianditu key (setting DANGJIAN_TIANDITU_KEY, letters and digits)"
        raise InvalidValueError(msg, field="basemap")
    ds, _ = state.variant(opts.minutes, opts.method, opts.scenario)
    params = ds.meta.get("params", {})
    method = str(params.get("method", "circle"))
    coords = "gcj02" if opts.basemap == "amap" else "wgs84"
    bounds, focus = focus_bounds(state, opts)
    bounds = _shift_bounds(bounds, opts.basemap)
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
        ("dangjian", static_url(prefix, "dangjian/map.js")),
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
    tile_query = "&".join(
        q for q in (
            f"minutes={opts.minutes:g}" if opts.minutes is not None else "",
            f"method={opts.method}" if opts.method is not None else "",
            f"scenario={opts.scenario}" if opts.scenario else "",
            f"access_token={quote(opts.access_token, safe='')}" if opts.access_token else "",
            f"coords={coords}" if coords != "wgs84" else "",
        ) if q
    )
    groups: dict[str, folium.FeatureGroup] = {}
    specs: list[dict[str, Any]] = []
    for layer in MAP_LAYERS:
        if not ds.has(layer):
            continue
        if layer in RASTER_OK and int(shapely.get_num_coordinates(ds[layer].geometry.to_numpy()).sum()) > RASTER_ABOVE_VERTICES:
            query = "&".join(q for q in (tile_query, f"cells={opts.cells}" if layer == "cells" else "") if q)
            folium.TileLayer(
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
        "words": _words(lang),
        "style": layer_style(),
        "layers": specs,
        "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
        "focus": focus,
        "cellKind": opts.cells,
        "canvasAbove": CANVAS_ABOVE,
        "title": None if opts.embed else _title(
            ds.meta.get("summary", {}), ds["compounds"], params, focus, lang, ds.meta.get("scenario") if opts.scenario else None
        ),
        "legend": _legend(params, lang, method),
    }
    _DangjianLayers(config, groups).add_to(m)
    folium.LayerControl(position="topright", collapsed=opts.embed).add_to(m)
    page = fig.render()
    body_class = " ".join(c for c in ("dj-embed" if opts.embed else "", "dj-paper" if opts.basemap == "none" else "") if c)
    page = page.replace("<html>", f'<html lang="{"zh-CN" if lang == "zh" else "en"}">', 1)
    if body_class:
        page = page.replace("<body>", f'<body class="{body_class}">', 1)
    return page


_SCRIPT_TAG = re.compile(r"<script(?=[\s>])")


def add_nonce(page: str, nonce: str) -> str:
    """Give every ``<script>`` element of a page the CSP ``nonce`` (escaped data never contains ``<script``)."""
    return _SCRIPT_TAG.sub(f'<script nonce="{nonce}"', page)


def content_security_policy(nonce: str | None, *, basemap: str, frame_ancestors: list[str]) -> str:
    """The CSP of the service: scripts only from the service (and with the page's ``nonce``), data only from the
    service, images also from the basemap, framing only by ``frame_ancestors`` (``'none'`` when empty).

    Pages pass their fresh ``nonce``; every other response gets the same policy without one.
    """
    img = " ".join(["'self'", "data:", "blob:", *basemap_hosts(basemap)])
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    script = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    return (
        f"default-src 'self'; script-src {script}; style-src 'self' 'unsafe-inline'; "
        f"img-src {img}; connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; "
        f"form-action 'none'; frame-ancestors {ancestors}"
    )


_ANCESTOR = re.compile(r"^(?:'self'|'none'|\*|(?:https?://)?[\w.*-]+(?::\d+)?)$")


def allowed_ancestors(values: list[str]) -> list[str]:
    """The ``frame_ancestors`` setting's entries that are valid CSP sources (others dropped)."""
    return [a for a in values if _ANCESTOR.match(a)]


__all__ = [
    "BASEMAPS", "CONTEXT_LAYERS", "MAP_LAYERS", "MapOptions", "PALETTE", "add_nonce", "allowed_ancestors", "content_security_policy",
    "coverage_map_html", "focus_bounds", "json_for_script", "parse_layers",
]
