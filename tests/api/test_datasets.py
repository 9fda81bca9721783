"""``POST /datasets``: uploads imported into new datasets; bad uploads get a 4xx naming the field."""

from __future__ import annotations

import io
import time
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
from layers.store import Store
from tests.api.conftest import bearer


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
    res = client.post("/datasets", files={"files": ("survey.zip", upload, "application/zip")}, data={"name": "康巴什"})
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
    again = client.post("/datasets", files={"files": ("survey.zip", upload, "application/zip")}, data={"name": "康巴什"})
    assert again.status_code == 409 and again.json()["field"] == "name"
    replaced = client.post("/datasets", files={"files": ("survey.zip", upload)}, data={"name": "康巴什", "replace": "true"})
    assert replaced.status_code == 201
    # No upload scratch is left behind.
    assert [p.name for p in (tmp_path / "datasets").iterdir() if p.name.startswith(".upload")] == []


def test_several_files_and_options(client: TestClient):
    csv = "名称,级别,经度,纬度\n一号中心,社区级,109.78,39.60\n二号站,小区级,109.79,39.60\n".encode("gbk")
    res = client.post(
        "/datasets",
        files=[("files", ("服务中心.csv", csv, "text/csv"))],
        data={"name": "centres", "crs": "gcj02"},
    )
    assert res.status_code == 201, res.text
    src = res.json()["report"]["sources"][0]
    assert src["layer"] == "centers" and src["crs"].startswith("GCJ-02")


def test_bad_rows_get_422_naming_the_field(client: TestClient, tmp_path: Path):
    csv = b"name,households,lon,lat\nA,12,109.78,39.6\nB,many,109.79,39.6\n"
    res = client.post("/datasets", files={"files": ("compounds.csv", csv, "text/csv")}, data={"name": "bad"})
    assert res.status_code == 422
    body = res.json()
    assert body["field"] == "compounds.households" and "row 2" in body["detail"]
    assert str(tmp_path) not in body["detail"]
    assert not (tmp_path / "datasets" / "bad.gpkg").exists()
    res = client.post(
        "/datasets", files={"files": ("compounds.csv", csv, "text/csv")}, data={"name": "bad", "skip_bad_rows": "true"}
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
    res = client.post("/datasets", files={"files": ("evil.zip", buf.getvalue())})
    assert res.status_code == 422 and "outside the archive" in res.json()["detail"]
    assert not list(tmp_path.rglob("escaped.csv"))
    res = client.post("/datasets", files={"files": ("../../centers.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")}, data={"name": "ok"})
    assert res.status_code == 201
    assert not (tmp_path / "centers.csv").exists()


def test_upload_limit_is_checked_before_and_while_streaming(tmp_path: Path, token_store: tuple[Store, dict[str, str]]):
    client = make_client(tmp_path / "datasets", token_store, upload_max_mb=0.01)  # 10 KB
    # A 2 GB upload announced by Content-Length is refused before a byte is read.
    start = time.perf_counter()
    res = client.post(
        "/datasets",
        content=b"--b\r\n",
        headers={"content-type": "multipart/form-data; boundary=b", "content-length": str(2 * 1024**3)},
    )
    assert res.status_code == 413 and res.json()["field"] == "files"
    assert time.perf_counter() - start < 1.0

    # Without a Content-Length the count stops the stream.
    def body():
        yield b'--b\r\nContent-Disposition: form-data; name="files"; filename="big.csv"\r\n\r\n'
        for _ in range(100):
            yield b"x" * 1024
        yield b"\r\n--b--\r\n"

    res = client.post("/datasets", content=body(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert res.status_code == 413
    assert [p for p in (tmp_path / "datasets").iterdir()] == []
    # The service keeps serving.
    assert client.get("/datasets").status_code == 200
    small = make_client(tmp_path / "datasets", token_store, upload_max_mb=0.01)
    ok = small.post("/datasets", files={"files": ("c.csv", b"name,level,lon,lat\na,community,109.78,39.6\n")})
    assert ok.status_code == 201


def test_zipped_excel_of_a_survey(client: TestClient):
    frame = pd.DataFrame({"小区名称": ["甲"], "户数": [10], "经度": [109.78], "纬度": [39.6]})
    xbuf = io.BytesIO()
    frame.to_excel(xbuf, index=False, engine="openpyxl")
    res = client.post("/datasets", files={"files": ("小区.xlsx", xbuf.getvalue())}, data={"name": "xl"})
    assert res.status_code == 201, res.text
    assert res.json()["layers"]["compounds"] == 1


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
