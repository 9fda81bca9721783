"""``POST /datasets``: uploads imported through the dataset's store; bad uploads get a 4xx naming the field."""

from __future__ import annotations

import io
import uuid
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from shapely.geometry import LineString, box

from api.errors import install_error_handlers
from api.routers.datasets import get_settings, router
from api.settings import Settings
from layers.dataset import read_dataset
from layers.store import Store, Transaction, open_store
from layers.store import store as store_module
from layers.store.catalog import postgis_datasets
from tests.api.helpers import bearer
from tests.helpers import reads


def make_client(data_dir: Path, tokens: tuple[Store, dict[str, str]], *, role: str = "admin", **settings: object) -> TestClient:
    """A client on the datasets router alone, sending a token of ``role`` (``""``: none)."""
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.token_store = tokens[0]
    app.dependency_overrides[get_settings] = lambda: Settings(data_dir=data_dir, **settings)
    return TestClient(app, headers=bearer(tokens[1][role]) if role else None)


@pytest.fixture
def client(tmp_path: Path, token_store: tuple[Store, dict[str, str]]) -> TestClient:
    return make_client(tmp_path / "datasets", token_store)


def shapefile_zip(tmp_path: Path) -> bytes:
    """A zipped GBK Shapefile of two compounds (no .cpg) plus a roads GeoJSON."""
    folder = tmp_path / "shp"
    folder.mkdir()
    frame = gpd.GeoDataFrame(
        {"小区名称": ["阳光小区", "和谐家园"], "户数": [300, 200]},
        geometry=[box(109.780, 39.600, 109.781, 39.601), box(109.785, 39.600, 109.786, 39.601)],
        crs=4326,
    )
    pyogrio.write_dataframe(frame, folder / "小区.shp", encoding="GBK")
    (folder / "小区.cpg").unlink()
    roads = gpd.GeoDataFrame({"name": ["大街"]}, geometry=[LineString([(109.779, 39.5995), (109.787, 39.5995)])], crs=4326)
    roads.to_file(folder / "roads.geojson")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f.name)
    return buf.getvalue()


def test_upload_a_zip_creates_a_dataset_and_reports(client: TestClient, tmp_path: Path):
    upload = shapefile_zip(tmp_path)
    res = client.post("/datasets", files={"files": ("survey.zip", upload, "application/zip")}, data={"name": "康巴什", "allow_empty": "true"})
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["id"] == "康巴什"
    assert body["layers"]["compounds"] == 2 and body["layers"]["roads"] == 1
    assert {w["code"] for w in body["report"]["warnings"]} >= {"encoding_detected", "no_centers"}
    ds = read_dataset(tmp_path / "datasets" / "康巴什.gpkg")
    assert sorted(ds["compounds"]["name"]) == ["和谐家园", "阳光小区"]
    listed = client.get("/datasets").json()["datasets"]
    assert [d["id"] for d in listed] == ["康巴什"]
    got = client.get("/datasets/康巴什").json()
    assert got["report"]["layers"]["compounds"] == 2
    assert client.get("/datasets/nope").status_code == 404
    # Same name again: refused unless replace=true.
    again = client.post("/datasets", files={"files": ("survey.zip", upload, "application/zip")}, data={"name": "康巴什", "allow_empty": "true"})
    assert again.status_code == 409 and again.json()["field"] == "name"
    replaced = client.post("/datasets", files={"files": ("survey.zip", upload)}, data={"name": "康巴什", "replace": "true", "allow_empty": "true"})
    assert replaced.status_code == 201
    # No upload scratch is left behind.
    assert [p.name for p in (tmp_path / "datasets").iterdir() if p.name.startswith(".upload")] == []


def test_several_files_and_options(client: TestClient):
    csv = "名称,级别,经度,纬度\n一号中心,社区级,109.78,39.60\n二号站,小区级,109.79,39.60\n".encode("gbk")
    res = client.post(
        "/datasets",
        files=[("files", ("服务中心.csv", csv, "text/csv"))],
        data={"name": "centres", "crs": "gcj02", "allow_empty": "true"},
    )
    assert res.status_code == 201, res.text
    src = res.json()["report"]["sources"][0]
    assert src["layer"] == "centers" and src["crs"].startswith("GCJ-02")


def test_bad_rows_get_422_naming_the_field(client: TestClient, tmp_path: Path):
    csv = b"name,households,lon,lat\nA,12,109.78,39.6\nB,many,109.79,39.6\n"
    res = client.post("/datasets", files={"files": ("compounds.csv", csv, "text/csv")}, data={"name": "bad", "allow_empty": "true"})
    assert res.status_code == 422
    body = res.json()
    assert body["field"] == "compounds.households" and "row 2" in body["detail"]
    assert str(tmp_path) not in body["detail"]
    assert not (tmp_path / "datasets" / "bad.gpkg").exists()
    res = client.post(
        "/datasets", files={"files": ("compounds.csv", csv, "text/csv")}, data={"name": "bad", "skip_bad_rows": "true", "allow_empty": "true"}
    )
    assert res.status_code == 201
    assert res.json()["report"]["sources"][0]["rejected"][0]["row"] == 2


def test_bad_requests_name_their_field(client: TestClient, tmp_path: Path):
    assert client.post("/datasets", json={"files": []}).status_code == 415
    res = client.post("/datasets", data={"name": "x"}, files={"other": ("a.txt", b"x", "text/plain")})
    assert res.status_code == 422 and res.json()["field"] == "files"
    res = client.post("/datasets", files={"files": ("a.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")}, data={"name": "../escape"})
    assert res.status_code == 422 and res.json()["field"] == "name"
    res = client.post("/datasets", files={"files": ("a.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")}, data={"crs": "mars"})
    assert res.status_code == 422 and res.json()["field"] == "crs"
    res = client.post("/datasets", files={"files": ("a.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")}, data={"bbox": "1,2"})
    assert res.status_code == 422 and res.json()["field"] == "bbox"
    res = client.post("/datasets", files={"files": ("broken.gpkg", b"SQLite format 3\x00" + b"\x00" * 200)})
    assert res.status_code == 422 and res.json()["field"] == "source"


def test_zip_slip_and_file_names_cannot_escape(client: TestClient, tmp_path: Path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../../escaped.csv", "name,level,lon,lat\na,community,109.78,39.6\n")
    res = client.post("/datasets", files={"files": ("evil.zip", buf.getvalue())}, data={"allow_empty": "true"})
    assert res.status_code == 422 and "outside the archive" in res.json()["detail"]
    assert not list(tmp_path.rglob("escaped.csv"))
    res = client.post("/datasets", files={"files": ("../../centers.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")}, data={"name": "ok", "allow_empty": "true"})
    assert res.status_code == 201
    assert not (tmp_path / "centers.csv").exists()


def test_upload_limit_is_checked_before_and_while_streaming(tmp_path: Path, token_store: tuple[Store, dict[str, str]]):
    client = make_client(tmp_path / "datasets", token_store, upload_max_mb=0.01)  # 10 KB
    # A 2 GB upload announced by Content-Length is refused before a byte is read:
    # the app never asks the server for the body.
    received: list[dict] = []
    app = client.app

    async def body_spy(scope, receive, send):
        async def spied_receive():
            message = await receive()
            if message["type"] == "http.request":
                received.append(message)
            return message

        await app(scope, spied_receive, send)

    announced = TestClient(body_spy, headers=client.headers)
    res = announced.post(
        "/datasets",
        content=b"--b\r\n",
        headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(2 * 1024**3)},
    )
    assert res.status_code == 413 and res.json()["field"] == "files"
    assert "2048 MB" in res.json()["detail"]  # refused on the announced length, not while streaming
    assert received == []

    # Without a Content-Length the count stops the stream.
    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.csv"\r\n\r\n'
        for _ in range(100):
            yield b"x" * 1024
        yield b"\r\n--b--\r\n"

    res = announced.post("/datasets", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert res.status_code == 413
    assert received  # this one is read, until the count passes the limit
    assert [p for p in (tmp_path / "datasets").iterdir()] == []
    # The service keeps serving.
    assert client.get("/datasets").status_code == 200
    small = make_client(tmp_path / "datasets", token_store, upload_max_mb=0.01)
    ok = small.post("/datasets", files={"files": ("c.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")}, data={"allow_empty": "true"})
    assert ok.status_code == 201


def test_zipped_excel_of_a_survey(client: TestClient):
    frame = pd.DataFrame({"小区名称": ["甲"], "户数": [10], "经度": [109.78], "纬度": [39.6]})
    xbuf = io.BytesIO()
    frame.to_excel(xbuf, index=False, engine="openpyxl")
    res = client.post("/datasets", files={"files": ("小区.xlsx", xbuf.getvalue())}, data={"name": "xl", "allow_empty": "true"})
    assert res.status_code == 201, res.text
    assert res.json()["layers"]["compounds"] == 1


def test_a_dataset_without_centres_is_refused_naming_the_layer(client: TestClient, tmp_path: Path):
    res = client.post("/datasets", files={"files": ("compounds.csv", one_compound_csv())}, data={"name": "no_centres"})
    assert res.status_code == 422, res.text
    assert res.json()["field"] == "centers" and "centers" in res.json()["detail"]
    assert client.get("/datasets").json()["datasets"] == []
    assert client.get("/datasets/no_centres").status_code == 404
    assert [p.name for p in (tmp_path / "datasets").iterdir()] == []  # no dataset, no scratch


def test_allow_empty_accepts_a_dataset_without_centres(client: TestClient, tmp_path: Path):
    res = client.post(
        "/datasets", files={"files": ("compounds.csv", one_compound_csv())}, data={"name": "no_centres", "allow_empty": "true"}
    )
    assert res.status_code == 201, res.text
    assert res.json()["layers"]["compounds"] == 1 and res.json()["layers"]["centers"] == 0
    assert [d["id"] for d in client.get("/datasets").json()["datasets"]] == ["no_centres"]
    assert read_dataset(tmp_path / "datasets" / "no_centres.gpkg")["compounds"]["name"].tolist() == ["甲"]


def test_imports_need_an_admin_token(tmp_path: Path, token_store: tuple[Store, dict[str, str]]):
    upload = {"files": ("a.geojson", b"{}", "application/geo+json")}
    anonymous = make_client(tmp_path / "datasets", token_store, role="")
    res = anonymous.post("/datasets", files=upload)
    assert res.status_code == 401 and res.json()["field"] == "Authorization"
    assert res.headers["www-authenticate"].startswith("Bearer")
    wrong = anonymous.post("/datasets", files=upload, headers=bearer("dj_00000000_" + "x" * 43))
    assert wrong.status_code == 401
    editor = make_client(tmp_path / "datasets", token_store, role="editor")
    res = editor.post("/datasets", files=upload)
    assert res.status_code == 403 and "admin" in res.json()["detail"]
    assert not (tmp_path / "datasets").exists() or not list((tmp_path / "datasets").glob("*.gpkg"))


# ---------------------------------------------------------------------------
# through the store


def admin_actor(tokens: tuple[Store, dict[str, str]]) -> str:
    """The audit-log actor of the admin token: ``token:<id>``."""
    info = tokens[0].verify_token(tokens[1]["admin"])
    assert info is not None
    return f"token:{info.id}"


def one_compound_csv(name: str = "甲", households: int | str = 120) -> bytes:
    return f"名称,户数,lon,lat\n{name},{households},109.78,39.6\n".encode()


def test_the_import_and_its_report_are_in_the_dataset_store(
    client: TestClient, tmp_path: Path, token_store: tuple[Store, dict[str, str]]
):
    actor = admin_actor(token_store)
    res = client.post("/datasets", files={"files": ("survey.zip", shapefile_zip(tmp_path))}, data={"name": "康巴什", "allow_empty": "true"})
    assert res.status_code == 201, res.text
    first = res.json()["report_id"]
    path = tmp_path / "datasets" / "康巴什.gpkg"
    with open_store(path) as store:
        reports = reads(store).list_import_reports()
        assert [(r["id"], r["actor"]) for r in reports] == [(first, actor)]
        assert reports[0]["report"]["layers"] == {"compounds": 2, "roads": 1, "centers": 0, "boundary": 0, "rivers": 0, "party_orgs": 0}
        assert reports[0]["report"]["output"] == "康巴什"
        assert sorted(reads(store).read_layer("compounds")["name"]) == ["和谐家园", "阳光小区"]
        audit = reads(store).audit()
        assert {(e.action, e.actor) for e in audit} >= {("import_dataset", actor), ("import_report", actor)}
        assert {e.actor for e in audit} == {actor}
        assert next(e for e in audit if e.action == "import_dataset").after["layers"]["compounds"] == 2
    # The store's copy is the only one: no report files beside the dataset, no scratch files.
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["康巴什.gpkg"]

    got = client.get("/datasets/康巴什").json()
    assert got["report_id"] == first and got["imported_by"] == "token"  # never the token's id (half of the token)
    assert got["report"]["rows"]["kept"] == 3
    assert got["layers"]["compounds"] == 2 and got["backend"] == "gpkg"

    # replace=true imports into the same store: the history stays and grows.
    csv = one_compound_csv("新小区", 80)
    res = client.post("/datasets", files={"files": ("compounds.csv", csv)}, data={"name": "康巴什", "replace": "true", "allow_empty": "true"})
    assert res.status_code == 201, res.text
    second = res.json()["report_id"]
    assert second > first
    listed = client.get("/datasets/康巴什/reports").json()["reports"]
    assert [r["id"] for r in listed] == [second, first]
    assert {r["actor"] for r in listed} == {"token"}
    assert actor.split(":")[1] not in client.get(f"/datasets/康巴什/reports/{first}").text
    one = client.get(f"/datasets/康巴什/reports/{first}").json()
    assert one["report"]["layers"]["compounds"] == 2
    assert client.get("/datasets/康巴什/reports/999").status_code == 404
    assert client.get("/datasets/康巴什").json()["report"]["layers"]["compounds"] == 1
    with open_store(path) as store:
        assert reads(store).read_layer("compounds")["name"].tolist() == ["新小区"]
        assert len(reads(store).read_layer("roads")) == 0  # a replaced dataset holds exactly the new import


def test_a_failed_import_leaves_no_dataset_and_the_old_one_unchanged(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data_dir = tmp_path / "datasets"
    bad = one_compound_csv(households="很多")
    res = client.post("/datasets", files={"files": ("compounds.csv", bad)}, data={"name": "fresh", "allow_empty": "true"})
    assert res.status_code == 422 and res.json()["field"] == "compounds.households"
    assert client.get("/datasets").json()["datasets"] == []
    assert client.get("/datasets/fresh").status_code == 404

    res = client.post("/datasets", files={"files": ("compounds.csv", one_compound_csv("旧小区"))}, data={"name": "kept", "allow_empty": "true"})
    assert res.status_code == 201
    path = data_dir / "kept.gpkg"
    with open_store(path) as store:
        revision, reports = store.revision(), reads(store).list_import_reports()
    res = client.post("/datasets", files={"files": ("compounds.csv", bad)}, data={"name": "kept", "replace": "true", "allow_empty": "true"})
    assert res.status_code == 422 and res.json()["field"] == "compounds.households"

    # A failure in the middle of writing (after the upload was read) rolls the whole import back.
    def fail(tx: Transaction) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(store_module, "_before_commit", fail)
    good = one_compound_csv("新小区")
    with pytest.raises(RuntimeError, match="disk full"):
        client.post("/datasets", files={"files": ("compounds.csv", good)}, data={"name": "kept", "replace": "true", "allow_empty": "true"})
    with pytest.raises(RuntimeError, match="disk full"):
        client.post("/datasets", files={"files": ("compounds.csv", good)}, data={"name": "fresh", "allow_empty": "true"})
    monkeypatch.setattr(store_module, "_before_commit", None)

    with open_store(path) as store:
        assert store.revision() == revision
        assert reads(store).list_import_reports() == reports
        assert reads(store).read_layer("compounds")["name"].tolist() == ["旧小区"]
    # Nothing half-written under the new name, no scratch files left.
    assert sorted(p.name for p in data_dir.iterdir()) == ["kept.gpkg"]
    assert [d["id"] for d in client.get("/datasets").json()["datasets"]] == ["kept"]


def test_postgis_import_goes_into_the_datasets_schema(
    postgis_url: str, tmp_path: Path, token_store: tuple[Store, dict[str, str]]
):
    actor = admin_actor(token_store)
    client = make_client(tmp_path / "datasets", token_store, database_url=postgis_url)
    name = f"survey_{uuid.uuid4().hex[:8]}"
    upload = {"files": ("survey.zip", shapefile_zip(tmp_path))}
    res = client.post("/datasets", files=upload, data={"name": "康巴什", "allow_empty": "true"})
    assert res.status_code == 422 and res.json()["field"] == "name"  # not a schema name
    bad = {"files": ("compounds.csv", one_compound_csv(households="很多"))}
    res = client.post("/datasets", files=bad, data={"name": name, "allow_empty": "true"})
    assert res.status_code == 422 and res.json()["field"] == "compounds.households"
    assert name not in postgis_datasets(postgis_url)  # a bad upload creates no schema
    res = client.post("/datasets", files=upload, data={"name": name, "allow_empty": "true"})
    assert res.status_code == 201, res.text
    store = open_store(postgis_url, name=name)
    try:
        assert store.backend == "postgis"
        assert sorted(reads(store).read_layer("compounds")["name"]) == ["和谐家园", "阳光小区"]
        assert len(reads(store).read_layer("roads")) == 1
        reports = reads(store).list_import_reports()
        assert [(r["id"], r["actor"]) for r in reports] == [(res.json()["report_id"], actor)]
        assert reports[0]["report"]["layers"]["compounds"] == 2
        assert ("import_dataset", actor) in {(e.action, e.actor) for e in reads(store).audit()}
        revision = store.revision()
        # Nothing was written to the data directory but the upload scratch (removed).
        assert not (tmp_path / "datasets" / f"{name}.gpkg").exists()

        assert name in [d["id"] for d in client.get("/datasets").json()["datasets"]]
        got = client.get(f"/datasets/{name}").json()
        assert got["backend"] == "postgis" and got["imported_by"] == "token"
        assert got["layers"]["compounds"] == 2 and got["report"]["layers"]["roads"] == 1
        again = client.post("/datasets", files=upload, data={"name": name, "allow_empty": "true"})
        assert again.status_code == 409 and again.json()["field"] == "name"
        res = client.post("/datasets", files=bad, data={"name": name, "replace": "true", "allow_empty": "true"})
        assert res.status_code == 422
        assert store.revision() == revision and len(reads(store).list_import_reports()) == 1
        res = client.post("/datasets", files={"files": ("compounds.csv", one_compound_csv("新小区"))}, data={"name": name, "replace": "true", "allow_empty": "true"})
        assert res.status_code == 201, res.text
        assert reads(store).read_layer("compounds")["name"].tolist() == ["新小区"]
        assert [r["id"] for r in client.get(f"/datasets/{name}/reports").json()["reports"]] == [
            res.json()["report_id"],
            reports[0]["id"],
        ]
        # Asking about a dataset that does not exist creates no schema.
        assert client.get("/datasets/nope_missing").status_code == 404
        assert "nope_missing" not in postgis_datasets(postgis_url)
    finally:
        store.drop()  # type: ignore[attr-defined]
