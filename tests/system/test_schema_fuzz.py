"""Schemathesis against the service's own OpenAPI schema, a bounded number of examples per operation.

- every GET operation on an in-memory dataset;
- every write operation (POST, PUT, PATCH, DELETE) on a GeoPackage store of
  the 3 x 3 block district built at 5 minutes with straight-line circles (a
  successful edit recomputes coverage, so it must stay cheap), with a token
  of the role each needs: the schema's own cases, positive and negative, plus
  cases aimed past the first checks (an existing feature and its current
  ``If-Match``, geometries near the district, properties of every type);
- every write operation without a token, with an unknown one and with one of
  the role just below the one it needs;
- ``POST /datasets`` (multipart, which the schema does not describe) with
  generated and hand-made bad bodies.

No answer is a 5xx; every error (4xx) is JSON ``{"detail": ..., "field": ...}``;
a created or changed feature answers a Feature with its ``id`` and its version
as the ``ETag``; a refused edit stores nothing.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pyproj import Transformer
from schemathesis import GenerationMode

from api.app import create_app
from api.settings import Settings
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from layers.store import Role, Store, open_store
from tests.api.helpers import bearer, copy_dataset, make_tokens
from tests.helpers import DEMO, LOCAL, ORIGIN, block_layers, make_dataset, reads, writes

#: Examples per operation: enough to reach the parameter edges, small enough to keep the suite fast.
EXAMPLES = 12
#: Examples per write operation (each drawn from the schema's positive and negative cases and aimed ones).
WRITE_EXAMPLES = 40
#: Generated multipart bodies sent to ``POST /datasets``.
UPLOAD_EXAMPLES = 25

_BASE = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


def _header(response: Any, name: str) -> str:
    """A header of a schemathesis or an httpx response (the former keeps a list per name)."""
    value = response.headers.get(name) or [""]
    return value[0] if isinstance(value, list) else value


def _content_type(response: Any) -> str:
    return _header(response, "content-type")


def _check_error(where: str, response: Any) -> None:
    """No 5xx; a 4xx is JSON with ``detail`` and ``field``."""
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:500]}"
    if response.status_code >= 400:
        assert _content_type(response).startswith("application/json"), (where, response.status_code, _content_type(response))
        body = response.json()
        assert "detail" in body and "field" in body, (where, body)


@pytest.fixture(scope="module")
def api_schema(_blocks_built: Dataset) -> schemathesis.BaseSchema:
    app = create_app(Settings(dataset=DEMO, rate_limit_per_minute=0), dataset=copy_dataset(_blocks_built))
    return schemathesis.openapi.from_asgi("/openapi.json", app).include(method="GET")


def _check(case: schemathesis.Case) -> None:
    response = case.call()
    _check_error(f"{case.method} {case.formatted_path} {case.query}", response)


def test_get_endpoints_answer_no_5xx_and_json_errors(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(_BASE, max_examples=EXAMPLES)
        def run(case: schemathesis.Case) -> None:
            _check(case)

        run()


# --------------------------------------------------------------------------------------------
# write operations

#: The role each write operation needs; a write operation missing here fails the test until it is listed.
WRITE_ROLES: dict[tuple[str, str], Role] = {
    ("POST", "/collections/{layer}/items"): Role.editor,
    ("PATCH", "/collections/{layer}/items/{feature_id}"): Role.editor,
    ("DELETE", "/collections/{layer}/items/{feature_id}"): Role.editor,
    ("POST", "/suggestions"): Role.planner,
    ("POST", "/scenarios"): Role.planner,
    ("PUT", "/scenarios/{scenario_id}"): Role.planner,
    ("DELETE", "/scenarios/{scenario_id}"): Role.planner,
    ("POST", "/datasets"): Role.admin,
}
WRITE_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
_TO_WGS84 = Transformer.from_crs(LOCAL, 4326, always_xy=True)


def lonlat(x: float, y: float) -> list[float]:
    """Local metres of the block fixture -> ``[lon, lat]``."""
    lon, lat = _TO_WGS84.transform(x + ORIGIN[0], y + ORIGIN[1])
    return [lon, lat]


@dataclass
class Writable:
    """An app serving a GeoPackage store of the block district, the store, one token per role, the upload folder."""

    app: FastAPI
    store: Store
    tokens: dict[str, str]
    data_dir: Path
    client: TestClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = TestClient(self.app, raise_server_exceptions=False)

    def ids(self, layer: str) -> list[str]:
        return sorted(reads(self.store).read_layer(layer)["id"].astype(str))

    def version(self, layer: str, feature_id: str) -> int:
        return reads(self.store).get_feature(layer, feature_id).version


@contextmanager
def _writable(tmp: Path, built: Dataset) -> Iterator[Writable]:
    path = tmp / "blocks.gpkg"
    store = open_store(path)
    writes(store).import_dataset(built, actor="test")
    settings_ = Settings(dataset=path, reload_check_s=0, rate_limit_per_minute=0, auth_failures_per_minute=0, data_dir=tmp / "uploads", upload_max_mb=1)
    found = Writable(create_app(settings_), store, make_tokens(store), tmp / "uploads")
    with found.client:
        yield found
    store.close()


@pytest.fixture(scope="module")
def _blocks5() -> Dataset:
    return build_dataset(make_dataset(block_layers()), BuildParams(minutes=5, method="circle"))


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory, _blocks5: Dataset) -> Iterator[Writable]:
    """The block district in a GeoPackage store, shared by the hand-made cases (which never delete)."""
    with _writable(tmp_path_factory.mktemp("writes"), _blocks5) as found:
        yield found


@pytest.fixture
def fuzzed(tmp_path: Path, _blocks5: Dataset) -> Iterator[Writable]:
    """A store of its own for the generated writes (they delete features and scenarios)."""
    with _writable(tmp_path, _blocks5) as found:
        yield found


# strategies aimed past the first checks


def _points() -> st.SearchStrategy[list[float]]:
    metres = st.floats(-3000, 4000, allow_nan=False)
    return st.one_of(
        st.builds(lonlat, metres, metres),
        st.lists(st.floats(-200, 200, allow_nan=False), min_size=2, max_size=3),
        st.lists(st.sampled_from([0.0, 180.0, -180.0, 90.0, -90.0, 1e308, -1e308]), min_size=2, max_size=2),
    )


def _ring(cx: float, cy: float, half: float) -> list[list[float]]:
    corners = [(cx - half, cy - half), (cx + half, cy - half), (cx + half, cy + half), (cx - half, cy + half), (cx - half, cy - half)]
    return [lonlat(x, y) for x, y in corners]


def _bowtie(cx: float, cy: float, half: float) -> list[list[float]]:
    corners = [(cx - half, cy - half), (cx + half, cy + half), (cx + half, cy - half), (cx - half, cy + half), (cx - half, cy - half)]
    return [lonlat(x, y) for x, y in corners]


@st.composite
def _geometries(draw: st.DrawFn) -> Any:
    cx, cy = draw(st.floats(-1000, 2000)), draw(st.floats(-1000, 2000))
    half = draw(st.sampled_from([0.0, 0.001, 5.0, 50.0, 400.0, 5000.0]))
    kind = draw(st.sampled_from(["Point", "Polygon", "bowtie", "hole", "MultiPolygon", "LineString", "open", "raw", "empty"]))
    if kind == "Point":
        return {"type": "Point", "coordinates": draw(_points())}
    if kind == "Polygon":
        return {"type": "Polygon", "coordinates": [_ring(cx, cy, half)]}
    if kind == "bowtie":
        return {"type": "Polygon", "coordinates": [_bowtie(cx, cy, half)]}
    if kind == "hole":
        return {"type": "Polygon", "coordinates": [_ring(cx, cy, half + 10), _ring(cx, cy, half / 2)]}
    if kind == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[_ring(cx, cy, half)], [_ring(cx + 3 * half + 1, cy, half)]]}
    if kind == "LineString":
        return {"type": "LineString", "coordinates": [lonlat(cx, cy), lonlat(cx + 10, cy)]}
    if kind == "open":
        return {"type": "Polygon", "coordinates": [_ring(cx, cy, half)[:-1]]}
    if kind == "empty":
        return {"type": draw(st.sampled_from(["Point", "Polygon", "MultiPolygon"])), "coordinates": []}
    return draw(st.dictionaries(st.sampled_from(["type", "coordinates", "geometries"]), _json_values(), max_size=3))


def _json_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.integers(-5, 2000),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
        st.sampled_from(["community", "compound", "district", "subdistrict", "existing", "planned", "proposed", "S1", "A", "x" * 1001]),
    )
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=4), inner, max_size=2), max_leaves=4)


_PROPERTY_KEYS = [
    "name", "level", "status", "households", "has_party_org", "community", "subdistrict", "capacity", "id",
    "covered", "walk_m", "nearest_center", "version", "fid", "geometry", "unit", "grid", "",
]


def _properties() -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.one_of(st.sampled_from(_PROPERTY_KEYS), st.text(max_size=8)), _json_values(), max_size=5)


def _plausible_properties(layer: str, *, odd: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    """Properties that pass validation, so the edit reaches the recomputation; ``odd``: sometimes with one odd extra."""
    if layer == "centers":
        base = st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=10)},
            optional={"level": st.sampled_from(["community", "compound", "subdistrict"]),
                      "status": st.sampled_from(["existing", "planned", "proposed"])},
        )
    else:
        base = st.fixed_dictionaries(
            {"name": st.text(min_size=1, max_size=10), "households": st.integers(0, 5000)},
            optional={"has_party_org": st.booleans()},
        )
    if not odd:
        return base
    extra = st.tuples(base, _properties()).map(lambda pair: {**pair[0], **dict(list(pair[1].items())[:1])})
    return st.one_of(base, extra, _properties())


#: Ids an aimed create may ask for.  Non-ASCII ids and ids with ``/`` are left to
#: :func:`test_a_created_feature_of_any_id_answers_its_location` (a known server error).
_IDS = st.one_of(st.none(), st.from_regex(r"[A-Za-z0-9_-]{1,8}", fullmatch=True), st.integers(-5, 10**20))


def _one_of(items: list[str]) -> st.SearchStrategy[str]:
    """One of ``items``, which depend on the store: drawn as an index so each draw has the same shape (hypothesis checks)."""
    return st.integers(0, 2**16).map(lambda i: items[i % len(items)])


def _layer_of(case: schemathesis.Case, data: st.DataObject) -> str:
    layer = (case.path_parameters or {}).get("layer")
    return layer if layer in ("centers", "compounds") else data.draw(st.sampled_from(["centers", "compounds"]))


def _set_header(case: schemathesis.Case, name: str, value: str) -> None:
    headers = dict(case.headers or {})
    headers[name] = value
    case.headers = headers


def _aim_create(case: schemathesis.Case, data: st.DataObject, w: Writable, *, valid: bool) -> None:
    """A Feature near the district: with ``valid``, one the service should store; else with odd parts."""
    layer = _layer_of(case, data)
    case.path_parameters = {**(case.path_parameters or {}), "layer": layer}
    if layer == "centers":
        plausible = {"type": "Point", "coordinates": data.draw(st.builds(lonlat, st.floats(-200, 1100), st.floats(-200, 1100)))}
    else:
        cx, cy, half = data.draw(st.floats(-200, 1100)), data.draw(st.floats(-200, 1100)), data.draw(st.floats(5, 100))
        plausible = {"type": "Polygon", "coordinates": [_ring(cx, cy, half)]}
    body: dict[str, Any] = {
        "type": "Feature",
        "geometry": plausible if valid else data.draw(st.one_of(st.just(plausible), _geometries())),
        "properties": data.draw(_plausible_properties(layer, odd=not valid)),
    }
    feature_id = data.draw(st.one_of(st.none(), _IDS) if valid else st.one_of(_IDS, _one_of(w.ids(layer) or ["S1"])))
    if feature_id is not None:
        body["id"] = feature_id
    case.body = body


def _aim_existing(case: schemathesis.Case, data: st.DataObject, w: Writable, *, valid: bool) -> None:
    """An existing feature and its current version (``valid``), else an off-by-one or odd ``If-Match``."""
    layer = _layer_of(case, data)
    feature_id = data.draw(_one_of(w.ids(layer) or ["none-left"]))
    case.path_parameters = {"layer": layer, "feature_id": feature_id}
    current = ['"{v}"', 'W/"{v}"', "{v}"]
    odd = ['"{v}"', '"{before}"', '"{after}"', '"-1"', "*", "", '"{v}", "{after}"']
    tag = data.draw(st.sampled_from(current if valid else odd))
    version = w.version(layer, feature_id) if feature_id != "none-left" else 1
    _set_header(case, "If-Match", tag.format(v=version, before=version - 1, after=version + 1))


def _aim_patch(case: schemathesis.Case, data: st.DataObject, w: Writable, *, valid: bool) -> None:
    _aim_existing(case, data, w, valid=valid)
    layer = (case.path_parameters or {}).get("layer", "centers")
    body: dict[str, Any] = {"properties": data.draw(_plausible_properties(layer, odd=not valid))}
    if not valid and data.draw(st.booleans()):
        body["geometry"] = data.draw(_geometries())
    case.body = body


def _aim_suggestions(case: schemathesis.Case, data: st.DataObject, w: Writable, *, valid: bool) -> None:
    candidates = st.one_of(
        st.none(),
        st.builds(
            lambda points: {"type": "FeatureCollection", "features": [
                {"type": "Feature", "geometry": {"type": "Point", "coordinates": p}, "properties": {}} for p in points
            ]},
            st.lists(_points(), max_size=4),
        ),
        st.builds(lambda g: {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": g, "properties": {}}]}, _geometries()),
        st.dictionaries(st.sampled_from(["type", "features"]), _json_values(), max_size=2),
    )
    body = data.draw(st.fixed_dictionaries({}, optional={
        "new_centers": st.integers(1, 6),
        "cover_all": st.booleans(),
        "level": st.sampled_from(["community", "compound", "district", "subdistrict"]),
        "minutes": st.floats(0.5, 30),
        "method": st.sampled_from(["circle", "network"]),
        "candidates": st.none() if valid else candidates,
        "solver": st.sampled_from(["auto", "cbc", "highs", "greedy"]),
        "time_limit_s": st.floats(0.1, 2),
        "lang": st.sampled_from(["zh", "en"]),
    }))
    if valid:
        body["new_centers"] = body.get("new_centers", 2)
    case.body = body


def _changes(w: Writable, *, valid: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    ids = w.ids("centers") or ["S1"]
    if valid:  # a status change of an existing centre always applies
        return st.lists(st.fixed_dictionaries({
            "op": st.just("status"), "center_id": _one_of(ids), "status": st.sampled_from(["existing", "planned"])
        }), max_size=2)
    change = st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "move", "remove", "level", "status"])},
        optional={
            "center_id": st.one_of(_one_of(ids), st.text(max_size=6)),
            "name": st.text(max_size=8),
            "level": st.sampled_from(["community", "compound", "district", "subdistrict"]),
            "status": st.sampled_from(["existing", "planned", "proposed"]),
            "lon": st.floats(109.7, 109.9),
            "lat": st.floats(39.5, 39.7),
            "community": st.sampled_from(["西社区", "东社区", "", "无此社区"]),
        },
    )
    return st.lists(change, max_size=4)


def _aim_scenario(case: schemathesis.Case, data: st.DataObject, w: Writable, *, valid: bool) -> None:
    if "scenario_id" in (case.path_parameters or {}):
        ids = [s["id"] for s in reads(w.store).list_scenarios()]
        case.path_parameters = {"scenario_id": data.draw(_one_of(ids or ["none-left"]))}
    if case.method.upper() != "DELETE":
        case.body = {"name": data.draw(st.text(min_size=1, max_size=12)), "changes": data.draw(_changes(w, valid=valid))}


#: How to aim a case of each write operation: ``aim(case, data, writable, valid=...)``.
_AIMS: dict[tuple[str, str], Callable[..., None]] = {
    ("POST", "/collections/{layer}/items"): _aim_create,
    ("PATCH", "/collections/{layer}/items/{feature_id}"): _aim_patch,
    ("DELETE", "/collections/{layer}/items/{feature_id}"): _aim_existing,
    ("POST", "/suggestions"): _aim_suggestions,
    ("POST", "/scenarios"): _aim_scenario,
    ("PUT", "/scenarios/{scenario_id}"): _aim_scenario,
    ("DELETE", "/scenarios/{scenario_id}"): _aim_scenario,
}


def _check_write(case: schemathesis.Case, response: Any, w: Writable, revision: int) -> None:
    where = f"{case.method} {case.formatted_path} headers={case.headers} body={json.dumps(case.body, default=repr)[:400]}"
    _check_error(where, response)
    items = case.path.startswith("/collections/")
    if response.status_code >= 400 and items:
        assert w.store.revision() == revision, f"{where}: refused with {response.status_code} but the store changed"
    if response.status_code >= 300 or not items:
        return
    method = case.method.upper()
    etag = _header(response, "etag")
    assert etag and etag.startswith('"'), (where, response.status_code, dict(response.headers))
    if method == "DELETE":
        assert response.status_code == 204, (where, response.status_code)
        return
    assert response.status_code == (201 if method == "POST" else 200), (where, response.status_code)
    assert _content_type(response).startswith("application/geo+json"), (where, _content_type(response))
    body = response.json()
    assert body["type"] == "Feature" and isinstance(body.get("id"), str) and body["id"], (where, body)
    assert etag == f'"{body["version"]}"', (where, etag, body)
    layer = case.path_parameters["layer"]
    assert w.version(layer, body["id"]) == body["version"], (where, body)
    if method == "PATCH":
        assert body["id"] == case.path_parameters["feature_id"], (where, body)


def _write_operations(schema: schemathesis.BaseSchema) -> list[Any]:
    operations = [result.ok() for result in schema.get_all_operations()]
    found = {(op.method.upper(), op.path) for op in operations}
    assert found == set(WRITE_ROLES), f"write operations changed: list their roles in WRITE_ROLES: {found ^ set(WRITE_ROLES)}"
    return operations


def _fuzz(operation: Any, writable: Writable) -> int:
    """Send :data:`WRITE_EXAMPLES` cases of ``operation`` with a token of its role; answers how many succeeded."""
    key = (operation.method.upper(), operation.path)
    headers = bearer(writable.tokens[WRITE_ROLES[key].value])
    aim = _AIMS.get(key)
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))
    successes = []

    @given(case=cases, aimed=st.sampled_from(["schema", "valid", "odd"]) if aim else st.just("schema"), data=st.data())
    @settings(_BASE, max_examples=WRITE_EXAMPLES)
    def run(case: schemathesis.Case, aimed: str, data: st.DataObject) -> None:
        if aim is not None and aimed != "schema":
            aim(case, data, writable, valid=aimed == "valid")
        revision = writable.store.revision()
        response = case.call(headers=headers)
        _check_write(case, response, writable, revision)
        if response.status_code < 300:
            successes.append(response.status_code)

    run()
    return len(successes)


def test_write_endpoints_answer_no_5xx_and_json_errors(fuzzed: Writable) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed.app).include(method=WRITE_METHODS)
    successes = {(op.method.upper(), op.path): _fuzz(op, fuzzed) for op in _write_operations(schema)}
    # the aimed cases get past validation: every edit and scenario operation succeeded at least once
    missing = {key for key in _AIMS if not successes.get(key)}
    assert not missing, f"never answered 2xx: {sorted(missing)}; aim the cases better"


# --------------------------------------------------------------------------------------------
# tokens


def _weaker(role: Role) -> Role:
    return list(Role)[role.rank - 1]


def _sample_request(key: tuple[str, str], w: Writable) -> dict[str, Any]:
    """A request to the write operation ``key`` that the right token would get past the token check."""
    center = {"type": "Feature", "geometry": {"type": "Point", "coordinates": lonlat(150, 700)}, "properties": {"name": "新中心", "level": "community"}}
    scenario = {"name": "试", "changes": [{"op": "remove", "center_id": "S1"}]}
    scenario_id = next((s["id"] for s in reads(w.store).list_scenarios()), "nope")
    feature_id = (w.ids("centers") or ["S1"])[0]
    match = {"If-Match": '"1"'}
    return {
        ("POST", "/collections/{layer}/items"): {"url": "/collections/centers/items", "json": center},
        ("PATCH", "/collections/{layer}/items/{feature_id}"): {
            "url": f"/collections/centers/items/{feature_id}", "json": {"properties": {"name": "改"}}, "headers": match,
        },
        ("DELETE", "/collections/{layer}/items/{feature_id}"): {"url": f"/collections/centers/items/{feature_id}", "headers": match},
        ("POST", "/suggestions"): {"url": "/suggestions", "json": {"new_centers": 1}},
        ("POST", "/scenarios"): {"url": "/scenarios", "json": scenario},
        ("PUT", "/scenarios/{scenario_id}"): {"url": f"/scenarios/{scenario_id}", "json": scenario},
        ("DELETE", "/scenarios/{scenario_id}"): {"url": f"/scenarios/{scenario_id}"},
        ("POST", "/datasets"): {"url": "/datasets", "files": {"files": ("a.geojson", b'{"type": "FeatureCollection", "features": []}')}},
    }[key]


@pytest.mark.parametrize("key", list(WRITE_ROLES), ids=[f"{m} {p}" for m, p in WRITE_ROLES])
def test_writes_without_the_right_token_are_401_or_403_and_change_nothing(writable: Writable, key: tuple[str, str]) -> None:
    method, _ = key
    needed = WRITE_ROLES[key]
    request = _sample_request(key, writable)
    extra = request.pop("headers", {})
    revision, scenarios = writable.store.revision(), reads(writable.store).list_scenarios()
    uploads = sorted(p.name for p in writable.data_dir.glob("*")) if writable.data_dir.exists() else []
    attempts = [
        ({}, 401),
        ({"Authorization": "Bearer"}, 401),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
        (bearer("dj_nope_nope"), 401),
        (bearer(writable.tokens[needed.value] + "x"), 401),
        (bearer(writable.tokens[_weaker(needed).value]), 403),
        (bearer(writable.tokens[Role.viewer.value]), 403),
    ]
    for auth, status in attempts:
        res = writable.client.request(method, headers={**extra, **auth}, **request)
        assert res.status_code == status, (key, auth, res.status_code, res.text[:300])
        assert res.headers["content-type"].startswith("application/json")
        assert res.json()["field"] == "Authorization" and res.json()["detail"], res.json()
        if status == 401:
            assert res.headers["www-authenticate"].startswith("Bearer"), dict(res.headers)
    assert writable.store.revision() == revision
    assert reads(writable.store).list_scenarios() == scenarios
    assert (sorted(p.name for p in writable.data_dir.glob("*")) if writable.data_dir.exists() else []) == uploads


# --------------------------------------------------------------------------------------------
# hand-made bodies the schema cannot describe


#: Bodies JSON allows (``NaN``, lone surrogates, deep nesting) or that are not JSON at all; ``%GEOM%`` and
#: ``%P%`` stand for a usable geometry and properties of the layer, so the odd part is the only problem.
_RAW_EDITS: dict[str, str] = {
    "nan point": '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, NaN]}, "properties": {%P%}}',
    "infinite point": '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [Infinity, 39.6]}, "properties": {%P%}}',
    "overflowing point": '{"type": "Feature", "geometry": {"type": "Point", "coordinates": [1e400, 39.6]}, "properties": {%P%}}',
    "nan ring": '{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[NaN, 0], [1, 1], [0, 1], [NaN, 0]]]}, "properties": {%P%}}',
    "nan name": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "name": NaN}}',
    "infinite capacity": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "capacity": Infinity}}',
    "nan households": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "households": NaN}}',
    "huge households": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "households": 99999999999999999999999}}',
    "negative households": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "households": -5}}',
    "lone surrogate": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "name": "\\ud800"}}',
    "nul in name": '{"type": "Feature", "geometry": %GEOM%, "properties": {%P%, "name": "a\\u0000b"}}',
    "control id": '{"type": "Feature", "id": "\\u0007", "geometry": %GEOM%, "properties": {%P%}}',
    "float id": '{"type": "Feature", "id": 1.5, "geometry": %GEOM%, "properties": {%P%}}',
    "bool id": '{"type": "Feature", "id": true, "geometry": %GEOM%, "properties": {%P%}}',
    "deep nesting": '{"type": "Feature", "geometry": ' + "[" * 5000 + "]" * 5000 + "}",
    "truncated": '{"type": "Feature", "geometry": {"type": "Point"',
    "null": "null",
    "list": "[]",
    "string": '"Feature"',
    "empty": "",
    "not utf-8": "\xff\xfe",
}
#: Known server errors, each with the fix it needs (the test fails once the fix lands: remove the mark then).
_RAW_EDIT_BUGS: dict[str, str] = {}


def _raw_edit_body(layer: str, template: str) -> bytes:
    if layer == "centers":
        geometry, props = {"type": "Point", "coordinates": lonlat(150, 700)}, '"name": "新", "level": "community"'
    else:
        geometry, props = {"type": "Polygon", "coordinates": [_ring(750, 450, 40)]}, '"name": "新", "households": 10'
    return template.replace("%GEOM%", json.dumps(geometry)).replace("%P%", props).encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("layer", ["centers", "compounds"])
@pytest.mark.parametrize(
    "what",
    [pytest.param(k, marks=pytest.mark.xfail(reason=_RAW_EDIT_BUGS[k], strict=True)) if k in _RAW_EDIT_BUGS else k for k in _RAW_EDITS],
)
def test_hand_made_edit_bodies_answer_no_5xx_and_json_errors(writable: Writable, layer: str, what: str) -> None:
    editor = bearer(writable.tokens["editor"])
    body = _raw_edit_body(layer, _RAW_EDITS[what])
    feature_id = writable.ids(layer)[-1]
    for method, url in (("POST", f"/collections/{layer}/items"), ("PATCH", f"/collections/{layer}/items/{feature_id}")):
        extra = {"If-Match": f'"{writable.version(layer, feature_id)}"'} if method == "PATCH" else {}
        revision = writable.store.revision()
        res = writable.client.request(method, url, content=body, headers={**editor, **extra, "Content-Type": "application/json"})
        where = f"{method} {url} {body[:160]!r}"
        _check_error(where, res)
        if res.status_code >= 400:
            assert writable.store.revision() == revision, where
        else:
            assert _header(res, "etag") == f'"{res.json()["version"]}"', where


_RAW_PLANNING: dict[str, tuple[str, str]] = {
    "scenario lone surrogate": ("/scenarios", '{"name": "\\ud800", "changes": []}'),
    "scenario nul": ("/scenarios", '{"name": "a\\u0000", "description": "\\u0000", "changes": []}'),
    "scenario nan lon": ("/scenarios", '{"name": "n", "changes": [{"op": "add", "lon": NaN, "lat": NaN}]}'),
    "scenario infinite lat": ("/scenarios", '{"name": "n", "changes": [{"op": "move", "center_id": "S1", "lon": 109.78, "lat": Infinity}]}'),
    "scenario surrogate centre": ("/scenarios", '{"name": "n", "changes": [{"op": "remove", "center_id": "\\udfff"}]}'),
    "suggestions nan minutes": ("/suggestions", '{"new_centers": 1, "minutes": NaN}'),
    "suggestions infinite limit": ("/suggestions", '{"new_centers": 1, "time_limit_s": Infinity}'),
    "suggestions nan candidates": ("/suggestions", '{"new_centers": 1, "candidates": {"type": "FeatureCollection", "features": '
                                   '[{"type": "Feature", "geometry": {"type": "Point", "coordinates": [NaN, NaN]}, "properties": {}}]}}'),
    "suggestions far candidates": ("/suggestions", '{"new_centers": 2, "candidates": {"type": "FeatureCollection", "features": '
                                   '[{"type": "Feature", "geometry": {"type": "Point", "coordinates": [-179, -89]}, "properties": {}}]}}'),
    "suggestions polygon candidates": ("/suggestions", '{"cover_all": true, "candidates": {"type": "FeatureCollection", "features": '
                                       '[{"type": "Feature", "geometry": {"type": "Polygon", "coordinates": []}, "properties": {}}]}}'),
    "suggestions surrogate lang": ("/suggestions", '{"new_centers": 1, "lang": "\\ud800"}'),
}
_RAW_PLANNING_BUGS: dict[str, str] = {}


@pytest.mark.parametrize(
    "what",
    [pytest.param(k, marks=pytest.mark.xfail(reason=_RAW_PLANNING_BUGS[k], strict=True)) if k in _RAW_PLANNING_BUGS else k for k in _RAW_PLANNING],
)
def test_hand_made_planning_bodies_answer_no_5xx_and_json_errors(writable: Writable, what: str) -> None:
    url, body = _RAW_PLANNING[what]
    headers = {**bearer(writable.tokens["planner"]), "Content-Type": "application/json"}
    res = writable.client.post(url, content=body.encode("utf-8"), headers=headers)
    _check_error(f"POST {url} {body[:160]}", res)


def _multipart(parts: list[tuple[str, str | None, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body of ``(field, filename or None, content)`` parts and its content type."""
    boundary = "fuzzfuzzfuzz"
    out = io.BytesIO()
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        out.write(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


_POINT_FC = json.dumps({"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": lonlat(150, 300)}, "properties": {"name": "中心", "level": "community"}},
]}).encode()

#: (what, content type or None for multipart, body or parts, acceptable statuses)
_UPLOADS: list[tuple[str, Any, Any]] = [
    ("json body", "application/json", b'{"files": []}'),
    ("no content type", None, b"files=x"),
    ("multipart without boundary", "multipart/form-data", b"--x\r\n"),
    ("truncated multipart", "multipart/form-data; boundary=zz", b'--zz\r\nContent-Disposition: form-data; name="files"; filename="a.csv"\r\n\r\nlon,lat\r\n1'),
    ("no files", "parts", [("name", None, b"ok")]),
    ("empty file", "parts", [("files", "empty.gpkg", b"")]),
    ("garbage gpkg", "parts", [("files", "bad.gpkg", b"SQLite format 3\x00" + bytes(range(256)) * 8)]),
    ("garbage geojson", "parts", [("files", "bad.geojson", b'{"type": "FeatureCollection", "features": [{"type": ')]),
    ("geojson without geometry", "parts", [("files", "a.geojson", b'{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}}]}')]),
    ("csv without coordinates", "parts", [("files", "centers.csv", "名称,户数\n甲,3\n".encode())]),
    ("csv with bad coordinates", "parts", [("files", "centers.csv", b"name,lon,lat\na,abc,\nb,1e999,-1e999\nc,NaN,NaN\n")]),
    ("gbk csv named utf-8", "parts", [("files", "centers.csv", "名称,经度,纬度\n甲,109.78,39.6\n".encode("gbk")), ("encoding", None, b"utf-8")]),
    ("unknown encoding", "parts", [("files", "centers.csv", b"name,lon,lat\na,109.78,39.6\n"), ("encoding", None, b"klingon-42")]),
    ("garbage xlsx", "parts", [("files", "t.xlsx", b"PK\x03\x04garbage")]),
    ("garbage kml", "parts", [("files", "t.kml", b"<kml><Document><Placemark><Point><coordinates>x</coordinates>")]),
    ("garbage kmz", "parts", [("files", "t.kmz", _zip({"doc.kml": b"<kml"}))]),
    ("garbage pbf", "parts", [("files", "t.osm.pbf", b"\x00\x00\x00\x0dOSMHeader")]),
    ("shapefile without its parts", "parts", [("files", "roads.shp", b"\x00\x00\x27\x0a" + b"\x00" * 96)]),
    ("zip with a path out", "parts", [("files", "evil.zip", _zip({"../../evil.geojson": _POINT_FC, "/abs.geojson": _POINT_FC}))]),
    ("zip in a zip", "parts", [("files", "nest.zip", _zip({"inner.zip": _zip({"a.geojson": _POINT_FC})}))]),
    ("bad zip", "parts", [("files", "bad.zip", b"PK\x05\x06" + b"\x00" * 18)]),
    ("unknown extension", "parts", [("files", "a.exe", b"MZ")]),
    ("no extension", "parts", [("files", "noext", _POINT_FC)]),
    ("file name that climbs", "parts", [("files", "../../../centers.geojson", _POINT_FC)]),
    ("blank file name", "parts", [("files", "", _POINT_FC)]),
    ("bad name", "parts", [("files", "centers.geojson", _POINT_FC), ("name", None, b"../x")]),
    ("long name", "parts", [("files", "centers.geojson", _POINT_FC), ("name", None, b"a" * 65)]),
    ("bad crs", "parts", [("files", "centers.geojson", _POINT_FC), ("crs", None, b"EPSG:999999")]),
    ("crs text", "parts", [("files", "centers.geojson", _POINT_FC), ("crs", None, b"+proj=nonsense")]),
    ("bad bbox", "parts", [("files", "centers.geojson", _POINT_FC), ("bbox", None, b"1,2,3")]),
    ("inverted bbox", "parts", [("files", "centers.geojson", _POINT_FC), ("bbox", None, b"120,40,110,30")]),
    ("nan bbox", "parts", [("files", "centers.geojson", _POINT_FC), ("bbox", None, b"nan,nan,nan,nan")]),
    ("bad columns", "parts", [("files", "centers.geojson", _POINT_FC), ("columns", None, b"==,,name=")]),
    ("columns json", "parts", [("files", "centers.geojson", _POINT_FC), ("columns", None, b'{"name": 3}')]),
    ("missing layer", "parts", [("files", "centers.geojson", _POINT_FC), ("layer", None, b"galaxies")]),
    ("clip without boundary", "parts", [("files", "centers.geojson", _POINT_FC), ("clip", None, b"boundary")]),
    ("swapped", "parts", [("files", "centers.geojson", _POINT_FC), ("swap_xy", None, b"true")]),
    ("too large", "parts", [("files", "big.csv", b"x" * (1024 * 1024 + 10))]),
]


@pytest.mark.parametrize(("what", "kind", "body"), _UPLOADS, ids=[u[0] for u in _UPLOADS])
def test_hand_made_uploads_answer_no_5xx_and_json_errors(writable: Writable, what: str, kind: Any, body: Any) -> None:
    headers = bearer(writable.tokens["admin"])
    if kind == "parts":
        content, content_type = _multipart(body)
        headers["Content-Type"] = content_type
    else:
        content = body
        if kind is not None:
            headers["Content-Type"] = kind
    res = writable.client.post("/datasets", content=content, headers=headers)
    _check_error(f"POST /datasets ({what})", res)
    if what in ("json body", "no content type"):
        assert res.status_code == 415, res.text
    if what == "too large":
        assert res.status_code == 413, res.text
    # nothing escapes the upload folder
    root = writable.data_dir.parent
    assert not list(root.glob("evil*")) and not list(root.glob("centers*")) and not list(root.glob("abs*"))
    assert not [p for p in writable.data_dir.glob(".upload-*")], "an upload's work folder was left behind"


_FORM_FIELDS = ["files", "file", "name", "crs", "layer", "columns", "encoding", "bbox", "clip", "swap_xy", "skip_bad_rows", "replace"]
_EXTENSIONS = [".gpkg", ".geojson", ".json", ".shp", ".kml", ".kmz", ".csv", ".tsv", ".xlsx", ".zip", ".osm", ".pbf", ".txt", ""]


@st.composite
def _upload_parts(draw: st.DrawFn) -> list[tuple[str, str | None, bytes]]:
    contents = st.one_of(
        st.binary(max_size=64),
        st.just(_POINT_FC),
        st.text(max_size=40).map(lambda t: t.encode()),
        st.builds(lambda rows: ("name,lon,lat\n" + "\n".join(rows)).encode(), st.lists(st.text(max_size=12), max_size=3)),
    )
    file_part = st.tuples(
        st.sampled_from(["files", "file"]),
        st.builds(lambda stem, ext: stem + ext, st.sampled_from(["centers", "compounds", "roads", "boundary", "x", "../a", "中心"]), st.sampled_from(_EXTENSIONS)),
        contents,
    )
    field_part = st.tuples(
        st.sampled_from(_FORM_FIELDS),
        st.none(),
        st.one_of(st.text(max_size=16), st.sampled_from(["true", "EPSG:4546", "1,2,3,4", "name=名称", "gbk", "boundary"])).map(lambda t: t.encode()),
    )
    return draw(st.lists(st.one_of(file_part, field_part), max_size=4))


def test_generated_uploads_answer_no_5xx_and_json_errors(writable: Writable) -> None:
    headers = bearer(writable.tokens["admin"])

    @given(parts=_upload_parts())
    @settings(_BASE, max_examples=UPLOAD_EXAMPLES)
    def run(parts: list[tuple[str, str | None, bytes]]) -> None:
        content, content_type = _multipart(parts)
        res = writable.client.post("/datasets", content=content, headers={**headers, "Content-Type": content_type})
        _check_error(f"POST /datasets {[(n, f, c[:40]) for n, f, c in parts]}", res)
        if res.status_code < 300:
            assert res.status_code == 201 and res.json()["id"], res.text

    run()


#: Ids a planner may give a new feature; the Location of each must lead back to it.
_ODD_IDS = ["中心1", "a/b", "%41", "a?b#c", "..", "x y", "S-1_b"]


@pytest.mark.parametrize(
    "feature_id",
    _ODD_IDS,
)
def test_a_created_feature_of_any_id_answers_its_location(writable: Writable, feature_id: str) -> None:
    editor = bearer(writable.tokens["editor"])
    body = {"type": "Feature", "id": feature_id, "geometry": {"type": "Point", "coordinates": lonlat(150, 650)},
            "properties": {"name": "新", "level": "community"}}
    revision = writable.store.revision()
    made = writable.client.post("/collections/centers/items", json=body, headers=editor)
    _check_error(f"POST id={feature_id!r}", made)
    if made.status_code >= 400:
        assert writable.store.revision() == revision
        return
    assert made.status_code == 201 and made.json()["id"] == feature_id, made.text
    assert made.headers["location"].endswith("/collections/centers/items/" + quote(feature_id, safe=""))
    if "%" in feature_id:
        return  # Starlette's TestClient decodes a request path twice (`%2541` -> `A`); a real server decodes it once
    got = writable.client.get(made.headers["location"])
    assert got.status_code == 200 and got.json()["id"] == feature_id, (made.headers["location"], got.text[:200])
    changed = writable.client.patch(made.headers["location"], json={"properties": {"name": "改"}}, headers={**editor, "If-Match": '"1"'})
    assert changed.status_code == 200 and changed.json()["id"] == feature_id, changed.text[:300]
