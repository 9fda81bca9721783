"""Edits of centres and compounds over HTTP, with optimistic concurrency.

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
longitude/latitude or the wrong hemisphere).  What depends on the edit is
recomputed incrementally (:func:`layers.update.update_after_edit`: the
compounds the edited centre can reach, its circles and walking service area,
the units, grids and cells holding a changed compound, the summary) and only
the changed rows are written, in the *same* store transaction as the edit, so
a failure or a kill leaves the previous state.  The served dataset is
replaced in memory, and only the cached tiles the changed rows touch are dropped.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import geopandas as gpd
import shapely
from fastapi import APIRouter, Body, Depends, Header, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import shape
from starlette.exceptions import HTTPException

from api.auth import Caller, require
from api.deps import DatasetState, SettingsDep, StateDep, example
from api.settings import Settings
from geo.crs import WGS84
from geo.errors import DangjianError, GeometryError, InvalidValueError
from layers.coverage import Method, parse_method
from layers.dataset import Dataset
from layers.service_areas import cached_walking_network
from layers.store import DERIVED_REVISION, Role, StoredFeature, Transaction
from layers.update import EditUpdate, splice, update_after_edit

log = logging.getLogger("dangjian.api")

router = APIRouter(tags=["edits"])

#: Layers that can be edited, with the geometry types each accepts.
EDITABLE: dict[str, tuple[str, ...]] = {
    "centers": ("Point",),
    "compounds": ("Polygon", "MultiPolygon"),
}
GEOJSON = "application/geo+json"

EditorDep = Annotated[Caller, Depends(require(Role.editor))]
EditLayer = Annotated[Literal["centers", "compounds"], Path(description="`centers` or `compounds`", openapi_examples=example("centers"))]
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


def check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """The properties of an edit: plain values only (text, numbers, booleans, null), else an error naming the key."""
    for key, value in properties.items():
        if not (value is None or isinstance(value, (str, int, float, bool))):
            msg = f"property `{key}` must be text, a number, true/false or null; got {type(value).__name__}"
            raise InvalidValueError(msg, field=str(key))
        if isinstance(value, str) and len(value) > 1000:
            msg = f"property `{key}` is {len(value)} characters long; at most 1000 are accepted"
            raise InvalidValueError(msg, field=str(key))
    return dict(properties)


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
    """
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
# the edit transaction


def update_in_store(
    tx: Transaction, dataset: Dataset, state: DatasetState, layer: str, feature_id: str, *, everything: bool = False
) -> EditUpdate:
    """Bring the derived layers up to date after an edit of one feature, writing only the rows that changed.

    ``dataset`` must be the stored state just before ``tx``; see
    :func:`layers.update.update_after_edit` for what is recomputed.  With
    ``everything``, every centre and compound counts as edited: the whole
    coverage is recomputed (still writing only rows that changed), for a
    stored state whose derived layers no edit of this service vouches for.
    """
    frames = {"centers": dataset["centers"], "compounds": dataset["compounds"]}
    frames[layer] = splice(frames[layer], "id", [feature_id], tx.read_layer(layer, ids=[feature_id]))
    params = state.params_for(dataset)
    network = None
    if parse_method(params.method) is Method.network:
        network = cached_walking_network(dataset["roads"], metric_crs=dataset.metric_crs)
    edited: dict[str, set[str]] = {layer: {feature_id}}
    if everything:
        for name, frame in frames.items():
            edited.setdefault(name, set()).update(frame["id"].astype(str))
            edited[name].update(dataset[name]["id"].astype(str))
    update = update_after_edit(
        dataset, params, centers=frames["centers"], compounds=frames["compounds"], edited=edited, network=network
    )
    for name, change in update.changes.items():
        tx.replace_rows(name, change.rows, key=change.key, keys=change.keys)
    _stamp(tx, update.dataset)
    log.info(
        "coverage updated after an edit of %s %s in %.2f s (%d compounds recomputed; rows rewritten: %s)",
        layer, feature_id, update.seconds, update.recomputed,
        ", ".join(f"{n} {len(c.keys)}" for n, c in update.changes.items()) or "none",
    )
    return update


def _stamp(tx: Transaction, out: Dataset) -> None:
    out.meta["edited_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    out.meta[DERIVED_REVISION] = tx.revision
    tx.set_meta({"summary": out.meta.get("summary", {}), "edited_at": out.meta["edited_at"], DERIVED_REVISION: tx.revision})


def _feature_response(feature: StoredFeature, *, status: int, request: Request, extra: dict[str, Any] | None = None) -> JSONResponse:
    body = feature.to_geojson()
    body.update(extra or {})
    href = str(request.url_for("item", layer=feature.layer, feature_id=feature.id))
    return JSONResponse(
        body,
        status_code=status,
        media_type=GEOJSON,
        headers={"ETag": f'"{feature.version}"', "Location": href, "Cache-Control": "no-store"},
    )


def _edit(state: DatasetState, caller: Caller, write: Any) -> tuple[StoredFeature | None, dict[str, Any]]:
    """Run ``write(tx)`` and the recomputation in one transaction, then serve the result.

    Errors name the property (``level``, not ``centers.level``).
    """
    with state.edit_lock:
        dataset = state.dataset()
        served_revision = state.revision
        store = state.store
        try:
            with store.transaction(actor=caller.actor) as tx:
                if served_revision is None or served_revision != tx.revision - 1:
                    # Someone else wrote since this process loaded: start from what is stored.
                    log.info("the served dataset is behind the store (revision %s < %s); reading it", served_revision, tx.revision - 1)
                    dataset = tx.export_dataset()
                # Incremental only from a state whose derived layers agree with its centres and compounds
                # (not after a feature written through the store alone, without recomputing).
                vouched = tx.derived_current()
                if not vouched:
                    log.info("derived layers behind the centres and compounds at revision %s: recomputing all", tx.revision - 1)
                feature, deleted = write(tx)
                update = update_in_store(tx, dataset, state, *feature, everything=not vouched)
                stored = tx.get_feature(feature[0], feature[1]) if not deleted else None
                revision = tx.revision
        except DangjianError as exc:
            if exc.field:
                exc.field = exc.field.split(".", 1)[1] if exc.field.split(".", 1)[0] in EDITABLE else exc.field
            raise
        versions = {feature[0]: {feature[1]: None if stored is None else stored.version}}
        if not state.install_edit(update.dataset, revision=revision, versions=versions, boxes=update.boxes):
            state.invalidate()
    return stored, update.dataset.meta.get("summary", {})


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
        props["id"] = str(feature.id)

    def write(tx: Transaction) -> tuple[tuple[str, str], bool]:
        return (layer, tx.create_feature(layer, props, geom).id), False

    stored, summary = _edit(state, caller, write)
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

    stored, summary = _edit(state, caller, write)
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

    _edit(state, caller, write)
    return Response(status_code=204, headers={"ETag": f'"{versions[0]}"'})


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    """Compounds and households covered after the edit."""
    return {k: summary[k] for k in ("compounds", "households") if k in summary}
