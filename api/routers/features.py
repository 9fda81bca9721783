"""Features over HTTP in the shape of OGC API - Features (Part 1: Core).

``/collections`` lists the layers, ``/collections/{layer}/items`` pages
through one as GeoJSON (``bbox``, ``limit`` capped at 10,000, ``offset``,
``next`` links; polygons wound as RFC 7946 says) or as a CSV attribute table
(``f=csv``), and
``/collections/{layer}/items/{featureId}`` answers one feature.
``/collections/{layer}/queryables`` describes the attribute columns as a JSON
Schema (OGC API - Features Part 3); any of them, named as a query parameter of
``items``, filters by equality (``?covered=false&community=锦绣社区``).
``/coverage/summary`` gives the headline figures of the build.  Layers whose
content depends on coverage (compounds, circles, units, grids, cells) take
``minutes`` and ``method``; any layer takes ``coords=gcj02`` for AMap.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
import pandas as pd
import shapely
from fastapi import APIRouter, Path, Query, Request, Response

from api.http import body_response, etag_for, public_base
from api.ogc_crs import CRS84, dataset_crs, output_crs, parse_crs, table_geometries
from api.ogc_params import OGCRoute, invalid_parameter, parse_bbox
from api.routers.ogc_tiles import REL_MAP, REL_VECTOR
from api.state.deps import CoordsDep, CoverageDep, SettingsDep, StateDep, example
from api.state.features import dumps
from api.state.variants import VARIANT_LAYERS
from geo.errors import NotFoundError
from layers.build import summary_lines
from layers.i18n import text
from layers.reports.formats import defuse_formula
from layers.store import VERSIONED_LAYERS
from layers.store.frames import column_kind
from layers.tiles.source import TILE_LAYERS

router = APIRouter(tags=["features"], route_class=OGCRoute)

GEOJSON = "application/geo+json"
MVT = "application/vnd.mapbox-vector-tile"
MAX_LIMIT = 10_000
QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"
JSON_SCHEMA = "application/schema+json"

#: Query parameters of ``items`` that are not property filters (``datetime`` and ``crs`` are OGC
#: parameters clients send; the layers have no time, so ``datetime`` is ignored; ``crs``/``bbox-crs``: :mod:`api.ogc_crs`).
ITEMS_PARAMETERS = frozenset(
    {"bbox", "limit", "offset", "f", "properties", "minutes", "method", "scenario", "coords", "lang",
     "access_token", "datetime", "crs", "bbox-crs"}
)

LayerPath = Annotated[str, Path(description="Layer name, e.g. `compounds`, `centers`, `cells`", openapi_examples=example("compounds"))]
LangQuery = Annotated[Literal["zh", "en"], Query(description="Language of titles and summary lines", openapi_examples=example("zh"))]
BboxQuery = Annotated[
    str | None,
    Query(
        description="`minlon,minlat,maxlon,maxlat` in WGS84 degrees; features intersecting it",
        openapi_examples=example("109.76,39.59,109.79,39.61"),
    ),
]
LimitQuery = Annotated[
    int,
    Query(
        ge=1,
        description="Features per page; more than 10,000 is capped at 10,000 (OGC API - Features: not an error)",
        openapi_examples=example(100),
        json_schema_extra={"maximum": MAX_LIMIT},
    ),
]
OffsetQuery = Annotated[int, Query(ge=0, description="Features to skip", openapi_examples=example(0))]
FormatQuery = Annotated[
    Literal["json", "geojson", "csv"], Query(description="`json`/`geojson` (GeoJSON) or `csv` (attribute table)")
]
CrsQuery = Annotated[
    str | None,
    Query(description="CRS URI of the output geometries (OGC API - Features Part 2; see the collection's `crs`); default CRS84"),
]
BboxCrsQuery = Annotated[
    str | None,
    Query(alias="bbox-crs", description="CRS URI of `bbox` (default CRS84; EPSG:4326/4490 take lat,lon order)"),
]
PropertiesQuery = Annotated[
    str | None,
    Query(description="Comma-separated attribute columns to return (default: all)", openapi_examples=example("name,households,covered")),
]


def _split_properties(value: str | None) -> list[str] | None:
    if value is None:
        return None
    return [p.strip() for p in value.split(",") if p.strip()]


def _check_layer(state: StateDep, layer: str) -> None:
    names = state.layer_names()
    if layer not in names:
        msg = f"unknown layer {layer!r}; layers: {', '.join(names)}"
        raise NotFoundError(msg, field="layer")


def _collection(base: str, state: StateDep, layer: str, lang: str) -> dict[str, Any]:
    """The OGC API collection document of ``layer``: titles in ``lang``, extent of the data, CRS, links.

    The extent is the bounding box of the served rows (CRS84, the order
    GeoJSON writes); the layers carry no time, so there is no ``temporal`` extent.
    Tiled layers link their TileJSON (vector and PNG) and tile URL templates,
    the addresses :mod:`api.routers.tiles` answers.
    """
    frame = state.dataset().layers[layer]
    title = text("layer." + layer, lang)
    lang_query = "" if lang == "zh" else f"?lang={lang}"
    items = f"{base}/collections/{layer}/items"
    links = [
        {"href": f"{base}/collections/{layer}{lang_query}", "rel": "self", "type": "application/json", "title": title},
        {"href": items, "rel": "items", "type": GEOJSON, "title": title},
        {"href": f"{items}?f=csv", "rel": "items", "type": "text/csv", "title": f"{title} (CSV)"},
        {"href": f"{base}/collections/{layer}/queryables", "rel": QUERYABLES_REL, "type": JSON_SCHEMA, "title": f"{title} (queryables)"},
    ]
    if layer in TILE_LAYERS:
        tiles = f"{base}/tiles/{layer}"
        links += [
            {"href": f"{tiles}.json{lang_query}", "rel": "tiles", "type": "application/json", "title": "TileJSON (MVT)"},
            {"href": f"{tiles}.json?format=png{lang_query.replace('?', '&')}", "rel": "tiles", "type": "application/json", "title": "TileJSON (PNG)"},
            {"href": f"{tiles}/{{z}}/{{x}}/{{y}}.mvt", "rel": "item", "type": MVT, "title": f"{title} (MVT)", "templated": True},
            {"href": f"{tiles}/{{z}}/{{x}}/{{y}}.png", "rel": "item", "type": "image/png", "title": f"{title} (PNG, 256 px)", "templated": True},
            {"href": f"{base}/collections/{layer}/tiles{lang_query}", "rel": REL_VECTOR, "type": "application/json", "title": f"{title} (OGC API - Tiles, MVT)"},
            {"href": f"{base}/collections/{layer}/map/tiles{lang_query}", "rel": REL_MAP, "type": "application/json", "title": f"{title} (OGC API - Tiles, PNG)"},
        ]
    geoms = frame.geometry.to_numpy()
    present = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    spatial: dict[str, Any] = {"crs": CRS84}
    if present.any():
        spatial["bbox"] = [[float(v) for v in shapely.total_bounds(geoms[present])]]
    return {
        "id": layer,
        "title": title,
        "description": text("ogc.collection." + layer, lang),
        "itemType": "feature",
        "extent": {"spatial": spatial},
        "crs": dataset_crs(state.version, state.dataset().layers),
        "storageCrs": CRS84,
        "numberOfFeatures": len(frame),
        "links": links,
    }


@router.get("/collections", summary="List the layers")
def collections(request: Request, state: StateDep, settings: SettingsDep, lang: LangQuery = "zh") -> dict[str, Any]:
    """Every layer of the served dataset, with its extent and links to its items and tiles."""
    base = public_base(request, settings)
    return {
        "collections": [_collection(base, state, n, lang) for n in state.layer_names()],
        "links": [{"href": f"{base}/collections" + ("" if lang == "zh" else f"?lang={lang}"), "rel": "self", "type": "application/json"}],
    }


@router.get("/collections/{layer}", summary="One layer's description")
def collection(request: Request, layer: LayerPath, state: StateDep, settings: SettingsDep, lang: LangQuery = "zh") -> dict[str, Any]:
    """Title, extent, feature count and links of one layer."""
    _check_layer(state, layer)
    return _collection(public_base(request, settings), state, layer, lang)


#: JSON Schema type of each storage kind (:func:`layers.store.frames.column_kind`); the others are strings.
_JSON_TYPES = {"bool": "boolean", "int": "integer", "float": "number"}


def _json_type(column: pd.Series) -> str:
    """The JSON Schema type of a column: ``boolean``, ``integer``, ``number`` or ``string``.

    The same judgement as the store's column kinds: object columns (a column
    with gaps, say) are judged by their non-missing values.
    """
    return _JSON_TYPES.get(column_kind(column), "string")


def _queryable_types(frame: pd.DataFrame, columns: list[str]) -> dict[str, str]:
    return {c: _json_type(frame[c]) for c in columns}


@router.get(
    "/collections/{layer}/queryables",
    summary="The layer's queryable attributes (JSON Schema)",
    responses={200: {"content": {JSON_SCHEMA: {}}}},
)
def queryables(
    request: Request, layer: LayerPath, state: StateDep, settings: SettingsDep, coverage: CoverageDep, lang: LangQuery = "zh",
) -> Response:
    """A JSON Schema (draft 2020-12, OGC API - Features Part 3) of the attribute columns.

    Each attribute column maps to its JSON type (``string``, ``integer``,
    ``number``, ``boolean``); ``geometry`` is the primary geometry.  Every
    property named here can be used as a query parameter of
    ``/collections/{layer}/items`` to filter by equality.
    """
    _check_layer(state, layer)
    table = state.features(layer, minutes=coverage.minutes, method=coverage.method, scenario=coverage.scenario)
    base = public_base(request, settings)
    props: dict[str, Any] = {c: {"title": c, "type": t} for c, t in _queryable_types(table.frame, table.columns).items()}
    props["geometry"] = {"title": "geometry", "format": "geometry-any", "x-ogc-role": "primary-geometry"}
    body = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{base}/collections/{layer}/queryables",
        "type": "object",
        "title": text("layer." + layer, lang),
        "properties": props,
        "additionalProperties": False,
    }
    return Response(dumps(body).encode("utf-8"), media_type=JSON_SCHEMA)


class _FilterError(Exception):
    def __init__(self, detail: str, field: str) -> None:
        super().__init__(detail)
        self.detail, self.field = detail, field


_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


def _property_filters(request: Request, table: Any) -> list[tuple[str, str]]:
    """The ``(column, value)`` filters of a request: every query parameter that names a column.

    A parameter that is neither an ``items`` parameter nor a column raises :class:`_FilterError`.
    """
    columns = set(table.columns)
    filters = []
    for key, value in request.query_params.multi_items():
        if key in ITEMS_PARAMETERS:
            continue
        if key not in columns:
            msg = (
                f"unknown query parameter {key!r}: neither an items parameter nor a queryable of `{table.layer}` "
                f"(queryables: {', '.join(table.columns)})"
            )
            raise _FilterError(msg, key)
        filters.append((key, value))
    return filters


def _apply_filters(table: Any, positions: np.ndarray, filters: list[tuple[str, str]]) -> np.ndarray:
    """``positions`` whose rows equal every filter (booleans: true/false/1/0; numbers compared numerically)."""
    if not filters or not len(positions):
        return positions
    frame = table.frame
    keep = np.ones(len(positions), dtype=bool)
    for column, raw in filters:
        values = frame[column].to_numpy()[positions]
        kind = _json_type(frame[column])
        if kind == "boolean":
            low = raw.strip().lower()
            if low not in _TRUE | _FALSE:
                raise _FilterError(f"`{column}` is a boolean: give true/false (or 1/0); got {raw!r}", column)
            want = low in _TRUE
            keep &= np.array([v is not None and not (isinstance(v, float) and math.isnan(v)) and bool(v) == want for v in values], dtype=bool)
        elif kind in ("integer", "number"):
            try:
                want_num = float(raw)
            except ValueError:
                want_num = math.nan
            if not math.isfinite(want_num):
                raise _FilterError(f"`{column}` is a number; got {raw!r}", column)
            nums = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
            keep &= nums == want_num
        else:
            keep &= np.array([v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v) == raw for v in values], dtype=bool)
    return positions[keep]


def _csv(frame: Any, positions: np.ndarray, properties: tuple[str, ...]) -> bytes:
    """UTF-8 CSV with a BOM (Excel opens Chinese text correctly), formula-looking text defused."""
    table = frame.iloc[positions]
    pts = shapely.point_on_surface(table.geometry.to_numpy()) if len(table) else np.array([])
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([defuse_formula(str(p)) for p in (*properties, "lon", "lat")])
    cols = [table[c].to_numpy(dtype=object) for c in properties]
    xs = shapely.get_x(pts) if len(pts) else np.array([])
    ys = shapely.get_y(pts) if len(pts) else np.array([])
    for i in range(len(table)):
        row = [_cell(col[i]) for col in cols]
        row += ["" if not np.isfinite(xs[i]) else f"{xs[i]:.6f}", "" if not np.isfinite(ys[i]) else f"{ys[i]:.6f}"]
        w.writerow(row)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    return defuse_formula(str(value))


@router.get(
    "/collections/{layer}/items",
    summary="Features of a layer (GeoJSON or CSV)",
    responses={200: {"content": {GEOJSON: {}, "text/csv": {}}}},
)
def items(
    request: Request,
    layer: LayerPath,
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    coords: CoordsDep,
    bbox: BboxQuery = None,
    limit: LimitQuery = 1000,
    offset: OffsetQuery = 0,
    f: FormatQuery = "json",
    properties: PropertiesQuery = None,
    crs: CrsQuery = None,
    bbox_crs: BboxCrsQuery = None,
) -> Response:
    """A page of features: GeoJSON FeatureCollection with ``numberMatched``, ``numberReturned`` and ``next`` links.

    **Property filters.**  Any query parameter naming a queryable column (see
    ``/collections/{layer}/queryables``) keeps the rows equal to it:
    ``?covered=false&community=锦绣社区``.  Booleans take ``true``/``false``/``1``/``0``,
    numbers compare numerically, text exactly; several filters are ANDed and combine
    with ``bbox``, ``limit`` and ``offset``; ``numberMatched`` counts the filtered
    rows and the ``next``/``prev`` links keep the filters.  A query parameter that
    is neither a parameter of this endpoint nor a queryable answers 400
    ``{"code": "InvalidParameterValue", "description": ..., "parameter": <name>, "detail": ..., "field": <name>}``;
    a filter value of the wrong type answers 400 naming the column, and so does any
    invalid parameter value (``limit=abc``, ``bbox=1,2,3``, ``crs`` not in the collection's list;
    :mod:`api.ogc_params`).  Responses carry ``Content-Crs: <uri>`` (CRS84 unless ``crs`` asks otherwise).

    **Capped limit.**  A ``limit`` above 10,000 is capped at 10,000 (not an
    error); the links carry the capped value, and the response says so: the
    GeoJSON body gets ``"limit": 10000, "capped": true`` and every format
    (CSV too) the header ``X-Limit-Capped: 10000``.  Uncapped responses carry neither.
    """
    _check_layer(state, layer)
    out_crs = output_crs(crs, dataset_crs(state.version, state.dataset().layers), coords=coords.coords)
    capped = limit > MAX_LIMIT
    limit = min(limit, MAX_LIMIT)
    box = parse_bbox(bbox, crs=parse_crs(bbox_crs, dataset_crs(state.version, state.dataset().layers), parameter="bbox-crs"))
    table = state.features(layer, minutes=coverage.minutes, method=coverage.method, coords=coords.coords, scenario=coverage.scenario)
    try:
        filters = _property_filters(request, table)
    except _FilterError as exc:
        return invalid_parameter(request, exc.field, exc.detail)
    props = table.check_properties(_split_properties(properties))
    try:
        matched = _apply_filters(table, table.select(box), filters)
    except _FilterError as exc:
        return invalid_parameter(request, exc.field, exc.detail)
    page = matched[offset : offset + limit]
    key = state.variant_key(coverage.minutes, coverage.method, coverage.scenario) if layer in VARIANT_LAYERS or coverage.scenario else ""
    etag = etag_for(state.version, key, layer, coords.coords, box, limit, offset, f, props, sorted(filters), out_crs)
    capped_headers = {"Content-Crs": f"<{out_crs}>"} | ({"X-Limit-Capped": str(MAX_LIMIT)} if capped else {})
    if f == "csv":
        body = _csv(table.frame, page, props)
        return body_response(
            request, body, media_type="text/csv; charset=utf-8", etag=etag,
            headers={"Content-Disposition": f'attachment; filename="{layer}.csv"', **capped_headers},
        )
    base = public_base(request, settings)
    query = [(k, str(limit) if k == "limit" else v) for k, v in request.query_params.multi_items() if k != "offset"]
    here = f"{base}/collections/{layer}/items"
    links = [{"href": f"{here}?{urlencode([*query, ('offset', offset)])}", "rel": "self", "type": GEOJSON}]
    if offset + limit < len(matched):
        links.append({"href": f"{here}?{urlencode([*query, ('offset', offset + limit)])}", "rel": "next", "type": GEOJSON})
    if offset > 0:
        links.append({"href": f"{here}?{urlencode([*query, ('offset', max(0, offset - limit))])}", "rel": "prev", "type": GEOJSON})
    links.append({"href": f"{base}/collections/{layer}", "rel": "collection", "type": "application/json"})
    head_doc: dict[str, Any] = {
        "type": "FeatureCollection",
        "numberMatched": len(matched),
        "numberReturned": len(page),
        "timeStamp": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "links": links,
    }
    if capped:
        head_doc |= {"limit": MAX_LIMIT, "capped": True}
    head = dumps(head_doc)
    text_body = head[:-1] + ',"features":[' + ",".join(table.features(page, props, geometry_json=table_geometries(table, page, out_crs))) + "]}"
    return body_response(request, text_body.encode("utf-8"), media_type=GEOJSON, etag=etag, headers=capped_headers)


@router.get("/collections/{layer}/items/{feature_id}", summary="One feature (GeoJSON; ETag = version for centres and compounds)", responses={200: {"content": {GEOJSON: {}}}})
def item(
    request: Request,
    layer: LayerPath,
    feature_id: Annotated[str, Path(description="The feature's id", openapi_examples=example("XQ001"))],
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    coords: CoordsDep,
    crs: CrsQuery = None,
) -> Response:
    """One feature by id, with links to itself and its collection (in ``crs``, CRS84 by default)."""
    _check_layer(state, layer)
    out_crs = output_crs(crs, dataset_crs(state.version, state.dataset().layers), coords=coords.coords)
    table = state.features(layer, minutes=coverage.minutes, method=coverage.method, coords=coords.coords, scenario=coverage.scenario)
    pos = table.position(feature_id)
    base = public_base(request, settings)
    feature = table.features(np.array([pos]), tuple(table.columns), geometry_json=table_geometries(table, np.array([pos]), out_crs))[0]
    links = dumps(
        [
            {"href": f"{base}/collections/{layer}/items/{feature_id}", "rel": "self", "type": GEOJSON},
            {"href": f"{base}/collections/{layer}", "rel": "collection", "type": "application/json"},
        ]
    )
    body = feature[:-1] + f',"links":{links}}}'
    version = state.feature_version(layer, feature_id) if layer in VERSIONED_LAYERS and state.has_store else None
    if version is not None:
        # the ETag is the feature's version, for ``If-Match`` on PATCH/DELETE; coverage columns can change
        # without it (another feature's edit), so it is not used to answer 304
        body = body[:-1] + f',"version":{version}}}'
        response = body_response(request, body.encode("utf-8"), media_type=GEOJSON, headers={"Content-Crs": f"<{out_crs}>"})
        response.headers["ETag"] = f'"{version}"'
        return response
    etag = etag_for(state.version, layer, feature_id, coverage, coords, out_crs)
    return body_response(request, body.encode("utf-8"), media_type=GEOJSON, etag=etag, headers={"Content-Crs": f"<{out_crs}>"})


@router.get("/coverage/summary", summary="Headline coverage figures")
def coverage_summary(state: StateDep, coverage: CoverageDep, lang: LangQuery = "zh") -> dict[str, Any]:
    """Compounds, households and population covered, centres per level, the largest uncovered compounds.

    ``lines`` holds the same figures as sentences in ``lang``.
    """
    ds, key = state.variant(coverage.minutes, coverage.method, coverage.scenario)
    summary = ds.meta.get("summary") or {}
    params = ds.meta.get("params", {})
    return {
        **summary,
        "speed_kmh": params.get("speed_kmh"),
        "variant": key or "built",
        "version": state.version,
        "built_at": state.dataset().meta.get("built_at"),
        "lines": summary_lines(summary, lang) if summary else [],
    }
