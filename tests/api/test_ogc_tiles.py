"""OGC API - Tiles over the tile routes (api.routers.ogc_tiles): tile matrix sets, tilesets, tiles (row before column)."""

from __future__ import annotations

import mapbox_vector_tile
import morecantile
import pytest
from fastapi.testclient import TestClient

TILES_CONF = "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/"


def test_the_tile_matrix_set_is_web_mercator_quad(blocks_client: TestClient):
    listed = blocks_client.get("/tileMatrixSets").json()["tileMatrixSets"]
    assert [t["id"] for t in listed] == ["WebMercatorQuad"]
    doc = blocks_client.get(listed[0]["links"][0]["href"].removeprefix("http://testserver")).json()
    tms = morecantile.TileMatrixSet.model_validate(doc)  # a valid OGC 2D TMS 2.0 document
    assert tms == morecantile.tms.get("WebMercatorQuad")
    assert blocks_client.get("/tileMatrixSets/WorldCRS84Quad").status_code == 404


@pytest.mark.parametrize(("path", "kind", "media"), [("tiles", "vector", "application/vnd.mapbox-vector-tile"), ("map/tiles", "map", "image/png")])
def test_tilesets_and_their_limits(blocks_client: TestClient, path: str, kind: str, media: str):
    sets = blocks_client.get(f"/collections/compounds/{path}").json()["tilesets"]
    assert [(s["dataType"], s["tileMatrixSetURI"]) for s in sets] == [(kind, "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad")]
    doc = blocks_client.get(f"/collections/compounds/{path}/WebMercatorQuad").json()
    assert doc["dataType"] == kind and doc["crs"] == "http://www.opengis.net/def/crs/EPSG/0/3857"
    template = next(link for link in doc["links"] if link["rel"] == "item")
    assert template["type"] == media and template["href"].endswith("/{tileMatrix}/{tileRow}/{tileCol}")
    west, south = doc["boundingBox"]["lowerLeft"]
    east, north = doc["boundingBox"]["upperRight"]
    features = blocks_client.get("/collections/compounds/items?limit=1000").json()["features"]
    xs = [x for f in features for ring in f["geometry"]["coordinates"] for x, _ in ring]
    ys = [y for f in features for ring in f["geometry"]["coordinates"] for _, y in ring]
    assert (west, south, east, north) == pytest.approx((min(xs), min(ys), max(xs), max(ys)), abs=1e-5)
    tms = morecantile.tms.get("WebMercatorQuad")
    for limit in doc["tileMatrixSetLimits"]:
        z = int(limit["tileMatrix"])
        tiles = list(tms.tiles(west, south, east, north, [z]))
        assert (limit["minTileCol"], limit["maxTileCol"]) == (min(t.x for t in tiles), max(t.x for t in tiles)), z
        assert (limit["minTileRow"], limit["maxTileRow"]) == (min(t.y for t in tiles), max(t.y for t in tiles)), z
    assert [int(limit["tileMatrix"]) for limit in doc["tileMatrixSetLimits"]] == list(range(10, 21))


def test_a_tile_is_the_tile_routes_bytes_row_before_column(blocks_client: TestClient):
    doc = blocks_client.get("/collections/compounds/tiles/WebMercatorQuad").json()
    limit = next(lim for lim in doc["tileMatrixSetLimits"] if lim["tileMatrix"] == "16")
    row, col = limit["minTileRow"], limit["minTileCol"]
    ogc = blocks_client.get(f"/collections/compounds/tiles/WebMercatorQuad/16/{row}/{col}")
    xyz = blocks_client.get(f"/tiles/compounds/16/{col}/{row}.mvt")
    assert ogc.status_code == 200 and ogc.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert ogc.content == xyz.content and ogc.headers["etag"] == xyz.headers["etag"]
    assert sum(len(layer["features"]) for layer in mapbox_vector_tile.decode(ogc.content).values()) > 0
    png = blocks_client.get(f"/collections/compounds/map/tiles/WebMercatorQuad/16/{row}/{col}")
    assert png.content == blocks_client.get(f"/tiles/compounds/16/{col}/{row}.png").content
    assert png.content[:8] == b"\x89PNG\r\n\x1a\n"
    # a 304 like the tile route
    again = blocks_client.get(f"/collections/compounds/tiles/WebMercatorQuad/16/{row}/{col}", headers={"If-None-Match": ogc.headers["etag"]})
    assert again.status_code == 304


def test_unknown_sets_layers_and_tiles_are_refused(blocks_client: TestClient):
    assert blocks_client.get("/collections/compounds/tiles/WorldCRS84Quad").status_code == 404
    assert blocks_client.get("/collections/nope/tiles").status_code == 404
    outside = blocks_client.get("/collections/compounds/tiles/WebMercatorQuad/2/9/0")  # row 9 > 3 at zoom 2
    assert outside.status_code == 404 and outside.json()["field"] == "tileRow"


def test_conformance_landing_and_collection_link_the_tiles(blocks_client: TestClient):
    conf = blocks_client.get("/conformance").json()["conformsTo"]
    assert {TILES_CONF + c for c in ("core", "tileset", "tilesets-list", "geodata-tilesets", "mvt", "png")} <= set(conf)
    rels = {link["rel"] for link in blocks_client.get("/?f=json").json()["links"]}
    assert "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes" in rels
    links = {link["rel"]: link["href"] for link in blocks_client.get("/collections/compounds").json()["links"]}
    assert links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"].endswith("/collections/compounds/tiles")
    assert links["http://www.opengis.net/def/rel/ogc/1.0/tilesets-map"].endswith("/collections/compounds/map/tiles")
