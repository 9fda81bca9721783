"""Planning: site suggestions for new centres, and what-if scenarios.

- ``POST /suggestions``: where ``new_centers`` new centres would newly cover
  the most households (maximal covering), or with ``cover_all`` the fewest
  sites that cover every reachable household (set covering).
- ``POST /scenarios``, ``GET /scenarios``, ``GET/PUT/DELETE /scenarios/{id}``:
  named sets of changes to centres (add, move, remove, change level or
  status); ``GET /scenarios/{id}`` answers the coverage and the difference
  from the base by community.  Scenarios are kept in the dataset's store
  (else in JSON files beside it) and never change the dataset; their results
  are kept in the app's :class:`ScenarioResults` (made by
  :func:`api.app.create_app`).

Other routers (the coverage map's ``?scenario=ID``) get a scenario's dataset
from :meth:`api.state.dataset.DatasetState.variant`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import geopandas as gpd
import numpy as np
import shapely
from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, Field

from api.auth import Caller, require
from api.ratelimit import rate_limited
from api.state.dataset import DatasetState
from api.state.deps import SettingsDep, StateDep
from api.state.lru import LRU
from geo.errors import InputError, InvalidValueError
from layers.planning.problem import coverage_problem
from layers.planning.scenario_coverage import ScenarioResult, scenario_result
from layers.planning.scenario_store import Scenarios
from layers.planning.scenarios import Scenario
from layers.planning.suggestion import maximal_covering, set_covering
from layers.store import Role

router = APIRouter(tags=["planning"])

Level = Literal["district", "subdistrict", "community", "compound"]
Status = Literal["existing", "planned", "proposed"]


# --------------------------------------------------------------------------------------------
# suggestions


class SuggestionRequest(BaseModel):
    """What to optimise: ``new_centers`` sites (maximal covering) or ``cover_all`` (set covering)."""

    new_centers: int | None = Field(None, ge=1, le=500, description="Number of new centres (maximal covering)", examples=[3])
    cover_all: bool = Field(False, description="Fewest new sites covering every reachable household (set covering)")
    level: Level = Field("community", description="Level of the new centres; sets their walking minutes")
    minutes: float | None = Field(None, gt=0, le=120, description="Walking minutes (default: as built)")
    method: Literal["circle", "network"] | None = Field(None, description="Coverage method (default: as built)")
    candidates: dict[str, Any] | None = Field(
        None, description="Candidate points as a GeoJSON FeatureCollection (WGS84); default: uncovered compounds' "
        "access points and nearby road intersections"
    )
    solver: Literal["auto", "cbc", "highs", "greedy"] = Field(
        "auto", description="`auto` (CBC, else HiGHS), `cbc` or `highs` (exact, time-limited), or `greedy`"
    )
    time_limit_s: float = Field(20.0, gt=0, le=120, description="Solver time limit, seconds")
    lang: Literal["zh", "en"] | None = Field(None, description="Language of site names and summary lines")


def _candidates(fc: dict[str, Any] | None) -> gpd.GeoDataFrame | None:
    if fc is None:
        return None
    features = fc.get("features") if isinstance(fc, dict) else None
    if fc.get("type") != "FeatureCollection" or not isinstance(features, list):
        msg = "`candidates` must be a GeoJSON FeatureCollection of points"
        raise InvalidValueError(msg, field="candidates")
    try:
        frame = gpd.GeoDataFrame.from_features(features, crs=4326)
    except Exception as exc:
        msg = f"`candidates` is not valid GeoJSON: {exc}"
        raise InvalidValueError(msg, field="candidates") from exc
    if not len(frame):
        msg = "`candidates` holds no features"
        raise InvalidValueError(msg, field="candidates")
    if not np.isfinite(shapely.get_coordinates(frame.geometry.to_numpy())).all():
        msg = "`candidates` holds coordinates that are not finite numbers (NaN or Infinity)"
        raise InvalidValueError(msg, field="candidates")
    return frame


@router.post(
    "/suggestions",
    summary="Sites for new centres that newly cover the most households",
    dependencies=[Depends(rate_limited("suggestions"))],
)
def suggestions(state: StateDep, settings: SettingsDep, body: SuggestionRequest, caller: PlannerDep) -> dict[str, Any]:
    """Choose sites for new centres, keeping the existing ones.

    Answers the sites (GeoJSON, ranked, with the households each newly
    covers), coverage before and after, the compounds no candidate can
    reach, and how it was solved (solver, status, objective, bound, gap,
    and the greedy baseline).
    """
    if body.new_centers is None and not body.cover_all:
        msg = "give `new_centers` (maximal covering) or `cover_all: true` (set covering)"
        raise InvalidValueError(msg, field="new_centers")
    lang = body.lang or settings.lang
    problem = coverage_problem(
        state.dataset(), candidates=_candidates(body.candidates), level=body.level, minutes=body.minutes,
        method=body.method,
    )
    if body.cover_all:
        result = set_covering(problem, solver=body.solver, time_limit_s=body.time_limit_s, lang=lang)
    else:
        assert body.new_centers is not None
        result = maximal_covering(problem, body.new_centers, solver=body.solver, time_limit_s=body.time_limit_s, lang=lang)
    out = result.as_dict()
    out["summary"] = result.summary_lines(lang)
    return out


# --------------------------------------------------------------------------------------------
# scenarios


class ChangeIn(BaseModel):
    """One change to the centres."""

    op: Literal["add", "move", "remove", "level", "status"] = Field(description="What to do")
    center_id: str = Field("", description="The centre changed (`add`: the new id, assigned when blank)")
    name: str = Field("", description="`add`: name of the new centre")
    level: Level | None = Field(None, description="`add`, `level`: centre level")
    status: Status | None = Field(None, description="`add` (default existing), `status`: centre status")
    lon: float | None = Field(None, ge=-180, le=180, description="`add`, `move`: longitude, WGS84")
    lat: float | None = Field(None, ge=-90, le=90, description="`add`, `move`: latitude, WGS84")
    community: str = Field("", description="`add`: community served")


class ScenarioIn(BaseModel):
    """A named set of changes to centres, applied in order."""

    name: str = Field(min_length=1, max_length=200, description="Name of the scenario", examples=["康城社区新建中心"])
    description: str = Field("", max_length=5000)
    changes: list[ChangeIn] = Field(default_factory=list, max_length=1000)

    def as_data(self) -> dict[str, Any]:
        """Plain dict for :func:`layers.planning.scenarios.parse_scenario`."""
        return self.model_dump(mode="json")


_EXAMPLE = {
    "name": "康城社区新建一处社区中心",
    "changes": [
        {"op": "add", "name": "康城社区第二党群服务中心", "level": "community", "lon": 109.7975, "lat": 39.5945},
        {"op": "status", "center_id": "DQ07", "status": "existing"},
    ],
}
ScenarioBody = Annotated[ScenarioIn, Body(examples=[_EXAMPLE])]


def get_scenario_store(state: StateDep) -> Scenarios:
    """The scenarios of the served dataset (FastAPI dependency): its store's, else JSON files beside it."""
    return state.scenarios()


class ScenarioResults:
    """The scenario results an app has computed, the ``maxsize`` last used kept.

    One per app: :func:`api.app.create_app` makes it as ``app.state.scenario_results``
    and routes get it with ``Depends(get_scenario_results)``.  A result is kept under
    the served dataset's version and the scenario's content, so editing either
    computes it anew; the rest simply ages out.
    """

    def __init__(self, maxsize: int = 32) -> None:
        self._kept = LRU(maxsize)

    def __len__(self) -> int:
        return len(self._kept)

    def result(self, state: DatasetState, scenario: Scenario) -> ScenarioResult:
        """The coverage and difference from the base of ``scenario`` over the served dataset."""
        base = state.dataset()
        key = (state.version, json.dumps(scenario.as_dict(), sort_keys=True, ensure_ascii=False))
        found = self._kept.get(key)
        if found is None:
            found = scenario_result(base, scenario)
            self._kept.put(key, found)
        return found


def get_scenario_results(request: Request) -> ScenarioResults:
    """The app's :class:`ScenarioResults` (FastAPI dependency)."""
    return request.app.state.scenario_results


StoreDep = Annotated[Scenarios, Depends(get_scenario_store)]
ResultsDep = Annotated[ScenarioResults, Depends(get_scenario_results)]
#: Scenarios and suggestions need a ``planner`` token.
PlannerDep = Annotated[Caller, Depends(require(Role.planner))]


def _save_guard(func: Any, *args: Any, **kwargs: Any) -> Scenario:
    try:
        return func(*args, **kwargs)
    except OSError as exc:
        msg = f"cannot store the scenario: {exc}"
        raise InputError(msg, field="scenario") from exc


@router.post("/scenarios", status_code=201, summary="Create a scenario")
def create_scenario(
    state: StateDep, store: StoreDep, results: ResultsDep, body: ScenarioBody, caller: PlannerDep
) -> dict[str, Any]:
    """Store a new scenario (checked against the dataset) and answer its coverage and difference from the base."""
    scenario = _save_guard(store.as_actor(caller.actor).create, body.as_data(), base=state.dataset())
    return results.result(state, scenario).as_dict()


@router.get("/scenarios", summary="List scenarios")
def list_scenarios(store: StoreDep) -> dict[str, Any]:
    """Every stored scenario: id, name, description, number of changes, timestamps."""
    return {
        "scenarios": [
            {
                "id": s.id,
                "name": s.name,
                "description": s.description,
                "changes": len(s.changes),
                "created_at": s.created_at,
                "updated_at": s.updated_at,
            }
            for s in store.list()
        ]
    }


@router.get("/scenarios/{scenario_id}", summary="A scenario's coverage and difference from the base")
def get_scenario(state: StateDep, store: StoreDep, results: ResultsDep, scenario_id: str) -> dict[str, Any]:
    """The scenario, coverage before and after, households and compounds gained and lost by community,
    the compounds whose coverage changed, and the changed centres."""
    return results.result(state, store.get(scenario_id)).as_dict()


@router.put("/scenarios/{scenario_id}", summary="Replace a scenario's changes")
def put_scenario(
    state: StateDep, store: StoreDep, results: ResultsDep, scenario_id: str, body: ScenarioBody, caller: PlannerDep
) -> dict[str, Any]:
    """Replace name, description and changes; answers the new coverage and difference."""
    scenario = _save_guard(store.as_actor(caller.actor).replace, scenario_id, body.as_data(), base=state.dataset())
    return results.result(state, scenario).as_dict()


@router.delete("/scenarios/{scenario_id}", status_code=204, summary="Delete a scenario")
def delete_scenario(store: StoreDep, scenario_id: str, caller: PlannerDep) -> Response:
    """Delete the stored scenario (the dataset is untouched)."""
    store.as_actor(caller.actor).delete(scenario_id)
    return Response(status_code=204)
