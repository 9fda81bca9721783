"""The FastAPI application: ``create_app(settings)``.

The routers are listed in :data:`api.routers.ROUTERS` (the route map in one
place) and included in that order.  Static assets (Leaflet, the
map script, Swagger UI) are served from ``api/static`` under ``/static``; the
OpenAPI docs at ``/docs`` use the shipped Swagger UI, so they work offline.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import read_access
from api.bodylimit import WriteGate
from api.errors import hide_folder, install_error_handlers
from api.maps.security import add_nonce, allowed_ancestors, content_security_policy
from api.ratelimit import FailedTokenChecks
from api.routers import PUBLIC_ROUTERS, ROUTERS
from api.routers.planning import ScenarioResults
from api.settings import Settings
from api.state.dataset import DatasetState
from layers.dataset import Dataset
from layers.importing.archives import remove_stale_scratch_folders
from layers.store import Store

log = logging.getLogger("dangjian.api")

STATIC_DIR = Path(__file__).resolve().parent / "static"

DESCRIPTION = """
党群服务中心 15分钟服务圈: coverage maps, embeddable maps, map tiles and features of one district.

* **Maps**: `/maps/coverage` (full page, Chinese by default, `?lang=en`), `/embed/coverage` (for iframes).
* **Tiles**: `/tiles/{layer}/{z}/{x}/{y}.png` (`@2x.png`), `.mvt`, and `/tiles/{layer}.json` (TileJSON 3.0).
* **Features**: `/collections`, `/collections/{layer}/items` (GeoJSON or `f=csv`), OGC API - Features style.
* **Coverage**: `/coverage/summary`.

Errors answer JSON `{"detail": ..., "field": ...}` naming the parameter at fault.
"""


class SecurityHeaders:
    """Pure ASGI middleware adding the security headers to every response.

    ``Content-Security-Policy`` (only the service itself and the configured
    basemap; ``frame-ancestors`` from the settings) unless the response set
    its own (the map pages, with a nonce), ``X-Content-Type-Options: nosniff``
    and ``Referrer-Policy``.
    """

    def __init__(self, app: ASGIApp, *, csp: str = "", referrer_policy: str = "strict-origin-when-cross-origin") -> None:
        self.app = app
        self.headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", referrer_policy.encode())]
        self.csp = csp.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in have]
                if self.csp and b"content-security-policy" not in have:
                    headers.append((b"content-security-policy", self.csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """Pure ASGI middleware answering ``HEAD`` like ``GET`` without the body (tiles, pages, features)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, send_headers_only)


#: Room for the multipart framing around an upload, so the upload route's own size check answers first.
_MULTIPART_SLACK = 1024 * 1024


def body_limit(settings: Settings, path: str) -> int:
    """The largest request body a path takes (bytes): uploads for ``/datasets``, else small JSON."""
    if path.rstrip("/").endswith("/datasets"):
        return int(settings.upload_max_mb * 1024 * 1024) + _MULTIPART_SLACK
    return int(settings.json_body_max_kb * 1024)


def create_app(settings: Settings | None = None, *, dataset: Dataset | None = None, store: Store | None = None) -> FastAPI:
    """The dangjian-map web service.

    Parameters
    ----------
    settings
        Deployment settings (default: from the environment and ``DANGJIAN_CONFIG``).
    dataset
        Serve this dataset instead of reading ``settings.dataset`` (tests,
        notebooks); it is built first if it is not built.  Without ``store``
        it is served from memory and nothing can be written.
    store
        The store to serve (default: ``settings.open_store()``, opened on
        first use); with ``dataset``, the dataset is imported into it when
        it holds none.

    Returns
    -------
    fastapi.FastAPI
        With ``app.state.settings``, ``app.state.dangjian`` (the
        :class:`~api.state.dataset.DatasetState`) and ``app.state.scenario_results``
        (:class:`~api.routers.planning.ScenarioResults`).  The dataset loads on first use.
    """
    settings = settings or Settings()
    app = FastAPI(
        title="dangjian-map",
        version="0.1.0",
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_tags=[
            {"name": "maps", "description": "Coverage map pages (folium)"},
            {"name": "tiles", "description": "PNG and vector tiles, TileJSON"},
            {"name": "features", "description": "OGC API - Features style collections and the coverage summary"},
            {"name": "health", "description": "Liveness"},
        ],
    )
    app.state.settings = settings
    remove_stale_scratch_folders()  # left by imports killed before their own clean-up
    for folder in (settings.data_dir, Path(settings.dataset).parent):
        hide_folder(folder)  # error bodies name files, never the server's folders
    app.state.dangjian = DatasetState(settings, dataset, store=store)
    app.state.scenario_results = ScenarioResults()
    install_error_handlers(app)

    csp = content_security_policy(None, basemap=settings.basemap, frame_ancestors=allowed_ancestors(list(settings.frame_ancestors)))
    app.state.auth_failures = FailedTokenChecks(settings)
    app.add_middleware(WriteGate, limit_for=lambda path: body_limit(settings, path))
    app.add_middleware(SecurityHeaders, csp=csp)
    app.add_middleware(HeadAsGet)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "HEAD", "OPTIONS", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["If-None-Match", "If-Match", "Authorization", "Content-Type", "Accept", "Accept-Encoding"],
            expose_headers=["ETag", "Content-Encoding", "Location", "Retry-After"],
            max_age=600,
        )

    for name, router in ROUTERS:
        app.include_router(router, dependencies=[] if name in PUBLIC_ROUTERS else [Depends(read_access)])
        log.debug("router %s included", name)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> RedirectResponse:
        return RedirectResponse(url="static/dangjian/favicon.svg", status_code=308)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        prefix = app.root_path or ""
        nonce = secrets.token_urlsafe(16)
        page = get_swagger_ui_html(
            openapi_url=f"{prefix}{app.openapi_url}",
            title="dangjian-map API",
            swagger_js_url=f"{prefix}/static/vendor/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{prefix}/static/vendor/swagger-ui/swagger-ui.css",
            swagger_favicon_url=f"{prefix}/static/vendor/swagger-ui/favicon-32x32.png",
        )
        html = add_nonce(bytes(page.body).decode("utf-8"), nonce)
        policy = content_security_policy(nonce, basemap="none", frame_ancestors=allowed_ancestors(list(settings.frame_ancestors)))
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    return app


def app_from_env() -> FastAPI:
    """An app from the environment's settings (``uvicorn --factory api.app:app_from_env``, several workers)."""
    app = create_app(Settings())
    app.state.dangjian.dataset()
    return app
