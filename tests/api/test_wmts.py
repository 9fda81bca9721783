"""WMTS 1.0.0: capabilities (RESTful and KVP), KVP GetTile, OGC exception reports; OWSLib reads it over HTTP.

The block district's compounds lie around 109.785 E, 39.604 N: at zoom 15
they fall in tile columns 26376-26377, rows 12451-12452 (the tile tests use
column 26376, row 12452).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routers import ROUTERS
from api.routers.wmts import MATRIX_SET
from api.settings import Settings
from geo.tiles import TMS, tile_box
from layers.dataset import Dataset
from layers.tiles.source import TILE_LAYERS
from tests.api.helpers import client_for

NS = {"wmts": "http://www.opengis.net/wmts/1.0", "ows": "http://www.opengis.net/ows/1.1", "xlink": "http://www.w3.org/1999/xlink"}
#: OGC 07-057r7 (WMTS 1.0.0) Annex E.4, GoogleMapsCompatible: scale denominators of levels 0, 10 and 18.
OGC_SCALES = {0: 559082264.0287178, 10: 545978.7734655447, 18: 2132.729583849784}
TOP_LEFT = (-20037508.3427892, 20037508.3427892)
KVP_TILE = "/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER={layer}&STYLE=default&FORMAT=image/png&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"


def capabilities(client: TestClient, url: str = "/wmts/1.0.0/WMTSCapabilities.xml") -> ET.Element:
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/xml")
    return ET.fromstring(r.content)


def test_capabilities_document(blocks_client: TestClient):
    root = capabilities(blocks_client)
    assert root.tag == "{http://www.opengis.net/wmts/1.0}Capabilities" and root.get("version") == "1.0.0"
    assert root.findtext("ows:ServiceIdentification/ows:Title", namespaces=NS) == "党群服务中心15分钟服务圈"
    assert root.findtext("ows:ServiceIdentification/ows:ServiceType", namespaces=NS) == "OGC WMTS"
    layers = root.findall("wmts:Contents/wmts:Layer", NS)
    # every tile layer the dataset holds (the block district has no party organisations)
    assert [layer.findtext("ows:Identifier", namespaces=NS) for layer in layers] == [n for n in TILE_LAYERS if n != "party_orgs"]
    compounds = layers[0]
    assert compounds.findtext("ows:Title", namespaces=NS) == "居民小区"
    assert compounds.find("wmts:Style", NS).get("isDefault") == "true"
    assert compounds.findtext("wmts:Style/ows:Identifier", namespaces=NS) == "default"
    assert compounds.findtext("wmts:Format", namespaces=NS) == "image/png"
    resource = compounds.find("wmts:ResourceURL", NS)
    assert resource.attrib == {
        "format": "image/png", "resourceType": "tile", "template": "http://testserver/tiles/compounds/{TileMatrix}/{TileCol}/{TileRow}.png",
    }
    lower = [float(v) for v in compounds.findtext("ows:WGS84BoundingBox/ows:LowerCorner", namespaces=NS).split()]
    upper = [float(v) for v in compounds.findtext("ows:WGS84BoundingBox/ows:UpperCorner", namespaces=NS).split()]
    tj = blocks_client.get("/tiles/compounds.json").json()
    assert lower + upper == tj["bounds"]  # the same bounds TileJSON gives
    # limits for the zooms TileJSON advertises, around the compounds
    limits = {
        int(lim.findtext("wmts:TileMatrix", namespaces=NS)): tuple(
            int(lim.findtext(f"wmts:{tag}", namespaces=NS)) for tag in ("MinTileCol", "MaxTileCol", "MinTileRow", "MaxTileRow")
        )
        for lim in compounds.findall("wmts:TileMatrixSetLink/wmts:TileMatrixSetLimits/wmts:TileMatrixLimits", NS)
    }
    assert compounds.findtext("wmts:TileMatrixSetLink/wmts:TileMatrixSet", namespaces=NS) == MATRIX_SET
    assert sorted(limits) == list(range(tj["minzoom"], tj["maxzoom"] + 1))
    assert limits[15] == (26376, 26377, 12451, 12452)
    # the matrix set: OGC's GoogleMapsCompatible numbers, 0 to 22
    tms = root.find("wmts:Contents/wmts:TileMatrixSet", NS)
    assert tms.findtext("ows:Identifier", namespaces=NS) == "GoogleMapsCompatible"
    assert tms.findtext("ows:SupportedCRS", namespaces=NS) == "urn:ogc:def:crs:EPSG::3857"
    assert tms.findtext("wmts:WellKnownScaleSet", namespaces=NS) == "urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible"
    matrices = {m.findtext("ows:Identifier", namespaces=NS): m for m in tms.findall("wmts:TileMatrix", NS)}
    assert list(matrices) == [str(z) for z in range(23)]
    for z, scale in OGC_SCALES.items():
        m = matrices[str(z)]
        assert float(m.findtext("wmts:ScaleDenominator", namespaces=NS)) == pytest.approx(scale, rel=1e-12)
        assert [float(v) for v in m.findtext("wmts:TopLeftCorner", namespaces=NS).split()] == pytest.approx(TOP_LEFT, abs=1e-6)
        assert m.findtext("wmts:TileWidth", namespaces=NS) == m.findtext("wmts:TileHeight", namespaces=NS) == "256"
        assert m.findtext("wmts:MatrixWidth", namespaces=NS) == m.findtext("wmts:MatrixHeight", namespaces=NS) == str(2**z)
    ops = root.findall("ows:OperationsMetadata/ows:Operation", NS)
    assert [op.get("name") for op in ops] == ["GetCapabilities", "GetTile"]
    assert ops[1].find("ows:DCP/ows:HTTP/ows:Get", NS).get("{http://www.w3.org/1999/xlink}href") == "http://testserver/wmts?"


def test_the_router_is_listed_and_the_restful_capabilities_documented():
    assert "wmts" in {name for name, _ in ROUTERS}
    paths = set(create_app(Settings(dataset="/nonexistent.gpkg")).openapi()["paths"])
    assert "/wmts/1.0.0/WMTSCapabilities.xml" in paths
    assert "/wmts" not in paths  # its errors are OGC XML, not the JSON every documented operation answers


def test_the_tile_grid_is_morecantiles():
    """The tile route cuts the grid the capabilities describe: WebMercatorQuad, tile for tile."""
    for z, x, y in [(0, 0, 0), (10, 824, 389), (15, 26376, 12452), (22, 3376245, 1593875)]:
        b = TMS.xy_bounds(x, y, z)
        box = tile_box(z, x, y)
        np.testing.assert_allclose([box.left, box.bottom, box.right, box.top], [b.left, b.bottom, b.right, b.top], rtol=0, atol=1e-6)


def test_kvp_capabilities_in_english_behind_a_proxy(blocks_built: Dataset):
    with client_for(blocks_built, public_url="https://gis.example.gov.cn/dangjian/") as c:
        kvp = capabilities(c, "/wmts?service=WMTS&request=GetCapabilities&version=1.0.0&lang=en")
        rest = c.get("/wmts/1.0.0/WMTSCapabilities.xml?lang=en").content
        r = c.get("/wmts/1.0.0/WMTSCapabilities.xml")
        assert c.get("/wmts/1.0.0/WMTSCapabilities.xml", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert ET.tostring(kvp) == ET.tostring(ET.fromstring(rest))
    assert kvp.findtext("ows:ServiceIdentification/ows:Title", namespaces=NS) == "Party-mass service centres: 15-minute service areas"
    assert kvp.findtext("wmts:Contents/wmts:Layer/ows:Title", namespaces=NS) == "Residential compounds"
    template = kvp.find("wmts:Contents/wmts:Layer/wmts:ResourceURL", NS).get("template")
    assert template == "https://gis.example.gov.cn/dangjian/tiles/compounds/{TileMatrix}/{TileCol}/{TileRow}.png"
    meta = kvp.find("wmts:ServiceMetadataURL", NS).get("{http://www.w3.org/1999/xlink}href")
    assert meta == "https://gis.example.gov.cn/dangjian/wmts/1.0.0/WMTSCapabilities.xml"


@pytest.mark.parametrize("layer", ["compounds", "cells", "roads"])
def test_kvp_get_tile_is_the_tile_route(blocks_client: TestClient, layer: str):
    kvp = blocks_client.get(KVP_TILE.format(layer=layer, z=15, x=26376, y=12452))
    route = blocks_client.get(f"/tiles/{layer}/15/26376/12452.png")
    assert kvp.status_code == 200 and kvp.headers["content-type"] == "image/png"
    assert kvp.content == route.content and kvp.headers["etag"] == route.headers["etag"]
    # names are case-insensitive
    lower = blocks_client.get(f"/wmts?service=WMTS&request=GetTile&layer={layer}&tilematrixset=GoogleMapsCompatible&tilematrix=15&tilerow=12452&tilecol=26376")
    assert lower.content == route.content


@pytest.mark.parametrize(
    ("query", "code", "locator", "status"),
    [
        ("REQUEST=GetCapabilities", "MissingParameterValue", "SERVICE", 400),
        ("SERVICE=WMS&REQUEST=GetCapabilities", "InvalidParameterValue", "SERVICE", 400),
        ("SERVICE=WMTS", "MissingParameterValue", "REQUEST", 400),
        ("SERVICE=WMTS&REQUEST=GetMap", "InvalidParameterValue", "REQUEST", 400),
        ("SERVICE=WMTS&REQUEST=GetFeatureInfo", "OperationNotSupported", "REQUEST", 501),
        ("SERVICE=WMTS&REQUEST=GetCapabilities&lang=fr", "InvalidParameterValue", "lang", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=15&TILEROW=1&TILECOL=1", "MissingParameterValue", "LAYER", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=gates&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=15&TILEROW=1&TILECOL=1", "InvalidParameterValue", "LAYER", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=WebMercatorQuad&TILEMATRIX=15&TILEROW=1&TILECOL=1", "InvalidParameterValue", "TILEMATRIXSET", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEROW=1&TILECOL=1", "MissingParameterValue", "TILEMATRIX", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=23&TILEROW=1&TILECOL=1", "InvalidParameterValue", "TILEMATRIX", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=x&TILEROW=1&TILECOL=1", "InvalidParameterValue", "TILEMATRIX", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=2&TILEROW=4&TILECOL=1", "TileOutOfRange", "TILEROW", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=2&TILEROW=1&TILECOL=-1", "InvalidParameterValue", "TILECOL", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=2&TILEROW=1&TILECOL=1&FORMAT=image/jpeg", "InvalidParameterValue", "FORMAT", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=2&TILEROW=1&TILECOL=1&STYLE=dark", "InvalidParameterValue", "STYLE", 400),
        ("SERVICE=WMTS&REQUEST=GetTile&VERSION=2.0.0&LAYER=compounds&TILEMATRIXSET=GoogleMapsCompatible&TILEMATRIX=2&TILEROW=1&TILECOL=1", "InvalidParameterValue", "VERSION", 400),
    ],
)
def test_bad_kvp_answers_an_exception_report(blocks_client: TestClient, query: str, code: str, locator: str, status: int):
    r = blocks_client.get(f"/wmts?{query}")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(r.content)
    assert root.tag == "{http://www.opengis.net/ows/1.1}ExceptionReport" and root.get("version") == "1.1.0"
    exc = root.find("ows:Exception", NS)
    assert (exc.get("exceptionCode"), exc.get("locator")) == (code, locator)
    assert exc.findtext("ows:ExceptionText", namespaces=NS)


# ---------------------------------------------------------------------------
# a real client over HTTP (``blocks_url``: tests/api/fixtures.py)


@pytest.mark.parametrize("path", ["/wmts", "/wmts/1.0.0/WMTSCapabilities.xml"])
def test_owslib_reads_the_wmts(blocks_url: str, path: str):
    wmts_mod = pytest.importorskip("owslib.wmts")
    wmts = wmts_mod.WebMapTileService(blocks_url + path)
    assert wmts.identification.type == "OGC WMTS" and wmts.identification.version == "1.0.0"
    assert wmts.identification.title == "党群服务中心15分钟服务圈"
    assert list(wmts.contents) == list(TILE_LAYERS)
    layer = wmts.contents["compounds"]
    assert layer.title == "居民小区" and layer.formats == ["image/png"]
    assert layer.boundingBoxWGS84 == pytest.approx((109.781, 39.6009, 109.7892, 39.6073), abs=1e-3)
    link = layer.tilematrixsetlinks["GoogleMapsCompatible"]
    assert sorted(link.tilematrixlimits, key=int) == [str(z) for z in range(10, 21)]
    lim = link.tilematrixlimits["15"]
    assert (lim.mintilecol, lim.maxtilecol, lim.mintilerow, lim.maxtilerow) == (26376, 26377, 12451, 12452)
    tms = wmts.tilematrixsets["GoogleMapsCompatible"]
    assert tms.crs == "urn:ogc:def:crs:EPSG::3857"
    assert list(tms.tilematrix) == [str(z) for z in range(23)]
    m15 = tms.tilematrix["15"]
    assert (m15.matrixwidth, m15.tilewidth, m15.topleftcorner) == (2**15, 256, pytest.approx(TOP_LEFT))
    assert m15.scaledenominator == pytest.approx(OGC_SCALES[0] / 2**15, rel=1e-12)
    assert wmts.restonly is False  # OWSLib fetches tiles by KVP
    route = httpx.get(f"{blocks_url}/tiles/compounds/15/26376/12452.png").content
    tile = wmts.gettile(layer="compounds", tilematrixset="GoogleMapsCompatible", tilematrix="15", row=12452, column=26376, format="image/png")
    assert tile.read() == route
    # and the RESTful template OWSLib would fill in points at the same bytes
    rest = wmts.buildTileResource(layer="compounds", tilematrixset="GoogleMapsCompatible", tilematrix="15", row=12452, column=26376, format="image/png")
    assert rest == f"{blocks_url}/tiles/compounds/15/26376/12452.png"
    assert httpx.get(rest).content == route
