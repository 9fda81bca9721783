"""PNG and vector tiles, TileJSON, caching: pixel colours checked at hand-placed points of the block district."""

from __future__ import annotations

import io

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from PIL import Image

from geo.tiles import lonlat_to_mercator, tile_box
from layers.dataset import Dataset
from layers.render import EMPTY_PNG, PALETTE, hex_rgb
from tests.api.conftest import client_for
from tests.conftest import local


def lonlat(x: float, y: float) -> tuple[float, float]:
    """Local fixture metres -> WGS84."""
    p = local(gpd.GeoDataFrame(geometry=[shapely.Point(x, y)])).geometry.iloc[0]
    return p.x, p.y


def pixel_of(lon: float, lat: float, z: int, *, size: int = 256) -> tuple[int, int, int, int]:
    """(x, y) of the tile holding the point and the point's pixel in it."""
    mx, my = lonlat_to_mercator(np.array([lon]), np.array([lat]))
    n = 1 << z
    span = 2 * 20037508.342789244
    fx = (mx[0] + span / 2) / span * n
    fy = (span / 2 - my[0]) / span * n
    return int(fx), int(fy), int((fx % 1) * size), int((fy % 1) * size)


def png(client: TestClient, url: str) -> Image.Image:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(r.content)).convert("RGBA")


def close(rgba: tuple[int, ...], colour: str, alpha: int, tol: int = 3) -> bool:
    r, g, b = hex_rgb(colour)
    return all(abs(a - e) <= tol for a, e in zip(rgba, (r, g, b, alpha), strict=True))


FILL_ALPHA = round(0.62 * 255)


def test_compounds_are_drawn_in_their_coverage_colour(blocks_client: TestClient):
    z = 17
    for (cx, cy), state in (((150, 150), "covered"), ((450, 150), "covered_no_org")):
        tx, ty, px, py = pixel_of(*lonlat(cx, cy), z)
        img = png(blocks_client, f"/tiles/compounds/{z}/{tx}/{ty}.png")
        assert img.size == (256, 256)
        assert close(img.getpixel((px, py)), PALETTE["compound"][state], FILL_ALPHA), img.getpixel((px, py))
    tx, ty, px, py = pixel_of(*lonlat(300, 150), z)  # the road between A and B: no compound
    assert png(blocks_client, f"/tiles/compounds/{z}/{tx}/{ty}.png").getpixel((px, py))[3] == 0


def test_other_minutes_redraw_the_compounds(blocks_client: TestClient):
    tx, ty, px, py = pixel_of(*lonlat(450, 150), 17)
    img = png(blocks_client, f"/tiles/compounds/17/{tx}/{ty}.png?minutes=5")
    assert close(img.getpixel((px, py)), PALETTE["compound"]["uncovered"], FILL_ALPHA)  # B 335 m > 333 m


def test_retina_tiles_are_512_pixels(blocks_client: TestClient):
    tx, ty, px, py = pixel_of(*lonlat(150, 150), 17, size=512)
    img = png(blocks_client, f"/tiles/compounds/17/{tx}/{ty}@2x.png")
    assert img.size == (512, 512)
    assert close(img.getpixel((px, py)), PALETTE["compound"]["covered"], FILL_ALPHA)


def test_neighbouring_tiles_meet_without_a_seam(blocks_client: TestClient):
    # At zoom 19 a tile is ~46 m wide at this latitude, so compound A (100 m) crosses a tile edge.
    z = 19
    tx0, ty, _, py = pixel_of(*lonlat(110, 150), z)
    tx1, _, _, _ = pixel_of(*lonlat(190, 150), z)
    assert tx1 > tx0
    left = png(blocks_client, f"/tiles/compounds/{z}/{tx0}/{ty}.png")
    right = png(blocks_client, f"/tiles/compounds/{z}/{tx0 + 1}/{ty}.png")
    colour = PALETTE["compound"]["covered"]
    assert close(left.getpixel((255, py)), colour, FILL_ALPHA)
    assert close(right.getpixel((0, py)), colour, FILL_ALPHA)


def test_centres_show_level_colour_and_status(blocks_client: TestClient):
    z = 17
    tx, ty, px, py = pixel_of(*lonlat(150, 300), z)  # S1: community level, existing
    img = png(blocks_client, f"/tiles/centers/{z}/{tx}/{ty}.png")
    assert close(img.getpixel((px, py)), PALETTE["level"]["community"], 255)
    tx, ty, px, py = pixel_of(*lonlat(750, 150), z)  # S3: planned -> hollow (white inside)
    img = png(blocks_client, f"/tiles/centers/{z}/{tx}/{ty}.png")
    assert close(img.getpixel((px, py)), "#ffffff", 255)


def test_empty_tiles_are_cheap_and_transparent(blocks_client: TestClient):
    r = blocks_client.get("/tiles/compounds/17/0/0.png")
    assert r.content == EMPTY_PNG[1]
    assert Image.open(io.BytesIO(r.content)).getextrema()[3] == (0, 0)
    m = blocks_client.get("/tiles/compounds/17/0/0.mvt")
    assert m.status_code == 200 and m.content == b""
    assert m.headers["content-type"] == "application/vnd.mapbox-vector-tile"


def test_vector_tiles_carry_geometry_and_attributes(blocks_client: TestClient):
    z = 16
    tx, ty, _, _ = pixel_of(*lonlat(150, 150), z)
    r = blocks_client.get(f"/tiles/compounds/{z}/{tx}/{ty}.mvt")
    tile = mapbox_vector_tile.decode(r.content)
    layer = tile["compounds"]
    assert layer["extent"] == 4096
    props = {f["properties"]["id"]: f["properties"] for f in layer["features"]}
    assert props["A"]["households"] == 400 and props["A"]["state"] == "covered" and props["A"]["covered"] is True
    assert props["B"]["state"] == "covered_no_org" and props["B"]["has_party_org"] is False
    # A is 100 m wide; a zoom-16 tile spans 611.5 m of Mercator = 611.5 x cos(39.6) = 471 m on the ground.
    geom = next(f["geometry"] for f in layer["features"] if f["properties"]["id"] == "A")
    xs = [p[0] for p in geom["coordinates"][0]]
    box = tile_box(z, tx, ty)
    expected = 100 / np.cos(np.radians(39.6)) / box.size_m * 4096
    assert abs((max(xs) - min(xs)) - expected) / expected < 0.02
    assert blocks_client.get(f"/tiles/compounds/{z}/{tx}/{ty}.pbf").content == r.content


def test_vector_geometry_stays_within_the_buffer(blocks_client: TestClient):
    z = 18
    tx, ty, _, _ = pixel_of(*lonlat(450, 450), z)
    tile = mapbox_vector_tile.decode(blocks_client.get(f"/tiles/units/{z}/{tx}/{ty}.mvt").content)
    coords = np.array([pt for f in tile["units"]["features"] for ring in _rings(f["geometry"]) for pt in ring])
    assert len(coords)
    assert coords.min() >= -65 and coords.max() <= 4096 + 65


def _rings(geometry: dict) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return geometry["coordinates"]
    if geometry["type"] == "MultiPolygon":
        return [r for poly in geometry["coordinates"] for r in poly]
    return [geometry["coordinates"]]


def test_etag_304_and_the_tile_cache(blocks_client: TestClient):
    state = blocks_client.app.state.dangjian
    url = "/tiles/cells/15/26376/12452.png"
    first = blocks_client.get(url)
    assert first.headers["cache-control"] == "public, max-age=300"
    etag = first.headers["etag"]
    hits = state.tiles.hits
    second = blocks_client.get(url)
    assert second.content == first.content and state.tiles.hits == hits + 1
    cond = blocks_client.get(url, headers={"If-None-Match": etag})
    assert cond.status_code == 304 and cond.content == b"" and cond.headers["etag"] == etag
    assert blocks_client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert blocks_client.get(url + "?minutes=5").headers["etag"] != etag


def test_tile_cache_is_bounded_in_entries_and_bytes(blocks_built: Dataset):
    tx, ty, _, _ = pixel_of(*lonlat(450, 450), 17)
    urls = [f"/tiles/roads/17/{tx + dx}/{ty + dy}.png" for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    with client_for(blocks_built, tile_cache_size=3) as c:
        sizes = [len(c.get(u).content) for u in urls]
        assert len(c.app.state.dangjian.tiles) == 3
        assert c.app.state.dangjian.tiles.nbytes == sum(sizes[-3:])
    with client_for(blocks_built, tile_cache_mb=max(sizes) * 2.5 / 2**20) as c:
        for u in urls:
            c.get(u)
        cache = c.app.state.dangjian.tiles
        assert 2 <= len(cache) <= 3 and cache.nbytes <= max(sizes) * 2.5
    with client_for(blocks_built) as c:
        c.get("/tiles/compounds/17/0/0.png")  # empty: answered, not kept
        assert len(c.app.state.dangjian.tiles) == 0


def test_gcj02_tiles_differ(blocks_client: TestClient):
    tx, ty, _, _ = pixel_of(*lonlat(150, 150), 16)
    wgs = blocks_client.get(f"/tiles/compounds/16/{tx}/{ty}.png").content
    gcj = blocks_client.get(f"/tiles/compounds/16/{tx}/{ty}.png?coords=gcj02").content
    assert wgs != gcj


@pytest.mark.parametrize("layer", ["compounds", "centers", "circles", "units", "grids", "cells", "boundary", "roads", "rivers"])
def test_every_tile_layer_draws(blocks_client: TestClient, layer: str):
    tx, ty, _, _ = pixel_of(*lonlat(450, 450), 14)
    img = png(blocks_client, f"/tiles/{layer}/14/{tx}/{ty}.png")
    assert img.getextrema()[3][1] > 0, f"{layer} drew nothing"
    assert mapbox_vector_tile.decode(blocks_client.get(f"/tiles/{layer}/14/{tx}/{ty}.mvt").content)[layer]["features"]


def test_tilejson_has_absolute_urls_bounds_and_fields(blocks_built: Dataset):
    with client_for(blocks_built, public_url="https://gis.example.gov.cn/dangjian") as c:
        tj = c.get("/tiles/compounds.json").json()
        png_tj = c.get("/tiles/cells.json?format=png&scale=2&minutes=10").json()
        r = c.get("/tiles/compounds.json")
        assert c.get("/tiles/compounds.json", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == ["https://gis.example.gov.cn/dangjian/tiles/compounds/{z}/{x}/{y}.mvt"]
    assert tj["scheme"] == "xyz" and tj["minzoom"] == 10 and tj["maxzoom"] == 20
    np.testing.assert_allclose(tj["bounds"], blocks_built["compounds"].total_bounds, atol=1e-5)
    assert tj["center"][2] >= 10
    fields = tj["vector_layers"][0]["fields"]
    assert tj["vector_layers"][0]["id"] == "compounds"
    assert fields["households"] == "Number" and fields["name"] == "String" and fields["covered"] == "Boolean"
    assert png_tj["tiles"] == ["https://gis.example.gov.cn/dangjian/tiles/cells/{z}/{x}/{y}@2x.png?minutes=10"]
    assert "vector_layers" not in png_tj


def test_cell_tiles_show_one_kind_at_a_time(blocks_client: TestClient):
    tx, ty, _, _ = pixel_of(*lonlat(450, 450), 15)
    kinds = {}
    for cells in ("", "h3", "square"):
        url = f"/tiles/cells/15/{tx}/{ty}.mvt" + (f"?cells={cells}" if cells else "")
        feats = mapbox_vector_tile.decode(blocks_client.get(url).content)["cells"]["features"]
        kinds[cells] = {f["properties"]["kind"] for f in feats}
    assert kinds == {"": {"h3"}, "h3": {"h3"}, "square": {"square"}}
    a = blocks_client.get(f"/tiles/cells/15/{tx}/{ty}.png?cells=h3")
    b = blocks_client.get(f"/tiles/cells/15/{tx}/{ty}.png?cells=square")
    assert a.content != b.content and a.headers["etag"] != b.headers["etag"]
