"""Helpers of the map service tests: apps and clients on a dataset, tokens, a real HTTP server."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.dataset import Dataset
from layers.store import Role, Store
from tests.helpers import DEMO, writes
from tests.pgcluster import free_port

#: A compound name that would run script if it ever reached HTML unescaped.
EVIL = '<img src=x onerror="window.__xss=1">'


def copy_dataset(ds: Dataset) -> Dataset:
    return Dataset(
        layers={k: v.copy() for k, v in ds.layers.items()},
        metric_crs=ds.metric_crs,
        report=ds.report,
        meta=copy.deepcopy(ds.meta),
        path=ds.path,
    )


def client_for(dataset: Dataset, **settings: object) -> TestClient:
    """A TestClient on an app serving ``dataset`` with the given settings."""
    values: dict[str, object] = {"dataset": DEMO, **settings}
    return TestClient(create_app(Settings(**values), dataset=dataset))


def make_tokens(store: Store) -> dict[str, str]:
    """One fresh token per role in ``store``: ``{"viewer": "dj_...", ..., "admin": "dj_..."}``."""
    return {role.value: writes(store).create_token(role, actor="test", name=f"test {role.value}").token for role in Role}


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def served_in_thread(app: object, *, port: int | None = None, **config: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on loopback (a free port unless given); its base URL.

    ``config`` goes to :class:`uvicorn.Config` (e.g. the serve command's ``proxy_options``).

    For clients that need real HTTP (OWSLib, browsers, raw sockets); GDAL holds the GIL during its
    reads and needs a server process instead (see ``tests/system/test_gdal_oapif.py``).
    """
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **config))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
