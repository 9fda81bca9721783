"""Reports, suggestions and scenarios over HTTP (routers on a bare app) and on the command line."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pyproj import Transformer
from typer.testing import CliRunner

from api.errors import install_error_handlers
from api.routers import planning, reports
from api.settings import Settings
from api.state.dataset import DatasetState
from layers.dataset import Dataset, write_dataset
from layers.planning.scenario_store import ScenarioStore
from layers.store import Store
from tests.api.helpers import bearer
from tests.helpers import LOCAL, ORIGIN
from tests.layers.town import built_town


def lonlat(x: float, y: float) -> tuple[float, float]:
    return Transformer.from_crs(LOCAL, 4326, always_xy=True).transform(x + ORIGIN[0], y + ORIGIN[1])


@pytest.fixture(scope="module")
def town() -> Dataset:
    return built_town()


def make_app(dataset: Dataset, scenario_dir: Path | None, tokens: Store | None = None) -> FastAPI:
    settings = Settings()
    app = FastAPI()
    install_error_handlers(app)
    app.state.settings = settings
    app.state.dangjian = DatasetState(settings, dataset=dataset)
    app.state.scenario_results = planning.ScenarioResults()
    app.state.token_store = tokens
    if scenario_dir is not None:
        app.state.dangjian.use_scenarios(ScenarioStore(scenario_dir))
    app.include_router(reports.router)
    app.include_router(planning.router)
    return app


@pytest.fixture
def client(town: Dataset, tmp_path: Path, token_store: tuple[Store, dict[str, str]]) -> TestClient:
    """A client sending a ``planner`` token."""
    store, tokens = token_store
    return TestClient(make_app(town, tmp_path / "scenarios", store), headers=bearer(tokens["planner"]))


# ---------------------------------------------------------------------------
# /reports/gaps


def test_gaps_json_is_the_hand_worked_report(client: TestClient):
    res = client.get("/reports/gaps", params={"by": "community"})
    assert res.status_code == 200 and res.headers["content-type"].startswith("application/json")
    data = res.json()
    t = data["totals"]
    assert (t["households"], t["covered_households"], t["uncovered_households"]) == (1800, 600, 1200)
    assert [g["key"] for g in data["groups"]] == ["东社区", "西社区"]
    assert [u["id"] for u in data["uncovered"]] == ["E2", "E1"] and data["labels"]["households"] == "户数"
    assert res.headers["etag"]


def test_every_format_shows_the_same_totals(client: TestClient):
    csv_res = client.get("/reports/gaps", params={"format": "csv", "lang": "en"})
    assert csv_res.content.startswith(b"\xef\xbb\xbf")
    assert csv_res.headers["content-disposition"].startswith('attachment; filename="gaps_community.groups.csv"')
    last = list(csv.reader(io.StringIO(csv_res.content.decode("utf-8-sig"))))[-1]
    assert last[:3] == ["District total", "5", "1800"]
    x = client.get("/reports/gaps", params={"format": "xlsx", "by": "grid"})
    assert x.headers["content-type"].startswith("application/vnd.openxmlformats")
    wb = load_workbook(io.BytesIO(x.content))
    items = {r[0]: r[1] for r in wb["总体情况"].iter_rows(min_row=2, values_only=True)}
    assert (items["户数"], items["已覆盖户数"], items["未覆盖户数"]) == (1800, 600, 1200)
    page = client.get("/reports/gaps", params={"format": "html", "by": "unit"}).text
    found = dict(re.findall(r'data-key="(\w+)" data-value="([\d.]+)"', page))
    assert (found["households"], found["covered_households"], found["uncovered_households"]) == ("1800", "600", "1200")
    assert "data:image/png;base64," in page


def test_gaps_for_another_minutes_and_errors(client: TestClient):
    # at 5 minutes (333 m) S1 reaches only W1 (100 hh)
    t = client.get("/reports/gaps", params={"minutes": 5}).json()["totals"]
    assert t["covered_households"] == 100
    bad = client.get("/reports/gaps", params={"by": "street"})
    assert bad.status_code == 422 and bad.json()["field"] == "by"
    assert client.get("/reports/gaps", params={"format": "pdf"}).json()["field"] == "format"


def test_gaps_answers_304_to_a_matching_etag(client: TestClient):
    first = client.get("/reports/gaps", params={"format": "csv"})
    again = client.get("/reports/gaps", params={"format": "csv"}, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    other = client.get("/reports/gaps", params={"format": "csv", "lang": "en"})
    assert other.headers["etag"] != first.headers["etag"]


# ---------------------------------------------------------------------------
# /suggestions


def test_suggestions_maximal_and_set_covering(client: TestClient):
    res = client.post("/suggestions", json={"new_centers": 1})
    assert res.status_code == 200, res.text
    data = res.json()
    assert data["new_households"] == 1200 and data["before"]["covered_households"] == 600
    feat = data["sites"]["features"]
    assert len(feat) == 1 and feat[0]["properties"]["new_households"] == 1200 and feat[0]["geometry"]["type"] == "Point"
    assert data["solve"]["status"] == "optimal" and data["summary"][0].startswith("新建党群服务中心选址建议")
    cover = client.post("/suggestions", json={"cover_all": True, "level": "compound", "minutes": 5, "lang": "en"}).json()
    # at 5 min (333 m) S1 keeps only W1; W2, E1 + E3 (316 m apart) and E2 each need a site
    assert cover["model"] == "set_covering" and len(cover["sites"]["features"]) == 3
    assert cover["before"]["covered_households"] == 100 and cover["after"]["covered_households"] == 1800
    assert cover["summary"][-1].startswith("Compounds no candidate can reach: 0")


def test_suggestions_with_given_candidates_and_errors(client: TestClient):
    lon, lat = lonlat(1200, 800)
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"id": "P1", "name": "旧厂房"}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
    ]}
    data = client.post("/suggestions", json={"new_centers": 2, "candidates": fc}).json()
    assert [f["properties"]["name"] for f in data["sites"]["features"]] == ["旧厂房"]
    none = client.post("/suggestions", json={})
    assert none.status_code == 422 and none.json()["field"] == "new_centers"
    assert client.post("/suggestions", json={"new_centers": 0}).status_code == 422
    bad = client.post("/suggestions", json={"new_centers": 1, "candidates": {"type": "Point"}})
    assert bad.status_code == 422 and bad.json()["field"] == "candidates"


# ---------------------------------------------------------------------------
# /scenarios


def test_scenario_lifecycle(client: TestClient):
    lon, lat = lonlat(1600, 500)
    body = {"name": "东边新建", "changes": [{"op": "add", "level": "community", "lon": lon, "lat": lat}]}
    made = client.post("/scenarios", json=body)
    assert made.status_code == 201, made.text
    sid = made.json()["scenario"]["id"]
    assert made.json()["difference"]["gained_households"] == 1200
    listed = client.get("/scenarios").json()["scenarios"]
    assert [(s["id"], s["name"], s["changes"]) for s in listed] == [(sid, "东边新建", 1)]
    got = client.get(f"/scenarios/{sid}").json()
    assert got["by_community"][0]["community"] == "东社区" and got["by_community"][0]["gained_households"] == 1200
    assert [c["id"] for c in got["changed_centers"]] == ["SCN01"]
    put = client.put(f"/scenarios/{sid}", json={"name": "只撤销", "changes": [{"op": "remove", "center_id": "S1"}]})
    assert put.status_code == 200 and put.json()["difference"]["lost_households"] == 600
    assert client.delete(f"/scenarios/{sid}").status_code == 204
    missing = client.get(f"/scenarios/{sid}")
    assert missing.status_code == 404 and missing.json()["field"] == "scenario"


def test_scenario_results_are_kept_per_app_and_bounded(town: Dataset, tmp_path: Path, token_store):
    store, tokens = token_store
    app = make_app(town, tmp_path / "scenarios", store)
    app.state.scenario_results = planning.ScenarioResults(maxsize=1)
    client = TestClient(app, headers=bearer(tokens["planner"]))
    first = client.post("/scenarios", json={"name": "不变", "changes": []}).json()["scenario"]["id"]
    assert client.post("/scenarios", json={"name": "撤销", "changes": [{"op": "remove", "center_id": "S1"}]}).status_code == 201
    assert len(app.state.scenario_results) == 1  # the first result made room for the second
    assert client.get(f"/scenarios/{first}").json()["difference"]["net_households"] == 0
    assert len(make_app(town, tmp_path / "scenarios", store).state.scenario_results) == 0  # another app, its own


def test_scenario_errors_name_the_change(client: TestClient):
    res = client.post("/scenarios", json={"name": "坏", "changes": [{"op": "move", "center_id": "S9", "lon": 109.78, "lat": 39.6}]})
    assert res.status_code == 422 and res.json()["field"] == "changes[0].center_id"
    res = client.post("/scenarios", json={"name": "坏", "changes": [{"op": "add", "level": "community", "lon": 500, "lat": 39}]})
    assert res.status_code == 422 and res.json()["errors"][0]["loc"] == ["body", "changes", 0, "lon"]
    assert client.get("/scenarios").json()["scenarios"] == []


def test_scenarios_survive_a_restart_and_live_beside_the_dataset(
    town: Dataset, tmp_path: Path, token_store: tuple[Store, dict[str, str]]
):
    ds = town.replace()
    ds.path = tmp_path / "town.gpkg"
    first = TestClient(make_app(ds, None, token_store[0]), headers=bearer(token_store[1]["planner"]))
    lon, lat = lonlat(1600, 500)
    sid = first.post("/scenarios", json={"name": "留存", "changes": [{"op": "add", "level": "community", "lon": lon, "lat": lat}]}).json()["scenario"]["id"]
    assert (tmp_path / "town.scenarios" / f"{sid}.json").is_file()
    second = TestClient(make_app(ds, None))  # a restarted service
    assert second.get(f"/scenarios/{sid}").json()["coverage"]["covered_households"] == 1800
    assert "covered" in town["compounds"] and town["compounds"]["covered"].sum() == 3  # the base is untouched


# ---------------------------------------------------------------------------
# the command line


@pytest.fixture(scope="module")
def town_gpkg(town: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(town, tmp_path_factory.mktemp("town") / "town.gpkg")


def test_cli_report_writes_xlsx_and_prints_csv(town_gpkg: Path, tmp_path: Path):
    from api.cli import app

    runner = CliRunner()
    out = tmp_path / "gaps.xlsx"
    res = runner.invoke(app, ["report", str(town_gpkg), "--by", "community", "--format", "xlsx", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "居民户数 1,800 户: 已覆盖 600 户, 未覆盖 1,200 户" in res.output
    wb = load_workbook(out)
    assert wb.sheetnames == ["总体情况", "社区", "未覆盖小区"]
    res = runner.invoke(app, ["report", str(town_gpkg), "--format", "csv", "--lang", "en"])
    assert res.exit_code == 0 and "District total,5,1800,4770,3,2,0.6000,600,1200" in res.output
    res = runner.invoke(app, ["report", str(town_gpkg), "-o", str(tmp_path / "g.json")])
    assert json.loads((tmp_path / "g.json").read_text("utf-8"))["totals"]["households"] == 1800
    bad = runner.invoke(app, ["report", str(town_gpkg), "--by", "street"])
    assert bad.exit_code == 2 and "`by` must be one of" in bad.output


def test_cli_optimize_writes_sites(town_gpkg: Path, tmp_path: Path):
    from api.cli import app

    runner = CliRunner()
    out = tmp_path / "sites.geojson"
    res = runner.invoke(app, ["optimize", str(town_gpkg), "--new-centers", "1", "-o", str(out), "--method", "circle"])
    assert res.exit_code == 0, res.output
    assert "新建 1 处后: 已覆盖 1,800 户 / 1,800 户 (覆盖率 100.0%)" in res.output
    assert json.loads(out.read_text("utf-8"))["features"][0]["properties"]["new_households"] == 1200
    res = runner.invoke(app, ["optimize", str(town_gpkg), "--cover-all", "--level", "compound", "--minutes", "5",
                              "-o", str(tmp_path / "all.gpkg"), "--map", str(tmp_path / "m.png")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    # --minutes 5 also shortens the existing centre: S1 then reaches W1 only, so E1, E2, E3 and W2 are left
    assert "覆盖全部可达户数至少需新建" in res.output
    none = runner.invoke(app, ["optimize", str(town_gpkg)])
    assert none.exit_code == 2 and "--new-centers" in none.output


def test_scenarios_and_suggestions_need_a_planner_token(town: Dataset, tmp_path: Path, token_store: tuple[Store, dict[str, str]]):
    store, tokens = token_store
    app = make_app(town, tmp_path / "scenarios", store)
    anonymous = TestClient(app)
    body = {"name": "x", "changes": [{"op": "remove", "center_id": "S1"}]}
    assert anonymous.post("/scenarios", json=body).status_code == 401
    assert anonymous.post("/suggestions", json={"new_centers": 1}).status_code == 401
    viewer = TestClient(app, headers=bearer(tokens["viewer"]))
    res = viewer.post("/scenarios", json=body)
    assert res.status_code == 403 and res.json()["field"] == "Authorization"
    assert viewer.get("/scenarios").json()["scenarios"] == []  # reading stays public
    assert TestClient(app, headers=bearer(tokens["editor"])).post("/scenarios", json=body).status_code == 201


def test_a_scenario_shows_on_the_map_features_tiles_and_report(town: Dataset, tmp_path: Path, token_store):
    from api.app import create_app

    store, tokens = token_store
    app = create_app(Settings(), dataset=town)
    app.state.dangjian.use_scenarios(ScenarioStore(tmp_path / "scenarios"))
    app.state.token_store = store
    client = TestClient(app, headers=bearer(tokens["planner"]))
    lon, lat = lonlat(1600, 500)
    sid = client.post(
        "/scenarios", json={"name": "东边新建", "changes": [{"op": "add", "level": "community", "lon": lon, "lat": lat}]}
    ).json()["scenario"]["id"]

    def covered(**params: str) -> int:
        items = client.get("/collections/compounds/items", params=params).json()["features"]
        return sum(f["properties"]["households"] for f in items if f["properties"]["covered"])

    assert covered() == 600
    assert covered(scenario=sid) == 1800  # the new centre reaches the 1,200 uncovered households of 东社区
    assert client.get("/reports/gaps", params={"scenario": sid}).json()["totals"]["covered_households"] == 1800
    centers = client.get("/collections/centers/items", params={"scenario": sid}).json()["features"]
    assert "SCN01" in {f["properties"]["id"] for f in centers}
    page = client.get("/maps/coverage", params={"scenario": sid})
    assert page.status_code == 200 and f"scenario={sid}" in page.text
    import math

    z, (tlon, tlat) = 15, lonlat(1500, 500)
    x = int((tlon + 180) / 360 * 2**z)
    y = int((1 - math.asinh(math.tan(math.radians(tlat))) / math.pi) / 2 * 2**z)
    base_tile = client.get(f"/tiles/compounds/{z}/{x}/{y}.png")
    scen_tile = client.get(f"/tiles/compounds/{z}/{x}/{y}.png", params={"scenario": sid})
    assert base_tile.status_code == scen_tile.status_code == 200
    assert base_tile.content != scen_tile.content  # 东社区's compounds turn from uncovered to covered
    assert base_tile.headers["etag"] != scen_tile.headers["etag"]
    missing = client.get("/collections/compounds/items", params={"scenario": "no-such"})
    assert missing.status_code == 404 and missing.json()["field"] == "scenario"
