"""``dangjian export``: a package's tiles are the service's tiles, byte for byte (MVT after gunzip)."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import morecantile
import pytest
from fastapi.testclient import TestClient
from pmtiles.reader import MmapSource, Reader, all_tiles
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app
from api.settings import Settings

runner = CliRunner()
TMS = morecantile.tms.get("WebMercatorQuad")


def _export(*args: str):
    return runner.invoke(app, ["export", *args, "--lang", "en"])


def _mbtiles(path: Path) -> tuple[dict[str, str], dict[tuple[int, int, int], bytes]]:
    con = sqlite3.connect(path)
    try:
        meta = dict(con.execute("SELECT name, value FROM metadata"))
        rows = con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    finally:
        con.close()
    return meta, {(z, x, (1 << z) - 1 - y): data for z, x, y, data in rows}


def test_mvt_and_png_packages_hold_the_services_tiles(blocks_gpkg: Path, tmp_path: Path):
    mvt, png = tmp_path / "coverage.mbtiles", tmp_path / "compounds.pmtiles"
    res = _export(str(blocks_gpkg), "--tiles", str(mvt), "--zoom", "15-16", "--layers", "compounds,centers")
    assert res.exit_code == 0, res.output
    assert "tile package: " in res.output and "layers compounds,centers, mvt, zoom 15-16" in res.output
    res = _export(str(blocks_gpkg), "--tiles", str(png), "--zoom", "15-16", "--layers", "compounds", "--format", "png")
    assert res.exit_code == 0, res.output
    meta, tiles = _mbtiles(mvt)
    assert meta["format"] == "pbf"
    with open(png, "rb") as fh:
        pm = dict(all_tiles(MmapSource(fh)))
        assert Reader(MmapSource(fh)).header()["addressed_tiles_count"] == len(pm)
    client = TestClient(create_app(Settings(dataset=blocks_gpkg)))
    compounds = client.get("/tiles/compounds.json").json()
    bbox = compounds["bounds"]
    assert set(pm) == {(t.z, t.x, t.y) for t in TMS.tiles(*bbox, zooms=[15, 16])}
    checked = 0
    for (z, x, y), data in sorted(tiles.items(), key=lambda kv: -len(kv[1]))[:4]:
        served = b"".join(client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt").content for layer in ("compounds", "centers"))
        assert gzip.decompress(data) == served and served
        checked += 1
    for (z, x, y), data in sorted(pm.items(), key=lambda kv: -len(kv[1]))[:4]:
        r = client.get(f"/tiles/compounds/{z}/{x}/{y}.png")
        assert r.status_code == 200 and r.content == data
        checked += 1
    assert checked == 8


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--zoom", "16-12"], "`--zoom` must be MIN-MAX"),
        (["--zoom", "twelve"], "`--zoom` takes MIN-MAX"),
        (["--layers", "compounds,schools"], "unknown tile layer 'schools'"),
        (["--format", "webp"], "`--format` must be one of png, mvt"),
        (["--zoom", "12-22"], "more than `--max-tiles` 50,000"),
        (["--zoom", "15-16", "--max-tiles", "5"], "more than `--max-tiles` 5;"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(blocks_gpkg: Path, tmp_path: Path, args: list[str], says: str):
    out = tmp_path / "x.mbtiles"
    res = _export(str(blocks_gpkg), "--tiles", str(out), *args)
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_a_package_name_must_say_mbtiles_or_pmtiles(blocks_gpkg: Path, tmp_path: Path):
    res = _export(str(blocks_gpkg), "--tiles", str(tmp_path / "x.zip"))
    assert res.exit_code == 2 and "`--tiles` must name a .mbtiles or .pmtiles file" in res.output
