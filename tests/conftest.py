"""Shared fixtures: the 3 x 3 block district (``tests/helpers.py``), data folders, a PostGIS cluster.

The map service fixtures (built datasets, clients) live in ``tests/api/fixtures.py``, registered here
as a plugin so that ``tests/api`` and ``tests/system`` both see them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from layers.dataset import Dataset
from tests.helpers import block_layers, make_dataset
from tests.pgcluster import postgis_url_fixture

pytest_plugins = ["tests.api.fixtures"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark everything under ``tests/system`` slow (``pytest -m "not slow"`` is the fast part)."""
    system = Path(__file__).parent / "system"
    for item in items:
        if system in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _own_data_dir(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test session (each xdist worker) gets its own data folder: the demo's working copy, uploads."""
    os.environ["DANGJIAN_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))


@pytest.fixture
def blocks() -> Dataset:
    """The 3 x 3 block district, validated."""
    return make_dataset(block_layers())


@pytest.fixture
def blocks_gpkg(tmp_path: Path) -> Path:
    """The 3 x 3 block district written as a GeoPackage."""
    path = tmp_path / "blocks.gpkg"
    for name, frame in block_layers().items():
        frame.to_file(path, layer=name, driver="GPKG")
    return path


#: A throwaway PostGIS cluster (one per test process, started on first use; see ``tests/pgcluster.py``).
postgis_url = postgis_url_fixture()
