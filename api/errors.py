"""HTTP errors: one table from :class:`~geo.errors.DangjianError` subclasses to status codes.

Every error answers JSON ``{"detail": "...", "field": "..."}``: ``detail`` is
one line a person can act on, ``field`` names the parameter, column or layer
at fault (``null`` when there is none).  Request validation errors (a bad
``bbox``, ``z`` out of range, ``minutes=abc``) answer 422 the same way (400 on the OGC
features routes, :mod:`api.ogc_params`); a stale ``If-Match`` answers 412
and an id already taken 409, both with the ``expected`` and ``current`` versions, naming
the parameter; their raw FastAPI list stays under ``errors``.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from geo.errors import (
    CRSError,
    DangjianError,
    DatasetExistsError,
    DatasetNotFoundError,
    FeatureExistsError,
    GeometryError,
    InputError,
    InvalidValueError,
    MissingColumnError,
    NotBuiltError,
    NotFoundError,
    VersionConflictError,
)

log = logging.getLogger("dangjian.api")

#: Status code of every deliberate error; the most specific class in an error's MRO wins.
ERROR_STATUS: dict[type[DangjianError], int] = {
    NotFoundError: 404,
    DatasetNotFoundError: 404,
    DatasetExistsError: 409,
    NotBuiltError: 409,
    VersionConflictError: 412,
    FeatureExistsError: 409,
    MissingColumnError: 422,
    InvalidValueError: 422,
    GeometryError: 422,
    CRSError: 422,
    InputError: 422,
    DangjianError: 400,
}


def status_for(exc: DangjianError) -> int:
    """The HTTP status of a :class:`DangjianError` (400 for subclasses not in the table)."""
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]  # type: ignore[index]
    return 400


def error_body(detail: str, field: str | None, **extra: Any) -> dict[str, Any]:
    """The JSON body of every error (text that is not valid Unicode, such as a lone ``\\ud800`` sent in JSON, escaped).

    Folders of the server (:func:`hide_server_paths`) are cut from ``detail``: a file is named by its name alone.
    """
    return _encodable({"detail": hide_server_paths(detail), "field": field, **extra})


#: Folders of the server besides the temporary folder and the home folder (the data folder, the dataset's), see :func:`hide_folder`.
_SERVER_FOLDERS: set[str] = set()


def hide_folder(folder: str | os.PathLike[str]) -> None:
    """Never show ``folder`` (nor what lies under it) in an error body."""
    text = str(Path(folder).resolve()).rstrip("/")
    if len(text) > 1:
        _SERVER_FOLDERS.add(text)


def hide_server_paths(detail: str) -> str:
    """``detail`` with the server's folders cut from every path in it (``/tmp/dangjian-import-x/zip-y/a.kml`` -> ``a.kml``).

    The folders are the temporary folder, the home folder and those given to :func:`hide_folder`
    (longest first, so a folder inside another goes whole).
    """
    folders = {*_SERVER_FOLDERS, tempfile.gettempdir().rstrip("/"), str(Path.home()).rstrip("/")}
    for folder in sorted((f for f in folders if len(f) > 1), key=len, reverse=True):
        if folder in detail:
            detail = re.sub(re.escape(folder) + r"/(?:[^\s'\"`/]+/)*", "", detail)
            detail = re.sub(re.escape(folder) + r"(?![\w.-])", "…", detail)
    return detail


def _encodable(value: Any) -> Any:
    """``value`` with every string UTF-8 can encode: lone surrogates become ``\\udXXX`` escapes."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(v) for v in value]
    return value


_LOCATIONS = {"query", "path", "header", "body", "cookie"}


def _field_of(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = [str(p) for p in loc if str(p) not in _LOCATIONS]
    return parts[0] if parts else None


async def _dangjian_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DangjianError)
    extra: dict[str, Any] = {}
    if isinstance(exc, VersionConflictError):
        extra = {"expected": exc.expected, "current": exc.current}
    return JSONResponse(error_body(exc.message, exc.field, **extra), status_code=status_for(exc))


def validation_detail(exc: RequestValidationError) -> tuple[str, str | None]:
    """The one-line ``detail`` and the ``field`` of a request validation error (its first error)."""
    errors = exc.errors()
    first = errors[0] if errors else {}
    field = _field_of(first.get("loc", ()))
    got = first.get("input")
    shown = "" if got is None or isinstance(got, dict) else f"; got {got!r}"
    detail = f"`{field}`: {first.get('msg', 'invalid value')}{shown}" if field else str(first.get("msg", "invalid request"))
    return detail, field


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail, field = validation_detail(exc)
    clean = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")} for e in exc.errors()]
    return JSONResponse(error_body(detail, field, errors=clean), status_code=422)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    field = getattr(exc, "field", None)
    return JSONResponse(error_body(str(exc.detail), field), status_code=exc.status_code, headers=exc.headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s", request.url.path)
    return JSONResponse(error_body("internal error", None), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app`` (once, at creation)."""
    app.add_exception_handler(DangjianError, _dangjian_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
