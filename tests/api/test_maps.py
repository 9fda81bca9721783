"""The map pages: offline assets, small pages, escaping, CSP, languages, zoom to a community, basemaps."""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from api.maps.assets import json_for_script
from api.maps.security import add_nonce
from layers.dataset import Dataset
from tests.api.helpers import EVIL, client_for

URL = re.compile(r"""https?://[^\s"'<>)\\]+""")


def config_of(page: str) -> dict[str, Any]:
    m = re.search(r'<script[^>]*id="dj-config">(.*?)</script>', page, re.S)
    assert m, "no config block"
    return json.loads(m.group(1))


def groups_of(page: str) -> dict[str, str]:
    m = re.search(r"DangjianMap\.init\(\w+, (\{.*?\}), JSON", page)
    assert m
    return dict(re.findall(r'"(\w+)": (feature_group_\w+)', m.group(1)))


def test_the_page_is_small_offline_and_chinese(demo_client: TestClient):
    r = demo_client.get("/maps/coverage")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    assert len(r.content) < 100_000  # well under the 2 MB budget: no layer data inlined
    assert URL.findall(page) == []
    assert '<html lang="zh-CN">' in page
    assert "<title>康巴什示范区 党群服务中心 15分钟服务圈</title>" in page
    assert "翠丽园嘉园" not in page  # compound names come from /collections, not the page
    cfg = config_of(page)
    assert cfg["words"]["map.legend"] == "图例"
    assert cfg["title"]["kpis"][0]["value"] == "87.1%"  # 182 of 209 compounds
    assert cfg["title"]["kpis"][1]["sub"] == "89,579/101,097 户"
    assert cfg["title"]["kpis"][2]["value"] == "27"
    assert {s["name"] for s in cfg["layers"]} == {"compounds", "centers", "party_orgs", "circles", "boundary", "units", "grids", "cells"}
    assert all(s["url"].startswith("/collections/") for s in cfg["layers"])


def test_every_asset_the_page_names_is_served(demo_client: TestClient):
    page = demo_client.get("/maps/coverage").text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert len(assets) == 13  # leaflet js/css, fullscreen js/css, our seven scripts and css, favicon
    for asset in assets:
        r = demo_client.get(asset)
        assert r.status_code == 200, asset
        assert len(r.content) > 100
    for layer in config_of(page)["layers"]:
        fc = demo_client.get(layer["url"]).json()
        assert fc["numberReturned"] == fc["numberMatched"] > 0
    tiles = re.findall(r'"(/tiles/\w+/\{z\}/\{x\}/\{y\}\{r\}\.png)"', page)
    assert tiles == ["/tiles/rivers/{z}/{x}/{y}{r}.png", "/tiles/roads/{z}/{x}/{y}{r}.png"]
    assert demo_client.get("/tiles/roads/15/26376/12452@2x.png").status_code == 200


def test_english_page(demo_client: TestClient):
    page = demo_client.get("/maps/coverage?lang=en").text
    assert '<html lang="en">' in page
    cfg = config_of(page)
    assert cfg["words"]["map.legend"] == "Legend"
    assert cfg["legend"]["states"][2] == {"key": "uncovered", "label": "Not covered"}
    assert cfg["title"]["kpis"][1]["sub"] == "89,579 of 101,097"


def test_names_are_escaped_and_scripts_carry_the_nonce(evil_blocks: Dataset):
    with client_for(evil_blocks) as c:
        r = c.get("/maps/coverage")
        items = c.get("/collections/compounds/items").json()
    page = r.text
    assert "<img src=x" not in page
    assert "</script><script>window.__xss" not in page
    assert "\\u003c/script\\u003e\\u003cscript\\u003ewindow.__xss=2" in page  # the district name, inside JSON
    assert "<title>&lt;/script&gt;&lt;script&gt;window.__xss=2&lt;/script&gt; " in page
    assert config_of(page)["title"]["name"] == "</script><script>window.__xss=2</script>"
    assert any(f["properties"]["name"] == EVIL for f in items["features"])
    csp = r.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([\w-]+)'", csp).group(1)
    scripts = re.findall(r"<script[^>]*>", page)
    assert len(scripts) >= 5
    assert all(f'nonce="{nonce}"' in s for s in scripts)
    assert "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "connect-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert c.get("/maps/coverage").headers["content-security-policy"] != csp  # a fresh nonce per page


def test_json_for_script_cannot_close_the_script():
    s = json_for_script({"a": "</script><!-- & \u2028"})
    assert "<" not in s and ">" not in s and "&" not in s and "\u2028" not in s
    assert json.loads(s) == {"a": "</script><!-- & \u2028"}
    assert add_nonce("<script>x</script><script src=a></script><scripts>", "N") == (
        '<script nonce="N">x</script><script nonce="N" src=a></script><scripts>'
    )


def test_community_zooms_to_its_polygon(demo_client: TestClient, demo_built: Dataset):
    cfg = config_of(demo_client.get("/maps/coverage?community=锦绣社区").text)
    b = demo_built["boundary"]
    poly = b[(b["level"] == "community") & (b["name"] == "锦绣社区")]
    minx, miny, maxx, maxy = poly.total_bounds
    np.testing.assert_allclose(cfg["bounds"], [[miny, minx], [maxy, maxx]])
    assert cfg["focus"] == {"name": "锦绣社区", "level": "community"}
    comps = demo_built["compounds"]
    part = comps[comps["community"] == "锦绣社区"]
    n, cov = len(part), int(part["covered"].sum())
    assert cfg["title"]["kpis"][0]["sub"] == f"{cov}/{n} 个"
    assert cfg["title"]["focus"] == "当前范围: 锦绣社区"
    sub = config_of(demo_client.get("/maps/coverage?subdistrict=滨河街道").text)
    assert sub["focus"] == {"name": "滨河街道", "level": "subdistrict"}
    district = config_of(demo_client.get("/maps/coverage").text)
    assert district["focus"] is None
    assert district["bounds"][1][1] - district["bounds"][0][1] > cfg["bounds"][1][1] - cfg["bounds"][0][1]


def test_minutes_and_method_reach_the_page_and_its_data(blocks_client: TestClient):
    page = blocks_client.get("/maps/coverage?minutes=5&method=circle").text
    cfg = config_of(page)
    assert cfg["title"]["kpis"][0]["value"] == "50.0%"  # A and C of four
    assert cfg["title"]["kpis"][1]["sub"] == "1,400/1,900 户"
    assert cfg["title"]["subtitle"] == "党群服务中心 5分钟服务圈"
    urls = {s["name"]: s["url"] for s in cfg["layers"]}
    assert "minutes=5" in urls["compounds"] and "method=circle" in urls["compounds"]
    fc = blocks_client.get(urls["compounds"]).json()
    assert sorted(f["properties"]["state"] for f in fc["features"]) == ["covered", "covered", "uncovered", "uncovered"]
    assert set(fc["features"][0]["properties"]) == {
        "name", "state", "households", "population", "community", "has_party_org", "nearest_center_name", "walk_min", "walk_m", "flags",
    }


def test_layers_parameter_chooses_what_is_switched_on(blocks_client: TestClient):
    page = blocks_client.get("/maps/coverage?layers=compounds,cells").text
    groups = groups_of(page)
    on = {name for name, var in groups.items() if f"{var}.addTo(" in page}
    assert on == {"compounds", "cells"}
    default = blocks_client.get("/maps/coverage").text
    groups = groups_of(default)
    assert {name for name, var in groups.items() if f"{var}.addTo(" in default} == {"compounds", "centers", "circles", "boundary"}


def test_basemaps(blocks_built: Dataset):
    with client_for(blocks_built) as c:
        osm = c.get("/maps/coverage?basemap=osm")
        amap = c.get("/maps/coverage?basemap=amap")
        plain = config_of(c.get("/maps/coverage").text)
    assert set(URL.findall(osm.text)) <= {"https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://www.openstreetmap.org/copyright"}
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org;" in osm.headers["content-security-policy"]
    cfg = config_of(amap.text)
    assert all("coords=gcj02" in s["url"] for s in cfg["layers"])
    assert "/tiles/roads/{z}/{x}/{y}{r}.png?coords=gcj02" in amap.text
    assert {u.split("/appmaptile")[0] for u in URL.findall(amap.text)} == {"https://webrd0{s}.is.autonavi.com"}
    shift = np.array(cfg["bounds"]) - np.array(plain["bounds"])
    assert (np.abs(shift) > 0.001).all() and (np.abs(shift) < 0.01).all()  # GCJ-02: a few hundred metres
    with client_for(blocks_built, basemap="tianditu", tianditu_key="0123456789abcdef0123456789abcdef") as c:
        tdt = c.get("/maps/coverage").text
    assert "tk=0123456789abcdef0123456789abcdef" in tdt and "t{s}.tianditu.gov.cn/vec_w/wmts" in tdt


def test_embed_is_the_map_without_chrome(blocks_built: Dataset):
    with client_for(blocks_built, frame_ancestors=["'self'", "https://portal.example.gov.cn", "bad;value"]) as c:
        r = c.get("/embed/coverage?lang=en")
    cfg = config_of(r.text)
    assert cfg["embed"] is True and cfg["title"] is None
    assert '<body class="dj-embed dj-paper">' in r.text
    assert r.headers["content-security-policy"].endswith("frame-ancestors 'self' https://portal.example.gov.cn")
    assert {s["name"] for s in cfg["layers"]} >= {"compounds", "centers"}


@pytest.mark.parametrize("path", ["/maps/coverage", "/embed/coverage"])
def test_pages_are_not_cached(blocks_client: TestClient, path: str):
    r = blocks_client.get(path)
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


def test_big_layers_come_as_tiles(blocks_client: TestClient, monkeypatch: pytest.MonkeyPatch):
    import api.maps.coverage_page

    monkeypatch.setattr(api.maps.coverage_page, "RASTER_ABOVE_VERTICES", 100)  # the blocks' circles have 9 x 65 vertices
    page = blocks_client.get("/maps/coverage?minutes=10&cells=square").text
    names = {s["name"] for s in config_of(page)["layers"]}
    assert "circles" not in names and "cells" not in names
    assert {"compounds", "centers"} <= names  # popups and search need these as features
    assert '"/tiles/circles/{z}/{x}/{y}{r}.png?minutes=10"' in page
    assert '"/tiles/cells/{z}/{x}/{y}{r}.png?minutes=10\\u0026cells=square"' in page
    assert '"/tiles/roads/{z}/{x}/{y}{r}.png"' in page  # context tiles do not depend on coverage


def test_the_page_knows_where_a_compounds_route_is(demo_client: TestClient):
    assert config_of(demo_client.get("/maps/coverage").text)["route"] == "/collections/compounds/items/{id}/route"
    cfg = config_of(demo_client.get("/maps/coverage?method=network&minutes=10&basemap=amap").text)
    assert cfg["route"] == "/collections/compounds/items/{id}/route?minutes=10&method=network&coords=gcj02"
