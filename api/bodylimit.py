"""Request bodies: the token is checked before a byte of the body is read, and the body is bounded while it streams.

Every write (``POST``, ``PUT``, ``PATCH``, ``DELETE``) needs a token, so
:class:`WriteGate` answers 401 to a write without a valid one at once, before
FastAPI reads and parses the body (a 1 GB body without a token costs nothing).
The body is then limited per route: ``POST /datasets`` takes uploads up to
``upload_max_mb``; every other write is JSON up to ``json_body_max_kb``.  A
declared ``Content-Length`` above the limit is refused at once; a body that
streams past it (chunked, or lying about its length) is cut off with 413 as
soon as the limit is passed (:class:`BodyTooLarge`, raised where the app
reads the body and answered by the app's error handlers), so memory stays flat.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import AuthError, bearer_token, say, verified_token

#: Methods that write (each needs a token).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyTooLarge(HTTPException):
    """A request body streamed past its route's limit (413; raised while the app reads the body)."""

    def __init__(self, limit: int, detail: str) -> None:
        super().__init__(413, detail)
        self.limit = limit


def _content_length(scope: Scope) -> int | None:
    for key, value in scope.get("headers", ()):
        if key == b"content-length":
            text = value.decode("latin-1").strip()
            return int(text) if text.isdigit() else None
    return None


async def _answer(send: Send, status: int, detail: str, field: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail, "field": field}, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


class WriteGate:
    """Pure ASGI middleware: a write needs a valid token before its body is read, and its body is bounded.

    Parameters
    ----------
    app
        The application (its tokens and failed-check limits are those of
        :func:`api.auth.verified_token`).
    limit_for
        The body limit of a path in bytes.
    """

    def __init__(self, app: ASGIApp, *, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            await verified_token(
                request, bearer_token(request), missing=say(request, "http.auth.write_needs_token")
            )
        except AuthError as exc:
            headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (exc.headers or {}).items()]
            await _answer(send, exc.status_code, str(exc.detail), exc.field or "Authorization", headers)
            return
        limit = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _answer(send, 413, say(request, "http.body.declared_too_large", size=declared, limit=limit), "body")
            return
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, say(request, "http.body.too_large", limit=limit))
            return message

        await self.app(scope, bounded, send)
