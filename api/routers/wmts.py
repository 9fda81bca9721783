"""WMTS 1.0.0 for the PNG tile layers, so ArcGIS, OpenLayers and QGIS add them by URL.

``GET /wmts/1.0.0/WMTSCapabilities.xml`` (RESTful) and
``GET /wmts?SERVICE=WMTS&REQUEST=GetCapabilities`` (KVP) answer the same
capabilities document: one layer per PNG tile layer of the served dataset,
its WGS84 bounding box, the ``GoogleMapsCompatible`` matrix set with the
tile limits of the zooms TileJSON advertises, and a ``ResourceURL``
template pointing at ``/tiles/{layer}/{TileMatrix}/{TileCol}/{TileRow}.png``.
``REQUEST=GetTile`` answers the very bytes of that tile route.

The matrix set is written from morecantile's ``WebMercatorQuad``
(:func:`geo.tiles.tile_matrix`), the grid the tile routes cut, so the two
cannot disagree.  KVP parameter names are case-insensitive (values are not);
bad parameters answer an OGC ``ExceptionReport`` (OWS 1.1) with 400.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.http import body_response, etag_for, etag_matches, not_modified, public_base
from api.routers.tiles import TILEJSON_MAX_ZOOM, TILEJSON_MIN_ZOOM, serve_tile, source_bounds
from api.settings import Settings
from api.state.dataset import DatasetState
from api.state.deps import CoordsQuery, CoverageQuery, SettingsDep, StateDep
from geo.errors import DangjianError
from geo.tiles import MAX_ZOOM, ORIGIN_SHIFT_M, tile_limits, tile_matrix
from layers.i18n import text
from layers.tiles.source import TILE_LAYERS

router = APIRouter(tags=["tiles"])

WMTS_NS = "http://www.opengis.net/wmts/1.0"
OWS_NS = "http://www.opengis.net/ows/1.1"
XLINK_NS = "http://www.w3.org/1999/xlink"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{WMTS_NS} http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd"
for _prefix, _uri in (("", WMTS_NS), ("ows", OWS_NS), ("xlink", XLINK_NS), ("xsi", XSI_NS)):
    ET.register_namespace(_prefix, _uri)

#: The only tile matrix set served: OGC's well-known Web Mercator set (morecantile's ``WebMercatorQuad``).
MATRIX_SET = "GoogleMapsCompatible"
WELL_KNOWN_SCALE_SET = "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"
SUPPORTED_CRS = "urn:ogc:def:crs:EPSG::3857"
FORMAT = "image/png"
STYLE = "default"
XML = "application/xml"
#: Tile matrices in the set: every zoom the tile route answers.
MATRIX_ZOOMS = range(MAX_ZOOM + 1)
#: Zooms each layer's TileMatrixSetLimits list: the ones TileJSON advertises.
LIMIT_ZOOMS = range(TILEJSON_MIN_ZOOM, TILEJSON_MAX_ZOOM + 1)

LangQuery = Annotated[Literal["zh", "en"], Query(description="Language of the titles: `zh` (default) or `en`")]


class OWSException(Exception):
    """An OGC exception answered as an ``ows:ExceptionReport``: a code, the parameter at fault, a status."""

    def __init__(self, code: str, message: str, *, locator: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.locator, self.status = code, message, locator, status


def exception_report(exc: OWSException) -> Response:
    """The OWS 1.1 ``ExceptionReport`` of ``exc``."""
    root = ET.Element(f"{{{OWS_NS}}}ExceptionReport", {"version": "1.1.0", "{http://www.w3.org/XML/1998/namespace}lang": "en"})
    attrs = {"exceptionCode": exc.code, **({"locator": exc.locator} if exc.locator else {})}
    node = ET.SubElement(root, f"{{{OWS_NS}}}Exception", attrs)
    ET.SubElement(node, f"{{{OWS_NS}}}ExceptionText").text = exc.message
    return Response(ET.tostring(root, encoding="utf-8", xml_declaration=True), status_code=exc.status, media_type=XML)


def _ows(parent: ET.Element, tag: str, value: str | None = None, attrs: dict[str, str] | None = None) -> ET.Element:
    node = ET.SubElement(parent, f"{{{OWS_NS}}}{tag}", attrs or {})
    if value is not None:
        node.text = value
    return node


def _wmts(parent: ET.Element, tag: str, value: str | None = None, attrs: dict[str, str] | None = None) -> ET.Element:
    node = ET.SubElement(parent, f"{{{WMTS_NS}}}{tag}", attrs or {})
    if value is not None:
        node.text = value
    return node


def _num(value: float) -> str:
    return repr(float(value))


def tile_layers(state: DatasetState) -> list[str]:
    """The PNG tile layers of the served dataset, in map order."""
    have = state.dataset().layers
    return [name for name in TILE_LAYERS if name in have]


def capabilities_xml(state: DatasetState, base: str, lang: str) -> bytes:
    """The WMTS 1.0.0 capabilities document of the served dataset (UTF-8 XML)."""
    root = ET.Element(f"{{{WMTS_NS}}}Capabilities", {"version": "1.0.0", f"{{{XSI_NS}}}schemaLocation": SCHEMA_LOCATION})
    ident = _ows(root, "ServiceIdentification")
    _ows(ident, "Title", text("ogc.title", lang))
    _ows(ident, "Abstract", text("wmts.abstract", lang))
    _ows(ident, "ServiceType", "OGC WMTS")
    _ows(ident, "ServiceTypeVersion", "1.0.0")
    provider = _ows(root, "ServiceProvider")
    _ows(provider, "ProviderName", "dangjian-map")
    _ows(provider, "ProviderSite", attrs={f"{{{XLINK_NS}}}href": f"{base}/"})
    _ows(provider, "ServiceContact")

    ops = _ows(root, "OperationsMetadata")
    for name in ("GetCapabilities", "GetTile"):
        get = _ows(_ows(_ows(_ows(ops, "Operation", attrs={"name": name}), "DCP"), "HTTP"), "Get", attrs={f"{{{XLINK_NS}}}href": f"{base}/wmts?"})
        _ows(_ows(_ows(get, "Constraint", attrs={"name": "GetEncoding"}), "AllowedValues"), "Value", "KVP")

    contents = _wmts(root, "Contents")
    for layer in tile_layers(state):
        node = _wmts(contents, "Layer")
        _ows(node, "Title", text("layer." + layer, lang))
        bounds = source_bounds(state, state.tile_source(layer, cells=state.cell_kind(layer, None)))
        box = _ows(node, "WGS84BoundingBox", attrs={"crs": "urn:ogc:def:crs:OGC:2:84"})
        _ows(box, "LowerCorner", f"{_num(bounds[0])} {_num(bounds[1])}")
        _ows(box, "UpperCorner", f"{_num(bounds[2])} {_num(bounds[3])}")
        _ows(node, "Identifier", layer)
        style = _wmts(node, "Style", attrs={"isDefault": "true"})
        _ows(style, "Identifier", STYLE)
        _wmts(node, "Format", FORMAT)
        link = _wmts(node, "TileMatrixSetLink")
        _wmts(link, "TileMatrixSet", MATRIX_SET)
        limits = _wmts(link, "TileMatrixSetLimits")
        for z in LIMIT_ZOOMS:
            min_col, max_col, min_row, max_row = tile_limits(bounds, z)
            lim = _wmts(limits, "TileMatrixLimits")
            _wmts(lim, "TileMatrix", str(z))
            for tag, value in (("MinTileRow", min_row), ("MaxTileRow", max_row), ("MinTileCol", min_col), ("MaxTileCol", max_col)):
                _wmts(lim, tag, str(value))
        template = f"{base}/tiles/{layer}/{{TileMatrix}}/{{TileCol}}/{{TileRow}}.png"
        _wmts(node, "ResourceURL", attrs={"format": FORMAT, "resourceType": "tile", "template": template})

    tms = _wmts(contents, "TileMatrixSet")
    _ows(tms, "Identifier", MATRIX_SET)
    box = _ows(tms, "BoundingBox", attrs={"crs": SUPPORTED_CRS})
    _ows(box, "LowerCorner", f"{_num(-ORIGIN_SHIFT_M)} {_num(-ORIGIN_SHIFT_M)}")
    _ows(box, "UpperCorner", f"{_num(ORIGIN_SHIFT_M)} {_num(ORIGIN_SHIFT_M)}")
    _ows(tms, "SupportedCRS", SUPPORTED_CRS)
    _wmts(tms, "WellKnownScaleSet", WELL_KNOWN_SCALE_SET)
    for z in MATRIX_ZOOMS:
        m = tile_matrix(z)
        node = _wmts(tms, "TileMatrix")
        _ows(node, "Identifier", str(m.z))
        _wmts(node, "ScaleDenominator", _num(m.scale_denominator))
        _wmts(node, "TopLeftCorner", f"{_num(m.top_left[0])} {_num(m.top_left[1])}")
        _wmts(node, "TileWidth", str(m.tile_px))
        _wmts(node, "TileHeight", str(m.tile_px))
        _wmts(node, "MatrixWidth", str(m.width))
        _wmts(node, "MatrixHeight", str(m.height))

    _wmts(root, "ServiceMetadataURL", attrs={f"{{{XLINK_NS}}}href": f"{base}/wmts/1.0.0/WMTSCapabilities.xml"})
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _capabilities(request: Request, state: DatasetState, settings: Settings, lang: str) -> Response:
    base = public_base(request, settings)
    etag = etag_for(state.version, "wmts", base, lang)
    cache_control = f"public, max-age={settings.tile_max_age}"
    if etag_matches(request, etag):  # answered before the document is written
        return not_modified(etag, cache_control)
    body = capabilities_xml(state, base, lang)
    return body_response(request, body, media_type=XML, etag=etag, cache_control=cache_control)


@router.get(
    "/wmts/1.0.0/WMTSCapabilities.xml",
    summary="WMTS 1.0.0 capabilities (RESTful)",
    responses={200: {"content": {XML: {}}}},
)
def rest_capabilities(request: Request, state: StateDep, settings: SettingsDep, lang: LangQuery = "zh") -> Response:
    """The PNG tile layers as a WMTS: add this URL in ArcGIS, OpenLayers or QGIS.

    The same document answers KVP clients at ``/wmts?SERVICE=WMTS&REQUEST=GetCapabilities``, and
    ``/wmts?SERVICE=WMTS&REQUEST=GetTile&LAYER=..&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=z&TILEROW=y&TILECOL=x``
    answers the tiles of ``/tiles/{layer}/{z}/{x}/{y}.png`` (bad parameters: an OGC exception report, 400).
    """
    return _capabilities(request, state, settings, lang)


def _param(params: dict[str, str], name: str, *, required: bool = True) -> str | None:
    value = params.get(name.lower())
    if value is None or value == "":
        if required:
            raise OWSException("MissingParameterValue", f"parameter {name} is required", locator=name)
        return None
    return value


def _int_param(params: dict[str, str], name: str) -> int:
    value = _param(params, name)
    assert value is not None
    if not value.isdigit():
        raise OWSException("InvalidParameterValue", f"{name} must be a non-negative integer; got {value!r}", locator=name)
    return int(value)


# Not in the OpenAPI document: its errors are OGC exception reports (XML), as WMTS clients expect, where every
# documented operation answers JSON errors; WMTS clients learn it from the capabilities' OperationsMetadata.
@router.get("/wmts", include_in_schema=False)
async def kvp(request: Request, state: StateDep, settings: SettingsDep) -> Response:
    """``SERVICE=WMTS&REQUEST=GetCapabilities`` or ``REQUEST=GetTile&LAYER=..&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=z&TILEROW=y&TILECOL=x``.

    Parameter names are case-insensitive; ``lang=en`` gives English titles.
    """
    params = {k.lower(): v for k, v in request.query_params.items()}
    try:
        service = _param(params, "SERVICE")
        if service != "WMTS":
            raise OWSException("InvalidParameterValue", f"SERVICE must be WMTS; got {service!r}", locator="SERVICE")
        req = _param(params, "REQUEST")
        lang = params.get("lang", "zh")
        if lang not in ("zh", "en"):
            raise OWSException("InvalidParameterValue", f"lang must be zh or en; got {lang!r}", locator="lang")
        if req == "GetCapabilities":
            return await run_in_threadpool(_capabilities, request, state, settings, lang)
        if req == "GetFeatureInfo":
            raise OWSException("OperationNotSupported", "GetFeatureInfo is not served; use /collections/{layer}/items", locator="REQUEST", status=501)
        if req != "GetTile":
            raise OWSException("InvalidParameterValue", f"REQUEST must be GetCapabilities or GetTile; got {req!r}", locator="REQUEST")
        return await _get_tile(request, state, settings, params)
    except OWSException as exc:
        return exception_report(exc)


async def _get_tile(request: Request, state: DatasetState, settings: Settings, params: dict[str, str]) -> Response:
    version = _param(params, "VERSION", required=False)
    if version is not None and version != "1.0.0":
        raise OWSException("InvalidParameterValue", f"VERSION must be 1.0.0; got {version!r}", locator="VERSION")
    layer = _param(params, "LAYER")
    if not state.loaded:
        await run_in_threadpool(state.dataset)
    layers = tile_layers(state)
    if layer not in layers:
        raise OWSException("InvalidParameterValue", f"unknown LAYER {layer!r}; layers: {', '.join(layers)}", locator="LAYER")
    style = _param(params, "STYLE", required=False)
    if style is not None and style != STYLE:
        raise OWSException("InvalidParameterValue", f"STYLE must be {STYLE}; got {style!r}", locator="STYLE")
    fmt = _param(params, "FORMAT", required=False)
    if fmt is not None and fmt != FORMAT:
        raise OWSException("InvalidParameterValue", f"FORMAT must be {FORMAT}; got {fmt!r}", locator="FORMAT")
    matrix_set = _param(params, "TILEMATRIXSET")
    if matrix_set != MATRIX_SET:
        raise OWSException("InvalidParameterValue", f"TILEMATRIXSET must be {MATRIX_SET}; got {matrix_set!r}", locator="TILEMATRIXSET")
    z = _int_param(params, "TILEMATRIX")
    if z not in MATRIX_ZOOMS:
        raise OWSException("InvalidParameterValue", f"TILEMATRIX must be 0 to {MAX_ZOOM}; got {z}", locator="TILEMATRIX")
    row, col = _int_param(params, "TILEROW"), _int_param(params, "TILECOL")
    n = 1 << z
    for name, value in (("TILEROW", row), ("TILECOL", col)):
        if value >= n:
            raise OWSException("TileOutOfRange", f"{name} must be 0 to {n - 1} at TILEMATRIX {z}; got {value}", locator=name)
    try:
        return await serve_tile(request, state, settings, CoverageQuery(), CoordsQuery(), None, layer=layer, z=z, x=col, y=row)
    except DangjianError as exc:
        raise OWSException("InvalidParameterValue", str(exc), locator=getattr(exc, "field", None)) from exc
