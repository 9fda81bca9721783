"""The service's routers: the route map in one place.

Each module owns an :class:`fastapi.APIRouter` (``router``) carrying its own
paths.  :data:`ROUTERS` lists them in the order the app includes them, which
is also the order a request is matched in (``edits`` writes
``/collections/{layer}/items`` before ``features`` reads it).  The routers in
:data:`PUBLIC_ROUTERS` answer without a token even when reading needs one.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routers import (
    audit,
    datasets,
    edits,
    features,
    health,
    maps,
    ogc,
    ogc_tiles,
    planning,
    reports,
    routes,
    tiles,
    wmts,
)

#: ``(name, router)`` of every router, in the order the app includes them.
ROUTERS: tuple[tuple[str, APIRouter], ...] = (
    ("audit", audit.router),  # /audit, /collections/{layer}/items/{feature_id}/history
    ("datasets", datasets.router),  # /datasets, /datasets/{dataset_id}[/reports[/{report_id}]]
    ("edits", edits.router),  # POST/PUT/PATCH/DELETE /collections/{layer}/items[/{feature_id}]
    ("features", features.router),  # /collections[/{layer}[/items[/{feature_id}]|/queryables]], /coverage/summary
    ("health", health.router),  # /health
    ("maps", maps.router),  # /maps/coverage, /embed/coverage
    ("ogc", ogc.router),  # /, /api, /conformance
    ("ogc_tiles", ogc_tiles.router),  # /tileMatrixSets[/{tms}], /collections/{layer}[/map]/tiles[/{tms}[/{z}/{row}/{col}]]
    ("planning", planning.router),  # /scenarios[/{scenario_id}], /suggestions
    ("reports", reports.router),  # /reports/gaps
    ("routes", routes.router),  # /collections/compounds/items/{feature_id}/route
    ("tiles", tiles.router),  # /tiles/{layer}.json, /tiles/{layer}/{z}/{x}/{tile}
    ("wmts", wmts.router),  # /wmts, /wmts/1.0.0/WMTSCapabilities.xml
)
#: Routers answered without a token even when reading needs one.
PUBLIC_ROUTERS = frozenset({"health"})
