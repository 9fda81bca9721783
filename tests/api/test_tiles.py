"""PNG and vector tiles, TileJSON, caching: pixel colours checked at hand-placed points of the block district."""

from __future__ import annotations

import io
from pathlib import Path

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from PIL import Image

from api.app import create_app
from api.settings import Settings
from geo.tiles import lonlat_to_mercator, tile_box
from layers.dataset import Dataset
from layers.store import open_store
from layers.tiles.raster import EMPTY_PNG
from layers.tiles.style import PALETTE, hex_rgb
from tests.api.helpers import bearer, client_for, make_tokens
from tests.helpers import local, writes


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


# ---------------------------------------------------------------------------
# TileJSON 3.0.0: valid, dataset bounds for empty layers, a version that follows edits, 512 px @2x

#: The essential part of TileJSON 3.0.0's ``schema.json`` (github.com/mapbox/tilejson-spec/tree/master/3.0.0);
#: the version patterns are anchored here, the spec's are not.
SEMVER = r"^\d+\.\d+\.\d+\w?[\w\d]*$"
ZOOM = {"type": "integer", "minimum": 0, "maximum": 30}
TILEJSON_300 = {
    "type": "object",
    "required": ["tilejson", "tiles"],
    "properties": {
        "tilejson": {"type": "string", "pattern": SEMVER},
        "tiles": {"type": "array", "minItems": 1, "items": {"type": "string", "pattern": "^https?://"}},
        "vector_layers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "fields"],
                "properties": {
                    "id": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "description": {"type": "string"},
                    "minzoom": ZOOM,
                    "maxzoom": ZOOM,
                },
            },
        },
        "attribution": {"type": "string"},
        "bounds": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
        "center": {"type": "array", "items": {"type": "number"}, "minItems": 3, "maxItems": 3},
        "data": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
        "fillzoom": ZOOM,
        "grids": {"type": "array", "items": {"type": "string"}},
        "legend": {"type": "string"},
        "maxzoom": ZOOM,
        "minzoom": ZOOM,
        "name": {"type": "string"},
        "scheme": {"type": "string", "enum": ["xyz", "tms"]},
        "template": {"type": "string"},
        "version": {"type": "string", "pattern": SEMVER},
    },
}


def check_tilejson(doc: dict) -> None:
    """Valid TileJSON 3.0.0: the schema, and the rules it cannot say (bounds order, centre inside, zooms)."""
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    jsonschema_rs.validate(TILEJSON_300, doc)
    west, south, east, north = doc["bounds"]
    assert -180 <= west <= east <= 180 and -90 <= south <= north <= 90
    lon, lat, zoom = doc["center"]
    assert west <= lon <= east and south <= lat <= north
    assert doc["minzoom"] <= zoom <= doc["maxzoom"] and float(zoom).is_integer()
    if doc["tiles"][0].split("?")[0].endswith((".mvt", ".pbf")):
        assert doc["vector_layers"]


def test_the_tilejson_schema_check_catches_mistakes():
    jsonschema_rs = pytest.importorskip("jsonschema_rs")
    good = {"tilejson": "3.0.0", "tiles": ["https://x/{z}/{x}/{y}.png"], "version": "1.4.0"}
    assert jsonschema_rs.is_valid(TILEJSON_300, good)
    for bad in ({"tiles": good["tiles"]}, {**good, "tiles": []}, {**good, "version": "1.0.0+abc"}, {**good, "bounds": [0, 0, 1]},
                {**good, "tiles": ["/relative/{z}/{x}/{y}.png"]}, {**good, "vector_layers": [{"id": "a"}]}):
        assert not jsonschema_rs.is_valid(TILEJSON_300, bad), bad


@pytest.mark.parametrize(
    "query", ["", "?format=png", "?format=png&scale=2", "?minutes=5&lang=en", "?coords=gcj02"],
)
def test_tilejson_is_valid_3_0_0(blocks_client: TestClient, query: str):
    for layer in ("compounds", "centers", "cells", "roads"):
        check_tilejson(blocks_client.get(f"/tiles/{layer}.json{query}").json())


def test_png_tilejson_says_the_tile_size(blocks_client: TestClient):
    one = blocks_client.get("/tiles/compounds.json?format=png").json()
    two = blocks_client.get("/tiles/compounds.json?format=png&scale=2").json()
    assert (one["tileSize"], two["tileSize"]) == (256, 512)
    assert two["tiles"] == ["http://testserver/tiles/compounds/{z}/{x}/{y}@2x.png"]
    # and a @2x tile is 512 px
    tx, ty, _, _ = pixel_of(*lonlat(450, 450), 15)
    assert png(blocks_client, f"/tiles/compounds/15/{tx}/{ty}@2x.png").size == (512, 512)
    assert "tileSize" not in blocks_client.get("/tiles/compounds.json").json()


def test_an_empty_layer_answers_the_dataset_bounds(blocks_built: Dataset):
    expected = np.array([f.total_bounds for f in blocks_built.layers.values() if len(f)])
    union = [expected[:, 0].min(), expected[:, 1].min(), expected[:, 2].max(), expected[:, 3].max()]
    blocks_built.layers["rivers"] = blocks_built.layers["rivers"].iloc[0:0]
    with client_for(blocks_built) as c:
        tj = c.get("/tiles/rivers.json").json()
        png_tj = c.get("/tiles/rivers.json?format=png").json()
    check_tilejson(tj)
    np.testing.assert_allclose(tj["bounds"], union, atol=1e-5)
    assert png_tj["bounds"] == tj["bounds"]
    assert tj["center"][:2] == pytest.approx([(union[0] + union[2]) / 2, (union[1] + union[3]) / 2], abs=1e-5)
    assert tj["center"][2] >= 14  # the district's zoom, not the world's


def test_tilejson_version_follows_the_dataset(tmp_path: Path, blocks_built: Dataset):
    path = tmp_path / "blocks.gpkg"
    store = open_store(path)
    writes(store).import_dataset(blocks_built, actor="test")
    tokens = make_tokens(store)
    try:
        with TestClient(create_app(Settings(dataset=path, reload_check_s=0))) as c:
            before = c.get("/tiles/centers.json")
            again = c.get("/tiles/centers.json")
            assert before.json()["version"] == again.json()["version"]
            lon, lat = lonlat(150, 700)
            made = c.post(
                "/collections/centers/items",
                json={"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
                      "properties": {"name": "新中心", "level": "community", "status": "existing"}},
                headers=bearer(tokens["editor"]),
            )
            assert made.status_code == 201, made.text
            after = c.get("/tiles/centers.json", headers={"If-None-Match": before.headers["etag"]})
    finally:
        store.close()
    assert after.status_code == 200
    old, new = before.json()["version"], after.json()["version"]
    check_tilejson(after.json())
    assert old != new
    assert [int(p) for p in new.split(".")] > [int(p) for p in old.split(".")]  # 1.<revision>.0 grows
