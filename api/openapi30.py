"""The API definition as OpenAPI 3.0, for OGC API clients.

FastAPI writes OpenAPI 3.1 (JSON Schema 2020-12), while OGC API - Features
Part 1 declares the ``oas30`` conformance class and its clients (GDAL's OAPIF
driver, QGIS, OWSLib, generated portal clients) read 3.0.  :func:`to_openapi30`
rewrites the few 3.1 forms pydantic produces into their 3.0 equivalents:

- ``anyOf`` with ``{"type": "null"}`` (and ``type`` lists) -> the other schema
  with ``nullable: true``;
- ``examples`` (a list, in a schema) -> ``example`` (its first item);
- numeric ``exclusiveMinimum``/``exclusiveMaximum`` -> ``minimum``/``maximum``
  with the boolean flag;
- ``const`` -> a one-value ``enum``;
- a ``$ref`` with siblings -> ``allOf: [$ref]`` beside them (3.0 ignores the
  siblings of a ``$ref``);
- ``contentMediaType`` of a string -> ``format: binary``.

The OpenAPI objects' own ``examples`` (maps of Example Objects in parameters
and media types) are 3.0 already and stay.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["OPENAPI_30", "to_openapi30"]

#: The version written.
OPENAPI_30 = "3.0.3"

#: Keys whose value is a map of names to schemas (or to objects holding schemas).
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions")
#: Keys whose value is one schema.
_SCHEMA_KEYS = ("items", "additionalProperties", "not", "schema")
#: Keys whose value is a list of schemas.
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf")


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null" and len(schema) == 1


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` that also admits null (a ``$ref`` is wrapped: 3.0 ignores a ``$ref``'s siblings)."""
    if "$ref" in schema:
        return {"allOf": [schema], "nullable": True}
    return {**schema, "nullable": True}


def _schema(node: Any) -> Any:
    """One JSON Schema (2020-12, as pydantic writes it) as an OpenAPI 3.0 Schema Object."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {k: _schema(v) for k, v in value.items()}
        elif key in _SCHEMA_KEYS:
            out[key] = _schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [_schema(v) for v in value]
        else:
            out[key] = value
    for union in ("anyOf", "oneOf"):
        options = out.get(union)
        if isinstance(options, list) and any(_is_null(o) for o in options):
            rest = [o for o in options if not _is_null(o)]
            del out[union]
            merged = _nullable(rest[0]) if len(rest) == 1 else {union: rest, "nullable": True}
            out = {**merged, **out}
    types = out.get("type")
    if isinstance(types, list):
        kinds = [t for t in types if t != "null"]
        out["type"] = kinds[0] if len(kinds) == 1 else kinds
        if len(kinds) > 1:  # 3.0 has no type lists: one of several types
            del out["type"]
            out["anyOf"] = [{"type": t} for t in kinds]
        if "null" in types:
            out["nullable"] = True
    if isinstance(out.get("examples"), list):
        examples = out.pop("examples")
        if examples:
            out.setdefault("example", examples[0])
    for bound, flag in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = out.get(bound)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[flag] = value
            out[bound] = True
    if "const" in out:
        out["enum"] = [out.pop("const")]
    if out.get("type") == "string" and "contentMediaType" in out:
        del out["contentMediaType"]
        out["format"] = "binary"
    out.pop("contentEncoding", None)
    if "$ref" in out and len(out) > 1:
        ref = {"$ref": out.pop("$ref")}
        out = {"allOf": [ref], **out}
    return out


def _media(content: dict[str, Any]) -> dict[str, Any]:
    return {kind: {**media, "schema": _schema(media["schema"])} if "schema" in media else media for kind, media in content.items()}


def _with_schemas(obj: dict[str, Any]) -> dict[str, Any]:
    """A Parameter, Header, Request Body or Response Object with its schemas converted."""
    out = dict(obj)
    if "schema" in out:
        out["schema"] = _schema(out["schema"])
    if isinstance(out.get("content"), dict):
        out["content"] = _media(out["content"])
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: _with_schemas(v) for k, v in out["headers"].items()}
    return out


def _operation(op: dict[str, Any]) -> dict[str, Any]:
    out = dict(op)
    if "parameters" in out:
        out["parameters"] = [_with_schemas(p) for p in out["parameters"]]
    if "requestBody" in out:
        out["requestBody"] = _with_schemas(out["requestBody"])
    if "responses" in out:
        out["responses"] = {code: _with_schemas(r) for code, r in out["responses"].items()}
    return out


def to_openapi30(spec: dict[str, Any]) -> dict[str, Any]:
    """A copy of the OpenAPI 3.1 document ``spec`` written as OpenAPI 3.0.3.

    Parameters
    ----------
    spec
        The document as FastAPI makes it (``app.openapi()``); not changed.

    Returns
    -------
    dict
        The same API in 3.0.3 form (see the module docstring for what changes).
    """
    doc = copy.deepcopy(spec)
    doc["openapi"] = OPENAPI_30
    doc.pop("jsonSchemaDialect", None)
    doc.pop("webhooks", None)
    doc.get("info", {}).get("license", {}).pop("identifier", None)
    for path, item in doc.get("paths", {}).items():
        doc["paths"][path] = {
            method: _operation(op) if isinstance(op, dict) and method != "parameters" else op for method, op in item.items()
        }
        if "parameters" in item:
            doc["paths"][path]["parameters"] = [_with_schemas(p) for p in item["parameters"]]
    components = doc.get("components", {})
    if "schemas" in components:
        components["schemas"] = {k: _schema(v) for k, v in components["schemas"].items()}
    for kind in ("parameters", "headers", "requestBodies", "responses"):
        if kind in components:
            components[kind] = {k: _with_schemas(v) for k, v in components[kind].items()}
    return doc
