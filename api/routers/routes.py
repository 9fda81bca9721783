"""A compound's walk to its centre as a GeoJSON Feature: ``/collections/compounds/items/{featureId}/route``.

The line is :func:`layers.routes.compound_route`'s: from the compound's
access point to the nearest point of the nearest walkable road, along the
roads, to the centre (``method=network``), or the straight line
(``method=circle``), in WGS84 (or GCJ-02 with ``coords=gcj02``); its length
is the compound's ``walk_m``.  ``minutes``, ``method`` and ``scenario``
choose the coverage variant as on ``items``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal
from urllib.parse import quote

import numpy as np
import shapely
from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from api.http import body_response, etag_for, public_base
from api.ogc_params import OGCRoute
from api.state.deps import CoordsDep, CoverageDep, SettingsDep, StateDep, example
from api.state.features import dumps, shift_geometries
from layers.routes import compound_route

router = APIRouter(tags=["features"], route_class=OGCRoute)

GEOJSON = "application/geo+json"
#: Decimals of the route's coordinates (about 1 cm), so its measured length keeps to ``walk_m``.
ROUTE_DECIMALS = 7


class RouteCenter(BaseModel):
    """The centre walked to."""

    id: str
    name: str
    level: str = Field(description="`district`, `subdistrict`, `community` or `compound`")


class RouteLegs(BaseModel):
    """Metres of each part of the walk (they add up to `walk_m`)."""

    access: float | None = Field(description="From the compound's access point to the nearest point of the nearest road (circle: the whole line)")
    roads: float | None = Field(description="Along the roads (null for `circle`)")
    center: float | None = Field(description="From the road to the centre (null for `circle`)")


class RouteProperties(BaseModel):
    """What the route says besides its line."""

    compound: str = Field(description="The compound's id")
    name: str = Field(description="The compound's name")
    walk_m: float | None = Field(description="Walking metres (the compound's `walk_m`; the line is this long); null when unreachable")
    walk_min: float | None = Field(description="Walking minutes (the compound's `walk_min`)")
    minutes: float | None = Field(description="The centre's walking limit in minutes (the target)")
    covered: bool
    method: Literal["circle", "network"]
    center: RouteCenter | None = Field(description="The centre walked to: the covering one, else the nearest; null when none")
    legs_m: RouteLegs
    unreachable: str = Field(
        description="Why there is no route (`far_from_road`, `disconnected`, `no_centers`, `no_sources`, `beyond_cutoff`); `\"\"` when there is one"
    )


class RouteGeometry(BaseModel):
    """A GeoJSON LineString (longitude, latitude)."""

    type: Literal["LineString"]
    coordinates: list[list[float]]


class RouteFeature(BaseModel):
    """A GeoJSON Feature: the walk of one compound, geometry null when no centre is reachable."""

    type: Literal["Feature"]
    id: str
    geometry: RouteGeometry | None
    properties: RouteProperties
    links: list[dict[str, Any]]


def _num(value: Any) -> float | None:
    """Metres or minutes to 0.01 (``None`` for NaN)."""
    v = float(value)
    return round(v, 2) if math.isfinite(v) else None


@router.get(
    "/collections/compounds/items/{feature_id}/route",
    summary="A compound's walk to its centre (GeoJSON LineString)",
    response_model=RouteFeature,
    responses={
        200: {"content": {GEOJSON: {}}},
        404: {"description": "No compound has that id: `{\"detail\": ..., \"field\": \"featureId\"}`, as `items/{featureId}` answers"},
    },
)
def route(
    request: Request,
    feature_id: Annotated[str, Path(description="The compound's id", openapi_examples=example("XQ001"))],
    state: StateDep,
    settings: SettingsDep,
    coverage: CoverageDep,
    coords: CoordsDep,
) -> Response:
    """The compound's walk to its centre (the covering one, else the nearest), as a GeoJSON Feature.

    ``method=network``: a LineString from the compound's access point (a gate,
    else a point inside it) straight to the nearest point of the nearest
    walkable road, along the roads, and straight from the road to the centre;
    ``method=circle``: the straight line to the centre.  Its length, measured
    in the dataset's metric CRS, is ``properties.walk_m``; ``legs_m`` splits it
    into the access leg, the roads and the leg to the centre.  A compound
    no centre is reachable from answers a Feature with ``geometry: null`` and
    the reason in ``unreachable``.  An unknown id answers 404 as
    ``/collections/compounds/items/{featureId}`` does.
    """
    table = state.features("compounds", minutes=coverage.minutes, method=coverage.method, scenario=coverage.scenario)
    table.position(feature_id)  # 404 as items/{featureId} answers it
    ds, key = state.variant(coverage.minutes, coverage.method, coverage.scenario)
    row = compound_route(ds, feature_id, params=state.params_for(ds)).iloc[0]
    line = row.geometry
    geometry = None
    if line is not None:
        moved = shift_geometries(np.array([line], dtype=object), coords.coords)[0]
        geometry = {
            "type": "LineString",
            "coordinates": np.round(shapely.get_coordinates(moved), ROUTE_DECIMALS).tolist(),
        }
    base = public_base(request, settings)
    item = f"{base}/collections/compounds/items/{quote(feature_id, safe='')}"
    query = "&".join(q for q in (coverage.query_string(), "" if coords.coords == "wgs84" else f"coords={coords.coords}") if q)
    feature = {
        "type": "Feature",
        "id": feature_id,
        "geometry": geometry,
        "properties": {
            "compound": row["compound"],
            "name": row["name"],
            "walk_m": _num(row["walk_m"]),
            "walk_min": _num(row["walk_min"]),
            "minutes": _num(row["minutes"]),
            "covered": bool(row["covered"]),
            "method": row["method"],
            "center": {"id": row["center_id"], "name": row["center_name"], "level": row["center_level"]} if row["center_id"] else None,
            "legs_m": {"access": _num(row["access_m"]), "roads": _num(row["roads_m"]), "center": _num(row["center_m"])},
            "unreachable": row["unreachable"],
        },
        "links": [
            {"href": f"{item}/route" + (f"?{query}" if query else ""), "rel": "self", "type": GEOJSON},
            {"href": item + (f"?{query}" if query else ""), "rel": "item", "type": GEOJSON, "title": row["name"]},
        ],
    }
    etag = etag_for(state.version, key, "route", feature_id, coords.coords)
    return body_response(request, dumps(feature).encode("utf-8"), media_type=GEOJSON, etag=etag)
