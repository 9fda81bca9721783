"""Map tiles: PNG (256 px and ``@2x``), Mapbox Vector Tiles and TileJSON 3.0.

``/tiles/{layer}/{z}/{x}/{y}.png`` (``{y}@2x.png`` for 512 px),
``/tiles/{layer}/{z}/{x}/{y}.mvt`` (``.pbf`` also answers) and
``/tiles/{layer}.json``.  Every answer carries an ETag derived from the
dataset version, the variant and the tile address, so ``If-None-Match`` is
answered 304 without rendering; rendered tiles are kept in the app's LRU.
Cold tiles are rendered in a worker thread, cached ones answered on the event
loop.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

import numpy as np
from fastapi import APIRouter, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.http import body_response, etag_for, etag_matches, not_modified, public_base
from api.settings import Settings
from api.state.dataset import DatasetState
from api.state.deps import CoordsDep, CoordsQuery, CoverageDep, CoverageQuery, SettingsDep, StateDep, example
from api.state.features import dumps
from api.state.variants import VARIANT_LAYERS
from geo.errors import InvalidValueError, NotFoundError
from geo.tiles import MAX_LATITUDE, MAX_ZOOM, check_tile, fit_zoom, mercator_to_lonlat, tile_box
from layers.i18n import text
from layers.tiles.mvt import EMPTY_MVT, mvt_field_types
from layers.tiles.raster import EMPTY_PNG
from layers.tiles.source import TILE_LAYERS, TileSource

router = APIRouter(tags=["tiles"])

MEDIA = {"png": "image/png", "mvt": "application/vnd.mapbox-vector-tile", "pbf": "application/vnd.mapbox-vector-tile"}
_TILE_NAME = re.compile(r"^(?P<y>\d{1,8})(?P<scale>@2x)?\.(?P<fmt>png|mvt|pbf)$")
#: Zoom range advertised in TileJSON (tiles are answered from 0 to MAX_ZOOM).
TILEJSON_MIN_ZOOM = 10
TILEJSON_MAX_ZOOM = 20
WORLD_BOUNDS = (-180.0, -MAX_LATITUDE, 180.0, MAX_LATITUDE)

CellsQuery = Annotated[
    Literal["h3", "square"] | None,
    Query(description="Layer `cells` only: `h3` hexagons (default when present) or `square` cells"),
]
TileLayer = Annotated[str, Path(description=f"One of {', '.join(TILE_LAYERS)}", openapi_examples=example("compounds"))]


def check_tile_layer(state: DatasetState, layer: str) -> None:
    """:class:`NotFoundError` naming ``layer`` unless it is a tile layer of the served dataset."""
    if layer not in TILE_LAYERS or layer not in state.dataset().layers:
        have = [n for n in TILE_LAYERS if n in state.dataset().layers]
        msg = f"unknown tile layer {layer!r}; tile layers: {', '.join(have)}"
        raise NotFoundError(msg, field="layer")


def parse_tile_name(name: str) -> tuple[int, int, str]:
    """``"6226.png"``, ``"6226@2x.png"``, ``"6226.mvt"`` -> (y, scale, format); an error naming ``y`` otherwise."""
    m = _TILE_NAME.match(name)
    if not m:
        msg = f"tile name must be {{y}}.png, {{y}}@2x.png, {{y}}.mvt or {{y}}.pbf; got {name!r}"
        raise InvalidValueError(msg, field="y")
    fmt = m["fmt"]
    scale = 2 if m["scale"] else 1
    if scale == 2 and fmt != "png":
        msg = f"@2x applies to PNG tiles only; got {name!r}"
        raise InvalidValueError(msg, field="y")
    return int(m["y"]), scale, ("mvt" if fmt == "pbf" else fmt)


@router.get(
    "/tiles/{layer}/{z}/{x}/{tile}",
    summary="One map tile (PNG or MVT)",
    responses={200: {"content": {"image/png": {}, "application/vnd.mapbox-vector-tile": {}}}, 304: {"description": "Not modified"}},
)
async def tile(
    request: Request,
    layer: TileLayer,
    z: Annotated[int, Path(ge=0, le=MAX_ZOOM, description="Zoom level", openapi_examples=example(15))],
    x: Annotated[int, Path(ge=0, description="Tile column", openapi_examples=example(26376))],
    tile: Annotated[str, Path(description="`{y}.png`, `{y}@2x.png`, `{y}.mvt` or `{y}.pbf`", openapi_examples=example("12452.png"))],
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    coords: CoordsDep,
    cells: CellsQuery = None,
) -> Response:
    """A 256-px PNG (512 px with ``@2x``) drawn in the map's colours, or a vector tile with the layer's attributes."""
    y, scale, fmt = parse_tile_name(tile)
    return await serve_tile(request, state, settings, coverage, coords, cells, layer=layer, z=z, x=x, y=y, scale=scale, fmt=fmt)


async def serve_tile(
    request: Request,
    state: DatasetState,
    settings: Settings,
    coverage: CoverageQuery,
    coords: CoordsQuery,
    cells: str | None,
    *,
    layer: str,
    z: int,
    x: int,
    y: int,
    scale: int = 1,
    fmt: str = "png",
) -> Response:
    """The tile ``layer/z/x/y`` as the tile route answers it (also WMTS GetTile): cached, ETag, 304.

    Raises
    ------
    InvalidValueError
        The tile does not exist (naming ``z``, ``x`` or ``y``).
    NotFoundError
        ``layer`` is not a tile layer of the served dataset.
    """
    check_tile(z, x, y)
    if not state.loaded:  # the first request loads (or builds) the dataset: not on the event loop
        await run_in_threadpool(state.dataset)
    check_tile_layer(state, layer)
    if coverage.scenario:  # looks the scenario up in its store: not on the event loop
        variant = await run_in_threadpool(state.variant_key, coverage.minutes, coverage.method, coverage.scenario)
    else:
        variant = state.variant_key(coverage.minutes, coverage.method) if layer in VARIANT_LAYERS else ""
    kind = state.cell_kind(layer, cells)
    version = state.version
    key = (version, layer, variant, coords.coords, kind, fmt, scale, z, x, y)
    etag = f'"{version}.{variant or "b"}.{coords.coords}.{kind or "all"}.{layer}.{z}.{x}.{y}.{scale}.{fmt}"'
    cache_control = f"public, max-age={settings.tile_max_age}"
    if etag_matches(request, etag):
        return not_modified(etag, cache_control)
    body = state.tiles.get(key)
    if body is None:
        body = await run_in_threadpool(_render, state, layer, coverage.minutes, coverage.method, coords.coords, kind, fmt, scale, z, x, y, coverage.scenario)
        if body is not EMPTY_PNG[scale] and body != EMPTY_MVT:  # empty tiles are cheaper to redo than to keep
            state.tiles.put(key, body)
    return Response(content=body, media_type=MEDIA[fmt], headers={"ETag": etag, "Cache-Control": cache_control})


def _render(
    state: DatasetState, layer: str, minutes: float | None, method: str | None, coords: str, kind: str, fmt: str, scale: int,
    z: int, x: int, y: int, scenario: str | None = None,
) -> bytes:
    source = state.tile_source(layer, minutes=minutes, method=method, coords=coords, cells=kind, scenario=scenario)
    box = tile_box(z, x, y)
    return source.png(box, scale=scale) if fmt == "png" else source.mvt(box)


def dataset_bounds(state: DatasetState) -> list[float]:
    """WGS84 ``[west, south, east, north]`` of everything the served dataset holds (the world when it holds nothing)."""
    frames = [f for f in state.dataset().layers.values() if hasattr(f, "geometry") and len(f)]
    boxes = np.array([f.geometry.total_bounds for f in frames], dtype=float).reshape(-1, 4)
    boxes = boxes[np.isfinite(boxes).all(axis=1)]
    if not len(boxes):
        return list(WORLD_BOUNDS)
    west, south = boxes[:, :2].min(axis=0)
    east, north = boxes[:, 2:].max(axis=0)
    return [round(float(v), 6) for v in (west, max(south, -MAX_LATITUDE), east, min(north, MAX_LATITUDE))]


def source_bounds(state: DatasetState, source: TileSource) -> list[float]:
    """WGS84 bounds of what a tile source draws; the dataset's (:func:`dataset_bounds`) when it draws nothing."""
    if not len(source):
        return dataset_bounds(state)
    lon, lat = mercator_to_lonlat(np.array(source.bounds[0::2]), np.array(source.bounds[1::2]))
    return [round(float(lon[0]), 6), round(float(lat[0]), 6), round(float(lon[1]), 6), round(float(lat[1]), 6)]


def tileset_version(state: DatasetState) -> str:
    """A semver of the served dataset: ``1.<store revision>.0`` (``1.0.<n>``, ``n`` from the version hash, in memory).

    It changes whenever the dataset does (an edit moves the store's revision), so clients holding TileJSON can tell.
    """
    if state.revision is not None:
        return f"1.{state.revision}.0"
    return f"1.0.{int(state.version[:7], 16)}"


@router.get("/tiles/{layer}.json", summary="TileJSON 3.0 of a layer")
def tilejson(
    request: Request,
    layer: TileLayer,
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    coords: CoordsDep,
    cells: CellsQuery = None,
    format: Annotated[Literal["mvt", "png"], Query(description="Tile format the URLs point to")] = "mvt",
    scale: Annotated[int, Query(ge=1, le=2, description="PNG scale: 1 (256 px) or 2 (512 px)")] = 1,
    lang: Annotated[Literal["zh", "en"], Query(description="Language of name and description")] = "zh",
) -> Response:
    """Absolute tile URLs (from the public base URL), bounds, centre, zoom range and ``vector_layers``."""
    check_tile_layer(state, layer)
    base = public_base(request, settings)
    params: list[tuple[str, object]] = [
        (k, v) for k, v in (("minutes", coverage.minutes), ("method", coverage.method), ("scenario", coverage.scenario)) if v is not None
    ]
    if coords.coords != "wgs84":
        params.append(("coords", coords.coords))
    kind = state.cell_kind(layer, cells)
    if cells:
        params.append(("cells", cells))
    query = ("?" + urlencode([(k, f"{v:g}" if isinstance(v, float) else v) for k, v in params])) if params else ""
    suffix = "@2x.png" if format == "png" and scale == 2 else f".{format}"
    source = state.tile_source(
        layer, minutes=coverage.minutes, method=coverage.method, coords=coords.coords, cells=kind, scenario=coverage.scenario
    )
    frame, _ = state.layer_frame(layer, coverage.minutes, coverage.method, coverage.scenario)
    bounds = source_bounds(state, source)
    zoom = min(max(fit_zoom(bounds), TILEJSON_MIN_ZOOM), TILEJSON_MAX_ZOOM)
    summary = state.dataset().meta.get("summary", {})
    doc: dict[str, Any] = {
        "tilejson": "3.0.0",
        "name": f"{summary.get('name', '')} {text('layer.' + layer, lang)}".strip(),
        "description": text("map.title", lang),
        "version": tileset_version(state),
        "attribution": "dangjian-map",
        "scheme": "xyz",
        "tiles": [f"{base}/tiles/{layer}/{{z}}/{{x}}/{{y}}{suffix}{query}"],
        "minzoom": TILEJSON_MIN_ZOOM,
        "maxzoom": TILEJSON_MAX_ZOOM,
        "bounds": bounds,
        "center": [round((bounds[0] + bounds[2]) / 2, 6), round((bounds[1] + bounds[3]) / 2, 6), zoom],
    }
    if format == "png":
        doc["tileSize"] = 256 * scale  # not in TileJSON 3.0.0 (extra keys are allowed); MapLibre reads it
    if format == "mvt":
        doc["vector_layers"] = [
            {"id": layer, "description": text("layer." + layer, lang), "minzoom": TILEJSON_MIN_ZOOM, "maxzoom": TILEJSON_MAX_ZOOM, "fields": dict(mvt_field_types(layer, frame))}
        ]
    body = dumps(doc).encode("utf-8")
    etag = etag_for(state.version, layer, base, query, suffix, lang)
    return body_response(request, body, media_type="application/json", etag=etag, cache_control=f"public, max-age={settings.tile_max_age}")
