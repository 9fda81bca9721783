"""The OGC API - Features responses against the standard's own schemas (core/openapi/schemas of
github.com/opengeospatial/ogcapi-features: root, confClasses, content, collection, extent, link,
featureCollectionGeoJSON, featureGeoJSON), written here as JSON Schema: the landing page, the conformance
declaration, the collections and every collection's items."""

from __future__ import annotations

import copy

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient

LINK = {
    "type": "object",
    "required": ["href"],
    "properties": {
        "href": {"type": "string"},
        "rel": {"type": "string"},
        "type": {"type": "string"},
        "hreflang": {"type": "string"},
        "title": {"type": "string"},
        "length": {"type": "integer"},
    },
}
LINKS = {"type": "array", "items": LINK}
BBOX = {"type": "array", "items": {"type": "number"}, "oneOf": [{"minItems": 4, "maxItems": 4}, {"minItems": 6, "maxItems": 6}]}
EXTENT = {
    "type": "object",
    "properties": {
        "spatial": {
            "type": "object",
            "properties": {
                "bbox": {"type": "array", "minItems": 1, "items": BBOX},
                "crs": {"type": "string", "enum": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84", "http://www.opengis.net/def/crs/OGC/0/CRS84h"]},
            },
        },
        "temporal": {
            "type": "object",
            "properties": {
                "interval": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": ["string", "null"]}},
                },
                "trs": {"type": "string"},
            },
        },
    },
}
COLLECTION = {
    "type": "object",
    "required": ["id", "links"],
    "properties": {
        "id": {"type": "string"},
        "title": {"type": "string"},
        "description": {"type": "string"},
        "links": LINKS,
        "extent": EXTENT,
        "crs": {"type": "array", "items": {"type": "string"}},
        "itemType": {"type": "string"},
    },
}
ROOT = {
    "type": "object",
    "required": ["links"],
    "properties": {"title": {"type": "string"}, "description": {"type": "string"}, "links": LINKS},
}
CONF_CLASSES = {"type": "object", "required": ["conformsTo"], "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}}}
CONTENT = {"type": "object", "required": ["links", "collections"], "properties": {"links": LINKS, "collections": {"type": "array", "items": COLLECTION}}}
FEATURE = {
    "type": "object",
    "required": ["type", "geometry", "properties"],
    "properties": {
        "type": {"type": "string", "enum": ["Feature"]},
        "geometry": {"oneOf": [{"type": "null"}, {"type": "object", "required": ["type"]}]},
        "properties": {"type": ["object", "null"]},
        "id": {"type": ["string", "integer"]},
        "links": LINKS,
    },
}
FEATURE_COLLECTION = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"type": "string", "enum": ["FeatureCollection"]},
        "features": {"type": "array", "items": FEATURE},
        "links": LINKS,
        "timeStamp": {"type": "string"},
        "numberMatched": {"type": "integer", "minimum": 0},
        "numberReturned": {"type": "integer", "minimum": 0},
    },
}


def _ids(client: TestClient) -> list[str]:
    return [c["id"] for c in client.get("/collections").json()["collections"]]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_landing_conformance_collections_match_the_ogc_schemas(blocks_client: TestClient, lang: str):
    jsonschema_rs.validate(ROOT, blocks_client.get(f"/?f=json&lang={lang}").json())
    jsonschema_rs.validate(CONF_CLASSES, blocks_client.get("/conformance").json())
    jsonschema_rs.validate(CONTENT, blocks_client.get(f"/collections?lang={lang}").json())
    for layer in _ids(blocks_client):
        jsonschema_rs.validate(COLLECTION, blocks_client.get(f"/collections/{layer}?lang={lang}").json())


def test_every_collections_items_match_the_geojson_feature_collection_schema(blocks_client: TestClient):
    for layer in _ids(blocks_client):
        doc = blocks_client.get(f"/collections/{layer}/items?limit=3").json()
        jsonschema_rs.validate(FEATURE_COLLECTION, doc)
        one = blocks_client.get(f"/collections/{layer}/items/{doc['features'][0]['id']}").json() if doc["features"] else None
        if one is not None:
            jsonschema_rs.validate(FEATURE, one)


def test_the_schemas_catch_mistakes(blocks_client: TestClient):
    doc = blocks_client.get("/collections/compounds").json()
    bad = copy.deepcopy(doc)
    bad["extent"]["spatial"]["bbox"] = [[1, 2, 3]]  # neither 4 nor 6 numbers
    assert not jsonschema_rs.is_valid(COLLECTION, bad)
    assert not jsonschema_rs.is_valid(COLLECTION, {k: v for k, v in doc.items() if k != "links"})
    items = blocks_client.get("/collections/compounds/items?limit=1").json()
    assert not jsonschema_rs.is_valid(FEATURE_COLLECTION, {**items, "numberMatched": -1})
    assert not jsonschema_rs.is_valid(ROOT, {"links": [{"rel": "self"}]})  # a link without href
