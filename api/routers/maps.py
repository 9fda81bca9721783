"""Map pages: ``/maps/coverage`` (the full page) and ``/embed/coverage`` (the same map for iframes).

Both are folium pages built by :func:`api.maps.coverage_page.coverage_map_html`; their data
loads from the service's own endpoints.  Each answer carries a
Content-Security-Policy whose script nonce is fresh per response (inline
event handlers can never run, even if a name slipped through unescaped) and
whose ``frame-ancestors`` lists the iframe parents allowed by the settings.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from api.auth import access_token, bearer_token
from api.http import path_prefix
from api.maps.coverage_page import coverage_map_html
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


def _page(request: Request, state: StateDep, settings: Settings, opts: MapOptions) -> HTMLResponse:
    if settings.read_requires_token:  # the page's own feature and tile requests need the reader's token too
        opts = replace(opts, access_token=access_token(request) or bearer_token(request))
    nonce = secrets.token_urlsafe(16)
    page = add_nonce(coverage_map_html(state, settings, opts, prefix=path_prefix(request, settings)), nonce)
    headers = {
        "Content-Security-Policy": content_security_policy(nonce, basemap=opts.basemap, frame_ancestors=_ancestors(settings)),
        "Cache-Control": "no-store",
        "Referrer-Policy": "strict-origin-when-cross-origin",
    }
    return HTMLResponse(page, headers=headers)


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
