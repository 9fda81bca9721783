"""Small HTTP helpers shared by the routers: ETags, 304s, gzip, the service's base URL."""

from __future__ import annotations

import gzip
import hashlib
from urllib.parse import urlsplit

from fastapi import Request, Response

from api.settings import Settings

#: Bodies at least this large are gzipped for clients that accept it.
GZIP_MIN_BYTES = 8192


def etag_for(*parts: object) -> str:
    """A strong ETag (quoted) from the parts that determine a response."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=10).hexdigest()
    return f'"{digest}"'


def etag_matches(request: Request, etag: str) -> bool:
    """Whether the request's ``If-None-Match`` names ``etag`` (or ``*``); weak validators compare equal."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags


def not_modified(etag: str, cache_control: str, extra: dict[str, str] | None = None) -> Response:
    """A 304 carrying the validators a cache needs."""
    return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control, **(extra or {})})


def accepts_gzip(request: Request) -> bool:
    """Whether the client sent ``Accept-Encoding: gzip``."""
    return "gzip" in request.headers.get("accept-encoding", "")


def body_response(
    request: Request,
    body: bytes,
    *,
    media_type: str,
    etag: str | None = None,
    cache_control: str = "no-cache",
    headers: dict[str, str] | None = None,
) -> Response:
    """A response with ETag/Cache-Control, answering 304 on a matching ``If-None-Match`` and gzipping large bodies."""
    h = {"Cache-Control": cache_control, **(headers or {})}
    if etag is not None:
        h["ETag"] = etag
        if etag_matches(request, etag):
            return not_modified(etag, cache_control)
    h["Vary"] = "Accept-Encoding"
    if len(body) >= GZIP_MIN_BYTES and accepts_gzip(request):
        body = gzip.compress(body, compresslevel=5)
        h["Content-Encoding"] = "gzip"
    return Response(content=body, media_type=media_type, headers=h)


def public_base(request: Request, settings: Settings) -> str:
    """The service's absolute base URL (``settings.public_url`` behind a proxy, else the request's), no trailing slash."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return str(request.base_url).rstrip("/")


def path_prefix(request: Request, settings: Settings) -> str:
    """The path the service is mounted at (``""`` at the root), for same-origin links in pages."""
    if settings.public_url:
        return urlsplit(settings.public_url).path.rstrip("/")
    return str(request.scope.get("root_path", "")).rstrip("/")
