"""Queryables and property filters on items (issue 13), on the block district served from a GeoPackage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings

QUERYABLES_REL = "http://www.opengis.net/def/rel/ogc/1.0/queryables"


@pytest.fixture
def client(blocks_gpkg: Path) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(dataset=blocks_gpkg))) as c:
        yield c


def _all(client: TestClient, query: str = "") -> list[dict]:
    body = client.get(f"/collections/compounds/items?limit=10000{query}").json()
    assert body["numberMatched"] == body["numberReturned"]
    return body["features"]


def test_queryables_schema(client: TestClient):
    r = client.get("/collections/compounds/queryables")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/schema+json")
    doc = r.json()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["$id"] == "http://testserver/collections/compounds/queryables"
    assert doc["type"] == "object"
    assert doc["title"]
    props = doc["properties"]
    assert props["households"]["type"] == "integer"
    assert props["covered"]["type"] == "boolean"
    assert props["name"]["type"] == "string"
    assert props["walk_m"]["type"] == "number"
    assert props["geometry"]["x-ogc-role"] == "primary-geometry"
    # every attribute column of the served features is a queryable, and nothing else but geometry
    feature = _all(client)[0]
    assert set(props) == set(feature["properties"]) | {"geometry"}


def test_collection_links_its_queryables(client: TestClient):
    links = [link for link in client.get("/collections/compounds").json()["links"] if link["rel"] == QUERYABLES_REL]
    assert len(links) == 1
    assert links[0]["href"] == "http://testserver/collections/compounds/queryables"
    assert client.get(links[0]["href"]).status_code == 200
    assert client.get("/collections/nope/queryables").status_code == 404


@pytest.mark.parametrize("minutes", [None, 5])
@pytest.mark.parametrize("value", ["false", "0"])
def test_covered_false_is_the_uncovered_compounds(client: TestClient, minutes: int | None, value: str):
    extra = "" if minutes is None else f"&minutes={minutes}"
    everything = _all(client, extra)
    expected = sorted(f["id"] for f in everything if f["properties"]["covered"] is False)
    body = client.get(f"/collections/compounds/items?limit=10000&covered={value}{extra}").json()
    assert sorted(f["id"] for f in body["features"]) == expected
    assert body["numberMatched"] == len(expected)
    covered = _all(client, f"&covered=true{extra}")
    assert len(covered) + len(expected) == len(everything)


def test_some_compounds_are_uncovered_at_five_minutes(client: TestClient):
    # so the filter above is tested on a non-trivial split
    features = _all(client, "&minutes=5")
    assert {f["properties"]["covered"] for f in features} == {True, False}


def test_filters_are_anded_numbers_numeric_and_with_bbox(client: TestClient):
    everything = _all(client, "&minutes=5")
    first = everything[0]["properties"]
    households = first["households"]
    expected = sorted(
        f["id"]
        for f in everything
        if f["properties"]["households"] == households and f["properties"]["covered"] is first["covered"]
    )
    got = _all(client, f"&minutes=5&households={float(households)}&covered={str(first['covered']).lower()}")
    assert sorted(f["id"] for f in got) == expected
    assert expected
    # text equality
    name = first["name"]
    assert [f["id"] for f in _all(client, f"&name={name}")] == [
        f["id"] for f in everything if f["properties"]["name"] == name
    ]
    # with a bbox: only the intersecting rows of the filtered set
    assert _all(client, "&bbox=0,0,0.0001,0.0001&covered=true") == []


def test_unknown_parameter_is_400_naming_it(client: TestClient):
    r = client.get("/collections/compounds/items?covered=false&colour=red")
    assert r.status_code == 400
    body = r.json()
    assert body["field"] == "colour"
    assert "colour" in body["detail"]


def test_bad_filter_value_is_400_naming_the_column(client: TestClient):
    for query in ("covered=maybe", "households=many"):
        r = client.get(f"/collections/compounds/items?{query}")
        assert r.status_code == 400, query
        assert r.json()["field"] == query.split("=")[0]


def test_filters_survive_in_the_next_link(client: TestClient):
    query = "minutes=5&covered=true"
    expected = [f["id"] for f in _all(client, "&" + query)]
    assert len(expected) >= 2
    seen = []
    href = f"/collections/compounds/items?{query}&limit=1"
    while href:
        body = client.get(href).json()
        assert body["numberMatched"] == len(expected)
        seen += [f["id"] for f in body["features"]]
        nxt = [link["href"] for link in body["links"] if link["rel"] == "next"]
        if nxt:
            assert "covered=true" in nxt[0] and "minutes=5" in nxt[0]
        href = nxt[0] if nxt else None
    assert seen == expected
    prev = [link["href"] for link in body["links"] if link["rel"] == "prev"]
    assert prev and "covered=true" in prev[0]


def test_capped_limit_is_reported(client: TestClient):
    r = client.get("/collections/compounds/items?limit=20000")
    assert r.status_code == 200
    body = r.json()
    assert (body["limit"], body["capped"]) == (10000, True)
    assert r.headers["x-limit-capped"] == "10000"
    r = client.get("/collections/compounds/items?limit=20000&f=csv")
    assert r.headers["x-limit-capped"] == "10000"
    r = client.get("/collections/compounds/items?limit=10000")
    assert "capped" not in r.json() and "x-limit-capped" not in r.headers
