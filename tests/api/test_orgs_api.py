"""Party organisations over HTTP: a collection, tiles, and edits that recount units, grids and compounds (issue 15).

The 3 x 3 block district (see :mod:`tests.helpers`) with two organisations: 西社区党委 in the west strip
U007 and 甲小区党支部 naming compound A (unit U010, grid B0002-02).  B (unit U011) says it has no party
organisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point

from api.app import create_app
from api.settings import Settings
from layers.build import BuildParams, build_dataset
from layers.store import Store, open_store
from tests.api.helpers import bearer, make_tokens
from tests.api.test_edits import lonlat
from tests.helpers import block_layers, local, make_dataset, writes


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[str, str]]]:
    layers = block_layers()
    layers["party_orgs"] = local(
        gpd.GeoDataFrame(
            {"name": ["西社区党委", "甲小区党支部"], "type": ["社区党委", "小区党支部"], "members": [120, 25], "compound": ["", "A"]},
            geometry=[Point(100, 400), Point(160, 150)],
        )
    )
    path = tmp_path / "orgs.gpkg"
    store = open_store(path)
    writes(store).import_dataset(build_dataset(make_dataset(layers), BuildParams(minutes=5)), actor="test")
    tokens = make_tokens(store)
    with TestClient(create_app(Settings(dataset=path, reload_check_s=0))) as client:
        yield client, store, tokens
    store.close()


def _units(client: TestClient) -> dict[str, dict[str, Any]]:
    items = client.get("/collections/units/items?limit=100").json()["features"]
    return {f["properties"]["id"]: f["properties"] for f in items}


def _compound(client: TestClient, fid: str) -> dict[str, Any]:
    return client.get(f"/collections/compounds/items/{fid}").json()["properties"]


def test_the_organisations_are_a_collection_with_chinese_title(served) -> None:
    client, _, _ = served
    meta = client.get("/collections/party_orgs").json()
    assert meta["title"] == "党组织"
    items = client.get("/collections/party_orgs/items").json()
    assert [(f["properties"]["name"], f["properties"]["type"], f["properties"]["members"]) for f in items["features"]] == [
        ("西社区党委", "community", 120), ("甲小区党支部", "compound", 25),
    ]
    assert client.get("/tiles/party_orgs/14/0/0.png").status_code == 200


def test_adding_and_deleting_an_organisation_recounts_units_and_marks_the_compound(served) -> None:
    client, _, tokens = served
    editor = bearer(tokens["editor"])
    before = _units(client)
    assert (before["U011"]["orgs"], before["U010"]["orgs"], before["U010"]["org_members"]) == (0, 1, 25)
    assert not _compound(client, "B")["has_party_org"]
    # 乙小区党支部 inside B's polygon, local (450, 150): unit U011.
    feature = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": lonlat(450, 150)},
        "properties": {"name": "乙小区党支部", "type": "小区党组织", "members": 9},
    }
    res = client.post("/collections/party_orgs/items", json=feature, headers=editor)
    assert res.status_code == 201, res.text
    fid, etag = res.json()["id"], res.headers["ETag"]
    after = _units(client)
    assert (after["U011"]["orgs"], after["U011"]["org_members"], after["U011"]["orgs_compound"]) == (1, 9, 1)
    # U011 lies in 东社区, which lists no community organisation here: no lead, one member inside.
    assert (after["U011"]["alliance_roster"], after["U011"]["alliance_size"]) == ("N: 乙小区党支部", 1)
    assert _compound(client, "B")["has_party_org"] and "no_party_org" not in _compound(client, "B")["flags"]
    # Deleting it gives B back its own "no".
    res = client.delete(f"/collections/party_orgs/items/{fid}", headers={**editor, "If-Match": etag})
    assert res.status_code == 204, res.text
    assert _units(client)["U011"]["orgs"] == 0
    assert not _compound(client, "B")["has_party_org"] and "no_party_org" in _compound(client, "B")["flags"]


def test_an_organisation_of_an_unknown_type_is_refused_naming_the_column(served) -> None:
    client, _, tokens = served
    feature = {"type": "Feature", "geometry": {"type": "Point", "coordinates": lonlat(450, 150)}, "properties": {"name": "某组织", "type": "俱乐部"}}
    res = client.post("/collections/party_orgs/items", json=feature, headers=bearer(tokens["editor"]))
    assert res.status_code == 422
    assert "type" in res.text


def test_the_organisation_reports_over_http(served) -> None:
    client, _, _ = served
    body = client.get("/reports/orgs").json()
    assert body["cards"]["orgs"] == 2 and body["cards"]["org_members"] == 145
    res = client.get("/reports/alliance?format=csv")
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/csv")
    assert res.content.decode("utf-8-sig").splitlines()[0].startswith("邻里单元,")
    assert client.get("/reports/needs?format=xlsx").status_code == 200
    assert client.get("/reports/orgs?format=csv&table=nope").status_code == 422
    assert client.get("/reports/unknown").status_code == 422
