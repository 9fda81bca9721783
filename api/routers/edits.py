"""Edits of centres, compounds and party organisations over HTTP, with optimistic concurrency.

- ``POST /collections/{layer}/items``: a GeoJSON Feature in; 201 with the
  stored feature, its ``id`` and ``version`` (also the ``ETag``).
- ``PATCH /collections/{layer}/items/{featureId}``: some ``properties`` and/or
  a new ``geometry``; needs ``If-Match: "<version>"`` (428 without, 412 when
  someone changed the feature since).
- ``DELETE /collections/{layer}/items/{featureId}``: 204, same ``If-Match`` rule.

Every edit needs an ``editor`` token.  Input is validated like an import
(:func:`layers.dataset.prepare_layer` through the store) and also refused
when a compound is larger than ``max_edit_area_km2`` or a feature lies more
than ``max_edit_distance_km`` outside the dataset's extent (a swapped
longitude/latitude or the wrong hemisphere).  The edit itself runs through
:mod:`api.state.editing`: batched with edits of other planners arriving at the same
time, each in its own savepoint, with what depends on them recomputed
incrementally in the *same* store transaction (so a failure or a kill leaves
the previous state), and served from memory at once.
"""

from __future__ import annotations

import logging
import unicodedata
from typing import Annotated, Any, Literal
from urllib.parse import quote

import geopandas as gpd
import shapely
from fastapi import APIRouter, Body, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import shape
from starlette.exceptions import HTTPException

from api.auth import Caller, require
from api.settings import Settings
from api.state.deps import SettingsDep, StateDep, example
from api.state.editing import submit_edit
from geo.crs import WGS84
from geo.errors import GeometryError, InvalidValueError
from layers.dataset import Dataset
from layers.i18n import text
from layers.store import Role, StoredFeature, Transaction

log = logging.getLogger("dangjian.api")

router = APIRouter(tags=["edits"])

#: Layers that can be edited, with the geometry types each accepts.
EDITABLE: dict[str, tuple[str, ...]] = {
    "centers": ("Point",),
    "compounds": ("Polygon", "MultiPolygon"),
    "party_orgs": ("Point",),
}
GEOJSON = "application/geo+json"

EditorDep = Annotated[Caller, Depends(require(Role.editor))]
EditLayer = Annotated[
    Literal["centers", "compounds", "party_orgs"],
    Path(description="`centers`, `compounds` or `party_orgs`", openapi_examples=example("centers")),
]
FeatureId = Annotated[str, Path(description="The feature's id", openapi_examples=example("DQ01"))]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description='The version you read, as its ETag (`"3"`); required', openapi_examples=example('"1"')),
]


class FeatureIn(BaseModel):
    """A GeoJSON Feature to create (``id`` optional: assigned when absent)."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"] = "Feature"
    id: str | int | None = None
    geometry: dict[str, Any] = Field(description="GeoJSON geometry, WGS84 lon/lat")
    properties: dict[str, Any] = Field(default_factory=dict)


class FeaturePatch(BaseModel):
    """Changes to one feature: some ``properties`` and/or a new ``geometry``."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["Feature"] | None = None
    geometry: dict[str, Any] | None = None
    properties: dict[str, Any] = Field(default_factory=dict)


_CREATE_EXAMPLE = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [109.78, 39.60]},
    "properties": {"name": "新建社区党群服务中心", "level": "community", "status": "existing"},
}


# --------------------------------------------------------------------------------------------
# checks


def expected_version(if_match: str | None) -> int:
    """The version named by ``If-Match`` (``"3"``, ``W/"3"`` or ``3``): 428 without one, 412 when unreadable."""
    if if_match is None or not if_match.strip():
        exc = HTTPException(428, 'an edit needs `If-Match: "<version>"` with the version you read (the ETag of the feature)')
        exc.field = "If-Match"  # type: ignore[attr-defined]
        raise exc
    value = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        exc = HTTPException(412, f"`If-Match` must be a feature version such as \"3\"; got {if_match!r}")
        exc.field = "If-Match"  # type: ignore[attr-defined]
        raise exc from None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (valid JSON, not valid text)
        return False
    return True


def check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """The properties of an edit: plain values only (text, numbers, booleans, null), else an error naming the key."""
    for key, value in properties.items():
        if not _encodable(str(key)):
            raise InvalidValueError("a property name is not valid text (a lone UTF-16 surrogate)", field="properties")
        if not (value is None or isinstance(value, (str, int, float, bool))):
            msg = f"property `{key}` must be text, a number, true/false or null; got {type(value).__name__}"
            raise InvalidValueError(msg, field=str(key))
        if isinstance(value, str) and len(value) > 1000:
            msg = f"property `{key}` is {len(value)} characters long; at most 1000 are accepted"
            raise InvalidValueError(msg, field=str(key))
        if isinstance(value, str) and not _encodable(value):
            msg = f"property `{key}` is not valid text (it holds a lone UTF-16 surrogate)"
            raise InvalidValueError(msg, field=str(key))
    return dict(properties)


def check_feature_id(value: str | int) -> str:
    """A new feature's ``id``: 1-64 characters of text, none a control character or ``/``, not ``.`` or ``..``.

    Ids name features in URLs (``/collections/centers/items/{id}``), so they
    must survive a path segment; Chinese ids are fine.
    """
    fid = str(value).strip()
    if not fid or len(fid) > 64:
        raise InvalidValueError(f"`id` must be 1 to 64 characters; got {len(fid)}", field="id")
    if fid in (".", "..") or any(ch in "/\\" or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") for ch in fid):
        raise InvalidValueError(f"`id` {fid!r} may not hold `/`, `\\` or control characters, nor be `.` or `..`", field="id")
    return fid


def vertex_count(coordinates: Any) -> int:
    """The positions in a GeoJSON ``coordinates`` array (any nesting), counted without building the geometry."""
    if not isinstance(coordinates, (list, tuple)) or not coordinates:
        return 0
    first = coordinates[0]
    if not isinstance(first, (list, tuple)):
        return 1  # one position
    if not first or not isinstance(first[0], (list, tuple)):
        return len(coordinates)  # a list of positions
    return sum(vertex_count(part) for part in coordinates)


def _geometry(layer: str, geometry: dict[str, Any]) -> shapely.Geometry:
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for bad GeoJSON
        msg = f"`geometry` is not a GeoJSON geometry: {exc}"
        raise GeometryError(msg, field="geometry") from exc
    allowed = EDITABLE[layer]
    if geom.geom_type not in allowed:
        msg = f"`geometry` of `{layer}` must be {' or '.join(allowed)}; got {geom.geom_type}"
        raise GeometryError(msg, field="geometry")
    if geom.is_empty:
        raise GeometryError("`geometry` is empty", field="geometry")
    if not shapely.is_valid(geom):
        msg = f"`geometry` is not valid: {shapely.is_valid_reason(geom)}; fix it and send it again"
        raise GeometryError(msg, field="geometry")
    return geom


def check_geometry(layer: str, geometry: dict[str, Any], dataset: Dataset, settings: Settings) -> shapely.Geometry:
    """The geometry of an edit, refused (``GeometryError`` naming ``geometry``) when unusable.

    Checks the type (``Point`` for centres, polygons for compounds), WGS84
    degrees, the distance outside the dataset's extent (``max_edit_distance_km``)
    and a compound's area (``max_edit_area_km2``), both in the dataset's metric CRS.
    More than ``edit_max_vertices`` positions are refused before any geometry is built.
    """
    count = vertex_count(geometry.get("coordinates")) if isinstance(geometry, dict) else 0
    if count > settings.edit_max_vertices:
        msg = text("http.edit.too_many_vertices", settings.lang, count=count, limit=settings.edit_max_vertices)
        raise GeometryError(msg, field="geometry")
    geom = _geometry(layer, geometry)
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        msg = f"`geometry` must be longitude/latitude degrees (WGS84); its extent is {tuple(round(v, 3) for v in geom.bounds)}"
        raise GeometryError(msg, field="geometry")
    extent = _extent(dataset)
    metric = gpd.GeoSeries([geom, extent], crs=WGS84).to_crs(dataset.metric_crs)
    if extent is not None and not extent.is_empty:
        away_km = float(metric.iloc[0].distance(metric.iloc[1])) / 1000
        if not (away_km <= settings.max_edit_distance_km):  # NaN too: far outside the projection's zone
            msg = (
                f"`geometry` lies {away_km:.0f} km outside the dataset's extent (at most {settings.max_edit_distance_km:g} km): "
                "are longitude and latitude swapped, or in the wrong hemisphere?"
            )
            raise GeometryError(msg, field="geometry")
    if layer == "compounds":
        area_km2 = float(metric.iloc[0].area) / 1e6
        if not (area_km2 <= settings.max_edit_area_km2):
            msg = f"the compound's polygon covers {area_km2:.1f} km²; at most {settings.max_edit_area_km2:g} km² are accepted"
            raise GeometryError(msg, field="geometry")
    return geom


def _extent(dataset: Dataset) -> shapely.Geometry | None:
    for name in ("boundary", "compounds", "centers"):
        frame = dataset.layers.get(name)
        if frame is not None and len(frame) and not frame.geometry.is_empty.all():
            return shapely.box(*frame.total_bounds)
    return None


# --------------------------------------------------------------------------------------------
# answers


def _feature_response(feature: StoredFeature, *, status: int, request: Request, extra: dict[str, Any] | None = None) -> JSONResponse:
    body = feature.to_geojson()
    body.update(extra or {})
    # the id as one percent-encoded path segment (Chinese ids, `%`, `?` and `#` included)
    collection = str(request.url_for("item", layer=feature.layer, feature_id="-")).rsplit("/", 1)[0]
    href = f"{collection}/{quote(feature.id, safe='')}"
    return JSONResponse(
        body,
        status_code=status,
        media_type=GEOJSON,
        headers={"ETag": f'"{feature.version}"', "Location": href, "Cache-Control": "no-store"},
    )


@router.post(
    "/collections/{layer}/items",
    status_code=201,
    summary="Add a centre or compound (editor token)",
    responses={201: {"content": {GEOJSON: {}}}, 401: {}, 403: {}, 409: {}, 422: {}},
)
def create_item(
    request: Request,
    layer: EditLayer,
    state: StateDep,
    settings: SettingsDep,
    caller: EditorDep,
    feature: Annotated[FeatureIn, Body(examples=[_CREATE_EXAMPLE])],
) -> JSONResponse:
    """Validate the Feature like an import, store it, recompute coverage; answers the stored feature with its version."""
    geom = check_geometry(layer, feature.geometry, state.dataset(), settings)
    props = check_properties(feature.properties)
    if feature.id is not None:
        props["id"] = check_feature_id(feature.id)
    elif "id" in props and props["id"] is not None:
        props["id"] = check_feature_id(props["id"])

    def write(tx: Transaction) -> tuple[tuple[str, str], bool]:
        return (layer, tx.create_feature(layer, props, geom).id), False

    stored, summary = submit_edit(state, caller, write)
    assert stored is not None
    return _feature_response(stored, status=201, request=request, extra={"coverage": _brief(summary)})


@router.patch(
    "/collections/{layer}/items/{feature_id}",
    summary="Change a centre or compound (editor token, If-Match)",
    responses={200: {"content": {GEOJSON: {}}}, 401: {}, 403: {}, 404: {}, 412: {}, 428: {}, 422: {}},
)
def patch_item(
    request: Request,
    layer: EditLayer,
    feature_id: FeatureId,
    state: StateDep,
    settings: SettingsDep,
    caller: EditorDep,
    patch: FeaturePatch,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Change some properties and/or the geometry; ``If-Match`` must name the current version."""
    expected = expected_version(if_match)
    geom = check_geometry(layer, patch.geometry, state.dataset(), settings) if patch.geometry is not None else None
    if not patch.properties and geom is None:
        raise InvalidValueError("nothing to change: send `properties` and/or `geometry`", field="properties")
    check_properties(patch.properties)

    def write(tx: Transaction) -> tuple[tuple[str, str], bool]:
        ref = tx.update_feature(layer, feature_id, expected_version=expected, properties=patch.properties, geometry=geom)
        return (layer, ref.id), False

    stored, summary = submit_edit(state, caller, write)
    assert stored is not None
    return _feature_response(stored, status=200, request=request, extra={"coverage": _brief(summary)})


@router.delete(
    "/collections/{layer}/items/{feature_id}",
    status_code=204,
    summary="Delete a centre or compound (editor token, If-Match)",
    responses={401: {}, 403: {}, 404: {}, 412: {}, 428: {}},
)
def delete_item(layer: EditLayer, feature_id: FeatureId, state: StateDep, caller: EditorDep, if_match: IfMatch = None) -> Response:
    """Delete the feature; ``If-Match`` must name the current version."""
    expected = expected_version(if_match)
    versions: list[int] = []

    def write(tx: Transaction) -> tuple[tuple[str, str], bool]:
        ref = tx.delete_feature(layer, feature_id, expected_version=expected)
        versions.append(ref.version)
        return (layer, ref.id), True

    submit_edit(state, caller, write)
    return Response(status_code=204, headers={"ETag": f'"{versions[0]}"'})


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    """Compounds and households covered after the edit."""
    return {k: summary[k] for k in ("compounds", "households") if k in summary}
