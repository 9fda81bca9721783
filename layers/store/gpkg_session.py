"""The GeoPackage backend's :class:`~layers.store.session.Session`: one SQLite transaction on the dataset file.

How layers are written
----------------------
A whole layer is written by GDAL (through pyogrio) into a scratch GeoPackage
beside the dataset, then copied into the dataset inside the transaction:
its table definition, rows, R-tree spatial index rows, triggers and its rows
in the GeoPackage's own tables (``gpkg_contents``, ``gpkg_geometry_columns``,
``gpkg_extensions``, ``gpkg_ogr_contents``).  GDAL thus stays the authority
on GeoPackage encoding (column types, geometry blobs, spatial index, metadata)
and the file stays an ordinary GeoPackage that QGIS, GDAL and
:func:`layers.dataset.read_dataset` open, while SQLite gives the atomicity: a
kill while GDAL writes the scratch file does not touch the dataset; a kill
during the copy rolls back.  One-feature edits write the GeoPackage geometry
blob directly (:mod:`~layers.store.gpkg_geometry`).

The dataset's meta values are also mirrored into the ``meta`` table that
:func:`layers.dataset.write_dataset` writes, in the same transaction.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyogrio
import shapely

from geo.plain import plain_scalar
from layers.store.frames import check_layer_name, frame_from_columns
from layers.store.gpkg_geometry import gpkg_blob, gpkg_decode
from layers.store.records import Json
from layers.store.session import Session

if TYPE_CHECKING:
    from layers.store.gpkg import GeoPackageStore

#: GeoPackage column type of each kind.
_DECLARED = {"bool": "BOOLEAN", "int": "INTEGER", "float": "REAL", "text": "TEXT", "datetime": "DATETIME", "blob": "BLOB"}


def _q(name: str) -> str:
    """An SQLite identifier, quoted."""
    return '"' + str(name).replace('"', '""') + '"'


def _kind_of(declared: str) -> str:
    d = (declared or "").upper()
    if d.startswith("BOOL"):
        return "bool"
    if "INT" in d:
        return "int"
    if any(t in d for t in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "float"
    if d.startswith("DATE"):
        return "datetime"
    if d.startswith("BLOB"):
        return "blob"
    return "text"


def _sqlite_param(value: Any) -> Any:
    if isinstance(value, Json):
        return json.dumps(value.value, ensure_ascii=False)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC) if value.tzinfo else value
        return stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return plain_scalar(value)


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_sqlite_param(p) for p in params)


class GpkgSession(Session):
    """One SQLite transaction on the dataset file."""

    def __init__(self, store: GeoPackageStore, conn: sqlite3.Connection, write: bool) -> None:
        self.store = store
        self.conn = conn
        self.write = write

    # -- SQL -----------------------------------------------------------------------------------

    def exec(self, sql: str, params: Sequence[Any] = ()) -> int:
        """See :meth:`Session.exec`."""
        return self.conn.execute(sql, _params(params)).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """See :meth:`Session.query`."""
        return self.conn.execute(sql, _params(params)).fetchall()

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """See :meth:`Session.executemany`."""
        self.conn.executemany(sql, (_params(r) for r in rows))

    # -- layer catalogue -----------------------------------------------------------------------

    def _tables(self, conn: sqlite3.Connection | None = None) -> set[str]:
        c = conn or self.conn
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def layer_names(self) -> list[str]:
        """See :meth:`Session.layer_names`."""
        rows = self.conn.execute(
            "SELECT table_name FROM gpkg_contents WHERE data_type IN ('features', 'attributes')"
        ).fetchall()
        tables = self._tables()
        out = []
        for (name,) in rows:
            if name == "meta" or name not in tables:
                continue
            try:
                out.append(check_layer_name(name))
            except ValueError:
                continue
        return out

    def _table_info(self, name: str) -> list[tuple[Any, ...]]:
        return self.conn.execute(f"PRAGMA table_info({_q(name)})").fetchall()

    def _geometry_entry(self, name: str, column: str) -> str | None:
        """``column`` (``column_name``, ``geometry_type_name``) of the layer in ``gpkg_geometry_columns``; ``None`` without geometry."""
        row = self.conn.execute(
            f"SELECT {column} FROM gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (name,)
        ).fetchone()
        return str(row[0]) if row else None

    def _geometry_column(self, name: str) -> str | None:
        return self._geometry_entry(name, "column_name")

    def _key_column(self, name: str) -> str:
        for _, col, _, _, _, pk in self._table_info(name):
            if pk == 1:
                return str(col)
        return "rowid"

    def layer_kinds(self, name: str) -> dict[str, str] | None:
        """See :meth:`Session.layer_kinds`."""
        info = self._table_info(name)
        if not info:
            return None
        geom = self._geometry_column(name)
        return {str(col): _kind_of(decl) for _, col, decl, _, _, pk in info if pk != 1 and col != geom}

    def geometry_type(self, name: str) -> str | None:
        """See :meth:`Session.geometry_type`."""
        return self._geometry_entry(name, "geometry_type_name")

    def count_rows(self, name: str) -> int:
        """See :meth:`Session.count_rows`."""
        return int(self.conn.execute(f"SELECT count(*) FROM {_q(name)}").fetchone()[0])

    # -- whole layers --------------------------------------------------------------------------

    def read_layer(
        self, name: str, *, bbox: tuple[float, float, float, float] | None = None, ids: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """See :meth:`Session.read_layer`."""
        kinds = self.layer_kinds(name) or {}
        geom = self._geometry_column(name)
        key = self._key_column(name)
        cols = list(kinds)
        select = [_q(c) for c in cols] + ([_q(geom)] if geom else [])
        sql = f"SELECT {', '.join(select) or key} FROM {_q(name)}"
        where: list[str] = []
        params: list[Any] = []
        if ids is not None:
            where.append(f'"id" IN ({", ".join("?" * len(ids))})')
            params += [str(i) for i in ids]
        rtree = f"rtree_{name}_{geom}" if geom else None
        use_rtree = bbox is not None and rtree is not None and rtree in self._tables()
        if use_rtree:
            assert bbox is not None
            where.append(f"{_q(key)} IN (SELECT id FROM {_q(rtree)} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)")
            params += [bbox[0], bbox[2], bbox[1], bbox[3]]
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {_q(key)}"
        rows = self.conn.execute(sql, params).fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [() for _ in select]
        geometry = gpkg_decode(columns[-1]) if geom else None
        frame = frame_from_columns(cols, [kinds[c] for c in cols], columns[: len(cols)], geometry)
        if bbox is not None and geometry is not None and not use_rtree and len(frame):
            b = shapely.bounds(geometry)
            keep = (b[:, 2] >= bbox[0]) & (b[:, 0] <= bbox[2]) & (b[:, 3] >= bbox[1]) & (b[:, 1] <= bbox[3])
            frame = frame.loc[keep].reset_index(drop=True)
        return frame

    def replace_layer(self, name: str, frame: pd.DataFrame, kinds: Mapping[str, str]) -> None:
        """See :meth:`Session.replace_layer`: GDAL writes a scratch GeoPackage, copied in inside the transaction."""
        scratch = self.store._scratch_path()
        try:
            pyogrio.write_dataframe(frame, scratch, layer=name, driver="GPKG", promote_to_multi=False)
            self._copy_layer_from(scratch, name)
        finally:
            for suffix in ("", "-wal", "-shm", "-journal"):
                with suppress(OSError):
                    os.unlink(f"{scratch}{suffix}")

    def _copy_layer_from(self, scratch: Path, name: str) -> None:
        """Copy table ``name`` of a GDAL-written GeoPackage into the dataset: definition, rows, index, metadata."""
        src = sqlite3.connect(f"file:{scratch}?mode=ro", uri=True)
        try:
            master = src.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE sql IS NOT NULL").fetchall()
            by_name = {(t, n): sql for t, n, _, sql in master}
            row = src.execute("SELECT column_name FROM gpkg_geometry_columns WHERE table_name = ?", (name,)).fetchone()
            rtree = f"rtree_{name}_{row[0]}" if row else None
            self.drop_layer(name)
            c = self.conn
            c.execute(by_name[("table", name)])
            width = len(src.execute(f"PRAGMA table_info({_q(name)})").fetchall())
            c.executemany(
                f"INSERT INTO {_q(name)} VALUES ({', '.join('?' * width)})", src.execute(f"SELECT * FROM {_q(name)}")
            )
            if rtree and ("table", rtree) in by_name:
                c.execute(by_name[("table", rtree)])
                c.executemany(
                    f"INSERT INTO {_q(rtree)} VALUES (?, ?, ?, ?, ?)",
                    src.execute(f"SELECT id, minx, maxx, miny, maxy FROM {_q(rtree)}"),
                )
            for kind, _, table, sql in master:
                if table == name and kind in ("index", "trigger"):
                    c.execute(sql)
            mine = self._tables()
            meta_tables = sorted(
                (n for t, n, _, _ in master if t == "table" and n.startswith("gpkg_") and n != "gpkg_spatial_ref_sys"),
                key=lambda n: (n != "gpkg_contents", n),
            )
            for table in meta_tables:
                src_cols = [r[1] for r in src.execute(f"PRAGMA table_info({_q(table)})")]
                if "table_name" not in src_cols:
                    continue
                if table not in mine:
                    c.execute(by_name[("table", table)])
                dst_cols = {r[1] for r in c.execute(f"PRAGMA table_info({_q(table)})")}
                cols = [col for col in src_cols if col in dst_cols]
                listed = ", ".join(_q(col) for col in cols)
                rows = src.execute(f"SELECT {listed} FROM {_q(table)} WHERE table_name = ?", (name,)).fetchall()
                c.executemany(f"INSERT OR REPLACE INTO {_q(table)} ({listed}) VALUES ({', '.join('?' * len(cols))})", rows)
            srs = src.execute(
                "SELECT * FROM gpkg_spatial_ref_sys WHERE srs_id IN "
                "(SELECT srs_id FROM gpkg_contents WHERE table_name = ? AND srs_id IS NOT NULL)",
                (name,),
            ).fetchall()
            srs_cols = [r[1] for r in src.execute("PRAGMA table_info(gpkg_spatial_ref_sys)")]
            dst_srs = {r[1] for r in c.execute("PRAGMA table_info(gpkg_spatial_ref_sys)")}
            keep = [i for i, col in enumerate(srs_cols) if col in dst_srs]
            listed = ", ".join(_q(srs_cols[i]) for i in keep)
            c.executemany(
                f"INSERT OR IGNORE INTO gpkg_spatial_ref_sys ({listed}) VALUES ({', '.join('?' * len(keep))})",
                [tuple(r[i] for i in keep) for r in srs],
            )
            if any(r[1] == "id" for r in c.execute(f"PRAGMA table_info({_q(name)})")):
                c.execute(f"CREATE INDEX IF NOT EXISTS {_q(f'dj_ix_{name}_id')} ON {_q(name)} (\"id\")")
        finally:
            src.close()

    def drop_layer(self, name: str) -> None:
        """See :meth:`Session.drop_layer`: the table, its R-tree and its rows in the ``gpkg_*`` tables."""
        c = self.conn
        tables = self._tables()
        if name in tables:
            geom = self._geometry_column(name)
            if geom:
                c.execute(f"DROP TABLE IF EXISTS {_q(f'rtree_{name}_{geom}')}")
            c.execute(f"DROP TABLE {_q(name)}")
        for table in sorted(t for t in tables if t.startswith("gpkg_") and t != "gpkg_spatial_ref_sys"):
            cols = {r[1] for r in c.execute(f"PRAGMA table_info({_q(table)})")}
            if "table_name" in cols and table != "gpkg_contents":
                c.execute(f"DELETE FROM {_q(table)} WHERE lower(table_name) = lower(?)", (name,))
        if "gpkg_contents" in tables:
            c.execute("DELETE FROM gpkg_contents WHERE lower(table_name) = lower(?)", (name,))

    # -- single rows ---------------------------------------------------------------------------

    def _touch_contents(self, name: str, geometry: shapely.Geometry | None) -> None:
        """``last_change`` and the extent of the layer in ``gpkg_contents``."""
        self.conn.execute(
            "UPDATE gpkg_contents SET last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE lower(table_name) = lower(?)",
            (name,),
        )
        if geometry is None or geometry.is_empty:
            return
        minx, miny, maxx, maxy = (float(v) for v in geometry.bounds)
        self.conn.execute(
            "UPDATE gpkg_contents SET "
            "min_x = CASE WHEN min_x IS NULL OR min_x > ? THEN ? ELSE min_x END, "
            "min_y = CASE WHEN min_y IS NULL OR min_y > ? THEN ? ELSE min_y END, "
            "max_x = CASE WHEN max_x IS NULL OR max_x < ? THEN ? ELSE max_x END, "
            "max_y = CASE WHEN max_y IS NULL OR max_y < ? THEN ? ELSE max_y END "
            "WHERE lower(table_name) = lower(?)",
            (minx, minx, miny, miny, maxx, maxx, maxy, maxy, name),
        )

    def add_column(self, name: str, column: str, kind: str) -> None:
        """See :meth:`Session.add_column` (GeoPackage declared types, as GDAL writes them)."""
        self.conn.execute(f"ALTER TABLE {_q(name)} ADD COLUMN {_q(column)} {_DECLARED[kind]}")

    def insert_row(self, name: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """See :meth:`Session.insert_row`."""
        geom = self._geometry_column(name)
        cols = [_q(c) for c in values] + ([_q(geom)] if geom else [])
        params = [*values.values(), *([gpkg_blob(geometry)] if geom else [])]
        self.conn.execute(
            f"INSERT INTO {_q(name)} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", _params(params)
        )
        self._touch_contents(name, geometry)

    def update_row(self, name: str, feature_id: str, values: Mapping[str, Any], geometry: shapely.Geometry | None) -> None:
        """See :meth:`Session.update_row`."""
        geom = self._geometry_column(name)
        sets = [f"{_q(c)} = ?" for c in values] + ([f"{_q(geom)} = ?"] if geom else [])
        params = [*values.values(), *([gpkg_blob(geometry)] if geom else []), feature_id]
        self.conn.execute(f'UPDATE {_q(name)} SET {", ".join(sets)} WHERE "id" = ?', _params(params))
        self._touch_contents(name, geometry)

    def delete_row(self, name: str, feature_id: str) -> None:
        """See :meth:`Session.delete_row`."""
        self.conn.execute(f'DELETE FROM {_q(name)} WHERE "id" = ?', (feature_id,))
        self._touch_contents(name, None)

    def delete_rows(self, name: str, column: str, values: Sequence[str]) -> int:
        """See :meth:`Session.delete_rows` (in chunks below SQLite's parameter limit)."""
        gone = 0
        values = [str(v) for v in values]
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            gone += self.conn.execute(
                f"DELETE FROM {_q(name)} WHERE CAST({_q(column)} AS TEXT) IN ({', '.join('?' * len(chunk))})", chunk
            ).rowcount
        self._touch_contents(name, None)
        return gone

    def meta_written(self, meta: Mapping[str, Any]) -> None:
        """Mirror the meta values into the ``meta`` table :func:`layers.dataset.read_meta` reads."""
        table = pd.DataFrame(
            {
                "key": pd.Series(list(meta), dtype=object),
                "value": pd.Series([json.dumps(v, ensure_ascii=False) for v in meta.values()], dtype=object),
            }
        )
        self.replace_layer("meta", table, {"key": "text", "value": "text"})
