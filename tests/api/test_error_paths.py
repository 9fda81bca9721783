"""Error bodies name files, never the server's folders (issue 19, finding 8)."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import pytest

from api.errors import error_body, hide_folder, hide_server_paths
from layers.store import Store
from tests.api.test_datasets import make_client


@pytest.mark.parametrize(("member", "data"), [("c.geojson", b"{not json"), ("d.kml", b"<kml")])
def test_a_bad_file_in_an_uploaded_zip_is_named_without_the_scratch_folder(
    tmp_path: Path, token_store: tuple[Store, dict[str, str]], member: str, data: bytes
):
    client = make_client(tmp_path / "datasets", token_store, rate_limit_per_minute=0)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(member, data)
    res = client.post("/datasets", files={"files": ("x.zip", buf.getvalue())}, data={"name": "bad"})
    detail = res.json()["detail"]
    assert res.status_code == 422 and f"`{member}`" in detail
    assert tempfile.gettempdir() not in detail and "dangjian-import-" not in detail and "zip-" not in detail


def test_server_folders_are_cut_from_any_error_detail(tmp_path: Path):
    tmp = tempfile.gettempdir()
    assert hide_server_paths(f"cannot read '{tmp}/dangjian-import-ab/zip-cd/甲 乙.kml'") == "cannot read '甲 乙.kml'"
    hide_folder(tmp_path / "srv")
    assert error_body(f"`{tmp_path}/srv/data/x.gpkg` is locked; see {tmp_path}/srv", None)["detail"] == "`x.gpkg` is locked; see …"
    assert hide_server_paths("GET /collections/centers/items/{id}: 404") == "GET /collections/centers/items/{id}: 404"
