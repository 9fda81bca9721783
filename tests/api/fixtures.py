"""Fixtures of the map service tests: built datasets (once per session) and clients on them.

A plugin of ``tests/conftest.py``, so ``tests/api`` and ``tests/system`` both see them.
``blocks_built`` is the hand-drawn 3 x 3 block district of ``tests/helpers.py``
built at 15 minutes: every compound is covered (A 150 m from S1, B 335 m,
C 212 m from S2, D 450 m); B has no party organisation.  At 5 minutes (333 m)
only A and C are covered: 1,400 of 1,900 households.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.build import BuildParams, build_dataset
from layers.dataset import Dataset, read_dataset
from layers.store import Store, open_store
from tests.api.helpers import EVIL, client_for, copy_dataset, make_tokens, served_in_thread
from tests.helpers import DEMO, block_layers, make_dataset


@pytest.fixture(scope="session")
def _demo_built() -> Dataset:
    return build_dataset(read_dataset(DEMO), BuildParams())


@pytest.fixture
def demo_built(_demo_built: Dataset) -> Dataset:
    """The bundled demo district, built with the defaults (a fresh copy per test)."""
    return copy_dataset(_demo_built)


@pytest.fixture(scope="session")
def _blocks_built() -> Dataset:
    return build_dataset(make_dataset(block_layers()), BuildParams())


@pytest.fixture
def blocks_built(_blocks_built: Dataset) -> Dataset:
    """The 3 x 3 block district, built at 15 minutes (a fresh copy per test)."""
    return copy_dataset(_blocks_built)


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
    return copy_dataset(_evil_blocks)


@pytest.fixture
def blocks_client(blocks_built: Dataset) -> Iterator[TestClient]:
    """A client on the block district."""
    with client_for(blocks_built) as c:
        yield c


@pytest.fixture(scope="module")
def demo_client(_demo_built: Dataset) -> Iterator[TestClient]:
    """A client on the demo district, shared by a module's tests (read-only use)."""
    with client_for(copy_dataset(_demo_built)) as c:
        yield c


@pytest.fixture(scope="session")
def token_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, dict[str, str]]]:
    """An empty store holding one token per role (for apps serving an in-memory dataset)."""
    store = open_store(tmp_path_factory.mktemp("tokens") / "tokens.gpkg")
    tokens = make_tokens(store)
    yield store, tokens
    store.close()


@pytest.fixture
def blocks_url(blocks_gpkg: Path) -> Iterator[str]:
    """The block district GeoPackage served over real HTTP (OWSLib, raw sockets)."""
    with served_in_thread(create_app(Settings(dataset=blocks_gpkg))) as url:
        yield url
