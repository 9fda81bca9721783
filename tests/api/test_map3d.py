"""The 3D party-building map page: small, offline, Chinese, its CSP and config, and how detail zooms are chosen."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.maps.map3d_page import FEATURES_PER_TILE, MIN_TILE_ZOOM, detail_zoom
from layers.dataset import Dataset
from tests.api.helpers import client_for
from tests.api.test_maps import URL, config_of


def test_the_3d_page_is_small_offline_and_chinese(demo_client: TestClient):
    r = demo_client.get("/maps/3d")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert len(r.content) < 60_000 and URL.findall(page) == []
    assert '<html lang="zh-CN">' in page
    assert "<title>康巴什示范区 三维党建地图</title>" in page
    assert "翠丽园嘉园" not in page  # features come from the tiles, not the page
    cfg = config_of(page)
    assert cfg["title"]["name"] == "康巴什示范区" and cfg["title"]["kpis"][2]["value"] == "27"
    assert cfg["words"]["map3d.title"] == "三维党建地图"
    assert set(cfg["sources"]) == {"rivers", "roads", "compounds", "centers", "units", "grids", "boundary", "party_orgs"}
    assert cfg["sources"]["compounds"] == {"url": "/tiles/compounds.json", "minzoom": MIN_TILE_ZOOM}
    assert cfg["overview"] == {}  # 209 compounds: vector tiles at every zoom
    assert cfg["coverageUrl"] == "/maps/coverage"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert len(assets) == 9  # maplibre js/css, our four scripts, two styles, favicon
    for asset in assets:
        assert demo_client.get(asset).status_code == 200, asset
    for source in cfg["sources"].values():
        tilejson = demo_client.get(source["url"]).json()
        assert tilejson["tiles"][0].endswith(".mvt")
    csp = r.headers["content-security-policy"]
    assert "worker-src 'self' blob:" in csp and "connect-src 'self'" in csp
    nonce = re.search(r"'nonce-([\w-]+)'", csp).group(1)
    assert all(f'nonce="{nonce}"' in s for s in re.findall(r"<script[^>]*>", page))
    assert r.headers["cache-control"] == "no-store"
    assert "worker-src" not in demo_client.get("/maps/coverage").headers["content-security-policy"]


def test_english_and_the_coverage_variant_reach_the_3d_page(blocks_client: TestClient):
    page = blocks_client.get("/maps/3d?lang=en&minutes=5&method=circle").text
    assert '<html lang="en">' in page
    cfg = config_of(page)
    assert cfg["words"]["map3d.title"] == "3D party-building map"
    assert cfg["target"] == 5.0 and cfg["query"] == "minutes=5&method=circle"
    assert cfg["sources"]["compounds"]["url"] == "/tiles/compounds.json?minutes=5&method=circle"
    assert cfg["title"]["kpis"][0]["value"] == "50.0%"
    tilejson = blocks_client.get(cfg["sources"]["compounds"]["url"]).json()
    assert "minutes=5" in tilejson["tiles"][0]


def test_the_3d_embed_is_the_map_without_chrome(blocks_built: Dataset):
    with client_for(blocks_built, frame_ancestors=["'self'", "https://portal.example.gov.cn"]) as c:
        r = c.get("/embed/3d")
        plain = c.get("/maps/3d")
    cfg = config_of(r.text)
    assert cfg["embed"] is True and cfg["title"] is None and cfg["coverageUrl"] is None
    assert '<body class="dj3d dj-embed">' in r.text
    assert r.headers["content-security-policy"].endswith("frame-ancestors 'self' https://portal.example.gov.cn")
    assert plain.headers["content-security-policy"].endswith("frame-ancestors 'self' https://portal.example.gov.cn")


def test_an_unknown_community_is_a_404_naming_it(demo_client: TestClient):
    r = demo_client.get("/maps/3d?community=无此社区")
    assert r.status_code == 404 and r.json()["field"] == "community"


# 0.1 x 0.1 degrees at the equator: 2**z / 3600 tiles across (and about as many down) at zoom z, at least one:
# zoom 10 and 11: 1 tile, 12: 1.14 x 1.14 = 1.29 tiles, 13: 2.28 x 2.28 = 5.18, 14: 4.55 x 4.55 = 20.7
BOX = (0.0, 0.0, 0.1, 0.1)


@pytest.mark.parametrize(
    ("features", "per_tile", "zoom"),
    [
        (100, FEATURES_PER_TILE, MIN_TILE_ZOOM),  # fewer than one tile holds
        (2_000, 500, 13),  # 12: 1,550 a tile; 13: 386
        (20_000, 1_000, 14),  # 13: 3,860 a tile; 14: 966
        (10**9, 500, 16),  # never beyond zoom 16
    ],
)
def test_detail_zoom_keeps_vector_tiles_light(features: int, per_tile: int, zoom: int):
    assert detail_zoom(features, BOX, per_tile=per_tile) == zoom
