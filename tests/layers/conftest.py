"""Fixtures of the layer tests; the PostGIS cluster fixture ``postgis_url`` lives in ``tests/conftest.py``."""
