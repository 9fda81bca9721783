"""Static tile packages of the 3 x 3 block district: MBTiles 1.3 and PMTiles v3, read back with sqlite3 and pmtiles."""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
from pathlib import Path

import mapbox_vector_tile
import morecantile
import numpy as np
import pytest
from PIL import Image
from pmtiles.reader import MmapSource, Reader, all_tiles
from pmtiles.tile import Compression, TileType

from geo.errors import InvalidValueError
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset
from layers.i18n import text
from layers.tiles.containers import TileFormat, parse_tile_format
from layers.tiles.package import export_tile_package, package_layers, parse_zoom_range, render_tile
from layers.tiles.source import TileSource
from tests.helpers import block_layers, make_dataset

TMS = morecantile.tms.get("WebMercatorQuad")
ZOOMS = (15, 16)
LAYERS = ("compounds", "centers", "circles")


@pytest.fixture(scope="module")
def blocks() -> Dataset:
    return build_dataset(make_dataset(block_layers()), BuildParams())


def _extent(ds: Dataset, layers=LAYERS) -> tuple[float, float, float, float]:
    boxes = np.array([ds.layers[n].to_crs(4326).total_bounds for n in layers])
    return boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()


def _expected_tiles(ds: Dataset, zooms=ZOOMS, layers=LAYERS) -> set[tuple[int, int, int]]:
    return {(t.z, t.x, t.y) for t in TMS.tiles(*_extent(ds, layers), zooms=list(range(zooms[0], zooms[1] + 1)))}


def test_zoom_range_format_and_layers_are_checked(blocks: Dataset):
    assert parse_zoom_range("12-18") == (12, 18) and parse_zoom_range(" 14 ") == (14, 14)
    for bad in ("18-12", "12-23", "-1-3", "12..18", "z12"):
        with pytest.raises(InvalidValueError, match="`--zoom`"):
            parse_zoom_range(bad)
    assert parse_tile_format("PBF") is TileFormat.mvt
    with pytest.raises(InvalidValueError, match="png, mvt"):
        parse_tile_format("jpg")
    assert package_layers(blocks, None) == list(LAYERS)
    assert package_layers(blocks, ["centers", "compounds", "centers"]) == ["centers", "compounds"]
    assert "roads" in package_layers(blocks, ["all"])
    with pytest.raises(InvalidValueError, match="unknown tile layer 'schools'"):
        package_layers(blocks, ["compounds", "schools"])


def test_mbtiles_metadata_tms_rows_and_every_tile_of_the_extent(blocks: Dataset, tmp_path: Path):
    path = tmp_path / "coverage.mbtiles"
    done = export_tile_package(blocks, path, zooms=ZOOMS, lang="en")
    expected = _expected_tiles(blocks)
    assert done.tiles == len(expected) and done.distinct <= done.tiles and done.size_bytes == path.stat().st_size
    con = sqlite3.connect(path)
    meta = dict(con.execute("SELECT name, value FROM metadata"))
    assert meta["format"] == "pbf" and (meta["minzoom"], meta["maxzoom"]) == ("15", "16")
    assert meta["name"].endswith(text("map.title", "en"))
    assert meta["description"] == ", ".join(text("layer." + n, "en") for n in LAYERS)
    w, s, e, n = map(float, meta["bounds"].split(","))
    assert np.allclose((w, s, e, n), _extent(blocks), atol=1e-6)
    lon, lat, z = meta["center"].split(",")
    assert w < float(lon) < e and s < float(lat) < n and 15 <= int(z) <= 16
    vector = json.loads(meta["json"])["vector_layers"]
    assert [v["id"] for v in vector] == list(LAYERS)
    assert vector[0]["fields"]["households"] == "Number" and vector[0]["fields"]["state"] == "String"
    rows = con.execute("SELECT zoom_level, tile_column, tile_row, tile_data FROM tiles").fetchall()
    assert {(z, x, (1 << z) - 1 - y) for z, x, y, _ in rows} == expected  # TMS rows: y flipped
    z, x, tms_y, data = max(rows, key=lambda r: len(r[3]))
    decoded = mapbox_vector_tile.decode(gzip.decompress(data))
    assert set(decoded) <= set(LAYERS) and "compounds" in decoded
    assert gzip.decompress(data) == render_tile({n: TileSource.from_frame(n, blocks.layers[n]) for n in LAYERS}, TileFormat.mvt, z, x, (1 << z) - 1 - tms_y)
    con.close()


def test_pmtiles_reads_back_with_the_pmtiles_reader(blocks: Dataset, tmp_path: Path):
    path = tmp_path / "coverage.pmtiles"
    done = export_tile_package(blocks, path, zooms=ZOOMS, layers=["compounds"], fmt=TileFormat.png)
    with open(path, "rb") as fh:
        get = MmapSource(fh)
        reader = Reader(get)
        header, meta = reader.header(), reader.metadata()
        assert header["tile_type"] is TileType.PNG and header["tile_compression"] is Compression.NONE
        assert (header["min_zoom"], header["max_zoom"]) == ZOOMS and header["clustered"]
        assert header["addressed_tiles_count"] == done.tiles == len(_expected_tiles(blocks, layers=["compounds"]))
        w, s, e, n = _extent(blocks, ["compounds"])
        assert header["min_lon_e7"] <= w * 1e7 < header["max_lon_e7"] and header["min_lat_e7"] <= s * 1e7 < header["max_lat_e7"]
        assert meta["name"] and "vector_layers" not in meta
        found = {(z, x, y): data for (z, x, y), data in all_tiles(get)}
        assert set(found) == _expected_tiles(blocks, layers=["compounds"])
        source = TileSource.from_frame("compounds", blocks.layers["compounds"])
        z, x, y = max(found, key=lambda k: len(found[k]))
        assert found[(z, x, y)] == reader.get(z, x, y) == render_tile({"compounds": source}, TileFormat.png, z, x, y)
        assert Image.open(io.BytesIO(found[(z, x, y)])).size == (256, 256)


def test_png_layers_are_laid_over_each_other(blocks: Dataset):
    sources = {n: TileSource.from_frame(n, blocks.layers[n]) for n in ("centers", "compounds")}
    t = next(iter(sorted(_expected_tiles(blocks, (16, 16), ["centers"]))))
    stacked = np.asarray(Image.open(io.BytesIO(render_tile(sources, TileFormat.png, *t))).convert("RGBA"))
    alone = np.asarray(Image.open(io.BytesIO(render_tile({"compounds": sources["compounds"]}, TileFormat.png, *t))).convert("RGBA"))
    assert stacked.shape == (256, 256, 4) and (stacked[..., 3] >= alone[..., 3]).all()


def test_too_many_tiles_are_refused_and_nothing_is_written(blocks: Dataset, tmp_path: Path):
    path = tmp_path / "big.mbtiles"
    with pytest.raises(InvalidValueError, match="--max-tiles"):
        export_tile_package(blocks, path, zooms=(12, 20), max_tiles=100)
    assert not path.exists() and list(tmp_path.iterdir()) == []
