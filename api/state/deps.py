"""The FastAPI dependencies routers use: the state, the dataset, the settings and shared query parameters.

Routers get the state with ``StateDep`` (``Depends(get_state)``), the built
base dataset with ``Depends(get_dataset)``; query parameters shared by
several routers are small dataclass dependencies (:class:`CoverageQuery`,
:class:`CoordsQuery`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request

from api.settings import Settings
from api.state.dataset import DatasetState
from layers.dataset import Dataset
from layers.planning.scenarios import SCENARIO_ID_PATTERN


async def get_state(request: Request) -> DatasetState:
    """The app's :class:`DatasetState` (FastAPI dependency; ``async`` so it costs no thread hop)."""
    return request.app.state.dangjian


def get_dataset(request: Request) -> Dataset:
    """The built base dataset (FastAPI dependency; may load it, so it runs in the thread pool)."""
    state: DatasetState = request.app.state.dangjian
    return state.dataset()


async def get_settings(request: Request) -> Settings:
    """The app's settings (FastAPI dependency)."""
    return request.app.state.settings


def example(value: Any, summary: str | None = None) -> dict[str, dict[str, Any]]:
    """An ``openapi_examples`` entry for a parameter (shown and pre-filled in ``/docs``)."""
    return {"example": {"summary": summary or str(value), "value": value}}


MinutesParam = Annotated[
    float | None,
    Query(gt=0, le=120, description="Walking minutes of the service circle (default: as built)", openapi_examples=example(10)),
]
MethodParam = Annotated[
    Literal["circle", "network"] | None,
    Query(description="Coverage method: `circle` (straight line) or `network` (walking network)", openapi_examples=example("circle")),
]
ScenarioParam = Annotated[
    str | None,
    Query(pattern=SCENARIO_ID_PATTERN, description="Show a stored what-if scenario (its id)", openapi_examples=example("s-1a2b3c4d5e")),
]
CoordsParam = Annotated[
    Literal["wgs84", "gcj02"],
    Query(description="Output coordinates: `wgs84` (default) or `gcj02` to overlay AMap (高德) basemaps", openapi_examples=example("wgs84")),
]


def coverage_query_parts(minutes: float | None, method: str | None, scenario: str | None) -> list[str]:
    """``minutes=...``, ``method=...``, ``scenario=...`` for the coverage parameters given, in that order."""
    parts = []
    if minutes is not None:
        parts.append(f"minutes={minutes:g}")
    if method is not None:
        parts.append(f"method={method}")
    if scenario:
        parts.append(f"scenario={scenario}")
    return parts


@dataclass
class CoverageQuery:
    """``minutes`` and ``method`` of the coverage to show (defaults: as the dataset was built)."""

    minutes: MinutesParam = None
    method: MethodParam = None
    scenario: ScenarioParam = None

    def query_string(self) -> str:
        """``minutes=...&method=...&scenario=...`` for the parameters given (``""`` when none)."""
        return "&".join(coverage_query_parts(self.minutes, self.method, self.scenario))


@dataclass
class CoordsQuery:
    """Coordinate system of the output geometry."""

    coords: CoordsParam = "wgs84"


async def coverage_query(minutes: MinutesParam = None, method: MethodParam = None, scenario: ScenarioParam = None) -> CoverageQuery:
    """The :class:`CoverageQuery` of a request (an ``async`` dependency: no thread hop on the tile hot path)."""
    return CoverageQuery(minutes, method, scenario or None)


async def coords_query(coords: CoordsParam = "wgs84") -> CoordsQuery:
    """The :class:`CoordsQuery` of a request."""
    return CoordsQuery(coords)


StateDep = Annotated[DatasetState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
CoverageDep = Annotated[CoverageQuery, Depends(coverage_query)]
CoordsDep = Annotated[CoordsQuery, Depends(coords_query)]
