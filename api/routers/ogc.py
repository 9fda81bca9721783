"""The OGC API entry points: the landing page ``/`` and ``/conformance``.

``/`` answers clients and browsers differently, decided once per request by
:func:`wants_json`: the landing page as JSON (``?f=json``, or any ``Accept``
header not preferring ``text/html`` to ``application/json``) with the links an
OGC API - Features client starts from (``self``, ``service-desc``,
``service-doc``, ``conformance``, ``data``), else the redirect to the
coverage map that browsers have always had.  Links are absolute, from
:func:`api.http.public_base` (the public URL behind a proxy).

``/conformance`` lists only the classes the service meets: Part 1 core,
GeoJSON and the OpenAPI definition, Part 2 CRS by reference (:mod:`api.ogc_crs`), and OGC API - Tiles
(:mod:`api.routers.ogc_tiles`).  Not ``html``: the service has no HTML
landing, collections or items pages, only the map.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from api.http import public_base
from api.openapi30 import to_openapi30
from api.routers.features import MAX_LIMIT
from api.routers.ogc_tiles import REL_SCHEMES, TILES_CONFORMANCE
from api.state.deps import SettingsDep, StateDep, example
from layers.i18n import text

router = APIRouter(tags=["features"])

OPENAPI_JSON = "application/vnd.oai.openapi+json;version=3.0"
CONF = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf"
CONFORMANCE = [
    f"{CONF}/core", f"{CONF}/geojson", f"{CONF}/oas30", "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs", *TILES_CONFORMANCE,
]
#: The API definition of the service as OGC API clients read it (``service-desc``).
API_PATH = "/api"
#: The templated items path of :mod:`api.routers.features`.
ITEMS_PATH = "/collections/{layer}/items"

LangQuery = Annotated[Literal["zh", "en"], Query(description="Language of the title, description and link titles", openapi_examples=example("zh"))]
LandingFormat = Annotated[
    Literal["json", "html"] | None,
    Query(description="`json`: the OGC API landing page; `html`: the coverage map (default: from `Accept`)"),
]


def _quality(accept: str, media_type: str) -> float:
    """The ``q`` an ``Accept`` header gives ``media_type`` itself (not through wildcards), 0 if unnamed."""
    best = 0.0
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() != media_type:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_json(request: Request, f: str | None) -> bool:
    """Whether ``/`` answers the JSON landing page rather than the map.

    ``f`` decides when given; else the map only for an ``Accept`` header
    naming ``text/html`` above ``application/json`` (every browser does).
    Clients sending ``*/*`` or no ``Accept`` at all (OWSLib, GDAL, curl) get
    JSON, as pygeoapi answers them.
    """
    if f is not None:
        return f == "json"
    accept = request.headers.get("accept", "")
    html_q = _quality(accept, "text/html")
    return html_q == 0 or _quality(accept, "application/json") >= html_q


def landing_page(base: str, *, openapi_url: str, lang: str) -> dict[str, Any]:
    """The OGC API landing page document with absolute links under ``base``."""

    def link(href: str, rel: str, media_type: str, key: str) -> dict[str, str]:
        return {"href": f"{base}{href}", "rel": rel, "type": media_type, "title": text(f"ogc.link.{key}", lang)}

    suffix = "" if lang == "zh" else f"&lang={lang}"
    return {
        "title": text("ogc.title", lang),
        "description": text("ogc.description", lang),
        "links": [
            link(f"/?f=json{suffix}", "self", "application/json", "self"),
            link(openapi_url, "service-desc", OPENAPI_JSON, "service_desc"),
            link("/docs", "service-doc", "text/html", "service_doc"),
            link("/conformance", "conformance", "application/json", "conformance"),
            link(f"/collections{suffix.replace('&', '?', 1)}", "data", "application/json", "data"),
            link("/tileMatrixSets", REL_SCHEMES, "application/json", "tiling_schemes"),
        ],
    }


@router.get("/", summary="Landing page (JSON for clients, the coverage map for browsers)", responses={307: {"description": "Browsers: to the map"}})
def landing(request: Request, settings: SettingsDep, f: LandingFormat = None, lang: LangQuery = "zh") -> Response:
    """The OGC API landing page as JSON (``f=json``, or no ``Accept`` preferring HTML); browsers go to ``maps/coverage``."""
    headers = {"Vary": "Accept"}
    if not wants_json(request, f):
        return RedirectResponse(url="maps/coverage", status_code=307, headers=headers)
    body = landing_page(public_base(request, settings), openapi_url=API_PATH, lang=lang)
    return JSONResponse(body, headers=headers)


@router.get("/conformance", summary="OGC API conformance classes")
def conformance() -> dict[str, Any]:
    """The OGC API - Features conformance classes the service meets (core, GeoJSON, OpenAPI)."""
    return {"conformsTo": CONFORMANCE}


def _limit_parameter(templated: dict[str, Any]) -> dict[str, Any]:
    """The shared ``limit`` parameter: ``maximum`` is the page size clients ask for, no ``default``.

    GDAL's OAPIF driver takes its page size from a ``$ref``'d ``limit`` of the
    collection's own items path: the smaller of ``maximum`` and the larger of
    ``default`` and 1,000.  Without a ``default`` it pages ``maximum``
    (10,000) at a time; the server's default (1,000) is in the description.
    """
    schema = {k: v for k, v in templated.get("schema", {}).items() if k not in ("default", "examples", "title")}
    return {
        **{k: v for k, v in templated.items() if k not in ("schema", "examples")},
        "name": "limit",
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": f"Features per page (default 1000); more than {MAX_LIMIT:,} is capped at {MAX_LIMIT:,}",
        "schema": {**schema, "type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    }


def api_document(spec: dict[str, Any], layers: list[str]) -> dict[str, Any]:
    """The OpenAPI document ``spec`` with one items path per collection, ``limit`` by ``$ref``.

    OGC API clients look parameters up under the concrete path of a
    collection (``/collections/compounds/items``), not the template; each
    gets the templated operation without the ``layer`` path parameter.
    """
    doc = copy.deepcopy(spec)
    paths = doc.setdefault("paths", {})
    operation = paths.get(ITEMS_PATH, {}).get("get")
    if operation is None:
        return doc
    ref = {"$ref": "#/components/parameters/limit"}
    params = operation.get("parameters", [])
    templated = next((p for p in params if p.get("name") == "limit" and p.get("in") == "query"), {})
    doc.setdefault("components", {}).setdefault("parameters", {})["limit"] = _limit_parameter(templated)
    operation["parameters"] = [ref if p is templated else p for p in params]
    for layer in layers:
        own = copy.deepcopy(operation)
        own["operationId"] = f"{operation.get('operationId', 'items')}_{layer}"
        own["summary"] = f"Features of `{layer}` (GeoJSON or CSV)"
        own["parameters"] = [p for p in own["parameters"] if not (p.get("in") == "path" and p.get("name") == "layer")]
        paths[f"/collections/{layer}/items"] = {"get": own}
    return doc


@router.get(API_PATH, summary="The API definition for OGC API clients (OpenAPI, one items path per collection)")
def api_definition(request: Request, state: StateDep) -> JSONResponse:
    """``/openapi.json`` as OpenAPI 3.0, with an items path for each served collection and ``limit`` shared by ``$ref``."""
    return JSONResponse(to_openapi30(api_document(request.app.openapi(), state.layer_names())), media_type=OPENAPI_JSON)
