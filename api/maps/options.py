"""What a map page shows: :class:`MapOptions`, the layer names a page knows and the basemaps it may use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from geo.errors import InvalidValueError

#: Vector layers the page draws from GeoJSON, in the layer switcher's order (panes set the drawing order).
MAP_LAYERS: tuple[str, ...] = (
    "centers", "party_orgs", "compounds", "circles", "service_areas", "boundary", "units", "grids", "cells",
)
#: Context layers drawn from the service's own PNG tiles (the offline "basemap").
CONTEXT_LAYERS: tuple[str, ...] = ("rivers", "roads")
#: Shown when the page opens, unless ``?layers=`` says otherwise.
DEFAULT_SHOWN: frozenset[str] = frozenset(
    {"boundary", "circles", "service_areas", "compounds", "centers", "party_orgs", "rivers", "roads"}
)

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


def check_basemap(basemap: str, tianditu_key: str | None) -> None:
    """Raise :class:`InvalidValueError` naming ``basemap`` when Tianditu is asked for without a usable key."""
    if basemap == "tianditu" and not _TIANDITU_KEY.match(tianditu_key or ""):
        msg = "`basemap` tianditu needs a Tianditu key (setting DANGJIAN_TIANDITU_KEY, letters and digits)"
        raise InvalidValueError(msg, field="basemap")


def basemap_hosts(basemap: str) -> list[str]:
    """Origins the page may load basemap images from (for the Content-Security-Policy)."""
    return list(BASEMAPS.get(basemap, {}).get("hosts", []))


def coverage_query(opts: MapOptions, *, coords: str = "wgs84", token: bool = True) -> list[str]:
    """The ``key=value`` query parameters (URL-quoted) that carry a page's coverage variant to its data URLs.

    ``minutes``, ``method`` and ``scenario`` when given, the reader's ``access_token`` (unless ``token`` is false)
    and ``coords`` when it is not WGS84.
    """
    pairs = [
        ("minutes", f"{opts.minutes:g}" if opts.minutes is not None else None),
        ("method", opts.method),
        ("scenario", opts.scenario or None),
        ("access_token", (opts.access_token or None) if token else None),
        ("coords", coords if coords != "wgs84" else None),
    ]
    return [f"{k}={quote(v, safe=',')}" for k, v in pairs if v is not None]
