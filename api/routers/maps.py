"""Map pages: ``/maps/coverage`` and ``/maps/3d`` (full pages), ``/embed/coverage`` and ``/embed/3d`` (for iframes).

The coverage map is a folium page built by :func:`api.maps.coverage_page.coverage_map_html`, the 3D
party-building map a MapLibre GL JS page built by :func:`api.maps.map3d_page.map3d_html`; their
data loads from the service's own endpoints.  Each answer carries a
Content-Security-Policy whose script nonce is fresh per response (inline
event handlers can never run, even if a name slipped through unescaped) and
whose ``frame-ancestors`` lists the iframe parents allowed by the settings
(the 3D pages may also start MapLibre's tile worker from a ``blob:`` URL).
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import access_token, bearer_token
from api.http import path_prefix
from api.maps.coverage_page import coverage_map_html
from api.maps.map3d_page import map3d_html, warm_tile_sources
from api.maps.options import MapOptions, parse_layers
from api.maps.security import add_nonce, allowed_ancestors, content_security_policy
from api.settings import Settings
from api.state.deps import CoverageDep, SettingsDep, StateDep, example

router = APIRouter(tags=["maps"])

LangQuery = Annotated[Literal["zh", "en"] | None, Query(description="Page language (default: the setting, zh)", openapi_examples=example("en"))]
LayersQuery = Annotated[
    str | None,
    Query(
        description="Layers switched on at start, comma-separated: boundary, compounds, centers, circles, service_areas, units, grids, cells, roads, rivers",
        openapi_examples=example("compounds,centers,cells"),
    ),
]
CommunityQuery = Annotated[str | None, Query(max_length=100, description="Zoom to this community (社区) by name", openapi_examples=example("锦绣社区"))]
SubdistrictQuery = Annotated[str | None, Query(max_length=100, description="Zoom to this subdistrict (街道) by name", openapi_examples=example("滨河街道"))]
BasemapQuery = Annotated[
    Literal["none", "osm", "tianditu", "amap"] | None,
    Query(description="Basemap (default: the setting, none = offline)", openapi_examples=example("none")),
]
CellsQuery = Annotated[Literal["h3", "square"], Query(description="Analysis cells to draw: H3 hexagons or squares")]

def _ancestors(settings: Settings) -> list[str]:
    return allowed_ancestors(list(settings.frame_ancestors))


def _page(request: Request, state: StateDep, settings: Settings, opts: MapOptions, *, three_d: bool = False) -> HTMLResponse:
    if settings.read_requires_token:  # the page's own feature and tile requests need the reader's token too
        opts = replace(opts, access_token=access_token(request) or bearer_token(request))
    nonce = secrets.token_urlsafe(16)
    prefix = path_prefix(request, settings)
    if three_d:
        page = map3d_html(state, replace(opts, basemap="none"), prefix=prefix)
    else:
        page = coverage_map_html(state, settings, opts, prefix=prefix)
    policy = content_security_policy(
        nonce, basemap="none" if three_d else opts.basemap, frame_ancestors=_ancestors(settings), workers=three_d
    )
    headers = {"Content-Security-Policy": policy, "Cache-Control": "no-store", "Referrer-Policy": "strict-origin-when-cross-origin"}
    return HTMLResponse(add_nonce(page, nonce), headers=headers)


async def map_options(
    settings: SettingsDep,
    coverage: CoverageDep,
    lang: LangQuery = None,
    layers: LayersQuery = None,
    community: CommunityQuery = None,
    subdistrict: SubdistrictQuery = None,
    basemap: BasemapQuery = None,
    cells: CellsQuery = "h3",
) -> MapOptions:
    """The query parameters of a map page (both pages share them) as :class:`MapOptions`."""
    return MapOptions(
        lang=lang or settings.lang,
        minutes=coverage.minutes,
        method=coverage.method,
        scenario=coverage.scenario,
        layers=parse_layers(layers),
        community=community or None,
        subdistrict=subdistrict or None,
        basemap=basemap or settings.basemap,
        cells=cells,
    )


MapOptionsDep = Annotated[MapOptions, Depends(map_options)]


@router.get("/maps/coverage", response_class=HTMLResponse, summary="Coverage map page")
def coverage_map(request: Request, state: StateDep, settings: SettingsDep, opts: MapOptionsDep) -> HTMLResponse:
    """The full map: compounds by coverage, centres by level and status, service circles, units, grids, cells.

    With a title card of the headline figures, legend, scale bar, full screen,
    search by name and a layer switcher.  Chinese unless ``lang=en``.
    """
    return _page(request, state, settings, opts)


@router.get("/embed/coverage", response_class=HTMLResponse, summary="Coverage map for iframes")
def embed_coverage(request: Request, state: StateDep, settings: SettingsDep, opts: MapOptionsDep) -> HTMLResponse:
    """The same map without the title card, legend folded, for ``<iframe src=".../embed/coverage">``."""
    return _page(request, state, settings, replace(opts, embed=True))


@router.get("/maps/3d", response_class=HTMLResponse, summary="3D party-building map page")
def map_3d(request: Request, state: StateDep, settings: SettingsDep, opts: MapOptionsDep, background: BackgroundTasks) -> HTMLResponse:
    """The 3D party-building map (三维党建地图), offline: MapLibre GL JS served by the service on its vector tiles.

    Compounds rise by storeys (or households) in their coverage colours, centres stand as columns
    by level, units, grids and boundaries are outlines, party organisations are dots by type when
    the dataset has them; with the title card, search and legend.  ``basemap`` is ignored: the
    roads and rivers are the service's own tiles.  Chinese unless ``lang=en``.  After the answer the
    service prepares the layers' tiles the page will ask for.
    """
    response = _page(request, state, settings, opts, three_d=True)
    background.add_task(warm_tile_sources, state, opts)
    return response


@router.get("/embed/3d", response_class=HTMLResponse, summary="3D party-building map for iframes")
def embed_3d(request: Request, state: StateDep, settings: SettingsDep, opts: MapOptionsDep, background: BackgroundTasks) -> HTMLResponse:
    """The 3D map without the title card and the link to the 2D map, for ``<iframe src=".../embed/3d">``."""
    response = _page(request, state, settings, replace(opts, embed=True), three_d=True)
    background.add_task(warm_tile_sources, state, opts)
    return response
