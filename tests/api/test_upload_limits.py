"""Hostile uploads: limits across the whole request, workbooks checked as the zips they are, scratch cleaned (issue 19, finding 3)."""

from __future__ import annotations

import io
import os
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from api.app import create_app
from api.settings import Settings
from layers.importing.archives import SCRATCH_PREFIX
from layers.store import Store
from tests.api.test_datasets import make_client


@pytest.fixture
def scratch_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The system's temporary folder, moved to a folder of this test (imports make their scratch there)."""
    root = tmp_path / "tmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


def _bomb(name: str, nbytes: int) -> bytes:
    """A zip of one CSV of ``nbytes`` (mostly blanks): a few hundred bytes that unpack to ``nbytes``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}.csv", "名称,户数,经度,纬度\n甲,10,109.78,39.6\n" + " " * nbytes)
    return buf.getvalue()


def test_two_zips_each_under_the_limit_are_refused_together(tmp_path: Path, token_store: tuple[Store, dict[str, str]], scratch_root: Path):
    client = make_client(tmp_path / "datasets", token_store, upload_max_unpacked_mb=1)  # 1 MB for the whole upload
    one, two = _bomb("a", 600_000), _bomb("b", 600_000)
    assert len(one) < 5_000  # a few KB each, 0.6 MB unpacked: each alone passes, together 1.2 MB
    res = client.post("/datasets", files=[("files", ("a.zip", one)), ("files", ("b.zip", two))], data={"name": "bomb"})
    assert res.status_code == 422, res.text
    assert res.json() == {"detail": "`b.zip` 被拒绝：本次导入解压后超过 1 MB", "field": "source"}
    assert list(scratch_root.iterdir()) == []  # the scratch folder went in the finally
    alone = client.post("/datasets", files=[("files", ("a.zip", one))], data={"name": "alone", "allow_empty": "true"})
    assert alone.status_code == 201, alone.text


def test_members_are_counted_across_the_request(tmp_path: Path, token_store: tuple[Store, dict[str, str]], scratch_root: Path):
    client = make_client(tmp_path / "datasets", token_store, upload_max_members=3)
    zips = []
    for name in ("a", "b"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr(f"{name}.csv", "名称,户数,经度,纬度\n甲,10,109.78,39.6\n")
            zf.writestr(f"{name}-docs/", "")  # a folder: a member too
        zips.append(("files", (f"{name}.zip", buf.getvalue())))
    res = client.post("/datasets", files=zips, data={"name": "many"})  # 2 + 2 members > 3
    assert res.status_code == 422 and res.json()["detail"] == "`b.zip` 被拒绝：本次导入的压缩包成员超过 3 个"


def test_a_workbook_with_too_many_rows_is_refused_before_it_is_parsed(
    tmp_path: Path, token_store: tuple[Store, dict[str, str]], scratch_root: Path, monkeypatch: pytest.MonkeyPatch
):
    frame = pd.DataFrame({"名称": [f"小区{i}" for i in range(1001)], "户数": 10, "经度": 109.78, "纬度": 39.6})
    xbuf = io.BytesIO()
    frame.to_excel(xbuf, index=False, engine="openpyxl")  # 1,002 rows with the heading
    parsed: list[object] = []
    real = pd.read_excel
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: parsed.append(a) or real(*a, **k))
    client = make_client(tmp_path / "datasets", token_store, upload_max_rows=1001)
    res = client.post("/datasets", files={"files": ("小区.xlsx", xbuf.getvalue())}, data={"name": "rows"})
    assert res.status_code == 422 and res.json()["detail"] == "`小区.xlsx` 被拒绝：有工作表超过 1001 行"
    assert parsed == []  # refused on the count, pandas never ran
    client = make_client(tmp_path / "datasets", token_store, upload_max_rows=1002)
    res = client.post("/datasets", files={"files": ("小区.xlsx", xbuf.getvalue())}, data={"name": "rows", "allow_empty": "true"})
    assert res.status_code == 201 and res.json()["layers"]["compounds"] == 1001


def test_a_workbook_is_charged_its_unpacked_size(tmp_path: Path, token_store: tuple[Store, dict[str, str]], scratch_root: Path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # an "xlsx" whose shared strings unpack to 2 MB
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/sharedStrings.xml", " " * 2_000_000)
    client = make_client(tmp_path / "datasets", token_store, upload_max_unpacked_mb=1)
    res = client.post("/datasets", files={"files": ("big.xlsx", buf.getvalue())}, data={"name": "big"})
    assert res.status_code == 422 and res.json()["detail"] == "`big.xlsx` 被拒绝：本次导入解压后超过 1 MB"


def test_scratch_folders_of_killed_imports_are_removed_on_start_up(blocks_gpkg: Path, scratch_root: Path):
    stale, fresh = scratch_root / f"{SCRATCH_PREFIX}killed", scratch_root / f"{SCRATCH_PREFIX}running"
    for folder in (stale, fresh):
        (folder / "zip-1").mkdir(parents=True)
        (folder / "zip-1" / "member.csv").write_bytes(b"x" * 1000)
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    create_app(Settings(dataset=blocks_gpkg))
    assert sorted(p.name for p in scratch_root.iterdir()) == [fresh.name]
