"""The API definition for OGC clients (``/api``) is valid OpenAPI 3.0 (api.openapi30)."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from api.openapi30 import to_openapi30


def _walk(node, path=()):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from _walk(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _walk(v, (*path, i))


def test_api_is_openapi_30_and_validates(blocks_client: TestClient):
    r = blocks_client.get("/api")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/vnd.oai.openapi+json;version=3.0")
    doc = r.json()
    assert doc["openapi"] == "3.0.3"
    validate(doc)  # the 3.0 schema, chosen by the version
    # no 3.1-only forms are left anywhere
    for path, node in _walk(doc):
        assert not (node.get("type") == "null"), path
        assert not isinstance(node.get("type"), list), path
        assert "const" not in node, path
        assert not isinstance(node.get("exclusiveMinimum"), (int, float)) or isinstance(node["exclusiveMinimum"], bool), path
    # the limit parameter GDAL reads keeps its maximum
    assert doc["components"]["parameters"]["limit"]["schema"]["maximum"] >= 1000


def test_the_31_document_fails_the_30_schema(blocks_client: TestClient):
    """The check above can fail: FastAPI's own document, relabelled 3.0.3 without conversion, is refused."""
    raw = blocks_client.get("/openapi.json").json()
    assert raw["openapi"].startswith("3.1")
    relabelled = {**raw, "openapi": "3.0.3"}
    try:
        validate(relabelled)
    except OpenAPIValidationError:
        pass
    else:  # pragma: no cover - would mean the conversion is not needed
        raise AssertionError("a 3.1 document passed the 3.0 schema")


def test_hand_made_schemas_convert():
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1", "license": {"name": "MIT", "identifier": "MIT"}},
        "paths": {
            "/x": {
                "get": {
                    "parameters": [
                        {
                            "name": "minutes",
                            "in": "query",
                            "schema": {"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}], "title": "M"},
                            "examples": {"five": {"value": 5}},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "ok",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A", "description": "d"}}},
                        }
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "A": {
                    "type": "object",
                    "properties": {
                        "kind": {"const": "Feature", "type": "string"},
                        "b": {"anyOf": [{"$ref": "#/components/schemas/B"}, {"type": "null"}]},
                        "n": {"type": ["integer", "null"], "examples": [3, 4]},
                        "f": {"type": "string", "contentMediaType": "application/octet-stream"},
                    },
                },
                "B": {"type": "string"},
            }
        },
    }
    before = json.dumps(spec)
    doc = to_openapi30(spec)
    assert json.dumps(spec) == before  # the input is not changed
    param = doc["paths"]["/x"]["get"]["parameters"][0]
    assert param["schema"] == {"type": "number", "minimum": 0, "exclusiveMinimum": True, "nullable": True, "title": "M"}
    assert param["examples"] == {"five": {"value": 5}}  # an OpenAPI examples map stays
    ok = doc["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"allOf": [{"$ref": "#/components/schemas/A"}], "description": "d"}
    props = doc["components"]["schemas"]["A"]["properties"]
    assert props["kind"] == {"enum": ["Feature"], "type": "string"}
    assert props["b"] == {"allOf": [{"$ref": "#/components/schemas/B"}], "nullable": True}
    assert props["n"] == {"type": "integer", "nullable": True, "example": 3}
    assert props["f"] == {"type": "string", "format": "binary"}
    assert "identifier" not in doc["info"]["license"]
    validate(doc)
