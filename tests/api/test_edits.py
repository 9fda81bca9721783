"""Edits over HTTP on the GeoPackage store: versions, If-Match, coverage recomputed, tokens, bad input, headers, limits.

The district is the 3 x 3 block fixture built at 5 minutes (333 m at 4 km/h,
straight-line circles): compounds A (400 households) and C (1,000) are
covered, B (200) and D (300) are not, 1,400 of 1,900 households.  A new
community centre at local (150, 700), 50 m from D's centre (150, 750), covers
D: 1,700 households.
"""

from __future__ import annotations

import json
import math
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from shapely.geometry import Point, mapping

from api.app import create_app
from api.settings import Settings
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from layers.store import Store, open_store
from tests.api.helpers import bearer, make_tokens
from tests.helpers import block_layers, local, make_dataset, reads, square, writes

BUILD = BuildParams(minutes=5, method="circle")


def lonlat(x: float, y: float) -> list[float]:
    """Local metres of the block fixture -> ``[lon, lat]``."""
    p = local(gpd.GeoDataFrame(geometry=[Point(x, y)])).geometry.iloc[0]
    return [p.x, p.y]


def polygon(geom: Any) -> dict[str, Any]:
    """A local-metre polygon as a WGS84 GeoJSON geometry."""
    return mapping(local(gpd.GeoDataFrame(geometry=[geom])).geometry.iloc[0])


@pytest.fixture(scope="module")
def _blocks5() -> Dataset:
    return build_dataset(make_dataset(block_layers()), BUILD)


@pytest.fixture
def served(tmp_path: Path, _blocks5: Dataset) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    """A client on the 5-minute block district in a fresh GeoPackage store, and one token per role."""
    path = tmp_path / "blocks.gpkg"
    store = open_store(path)
    writes(store).import_dataset(_blocks5, actor="test")
    tokens = make_tokens(store)
    with TestClient(create_app(Settings(dataset=path, reload_check_s=0))) as client:
        yield client, store, tokens
    store.close()


def new_center(**props: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": lonlat(150, 700)},
        "properties": {"name": "新中心", "level": "community", "status": "existing", **props},
    }


def covered(client: TestClient) -> tuple[int, int]:
    s = client.get("/coverage/summary").json()
    return s["households"]["covered"], s["compounds"]["uncovered"]


def test_create_patch_delete_with_versions_and_coverage(served):
    client, store, tokens = served
    editor = bearer(tokens["editor"])
    assert covered(client) == (1400, 2)
    tile_before = client.get("/tiles/compounds/14/0/0.mvt").headers.get("etag")

    made = client.post("/collections/centers/items", json=new_center(), headers=editor)
    assert made.status_code == 201, made.text
    body = made.json()
    sid = body["id"]
    assert body["version"] == 1 and made.headers["etag"] == '"1"'
    assert made.headers["location"].endswith(f"/collections/centers/items/{sid}")
    assert body["properties"]["level"] == "community"
    assert body["coverage"]["households"]["covered"] == 1700

    # the served dataset follows: D is covered now, by the new centre, 50 m away
    assert covered(client) == (1700, 1)
    d = client.get("/collections/compounds/items/D").json()["properties"]
    assert d["covered"] is True and d["nearest_center"] == sid and round(d["walk_m"]) == 50
    assert client.get("/tiles/compounds/14/0/0.mvt").headers.get("etag") != tile_before or tile_before is None
    got = client.get(f"/collections/centers/items/{sid}")
    assert got.headers["etag"] == '"1"' and got.json()["version"] == 1
    assert reads(store).get_feature("centers", sid).version == 1

    # a patch needs If-Match; a stale one gets 412 and changes nothing
    rename = {"properties": {"name": "改名中心"}}
    missing = client.patch(f"/collections/centers/items/{sid}", json=rename, headers=editor)
    assert missing.status_code == 428 and missing.json()["field"] == "If-Match"
    ok = client.patch(f"/collections/centers/items/{sid}", json=rename, headers={**editor, "If-Match": '"1"'})
    assert ok.status_code == 200 and ok.headers["etag"] == '"2"' and ok.json()["properties"]["name"] == "改名中心"
    stale = client.patch(f"/collections/centers/items/{sid}", json={"properties": {"name": "x"}}, headers={**editor, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert stale.json()["field"] == "version" and stale.json()["current"] == 2 and stale.json()["expected"] == 1
    assert reads(store).get_feature("centers", sid).properties["name"] == "改名中心"

    # moving the centre away uncovers D again
    moved = client.patch(
        f"/collections/centers/items/{sid}",
        json={"geometry": {"type": "Point", "coordinates": lonlat(750, 700)}},
        headers={**editor, "If-Match": '"2"'},
    )
    assert moved.status_code == 200 and moved.json()["version"] == 3
    assert covered(client) == (1400, 2)

    # delete: stale 412, missing 428, then 204; the id is gone
    path = f"/collections/centers/items/{sid}"
    assert client.delete(path, headers={**editor, "If-Match": '"2"'}).status_code == 412
    assert client.delete(path, headers=editor).status_code == 428
    gone = client.delete(path, headers={**editor, "If-Match": '"3"'})
    assert gone.status_code == 204
    assert client.get(path).status_code == 404
    assert client.patch(path, json=rename, headers={**editor, "If-Match": '"4"'}).status_code == 404


def test_an_id_taken_is_409_and_audit_entries_name_the_token(served):
    client, store, tokens = served
    editor = bearer(tokens["editor"])
    taken = client.post("/collections/centers/items", json={**new_center(), "id": "S1"}, headers=editor)
    assert taken.status_code == 409 and taken.json()["field"] == "id"
    made = client.post("/collections/compounds/items", json={
        "type": "Feature", "id": "E", "geometry": polygon(square(750, 450, 40)),
        "properties": {"name": "戊小区", "households": 250},
    }, headers=editor)
    assert made.status_code == 201, made.text
    e = made.json()["properties"]
    # the nearest existing centre is S2 at (900, 900): hypot(150, 450) = 474 m > 333 m (S3 is only planned)
    assert e["covered"] is False and e["nearest_center"] == "S2" and round(e["walk_m"]) == 474
    token_id = tokens["editor"].split("_")[1]
    entries = reads(store).audit(layer="compounds", feature_id="E")
    assert entries and entries[0].actor == f"token:{token_id}" and entries[0].action == "create"
    assert json.dumps(entries[0].after, ensure_ascii=False).count("戊小区") == 1


def test_writes_need_a_token_of_the_right_role(served):
    client, _, tokens = served
    assert client.post("/collections/centers/items", json=new_center()).status_code == 401
    assert client.post("/collections/centers/items", json=new_center(), headers=bearer("nonsense")).status_code == 401
    for role in ("viewer", "planner"):
        res = client.post("/collections/centers/items", json=new_center(), headers=bearer(tokens[role]))
        assert res.status_code == 403 and res.json()["field"] == "Authorization"
    assert client.post("/collections/centers/items", json=new_center(), headers=bearer(tokens["admin"])).status_code == 201
    assert client.get("/collections/centers/items").status_code == 200  # reading is public by default


def test_reading_can_require_a_token(tmp_path: Path, _blocks5: Dataset):
    path = tmp_path / "blocks.gpkg"
    with open_store(path) as store:
        writes(store).import_dataset(_blocks5, actor="test")
        tokens = make_tokens(store)
    with TestClient(create_app(Settings(dataset=path, read_requires_token=True))) as client:
        assert client.get("/health").status_code == 200
        res = client.get("/collections/compounds/items")
        assert res.status_code == 401 and res.json()["field"] == "Authorization"
        assert client.get("/collections/compounds/items", headers=bearer(tokens["viewer"])).status_code == 200
        # A map page opened with ?access_token= passes the token on to the layers and tiles it loads.
        assert client.get("/maps/coverage").status_code == 401
        page = client.get("/maps/coverage", params={"access_token": tokens["viewer"]})
        assert page.status_code == 200 and f"access_token={tokens['viewer']}" in page.text
        assert client.get("/collections/compounds/items", params={"access_token": tokens["viewer"]}).status_code == 200
        assert client.get("/tiles/compounds/14/0/0.png", params={"access_token": tokens["viewer"]}).status_code == 200
        assert client.get("/tiles/compounds/14/0/0.png", params={"access_token": "dj_bad_token"}).status_code == 401


@pytest.mark.parametrize(
    ("layer", "feature", "field"),
    [
        ("centers", {"geometry": {"type": "Point", "coordinates": "x"}}, "geometry"),
        ("centers", {"geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, "geometry"),
        ("centers", {"properties": {"level": "galaxy"}}, "level"),
        ("centers", {"properties": {"capacity": "lots"}}, "capacity"),
        ("centers", {"properties": {"colour": "red"}}, "colour"),
        ("centers", {"properties": {"name": {"zh": "x"}}}, "name"),
        ("centers", {"geometry": {"type": "Point", "coordinates": [-109.78, -39.6]}}, "geometry"),
        ("centers", {"geometry": {"type": "Point", "coordinates": [39.6, 109.78]}}, "geometry"),
        ("compounds", {"geometry": "HUGE", "properties": {"households": 10}}, "geometry"),
        ("compounds", {"geometry": "BOWTIE", "properties": {"households": 10}}, "geometry"),
        ("compounds", {"properties": {"households": "many"}}, "households"),
        ("compounds", {"properties": {"name": "无户数"}}, "households"),
    ],
)
def test_bad_input_is_4xx_naming_the_field_and_nothing_is_stored(served, layer, feature, field):
    client, store, tokens = served
    if layer == "centers":
        body = new_center()
    else:
        body = {"type": "Feature", "geometry": polygon(square(750, 450, 40)), "properties": {"name": "新小区", "households": 10}}
    geometry = feature.get("geometry")
    if geometry == "HUGE":
        geometry = polygon(square(450, 450, 5000))  # 100 km²
    elif geometry == "BOWTIE":
        a, b = lonlat(700, 400), lonlat(800, 500)
        geometry = {"type": "Polygon", "coordinates": [[a, b, [a[0], b[1]], [b[0], a[1]]]]}
    if geometry is not None:
        body["geometry"] = geometry
    props = feature.get("properties", {})
    body["properties"] = {**body["properties"], **props}
    if "households" in body["properties"] and props.get("name") == "无户数":
        del body["properties"]["households"]
    revision = store.revision()
    res = client.post(f"/collections/{layer}/items", json=body, headers=bearer(tokens["editor"]))
    assert 400 <= res.status_code < 500, res.text
    assert res.json()["field"] == field, res.json()
    assert store.revision() == revision


def test_security_headers_on_every_response(served):
    client, _, _ = served
    for path in ("/health", "/collections", "/maps/coverage", "/tiles/compounds/14/0/0.png", "/nope"):
        res = client.get(path)
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["referrer-policy"] == "strict-origin-when-cross-origin"
        csp = res.headers["content-security-policy"]
        assert "frame-ancestors 'self'" in csp and "default-src 'self'" in csp, csp
    page = client.get("/maps/coverage")
    assert page.headers["content-security-policy"].count("frame-ancestors") == 1


def test_expensive_endpoints_answer_429_with_retry_after(tmp_path: Path, _blocks5: Dataset):
    path = tmp_path / "blocks.gpkg"
    with open_store(path) as store:
        writes(store).import_dataset(_blocks5, actor="test")
    settings = Settings(dataset=path, rate_limit_per_minute=6, rate_limit_burst=2)
    with TestClient(create_app(settings)) as client:
        codes = [client.get("/reports/gaps").status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        res = client.get("/reports/gaps")
        assert res.status_code == 429 and int(res.headers["retry-after"]) >= 1
        assert "detail" in res.json()
        assert client.get("/collections").status_code == 200  # cheap reads are not limited


def test_worker_processes_share_one_rate_limit_file(tmp_path: Path, _blocks5: Dataset):
    """Two apps (as two worker processes of ``serve --workers 2``) with one ``rate_limit_file`` share the buckets."""
    path = tmp_path / "blocks.gpkg"
    with open_store(path) as store:
        writes(store).import_dataset(_blocks5, actor="test")
    settings = Settings(dataset=path, rate_limit_per_minute=6, rate_limit_burst=3, rate_limit_file=tmp_path / "limits.sqlite")
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        codes = [c.get("/reports/gaps").status_code for c in (one, two, one, two)]
        assert codes == [200, 200, 200, 429]
        assert int(two.get("/reports/gaps").headers["retry-after"]) >= 1
    alone = Settings(dataset=path, rate_limit_per_minute=6, rate_limit_burst=3)
    with TestClient(create_app(alone)) as one, TestClient(create_app(alone)) as two:  # without the file each counts alone
        assert [c.get("/reports/gaps").status_code for c in (one, two, one, two)] == [200, 200, 200, 200]


def test_edit_round_trip_on_postgis(postgis_url: str, tmp_path: Path, _blocks5: Dataset):
    schema = f"edits_{uuid.uuid4().hex[:10]}"
    with open_store(f"{postgis_url}?schema={schema}") as store:
        writes(store).import_dataset(_blocks5, actor="test")
        tokens = make_tokens(store)
    settings = Settings(dataset=tmp_path / "blocks.gpkg", database_url=postgis_url, database_schema=schema, reload_check_s=0)
    with TestClient(create_app(settings)) as client:
        editor = bearer(tokens["editor"])
        assert covered(client) == (1400, 2)
        made = client.post("/collections/centers/items", json=new_center(), headers=editor)
        assert made.status_code == 201, made.text
        sid = made.json()["id"]
        assert covered(client) == (1700, 1)
        stale = client.patch(f"/collections/centers/items/{sid}", json={"properties": {"name": "x"}}, headers={**editor, "If-Match": '"0"'})
        assert stale.status_code == 412
        ok = client.patch(f"/collections/centers/items/{sid}", json={"properties": {"status": "planned"}}, headers={**editor, "If-Match": '"1"'})
        assert ok.status_code == 200 and ok.headers["etag"] == '"2"'
        assert covered(client) == (1400, 2)  # a planned centre does not count
        assert client.delete(f"/collections/centers/items/{sid}", headers={**editor, "If-Match": '"2"'}).status_code == 204
        assert client.get(f"/collections/centers/items/{sid}").status_code == 404
    with open_store(f"{postgis_url}?schema={schema}") as store:
        actions = [e.action for e in reads(store).audit(feature_id=sid)]
        assert actions.count("create") == 1 and actions.count("update") == 1 and actions.count("delete") == 1


def test_two_planners_patching_the_same_version_one_wins_one_gets_412(served):
    client, store, tokens = served
    headers = {**bearer(tokens["editor"]), "If-Match": '"1"'}
    results: list[int] = []

    def patch(name: str) -> None:
        with TestClient(client.app) as own:
            results.append(own.patch("/collections/centers/items/S1", json={"properties": {"name": name}}, headers=headers).status_code)

    threads = [threading.Thread(target=patch, args=(f"name {i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412, 412, 412]
    assert reads(store).get_feature("centers", "S1").version == 2


def test_a_failure_during_the_recomputation_stores_nothing(served, monkeypatch: pytest.MonkeyPatch):
    import api.state.editing as editing

    client, store, tokens = served

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(editing, "update_after_edit", broken)
    revision = store.revision()
    with TestClient(client.app, raise_server_exceptions=False) as own:
        res = own.post("/collections/centers/items", json=new_center(), headers=bearer(tokens["editor"]))
    assert res.status_code == 500 and res.json() == {"detail": "internal error", "field": None}
    assert store.revision() == revision
    assert len(reads(store).read_layer("centers")) == 3
    monkeypatch.undo()
    assert covered(client) == (1400, 2)


def _tile_of(x: float, y: float, z: int) -> tuple[int, int, int]:
    lon, lat = lonlat(x, y)
    n = 1 << z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_an_edit_drops_only_the_cached_tiles_it_touches(served):
    client, _, tokens = served
    state = client.app.state.dangjian
    far, near = _tile_of(750, 750, 18), _tile_of(150, 750, 18)  # compound C (unchanged) and D (covered by the edit)
    roads = _tile_of(150, 700, 16)  # the whole district: roads do not change
    for layer, (z, x, y) in (("compounds", far), ("compounds", near), ("roads", roads)):
        assert client.get(f"/tiles/{layer}/{z}/{x}/{y}.png").status_code == 200
    before = {(k[1], k[7], k[8], k[9]) for k, _ in state.tiles.items()}
    assert {("compounds", *far), ("compounds", *near), ("roads", *roads)} <= before
    assert client.post("/collections/centers/items", json=new_center(), headers=bearer(tokens["editor"])).status_code == 201
    cached = {(k[1], k[7], k[8], k[9]) for k, _ in state.tiles.items() if k[0] == state.version}
    assert ("compounds", *far) in cached and ("roads", *roads) in cached
    assert ("compounds", *near) not in cached
    again = client.get(f"/tiles/compounds/{near[0]}/{near[1]}/{near[2]}.png")
    assert again.status_code == 200 and ("compounds", *near) in {(k[1], k[7], k[8], k[9]) for k, _ in state.tiles.items()}


def test_scenarios_live_in_the_store_with_audit_and_show_on_the_map(served):
    client, store, tokens = served
    body = {"name": "丁旁新建", "changes": [{"op": "add", "level": "community", "lon": lonlat(150, 700)[0], "lat": lonlat(150, 700)[1]}]}
    made = client.post("/scenarios", json=body, headers=bearer(tokens["planner"]))
    assert made.status_code == 201, made.text
    sid = made.json()["scenario"]["id"]
    assert reads(store).get_scenario(sid)["name"] == "丁旁新建"  # kept in the dataset's store, not in files
    entries = [e for e in reads(store).audit(limit=50) if e.feature_id == sid or sid in str(e.after)]
    assert entries and entries[-1].actor.startswith("token:")
    base_cov, _ = covered(client)
    items = client.get("/collections/compounds/items", params={"scenario": sid}).json()["features"]
    scen_cov = sum(f["properties"]["households"] for f in items if f["properties"]["covered"])
    assert scen_cov == base_cov + 300  # D (300 households) is reached by the new centre
    assert covered(client)[0] == base_cov  # the base is not changed
    page = client.get("/maps/coverage", params={"scenario": sid}).text
    assert f"scenario={sid}" in page
    assert "规划方案: 丁旁新建" in page  # the title card names the scenario shown


def _coverage_table(frame: gpd.GeoDataFrame) -> list[tuple[str, bool, str, float]]:
    rows = frame.sort_values("id")
    return [(str(r.id), bool(r.covered), str(r.nearest_center), round(float(r.walk_m), 1)) for r in rows.itertuples()]


def test_an_edit_after_another_process_wrote_starts_from_the_store(served):
    """The served dataset is behind (another process added a centre): the edit reads the store and loses nothing."""
    client, store, tokens = served
    editor = bearer(tokens["editor"])
    assert covered(client) == (1400, 2)
    state = client.app.state.dangjian
    roads = state.dataset()["roads"]
    # another process adds the centre next to D straight into the store (coverage not recomputed there)
    writes(store).create_feature("centers", {"id": "OTHER", "name": "别处新增", "level": "community", "status": "existing"},
                         {"type": "Point", "coordinates": lonlat(150, 700)}, actor="other-process")
    made = client.post("/collections/compounds/items", headers=editor, json={
        "type": "Feature", "geometry": polygon(square(750, 150, 40)), "properties": {"name": "新小区", "households": 120},
    })
    assert made.status_code == 201, made.text
    # the edit started from what was stored and serves the result at once, keeping the unchanged roads (and their network)
    assert state.revision == store.revision()
    assert state.dataset()["roads"] is roads
    # its recomputation reached D through the other process's centre
    d = client.get("/collections/compounds/items/D").json()["properties"]
    assert d["covered"] is True and d["nearest_center"] == "OTHER"
    assert covered(client)[0] == 1700 + (120 if made.json()["properties"]["covered"] else 0)


def test_stored_and_served_state_agree_after_edits(served):
    client, store, tokens = served
    editor = bearer(tokens["editor"])
    made = client.post("/collections/centers/items", json=new_center(), headers=editor).json()
    client.patch(f"/collections/centers/items/{made['id']}", headers={**editor, "If-Match": '"1"'},
                 json={"geometry": {"type": "Point", "coordinates": lonlat(450, 150)}})
    client.post("/collections/compounds/items", headers=editor, json={
        "type": "Feature", "geometry": polygon(square(750, 450, 40)), "properties": {"name": "新小区", "households": 250},
    })
    served_compounds = gpd.GeoDataFrame.from_features(client.get("/collections/compounds/items?limit=1000").json()["features"])
    served_compounds["id"] = [f["id"] for f in client.get("/collections/compounds/items?limit=1000").json()["features"]]
    stored = reads(store).read_layer("compounds")
    assert _coverage_table(stored) == _coverage_table(served_compounds)
    summary = client.get("/coverage/summary").json()
    assert reads(store).get_meta()["summary"]["households"] == summary["households"]
    assert summary["households"]["total"] == 1900 + 250
    stored_units = reads(store).read_layer("units")
    assert int(stored_units["households"].sum()) == 1900 + 250
    circles = reads(store).read_layer("circles")
    assert (circles["center_id"] == made["id"]).sum() >= 1


def test_edits_arriving_together_commit_as_one_batch_each_with_its_own_answer(served):
    """Six edits queue while the edit lock is held; one transaction then takes them all.

    Each is undone alone when refused (a stale If-Match, an id taken), keeps
    its own caller in the audit log and gets its own version; coverage is
    recomputed once and agrees with recomputing everything.
    """
    from layers.build import coverage_layers
    from layers.dataset import Dataset as DS

    client, store, tokens = served
    state = client.app.state.dangjian
    editor = bearer(tokens["editor"])
    admin = bearer(tokens["admin"])  # a second caller (admins may edit too)
    client.get("/coverage/summary")
    revision = store.revision()

    def at(x: float, y: float, fid: str) -> dict[str, Any]:
        return {**new_center(name=f"中心{fid}"), "id": fid, "geometry": {"type": "Point", "coordinates": lonlat(x, y)}}

    requests = [
        ("POST", "/collections/centers/items", at(150, 700, "N1"), editor),
        ("POST", "/collections/centers/items", at(450, 150, "N2"), admin),
        ("POST", "/collections/centers/items", at(750, 450, "N1"), editor),  # the id N1 is taken by then: 409
        ("PATCH", "/collections/compounds/items/B", {"properties": {"households": 260}}, {**editor, "If-Match": '"1"'}),
        ("PATCH", "/collections/compounds/items/C", {"properties": {"households": 10}}, {**editor, "If-Match": '"7"'}),  # stale: 412
        ("DELETE", "/collections/centers/items/N2", None, {**admin, "If-Match": '"1"'}),  # N2 created earlier in the batch
    ]
    answers: dict[int, Any] = {}

    def send(i: int) -> None:
        method, url, body, headers = requests[i]
        answers[i] = client.request(method, url, json=body, headers=headers)

    state.edit_lock.acquire()
    try:
        threads = []
        for i in range(len(requests)):  # one after another, so the queue keeps their order
            threads.append(threading.Thread(target=send, args=(i,)))
            threads[-1].start()
            for _ in range(500):
                if getattr(state, "edit_queue", None) is not None and len(state.edit_queue) == i + 1:
                    break
                threading.Event().wait(0.01)
        assert len(state.edit_queue) == len(requests)
    finally:
        state.edit_lock.release()
    for t in threads:
        t.join()
    codes = [answers[i].status_code for i in range(len(requests))]
    assert codes == [201, 201, 409, 200, 412, 204], [a.text[:200] for a in answers.values()]
    assert answers[2].json()["field"] == "id" and answers[4].json()["field"] == "version"
    assert store.revision() == revision + 1  # one transaction for the whole batch
    assert answers[0].json()["version"] == 1 and answers[3].json()["version"] == 2
    assert reads(store).get_feature("compounds", "B").properties["households"] == 260
    assert reads(store).get_feature("compounds", "C").properties["households"] == 1000  # the refused edit left no trace
    with pytest.raises(Exception, match="N2"):
        reads(store).get_feature("centers", "N2")
    actors = {(e.action, e.feature_id): e.actor for e in reads(store).audit(limit=1000) if e.revision == revision + 1 and e.feature_id}
    ids = {role: tok.split("_")[1] for role, tok in tokens.items()}
    assert actors[("create", "N1")].endswith(ids["editor"]) and actors[("create", "N2")].endswith(ids["admin"])
    assert actors[("delete", "N2")].endswith(ids["admin"]) and actors[("update", "B")].endswith(ids["editor"])
    # one recomputation for all: the same answer as recomputing everything from what is stored
    stored = reads(store).export_dataset()
    fresh = coverage_layers(DS(layers=dict(stored.layers), metric_crs=stored.metric_crs, meta=stored.meta), BUILD)
    assert _coverage_table(stored["compounds"]) == _coverage_table(fresh["compounds"])
    d = client.get("/collections/compounds/items/D").json()["properties"]
    assert d["covered"] is True and d["nearest_center"] == "N1"
    assert covered(client) == (400 + 1000 + 300, 1)  # B (now 260 households) is still out of reach
    assert client.get("/coverage/summary").json()["households"]["total"] == 400 + 260 + 1000 + 300


def test_the_audit_log_and_a_features_history_over_http(served):
    client, _, tokens = served
    editor = bearer(tokens["editor"])
    made = client.post("/collections/centers/items", json=new_center(), headers=editor).json()
    sid = made["id"]
    client.patch(f"/collections/centers/items/{sid}", json={"properties": {"name": "改名"}}, headers={**editor, "If-Match": '"1"'})
    client.delete(f"/collections/centers/items/{sid}", headers={**editor, "If-Match": '"2"'})
    history = client.get(f"/collections/centers/items/{sid}/history", headers=editor)
    assert history.status_code == 200
    entries = history.json()["entries"]
    assert [(e["action"], e["version"]) for e in entries] == [("create", 1), ("update", 2), ("delete", 3)]
    token_id = tokens["editor"].split("_")[1]
    assert all(e["actor"] == f"token:{token_id}" for e in entries)
    assert entries[1]["before"]["properties"]["name"] == "新中心" and entries[1]["after"]["properties"]["name"] == "改名"
    assert tokens["editor"] not in history.text  # ids only, never a secret
    # the whole log, paged forward two at a time
    first = client.get("/audit?after=0&limit=2", headers=editor).json()
    assert [e["seq"] for e in first["entries"]] == sorted(e["seq"] for e in first["entries"]) and len(first["entries"]) == 2
    second = client.get(first["next"], headers=editor).json()
    assert second["entries"][0]["seq"] > first["entries"][-1]["seq"]
    latest = client.get("/audit?layer=centers&limit=5", headers=editor).json()["entries"]
    assert latest[-1]["action"] == "delete" and latest[-1]["feature_id"] == sid  # the latest five, in the order written
    assert [e["seq"] for e in latest] == sorted(e["seq"] for e in latest)
    assert client.get("/audit", headers=bearer(tokens["viewer"])).status_code == 403
    assert client.get("/audit").status_code == 401


def test_a_failure_after_the_commit_still_answers_and_serves_the_edit(served, monkeypatch: pytest.MonkeyPatch):
    """Serving the edited dataset from memory fails after the commit: the edit is answered and the service reloads it."""
    client, store, tokens = served
    state = client.app.state.dangjian

    def broken(*args: object, **kwargs: object) -> bool:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(state, "install_edit", broken)
    made = client.post("/collections/centers/items", json=new_center(), headers=bearer(tokens["editor"]))
    assert made.status_code == 201 and made.json()["version"] == 1
    assert reads(store).get_feature("centers", made.json()["id"]).version == 1
    assert covered(client) == (1700, 1)  # read back from the store


def _ring_of(vertices: int) -> dict[str, Any]:
    """A compound polygon of ``vertices`` positions (a 40 m circle at (750, 450)) as compact WGS84 GeoJSON."""
    t = np.linspace(0, 2 * np.pi, vertices - 1, endpoint=False)
    ring = np.column_stack([750 + 40 * np.cos(t), 450 + 40 * np.sin(t)])
    return polygon(shapely.Polygon(ring))


def test_a_500000_vertex_compound_is_refused_with_a_chinese_message(served: tuple[TestClient, Store, dict[str, str]]):
    """Issue 19, finding 8: POST and PATCH of a huge compound are refused (413 at the default body limit, else 422)."""
    client, store, tokens = served
    editor = {**bearer(tokens["editor"]), "Content-Type": "application/json"}
    huge = {"type": "Feature", "id": "H", "geometry": _ring_of(500_000), "properties": {"name": "巨型小区", "households": 10}}
    body = json.dumps(huge, separators=(",", ":"))
    res = client.post("/collections/compounds/items", content=body, headers=editor)
    assert res.status_code == 413 and "字节" in res.json()["detail"]  # the default 2 MB body limit comes first
    roomy = Settings(dataset=store.path, reload_check_s=0, json_body_max_kb=64 * 1024.0)
    with TestClient(create_app(roomy)) as client:
        res = client.post("/collections/compounds/items", content=body, headers=editor)
        assert res.status_code == 422
        assert res.json() == {"detail": "要素有 500,000 个顶点，超过上限 50,000 个；请简化图形后再提交", "field": "geometry"}
        patch = json.dumps({"geometry": huge["geometry"]}, separators=(",", ":"))
        res = client.patch("/collections/compounds/items/A", content=patch, headers={**editor, "If-Match": '"1"'})
        assert res.status_code == 422 and res.json()["field"] == "geometry" and "500,000" in res.json()["detail"]
        assert reads(store).get_feature("compounds", "A").version == 1  # nothing written
        ok = client.post("/collections/compounds/items", json={**huge, "geometry": _ring_of(50_000)}, headers=bearer(tokens["editor"]))
        assert ok.status_code == 201, ok.text  # at the limit: accepted
