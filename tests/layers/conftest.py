"""Fixtures of the layer tests: a throwaway PostGIS cluster for the store tests (see ``tests/pgcluster.py``)."""

from __future__ import annotations

from tests.pgcluster import postgis_url_fixture

postgis_url = postgis_url_fixture()
