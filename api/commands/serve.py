"""``dangjian serve [DATASET] [--host] [--port]``: build the dataset if needed, then serve its maps.

The built dataset lives beside the source as ``<name>.built.gpkg`` (or, when
that folder is read-only, in the user's cache folder) and is rebuilt when the
source is newer or was built with other parameters.  A dataset that is itself
a built GeoPackage is served as it is.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from api.settings import Settings
from geo.errors import DatasetNotFoundError
from layers.build import BuildParams, build_dataset
from layers.dataset import read_dataset, read_meta, write_dataset


def cache_dir() -> Path:
    """Where built datasets go when the source folder is read-only (``$XDG_CACHE_HOME/dangjian-map``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dangjian-map"


def source_mtime(path: Path) -> float:
    """Modification time of a dataset file, or of the newest file in a dataset folder (seconds)."""
    if path.is_dir():
        times = [p.stat().st_mtime for p in path.iterdir() if p.is_file()]
        return max(times, default=path.stat().st_mtime)
    return path.stat().st_mtime


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, ensure_ascii=False))


def is_built_file(path: Path) -> bool:
    """Whether ``path`` is a GeoPackage written by ``dangjian build`` (it has build parameters in ``meta``)."""
    return path.is_file() and "params" in read_meta(path)


def built_candidates(dataset: Path) -> list[Path]:
    """Where the built form of ``dataset`` may live: beside it, then in the cache folder."""
    from api.cli import default_output

    beside = default_output(dataset)
    return [beside, cache_dir() / beside.name]


def is_fresh(built: Path, source: Path, params: BuildParams) -> bool:
    """Whether ``built`` exists, is newer than ``source`` and was built with ``params``."""
    if not built.is_file() or built.stat().st_mtime < source_mtime(source):
        return False
    return read_meta(built).get("params") == _plain(asdict(params))


def ensure_built(dataset: Path, params: BuildParams, *, force: bool = False, progress: Any = None) -> tuple[Path, bool]:
    """The path of a built, up-to-date GeoPackage for ``dataset``, building it when needed.

    Parameters
    ----------
    dataset
        Source GeoPackage or folder, or an already built GeoPackage.
    params
        Build parameters (minutes, speed ...).
    force
        Rebuild even when a fresh build exists.
    progress
        Called with catalogue keys as build steps start.

    Returns
    -------
    (Path, bool)
        The built file and whether it was built now.
    """
    if not dataset.exists():
        msg = f"dataset `{dataset}` does not exist"
        raise DatasetNotFoundError(msg, field="dataset")
    if not force and is_built_file(dataset):
        return dataset, False
    candidates = built_candidates(dataset)
    if not force:
        for built in candidates:
            if is_fresh(built, dataset, params):
                return built, False
    kwargs = {"progress": progress} if progress is not None else {}
    result = build_dataset(read_dataset(dataset), params, **kwargs)
    last_error: OSError | None = None
    for target in candidates:
        try:
            return write_dataset(result, target), True
        except OSError as exc:  # read-only folder: fall back to the cache folder
            last_error = exc
    assert last_error is not None
    raise last_error


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


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the ``dangjian`` CLI."""
    from api.cli import err, friendly_errors, out, steps
    from layers.i18n import check_lang, text

    @app.command()
    @friendly_errors
    def serve(
        dataset: Annotated[Path | None, typer.Argument(help="GeoPackage or folder (default: the demo district)")] = None,
        host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8000,
        workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes")] = 1,
        rebuild: Annotated[bool, typer.Option("--rebuild", help="Rebuild even if a fresh build exists")] = False,
    ) -> None:
        """Serve the coverage map, tiles and features over HTTP (builds the dataset first if needed)."""
        import uvicorn

        from api.app import create_app

        settings = Settings()
        lang = check_lang(settings.lang)
        source = Path(dataset) if dataset is not None else Path(settings.dataset)
        params = settings.build_params().validate()
        with steps(lang, 8) as advance:
            built, fresh = ensure_built(source, params, force=rebuild, progress=advance)
        if fresh:
            out.print(text("summary.written", lang, path=built), highlight=False, markup=False)
        settings = settings.model_copy(update={"dataset": built})
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        out.print(f"{text('map.title', lang)}: http://{shown}:{port}/maps/coverage", highlight=False, markup=False)
        if workers > 1:
            from uvicorn.supervisors import Multiprocess

            os.environ["DANGJIAN_DATASET"] = str(built)
            if not settings.rate_limit_file:
                # one set of rate-limit buckets for every worker (else N workers would allow N times the rate)
                os.environ["DANGJIAN_RATE_LIMIT_FILE"] = str(Path(tempfile.gettempdir()) / f"dangjian-ratelimit-{port}.sqlite")
            config = uvicorn.Config("api.app:app_from_env", factory=True, host=host, port=port, workers=workers, log_level="info")
            Multiprocess(config, sockets=[tcp_socket(host, port)]).run()
            return
        application = create_app(settings)
        application.state.dangjian.dataset()  # load before the first request
        err.print(f"serving {built}", highlight=False, markup=False)
        uvicorn.run(application, host=host, port=port, log_level="info")
