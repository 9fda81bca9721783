"""What a backend implements: :class:`Session`, one database transaction with SQL on the store's tables and the layer tables.

Everything above it (:mod:`~layers.store.snapshot`, :mod:`~layers.store.transaction`,
:mod:`~layers.store.store`) is written once against this interface; the
GeoPackage (:mod:`~layers.store.gpkg_session`) and PostGIS
(:mod:`~layers.store.postgis`) backends each provide one.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import shapely


class Session(ABC):
    """One database transaction of a backend: SQL on the store's tables and the layer tables.

    SQL given to :meth:`exec`, :meth:`query` and :meth:`executemany` uses ``?``
    placeholders; parameters may be ``str``, ``int``, ``float``, ``bool``,
    ``None``, :class:`datetime` and :class:`~layers.store.records.Json`.
    """

    write: bool

    @abstractmethod
    def exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; the number of rows it touched."""

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one query; its rows."""

    @abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement once per row of parameters."""

    @abstractmethod
    def layer_names(self) -> list[str]:
        """Names of the stored layers (not the store's own tables, not ``meta``)."""

    @abstractmethod
    def layer_kinds(self, name: str) -> dict[str, str] | None:
        """Attribute columns of a layer and their kinds, in table order; ``None`` when there is no such layer."""

    @abstractmethod
    def geometry_type(self, name: str) -> str | None:
        """The layer's declared geometry type (``POINT``, ``GEOMETRY`` ...), ``None`` without geometry."""

    @abstractmethod
    def count_rows(self, name: str) -> int:
        """Rows in a layer."""

    @abstractmethod
    def read_layer(
        self, name: str, *, bbox: tuple[float, float, float, float] | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """A layer in table order (GeoDataFrame in EPSG:4326), optionally only rows whose bbox meets ``bbox`` or with these ``id``."""

    @abstractmethod
    def replace_layer(self, name: str, frame: pd.DataFrame, kinds: Mapping[str, str]) -> None:
        """Replace (or create) a whole layer with a frame from :func:`~layers.store.frames.storage_frame`."""

    @abstractmethod
    def drop_layer(self, name: str) -> None:
        """Remove a layer if it exists."""

    @abstractmethod
    def add_column(self, name: str, column: str, kind: str) -> None:
        """Add an empty attribute column of ``kind`` to a layer."""

    @abstractmethod
    def insert_row(self, name: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """Append one row (values are plain Python, one per column of :meth:`layer_kinds`)."""

    @abstractmethod
    def update_row(self, name: str, feature_id: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """Replace every value and the geometry of the row with this ``id``."""

    @abstractmethod
    def delete_row(self, name: str, feature_id: str) -> None:
        """Delete the row with this ``id``."""

    @abstractmethod
    def delete_rows(self, name: str, column: str, values: Sequence[str]) -> int:
        """Delete the rows whose ``column`` (as text) is one of ``values``; how many went."""

    def load_json(self, value: Any) -> Any:
        """A JSON column's value as Python data (JSON text here; backends with a JSON type override)."""
        return None if value is None else json.loads(value)

    def meta_written(self, meta: Mapping[str, Any]) -> None:  # noqa: B027 - optional hook
        """Called after the meta values changed (the GeoPackage mirrors them into its ``meta`` table)."""
