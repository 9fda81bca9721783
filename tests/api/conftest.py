"""Fixtures of the map service tests: built datasets (once per session) and clients on them.

``blocks_built`` is the hand-drawn 3 x 3 block district of ``tests/conftest.py``
built at 15 minutes: every compound is covered (A 150 m from S1, B 335 m,
C 212 m from S2, D 450 m); B has no party organisation.  At 5 minutes (333 m)
only A and C are covered: 1,400 of 1,900 households.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset, read_dataset
from layers.store import Role, Store, open_store
from tests.conftest import DEMO, block_layers, make_dataset
from tests.pgcluster import free_port

#: A compound name that would run script if it ever reached HTML unescaped.
EVIL = '<img src=x onerror="window.__xss=1">'


def _copy(ds: Dataset) -> Dataset:
    return Dataset(
        layers={k: v.copy() for k, v in ds.layers.items()},
        metric_crs=ds.metric_crs,
        report=ds.report,
        meta=copy.deepcopy(ds.meta),
        path=ds.path,
    )


@pytest.fixture(scope="session")
def _demo_built() -> Dataset:
    return build_dataset(read_dataset(DEMO), BuildParams())


@pytest.fixture
def demo_built(_demo_built: Dataset) -> Dataset:
    """The bundled demo district, built with the defaults (a fresh copy per test)."""
    return _copy(_demo_built)


@pytest.fixture(scope="session")
def _blocks_built() -> Dataset:
    return build_dataset(make_dataset(block_layers()), BuildParams())


@pytest.fixture
def blocks_built(_blocks_built: Dataset) -> Dataset:
    """The 3 x 3 block district, built at 15 minutes (a fresh copy per test)."""
    return _copy(_blocks_built)


@pytest.fixture(scope="session")
def _evil_blocks() -> Dataset:
    layers = block_layers()
    layers["compounds"].loc[layers["compounds"]["id"] == "A", "name"] = EVIL
    layers["centers"].loc[layers["centers"]["id"] == "S1", "name"] = "<b>中心</b>&amp;"
    layers["boundary"].loc[layers["boundary"]["level"] == "district", "name"] = "</script><script>window.__xss=2</script>"
    return build_dataset(make_dataset(layers), BuildParams())


@pytest.fixture
def evil_blocks(_evil_blocks: Dataset) -> Dataset:
    """The block district with script-looking names (compound A, centre S1, the district)."""
    return _copy(_evil_blocks)


def client_for(dataset: Dataset, **settings: object) -> TestClient:
    """A TestClient on an app serving ``dataset`` with the given settings."""
    values: dict[str, object] = {"dataset": DEMO, **settings}
    return TestClient(create_app(Settings(**values), dataset=dataset))


@pytest.fixture
def blocks_client(blocks_built: Dataset) -> Iterator[TestClient]:
    """A client on the block district."""
    with client_for(blocks_built) as c:
        yield c


@pytest.fixture(scope="module")
def demo_client(_demo_built: Dataset) -> Iterator[TestClient]:
    """A client on the demo district, shared by a module's tests (read-only use)."""
    with client_for(_copy(_demo_built)) as c:
        yield c


# ---------------------------------------------------------------------------
# tokens


def make_tokens(store: Store) -> dict[str, str]:
    """One fresh token per role in ``store``: ``{"viewer": "dj_...", ..., "admin": "dj_..."}``."""
    return {role.value: store.create_token(role, actor="test", name=f"test {role.value}").token for role in Role}


def bearer(token: str) -> dict[str, str]:
    """The ``Authorization`` header of ``token``."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="session")
def token_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    """An empty store holding one token per role (for apps serving an in-memory dataset)."""
    store = open_store(tmp_path_factory.mktemp("tokens") / "tokens.gpkg")
    tokens = make_tokens(store)
    yield store, tokens
    store.close()


@contextmanager
def served_in_thread(app: object, *, port: int | None = None) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on loopback (a free port unless given); its base URL.

    For clients that need real HTTP (OWSLib, browsers, raw sockets); GDAL holds the GIL during its
    reads and needs a server process instead (see ``tests/api/test_gdal_oapif.py``).
    """
    import uvicorn

    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
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


@pytest.fixture
def blocks_url(blocks_gpkg: Path) -> Iterator[str]:
    """The block district GeoPackage served over real HTTP (OWSLib, raw sockets)."""
    with served_in_thread(create_app(Settings(dataset=blocks_gpkg))) as url:
        yield url
