"""Who calls: bearer tokens and roles.

Tokens travel as ``Authorization: Bearer dj_<id>_<secret>`` and are checked
against the hashed tokens of the served dataset's store
(:meth:`layers.store.Store.verify_token`) on every request.  The store keeps
the one cache of token checks: a repeated token costs one read of the store's
token revision, and a token revoked by any process (``dangjian token revoke``,
another worker) is refused on the next request.

- ``Depends(require(Role.editor))`` answers 401 without a valid token and
  403 when its role is too low, else gives the :class:`Caller`;
- ``Depends(read_access)`` lets everyone read unless the deployment sets
  ``read_requires_token`` (then a ``viewer`` token is needed);
- rate limits of expensive endpoints are in :mod:`api.ratelimit`.

The store of tokens is ``app.state.token_store`` when set (tests, an app
serving an in-memory dataset), else the served dataset's store.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from api.settings import Settings
from layers.i18n import text
from layers.store import Role, Store, TokenInfo
from layers.store.tokens import split_token


class AuthError(HTTPException):
    """401/403/429 with the field at fault (``Authorization``) for the JSON error body."""

    def __init__(self, status_code: int, detail: str, *, field: str | None = "Authorization", headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.field = field


@dataclass(frozen=True)
class Caller:
    """Who sends a request.

    Attributes
    ----------
    token
        The verified token, or ``None`` for an anonymous reader.
    address
        The client's address (``request.client.host``).
    """

    token: TokenInfo | None
    address: str

    @property
    def actor(self) -> str:
        """The audit-log actor: ``token:<id>`` (``anonymous`` without a token)."""
        return f"token:{self.token.id}" if self.token is not None else "anonymous"

    @property
    def role(self) -> Role | None:
        """The token's role, ``None`` when anonymous."""
        return self.token.role if self.token is not None else None


def public_actor(actor: str | None) -> str | None:
    """Who wrote, as public answers may say it: the kind only (``token``, ``cli``, ``system``), never a token's id.

    Token ids are half of a token; the full actor stays in the audit log,
    which needs an editor token to read.
    """
    return None if actor is None else str(actor).split(":", 1)[0]


def bearer_token(request: Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, ``None`` without one."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def client_address(request: Request) -> str:
    """The calling client's address (``unknown`` when the server does not know it)."""
    return request.client.host if request.client is not None else "unknown"


def _token_store(request: Request) -> Store | None:
    """The store whose tokens the app accepts (``app.state.token_store``, else the served dataset's), if any."""
    store = getattr(request.app.state, "token_store", None)
    if isinstance(store, Store):
        return store
    state = getattr(request.app.state, "dangjian", None)
    if state is None or not state.has_store:
        return None
    try:
        return state.store
    except Exception:  # no dataset: no tokens either
        return None


def app_settings(request: Request) -> Settings:
    """The app's settings (``app.state.settings``), else the environment's."""
    settings = getattr(request.app.state, "settings", None)
    return settings if isinstance(settings, Settings) else Settings()


def say(request: Request, key: str, **values: object) -> str:
    """The catalogue's text ``key`` in the app's language (:mod:`layers.i18n`), for a refusal's one line."""
    return text(key, app_settings(request).lang, **values)


#: The challenge sent with every 401.
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="dangjian-map"'}


async def verified_token(request: Request, token: str | None, *, missing: str) -> TokenInfo:
    """The stored token ``token`` names: 401 when absent, unknown or revoked, 429 after too many wrong ones.

    Wrong tokens are counted per client address and token id
    (``app.state.auth_failures``, :class:`api.ratelimit.FailedTokenChecks`);
    past the limit a token is refused before it is checked (no scrypt).
    ``missing`` is the message when no token was sent.
    """
    if token is None:
        raise AuthError(401, missing, headers=CHALLENGE)
    store = _token_store(request)
    if store is None:
        raise AuthError(401, say(request, "http.auth.no_tokens"), headers=CHALLENGE)
    failures = getattr(request.app.state, "auth_failures", None)
    parts = split_token(token)
    keys = failures.keys(client_address(request), parts[0] if parts else None) if failures is not None else []
    if failures is not None and (wait := failures.wait(keys)) > 0:
        seconds = max(1, math.ceil(wait))
        raise AuthError(429, say(request, "http.auth.too_many_failures", seconds=seconds), headers={"Retry-After": str(seconds)})
    info = await run_in_threadpool(store.verify_token, token)
    if info is None:
        if failures is not None:
            failures.failed(keys)
        raise AuthError(401, say(request, "http.auth.bad_token"), headers=CHALLENGE)
    return info


async def authenticate(request: Request, needed: Role, *, token: str | None = None) -> Caller:
    """The :class:`Caller` of ``request`` if its token allows ``needed``; 401, 403 or 429 otherwise.

    ``token`` overrides the ``Authorization`` header (reads may carry it as ``access_token``).
    """
    missing = say(request, "http.auth.missing", role=needed.value)
    info = await verified_token(request, token or bearer_token(request), missing=missing)
    if not info.role.allows(needed):
        raise AuthError(403, say(request, "http.auth.role_too_low", role=info.role.value, needed=needed.value))
    return Caller(token=info, address=client_address(request))


#: Declares the bearer token in the OpenAPI schema (``/docs`` then offers "Authorize"); checking is ours.
bearer_scheme = HTTPBearer(auto_error=False, description="`dj_<id>_<secret>` from `dangjian token create --role ...`")
_Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def require(role: Role | str) -> Callable[..., Awaitable[Caller]]:
    """A dependency giving the :class:`Caller` when its token has ``role`` or higher (401/403 otherwise)."""
    needed = Role(role)

    async def dependency(request: Request, _: _Credentials = None) -> Caller:
        return await authenticate(request, needed)

    dependency.__name__ = f"require_{needed.value}"
    return dependency


def access_token(request: Request) -> str | None:
    """A read token given as the ``access_token`` query parameter.

    Map pages pass it on to the tile and feature URLs they load, since a
    browser cannot add an ``Authorization`` header to ``<img>`` tile requests.
    Tokens in URLs end up in logs: give pages a ``viewer`` token only.
    """
    value = request.query_params.get("access_token", "").strip()
    return value or None


async def read_access(request: Request) -> Caller:
    """Anyone may read, unless the setting ``read_requires_token`` asks for a ``viewer`` token.

    The token comes as ``Authorization: Bearer`` or, for map pages and their tiles, ``?access_token=``.
    """
    if app_settings(request).read_requires_token:
        return await authenticate(request, Role.viewer, token=bearer_token(request) or access_token(request))
    return Caller(token=None, address=client_address(request))
