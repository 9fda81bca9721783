"""OGC API - Tiles (Part 1: core, tileset, tilesets list, geodata tilesets, MVT and PNG) over the tile routes.

- ``/tileMatrixSets`` and ``/tileMatrixSets/WebMercatorQuad``: the one tile
  matrix set served, written by morecantile (OGC Two Dimensional Tile Matrix
  Set 2.0), the grid :mod:`api.routers.tiles` cuts;
- ``/collections/{layer}/tiles`` (vector tiles) and
  ``/collections/{layer}/map/tiles`` (PNG): the tilesets of a tile layer;
- ``.../tiles/WebMercatorQuad``: a tileset's metadata (its bounding box,
  ``tileMatrixSetLimits`` of the advertised zooms, the vector layer's fields,
  the templated tile link);
- ``.../tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}``: the very
  bytes, ETag and cache of ``/tiles/{layer}/{z}/{x}/{y}`` (note the OGC
  order: row, then column).

Links are absolute from the public base URL; titles follow ``lang``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response

from api.http import public_base
from api.routers.tiles import (
    TILEJSON_MAX_ZOOM,
    TILEJSON_MIN_ZOOM,
    CellsQuery,
    TileLayer,
    check_tile_layer,
    serve_tile,
    source_bounds,
)
from api.state.dataset import DatasetState
from api.state.deps import CoordsDep, CoverageDep, SettingsDep, StateDep, example
from geo.errors import InvalidValueError, NotFoundError
from geo.tiles import MAX_ZOOM, TMS, check_tile, tile_limits
from layers.i18n import text
from layers.tiles.mvt import mvt_field_types

router = APIRouter(tags=["tiles"])

#: The tile matrix set served, by its OGC id and URI.
TMS_ID = "WebMercatorQuad"
TMS_URI = "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
TILES_CONF = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf"
#: The OGC API - Tiles classes met (declared by ``/conformance``).
TILES_CONFORMANCE = [f"{TILES_CONF}/{c}" for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt", "png")]
#: Link relations of OGC API - Tiles.
REL_VECTOR = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"
REL_MAP = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"
REL_SCHEME = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"
REL_SCHEMES = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes"
MVT = "application/vnd.mapbox-vector-tile"
#: The CRS of the tile matrix set, as its definition writes it.
TMS_CRS = TMS.model_dump(mode="json")["crs"]
#: ``kind`` of a tileset -> (its path below the collection, OGC dataType, tile format, media type).
KINDS: dict[str, tuple[str, str, str, str]] = {
    "vector": ("tiles", "vector", "mvt", MVT),
    "map": ("map/tiles", "map", "png", "image/png"),
}

LangQuery = Annotated[Literal["zh", "en"], Query(description="Language of the titles: `zh` (default) or `en`")]
TmsPath = Annotated[str, Path(description="Tile matrix set: `WebMercatorQuad`", openapi_examples=example(TMS_ID))]
Matrix = Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Tile matrix (zoom)", openapi_examples=example(15))]
Row = Annotated[int, Path(ge=0, description="Tile row (y, from the north)", openapi_examples=example(12452))]
Col = Annotated[int, Path(ge=0, description="Tile column (x, from the west)", openapi_examples=example(26376))]


def _check_tms(tms: str) -> None:
    if tms != TMS_ID:
        msg = f"unknown tile matrix set {tms!r}; served: {TMS_ID}"
        raise NotFoundError(msg, field="tileMatrixSetId")


def _check_ogc_tile(tms: str, z: int, row: int, col: int) -> None:
    """404 (OGC API - Tiles) naming ``tileMatrixSetId``, ``tileRow`` or ``tileCol`` for a tile that does not exist."""
    _check_tms(tms)
    try:
        check_tile(z, col, row)
    except InvalidValueError as exc:
        field = {"x": "tileCol", "y": "tileRow", "z": "tileMatrix"}[exc.field or "z"]
        raise NotFoundError(str(exc), field=field) from None


def _link(href: str, rel: str, media: str, title: str, **extra: Any) -> dict[str, Any]:
    return {"href": href, "rel": rel, "type": media, "title": title, **extra}


@router.get("/tileMatrixSets", summary="Tile matrix sets (OGC API - Tiles)")
def tile_matrix_sets(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The one tile matrix set served, ``WebMercatorQuad``, with its link."""
    base = public_base(request, settings)
    href = f"{base}/tileMatrixSets/{TMS_ID}"
    return {"tileMatrixSets": [{"id": TMS_ID, "title": TMS.title, "uri": TMS_URI, "links": [_link(href, "self", "application/json", TMS_ID)]}]}


@router.get("/tileMatrixSets/{tms}", summary="One tile matrix set (OGC Two Dimensional Tile Matrix Set 2.0)")
def tile_matrix_set(tms: TmsPath) -> dict[str, Any]:
    """The definition of ``WebMercatorQuad`` as morecantile writes it."""
    _check_tms(tms)
    return TMS.model_dump(exclude_none=True, mode="json")


def _tileset(request: Request, state: DatasetState, layer: str, kind: str, lang: str, base: str) -> dict[str, Any]:
    path, data_type, fmt, media = KINDS[kind]
    here = f"{base}/collections/{layer}/{path}/{TMS_ID}"
    source = state.tile_source(layer, cells=state.cell_kind(layer, None))
    bounds = source_bounds(state, source)
    limits = []
    for z in range(TILEJSON_MIN_ZOOM, TILEJSON_MAX_ZOOM + 1):
        col0, col1, row0, row1 = tile_limits(bounds, z)
        limits.append({"tileMatrix": str(z), "minTileRow": row0, "maxTileRow": row1, "minTileCol": col0, "maxTileCol": col1})
    title = text("layer." + layer, lang)
    doc: dict[str, Any] = {
        "title": f"{title} ({fmt.upper()})",
        "dataType": data_type,
        "crs": TMS_CRS,
        "tileMatrixSetURI": TMS_URI,
        "boundingBox": {"lowerLeft": bounds[:2], "upperRight": bounds[2:], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "tileMatrixSetLimits": limits,
        "links": [
            _link(here, "self", "application/json", title),
            _link(f"{base}/tileMatrixSets/{TMS_ID}", REL_SCHEME, "application/json", TMS_ID),
            _link(f"{here}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}", "item", media, title, templated=True),
        ],
    }
    if kind == "vector":
        frame, _ = state.layer_frame(layer, None, None, None)
        doc["layers"] = [{"id": layer, "title": title, "dataType": "vector", "propertiesSchema": {
            "type": "object", "properties": {k: {"type": v.lower()} for k, v in mvt_field_types(layer, frame).items()},
        }}]
    return doc


def _tilesets(request: Request, state: DatasetState, settings: Any, layer: str, kind: str, lang: str) -> dict[str, Any]:
    check_tile_layer(state, layer)
    base = public_base(request, settings)
    one = _tileset(request, state, layer, kind, lang, base)
    entry = {k: one[k] for k in ("title", "dataType", "crs", "tileMatrixSetURI")}
    entry["links"] = [{**one["links"][0], "rel": "self"}, one["links"][1]]
    return {"tilesets": [entry], "links": [_link(f"{base}/collections/{layer}", "collection", "application/json", text("layer." + layer, lang))]}


def _register(kind: str, name: str) -> None:
    """Add the tilesets list, the tileset and the tile routes of one ``kind`` of :data:`KINDS` (``name`` for titles)."""
    path, _, fmt, media = KINDS[kind]
    here = f"/collections/{{layer}}/{path}"

    @router.get(here, summary=f"{name} tilesets of a layer (OGC API - Tiles)", name=f"{kind}_tilesets")
    def tilesets(request: Request, layer: TileLayer, state: StateDep, settings: SettingsDep, lang: LangQuery = "zh") -> dict[str, Any]:
        """The layer's tileset of this kind on ``WebMercatorQuad``."""
        return _tilesets(request, state, settings, layer, kind, lang)

    @router.get(f"{here}/{{tms}}", summary=f"A {name.lower()} tileset's metadata (OGC API - Tiles)", name=f"{kind}_tileset")
    def tileset(
        request: Request, layer: TileLayer, tms: TmsPath, state: StateDep, settings: SettingsDep, lang: LangQuery = "zh"
    ) -> dict[str, Any]:
        """Bounding box, tile limits per zoom, the fields of vector layers and the tile template."""
        _check_tms(tms)
        check_tile_layer(state, layer)
        return _tileset(request, state, layer, kind, lang, public_base(request, settings))

    @router.get(
        f"{here}/{{tms}}/{{tile_matrix}}/{{tile_row}}/{{tile_col}}",
        summary=f"One {name.lower()} tile (OGC API - Tiles; row before column)",
        responses={200: {"content": {media: {}}}, 304: {"description": "Not modified"}},
        name=f"{kind}_tile",
    )
    async def tile(
        request: Request, layer: TileLayer, tms: TmsPath, tile_matrix: Matrix, tile_row: Row, tile_col: Col,
        state: StateDep, settings: SettingsDep, coverage: CoverageDep, coords: CoordsDep, cells: CellsQuery = None,
    ) -> Response:
        """The bytes of ``/tiles/{layer}/{tileMatrix}/{tileCol}/{tileRow}`` in this kind's format."""
        _check_ogc_tile(tms, tile_matrix, tile_row, tile_col)
        return await serve_tile(request, state, settings, coverage, coords, cells, layer=layer, z=tile_matrix, x=tile_col, y=tile_row, fmt=fmt)


_register("vector", "Vector")
_register("map", "Map")
