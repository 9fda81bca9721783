"""``dangjian serve [DATASET] [--host] [--port]``: build the dataset in place if needed, then serve its maps.

A dataset is one store (:mod:`api.dataset_store`): ``serve`` builds its
derived layers inside it when they are missing or older than its inputs
(with a progress bar), then serves that same store, which any number of
workers and command-line processes share.  The parameters of the build are
the dataset's own (stored with it); the server's settings only fill in a
dataset never built.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from uvicorn.supervisors import Multiprocess

from api.cli_errors import friendly_errors
from api.commands.console import err, notice, out, steps
from api.dataset_store import Notice, open_dataset_store
from api.settings import Settings
from geo.errors import InputError
from layers.i18n import check_lang, text
from layers.rebuild import StoredBuild, build_in_store, build_state
from layers.store import Store


def ensure_built(store: Store, settings: Settings, *, force: bool = False, progress: Any = None, notice: Notice | None = None) -> StoredBuild | None:
    """Build the dataset in ``store`` in place when its derived layers are missing or stale (or ``force``).

    Parameters
    ----------
    store
        The dataset's store.
    settings
        Their build parameters are used only for a dataset never built.
    force
        Rebuild even when the build is current (with the stored parameters).
    progress
        Called with catalogue keys as build steps start.
    notice
        Called with one line for people before a build starts.

    Returns
    -------
    StoredBuild or None
        The build, or ``None`` when the stored one was current.
    """
    with store.snapshot() as snap:
        state = build_state(snap)
    if state == "current" and not force:
        return None
    if notice is not None and state in ("unbuilt", "stale"):
        notice(text("store.building", settings.lang, path=store.location, state=text(f"store.state.{state}", settings.lang)))
    kwargs = {"progress": progress} if progress is not None else {}
    return build_in_store(store, actor="system:serve", fallback=settings.build_params().validate(), **kwargs)


def tcp_socket(host: str, port: int) -> socket.socket:
    """A bound TCP socket for uvicorn's worker processes, created with ``proto=IPPROTO_TCP``.

    uvicorn's own multi-worker socket is made with protocol 0; asyncio then
    skips ``TCP_NODELAY`` on the connections it accepts, and every response
    written in two parts (headers, body) waits ~40 ms for a delayed ACK.  A
    socket with the TCP protocol number set gets ``TCP_NODELAY`` as usual.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def proxy_options(settings: Settings) -> dict[str, Any]:
    """Uvicorn's forwarded-header options from ``trusted_proxies``.

    uvicorn believes ``X-Forwarded-For`` from loopback unless told otherwise,
    which lets any local client (or a proxy that passes the header on) choose
    the address rate limits count; here no forwarded header is believed
    unless the deployment names its proxies.
    """
    proxies = list(settings.trusted_proxies)
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies}


@friendly_errors
def serve(
    dataset: Annotated[Path | None, typer.Argument(help="GeoPackage or folder (default: the demo district)")] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes")] = 1,
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild in place even if the build is current")] = False,
) -> None:
    """Serve the coverage map, tiles and features over HTTP (builds the dataset in place first if needed)."""
    # the web app (FastAPI, the routers, folium: about 2 s) is imported only for this command, not at every command's start
    from api.app import create_app

    settings = Settings()
    lang = check_lang(settings.lang)
    try:
        sock = tcp_socket(host, port)
    except OSError as exc:
        msg = text("serve.port_busy", lang, host=host, port=port, reason=exc.strerror or exc)
        raise InputError(msg, field="port") from None
    try:
        with open_dataset_store(dataset, settings, actor="system:serve", notice=notice) as store:
            with steps(lang, 9) as advance:
                done = ensure_built(store, settings, force=rebuild, progress=advance, notice=notice)
            if done is not None:
                out.print(text("store.built", lang, revision=done.revision, path=store.location), highlight=False, markup=False, soft_wrap=True)
            served = store.path if store.path is not None else Path(dataset or settings.dataset)
        settings = settings.model_copy(update={"dataset": served})
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        out.print(f"{text('map.title', lang)}: http://{shown}:{port}/maps/coverage", highlight=False, markup=False)
        if workers > 1:
            os.environ["DANGJIAN_DATASET"] = str(served)
            if not settings.rate_limit_file:
                # one set of rate-limit buckets for every worker (else N workers would allow N times the rate)
                os.environ["DANGJIAN_RATE_LIMIT_FILE"] = str(Path(tempfile.gettempdir()) / f"dangjian-ratelimit-{port}.sqlite")
            config = uvicorn.Config(
                "api.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="info", **proxy_options(settings)
            )
            Multiprocess(config, sockets=[sock]).run()
            return
        application = create_app(settings)
        application.state.dangjian.dataset()  # load before the first request
        err.print(f"serving {served}", highlight=False, markup=False)
        uvicorn.Server(uvicorn.Config(application, log_level="info", **proxy_options(settings))).run(sockets=[sock])
    finally:
        sock.close()


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``dangjian`` CLI."""
    app.command()(serve)
